"""One function per pipeline step: read inputs, call the pure library functions, write outputs atomically.

The command line (``seqtune <step>``) and the Snakemake rules call exactly these.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .data import read_dataset, read_manifest, write_dataset
from .errors import SeqtuneError
from .io import PROBABILITY_FORMAT, read_json, write_json, write_tsv
from .provenance import provenance
from .split import SPLITS

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


def checkpoint_path(weights: str | os.PathLike) -> Path:
    """Where a training step keeps its resumable checkpoint: beside its weights, removed when training ends."""
    weights = Path(weights)
    return weights.with_name(weights.stem + ".checkpoint.safetensors")


# ----------------------------------------------------------------------------------------------------------- ingest
def ingest(out_dir: str | os.PathLike, spec: dict, length: int, seed: int) -> None:
    """Import user data (FASTA, TSV/CSV, or BED intervals on a genome) into a data set folder (see ``seqtune.data``).

    ``spec`` holds the keys of :class:`seqtune.inputs.InputSpec` (a ``datasets.<name>`` entry of the config);
    ``length`` is the config's ``sequence_length`` (the spec's ``length_policy`` decides crop and pad). Every record
    is checked before the first file is written, so a failed import leaves no data set folder.
    """
    from .inputs import import_dataset

    started = time.perf_counter()
    import_dataset(out_dir, spec, length, seed)
    log.info("ingest of %s took %.1f s", out_dir, time.perf_counter() - started)


# ------------------------------------------------------------------------------------------------------------ split
SPLIT_METHODS = ("stratified", "chromosome", "similarity", "column")


def split(codes: str, manifest: str, summary: str, validation_fraction: float, test_fraction: float,
          seed: int, method: str = "stratified", validation_chroms: list[str] | None = None,
          test_chroms: list[str] | None = None, similarity_k: int = 8, similarity_threshold: float = 0.5,
          largest_train_size: int | None = None) -> None:
    """Train/validation/test split of a data set folder; writes the manifest (id, split, stratum[, group]) and a
    JSON summary (counts per class per split).

    ``method``:

    * ``stratified``: seeded, stratified by label (multi-label corpora: by the number of labels set), at the given
      fractions;
    * ``chromosome``: ``validation_chroms`` and ``test_chroms`` held out, every other chromosome trains (needs the
      ``chrom`` column of a BED import);
    * ``similarity``: groups of identical, reverse-complement or near-identical sequences (MinHash Jaccard of
      canonical ``similarity_k``-mers >= ``similarity_threshold``) kept whole in one split, at about the fractions;
    * ``column``: the data set's own ``split`` column (train, validation, test).

    ``largest_train_size``: the largest training subset that will be drawn (``finetune.train_sizes``); an error
    now rather than after pretraining when the split leaves fewer training examples.
    """
    from .split import chromosome_split, grouped_split, similarity_groups, split_summary, stratification_key
    from .split import stratified_split

    data = read_dataset(codes)
    # Without labels (a masked-pretraining corpus) every sequence is in one stratum: a seeded random split.
    key = stratification_key(data.labels) if data.labelled else pd.Series("all", index=data.labels.index)
    source = str(Path(codes).parent / "labels.tsv")
    extra: dict = {}
    columns = {}
    if method == "stratified":
        assignment = stratified_split(key, validation_fraction, test_fraction, seed, source=source,
                                      every_split="label" in data.labels.columns)
        extra = {"validation_fraction": validation_fraction, "test_fraction": test_fraction,
                 "stratified_by": "label" if "label" in data.labels.columns else
                 "number of labels (multi-label)" if data.labelled else "nothing (no labels)"}
    elif method == "chromosome":
        if "chrom" not in data.labels.columns:
            raise SeqtuneError(f"{source}: split.method chromosome needs a 'chrom' column, which only data sets "
                               f"imported from BED intervals have (this one: source {_source_of(data)}); use "
                               "source: bed, or another split.method (stratified, similarity, column)")
        if not validation_chroms or not test_chroms:
            raise SeqtuneError("split.method chromosome needs split.validation_chroms and split.test_chroms (lists "
                               "of chromosome names held out); set both")
        assignment = chromosome_split(data.labels["chrom"].astype(str).to_numpy(), validation_chroms, test_chroms,
                                      source=f"{source} (split.validation_chroms / split.test_chroms)")
        extra = {"validation_chroms": list(validation_chroms), "test_chroms": list(test_chroms),
                 "train_chroms": sorted(set(data.labels["chrom"].astype(str)) - set(map(str, validation_chroms))
                                        - set(map(str, test_chroms)))}
    elif method == "similarity":
        groups = similarity_groups(np.asarray(data.codes), k=similarity_k, threshold=similarity_threshold,
                                   seed=seed)
        assignment = grouped_split(groups, key.to_numpy(), validation_fraction, test_fraction, seed,
                                   source=f"{source} (split.method similarity)")
        sizes = np.bincount(groups)
        columns["group"] = groups
        extra = {"validation_fraction": validation_fraction, "test_fraction": test_fraction,
                 "similarity_k": similarity_k, "similarity_threshold": similarity_threshold,
                 "groups": int(sizes.size), "groups_of_two_or_more": int((sizes > 1).sum()),
                 "largest_group": int(sizes.max()) if sizes.size else 0}
    elif method == "column":
        if "split" not in data.labels.columns:
            raise SeqtuneError(f"{source}: split.method column needs the data set's own split (a 'split' column of "
                               "a TSV, 'split=' FASTA header tokens, or split_column in a labels table), and this "
                               "data set has none; add it to the input, or use another split.method")
        assignment = data.labels["split"].astype(str).to_numpy().astype(object)
        for name in ("train", "validation", "test"):
            if not (assignment == name).any():
                raise SeqtuneError(f"{source}: split.method column: no record is in the '{name}' split; every split "
                                   "needs examples (validation drives early stopping), fix the input's split column")
    else:
        raise SeqtuneError(f"split.method '{method}' is not one of {', '.join(SPLIT_METHODS)}")
    if "label" in data.labels.columns:
        _check_split_classes(key, assignment, source, method)
    n_train = int((assignment == "train").sum())
    if largest_train_size is not None and largest_train_size > n_train:
        raise SeqtuneError(f"finetune.train_sizes: {largest_train_size} is more than the {n_train} training examples "
                           f"that split.method {method} leaves in {source}; lower the largest train size"
                           + (", or lower split.validation_fraction / split.test_fraction" if method in
                              ("stratified", "similarity") else ""))
    write_tsv(manifest, pd.DataFrame({"id": data.ids, "split": assignment, "stratum": key.to_numpy(), **columns}))
    result = split_summary(key, assignment)
    result.update({"seed": seed, "method": method, **extra})
    write_json(summary, result)
    log.info("split %s (%s): %s", source, method, result["totals"])


def _source_of(data) -> str:
    info = data.info
    return info.get("import", {}).get("format", info.get("source", "unknown"))


def _check_split_classes(labels: pd.Series, assignment: np.ndarray, source: str, method: str) -> None:
    """Every class must occur in each split: in training (a model cannot predict a class it never saw), in validation
    (early stopping scores every class) and in test (its metrics). A stratified split stops earlier on a class too
    small for that; a grouped, chromosome or user split can break it with any class. Empty splits are left to the
    method's own check."""
    problem = _missing_classes(labels.to_numpy(), assignment)
    if problem:
        advice = {"chromosome": "change the split settings (other split.validation_chroms / split.test_chroms) so that "
                                "every split has every class",
                  "similarity": "change the split settings (a higher split.similarity_threshold makes smaller "
                                "groups) or use split.method stratified",
                  "column": "change the split settings: fix the input's split column so that train, validation and "
                            "test each have every class"}.get(method, "change the split settings")
        raise SeqtuneError(f"{source}: with split.method {method}, {problem}; {advice}, or remove or merge the records "
                           "of those classes")


