rule simulate:
    output:
        dataset_files("{dataset}"),
    log:
        f"{LOGS}/simulate/{{dataset}}.log",
    benchmark:
        f"{BENCHMARKS}/simulate/{{dataset}}.tsv"
    wildcard_constraints:
        dataset=one_of(SIMULATED),
    conda:
        "../envs/seqtune.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        out_dir=output_folder,
        args=get_simulate_args,
    shell:
        "seqtune simulate --out-dir {params.out_dir:q} {params.args:q} 2> {log:q}"
