import copy
import json
import os
import re

import yaml

from snakemake.utils import validate

from seqtune.config import (
    check_config,
    input_files,
    input_spec,
    is_huggingface,
    missing_input_files,
    predict_model,
    schema_problems,
    shuffled_control_source,
    trained_strategies,
)
from seqtune.errors import SeqtuneError
from seqtune.seeds import derive_seed

# 1. Validate the config: the schema first (typos, types, ranges), reported one short line per problem, then
#    Snakemake's validate() to fill in the schema's defaults, then checks across keys.
_problems = schema_problems(
    config, workflow.source_path("../schemas/config.schema.yaml")
)
if _problems:
    raise WorkflowError("config error:\n  " + "\n  ".join(_problems))
# The data set entries as written, before validate() fills in defaults (an explicit split_column is required).
USER_DATASETS = copy.deepcopy(config["datasets"])
validate(config, schema="../schemas/config.schema.yaml")
try:
    check_config(config)
except SeqtuneError as error:
    raise WorkflowError(f"config error: {error}") from None
# Input files must exist before anything runs: Snakemake skips a job whose input is missing when its output exists,
# so a mistyped path after a finished run would leave the old results in place. As a module, a rule of the host
# workflow may make them, and Snakemake itself reports those no rule makes.
if workflow.modifier.is_main_snakefile() and (_missing := missing_input_files(config)):
    raise WorkflowError(
        f"config error: input file(s) not found (relative to the working directory {os.getcwd()}):\n  "
        + "\n  ".join(_missing)
        + "\nFix the path(s); an absolute path works too."
    )

R = config["results"]
# Logs and Snakemake benchmark files: logs/ and benchmarks/ for the default results folder, logs/<results>/ and
# benchmarks/<results>/ for any other, so that two studies run in one folder keep their own.
LOGS = "logs" if R == "results" else f"logs/{R}"
BENCHMARKS = "benchmarks" if R == "results" else f"benchmarks/{R}"
TARGET = config["finetune"]["dataset"]
PRETRAINED = list(config["pretrain"]["models"])
DEEP = config["finetune"]["strategies"]
BASELINES = config["baselines"]["strategies"]
SHUFFLED = config["controls"]["shuffled_labels"]
SIMULATED = [n for n, d in config["datasets"].items() if d["source"] == "simulate"]
IMPORTED = [n for n, d in config["datasets"].items() if d["source"] != "simulate"]
# The data sets pretraining reads, each once, in config order (the leakage report checks the test split against them).
CORPORA = list(
    dict.fromkeys(
        m["dataset"]
        for m in config["pretrain"]["models"].values()
        if not is_huggingface(m)
    )
)
# Pretrained models that are Hugging Face checkpoints on disk (seqtune.hf), and the ones seqtune pretrains.
HUGGINGFACE = [n for n, m in config["pretrain"]["models"].items() if is_huggingface(m)]
SEQTUNE_PRETRAINED = [n for n in config["pretrain"]["models"] if n not in HUGGINGFACE]
# A checkpoint folder is checked before anything runs (missing, incomplete, or naming code not trusted).
if HUGGINGFACE:
    from seqtune.hf.backbone import check_checkpoint

    for _name in HUGGINGFACE:
        _model = config["pretrain"]["models"][_name]
        try:
            check_checkpoint(
                _model["path"], f"pretrain.models.{_name}", _model["trust_remote_code"]
            )
        except SeqtuneError as error:
            raise WorkflowError(f"config error: {error}") from None
PREDICT_INPUTS = config["predict"]["inputs"]
PREDICT_MODEL = predict_model(config)
# Interpretation needs the ground truth: the planted sites of a simulated target.
INTERPRET = (
    config["interpretation"]["enabled"]
    and config["datasets"][TARGET]["source"] == "simulate"
)


