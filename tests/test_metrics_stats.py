import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from sklearn.metrics import roc_auc_score

from seqtune.metrics import classification_metrics
from seqtune.stats import mean_ci, paired_difference, runs_table, transfer_gain


def test_binary_metrics_match_scikit_learn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    p1 = np.clip(y * 0.3 + rng.random(200) * 0.7, 0, 1)
    result = classification_metrics(y, np.column_stack([1 - p1, p1]), 2)
    assert result["auroc"] == pytest.approx(roc_auc_score(y, p1))
    assert result["accuracy"] == pytest.approx(((p1 > 0.5) == y).mean())
    assert np.array(result["confusion_matrix"]).sum() == 200


def test_multiclass_metrics_are_one_vs_rest_macro():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)
    p = rng.dirichlet(np.ones(3), 300)
    result = classification_metrics(y, p, 3)
    assert result["auroc"] == pytest.approx(roc_auc_score(y, p, multi_class="ovr", average="macro"))
    assert 0.4 < result["auroc"] < 0.6


def test_mean_ci_matches_the_t_distribution():
    values = [0.6, 0.7, 0.65, 0.8]
    result = mean_ci(values)
    low, high = sps.t.interval(0.95, 3, loc=np.mean(values), scale=sps.sem(values))
    assert (result["ci_low"], result["ci_high"]) == pytest.approx((low, high))
    assert math.isnan(mean_ci([0.5])["ci_low"])


def _records():
    rows = []
    for seed, (scratch, full) in enumerate([(0.60, 0.70), (0.62, 0.75), (0.58, 0.69)]):
        rows.append({"pretrained": "none", "strategy": "scratch", "train_size": 100, "seed": seed, "auroc": scratch})
        rows.append({"pretrained": "p", "strategy": "full", "train_size": 100, "seed": seed, "auroc": full})
    for row in rows:
        for metric in ("accuracy", "balanced_accuracy", "f1_macro", "mcc", "auprc"):
            row[metric] = 0.5
    return rows


def test_paired_difference_uses_the_paired_t_test():
    runs = runs_table(_records())
    diff = paired_difference(runs, "full:p", "scratch", 100, "auroc")
    assert diff["mean"] == pytest.approx(np.mean([0.10, 0.13, 0.11]))
    assert diff["p_value"] == pytest.approx(sps.ttest_rel([0.70, 0.75, 0.69], [0.60, 0.62, 0.58]).pvalue)
    gains = transfer_gain(runs)
    assert list(gains["model"]) == ["full:p"] and gains["ci_low"].iloc[0] > 0
