import json

import yaml

from snakemake.utils import validate

from seqtune.config import check_config, schema_problems
from seqtune.errors import SeqtuneError
from seqtune.seeds import derive_seed

# 1. Validate the config: the schema first (typos, types, ranges), reported one short line per problem, then
#    Snakemake's validate() to fill in the schema's defaults, then checks across keys.
_problems = schema_problems(config, workflow.source_path("../schemas/config.schema.yaml"))
if _problems:
    raise WorkflowError("config error:\n  " + "\n  ".join(_problems))
validate(config, schema="../schemas/config.schema.yaml")
try:
    check_config(config)
except SeqtuneError as error:
    raise WorkflowError(f"config error: {error}") from None

R = config["results"]
TARGET = config["finetune"]["dataset"]
PRETRAINED = list(config["pretrain"]["models"])
DEEP = config["finetune"]["strategies"]
BASELINES = config["baselines"]["strategies"]
SHUFFLED = config["controls"]["shuffled_labels"]


# 2. Wildcards can only take the configured values.
wildcard_constraints:
    dataset="|".join(config["datasets"]),
    pretrained="|".join(PRETRAINED + ["none"]),
    strategy="[a-z_]+",
    train_size="[0-9]+",
    seed="[0-9]+",


# 3. Small named helpers for rules.
def run_dir(step):
    return f"{R}/{step}/{{pretrained}}/{{strategy}}/n{{train_size}}/seed{{seed}}"


def runs():
    """Every (pretrained, strategy) pair of the sweep, baselines and controls included."""
    pairs = [("none", "scratch")] if "scratch" in DEEP else []
    for name, model in config["pretrain"]["models"].items():
        strategies = model.get("strategies", [s for s in DEEP if s != "scratch"])
        pairs.extend((name, strategy) for strategy in strategies)
    pairs.extend(("none", baseline) for baseline in BASELINES)
    if SHUFFLED["enabled"]:
        source = "none" if SHUFFLED["strategy"] == "scratch" else SHUFFLED["pretrained"]
        pairs.append((source, "shuffled_labels"))
    return pairs


def get_run_metrics():
    return [
        f"{R}/evaluate/{pretrained}/{strategy}/n{size}/seed{seed}/metrics.json"
        for pretrained, strategy in runs()
        for size in config["finetune"]["train_sizes"]
        for seed in config["finetune"]["seeds"]
    ]


def get_final_outputs():
    return [
        f"{R}/metrics.tsv",
        f"{R}/metrics.json",
        f"{R}/transfer_gain.tsv",
        f"{R}/report.html",
    ]


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
    background = config["background"]
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
    """The pretrained weights a fine-tuning run starts from; none for scratch."""
    if wildcards.pretrained == "none":
        return []
    return f"{R}/pretrain/{wildcards.pretrained}/model.safetensors"


def get_finetune_args(wildcards, input):
    strategy = deep_strategy(wildcards)
    training = {
        **config["finetune"].get("training", {}),
        **config["finetune"]["strategy_training"].get(strategy, {}),
    }
    args = [
        f"--strategy={strategy}",
        f"--train-size={wildcards.train_size}",
        f"--seed={derive_seed(config['seed'], 'run', wildcards.seed)}",
        f"--training={json.dumps(training, sort_keys=True)}",
        f"--model={json.dumps(config['model'], sort_keys=True)}",
    ]
    if input.get("pretrained"):
        args.append(f"--pretrained={input.pretrained}")
    if wildcards.strategy == "shuffled_labels":
        args.append("--shuffle-labels")
    return args


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
