rule model_card:
    input:
        unpack(get_model_card_inputs),
    output:
        json=f"{run_dir('finetune')}/model_card.json",
        md=report(
            f"{run_dir('finetune')}/model_card.md",
            caption="../report/model_card.rst",
            category="Model cards",
            labels={
                "pretrained": "{pretrained}",
                "strategy": "{strategy}",
                "train size": "{train_size}",
                "seed": "{seed}",
            },
        ),
    log:
        f"{LOGS}/model_card/{{pretrained}}/{{strategy}}/n{{train_size}}/seed{{seed}}.log",
    wildcard_constraints:
        strategy="scratch|full|linear_probe|partial|gradual_unfreeze|discriminative_lr|lora|random_init|shuffled_labels",
    localrule: True
    conda:
        "../envs/seqtune.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        optional=get_model_card_args,
    shell:
        "seqtune model-card --weights {input.weights:q} --sidecar {input.sidecar:q}"
        " --run-metrics {input.run_metrics:q} --metrics-json {input.metrics:q} --dataset {input.dataset:q}"
        " --split-summary {input.split:q} {params.optional:q} --out-json {output.json:q} --out-md {output.md:q}"
        " 2> {log:q}"
