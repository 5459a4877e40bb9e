rule interpret:
    input:
        codes=f"{R}/data/{TARGET}/codes.npy",
        manifest=f"{R}/split/{TARGET}/manifest.tsv",
        sites=f"{R}/data/{TARGET}/sites.tsv",
        weights=f"{run_dir('finetune')}/model.safetensors",
    output:
        scores=f"{run_dir('interpret')}/attributions.tsv",
        summary=f"{run_dir('interpret')}/interpretation.json",
        plot=report(
            f"{run_dir('interpret')}/attributions.png",
            caption="../report/attributions.rst",
            category="Interpretation",
            subcategory="Attributions",
            labels={
                "pretrained": "{pretrained}",
                "strategy": "{strategy}",
                "train size": "{train_size}",
                "seed": "{seed}",
            },
        ),
    log:
        f"{LOGS}/interpret/{{pretrained}}/{{strategy}}/n{{train_size}}/seed{{seed}}.log",
    benchmark:
        f"{BENCHMARKS}/interpret/{{pretrained}}/{{strategy}}/n{{train_size}}/seed{{seed}}.tsv"
    wildcard_constraints:
        strategy="scratch|full|linear_probe|partial|gradual_unfreeze|discriminative_lr|lora|random_init",
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
        args=get_interpret_args(),
    shell:
        "seqtune interpret --weights {input.weights:q} --codes {input.codes:q} --manifest {input.manifest:q}"
        " --sites {input.sites:q} --scores {output.scores:q} --summary {output.summary:q} --plot {output.plot:q}"
        " --run {params.run:q} {params.args:q} --threads {threads}"
        " --reproducibility {params.reproducibility:q} --gpus {resources.gpu} 2> {log:q}"


rule interpretation_summary:
    input:
        get_interpretation_summaries(),
    output:
        tsv=report(
            f"{R}/interpretation.tsv",
            caption="../report/interpretation.rst",
            category="Interpretation",
            subcategory="Motif recovery",
        ),
        json=f"{R}/interpretation.json",
    log:
        f"{LOGS}/interpretation_summary/interpretation_summary.log",
    localrule: True
    conda:
        "../envs/seqtune.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "seqtune interpretation-summary {input:q} --tsv {output.tsv:q} --json {output.json:q} 2> {log:q}"
