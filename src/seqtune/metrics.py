"""Classification metrics from scikit-learn, for binary, multi-class and multi-label targets."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn import metrics as skm

from .config import DECISION_RULES

METRIC_NAMES = ("accuracy", "balanced_accuracy", "f1_macro", "mcc", "auroc", "auprc")
CONFUSION_METRICS = ("accuracy", "balanced_accuracy", "f1_macro", "mcc")  # functions of the confusion matrix


def decide(probabilities: np.ndarray, threshold: float | None = None) -> np.ndarray:
    """Predicted class indices (N,): the most probable class, or for a binary target with a ``threshold`` the
    positive class (index 1) where its probability is at least the threshold."""
    if threshold is None:
        return probabilities.argmax(axis=1)
    return (probabilities[:, 1] >= threshold).astype(np.int64)


def choose_threshold(y_true: np.ndarray, probabilities: np.ndarray) -> dict:
    """The decision rule for a binary target, chosen on held-out (validation) examples: the cut on the positive
    class's probability that maximises balanced accuracy (Youden's J = TPR - FPR, from scikit-learn's ROC curve).

    The most probable class (a cut at 0.5) suits a model whose probabilities are calibrated to the test set's class
    balance; a model stopped early, or trained on 100 examples, can rank well and still put every test sequence on
    one side of 0.5 (README). The cut is placed halfway between the chosen score and the next lower one, so the
    validation examples are classified as at the optimum; among tied optima the highest cut is kept. Where no cut
    beats chance on validation (J <= 0), the rule stays at 0.5. Returns ``rule``, ``threshold`` and the validation
    balanced accuracy at the chosen cut and at 0.5."""
    y_true = np.asarray(y_true)
    scores = probabilities[:, 1]
    false_positive, true_positive, cuts = skm.roc_curve(y_true, scores, drop_intermediate=False)
    youden = true_positive - false_positive
    best = int(np.argmax(youden))  # the first maximum: the highest cut among ties
    at_half = float(skm.balanced_accuracy_score(y_true, decide(probabilities, 0.5)))
    if youden[best] <= 0:
        return {"rule": "validation", "threshold": 0.5, "validation_balanced_accuracy": at_half,
                "validation_balanced_accuracy_at_0.5": at_half, "note": "no cut beats chance on validation; 0.5 kept"}
    threshold = float((cuts[best] + cuts[best + 1]) / 2 if best + 1 < cuts.size else cuts[best])
    # balanced accuracy = (TPR + TNR) / 2 = (1 + J) / 2; the midpoint classifies the validation set as cuts[best] does
    return {"rule": "validation", "threshold": threshold, "validation_balanced_accuracy": float((1 + youden[best]) / 2),
            "validation_balanced_accuracy_at_0.5": at_half}


def decision_rule(rule: str, y_validation: np.ndarray, validation_probabilities: np.ndarray) -> dict:
    """``evaluation.decision_threshold``: ``validation`` (see :func:`choose_threshold`; binary targets) or ``argmax``
    (the most probable class; the only rule for more than two classes)."""
    if rule not in DECISION_RULES:
        raise ValueError(f"decision threshold rule '{rule}' is not one of {', '.join(DECISION_RULES)}")
    if rule == "validation" and validation_probabilities.shape[1] == 2:
        if np.unique(y_validation).size < 2:
            return {"rule": "argmax", "threshold": None,
                    "note": "fewer than two classes in the validation split; argmax kept"}
        if not np.isfinite(validation_probabilities).all():
            return {"rule": "argmax", "threshold": None, "note": "non-finite validation probabilities; argmax kept"}
        return choose_threshold(y_validation, validation_probabilities)
    return {"rule": "argmax", "threshold": None}


def classification_metrics(y_true: np.ndarray, probabilities: np.ndarray, n_classes: int,
                           threshold: float | None = None) -> dict:
    """Metrics for single-label predictions.

    ``y_true``: class indices (N,); ``probabilities``: (N, K). AUROC and AUPRC are one-vs-rest macro averages when
    K > 2 and use the positive class (index 1) when K = 2. Accuracy, balanced accuracy, F1 and MCC score the
    classes :func:`decide` predicts (at ``threshold`` when given). A metric that cannot be computed (a class missing
    from the test set) is NaN rather than a crash.
    """
    y_true = np.asarray(y_true)
    predicted = decide(probabilities, threshold)
    result = {name: classification_metric(name, y_true, probabilities, n_classes, predicted) for name in METRIC_NAMES}
    result["confusion_matrix"] = skm.confusion_matrix(y_true, predicted, labels=np.arange(n_classes)).tolist()
    return result


def classification_metric(name: str, y_true: np.ndarray, probabilities: np.ndarray, n_classes: int,
                          predicted: np.ndarray | None = None) -> float:
    """One of ``METRIC_NAMES``, as ``classification_metrics`` computes it (one metric alone: bootstrap resamples)."""
    predicted = decide(probabilities) if predicted is None else predicted
    labels = np.arange(n_classes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name == "accuracy":
            return float(skm.accuracy_score(y_true, predicted))
        if name == "balanced_accuracy":
            return float(skm.balanced_accuracy_score(y_true, predicted))
        if name == "f1_macro":
            return float(skm.f1_score(y_true, predicted, labels=labels, average="macro", zero_division=0))
        if name == "mcc":
            return float(skm.matthews_corrcoef(y_true, predicted))
        try:
            if name == "auroc" and n_classes == 2:
                return float(skm.roc_auc_score(y_true, probabilities[:, 1]))
            if name == "auprc" and n_classes == 2:
                return float(skm.average_precision_score(y_true, probabilities[:, 1]))
            if name == "auroc":
                return float(skm.roc_auc_score(y_true, probabilities, multi_class="ovr", average="macro",
                                               labels=labels))
            if name == "auprc":
                return float(skm.average_precision_score(np.eye(n_classes)[y_true], probabilities, average="macro"))
        except ValueError:
            return float("nan")
    raise ValueError(f"unknown metric '{name}'; known: {', '.join(METRIC_NAMES)}")


def multilabel_metrics(y_true: np.ndarray, probabilities: np.ndarray) -> dict:
    """Macro AUROC / AUPRC over tasks, and mean per-task accuracy at 0.5, for multi-label targets."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            auroc = skm.roc_auc_score(y_true, probabilities, average="macro")
            auprc = skm.average_precision_score(y_true, probabilities, average="macro")
        except ValueError:
            auroc = auprc = float("nan")
    accuracy = float(((probabilities >= 0.5) == (y_true >= 0.5)).mean())
    return {"auroc": float(auroc), "auprc": float(auprc), "accuracy": accuracy}


