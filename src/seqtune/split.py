"""Train/validation/test splits and nested training subsets for learning curves."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import SeqtuneError

SPLITS = ("train", "validation", "test")


def stratified_split(labels: pd.Series, validation_fraction: float, test_fraction: float, seed: int,
                     source: str = "labels") -> np.ndarray:
    """Assign each example to train, validation or test, stratified by label.

    Each class is shuffled with the seed and cut at the requested fractions (rounded per class), so every split keeps
    the class balance. Returns an array of split names in the order of ``labels``.
    """
    if not 0 <= validation_fraction < 1 or not 0 < test_fraction < 1 or validation_fraction + test_fraction >= 1:
        raise SeqtuneError(
            f"split fractions validation={validation_fraction}, test={test_fraction} must be in [0, 1) and sum to "
            "less than 1, leaving examples for training"
        )
    rng = np.random.default_rng(seed)
    values = labels.to_numpy()
    assignment = np.empty(len(values), dtype=object)
    classes, counts = np.unique(values, return_counts=True)
    if len(classes) < 2:
        raise SeqtuneError(
            f"{source}: only one class ({classes[0] if len(classes) else 'none'}) present; a classifier needs at "
            "least two classes. Check the label column or add examples of the other class(es)"
        )
    for label, count in zip(classes, counts):
        members = np.flatnonzero(values == label)
        members = members[rng.permutation(members.size)]
        n_test = int(round(count * test_fraction))
        n_validation = int(round(count * validation_fraction))
        if count >= 3 and n_test == 0:
            n_test = 1
        if count >= 3 and validation_fraction > 0 and n_validation == 0:
            n_validation = 1
        if count - n_test - n_validation < 1:
            raise SeqtuneError(
                f"{source}: class '{label}' has only {count} example(s), too few for a train, validation and test "
                "split; add examples or merge rare classes"
            )
        assignment[members[:n_test]] = "test"
        assignment[members[n_test:n_test + n_validation]] = "validation"
        assignment[members[n_test + n_validation:]] = "train"
    return assignment


def stratification_key(labels: pd.DataFrame) -> pd.Series:
    """One value per example to stratify on: the ``label`` column, or for multi-label tables the number of labels set
    (exact label combinations are too many to stratify on)."""
    if "label" in labels.columns:
        return labels["label"].astype(str)
    label_columns = [column for column in labels.columns if column != "id"]
    return labels[label_columns].sum(axis=1).clip(upper=3).astype(str)


def nested_order(labels: np.ndarray, seed: int) -> np.ndarray:
    """An ordering of training examples whose every prefix is (close to) class-balanced like the whole.

    The first n examples of this order form the training subset of size n, so subsets are nested: the 100 are inside
    the 300. Each class is shuffled and its members get evenly spaced keys in (0, 1) with random jitter; sorting by key
    interleaves the classes in proportion.
    """
    rng = np.random.default_rng(seed)
    keys = np.empty(len(labels))
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        members = members[rng.permutation(members.size)]
        keys[members] = (np.arange(members.size) + rng.random(members.size)) / members.size
    return np.argsort(keys, kind="stable")


def training_subset(train_positions: np.ndarray, train_labels: np.ndarray, size: int, seed: int,
                    source: str = "training split") -> np.ndarray:
    """Positions of the nested, stratified training subset of ``size`` examples (sorted)."""
    if size < 1:
        raise SeqtuneError(f"train size {size} must be at least 1")
    if size > len(train_positions):
        raise SeqtuneError(
            f"train size {size} is larger than the {len(train_positions)} examples in the {source}; "
            "lower finetune.train_sizes or simulate/provide more data"
        )
    order = nested_order(train_labels, seed)
    chosen = np.sort(train_positions[order[:size]])
    return chosen


def split_summary(labels: pd.Series, assignment: np.ndarray) -> dict:
    """Counts per class per split, as a JSON-friendly dict."""
    frame = pd.DataFrame({"label": labels.to_numpy(), "split": assignment})
    counts = frame.groupby(["split", "label"]).size()
    summary = {split: {str(label): int(n) for label, n in counts.get(split, pd.Series(dtype=int)).items()}
               for split in SPLITS}
    return {"counts": summary, "totals": {split: int((assignment == split).sum()) for split in SPLITS}}
