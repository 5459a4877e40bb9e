# Training processes per pretraining job (DDP through torchrun when > 1), each with 2 torch threads.
PRETRAIN_PROCESSES = config["pretrain"].get("processes", 1)


rule pretrain:
    input:
        codes=get_pretrain_codes,
        manifest=get_pretrain_manifest,
    output:
        weights=f"{R}/pretrain/{{pretrained}}/model.safetensors",
        sidecar=f"{R}/pretrain/{{pretrained}}/model.json",
        history=f"{R}/pretrain/{{pretrained}}/history.tsv",
    log:
        f"{LOGS}/pretrain/{{pretrained}}.log",
    benchmark:
        f"{BENCHMARKS}/pretrain/{{pretrained}}.tsv"
    wildcard_constraints:
        pretrained=one_of(SEQTUNE_PRETRAINED),
    conda:
        "../envs/seqtune.yaml"
    threads: 2 * PRETRAIN_PROCESSES
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=0,
    params:
        reproducibility=config["reproducibility"],
        model=json.dumps(config["model"], sort_keys=True),
        training=json.dumps(
            without_checkpointing(config["pretrain"].get("training", {})),
            sort_keys=True,
        ),
        checkpointing=get_pretrain_checkpointing,
        seed=lambda wildcards: derive_seed(
            config["seed"], "pretrain", wildcards.pretrained
        ),
        objective=get_pretrain_objective,
        processes=PRETRAIN_PROCESSES,
    shell:
        "seqtune pretrain --codes {input.codes:q} --manifest {input.manifest:q}"
        " --weights {output.weights:q} --history {output.history:q}"
        " --model {params.model:q} --training {params.training:q} {params.checkpointing:q}"
        " --seed {params.seed} {params.objective:q}"
        " --threads {threads}"
        " --reproducibility {params.reproducibility:q} --gpus {resources.gpu} --nproc {params.processes}"
        " 2> {log:q}"