def _missing_classes(values: np.ndarray, assignment: np.ndarray, names=None) -> str:
    """What is wrong when a class is missing from a non-empty split ('' if nothing): the classes found in validation
    or test but not in training, and those with no example in validation or test, then the counts per split of each
    such class. ``names``: the class names by value (for class indices), else the values are the names."""
    codes, values = pd.factorize(values, sort=True)
    classes = [str(names[value] if names is not None else value) for value in values]
    counts = np.stack([np.bincount(codes[assignment == name], minlength=len(classes)) for name in SPLITS])  # (3, C)
    used = counts.sum(axis=1) > 0
    parts = []
    for i in (1, 2):
        absent = [classes[c] for c in np.flatnonzero((counts[i] > 0) & (counts[0] == 0))]
        if used[0] and absent:
            parts.append(f"class(es) {absent} occur in the {SPLITS[i]} split but not in training")
    for i in (1, 2):
        missing = [classes[c] for c in np.flatnonzero(counts[i] == 0)]
        if used[i] and missing:
            parts.append(f"class(es) {missing} have no example in the {SPLITS[i]} split")
    if not parts:
        return ""
    bad = np.flatnonzero((counts[used] == 0).any(axis=0))
    shown = ", ".join(f"'{classes[c]}' {'/'.join(str(n) for n in counts[:, c])}" for c in bad[:30])
    more = f" and {bad.size - 30} more" if bad.size > 30 else ""
    return "; ".join(parts) + f" (examples in train/validation/test: {shown}{more})"