def one_of(names):
    """A wildcard regex matching exactly these names (and nothing when there are none)."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


# 2. Wildcards can only take the configured values.
wildcard_constraints:
    dataset=one_of(config["datasets"]),
    pretrained=one_of(PRETRAINED + ["none"]),
    predict_input=one_of(PREDICT_INPUTS),
    strategy="[a-z_]+",
    train_size="[0-9]+",
    seed="[0-9]+",


# 3. Small named helpers for rules.
def run_dir(step):
    return f"{R}/{step}/{{pretrained}}/{{strategy}}/n{{train_size}}/seed{{seed}}"


def runs():
    """Every (pretrained, strategy) pair of the sweep, baselines and controls included."""
    pairs = [("none", strategy) for strategy in trained_strategies(config, "none")]
    for name in PRETRAINED:
        pairs.extend((name, strategy) for strategy in trained_strategies(config, name))
    pairs.extend(("none", baseline) for baseline in BASELINES)
    if SHUFFLED["enabled"]:
        pairs.append((shuffled_control_source(config), "shuffled_labels"))
    return pairs


def get_run_metrics(name="metrics.json"):
    return [
        f"{R}/evaluate/{pretrained}/{strategy}/n{size}/seed{seed}/{name}"
        for pretrained, strategy in runs()
        for size in config["finetune"]["train_sizes"]
        for seed in config["finetune"]["seeds"]
    ]


def get_negative_controls():
    """The pretrained models marked negative_control, comma-separated (empty when none)."""
    return ",".join(
        name
        for name, model in config["pretrain"]["models"].items()
        if model.get("negative_control", False)
    )


def get_run_predictions():
    """The aggregate step reads each run's test predictions (beside its metrics) for the test-example bootstrap."""
    return get_run_metrics("predictions.tsv")


def get_final_outputs():
    return (
        [
            f"{R}/metrics.tsv",
            f"{R}/metrics.json",
            f"{R}/transfer_gain.tsv",
            f"{R}/report.html",
            f"{R}/split/{TARGET}/leakage.json",
        ]
        + [f"{R}/predict/{name}.tsv" for name in PREDICT_INPUTS]
        + get_model_cards()
        + get_tuning_outputs()
    )


def output_folder(wildcards, output):
    """The folder of a rule's first output (params that name a folder follow a module's prefix this way)."""
    return os.path.dirname(output[0])


def dataset_files(name):
    return multiext(
        f"{R}/data/{name}/",
        "codes.npy",
        "labels.tsv",
        "sequences.fasta",
        "dataset.json",
        "sites.tsv",
    )


def get_simulate_args(wildcards):
    """Command-line options of `seqtune simulate` for one data set, from its config entry."""
    dataset = config["datasets"][wildcards.dataset]
    background = {**config["background"], **dataset.get("background", {})}
    args = {
        "task": dataset["task"],
        "n-sequences": dataset["n_sequences"],
        "length": config["sequence_length"],
        "gc-content": background["gc_content"],
        "cpg-ratio": background["cpg_ratio"],
        "seed": derive_seed(config["seed"], "simulate", wildcards.dataset),
    }
    if dataset["task"] == "motif_presence":
        args["motifs"] = ",".join(dataset["motifs"])
        args["presence-rate"] = dataset["presence_rate"]
    else:
        args["required"] = ",".join(dataset["required"])
        args["distractors"] = ",".join(dataset["distractors"])
        args["distractor-rate"] = dataset["distractor_rate"]
        args["positive-fraction"] = dataset["positive_fraction"]
        args["label-noise"] = dataset["label_noise"]
    return [f"--{key}={value}" for key, value in args.items()]


def get_ingest_inputs(wildcards):
    """The files a file data set is read from, as inputs of the rule (a changed file reruns the import); marked local,
    so paths stay relative to the working directory, also when seqtune runs as a module with a prefix.
    """
    files = input_files(config["datasets"][wildcards.dataset])
    return {
        role: [local(p) for p in path] if isinstance(path, list) else local(path)
        for role, path in files.items()
    }


def get_ingest_spec(wildcards):
    name = wildcards.dataset
    spec = input_spec(config["datasets"][name], USER_DATASETS[name])
    return json.dumps(spec, sort_keys=True)


