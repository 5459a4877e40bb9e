# Variant effects: the alleles of each VCF of variant_effects.inputs scored by one fine-tuned run (helpers in
# common.smk, section 4).
rule variant_effect:
    input:
        unpack(get_variant_effect_inputs),
    output:
        effects=f"{R}/variant_effects/{{variant_input}}.tsv",
        summary=f"{R}/variant_effects/{{variant_input}}.json",
    log:
        f"{LOGS}/variant_effect/{{variant_input}}.log",
    benchmark:
        f"{BENCHMARKS}/variant_effect/{{variant_input}}.tsv"
    wildcard_constraints:
        variant_input=one_of(VARIANT_INPUTS),
    conda:
        "../envs/seqtune.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=0,
    params:
        args=get_variant_effect_args(),
        reproducibility=config["reproducibility"],
    shell:
        "seqtune variant-effect --weights {input.weights:q} --vcf {input.vcf:q} --genome {input.genome:q}"
        " --output {output.effects:q} --summary {output.summary:q} {params.args:q} --threads {threads}"
        " --gpus {resources.gpu} --reproducibility {params.reproducibility:q} 2> {log:q}"
