rule split:
    input:
        codes=f"{R}/data/{{dataset}}/codes.npy",
        labels=f"{R}/data/{{dataset}}/labels.tsv",
    output:
        manifest=f"{R}/split/{{dataset}}/manifest.tsv",
        summary=f"{R}/split/{{dataset}}/summary.json",
    log:
        "logs/split/{dataset}.log",
    conda:
        "../envs/seqtune.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        validation=config["split"]["validation_fraction"],
        test=config["split"]["test_fraction"],
        seed=lambda wildcards: derive_seed(config["seed"], "split", wildcards.dataset),
    shell:
        "seqtune split --codes {input.codes:q} --manifest {output.manifest:q} --summary {output.summary:q}"
        " --validation-fraction {params.validation} --test-fraction {params.test} --seed {params.seed}"
        " 2> {log:q}"