def get_split_args(wildcards):
    """Options of `seqtune split`: split.method for the target, stratified for pretraining corpora."""
    split = config["split"]
    args = {
        "validation-fraction": split["validation_fraction"],
        "test-fraction": split["test_fraction"],
        "seed": derive_seed(config["seed"], "split", wildcards.dataset),
    }
    if wildcards.dataset == TARGET:
        # Not --largest-train-size: a params change reruns the split and the whole study after it, and adding a
        # larger train size changes no split. Fine-tuning checks each size against the training split.
        args["method"] = split["method"]
        if split["method"] == "chromosome":
            args["validation-chroms"] = ",".join(split["validation_chroms"])
            args["test-chroms"] = ",".join(split["test_chroms"])
        elif split["method"] == "similarity":
            args["similarity-k"] = split["similarity_k"]
            args["similarity-threshold"] = split["similarity_threshold"]
    return [f"--{key}={value}" for key, value in args.items()]


def get_leakage_args():
    """Options of `seqtune leakage` from the config (params: a change reruns the report)."""
    leakage = config["leakage"]
    return [
        f"--policy={leakage['policy']}",
        f"--near-k={leakage['near_k']}",
        f"--near-threshold={leakage['near_threshold']}",
        f"--seed={derive_seed(config['seed'], 'leakage', TARGET)}",
    ]


def get_excluded_leakage():
    """The leakage report evaluation drops the leaked test records of (leakage.policy: exclude); none otherwise."""
    if config["leakage"]["policy"] == "exclude":
        return f"{R}/split/{TARGET}/leakage.json"
    return []


def get_exclude_arg(wildcards, input):
    """--exclude-leaked from the rule's input (input paths only: see get_pretrained_arg)."""
    return [f"--exclude-leaked={input.leakage}"] if input.get("leakage") else []


def get_corpus_args(wildcards, input):
    """Each pretraining corpus with its manifest, from the rule's input (input paths only: see get_pretrained_arg)."""
    args = []
    for codes, manifest in zip(input.corpus_codes, input.corpus_manifests):
        args += [f"--corpus-codes={codes}", f"--corpus-manifest={manifest}"]
    return args


def get_predict_inputs(wildcards):
    """The fine-tuned weights predict.model names, their evaluation's metrics, and the input files of one
    predict.inputs entry."""
    m = PREDICT_MODEL
    files = input_files(PREDICT_INPUTS[wildcards.predict_input])
    run = f"{m['pretrained']}/{m['strategy']}/n{m['train_size']}/seed{m['seed']}"
    return {
        "weights": f"{R}/finetune/{run}/model.safetensors",
        # its evaluation's decision threshold (evaluation.decision_threshold) gives predicted_label
        "decision": f"{R}/evaluate/{run}/metrics.json",
        **{role: local(path) for role, path in files.items()},
    }


def get_predict_spec(wildcards):
    spec = input_spec(PREDICT_INPUTS[wildcards.predict_input], labels=False)
    return json.dumps(spec, sort_keys=True)


def get_pretrain_codes(wildcards):
    return f"{R}/data/{config['pretrain']['models'][wildcards.pretrained]['dataset']}/codes.npy"


def get_pretrain_manifest(wildcards):
    return f"{R}/split/{config['pretrain']['models'][wildcards.pretrained]['dataset']}/manifest.tsv"


def get_pretrain_objective(wildcards):
    model = config["pretrain"]["models"][wildcards.pretrained]
    return [
        f"--objective={model['objective']}",
        f"--mask-fraction={model['mask_fraction']}",
    ]


def deep_strategy(wildcards):
    """The deep strategy a run trains with (the shuffled-label control retrains a configured one)."""
    if wildcards.strategy == "shuffled_labels":
        return SHUFFLED["strategy"]
    return wildcards.strategy


def get_pretrained_weights(wildcards):
    """The pretrained weights a fine-tuning run starts from (a Hugging Face checkpoint's base.json); none for
    scratch."""
    if wildcards.pretrained == "none":
        return []
    if wildcards.pretrained in HUGGINGFACE:
        return f"{R}/pretrain/{wildcards.pretrained}/base.json"
    return f"{R}/pretrain/{wildcards.pretrained}/model.safetensors"


