rule predict:
    input:
        unpack(get_predict_inputs),
    output:
        f"{R}/predict/{{predict_input}}.tsv",
    log:
        f"{LOGS}/predict/{{predict_input}}.log",
    conda:
        "../envs/seqtune.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
        gpu=0,
    params:
        reproducibility=config["reproducibility"],
        spec=get_predict_spec,
        rc_average="--rc-average" if config["evaluation"]["rc_average"] else "",
    shell:
        "seqtune predict --weights {input.weights:q} --input-spec {params.spec:q} --output {output:q}"
        " --decision-from {input.decision:q} {params.rc_average} --threads {threads}"
        " --reproducibility {params.reproducibility:q} --gpus {resources.gpu}"
        " 2> {log:q}"