def auroc_rows(truth: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Binary AUROC of each row of ``scores`` against the 0/1 (or boolean) ``truth`` of the same shape: the
    Mann-Whitney U over average ranks (ties count one half), equal to sklearn's roc_auc_score; NaN for a row with one
    class only. Vectorised over rows, for bootstrap resamples and per-sequence motif recovery."""
    from scipy.stats import rankdata

    ranks = rankdata(scores, axis=-1)
    positives = truth.sum(axis=-1)
    negatives = truth.shape[-1] - positives
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.where(truth == 1, ranks, 0.0).sum(axis=-1) - positives * (positives + 1) / 2) / (
            positives * negatives)


def average_precision_rows(truth: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Average precision of each row of ``scores`` against the 0/1 (or boolean) ``truth`` of the same shape, as
    sklearn's average_precision_score: the sum over distinct score thresholds, from the highest, of the recall gained
    times the precision there; ties form one threshold; 0 for a row without positives (as sklearn returns, with its
    warning). Vectorised over rows, for the bootstrap's resamples.

    Each positive contributes the precision at the end of its tie group (the lowest position holding its score)
    divided by the number of positives: summing the recall steps threshold by threshold gives the same sum."""
    order = np.argsort(-scores, axis=-1, kind="stable")
    ranked_scores = np.take_along_axis(scores, order, axis=-1)
    ranked_truth = np.take_along_axis(np.asarray(truth, dtype=float), order, axis=-1)
    width = ranked_truth.shape[-1]
    precision = np.cumsum(ranked_truth, axis=-1) / np.arange(1, width + 1)
    group_end = np.ones(ranked_scores.shape, dtype=bool)
    group_end[..., :-1] = ranked_scores[..., 1:] != ranked_scores[..., :-1]
    # For each position, the index of its tie group's last position: a running minimum from the right.
    last_of_group = np.minimum.accumulate(np.where(group_end, np.arange(width), width)[..., ::-1], axis=-1)[..., ::-1]
    positives = ranked_truth.sum(axis=-1)
    credited = (ranked_truth * np.take_along_axis(precision, last_of_group, axis=-1)).sum(axis=-1)
    return np.divide(credited, positives, out=np.zeros_like(credited), where=positives > 0)


def confusion_rows(truth: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Confusion matrices (B, K, K) of each row of ``truth`` and ``predicted`` (B, n): rows true, columns predicted,
    as ``sklearn.metrics.confusion_matrix`` for each row."""
    rows = truth.shape[0]
    cells = (np.arange(rows)[:, None] * n_classes + truth) * n_classes + predicted
    return np.bincount(cells.ravel(), minlength=rows * n_classes * n_classes).reshape(rows, n_classes, n_classes)


def metric_from_confusion(name: str, confusion: np.ndarray) -> np.ndarray:
    """``accuracy``, ``balanced_accuracy``, ``f1_macro`` (over all K classes, 0 where undefined) or ``mcc`` of each
    confusion matrix (B, K, K), by scikit-learn's definitions (tested equal): for the bootstrap's resamples, where
    calling scikit-learn once per resample would take milliseconds each."""
    confusion = confusion.astype(float)
    hits = np.diagonal(confusion, axis1=1, axis2=2)
    true_counts, predicted_counts = confusion.sum(axis=2), confusion.sum(axis=1)
    total = true_counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        if name == "accuracy":
            return hits.sum(axis=1) / total
        if name == "balanced_accuracy":  # recall of the classes present; absent ones are left out, as sklearn does
            recall = hits / true_counts
            present = true_counts > 0
            return np.where(present, recall, 0).sum(axis=1) / present.sum(axis=1)
        if name == "f1_macro":
            denominator = true_counts + predicted_counts
            return np.where(denominator > 0, 2 * hits / np.where(denominator > 0, denominator, 1), 0).mean(axis=1)
        if name == "mcc":
            covariance = hits.sum(axis=1) * total - (true_counts * predicted_counts).sum(axis=1)
            true_spread = total ** 2 - (true_counts ** 2).sum(axis=1)
            predicted_spread = total ** 2 - (predicted_counts ** 2).sum(axis=1)
            denominator = true_spread * predicted_spread
            return np.where(denominator > 0, covariance / np.sqrt(np.where(denominator > 0, denominator, 1)), 0.0)
    raise ValueError(f"metric_from_confusion: '{name}' is not computed from a confusion matrix")
