"""The ``seqtune`` command: one subcommand per pipeline step, each a thin layer over one ``pipeline`` function."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from .config import DECISION_RULES
from .errors import SeqtuneError

log = logging.getLogger("seqtune")


def _json_arg(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        if os.path.isfile(text):
            raise argparse.ArgumentTypeError(f"{text!r} is a file name; the option takes the JSON text itself: "
                                             f"write \"$(cat {text})\" in its place") from None
        raise argparse.ArgumentTypeError(f"not valid JSON ({error}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


# What a bare file name given as predict's input is read as, by its extension (gzipped or not).
_SOURCE_BY_EXTENSION = {".fa": "fasta", ".fasta": "fasta", ".fna": "fasta", ".tsv": "tsv", ".csv": "tsv",
                        ".txt": "tsv"}


def _input_arg(text: str) -> dict:
    """predict's input: a JSON object (an input spec), or the path of a FASTA (.fa, .fasta, .fna) or table (.tsv,
    .csv) file, gzipped or not, read with the spec's defaults."""
    if text.lstrip().startswith("{"):
        return _json_arg(text)
    name = text.lower().removesuffix(".gz")
    extension = os.path.splitext(name)[1]
    if extension == ".bed":
        raise argparse.ArgumentTypeError(f"{text!r}: BED intervals need a genome; give the input as JSON: "
                                         '\'{"source": "bed", "path": "%s", "genome": "genome.fa"}\'' % text)
    if extension not in _SOURCE_BY_EXTENSION:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a JSON input spec nor a file named .fa/.fasta/.fna/.tsv/.csv (gzipped or not); "
            'give it as JSON: \'{"source": "fasta|tsv|bed", "path": ...}\'')
    return {"source": _SOURCE_BY_EXTENSION[extension], "path": text}


