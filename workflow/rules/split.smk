rule split:
    input:
        codes=f"{R}/data/{{dataset}}/codes.npy",
        labels=f"{R}/data/{{dataset}}/labels.tsv",
    output:
        manifest=f"{R}/split/{{dataset}}/manifest.tsv",
        summary=f"{R}/split/{{dataset}}/summary.json",
    log:
        f"{LOGS}/split/{{dataset}}.log",
    benchmark:
        f"{BENCHMARKS}/split/{{dataset}}.tsv"
    conda:
        "../envs/seqtune.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        args=get_split_args,
    shell:
        "seqtune split --codes {input.codes:q} --manifest {output.manifest:q} --summary {output.summary:q}"
        " {params.args:q} 2> {log:q}"


rule leakage:
    input:
        codes=f"{R}/data/{TARGET}/codes.npy",
        labels=f"{R}/data/{TARGET}/labels.tsv",
        manifest=f"{R}/split/{TARGET}/manifest.tsv",
        corpus_codes=[f"{R}/data/{name}/codes.npy" for name in CORPORA],
        corpus_manifests=[f"{R}/split/{name}/manifest.tsv" for name in CORPORA],
    output:
        f"{R}/split/{TARGET}/leakage.json",
    log:
        f"{LOGS}/leakage/leakage.log",
    benchmark:
        f"{BENCHMARKS}/leakage/leakage.tsv"
    conda:
        "../envs/seqtune.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        args=get_leakage_args(),
        corpora=get_corpus_args,
    shell:
        "seqtune leakage --codes {input.codes:q} --manifest {input.manifest:q} --output {output:q}"
        " {params.args:q} {params.corpora:q} 2> {log:q}"
