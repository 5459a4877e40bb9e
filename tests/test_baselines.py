import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from seqtune.baselines import fit_logistic, kmer_counts, onehot_features
from seqtune.sequence import encode


def test_kmer_counts_sum_both_strands_and_skip_n():
    counts = kmer_counts(encode(["AACNT"]), 2)
    index = {"AA": 0, "AC": 1, "GT": 11, "TT": 15}
    # AA, AC on the forward strand (CN, NT skipped); reverse complement ANGTT gives GT, TT.
    assert counts[0, index["AA"]] == 1 and counts[0, index["AC"]] == 1
    assert counts[0, index["GT"]] == 1 and counts[0, index["TT"]] == 1
    assert counts.sum() == 4


def test_onehot_features_are_position_aware():
    features = onehot_features(encode(["ACGN"]))
    assert features.shape == (1, 16)
    assert features.reshape(4, 4).tolist() == [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]


def test_fit_logistic_reproduces_scikit_learn_by_hand():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(80, 5)), rng.integers(0, 2, 80)
    xv, yv = rng.normal(size=(40, 5)), rng.integers(0, 2, 40)
    model, c, scores = fit_logistic(x, y, xv, yv, seed=1)
    by_hand = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000, random_state=1)).fit(x, y)
    assert np.allclose(model.predict_proba(xv), by_hand.predict_proba(xv))
    assert scores[c] == min(scores.values())


def test_gc_content_task_is_solved_by_the_kmer_baseline():
    rng = np.random.default_rng(3)
    n, length = 600, 100
    gc = rng.random(n) < 0.5
    probabilities = np.where(gc[:, None], [0.2, 0.3, 0.3, 0.2], [0.3, 0.2, 0.2, 0.3])
    codes = np.array([rng.choice(4, size=length, p=p) for p in probabilities], dtype=np.uint8)
    x = kmer_counts(codes, 3)
    model, _, _ = fit_logistic(x[:300], gc[:300], x[300:400], gc[300:400], seed=0)
    assert roc_auc_score(gc[400:], model.predict_proba(x[400:])[:, 1]) > 0.95