def get_embeddings(wildcards):
    """A Hugging Face linear probe's frozen embeddings of the target (the embed step, once per data set)."""
    if (
        wildcards.pretrained in HUGGINGFACE
        and deep_strategy(wildcards) == "linear_probe"
    ):
        return f"{R}/embed/{wildcards.pretrained}/{TARGET}/embeddings.npy"
    return []


def get_embeddings_arg(wildcards, input):
    """--embeddings from the rule's input (input paths only: see get_pretrained_arg)."""
    return [f"--embeddings={input.embeddings}"] if input.get("embeddings") else []


def get_huggingface_args(wildcards):
    """finetune's options for a run from a Hugging Face model: its LoRA adapters, gradient checkpointing."""
    if wildcards.pretrained not in HUGGINGFACE:
        return []
    model = config["pretrain"]["models"][wildcards.pretrained]
    args = []
    if deep_strategy(wildcards) == "lora":
        args.append(f"--lora={json.dumps(model['lora'], sort_keys=True)}")
    if model["gradient_checkpointing"]:
        args.append("--gradient-checkpointing")
    return args


def get_checkpoint_files(wildcards):
    """A Hugging Face checkpoint's config and weight files: a changed file reruns its import and every run from it.
    Marked local, so paths stay relative to the working directory under a module's prefix.
    """
    folder = config["pretrain"]["models"][wildcards.pretrained]["path"]
    weights = sorted(
        os.path.join(folder, name)
        for name in (os.listdir(folder) if os.path.isdir(folder) else [])
        if name.endswith(".safetensors")
    )
    return [local(os.path.join(folder, "config.json"))] + [local(w) for w in weights]


def get_import_args(wildcards):
    model = config["pretrain"]["models"][wildcards.pretrained]
    args = [
        f"--path={model['path']}",
        f"--key=pretrain.models.{wildcards.pretrained}",
        f"--length={config['sequence_length']}",
        f"--pooling={model['pooling']}",
    ]
    if model["trust_remote_code"]:
        args.append("--trust-remote-code")
    return args


def get_embed_batch_size(wildcards):
    return config["pretrain"]["models"][wildcards.pretrained]["embed_batch_size"]


def run_resource(name, default):
    """A resource of a run's job: pretrain.models.<name>.resources for runs from a Hugging Face model, else the
    rule's own default (a profile's set-resources overrides either)."""

    def resource(wildcards):
        pretrained = getattr(wildcards, "pretrained", "none")
        if pretrained in HUGGINGFACE:
            value = config["pretrain"]["models"][pretrained]["resources"].get(name)
            if value is not None:
                return value
        return default

    return resource


def without_checkpointing(training):
    """Training settings minus checkpoint_every, which changes when progress is saved, not the result."""
    return {key: value for key, value in training.items() if key != "checkpoint_every"}


def checkpointing_arg(training):
    """--checkpoint-every when the config sets it. Rules pass it through a params function that takes `output`:
    Snakemake leaves such derived params out of its params rerun trigger, so changing it reruns no training.
    """
    if "checkpoint_every" not in training:
        return []
    return [f"--checkpoint-every={training['checkpoint_every']}"]


def get_pretrain_checkpointing(wildcards, output):
    return checkpointing_arg(config["pretrain"].get("training", {}))


def finetune_training(wildcards):
    strategy = deep_strategy(wildcards)
    model = config["pretrain"]["models"].get(wildcards.pretrained, {})
    return {
        **config["finetune"].get("training", {}),
        **config["finetune"]["strategy_training"].get(strategy, {}),
        # a Hugging Face model's own overrides (batch size, accumulation), for its random_init reference too
        **(model.get("training", {}) if wildcards.pretrained in HUGGINGFACE else {}),
    }


def get_finetune_checkpointing(wildcards, output):
    return checkpointing_arg(finetune_training(wildcards))


