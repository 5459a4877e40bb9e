rule tune_trial:
    input:
        codes=f"{R}/data/{TARGET}/codes.npy",
        manifest=f"{R}/split/{TARGET}/manifest.tsv",
        pretrained=get_pretrained_weights,
        embeddings=get_embeddings,
        previous=get_previous_trial,
    output:
        f"{R}/tuning/{{pretrained}}/{{strategy}}/n{{train_size}}/trials/slot{{slot}}.json",
    log:
        f"{LOGS}/tune_trial/{{pretrained}}/{{strategy}}/n{{train_size}}/slot{{slot}}.log",
    benchmark:
        f"{BENCHMARKS}/tune_trial/{{pretrained}}/{{strategy}}/n{{train_size}}/slot{{slot}}.tsv"
    wildcard_constraints:
        strategy="scratch|full|linear_probe|partial|gradual_unfreeze|discriminative_lr|lora|random_init|kmer_logreg|onehot_logreg",
        slot="[0-9]+",
    conda:
        "../envs/seqtune.yaml"
    threads: 1
    resources:
        mem_mb=run_resource("mem_mb", 4000),
        runtime=run_resource("runtime", 60),
        gpu=run_resource("gpu", 0),
    params:
        args=get_tune_trial_args,
        pretrained=get_pretrained_arg,
        embeddings=get_embeddings_arg,
        huggingface=get_huggingface_args,
        journal=get_study_journal,
        reproducibility=config["reproducibility"],
    shell:
        "seqtune tune-trial --codes {input.codes:q} --manifest {input.manifest:q} --output {output:q}"
        " --journal {params.journal:q} --slot {wildcards.slot} {params.args:q} {params.pretrained:q}"
        " {params.embeddings:q} {params.huggingface:q} --threads {threads} --gpus {resources.gpu}"
        " --reproducibility {params.reproducibility:q} 2> {log:q}"


rule tune_export:
    input:
        trials=get_study_trials,
    output:
        trials=report(
            f"{R}/tuning/{{pretrained}}/{{strategy}}/n{{train_size}}/trials.tsv",
            caption="../report/tuning.rst",
            category="Hyperparameter search",
            labels={
                "model": "{pretrained}/{strategy}",
                "train size": "{train_size}",
            },
        ),
        chosen=f"{R}/tuning/{{pretrained}}/{{strategy}}/n{{train_size}}/chosen.json",
    log:
        f"{LOGS}/tune_export/{{pretrained}}/{{strategy}}/n{{train_size}}.log",
    localrule: True
    conda:
        "../envs/seqtune.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        journal=get_study_journal,
        budget=TUNING["n_trials"],
    shell:
        "seqtune tune-export {input.trials:q} --journal {params.journal:q} --trials {output.trials:q}"
        " --chosen {output.chosen:q} --budget {params.budget} 2> {log:q}"
