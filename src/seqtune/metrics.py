"""Classification metrics from scikit-learn, for binary, multi-class and multi-label targets."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn import metrics as skm

METRIC_NAMES = ("accuracy", "balanced_accuracy", "f1_macro", "mcc", "auroc", "auprc")


def classification_metrics(y_true: np.ndarray, probabilities: np.ndarray, n_classes: int) -> dict:
    """Metrics for single-label predictions.

    ``y_true``: class indices (N,); ``probabilities``: (N, K). AUROC and AUPRC are one-vs-rest macro averages when
    K > 2 and use the positive class (index 1) when K = 2. A metric that cannot be computed (a class missing from
    the test set) is NaN rather than a crash.
    """
    y_true = np.asarray(y_true)
    predicted = probabilities.argmax(axis=1)
    labels = np.arange(n_classes)
    result = {
        "accuracy": skm.accuracy_score(y_true, predicted),
        "balanced_accuracy": skm.balanced_accuracy_score(y_true, predicted),
        "f1_macro": skm.f1_score(y_true, predicted, labels=labels, average="macro", zero_division=0),
        "mcc": skm.matthews_corrcoef(y_true, predicted),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if n_classes == 2:
                result["auroc"] = skm.roc_auc_score(y_true, probabilities[:, 1])
                result["auprc"] = skm.average_precision_score(y_true, probabilities[:, 1])
            else:
                onehot = np.eye(n_classes)[y_true]
                result["auroc"] = skm.roc_auc_score(y_true, probabilities, multi_class="ovr", average="macro",
                                                    labels=labels)
                result["auprc"] = skm.average_precision_score(onehot, probabilities, average="macro")
        except ValueError:
            result["auroc"] = result["auprc"] = float("nan")
    result["confusion_matrix"] = skm.confusion_matrix(y_true, predicted, labels=labels).tolist()
    return {key: (float(value) if not isinstance(value, list) else value) for key, value in result.items()}


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