def get_finetune_args(wildcards):
    """Options of `seqtune finetune` that depend on the config and the run (params: a change reruns the run)."""
    training = without_checkpointing(finetune_training(wildcards))
    args = [
        f"--strategy={deep_strategy(wildcards)}",
        f"--train-size={wildcards.train_size}",
        f"--seed={derive_seed(config['seed'], 'run', wildcards.seed)}",
        f"--training={json.dumps(training, sort_keys=True)}",
        f"--model={json.dumps(config['model'], sort_keys=True)}",
    ]
    if wildcards.strategy == "shuffled_labels":
        args.append("--shuffle-labels")
    return args


def get_pretrained_arg(wildcards, input):
    """--pretrained WEIGHTS from the rule's input (so that a module's prefix applies); none for scratch. Snakemake
    leaves params derived from input out of its params rerun trigger: keep only input paths here.
    """
    return [f"--pretrained={input.pretrained}"] if input.get("pretrained") else []


def get_run_identity(wildcards):
    return json.dumps(
        {
            "pretrained": wildcards.pretrained,
            "strategy": wildcards.strategy,
            "train_size": int(wildcards.train_size),
            "seed": int(wildcards.seed),
        },
        sort_keys=True,
    )


def deep_runs():
    """Every (pretrained, strategy) pair `finetune` trains (fine-tuned, scratch and the shuffled-label control)."""
    return [(p, s) for p, s in runs() if s not in BASELINES]


def interpreted_runs():
    """(pretrained, strategy, train_size, seed) of each interpreted model: fine-tuned and scratch (not the control) at
    the largest train size, every seed; none unless INTERPRET."""
    if not INTERPRET:
        return []
    size = max(config["finetune"]["train_sizes"])
    return [
        (pretrained, strategy, size, seed)
        for pretrained, strategy in deep_runs()
        if strategy != "shuffled_labels"
        for seed in config["finetune"]["seeds"]
    ]


def get_interpretation_summaries():
    return [
        f"{R}/interpret/{p}/{s}/n{size}/seed{seed}/interpretation.json"
        for p, s, size, seed in interpreted_runs()
    ]


def get_interpret_args():
    """Options of `seqtune interpret` from the config; one seed for every model, so all interpret the same sequences."""
    settings = config["interpretation"]
    return [
        f"--n-sequences={settings['n_sequences']}",
        f"--method={settings['method']}",
        f"--position-score={settings['position_score']}",
        f"--window={settings['window']}",
        f"--n-plot={settings['n_plot']}",
        f"--seed={derive_seed(config['seed'], 'interpret', TARGET)}",
    ]


def get_report_interpretation():
    """The interpretation summary the report shows, when the study interprets."""
    return f"{R}/interpretation.json" if INTERPRET else []


def get_interpretation_arg(wildcards, input):
    """--interpretation JSON from the input of `report` (input paths only, as in get_pretrained_arg)."""
    return (
        [f"--interpretation={input.interpretation}"]
        if input.get("interpretation")
        else []
    )


def get_model_cards():
    return [
        f"{R}/finetune/{p}/{s}/n{size}/seed{seed}/model_card.{ext}"
        for p, s in deep_runs()
        for size in config["finetune"]["train_sizes"]
        for seed in config["finetune"]["seeds"]
        for ext in ("json", "md")
    ]


