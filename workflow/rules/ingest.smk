rule ingest:
    input:
        unpack(get_ingest_inputs),
    output:
        dataset_files("{dataset}"),
    log:
        f"{LOGS}/ingest/{{dataset}}.log",
    benchmark:
        f"{BENCHMARKS}/ingest/{{dataset}}.tsv"
    wildcard_constraints:
        dataset=one_of(IMPORTED),
    conda:
        "../envs/seqtune.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        out_dir=output_folder,
        spec=get_ingest_spec,
        length=config["sequence_length"],
        seed=lambda wildcards: derive_seed(config["seed"], "ingest", wildcards.dataset),
    shell:
        "seqtune ingest --out-dir {params.out_dir:q} --spec {params.spec:q} --length {params.length}"
        " --seed {params.seed} 2> {log:q}"