# ---------------------------------------------------------------------------------------------------------- leakage
def leakage(codes: str, manifest: str, output: str, corpus_codes: list[str] = (),
            corpus_manifests: list[str] = (), policy: str = "warn", near_k: int = 8, near_threshold: float = 0.5,
            seed: int = 0) -> dict:
    """Leakage report of a split data set: sequences (and BED windows) shared across its splits, and test sequences
    found in the pretraining corpora; written as JSON.

    ``corpus_codes``: ``codes.npy`` of each pretraining data set; ``corpus_manifests`` (optional, one per corpus):
    their splits, so that only the training and validation records, the ones pretraining reads, count. Under
    ``policy`` ``fail`` any cross-split or corpus leakage is an error and nothing is written; under ``warn`` each
    finding is logged as a warning.
    """
    from .leakage import check_leakage, leakage_report

    data = read_dataset(codes)
    assignment = read_manifest(manifest, data)
    if "label" in data.labels.columns:
        labels = data.labels["label"].astype(str).to_numpy()
    else:
        labels = data.labels[data.classes].astype(int).astype(str).agg("".join, axis=1).to_numpy()
    intervals = data.labels[["chrom", "start", "end"]] if {"chrom", "start", "end"} <= set(data.labels.columns) \
        else None
    corpus_manifests = list(corpus_manifests)
    if corpus_manifests and len(corpus_manifests) != len(corpus_codes):
        raise SeqtuneError(f"--corpus-manifest given {len(corpus_manifests)} times but --corpus-codes "
                           f"{len(corpus_codes)} times; give one manifest per corpus, or none")
    parts, used = [], []
    for index, path in enumerate(corpus_codes):
        corpus = read_dataset(path)
        rows = np.arange(len(corpus.ids))
        if corpus_manifests:
            rows = np.flatnonzero(np.isin(read_manifest(corpus_manifests[index], corpus), ["train", "validation"]))
        parts.append(np.asarray(corpus.codes)[rows])
        used.append({"codes": str(path), "records": int(rows.size), "length": int(corpus.codes.shape[1]),
                     "splits": ["train", "validation"] if corpus_manifests else ["all"]})
    other = None
    if parts:
        width = max(part.shape[1] for part in parts)
        other = np.concatenate([np.pad(part, ((0, 0), (0, width - part.shape[1])), constant_values=4)
                                for part in parts])  # N (code 4) fills shorter corpora: no k-mer spans it
    report = leakage_report(data.ids, np.asarray(data.codes), labels, assignment.astype(str), intervals=intervals,
                            other_codes=other, near_k=near_k, near_threshold=near_threshold, seed=seed)
    findings = check_leakage(report, policy, source=f"{manifest}")
    report = {"dataset": str(Path(codes).parent), "manifest": str(manifest), "policy": policy,
              "findings": findings, "clean": not findings, "corpora": used, **report}
    write_json(output, report)
    log.info("leakage report %s (policy %s): %s", output, policy, "; ".join(findings) or "no leakage found")
    return report


