"""Baselines anyone could fit in a second: logistic regression on k-mer counts and on the flattened one-hot sequence.

Both come from scikit-learn, are seeded, and choose their regularisation strength on the validation split.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .errors import SeqtuneError
from .sequence import N_CODE, reverse_complement

BASELINES = ("kmer_logreg", "onehot_logreg")
C_GRID = (0.001, 0.01, 0.1, 1.0, 10.0)


def kmer_counts(codes: np.ndarray, k: int, both_strands: bool = True) -> np.ndarray:
    """Counts of every k-mer per sequence, (N, 4**k); windows containing N are skipped.

    With ``both_strands`` the counts of the reverse complement are added, so a k-mer and its reverse complement
    count alike.
    """
    codes = np.asarray(codes)
    n, length = codes.shape
    windows = length - k + 1
    index = np.zeros((n, windows), dtype=np.int64)
    valid = np.ones((n, windows), dtype=bool)
    for offset in range(k):
        column = codes[:, offset:offset + windows].astype(np.int64)
        valid &= column != N_CODE
        index = index * 4 + np.minimum(column, 3)
    flat = (index + np.arange(n)[:, None] * 4**k)[valid]
    counts = np.bincount(flat, minlength=n * 4**k).reshape(n, 4**k).astype(np.float32)
    if both_strands:
        counts += kmer_counts(reverse_complement(codes), k, both_strands=False)
    return counts


def onehot_features(codes: np.ndarray) -> np.ndarray:
    """The flattened one-hot sequence (N, 4 L): position-aware features."""
    codes = np.asarray(codes)
    table = np.vstack([np.eye(4, dtype=np.float32), np.zeros((1, 4), dtype=np.float32)])
    return table[codes].reshape(codes.shape[0], -1)


def features(kind: str, codes: np.ndarray, k: int = 3) -> np.ndarray:
    return kmer_counts(codes, k) if kind == "kmer_logreg" else onehot_features(codes)


def fit_logistic(train_x: np.ndarray, train_y: np.ndarray, val_x: np.ndarray, val_y: np.ndarray, seed: int,
                 c_grid=C_GRID, source: str = "baseline training data", names=None):
    """Fit standardised logistic regression for each C in ``c_grid``; keep the one with the lowest validation log loss.

    Every validation class must occur in ``train_y``, and ``train_y`` needs two classes or more; otherwise a
    :class:`~seqtune.errors.SeqtuneError` names the classes (``names``: class names by label value) and ``source``.
    Returns (fitted pipeline, chosen C, validation log loss per C).
    """
    classes = np.unique(train_y)
    absent = np.setdiff1d(np.unique(val_y), classes)
    if absent.size or classes.size < 2:
        shown = [str(names[value] if names is not None else value) for value in (absent if absent.size else classes)]
        problem = (f"class(es) {shown} of the validation split have no training example" if absent.size
                   else f"only class(es) {shown} in training, a classifier needs two or more")
        raise SeqtuneError(f"{source}: {problem}; the baseline cannot score classes it never saw. Give every class "
                           "training examples (a larger train size, a stratified split) or remove or merge the records "
                           "of those classes")
    scores = {}
    best = None
    for c in c_grid:
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000, random_state=seed))
        model.fit(train_x, train_y)
        score = log_loss(val_y, model.predict_proba(val_x), labels=classes)
        scores[c] = float(score)
        if best is None or score < scores[best[0]]:
            best = (c, model)
    return best[1], best[0], scores
