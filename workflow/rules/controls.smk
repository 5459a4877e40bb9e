rule permutation_control:
    input:
        codes=f"{R}/data/{TARGET}/codes.npy",
        manifest=f"{R}/split/{TARGET}/manifest.tsv",
        tuned=get_permutation_tuned,
    output:
        f"{R}/controls/permutation/n{{train_size}}.json",
    log:
        f"{LOGS}/permutation_control/n{{train_size}}.log",
    benchmark:
        f"{BENCHMARKS}/permutation_control/n{{train_size}}.tsv"
    conda:
        "../envs/seqtune.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        args=get_permutation_args,
        tuned=get_tuned_arg,
    shell:
        "seqtune permutation-control --codes {input.codes:q} --manifest {input.manifest:q} --output {output:q}"
        " --train-size {wildcards.train_size} {params.args:q} {params.tuned:q} 2> {log:q}"


rule shortcut_control:
    input:
        codes=f"{R}/data/{TARGET}/codes.npy",
        manifest=f"{R}/split/{TARGET}/manifest.tsv",
        weights=get_shortcut_weights(),
    output:
        f"{R}/controls/shortcut.tsv",
    log:
        f"{LOGS}/shortcut_control/shortcut_control.log",
    benchmark:
        f"{BENCHMARKS}/shortcut_control/shortcut_control.tsv"
    conda:
        "../envs/seqtune.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
        gpu=0,
    params:
        seed=derive_seed(config["seed"], "shortcut"),
        rc_average="--rc-average" if config["evaluation"]["rc_average"] else "",
        reproducibility=config["reproducibility"],
    shell:
        "seqtune shortcut-control --codes {input.codes:q} --manifest {input.manifest:q} --output {output:q}"
        " --seed {params.seed} {params.rc_average} --threads {threads} --gpus {resources.gpu}"
        " --reproducibility {params.reproducibility:q}"
        " {input.weights:q} 2> {log:q}"