def _count_arg(minimum: int):
    """An integer option of at least ``minimum`` (argparse then names the option in its error)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is too small; give at least {minimum}")
        return value
    return parse


POSITIVE, NON_NEGATIVE = _count_arg(1), _count_arg(0)
RUN_EXAMPLE = '''as a JSON object (e.g. '{"pretrained": "motifs", "strategy": "full", "train_size": 100, "seed": 1}')'''


def _list_arg(text: str) -> list[str]:
    return [item for item in text.split(",") if item]


def _add_compute(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=POSITIVE, default=1, help="CPU threads for torch (the rule's threads)")
    parser.add_argument("--gpus", type=NON_NEGATIVE, default=0, help="GPUs given to the job; CUDA is used when > 0")
    parser.add_argument("--reproducibility", choices=("machine", "portable"), default="machine",
                        help="machine: the CPU's best kernels (bitwise reproducible on this machine); portable: "
                        "kernels capped at a level common to x86-64 CPUs (ATEN_CPU_CAPABILITY=default, "
                        "ONEDNN_MAX_CPU_ISA=SSE41) and one thread, for the same results across machines "
                        "(default: machine)")


def _add_decision_threshold(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--decision-threshold", choices=DECISION_RULES, default="validation",
                        help="binary targets: 'validation' predicts the positive class above the cut that maximises "
                        "balanced accuracy on the validation split; 'argmax' the most probable class (default: "
                        "validation)")


def _add_checkpointing(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint-every", type=NON_NEGATIVE, default=None,
                        help="epochs between resumable checkpoints (0: none); overrides the training JSON's "
                             "checkpoint_every, and is passed apart from it so that the workflow does not rerun "
                             "training when only this changes")


def _add_tuned(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tuned", default=None, metavar="CHOSEN_JSON",
                        help="the chosen parameters of this model's search (of tune-export), written over the "
                             "configured settings and recorded with the run")


def _add_huggingface(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--embeddings", default=None, help="Hugging Face linear_probe: the data set's frozen "
                        "embeddings (seqtune embed); computed here when not given")
    parser.add_argument("--lora", type=_json_arg, default=None, help="Hugging Face lora: rank, alpha, dropout, "
                        "target_modules (JSON)")
    parser.add_argument("--gradient-checkpointing", action="store_true",
                        help="Hugging Face models: recompute activations in the backward pass (less memory, slower)")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="seqtune", description="Transfer learning on DNA sequences: one subcommand per step of the seqtune "
        "workflow (seqtune STEP --help); predict applies a fine-tuned model to new sequences.")
    parser.add_argument("--version", action="version", version=f"seqtune {__version__}")
    parser.add_argument("--quiet", action="store_true", help="log warnings only")
    steps = parser.add_subparsers(dest="step", required=True, metavar="STEP")

    p = steps.add_parser("simulate", help="simulate a labelled data set with planted JASPAR motifs")
    p.add_argument("--out-dir", required=True, help="data set folder to write (codes.npy, labels.tsv, ...)")
    p.add_argument("--task", required=True, choices=["motif_presence", "motif_grammar"])
    p.add_argument("--n-sequences", type=POSITIVE, required=True)
    p.add_argument("--length", type=POSITIVE, required=True)
    p.add_argument("--motifs", type=_list_arg, default=[], help="motif_presence: JASPAR IDs, comma-separated")
    p.add_argument("--presence-rate", type=float, default=0.3)
    p.add_argument("--required", type=_list_arg, default=[], help="motif_grammar: IDs that must all be present")
    p.add_argument("--distractors", type=_list_arg, default=[], help="motif_grammar: IDs planted regardless of label")
    p.add_argument("--distractor-rate", type=float, default=0.3)
    p.add_argument("--positive-fraction", type=float, default=0.5)
    p.add_argument("--label-noise", type=float, default=0.0)
    p.add_argument("--gc-content", type=float, default=0.41, help="background GC content")
    p.add_argument("--cpg-ratio", type=float, default=0.25,
                   help="background CpG observed/expected ratio (0: no CpG, 1: no depletion)")
    p.add_argument("--seed", type=int, required=True)

    p = steps.add_parser("ingest", help="import FASTA, TSV/CSV or BED + genome data into a data set folder")
    p.add_argument("--out-dir", required=True, help="data set folder to write (codes.npy, labels.tsv, ...)")
    p.add_argument("--spec", type=_json_arg, required=True,
                   help='what to read, as JSON: {"source": "fasta|tsv|bed", "path": ..., ...} (the keys of '
                        "seqtune.inputs.InputSpec, a datasets.<name> entry of the config)")
    p.add_argument("--length", type=POSITIVE, required=True, help="sequence length (its length_policy crops or pads)")
    p.add_argument("--seed", type=int, required=True, help="recorded in dataset.json (the import is deterministic)")

    p = steps.add_parser("split", help="train/validation/test split (stratified, by chromosome, by similarity or "
                                       "the data's own split column)")
    p.add_argument("--codes", required=True, help="codes.npy of the data set folder")
    p.add_argument("--manifest", required=True, help="output: id -> split TSV")
    p.add_argument("--summary", required=True, help="output: counts per class per split (JSON)")
    p.add_argument("--method", default="stratified", choices=["stratified", "chromosome", "similarity", "column"])
    p.add_argument("--validation-fraction", type=float, default=0.15, help="stratified, similarity")
    p.add_argument("--test-fraction", type=float, default=0.25, help="stratified, similarity")
    p.add_argument("--validation-chroms", type=_list_arg, default=[], help="chromosome: comma-separated")
    p.add_argument("--test-chroms", type=_list_arg, default=[], help="chromosome: comma-separated")
    p.add_argument("--similarity-k", type=POSITIVE, default=8, help="similarity: k-mer size")
    p.add_argument("--similarity-threshold", type=float, default=0.5,
                   help="similarity: Jaccard similarity at which two sequences share a group")
    p.add_argument("--largest-train-size", type=POSITIVE, default=None,
                   help="fail now if the split leaves fewer training examples than this")
    p.add_argument("--seed", type=int, required=True)

    p = steps.add_parser("leakage", help="report sequences shared across splits and with the pretraining corpora")
    p.add_argument("--codes", required=True, help="codes.npy of the split data set")
    p.add_argument("--manifest", required=True, help="its split manifest")
    p.add_argument("--output", required=True, help="output: leakage report (JSON)")
    p.add_argument("--corpus-codes", action="append", default=[],
                   help="codes.npy of a pretraining data set (repeat for each)")
    p.add_argument("--corpus-manifest", action="append", default=[],
                   help="its manifest (repeat, in the same order): only its train and validation records count")
    p.add_argument("--policy", choices=["warn", "fail", "exclude"], default="warn",
                   help="warn: log each finding; fail: exit with an error and write nothing; exclude: log each "
                   "finding, and record that evaluation drops the leaked test records (evaluate --exclude-leaked)")
    p.add_argument("--near-k", type=POSITIVE, default=8, help="k-mer size of the near-duplicate check")
    p.add_argument("--near-threshold", type=float, default=0.5,
                   help="Jaccard similarity of near-duplicates (and corpus containment)")
    p.add_argument("--seed", type=int, default=0)

    p = steps.add_parser("pretrain", help="train a model on a pretraining corpus")
    p.add_argument("--codes", required=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--weights", required=True, help="output .safetensors (a .json sidecar is written beside it)")
    p.add_argument("--history", required=True, help="output: per-epoch TSV")
    p.add_argument("--model", type=_json_arg, default={}, help="architecture settings as JSON")
    p.add_argument("--training", type=_json_arg, default={}, help="training settings as JSON")
    _add_checkpointing(p)
    p.add_argument("--objective", choices=["supervised", "masked"], default="supervised",
                   help="supervised on the corpus's labels, or masked-nucleotide modelling (labels ignored)")
    p.add_argument("--mask-fraction", type=float, default=0.15, help="masked: fraction of positions hidden")
    p.add_argument("--seed", type=int, required=True)
    _add_compute(p)
    p.add_argument("--nproc", type=POSITIVE, default=1,
                   help="train as this many processes on this machine (DDP through torchrun; --threads are shared "
                        "among them); under torchrun or an srun step of several tasks, the launcher decides")

    p = steps.add_parser("finetune", help="fine-tune a pretrained model on the target (or train from scratch)")
    p.add_argument("--codes", required=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--pretrained", default=None, help="pretrained .safetensors, or a Hugging Face checkpoint's "
                   "base.json from seqtune import-model (not for --strategy scratch)")
    p.add_argument("--weights", required=True)
    p.add_argument("--history", required=True)
    p.add_argument("--train-ids", required=True, help="output: the training subset's ids and labels")
    p.add_argument("--strategy", required=True)
    p.add_argument("--train-size", type=POSITIVE, required=True)
    p.add_argument("--shuffle-labels", action="store_true", help="control: permute the training labels")
    p.add_argument("--model", type=_json_arg, default={}, help="architecture for --strategy scratch (JSON)")
    p.add_argument("--training", type=_json_arg, default={})
    _add_checkpointing(p)
    p.add_argument("--seed", type=int, required=True)
    _add_huggingface(p)
    _add_tuned(p)
    _add_compute(p)

    p = steps.add_parser("import-model", help="check a local Hugging Face checkpoint and record its identity "
                         "(base.json: path, SHA-256 of its weights, architecture, tokens per sequence)")
    p.add_argument("--path", required=True, help="the checkpoint's folder (config.json, *.safetensors, tokenizer)")
    p.add_argument("--output", required=True, help="output: base.json")
    p.add_argument("--key", default="pretrain.models.<name>", help="the config key that names it (for errors)")
    p.add_argument("--length", type=POSITIVE, required=True, help="sequence length in nt (checked against the "
                   "model's positions)")
    p.add_argument("--pooling", choices=["mean", "cls"], default="mean")
    p.add_argument("--trust-remote-code", action="store_true", help="allow a checkpoint's own Python code")

    p = steps.add_parser("embed", help="a Hugging Face model's frozen pooled embeddings of a data set (for a "
                         "linear probe), once")
    p.add_argument("--base", required=True, help="base.json from seqtune import-model")
    p.add_argument("--codes", required=True)
    p.add_argument("--output", required=True, help="output .npy (N, hidden) float32, with a .json beside it")
    p.add_argument("--batch-size", type=POSITIVE, default=64)
    _add_compute(p)

    p = steps.add_parser("evaluate", help="score a fine-tuned model on the test split")
    p.add_argument("--codes", required=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--weights", required=True)
    p.add_argument("--predictions", required=True)
    p.add_argument("--metrics", required=True)
    p.add_argument("--run", type=_json_arg, default={}, help=f"identity of the run {RUN_EXAMPLE}, copied into "
                   "metrics.json")
    p.add_argument("--rc-average", action="store_true", help="average predictions over both strands")
    p.add_argument("--exclude-leaked", default=None, metavar="LEAKAGE_JSON",
                   help="leave the test records this leakage report lists as leaked out of the predictions and "
                   "scores (leakage.policy: exclude)")
    _add_decision_threshold(p)
    _add_compute(p)

    p = steps.add_parser("baseline", help="fit a logistic-regression baseline and score it on the test split")
    p.add_argument("--codes", required=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--predictions", required=True)
    p.add_argument("--metrics", required=True)
    p.add_argument("--kind", required=True, choices=["kmer_logreg", "onehot_logreg"])
    p.add_argument("--k", type=NON_NEGATIVE, default=3,
                   help="k-mer length for kmer_logreg (0 for onehot_logreg, which has none)")
    p.add_argument("--train-size", type=POSITIVE, required=True)
    p.add_argument("--run", type=_json_arg, default={}, help=f"identity of the run {RUN_EXAMPLE}")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--exclude-leaked", default=None, metavar="LEAKAGE_JSON",
                   help="leave the test records this leakage report lists as leaked out of the predictions and "
                   "scores (leakage.policy: exclude)")
    _add_decision_threshold(p)
    _add_tuned(p)

    p = steps.add_parser("tune-trial", help="one trial of a model's hyperparameter search (Optuna journal), on the "
                                            "training subset and validation split only")
    p.add_argument("--codes", required=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--output", required=True, help="output: the trial's record (JSON)")
    p.add_argument("--journal", required=True, help="the study's Optuna journal file (shared by its trials)")
    p.add_argument("--slot", type=NON_NEGATIVE, required=True,
                   help="this trial's slot; a slot already finished in the journal is returned without training")
    p.add_argument("--strategy", required=True, help="a deep strategy, or kmer_logreg / onehot_logreg")
    p.add_argument("--pretrained", default=None, help="pretrained .safetensors, or a Hugging Face checkpoint's "
                   "base.json (deep strategies but scratch)")
    p.add_argument("--pretrained-name", default="none", help="the pretrained model's name (the study's identity)")
    p.add_argument("--train-size", type=POSITIVE, required=True)
    p.add_argument("--seed", type=int, required=True, help="the run seed whose training subset the search uses")
    p.add_argument("--study-seed", type=int, required=True, help="the config's seed (sampler seeds derive from it)")
    p.add_argument("--space", type=_json_arg, required=True, help="tuning.space as JSON")
    p.add_argument("--training", type=_json_arg, default={}, help="training settings the trials start from")
    p.add_argument("--model", type=_json_arg, default={}, help="architecture for --strategy scratch (JSON)")
    p.add_argument("--k", type=NON_NEGATIVE, default=3, help="k of kmer_logreg")
    p.add_argument("--startup-trials", type=NON_NEGATIVE, default=5, help="TPE's random trials before it models")
    p.add_argument("--pruning", type=_json_arg, default={},
                   help='median pruning as JSON: {"enabled": true, "startup_trials": 3, "warmup_epochs": 2}')
    _add_huggingface(p)
    _add_compute(p)

    p = steps.add_parser("tune-export", help="a study's trials as TSV and its chosen parameters as JSON")
    p.add_argument("trial_files", nargs="+", help="the study's trial records (of tune-trial)")
    p.add_argument("--journal", required=True)
    p.add_argument("--trials", required=True, help="output: one row per trial (TSV)")
    p.add_argument("--chosen", required=True, help="output: the best trial's parameters (JSON)")
    p.add_argument("--budget", type=POSITIVE, required=True, help="trials per study (recorded)")

    p = steps.add_parser("permutation-control", help="a baseline refitted on permuted training labels: the null "
                                                     "distribution of its test AUROC at one train size")
    p.add_argument("--codes", required=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--output", required=True, help="output: null values, their mean and interval, p-value (JSON)")
    p.add_argument("--train-size", type=POSITIVE, required=True)
    p.add_argument("--seeds", type=lambda text: [int(v) for v in _list_arg(text)], required=True,
                   help="run seeds whose training subsets are permuted, comma-separated")
    p.add_argument("--n-permutations", type=_count_arg(2), default=200)
    p.add_argument("--kind", choices=["kmer_logreg", "onehot_logreg"], default="kmer_logreg")
    p.add_argument("--k", type=NON_NEGATIVE, default=3)
    p.add_argument("--seed", type=int, default=0, help="seed of the permutations")
    _add_tuned(p)

    p = steps.add_parser("shortcut-control", help="score trained models on dinucleotide-shuffled test sequences")
    p.add_argument("weights", nargs="*", help="model .safetensors files (.../<pretrained>/<strategy>/n<size>/"
                                               "seed<seed>/model.safetensors)")
    p.add_argument("--codes", required=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--output", required=True, help="output: per model, test and shuffled-test AUROC (TSV)")
    p.add_argument("--seed", type=int, required=True, help="seed of the shuffle")
    p.add_argument("--rc-average", action="store_true", help="average predictions over both strands (as evaluate)")
    _add_compute(p)

    p = steps.add_parser("aggregate", help="collect run metrics into metrics.tsv/json and transfer_gain.tsv")
    p.add_argument("metrics_files", nargs="+")
    p.add_argument("--metrics-tsv", required=True)
    p.add_argument("--metrics-json", required=True)
    p.add_argument("--gain-tsv", required=True)
    p.add_argument("--metric", default="auroc")
    p.add_argument("--bootstrap-resamples", type=NON_NEGATIVE, default=1000,
                   help="resamples of the test examples for bootstrap intervals (0: none)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resamples")
    p.add_argument("--negative-controls", type=_list_arg, default=[], metavar="NAMES",
                   help="pretrained models whose corpus shares nothing with the target, comma-separated: the verdict "
                        "checks that they do not help")
    p.add_argument("--provenance", default=None,
                   help="output: the study's provenance JSON (config hash, versions, every run's input checksums)")
    p.add_argument("--config", default=None, help="the run's config snapshot, hashed into --provenance")
    p.add_argument("--tuning", action="append", default=[], metavar="CHOSEN_JSON",
                   help="a study's chosen parameters (of tune-export; repeat per study): the verdict states the budget")
    p.add_argument("--permutation", action="append", default=[], metavar="JSON",
                   help="a train size's label-permutation null (of permutation-control; repeat per size)")
    p.add_argument("--shortcut", default=None, metavar="TSV", help="the shortcut control's table (shortcut-control)")
    p.add_argument("--leakage", default=None,
                   help="leakage report of the target's split: every run is also scored without its leaked test "
                   "records (eval_subset deduplicated), and the verdict opens with them")

    p = steps.add_parser("report", help="write the HTML report")
    p.add_argument("--metrics-tsv", required=True)
    p.add_argument("--metrics-json", required=True)
    p.add_argument("--gain-tsv", required=True)
    p.add_argument("--split-summary", required=True)
    p.add_argument("--html", required=True)
    p.add_argument("--figure", required=True, help="learning-curve SVG")
    p.add_argument("--config", default=None, help="config file to embed in the report")
    p.add_argument("--leakage", default=None, help="leakage report (JSON) of the target's split")
    p.add_argument("--interpretation", default=None,
                   help="interpretation summary (JSON of `seqtune interpretation-summary`), if interpreted")
    p.add_argument("--tuning", action="append", default=[], metavar="CHOSEN_JSON",
                   help="a study's chosen parameters (repeat per study; trials.tsv beside each): the search section")
    p.add_argument("--benchmarks", default=None,
                   help="Snakemake's benchmarks folder: wall time and peak memory per stage in the report")

    p = steps.add_parser("interpret", help="attribute a fine-tuned model's test predictions (ISM, gradient x input) "
                                           "and score them against the planted motif sites")
    p.add_argument("--weights", required=True, help="a fine-tuned .safetensors with its .json sidecar")
    p.add_argument("--codes", required=True, help="codes.npy of the target data set (simulated: sites.tsv beside it)")
    p.add_argument("--manifest", required=True, help="its split manifest (test sequences are interpreted)")
    p.add_argument("--sites", required=True, help="the planted sites (sites.tsv of the simulated data set)")
    p.add_argument("--scores", required=True, help="output: per-sequence motif recovery (TSV)")
    p.add_argument("--summary", required=True, help="output: summary, filter-motif matches (JSON)")
    p.add_argument("--plot", required=True, help="output: attribution tracks with the planted sites (PNG)")
    p.add_argument("--n-sequences", type=POSITIVE, default=50, help="test sequences to interpret")
    p.add_argument("--method", choices=["ism", "gradient_x_input"], default="ism",
                   help="attributions drawn in the plot (both are always scored)")
    p.add_argument("--position-score", choices=["max_abs", "reference", "abs_reference"], default="max_abs",
                   help="how the 4 attributions of a position become one score")
    p.add_argument("--window", type=POSITIVE, default=1, help="average position scores over this many positions")
    p.add_argument("--n-plot", type=NON_NEGATIVE, default=3, help="sequences drawn in the plot")
    p.add_argument("--run", type=_json_arg, default={}, help=f"identity of the run {RUN_EXAMPLE}, copied into "
                   "the summary")
    p.add_argument("--seed", type=int, required=True, help="which test sequences are picked")
    _add_compute(p)

    p = steps.add_parser("interpretation-summary", help="collect interpretation summaries: motif recovery per model "
                                                         "over seeds, against scratch")
    p.add_argument("summaries", nargs="+", help="interpretation JSON files of `seqtune interpret`")
    p.add_argument("--tsv", required=True, help="output: one row per model x method x site set x measure")
    p.add_argument("--json", required=True, help="output: runs, summary, filter matches, plots, sentences")

    p = steps.add_parser("model-card", help="write a fine-tuned model's card (JSON and Markdown)")
    p.add_argument("--weights", required=True, help="the model's .safetensors")
    p.add_argument("--sidecar", required=True, help="its .json sidecar")
    p.add_argument("--run-metrics", required=True, help="the run's test metrics.json")
    p.add_argument("--metrics-json", required=True, help="metrics.json over all runs (of `seqtune aggregate`)")
    p.add_argument("--dataset", required=True, help="dataset.json of the target data set")
    p.add_argument("--split-summary", required=True, help="summary.json of its split")
    p.add_argument("--pretrained-sidecar", default=None, help="the pretrained model's .json (not for scratch)")
    p.add_argument("--pretrained-dataset", default=None, help="dataset.json of its pretraining corpus")
    p.add_argument("--interpretation", default=None, help="the run's interpretation summary, if interpreted")
    p.add_argument("--out-json", required=True)
    p.add_argument("--out-md", required=True)

    p = steps.add_parser("unrelated-motifs", help="choose JASPAR motifs for a negative-control corpus: the ones "
                                                   "least like the target's motifs (a helper, not a pipeline step)")
    p.add_argument("--to", type=_list_arg, required=True, metavar="IDS",
                   help="the target task's motifs (required and distractors), comma-separated JASPAR IDs")
    p.add_argument("--n", type=POSITIVE, default=8, help="how many motifs to choose (default 8)")
    p.add_argument("--max-similarity", type=float, default=0.4,
                   help="highest similarity allowed to any target motif (default 0.4)")
    p.add_argument("--output", default="-", help="TSV to write (default: standard output)")

    p = steps.add_parser("predict", help="predict new sequences (FASTA, TSV/CSV or BED + genome) with a model")
    p.add_argument("--weights", required=True, help="a fine-tuned .safetensors with its .json sidecar")
    p.add_argument("--input-spec", "--input", dest="input_spec", type=_input_arg, required=True,
                   help='the input: a FASTA or TSV/CSV file (by its extension, gzipped or not), or as JSON: '
                        '{"source": "fasta|tsv|bed", "path": ..., ...} (labels not needed; BED needs "genome")')
    p.add_argument("--output", required=True,
                   help="output TSV: id, predicted_label, prob_<class>... (.gz: gzipped; -: standard output)")
    p.add_argument("--rc-average", action="store_true", help="average predictions over both strands")
    p.add_argument("--decision-from", metavar="METRICS_JSON",
                   help="the metrics.json of this model's evaluation: predicted_label uses the decision threshold "
                   "chosen there on the validation split (default: the most probable class)")
    p.add_argument("--batch-size", type=int, default=512)
    _add_compute(p)

    p = steps.add_parser("variant-effect", help="score the SNVs and short indels of a VCF with a fine-tuned model "
                                                "(windows of the genome centred on each variant)")
    p.add_argument("--weights", required=True, help="a fine-tuned .safetensors with its .json sidecar")
    p.add_argument("--vcf", required=True, help="the variants: VCF, plain or bgzipped, sorted (bcftools sort)")
    p.add_argument("--genome", required=True, help="the FASTA the calls refer to (plain, or bgzipped with "
                   "samtools faidx's .fai and .gzi)")
    p.add_argument("--output", required=True, help="output TSV: one row per allele (.gz: gzipped)")
    p.add_argument("--summary", default=None, help="output JSON: records, alleles scored, skipped and flagged")
    p.add_argument("--ref-mismatch", choices=["error", "flag"], default="error",
                   help="a REF that differs from the genome: stop naming the record (error), or score it and flag "
                        "it (default: error)")
    p.add_argument("--ism", action="store_true", help="add in-silico mutagenesis scores at each variant's position")
    p.add_argument("--rc-average", action="store_true", help="average predictions over both strands")
    p.add_argument("--max-indel-length", type=NON_NEGATIVE, default=50,
                   help="skip indels that change the length by more (default 50)")
    p.add_argument("--batch-size", type=POSITIVE, default=512)
    _add_compute(p)
    for step in steps.choices.values():  # --quiet also after the step's name (seqtune ingest ... --quiet)
        step.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS, help="log warnings only")
    return parser


# The options of each step that name files it reads and files it writes, checked before the step starts so that no
# step overwrites one of its own inputs (seqtune.io.check_inputs_and_outputs). A new step adds its line here.
STEP_FILES = {
    "simulate": ((), ("out_dir",)),
    "ingest": (("spec",), ("out_dir",)),
    "split": (("codes",), ("manifest", "summary")),
    "leakage": (("codes", "manifest", "corpus_codes", "corpus_manifest"), ("output",)),
    "pretrain": (("codes", "manifest"), ("weights", "history")),
    "finetune": (("codes", "manifest", "pretrained", "embeddings"), ("weights", "history", "train_ids")),
    "import-model": (("path",), ("output",)),
    "embed": (("base", "codes"), ("output",)),
    "evaluate": (("codes", "manifest", "weights"), ("predictions", "metrics")),
    "baseline": (("codes", "manifest"), ("predictions", "metrics")),
    "aggregate": (("metrics_files", "config"), ("metrics_tsv", "metrics_json", "gain_tsv", "provenance")),
    "report": (("metrics_tsv", "metrics_json", "gain_tsv", "split_summary", "config", "leakage", "interpretation"),
               ("html", "figure")),
    "interpret": (("weights", "codes", "manifest", "sites"), ("scores", "summary", "plot")),
    "interpretation-summary": (("summaries",), ("tsv", "json")),
    "model-card": (("weights", "sidecar", "run_metrics", "metrics_json", "dataset", "split_summary",
                    "pretrained_sidecar", "pretrained_dataset", "interpretation"), ("out_json", "out_md")),
    "unrelated-motifs": ((), ("output",)),
    "predict": (("weights", "input_spec", "decision_from"), ("output",)),
    "variant-effect": (("weights", "vcf", "genome"), ("output", "summary")),
}


def _files_of(dest: str, value, written: bool) -> list[str]:
    """The files an option's value stands for: a data set folder's files for --codes and --out-dir, the sidecar (and
    a training step's checkpoint) beside weights, the files named in an input spec."""
    from .data import DATASET_FILES

    if value is None:
        return []
    if isinstance(value, list):
        return [path for item in value for path in _files_of(dest, item, written)]
    if isinstance(value, dict):  # an input spec
        named = [value.get(key) for key in ("path", "labels", "genome")]
        paths = value.get("paths")
        named += list(paths.values()) if isinstance(paths, dict) else []
        return [path for path in named if isinstance(path, str) and path]
    value = str(value)
    if dest in ("codes", "corpus_codes"):
        return [os.path.join(os.path.dirname(value), name) for name in DATASET_FILES]
    if dest == "out_dir":
        return [os.path.join(value, name) for name in DATASET_FILES]
    if dest in ("weights", "pretrained"):
        from .pipeline import checkpoint_path

        stem = os.path.splitext(value)[0]
        return [value, stem + ".json"] + ([str(checkpoint_path(value))] if written else [])
    return [value]


def check_step_files(args: argparse.Namespace) -> None:
    """Refuse, before anything runs, a step whose outputs would overwrite its inputs or each other."""
    from .io import check_inputs_and_outputs

    reads, writes = STEP_FILES.get(args.step, ((), ()))

    def option(dest: str) -> str:
        return {"input_spec": "--input", "spec": "--spec", "metrics_files": "metrics file",
                "summaries": "summary file"}.get(dest, "--" + dest.replace("_", "-"))

    inputs = {option(dest): _files_of(dest, getattr(args, dest, None), False) for dest in reads}
    outputs = {option(dest): _files_of(dest, getattr(args, dest, None), True) for dest in writes}
    check_inputs_and_outputs(inputs, outputs)


def run(args: argparse.Namespace) -> None:
    from . import pipeline

    step = args.step
    if step in ("pretrain", "finetune") and args.checkpoint_every is not None:
        args.training = {**args.training, "checkpoint_every": args.checkpoint_every}
    if step == "simulate":
        pipeline.simulate(args.out_dir, args.task, args.n_sequences, args.length, args.motifs, args.seed,
                          args.presence_rate, args.required, args.distractors, args.distractor_rate,
                          args.positive_fraction, args.label_noise, args.gc_content, args.cpg_ratio)
    elif step == "ingest":
        pipeline.ingest(args.out_dir, args.spec, args.length, args.seed)
    elif step == "split":
        pipeline.split(args.codes, args.manifest, args.summary, args.validation_fraction, args.test_fraction,
                       args.seed, args.method, args.validation_chroms, args.test_chroms, args.similarity_k,
                       args.similarity_threshold, args.largest_train_size)
    elif step == "leakage":
        pipeline.leakage(args.codes, args.manifest, args.output, args.corpus_codes, args.corpus_manifest,
                         args.policy, args.near_k, args.near_threshold, args.seed)
    elif step == "predict":
        pipeline.predict(args.weights, args.input_spec, args.output, args.batch_size, args.rc_average,
                         args.threads, args.gpus, args.decision_from)
    elif step == "pretrain":
        from . import distributed

        if args.nproc < 1:
            raise SeqtuneError(f"--nproc {args.nproc} must be at least 1")
        if args.nproc > 1 and distributed.detect()[1] == 1:  # not yet launched as several processes: launch
            status = distributed.relaunch(args.nproc, args.argv)
            if status:
                raise SeqtuneError(f"the {args.nproc} training processes failed (torchrun exit status {status}); "
                                   "their errors are above")
            return
        context = distributed.init(args.gpus)
        pipeline.pretrain(args.codes, args.manifest, args.weights, args.history, args.model, args.training,
                          args.seed, args.objective, args.mask_fraction, args.threads, args.gpus, context=context)
        distributed.finish(context)
    elif step == "finetune":
        pipeline.finetune(args.codes, args.manifest, args.weights, args.history, args.train_ids, args.strategy,
                          args.train_size, args.seed, args.training, args.model, args.pretrained,
                          args.shuffle_labels, args.threads, args.gpus, args.embeddings, args.lora,
                          args.gradient_checkpointing, tuned=_read_tuned(args.tuned))
    elif step == "import-model":
        from .hf.steps import import_model

        import_model(args.path, args.output, args.key, args.length, args.pooling, args.trust_remote_code)
    elif step == "embed":
        from .hf.steps import embed

        embed(args.base, args.codes, args.output, args.batch_size, args.threads, args.gpus)
    elif step == "evaluate":
        pipeline.evaluate(args.codes, args.manifest, args.weights, args.predictions, args.metrics, args.run,
                          args.rc_average, args.threads, args.gpus, decision_threshold=args.decision_threshold,
                          exclude_leaked=args.exclude_leaked)
    elif step == "baseline":
        pipeline.baseline(args.codes, args.manifest, args.predictions, args.metrics, args.kind, args.train_size,
                          args.seed, args.run, args.k, args.decision_threshold, args.exclude_leaked,
                          tuned=_read_tuned(args.tuned))
    elif step == "tune-trial":
        from .train import configure_torch
        from .tuning import tune_trial

        configure_torch(args.threads, args.seed)
        tune_trial(args.codes, args.manifest, args.output, args.journal, args.slot, args.strategy, args.train_size,
                   args.seed, args.space, args.study_seed, args.pretrained_name, args.training, args.model,
                   args.pretrained, args.k, args.startup_trials, args.pruning, args.threads, args.gpus,
                   args.embeddings, args.lora, args.gradient_checkpointing)
    elif step == "permutation-control":
        from .controls import permutation_null

        permutation_null(args.codes, args.manifest, args.output, args.train_size, args.seeds, args.n_permutations,
                         args.kind, args.k, args.seed, tuned=_read_tuned(args.tuned))
    elif step == "shortcut-control":
        from .controls import shortcut_scores

        shortcut_scores(args.codes, args.manifest, args.weights, args.output, args.seed, args.threads,
                        args.rc_average, args.gpus)
    elif step == "tune-export":
        from .tuning import export_study

        export_study(args.trial_files, args.journal, args.trials, args.chosen, args.budget)
    elif step == "aggregate":
        from . import report

        records = report.aggregate(args.metrics_files, args.metrics_tsv, args.metrics_json, args.gain_tsv,
                                   args.metric, args.bootstrap_resamples, args.seed, args.negative_controls,
                                   tuning=args.tuning, permutation=args.permutation, shortcut=args.shortcut,
                                   leakage=args.leakage)
        if args.provenance:
            from .io import write_json
            from .provenance import results_provenance

            write_json(args.provenance, results_provenance(args.config, args.metrics_files, records))
    elif step == "report":
        from . import report

        config_text = open(args.config).read() if args.config else ""
        report.report(args.metrics_tsv, args.metrics_json, args.gain_tsv, args.split_summary, args.html,
                      args.figure, config_text, leakage=args.leakage, interpretation=args.interpretation,
                      benchmarks=args.benchmarks, tuning=args.tuning)
    elif step == "interpret":
        from .interpret import interpret

        interpret(args.weights, args.codes, args.manifest, args.sites, args.n_sequences, args.scores, args.summary,
                  args.plot, args.method, args.seed, args.position_score, args.window, n_plot=args.n_plot,
                  threads=args.threads, gpus=args.gpus, run=args.run)
    elif step == "interpretation-summary":
        from .interpret import summarise_interpretation

        summarise_interpretation(args.summaries, args.tsv, args.json)
    elif step == "unrelated-motifs":
        from .motifs import unrelated_motifs

        import pandas as pd

        chosen = unrelated_motifs(args.to, args.n, max_similarity=args.max_similarity)
        table = pd.DataFrame([{"jaspar_id": motif.jaspar_id, "name": motif.name, "width": motif.width,
                               "max_similarity_to_target": round(similarity, 3)} for motif, similarity in chosen])
        if args.output == "-":
            table.to_csv(sys.stdout, sep="\t", index=False)
        else:
            from .io import write_tsv

            write_tsv(args.output, table)
    elif step == "variant-effect":
        pipeline.variant_effect(args.weights, args.vcf, args.genome, args.output, args.summary, args.ref_mismatch,
                                args.ism, args.rc_average, args.max_indel_length, args.batch_size, args.threads,
                                args.gpus)
    elif step == "model-card":
        from .modelcard import model_card

        model_card(args.weights, args.sidecar, args.run_metrics, args.metrics_json, args.dataset, args.split_summary,
                   args.out_json, args.out_md, args.pretrained_sidecar, args.pretrained_dataset, args.interpretation)


def _read_tuned(path: str | None) -> dict | None:
    from .tuning import read_chosen

    return read_chosen(path)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # OpenMP threads that sleep when idle instead of spinning: set before torch (libgomp) loads. Spinning threads
    # collapse when another job shares the cores (bench/README.md, thread sweep).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args = build_parser().parse_args(argv)
    args.argv = argv
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr)
    # before any step imports torch: its CPU dispatcher and oneDNN read the caps once, at load
    from . import reproducibility

    reproducibility.apply(getattr(args, "reproducibility", "machine"))
    try:
        check_step_files(args)
        run(args)
    except SeqtuneError as error:
        print(f"seqtune {args.step}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # permissions, a full disk, a folder given as a file: one line naming the path
        from .io import describe_os_error

        print(f"seqtune {args.step}: error: {describe_os_error(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"seqtune {args.step}: interrupted; the outputs it was writing were removed (each is written to a "
              "temporary file or folder and renamed into place only when complete)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
