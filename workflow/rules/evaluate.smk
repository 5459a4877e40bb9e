rule evaluate:
    input:
        codes=f"{R}/data/{TARGET}/codes.npy",
        manifest=f"{R}/split/{TARGET}/manifest.tsv",
        weights=f"{run_dir('finetune')}/model.safetensors",
        leakage=get_excluded_leakage(),
    output:
        predictions=f"{run_dir('evaluate')}/predictions.tsv",
        metrics=f"{run_dir('evaluate')}/metrics.json",
        cost=f"{run_dir('evaluate')}/cost.json",
    log:
        f"{LOGS}/evaluate/{{pretrained}}/{{strategy}}/n{{train_size}}/seed{{seed}}.log",
    benchmark:
        f"{BENCHMARKS}/evaluate/{{pretrained}}/{{strategy}}/n{{train_size}}/seed{{seed}}.tsv"
    wildcard_constraints:
        strategy="scratch|full|linear_probe|partial|gradual_unfreeze|discriminative_lr|lora|random_init|shuffled_labels",
    conda:
        "../envs/seqtune.yaml"
    threads: 1
    resources:
        mem_mb=run_resource("mem_mb", 4000),
        runtime=run_resource("runtime", 30),
        gpu=run_resource("gpu", 0),
    params:
        reproducibility=config["reproducibility"],
        run=get_run_identity,
        rc_average="--rc-average" if config["evaluation"]["rc_average"] else "",
        decision=config["evaluation"]["decision_threshold"],
        exclude=get_exclude_arg,
    shell:
        "seqtune evaluate --codes {input.codes:q} --manifest {input.manifest:q} --weights {input.weights:q}"
        " --predictions {output.predictions:q} --metrics {output.metrics:q} --run {params.run:q}"
        " --decision-threshold {params.decision:q} {params.rc_average} {params.exclude:q} --threads {threads}"
        " --reproducibility {params.reproducibility:q} --gpus {resources.gpu} 2> {log:q}"


rule baseline:
    input:
        codes=f"{R}/data/{TARGET}/codes.npy",
        manifest=f"{R}/split/{TARGET}/manifest.tsv",
        tuned=get_tuned_params,
        leakage=get_excluded_leakage(),
    output:
        predictions=f"{run_dir('evaluate')}/predictions.tsv",
        metrics=f"{run_dir('evaluate')}/metrics.json",
        cost=f"{run_dir('evaluate')}/cost.json",
    log:
        f"{LOGS}/baseline/{{pretrained}}/{{strategy}}/n{{train_size}}/seed{{seed}}.log",
    benchmark:
        f"{BENCHMARKS}/baseline/{{pretrained}}/{{strategy}}/n{{train_size}}/seed{{seed}}.tsv"
    wildcard_constraints:
        pretrained="none",
        strategy="kmer_logreg|onehot_logreg",
    conda:
        "../envs/seqtune.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        run=get_run_identity,
        k=get_baseline_k,
        seed=lambda wildcards: derive_seed(config["seed"], "run", wildcards.seed),
        decision=config["evaluation"]["decision_threshold"],
        tuned=get_tuned_arg,
        exclude=get_exclude_arg,
    shell:
        "seqtune baseline --codes {input.codes:q} --manifest {input.manifest:q}"
        " --predictions {output.predictions:q} --metrics {output.metrics:q} --kind {wildcards.strategy:q}"
        " --k {params.k} --train-size {wildcards.train_size} --seed {params.seed} --run {params.run:q}"
        " --decision-threshold {params.decision:q} {params.tuned:q} {params.exclude:q} 2> {log:q}"
