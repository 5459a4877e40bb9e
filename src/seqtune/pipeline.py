"""One function per pipeline step: read inputs, call the pure library functions, write outputs atomically.

The command line (``seqtune <step>``) and the Snakemake rules call exactly these.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .data import read_dataset, read_manifest, write_dataset
from .errors import SeqtuneError
from .io import read_json, write_json, write_tsv

log = logging.getLogger("seqtune")


# --------------------------------------------------------------------------------------------------------- simulate
def simulate(out_dir: str | os.PathLike, task: str, n_sequences: int, length: int, motifs: list[str],
             seed: int, presence_rate: float = 0.3, required: list[str] | None = None,
             distractors: list[str] | None = None, distractor_rate: float = 0.3, positive_fraction: float = 0.5,
             label_noise: float = 0.0, gc_content: float = 0.41, cpg_ratio: float = 0.25) -> None:
    """Simulate a data set folder (see ``seqtune.data``) with its planted-site ground truth."""
    from . import simulate as sim

    if n_sequences < 1 or length < 1:
        raise SeqtuneError(f"n_sequences ({n_sequences}) and length ({length}) must be positive")
    started = time.perf_counter()
    if task == "motif_presence":
        result = sim.simulate_presence(n_sequences, length, motifs, presence_rate, gc_content, cpg_ratio, seed)
    elif task == "motif_grammar":
        result = sim.simulate_grammar(n_sequences, length, required or [], distractors or [], distractor_rate,
                                      positive_fraction, label_noise, gc_content, cpg_ratio, seed)
    else:
        raise SeqtuneError(f"unknown simulation task '{task}'; use motif_presence or motif_grammar")
    info = {**result.task, "source": "simulate", "simulation": {
        "task": task, "seed": seed, "gc_content": gc_content, "cpg_ratio": cpg_ratio, "background": "markov order 1"}}
    write_dataset(out_dir, result.ids, result.codes, result.labels, info, result.sites)
    log.info("simulated %d sequences of %d nt (%s) with %d planted sites in %.1f s", n_sequences, length, task,
             len(result.sites), time.perf_counter() - started)


# ------------------------------------------------------------------------------------------------------------ split
def split(codes: str, manifest: str, summary: str, validation_fraction: float, test_fraction: float,
          seed: int) -> None:
    """Stratified train/validation/test split; writes the manifest (id, split, stratum) and a JSON summary."""
    from .split import split_summary, stratification_key, stratified_split

    data = read_dataset(codes)
    key = stratification_key(data.labels)
    source = str(Path(codes).parent / "labels.tsv")
    assignment = stratified_split(key, validation_fraction, test_fraction, seed, source=source)
    write_tsv(manifest, pd.DataFrame({"id": data.ids, "split": assignment, "stratum": key.to_numpy()}))
    result = split_summary(key, assignment)
    result.update({"seed": seed, "validation_fraction": validation_fraction, "test_fraction": test_fraction,
                   "stratified_by": "label" if "label" in data.labels.columns else "number of labels (multi-label)"})
    write_json(summary, result)
    log.info("split %s: %s", source, result["totals"])


# --------------------------------------------------------------------------------------------------------- training
def _split_data(data, assignment: np.ndarray):
    targets = data.targets()
    parts = {}
    for name in ("train", "validation", "test"):
        positions = np.flatnonzero(assignment == name)
        parts[name] = positions
    if parts["validation"].size == 0:
        raise SeqtuneError("the split has no validation examples; early stopping needs some (split.validation_fraction)")
    return targets, parts


def pretrain(codes: str, manifest: str, weights: str, history: str, model_spec: dict, training: dict, seed: int,
             objective: str = "supervised", mask_fraction: float = 0.15, threads: int = 1, gpus: int = 0) -> None:
    """Pretrain a model on a corpus's training split; save weights, sidecar and per-epoch history.

    ``objective``: ``supervised`` (all of the corpus's labels, multi-label or not) or ``masked`` (masked-nucleotide
    modelling: labels are ignored, so any unlabelled sequences will do, the target's own training split included).
    """
    from .models import ModelSpec, SequenceModel
    from .train import Dataset, MaskedNucleotide, Supervised, TrainSettings, configure_torch, fit, select_device
    from .weights import save_model

    configure_torch(threads, seed)
    device = select_device(gpus)
    data = read_dataset(codes)
    settings = TrainSettings.from_dict(training)
    spec = ModelSpec.from_dict({**model_spec, "length": data.codes.shape[1]})
    assignment = read_manifest(manifest, data)
    targets, parts = _split_data(data, assignment)
    if objective == "supervised":
        model = SequenceModel(spec, len(data.classes))
        task = Supervised(data.multilabel)
        outputs = data.classes
    elif objective == "masked":
        model = SequenceModel(spec, 4, head="masked")
        task = MaskedNucleotide(mask_fraction)
        outputs = list("ACGT")
    else:
        raise SeqtuneError(f"unknown pretraining objective '{objective}'; use supervised or masked")
    train = Dataset.from_numpy(data.codes[parts["train"]], targets[parts["train"]], data.multilabel, device)
    validation = Dataset.from_numpy(data.codes[parts["validation"]], targets[parts["validation"]], data.multilabel,
                                    device)
    log.info("pretraining %s (%s objective) on %d sequences (%d validation), %d outputs", spec.architecture,
             objective, len(train), len(validation), len(outputs))
    rows, best = fit(model, train, validation, settings, "scratch", seed, objective=task)
    if objective == "masked":
        best["background_accuracy"] = MaskedNucleotide.background_accuracy(data.codes[parts["validation"]])
        log.info("masked-base accuracy %.4f against %.4f for always guessing the most frequent base",
                 best["val_masked_accuracy"], best["background_accuracy"])
    write_tsv(history, pd.DataFrame(rows))
    save_model(model, weights, {
        "role": "pretrained", "objective": objective, "mask_fraction": mask_fraction if objective == "masked" else None,
        "task": "masked_nucleotide" if objective == "masked" else data.info["type"], "classes": outputs,
        "alphabet": "ACGT", "length": int(data.codes.shape[1]), "training": settings.to_dict(), "seed": seed,
        "validation": best, "data": str(Path(codes).parent), "n_train": len(train)})


def finetune(codes: str, manifest: str, weights: str, history: str, train_ids: str, strategy: str,
             train_size: int, seed: int, training: dict, model_spec: dict | None = None,
             pretrained: str | None = None, shuffle_labels: bool = False, threads: int = 1, gpus: int = 0) -> None:
    """Fine-tune a pretrained model on the target task (new head), or train the same architecture from scratch.

    ``strategy`` ``scratch`` needs ``model_spec`` and no ``pretrained``; every other strategy loads ``pretrained``
    and replaces its head. ``shuffle_labels`` permutes the training labels (a control that must stay at chance).
    """
    from .models import ModelSpec, SequenceModel, replace_head
    from .split import training_subset
    from .seeds import derive_seed
    from .train import Dataset, TrainSettings, configure_torch, fit, select_device
    from .weights import load_model, save_model

    configure_torch(threads, seed)
    device = select_device(gpus)
    data = read_dataset(codes)
    if data.multilabel:
        raise SeqtuneError(f"{codes}: fine-tuning targets must be single-label (binary or multi-class)")
    settings = TrainSettings.from_dict(training)
    assignment = read_manifest(manifest, data)
    targets, parts = _split_data(data, assignment)
    _check_classes(data, targets, parts, manifest)
    subset = training_subset(parts["train"], targets[parts["train"]], train_size, derive_seed(seed, "subset"),
                             source=f"training split of {manifest}")
    train_targets = targets[subset]
    validation_targets = targets[parts["validation"]]
    if shuffle_labels:
        # The control sees no true label at all: training and validation (early stopping) labels are permuted.
        shuffler = np.random.default_rng(derive_seed(seed, "shuffle"))
        train_targets = shuffler.permutation(train_targets)
        validation_targets = shuffler.permutation(validation_targets)
    n_classes = len(data.classes)
    head_change = None
    if strategy == "scratch":
        if pretrained:
            raise SeqtuneError("strategy 'scratch' trains from random weights; do not pass a pretrained model")
        spec = ModelSpec.from_dict({**(model_spec or {}), "length": data.codes.shape[1]})
        model = SequenceModel(spec, n_classes)
    else:
        if not pretrained:
            raise SeqtuneError(f"strategy '{strategy}' fine-tunes a pretrained model; pass --pretrained WEIGHTS")
        model, source = load_model(pretrained)
        if source["length"] != data.codes.shape[1] and model.spec.final_pool == "flatten":
            raise SeqtuneError(f"{pretrained}: trained on length {source['length']} with final_pool flatten, "
                               f"the target has length {data.codes.shape[1]}; use max/avg pooling or equal lengths")
        head_change = replace_head(model, n_classes)
        log.info("replaced head of %s: %d -> %d outputs (backbone kept, %d input features)", pretrained,
                 head_change["old_outputs"], head_change["new_outputs"], head_change["in_features"])
    train = Dataset.from_numpy(data.codes[subset], train_targets, False, device)
    validation = Dataset.from_numpy(data.codes[parts["validation"]], validation_targets, False, device)
    log.info("strategy %s, %d training examples%s", strategy, len(train), " (labels shuffled)" if shuffle_labels else "")
    rows, best = fit(model, train, validation, settings, strategy, seed)
    write_tsv(history, pd.DataFrame(rows))
    write_tsv(train_ids, pd.DataFrame({"id": data.ids[subset], "label": np.asarray(data.classes)[targets[subset]]}))
    save_model(model, weights, {
        "role": "finetuned", "strategy": strategy, "pretrained": pretrained, "head_replaced": head_change,
        "shuffle_labels": shuffle_labels, "task": data.info["type"], "classes": data.classes, "alphabet": "ACGT",
        "length": int(data.codes.shape[1]), "train_size": train_size, "training": settings.to_dict(),
        "seed": seed, "validation": best})


def _check_classes(data, targets, parts, manifest) -> None:
    present = set(np.unique(targets[parts["train"]]).tolist())
    for name in ("validation", "test"):
        absent = sorted(set(np.unique(targets[parts[name]]).tolist()) - present)
        if absent:
            names = [data.classes[i] for i in absent]
            raise SeqtuneError(f"{manifest}: class(es) {names} occur in the {name} split but not in training; "
                               "a model cannot predict a class it never saw. Use a stratified split or more data")


# ------------------------------------------------------------------------------------------------------- evaluation
def evaluate(codes: str, manifest: str, weights: str, predictions: str, metrics: str, run: dict,
             rc_average: bool = False, threads: int = 1, gpus: int = 0, batch_size: int = 512) -> None:
    """Score a fine-tuned model on the test split: predictions TSV and metrics JSON."""
    import torch

    from .train import configure_torch, predict_proba, select_device
    from .weights import load_model

    configure_torch(threads, int(run.get("seed", 0)))
    device = select_device(gpus)
    data = read_dataset(codes)
    model, sidecar = load_model(weights)
    if list(sidecar["classes"]) != data.classes:
        raise SeqtuneError(f"{weights}: model classes {sidecar['classes']} differ from the data's {data.classes}")
    assignment = read_manifest(manifest, data)
    test = np.flatnonzero(assignment == "test")
    model.to(device)
    test_codes = torch.from_numpy(np.ascontiguousarray(data.codes[test])).to(device)
    probabilities = predict_proba(model, test_codes, False, batch_size, rc_average=rc_average)
    write_predictions_and_metrics(data, test, probabilities, predictions, metrics,
                                  {**run, "best_epoch": sidecar["validation"]["best_epoch"]})


def write_predictions_and_metrics(data, test: np.ndarray, probabilities: np.ndarray, predictions: str, metrics: str,
                                  run: dict) -> dict:
    """The one place test predictions become ``predictions.tsv`` and ``metrics.json`` (models and baselines alike)."""
    from .metrics import classification_metrics

    targets = data.targets()[test]
    classes = data.classes
    frame = pd.DataFrame({"id": data.ids[test], "true_label": np.asarray(classes)[targets],
                          "predicted_label": np.asarray(classes)[probabilities.argmax(axis=1)]})
    for index, label in enumerate(classes):
        frame[f"prob_{label}"] = probabilities[:, index]
    write_tsv(predictions, frame)
    scores = classification_metrics(targets, probabilities, len(classes))
    result = {**run, "n_test": int(test.size), "classes": classes, **scores}
    write_json(metrics, result)
    log.info("test: %s", {k: round(v, 4) for k, v in scores.items() if isinstance(v, float)})
    return result


def baseline(codes: str, manifest: str, predictions: str, metrics: str, kind: str, train_size: int, seed: int,
             run: dict, k: int = 3) -> None:
    """Fit a scikit-learn baseline on the same training subset a deep run would use, and score it on the test split."""
    from .baselines import BASELINES, features, fit_logistic
    from .split import training_subset
    from .seeds import derive_seed

    if kind not in BASELINES:
        raise SeqtuneError(f"unknown baseline '{kind}'; choose one of {', '.join(BASELINES)}")
    data = read_dataset(codes)
    assignment = read_manifest(manifest, data)
    targets, parts = _split_data(data, assignment)
    _check_classes(data, targets, parts, manifest)
    subset = training_subset(parts["train"], targets[parts["train"]], train_size, derive_seed(seed, "subset"),
                             source=f"training split of {manifest}")
    x = {name: features(kind, data.codes[positions], k) for name, positions in
         (("train", subset), ("validation", parts["validation"]), ("test", parts["test"]))}
    model, c, scores = fit_logistic(x["train"], targets[subset], x["validation"], targets[parts["validation"]],
                                    seed)
    log.info("%s: C=%g chosen on validation log loss %s", kind, c, scores)
    probabilities = np.zeros((parts["test"].size, len(data.classes)))
    probabilities[:, model.classes_] = model.predict_proba(x["test"])
    write_predictions_and_metrics(data, parts["test"], probabilities, predictions, metrics,
                                  {**run, "regularisation_C": c, "kmer_k": k if kind == "kmer_logreg" else None})