# --------------------------------------------------------------------------------------------------------- training
def _split_data(data, assignment: np.ndarray):
    targets = data.targets()
    parts = {}
    for name in ("train", "validation", "test"):
        positions = np.flatnonzero(assignment == name)
        parts[name] = positions
    if parts["validation"].size == 0:
        raise SeqtuneError("the split has no validation examples; early stopping needs some "
                           "(split.validation_fraction)")
    return targets, parts


def pretrain(codes: str, manifest: str, weights: str, history: str, model_spec: dict, training: dict, seed: int,
             objective: str = "supervised", mask_fraction: float = 0.15, threads: int = 1, gpus: int = 0,
             context=None) -> None:
    """Pretrain a model on a corpus's training split; save weights, sidecar and per-epoch history.

    ``objective``: ``supervised`` (all of the corpus's labels, multi-label or not) or ``masked`` (masked-nucleotide
    modelling: labels are ignored, so any unlabelled sequences will do, the target's own training split included).
    ``context``: this process's place in a multi-process (DDP) run (``seqtune.distributed.init``); the ``threads``
    are shared among the processes, and process 0 alone writes the outputs.
    """
    from .models import ModelSpec, SequenceModel
    from .train import Dataset, MaskedNucleotide, Supervised, TrainSettings, configure_torch, fit, select_device
    from .distributed import SINGLE
    from .weights import save_model

    context = context or SINGLE
    configure_torch(max(1, threads // context.world_size), seed)
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
    rows, best = fit(model, train, validation, settings, "scratch", seed, objective=task,
                     checkpoint=checkpoint_path(weights), context=context)
    if not context.is_main:  # process 0 writes the outputs
        return
    if objective == "masked":
        best["background_accuracy"] = MaskedNucleotide.background_accuracy(data.codes[parts["validation"]])
        log.info("masked-base accuracy %.4f against %.4f for always guessing the most frequent base",
                 best["val_masked_accuracy"], best["background_accuracy"])
    write_tsv(history, pd.DataFrame(rows))
    save_model(model, weights, {
        "role": "pretrained", "objective": objective, "mask_fraction": mask_fraction if objective == "masked" else None,
        "task": "masked_nucleotide" if objective == "masked" else data.info["type"], "classes": outputs,
        "alphabet": "ACGT", "length": int(data.codes.shape[1]), "training": settings.to_dict(), "seed": seed,
        "validation": best, "data": str(Path(codes).parent), "n_train": len(train),
        "processes": context.world_size,
        "provenance": provenance({"codes": codes, "manifest": manifest},
                                 {"step": "pretrain", "model": spec.to_dict(), "training": settings.to_dict(),
                                  "objective": objective,
                                  "mask_fraction": mask_fraction if objective == "masked" else None},
                                 {"seed": seed}, device)})


def finetune(codes: str, manifest: str, weights: str, history: str, train_ids: str, strategy: str,
             train_size: int, seed: int, training: dict, model_spec: dict | None = None,
             pretrained: str | None = None, shuffle_labels: bool = False, threads: int = 1, gpus: int = 0,
             embeddings: str | None = None, lora: dict | None = None, gradient_checkpointing: bool = False,
             tuned: dict | None = None) -> None:
    """Fine-tune a pretrained model on the target task (new head), or train the same architecture from scratch.

    ``strategy`` ``scratch`` needs ``model_spec`` and no ``pretrained``; every other strategy loads ``pretrained``
    and replaces its head. ``shuffle_labels`` permutes the training labels (a control that must stay at chance).
    ``pretrained`` may also be a Hugging Face checkpoint's record (``seqtune import-model``): then ``embeddings``
    (``seqtune embed``) feed a linear probe, ``lora`` configures strategy lora, and ``random_init`` trains the same
    architecture from random weights (see :mod:`seqtune.hf`). Every run records its cost in the sidecar.
    ``tuned``: the chosen parameters of this model's search (``seqtune.tuning.export_study``), written over
    ``training`` and the model's dropout, and recorded in the sidecar.
    """
    from .runmodel import build_run_model
    from .split import training_subset
    from .seeds import derive_seed
    from .train import Dataset, TrainSettings, configure_torch, fit, select_device
    from .weights import save_model

    configure_torch(threads, seed)
    device = select_device(gpus)
    data = read_dataset(codes)
    if data.multilabel:
        raise SeqtuneError(f"{codes}: fine-tuning targets must be single-label (binary or multi-class)")
    # Fine-tuning stops on the validation score unless told otherwise: on a small training set the validation loss
    # of a model trained from scratch rises (overconfidence) while its AUROC still climbs, and stopping on the loss
    # restored epoch 1 or 2 in 8 of 20 scratch runs at 100 examples, flattering every pretrained model (README).
    dropout = None
    if tuned:
        from .tuning import apply_params

        training, model_spec, tuned_lora, _ = apply_params(tuned["params"], training, model_spec)
        dropout = tuned["params"].get("dropout")
        if tuned_lora:  # the searched rank over the configured adapters
            lora = {**(lora or {}), **tuned_lora}
    settings = TrainSettings.from_dict({"monitor": "val_score", **training})
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
    built = build_run_model(data.codes, len(data.classes), strategy, subset, parts["validation"], device,
                            pretrained=pretrained, model_spec=model_spec, embeddings=embeddings, lora=lora,
                            gradient_checkpointing=gradient_checkpointing, dropout=dropout, source=codes)
    model, fit_model, head_change, hf_base = built.model, built.fit_model, built.head_change, built.hf_base
    train = Dataset.from_numpy(built.train_inputs, train_targets, False, device)
    validation = Dataset.from_numpy(built.validation_inputs, validation_targets, False, device)
    log.info("strategy %s, %d training examples%s", strategy, len(train),
             " (labels shuffled)" if shuffle_labels else "")
    started = time.perf_counter()
    rows, best = fit(fit_model, train, validation, settings, strategy, seed,
                     checkpoint=checkpoint_path(weights))
    cost = run_cost(model, rows, time.perf_counter() - started, device, embeddings)
    if fit_model is not model:  # a probe trained on embeddings: its head is the model's
        model.head.load_state_dict(fit_model.head.state_dict())
    write_tsv(history, pd.DataFrame(rows))
    write_tsv(train_ids, pd.DataFrame({"id": data.ids[subset], "label": np.asarray(data.classes)[targets[subset]]}))
    if hf_base is not None:
        from .hf.steps import save_finetuned

        save = functools.partial(save_finetuned, strategy=strategy, base=hf_base)
    else:
        save = save_model
    save(model, weights, metadata={
        "cost": cost,
        "role": "finetuned", "strategy": strategy, "pretrained": pretrained, "head_replaced": head_change,
        "shuffle_labels": shuffle_labels, "task": data.info["type"], "classes": data.classes, "alphabet": "ACGT",
        "length": int(data.codes.shape[1]), "train_size": train_size, "training": settings.to_dict(),
        "seed": seed, "validation": best, **(_tuning_entry(tuned)),
        "provenance": provenance({"codes": codes, "manifest": manifest, "pretrained": pretrained,
                                  "embeddings": embeddings},
                                 {"step": "finetune", "strategy": strategy, "train_size": train_size,
                                  "shuffle_labels": shuffle_labels, "model": model.spec.to_dict(),
                                  "training": settings.to_dict()},
                                 {"seed": seed, "subset": derive_seed(seed, "subset"),
                                  "shuffle": derive_seed(seed, "shuffle") if shuffle_labels else None}, device)})


def run_cost(model, history_rows: list[dict], seconds: float, device, embeddings: str | None = None) -> dict:
    """What a run cost: trainable parameters (under its strategy) and all parameters of the model it saves, peak
    memory, training seconds (GPU-seconds on a GPU); for a probe on precomputed embeddings, their one-off seconds."""
    from .train import peak_memory

    cost = {"trainable_parameters": int(history_rows[0]["trainable_parameters"]) if history_rows else 0,
            "total_parameters": sum(p.numel() for p in model.parameters()), "train_seconds": seconds,
            "device": str(device), **peak_memory(device)}
    if getattr(device, "type", str(device)) == "cuda":
        cost["gpu_seconds"] = seconds
    if embeddings:
        cost["embedding_seconds"] = read_json(Path(embeddings).with_suffix(".json")).get("seconds")
    return cost


def cost_path(metrics: str | os.PathLike) -> Path:
    """A run's measured cost lives beside its metrics.json, apart from it: seconds and memory differ between reruns,
    while metrics.json (and the provenance that checksums it) stays identical."""
    return Path(metrics).with_name("cost.json")


def write_cost(metrics: str | os.PathLike, cost: dict) -> None:
    write_json(cost_path(metrics), cost)


def _tuning_entry(tuned: dict | None) -> dict:
    """A final run's record of its search (sidecar, metrics.json): empty when the run was not tuned."""
    if not tuned:
        return {}
    from .tuning import tuning_record

    return {"tuning": tuning_record(tuned)}


def _check_classes(data, targets, parts, manifest) -> None:
    """The split of a single-label target has every class in train, validation and test (see
    :func:`_check_split_classes`, which the split step applies; a manifest written otherwise is checked here)."""
    if data.multilabel:
        return
    assignment = np.empty(targets.shape[0], dtype=object)
    for name in SPLITS:
        assignment[parts[name]] = name
    problem = _missing_classes(targets, assignment, names=data.classes)
    if problem:
        raise SeqtuneError(f"{manifest}: {problem}; a model cannot predict a class it never saw, nor be validated or "
                           "tested on one it was not shown. Use a stratified split (seqtune split), more data, or "
                           "remove or merge the records of those classes")


# ------------------------------------------------------------------------------------------------------- evaluation
def evaluate(codes: str, manifest: str, weights: str, predictions: str, metrics: str, run: dict,
             rc_average: bool = False, threads: int = 1, gpus: int = 0, batch_size: int = 512,
             decision_threshold: str = "validation", exclude_leaked: str | None = None) -> None:
    """Score a fine-tuned model on the test split: predictions TSV and metrics JSON. The decision rule
    (``decision_threshold``, see :func:`seqtune.metrics.decision_rule`) is chosen on the validation split, predicted
    as the test split is (``rc_average`` alike). ``exclude_leaked``: a leakage report whose leaked test records are
    dropped before scoring (``leakage.policy: exclude``)."""
    import torch

    from .train import configure_torch, prediction_module, predict_proba, select_device
    from .weights import load_model

    configure_torch(threads, int(run.get("seed", 0)))
    device = select_device(gpus)
    data = read_dataset(codes)
    model, sidecar = load_model(weights)
    if list(sidecar["classes"]) != data.classes:
        raise SeqtuneError(f"{weights}: model classes {sidecar['classes']} differ from the data's {data.classes}")
    assignment = read_manifest(manifest, data)
    model.to(device)
    module = prediction_module(model, sidecar.get("training", {}))
    probabilities = {}
    for part in ("validation", "test"):
        part_codes = torch.from_numpy(np.ascontiguousarray(data.codes[assignment == part])).to(device)
        probabilities[part] = predict_proba(module, part_codes, False, batch_size, rc_average=rc_average)
    write_predictions_and_metrics(data, assignment, probabilities, predictions, metrics, {
        **run, "best_epoch": sidecar["validation"]["best_epoch"],
        "provenance": provenance({"codes": codes, "manifest": manifest, "weights": weights,
                                  "exclude_leaked": exclude_leaked},
                                 {"step": "evaluate", "run": run, "rc_average": rc_average,
                                  "decision_threshold": decision_threshold},
                                 {"seed": int(run.get("seed", 0))}, device)}, decision_threshold, exclude_leaked)
    write_cost(metrics, sidecar.get("cost") or {})


def write_predictions_and_metrics(data, assignment: np.ndarray, probabilities: dict, predictions: str, metrics: str,
                                  run: dict, decision_threshold: str = "validation",
                                  exclude_leaked: str | None = None) -> dict:
    """The one place test predictions become ``predictions.tsv`` and ``metrics.json`` (models and baselines alike).

    ``probabilities``: ``validation`` and ``test`` (N, K) in the manifest's order (``assignment``). The decision rule
    is chosen on the validation probabilities (:func:`seqtune.metrics.decision_rule`), recorded in metrics.json as
    ``decision``, and gives the test split's ``predicted_label`` and its accuracy, balanced accuracy, F1 and MCC.
    ``exclude_leaked``: a leakage report (``leakage.json``); its leaked test records are left out of the predictions
    and every score, and metrics.json counts them as ``excluded_test_records``."""
    from .leakage import leaked_ids
    from .metrics import classification_metrics, decide, decision_rule

    targets = data.targets()
    test = np.flatnonzero(assignment == "test")
    classes = data.classes
    decision = decision_rule(decision_threshold, targets[assignment == "validation"], probabilities["validation"])
    test_probabilities = probabilities["test"]
    excluded = 0
    if exclude_leaked:
        keep = ~np.isin(data.ids[test].astype(str), list(leaked_ids(read_json(exclude_leaked))))
        excluded = int((~keep).sum())
        test, test_probabilities = test[keep], test_probabilities[keep]
        log.info("left out %d leaked test record(s) of %s before scoring; %d remain", excluded, exclude_leaked,
                 test.size)
        if test.size == 0:
            raise SeqtuneError(f"every test record is leaked ({exclude_leaked}); nothing is left to score. Split by "
                               "similarity groups (split.method: similarity) or remove the duplicates")
    frame = pd.DataFrame({"id": data.ids[test], "true_label": np.asarray(classes)[targets[test]],
                          "predicted_label": np.asarray(classes)[decide(test_probabilities, decision["threshold"])]})
    for index, label in enumerate(classes):
        frame[f"prob_{label}"] = test_probabilities[:, index]
    write_tsv(predictions, frame, PROBABILITY_FORMAT)
    scores = classification_metrics(targets[test], test_probabilities, len(classes), decision["threshold"])
    run = dict(run)
    trace = run.pop("provenance", None)  # last in the file, after the scores
    result = {**run, "n_test": int(test.size), "classes": classes, **scores, "decision": decision,
              "excluded_test_records": excluded}
    if trace is not None:
        result["provenance"] = trace
    write_json(metrics, result)
    log.info("decision rule: %s", decision)
    log.info("test: %s", {k: round(v, 4) for k, v in scores.items() if isinstance(v, float)})
    return result


def baseline(codes: str, manifest: str, predictions: str, metrics: str, kind: str, train_size: int, seed: int,
             run: dict, k: int = 3, decision_threshold: str = "validation", exclude_leaked: str | None = None,
             tuned: dict | None = None) -> None:
    """Fit a scikit-learn baseline on the same training subset a deep run would use, and score it on the test split
    (with the decision rule the deep runs use, chosen on the validation split; ``exclude_leaked`` as in
    :func:`evaluate`). ``tuned``: the chosen parameters of this baseline's search; its C replaces the validation
    grid."""
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
    started = time.perf_counter()
    model, c, scores = fit_logistic(x["train"], targets[subset], x["validation"], targets[parts["validation"]],
                                    seed, source=f"training subset of {train_size} from {manifest}",
                                    names=data.classes,
                                    **({"c_grid": (float(tuned["params"]["C"]),)} if tuned else {}))
    from .train import peak_memory

    import torch

    estimator = model[-1] if hasattr(model, "steps") else model  # a scikit-learn Pipeline ends in the regression
    n_coefficients = int(estimator.coef_.size + estimator.intercept_.size)
    cost = {"trainable_parameters": n_coefficients, "total_parameters": n_coefficients,
            "train_seconds": time.perf_counter() - started, "device": "cpu", **peak_memory(torch.device("cpu"))}
    log.info("%s: C=%g chosen on validation log loss %s", kind, c, scores)
    probabilities = {}
    for part in ("validation", "test"):
        probabilities[part] = np.zeros((parts[part].size, len(data.classes)))
        probabilities[part][:, model.classes_] = model.predict_proba(x[part])
    write_predictions_and_metrics(data, assignment, probabilities, predictions, metrics, {
        **run, "regularisation_C": c, "kmer_k": k if kind == "kmer_logreg" else None, **_tuning_entry(tuned),
        "provenance": provenance({"codes": codes, "manifest": manifest, "exclude_leaked": exclude_leaked},
                                 {"step": "baseline", "kind": kind, "k": k if kind == "kmer_logreg" else None,
                                  "train_size": train_size, "run": run, "decision_threshold": decision_threshold},
                                 {"seed": seed, "subset": derive_seed(seed, "subset")}, "cpu")}, decision_threshold,
        exclude_leaked)
    write_cost(metrics, cost)


# ---------------------------------------------------------------------------------------------------------- predict
def predict(weights: str, input_spec: dict, output: str, batch_size: int = 512, rc_average: bool = False,
            threads: int = 1, gpus: int = 0, decision_from: str | None = None) -> int:
    """Predict every record of a FASTA, TSV/CSV or BED + genome input with a fine-tuned model (see
    :func:`seqtune.predict.predict_file`); one TSV row per record, in input order."""
    from .predict import predict_file
    from .train import configure_torch, select_device

    if batch_size < 1:
        raise SeqtuneError(f"--batch-size {batch_size} must be at least 1")
    configure_torch(threads, 0)
    return predict_file(weights, input_spec, output, batch_size=batch_size, rc_average=rc_average,
                        device=select_device(gpus), decision_from=decision_from)


# --------------------------------------------------------------------------------------------------- variant effect
def variant_effect(weights: str, vcf: str, genome: str, output: str, summary: str | None = None,
                   ref_mismatch: str = "error", ism: bool = False, rc_average: bool = False,
                   max_indel_length: int = 50, batch_size: int = 512, threads: int = 1, gpus: int = 0) -> dict:
    """Score the SNVs and short indels of a VCF with a fine-tuned model on genome windows centred on each (see
    :func:`seqtune.variants.score_vcf`); one TSV row per allele, in file order."""
    from .train import configure_torch, select_device
    from .variants import score_vcf

    if batch_size < 1:
        raise SeqtuneError(f"--batch-size {batch_size} must be at least 1")
    configure_torch(threads, 0)
    return score_vcf(weights, vcf, genome, output, summary, ref_mismatch=ref_mismatch, ism=ism,
                     rc_average=rc_average, max_indel_length=max_indel_length, batch_size=batch_size,
                     device=select_device(gpus))
