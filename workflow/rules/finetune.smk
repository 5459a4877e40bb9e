rule finetune:
    input:
        codes=f"{R}/data/{TARGET}/codes.npy",
        manifest=f"{R}/split/{TARGET}/manifest.tsv",
        pretrained=get_pretrained_weights,
        embeddings=get_embeddings,
        tuned=get_tuned_params,
    output:
        weights=f"{run_dir('finetune')}/model.safetensors",
        sidecar=f"{run_dir('finetune')}/model.json",
        history=f"{run_dir('finetune')}/history.tsv",
        train_ids=f"{run_dir('finetune')}/train_ids.tsv",
    log:
        f"{LOGS}/finetune/{{pretrained}}/{{strategy}}/n{{train_size}}/seed{{seed}}.log",
    benchmark:
        f"{BENCHMARKS}/finetune/{{pretrained}}/{{strategy}}/n{{train_size}}/seed{{seed}}.tsv"
    wildcard_constraints:
        strategy="scratch|full|linear_probe|partial|gradual_unfreeze|discriminative_lr|lora|random_init|shuffled_labels",
    conda:
        "../envs/seqtune.yaml"
    threads: 1
    resources:
        mem_mb=run_resource("mem_mb", 4000),
        runtime=run_resource("runtime", 60),
        gpu=run_resource("gpu", 0),
    params:
        reproducibility=config["reproducibility"],
        args=get_finetune_args,
        pretrained=get_pretrained_arg,
        checkpointing=get_finetune_checkpointing,
        embeddings=get_embeddings_arg,
        huggingface=get_huggingface_args,
        tuned=get_tuned_arg,
    shell:
        "seqtune finetune --codes {input.codes:q} --manifest {input.manifest:q}"
        " --weights {output.weights:q} --history {output.history:q} --train-ids {output.train_ids:q}"
        " {params.args:q} {params.pretrained:q} {params.checkpointing:q} {params.embeddings:q}"
        " {params.huggingface:q} {params.tuned:q} --threads {threads}"
        " --reproducibility {params.reproducibility:q} --gpus {resources.gpu} 2> {log:q}"
