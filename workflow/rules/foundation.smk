# Hugging Face checkpoints on disk (pretrain.models.<name>.source: huggingface): checked and recorded once, and a
# linear probe's frozen embeddings computed once per data set (docs/foundation_models.md).


rule import_model:
    input:
        get_checkpoint_files,
    output:
        base=f"{R}/pretrain/{{pretrained}}/base.json",
    log:
        f"{LOGS}/import_model/{{pretrained}}.log",
    benchmark:
        f"{BENCHMARKS}/import_model/{{pretrained}}.tsv"
    wildcard_constraints:
        pretrained=one_of(HUGGINGFACE),
    localrule: True
    conda:
        "../envs/seqtune.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        args=get_import_args,
    shell:
        "seqtune import-model {params.args:q} --output {output.base:q} 2> {log:q}"


rule embed:
    input:
        base=f"{R}/pretrain/{{pretrained}}/base.json",
        codes=f"{R}/data/{{dataset}}/codes.npy",
    output:
        embeddings=f"{R}/embed/{{pretrained}}/{{dataset}}/embeddings.npy",
        sidecar=f"{R}/embed/{{pretrained}}/{{dataset}}/embeddings.json",
    log:
        f"{LOGS}/embed/{{pretrained}}/{{dataset}}.log",
    benchmark:
        f"{BENCHMARKS}/embed/{{pretrained}}/{{dataset}}.tsv"
    wildcard_constraints:
        pretrained=one_of(HUGGINGFACE),
    conda:
        "../envs/seqtune.yaml"
    threads: 2
    resources:
        mem_mb=run_resource("mem_mb", 4000),
        runtime=run_resource("runtime", 60),
        gpu=run_resource("gpu", 0),
    params:
        reproducibility=config["reproducibility"],
        batch_size=get_embed_batch_size,
    shell:
        "seqtune embed --base {input.base:q} --codes {input.codes:q} --output {output.embeddings:q}"
        " --batch-size {params.batch_size} --threads {threads}"
        " --reproducibility {params.reproducibility:q} --gpus {resources.gpu} 2> {log:q}"
