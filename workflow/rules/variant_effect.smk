# Variant effects (issue 22): the alleles of each VCF of variant_effects.inputs scored by one fine-tuned run. Its
# helpers stay beside the rule: they serve this rule alone.
from seqtune.config import variant_effects_model

VARIANT_EFFECTS = config.get("variant_effects", {})
VARIANT_INPUTS = VARIANT_EFFECTS.get("inputs", {})


def get_variant_effect_outputs():
    """The effects tables and summaries of every variant_effects input (none unless one is configured)."""
    return [
        f"{R}/variant_effects/{name}.{ext}"
        for name in VARIANT_INPUTS
        for ext in ("tsv", "json")
    ]


def get_variant_effect_inputs(wildcards):
    """The fine-tuned weights variant_effects.model names, and the VCF and genome of one input (local files)."""
    m = variant_effects_model(config)
    run = f"{m['pretrained']}/{m['strategy']}/n{m['train_size']}/seed{m['seed']}"
    entry = VARIANT_INPUTS[wildcards.variant_input]
    return {
        "weights": f"{R}/finetune/{run}/model.safetensors",
        "vcf": local(entry["vcf"]),
        "genome": local(entry["genome"]),
    }


def get_variant_effect_args():
    """Options of `seqtune variant-effect` from the config (params: a change reruns the scoring)."""
    rc_average = VARIANT_EFFECTS.get("rc_average")
    if rc_average is None:
        rc_average = config["evaluation"]["rc_average"]
    args = [
        f"--ref-mismatch={VARIANT_EFFECTS.get('ref_mismatch', 'error')}",
        f"--max-indel-length={VARIANT_EFFECTS.get('max_indel_length', 50)}",
    ]
    if VARIANT_EFFECTS.get("ism", False):
        args.append("--ism")
    if rc_average:
        args.append("--rc-average")
    return args


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
    shell:
        "seqtune variant-effect --weights {input.weights:q} --vcf {input.vcf:q} --genome {input.genome:q}"
        " --output {output.effects:q} --summary {output.summary:q} {params.args:q} --threads {threads}"
        " --gpus {resources.gpu} 2> {log:q}"