def get_model_card_inputs(wildcards):
    """What a model card reads: the model, its test metrics, the aggregate over seeds, the target data and split; the
    pretrained model and its corpus (not for scratch); its interpretation summary when it was interpreted.
    """
    inputs = {
        "weights": f"{run_dir('finetune')}/model.safetensors",
        "sidecar": f"{run_dir('finetune')}/model.json",
        "run_metrics": f"{run_dir('evaluate')}/metrics.json",
        "metrics": f"{R}/metrics.json",
        "dataset": f"{R}/data/{TARGET}/dataset.json",
        "split": f"{R}/split/{TARGET}/summary.json",
    }
    names = dict(wildcards.items())
    inputs = {key: path.format(**names) for key, path in inputs.items()}
    if wildcards.pretrained in HUGGINGFACE:
        inputs["pretrained_sidecar"] = f"{R}/pretrain/{wildcards.pretrained}/base.json"
    elif wildcards.pretrained != "none":
        corpus = config["pretrain"]["models"][wildcards.pretrained]["dataset"]
        inputs["pretrained_sidecar"] = f"{R}/pretrain/{wildcards.pretrained}/model.json"
        inputs["pretrained_dataset"] = f"{R}/data/{corpus}/dataset.json"
    run = (
        wildcards.pretrained,
        wildcards.strategy,
        int(wildcards.train_size),
        int(wildcards.seed),
    )
    if run in interpreted_runs():
        inputs["interpretation"] = f"{run_dir('interpret')}/interpretation.json".format(
            **names
        )
    return inputs


def get_model_card_args(wildcards, input):
    """The model card's optional inputs as options (input paths only: see get_pretrained_arg)."""
    return [
        f"--{key.replace('_', '-')}={input.get(key)}"
        for key in ("pretrained_sidecar", "pretrained_dataset", "interpretation")
        if input.get(key)
    ]


def get_baseline_k(wildcards):
    """k of the k-mer baseline; onehot_logreg takes none (so baselines.kmer_k reruns kmer_logreg only)."""
    return config["baselines"]["kmer_k"] if wildcards.strategy == "kmer_logreg" else 0


# 4. Variant effects: the VCFs of variant_effects.inputs, each scored by one fine-tuned run (variant_effect.smk).
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


# 5. Hyperparameter search (tuning.enabled): one study per model and train size (see workflow/rules/tune.smk).
TUNING = config["tuning"]


def tuned_studies():
    """(pretrained, strategy) of every model searched: each deep strategy of the sweep and each baseline (the
    shuffled-label control uses the chosen parameters of the model it retrains)."""
    if not TUNING["enabled"]:
        return []
    return [(p, s) for p, s in runs() if s != "shuffled_labels"]


def study_dir(pretrained, strategy, train_size):
    return f"{R}/tuning/{pretrained}/{strategy}/n{train_size}"


def get_tuning_outputs():
    return [
        f"{study_dir(p, s, size)}/{name}"
        for p, s in tuned_studies()
        for size in config["finetune"]["train_sizes"]
        for name in ("trials.tsv", "chosen.json")
    ]


def get_previous_trial(wildcards):
    """The previous slot's record: trials of one study run one after the other unless tuning.parallel_trials."""
    slot = int(wildcards.slot)
    if TUNING["parallel_trials"] or slot == 0:
        return []
    folder = study_dir(wildcards.pretrained, wildcards.strategy, wildcards.train_size)
    return f"{folder}/trials/slot{slot - 1}.json"


def get_study_journal(wildcards, output):
    """The study's Optuna journal, beside its trials folder: a store shared by the study's jobs, not a declared
    output (each job appends to it; the per-slot records are what Snakemake tracks)."""
    # trials/ for tune_trial, the study's folder for tune_export
    folder = os.path.dirname(output[0])
    if os.path.basename(folder) == "trials":
        folder = os.path.dirname(folder)
    return os.path.join(folder, "journal.log")


def get_study_trials(wildcards):
    folder = study_dir(wildcards.pretrained, wildcards.strategy, wildcards.train_size)
    return [f"{folder}/trials/slot{slot}.json" for slot in range(TUNING["n_trials"])]


def tuning_seed():
    """The run seed whose training subset the search uses (tuning.seed, by default the first of finetune.seeds)."""
    seed = TUNING["seed"]
    return config["finetune"]["seeds"][0] if seed is None else seed


