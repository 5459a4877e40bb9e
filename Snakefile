include: "workflow/Snakefile"


# Snakemake drops a default_target declared inside an included file (snakemake/snakemake#2773), so the top level
# names it again: running `snakemake` here builds exactly what workflow/Snakefile's `all` builds.
rule default:
    default_target: True
    input:
        rules.all.input,
