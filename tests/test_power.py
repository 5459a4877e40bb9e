"""Seeds an undecided verdict needs: the paired t-test's power (stats.paired_t_power, seeds_needed,
detectable_gain) against published sample sizes, and the verdict sentence that names them."""

import pandas as pd
import pytest

from seqtune.stats import detectable_gain, paired_t_power, seeds_needed, summarise, verdict


@pytest.mark.parametrize("d, n", [(0.5, 34), (0.8, 15), (1.0, 10), (0.2, 199)])
def test_seeds_needed_match_the_textbook(d, n):
    """Two-sided paired t, alpha 0.05, power 0.8 (Cohen 1988; G*Power gives the same n)."""
    assert seeds_needed(d, 1.0) == n
    assert paired_t_power(d, n) >= 0.8 > paired_t_power(d, n - 1)


def test_detectable_gain_inverts_the_power():
    gain = detectable_gain(0.02, 3)
    assert paired_t_power(gain / 0.02, 3) == pytest.approx(0.8, abs=1e-6)
    assert detectable_gain(0.02, 10) < gain


def test_no_gain_needs_no_number():
    assert seeds_needed(0.0, 0.1) is None and seeds_needed(0.001, 0.1) is None


def test_an_undecided_verdict_names_a_number_of_seeds():
    rows = []
    for seed, (scratch, full) in enumerate([(0.70, 0.73), (0.72, 0.80), (0.71, 0.76)], start=1):
        for model, value in (("scratch", scratch), ("full:motifs", full)):
            strategy, pretrained = (model.split(":") + ["none"])[:2]
            rows.append({"model": model, "strategy": strategy, "pretrained": pretrained, "train_size": 50,
                         "seed": seed, "accuracy": value, "balanced_accuracy": value, "f1_macro": value,
                         "mcc": value, "auroc": value, "auprc": value})
    runs = pd.DataFrame(rows)
    sentence = verdict(runs, summarise(runs))["sentences"][0]
    assert "not distinguishable" in sentence
    assert "needs about 5 seeds (paired t, 80% power)" in sentence and "detect gains above" in sentence