def get_tune_trial_args(wildcards):
    """Options of `seqtune tune-trial` (params: a change reruns the trials, which find finished ones in the
    journal only when the study's settings are unchanged)."""
    strategy = wildcards.strategy
    args = [
        f"--strategy={strategy}",
        f"--pretrained-name={wildcards.pretrained}",
        f"--train-size={wildcards.train_size}",
        f"--seed={derive_seed(config['seed'], 'run', tuning_seed())}",
        f"--study-seed={config['seed']}",
        f"--space={json.dumps(TUNING['space'], sort_keys=True)}",
        f"--startup-trials={TUNING['startup_trials']}",
        f"--pruning={json.dumps(TUNING['pruning'], sort_keys=True)}",
    ]
    if strategy in BASELINES:
        return args + [f"--k={config['baselines']['kmer_k']}"]
    training = without_checkpointing(finetune_training(wildcards))
    return args + [
        f"--training={json.dumps(training, sort_keys=True)}",
        f"--model={json.dumps(config['model'], sort_keys=True)}",
    ]


def get_tuned_params(wildcards):
    """The chosen parameters a final run uses (none unless tuning.enabled): its own model's study at its train size;
    the shuffled-label control those of the model it retrains."""
    if not TUNING["enabled"]:
        return []
    study = (wildcards.pretrained, deep_strategy(wildcards))
    if wildcards.strategy in BASELINES:
        study = (wildcards.pretrained, wildcards.strategy)
    if study not in tuned_studies():
        return []
    return f"{study_dir(*study, wildcards.train_size)}/chosen.json"


def get_tuned_arg(wildcards, input):
    """--tuned CHOSEN_JSON from the rule's input (input paths only, as in get_pretrained_arg)."""
    return [f"--tuned={input.tuned}"] if input.get("tuned") else []


def get_tuning_summaries():
    """The chosen-parameter files aggregate and the report read (trials.tsv beside each)."""
    return [path for path in get_tuning_outputs() if path.endswith("chosen.json")]


def get_tuning_arg(wildcards, input):
    """--tuning CHOSEN_JSON per study, from the rule's input (input paths only, as in get_pretrained_arg)."""
    return [f"--tuning={path}" for path in input.get("tuning", [])]


# 6. Controls that can conclude (workflow/rules/controls.smk).
PERMUTATION = config["controls"]["permutation"]
SHORTCUT = config["controls"]["shortcut"]


def get_permutation_outputs():
    if not PERMUTATION["enabled"]:
        return []
    return [
        f"{R}/controls/permutation/n{size}.json"
        for size in config["finetune"]["train_sizes"]
    ]


def get_permutation_args(wildcards):
    """Options of `seqtune permutation-control`: the seeds' subsets, the budget, the baseline and its k."""
    seeds = [derive_seed(config["seed"], "run", s) for s in config["finetune"]["seeds"]]
    return [
        f"--seeds={','.join(map(str, seeds))}",
        f"--n-permutations={PERMUTATION['n_permutations']}",
        f"--kind={PERMUTATION['baseline']}",
        f"--k={config['baselines']['kmer_k']}",
        f"--seed={derive_seed(config['seed'], 'permutation')}",
    ]


def get_permutation_tuned(wildcards):
    """The baseline's chosen parameters at this size when it was searched (its C is then the one refitted)."""
    study = ("none", PERMUTATION["baseline"])
    if not TUNING["enabled"] or study not in tuned_studies():
        return []
    return f"{study_dir(*study, wildcards.train_size)}/chosen.json"


def get_shortcut_weights():
    """Every trained model the shortcut control scores (not the shuffled-label control)."""
    if not SHORTCUT["enabled"]:
        return []
    return [
        f"{R}/finetune/{p}/{s}/n{size}/seed{seed}/model.safetensors"
        for p, s in deep_runs()
        if s != "shuffled_labels"
        for size in config["finetune"]["train_sizes"]
        for seed in config["finetune"]["seeds"]
    ]


def get_shortcut_output():
    """The shortcut control's table, when there is a trained model to score."""
    return [f"{R}/controls/shortcut.tsv"] if get_shortcut_weights() else []


def get_controls_arg(wildcards, input):
    """--permutation and --shortcut from the input of aggregate (input paths only, as in get_pretrained_arg)."""
    args = [f"--permutation={path}" for path in input.get("permutation", [])]
    return args + [f"--shortcut={path}" for path in input.get("shortcut", [])]
