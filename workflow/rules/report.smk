rule aggregate:
    input:
        metrics=get_run_metrics(),
        predictions=get_run_predictions(),
        leakage=f"{R}/split/{TARGET}/leakage.json",
        config=f"{R}/config.yaml",
        tuning=get_tuning_summaries(),
        permutation=get_permutation_outputs(),
        shortcut=get_shortcut_output(),
    output:
        metrics_tsv=report(
            f"{R}/metrics.tsv",
            caption="../report/metrics.rst",
            category="Metrics",
        ),
        metrics_json=f"{R}/metrics.json",
        gain_tsv=report(
            f"{R}/transfer_gain.tsv",
            caption="../report/transfer_gain.rst",
            category="Metrics",
        ),
        provenance=f"{R}/provenance.json",
    log:
        f"{LOGS}/aggregate/aggregate.log",
    localrule: True
    conda:
        "../envs/seqtune.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        metric=config["evaluation"]["metric"],
        resamples=config["evaluation"]["bootstrap_resamples"],
        seed=derive_seed(config["seed"], "bootstrap"),
        negative_controls=get_negative_controls(),
        tuning=get_tuning_arg,
        controls=get_controls_arg,
    shell:
        "seqtune aggregate {input.metrics:q} --metrics-tsv {output.metrics_tsv:q}"
        " --metrics-json {output.metrics_json:q} --gain-tsv {output.gain_tsv:q} --metric {params.metric:q}"
        " --bootstrap-resamples {params.resamples} --seed {params.seed}"
        " --negative-controls={params.negative_controls:q} {params.tuning:q} {params.controls:q}"
        " --provenance {output.provenance:q} --config {input.config:q} --leakage {input.leakage:q} 2> {log:q}"


rule report:
    input:
        metrics_tsv=f"{R}/metrics.tsv",
        metrics_json=f"{R}/metrics.json",
        gain_tsv=f"{R}/transfer_gain.tsv",
        split_summary=f"{R}/split/{TARGET}/summary.json",
        leakage=f"{R}/split/{TARGET}/leakage.json",
        config=f"{R}/config.yaml",
        interpretation=get_report_interpretation(),
        tuning=get_tuning_summaries(),
    output:
        html=report(
            f"{R}/report.html",
            caption="../report/report.rst",
            category="Report",
        ),
        figure=report(
            f"{R}/learning_curve.svg",
            caption="../report/learning_curve.rst",
            category="Learning curves",
        ),
    log:
        f"{LOGS}/report/report.log",
    localrule: True
    conda:
        "../envs/seqtune.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        interpretation=get_interpretation_arg,
        tuning=get_tuning_arg,
        # Read if present (wall time and memory per stage); not an input, so a missing folder changes nothing.
        benchmarks=BENCHMARKS,
    shell:
        "seqtune report --metrics-tsv {input.metrics_tsv:q} --metrics-json {input.metrics_json:q}"
        " --gain-tsv {input.gain_tsv:q} --split-summary {input.split_summary:q} --config {input.config:q}"
        " --leakage {input.leakage:q} --html {output.html:q} --figure {output.figure:q}"
        " {params.interpretation:q} {params.tuning:q} --benchmarks {params.benchmarks:q} 2> {log:q}"


rule config_snapshot:
    output:
        f"{R}/config.yaml",
    log:
        f"{LOGS}/config_snapshot/config_snapshot.log",
    localrule: True
    conda:
        "../envs/seqtune.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        # Without predict and variant_effects: they only apply trained models, so adding an input must not rerun
        # the study's aggregate, model cards and report (the predictions' own provenance records their inputs).
        # Keys sorted: reordering a config file changes nothing either.
        text=yaml.safe_dump(
            {
                key: value
                for key, value in config.items()
                if key not in ("predict", "variant_effects")
            },
            sort_keys=True,
        ),
    shell:
        "printf '%s' {params.text:q} > {output:q} 2> {log:q}"
