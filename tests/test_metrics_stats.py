import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from sklearn.metrics import roc_auc_score

from seqtune.metrics import classification_metrics
from seqtune.stats import mean_ci, paired_difference, runs_table, summarise, transfer_gain, verdict


def test_binary_metrics_match_scikit_learn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    p1 = np.clip(y * 0.3 + rng.random(200) * 0.7, 0, 1)
    result = classification_metrics(y, np.column_stack([1 - p1, p1]), 2)
    assert result["auroc"] == pytest.approx(roc_auc_score(y, p1))
    assert result["accuracy"] == pytest.approx(((p1 > 0.5) == y).mean())
    assert np.array(result["confusion_matrix"]).sum() == 200


def test_the_validation_threshold_maximises_balanced_accuracy_and_separates_like_the_optimum():
    """A model that ranks perfectly but puts every probability above 0.5 (as one stopped early can): argmax calls
    everything positive, the cut chosen on validation examples recovers the ranking, and it lies halfway between
    the scores it separates."""
    from seqtune.metrics import choose_threshold, decide, decision_rule

    y = np.array([0, 0, 0, 1, 1, 1])
    p1 = np.array([0.55, 0.60, 0.62, 0.70, 0.80, 0.90])
    probabilities = np.column_stack([1 - p1, p1])
    assert decide(probabilities).tolist() == [1] * 6
    chosen = choose_threshold(y, probabilities)
    assert chosen["threshold"] == pytest.approx((0.62 + 0.70) / 2)
    assert chosen["validation_balanced_accuracy"] == 1.0 and chosen["validation_balanced_accuracy_at_0.5"] == 0.5
    assert decide(probabilities, chosen["threshold"]).tolist() == y.tolist()
    # Brute force over every cut between sorted scores: none gives a higher balanced accuracy.
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 300)
    p1 = np.clip(0.6 + 0.15 * y + rng.normal(0, 0.12, 300), 0, 1)
    probabilities = np.column_stack([1 - p1, p1])
    chosen = choose_threshold(y, probabilities)
    cuts = np.unique(p1)
    best = max(classification_metrics(y, probabilities, 2, cut)["balanced_accuracy"] for cut in cuts)
    assert classification_metrics(y, probabilities, 2, chosen["threshold"])["balanced_accuracy"] == pytest.approx(best)
    assert chosen["validation_balanced_accuracy"] == pytest.approx(best)
    assert best > chosen["validation_balanced_accuracy_at_0.5"]
    # A ranking no better than chance on validation keeps 0.5; argmax and multi-class targets have no threshold.
    reversed_ = choose_threshold(np.array([1, 1, 0, 0]), np.column_stack([1 - np.arange(4) / 4, np.arange(4) / 4]))
    assert reversed_["threshold"] == 0.5 and "no cut beats chance" in reversed_["note"]
    assert decision_rule("argmax", y, probabilities) == {"rule": "argmax", "threshold": None}
    assert decision_rule("validation", y % 3, np.full((300, 3), 1 / 3))["threshold"] is None
    assert decision_rule("validation", np.zeros(300), probabilities)["threshold"] is None  # one class
    broken = probabilities.copy()
    broken[0] = np.nan
    assert decision_rule("validation", y, broken)["threshold"] is None
    with pytest.raises(ValueError, match="not one of validation, argmax"):
        decision_rule("youden", y, probabilities)


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


def test_resampled_auroc_equals_scikit_learn_on_every_resample():
    from seqtune.stats import metric_on_resamples

    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    p1 = np.round(np.clip(y * 0.2 + rng.random(300) * 0.8, 0, 1), 2)  # rounded: ties, as real scores have
    probabilities = np.column_stack([1 - p1, p1])
    indices = rng.integers(0, 300, size=(5, 300))
    fast = metric_on_resamples(y, probabilities, indices, "auroc")
    assert fast == pytest.approx([roc_auc_score(y[row], p1[row]) for row in indices])
    accuracy = metric_on_resamples(y, probabilities, indices, "accuracy")
    assert accuracy == pytest.approx([((p1[row] > 0.5) == y[row]).mean() for row in indices])


def test_resampled_multiclass_auroc_equals_scikit_learn_and_is_nan_without_a_class():
    from seqtune.stats import metric_on_resamples

    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, 200)
    probabilities = rng.dirichlet(np.ones(3), 200)
    probabilities[np.arange(200), y] += 0.2
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    indices = rng.integers(0, 200, size=(6, 200))
    indices[0] = np.flatnonzero(y != 2)[:200 // 2].repeat(2)  # class 2 absent: AUROC undefined, as in sklearn
    fast = metric_on_resamples(y, probabilities, indices, "auroc")
    slow = [classification_metrics(y[row], probabilities[row], 3)["auroc"] for row in indices]
    assert np.isnan(fast[0]) and np.isnan(slow[0])
    assert fast[1:] == pytest.approx(slow[1:], abs=1e-12)


@pytest.mark.parametrize("n_classes", [2, 3, 4])
def test_resampled_confusion_metrics_equal_scikit_learn_on_every_resample(n_classes):
    """accuracy, balanced_accuracy, f1_macro and mcc for all resamples at once, against scikit-learn one by one,
    on ordinary resamples and degenerate ones (one true class; every prediction the same class)."""
    from seqtune.stats import metric_on_resamples

    rng = np.random.default_rng(n_classes)
    y = rng.integers(0, n_classes, 120)
    probabilities = rng.dirichlet(np.ones(n_classes), 120)
    probabilities[np.arange(120), y] += 0.15
    probabilities[:10] = np.eye(n_classes)[0] + 0.01  # ten examples always predicted as class 0
    indices = rng.integers(0, 120, size=(8, 60))
    indices[0] = np.flatnonzero(y == 1)[:1].repeat(60)  # one true class only
    indices[1] = np.arange(10).repeat(6)  # one predicted class only
    for metric in ("accuracy", "balanced_accuracy", "f1_macro", "mcc"):
        fast = metric_on_resamples(y, probabilities, indices, metric)
        slow = [classification_metrics(y[row], probabilities[row], n_classes)[metric] for row in indices]
        assert fast == pytest.approx(slow, abs=1e-12), metric
    if n_classes == 2:  # at a decision threshold: the run's own predicted classes
        predicted = (probabilities[:, 1] >= 0.3).astype(int)
        for metric in ("accuracy", "balanced_accuracy", "f1_macro", "mcc"):
            fast = metric_on_resamples(y, probabilities, indices, metric, predicted)
            slow = [classification_metrics(y[row], probabilities[row], 2, 0.3)[metric] for row in indices]
            assert fast == pytest.approx(slow, abs=1e-12), metric


@pytest.mark.parametrize("n_classes", [2, 3, 4])
def test_resampled_auprc_equals_scikit_learn_on_every_resample(n_classes):
    """AUPRC for all resamples at once, against scikit-learn one by one: tied scores (rounded, and two examples
    with the same score and different labels), a resample without a class (its AP is 0, as scikit-learn returns),
    one with a single example repeated, and one where every example is positive for class 0."""
    from seqtune.stats import metric_on_resamples

    rng = np.random.default_rng(10 + n_classes)
    y = rng.integers(0, n_classes, 150)
    probabilities = rng.dirichlet(np.ones(n_classes), 150)
    probabilities[np.arange(150), y] += 0.3
    probabilities = np.round(probabilities / probabilities.sum(axis=1, keepdims=True), 2)  # ties
    y[:2] = [0, 1]
    probabilities[1] = probabilities[0]  # a tie across labels
    indices = rng.integers(0, 150, size=(9, 90))
    indices[0] = np.flatnonzero(y != 1)[:45].repeat(2)  # class 1 absent
    indices[1] = 7  # one example, repeated
    indices[2] = np.flatnonzero(y == 0)[:30].repeat(3)  # only class 0
    indices[3] = np.tile([0, 1], 45)  # only the tied pair
    fast = metric_on_resamples(y, probabilities, indices, "auprc")
    slow = [classification_metrics(y[row], probabilities[row], n_classes)["auprc"] for row in indices]
    assert fast == pytest.approx(slow, abs=1e-12)
    assert fast[0] == 0 if n_classes == 2 else 0 < fast[0] < 1  # the absent class counts 0 in the macro mean


def test_bootstrap_intervals_equal_a_direct_computation_per_interval():
    """The per-run cache reuses each run's resampled metric; the intervals are those of computing it anew."""
    from seqtune.stats import bootstrap_interval, bootstrap_over_test_examples, metric_on_resamples

    rng = np.random.default_rng(5)
    y = rng.integers(0, 3, 150)
    predictions, records = {}, []
    for model in ("scratch", "full:a", "linear_probe:a"):
        for seed in (1, 2):
            probabilities = rng.dirichlet(np.ones(3), 150)
            probabilities[np.arange(150), y] += 0.3 if model != "scratch" else 0.1
            probabilities /= probabilities.sum(axis=1, keepdims=True)
            predictions[(model, 50, seed)] = (y, probabilities)
            strategy, _, pretrained = model.partition(":")
            records.append({"strategy": strategy, "pretrained": pretrained or "none", "train_size": 50, "seed": seed,
                            **classification_metrics(y, probabilities, 3), "n_test": 150})
    levels, gains = bootstrap_over_test_examples(runs_table(records), predictions, "auroc", 200, seed=3)

    def direct(model):
        return lambda idx: np.mean([metric_on_resamples(*predictions[(model, 50, s)], idx, "auroc")
                                    for s in (1, 2)], axis=0)

    for model in ("scratch", "full:a", "linear_probe:a"):
        row = levels[levels["model"] == model].iloc[0]
        assert (row["auroc_boot_low"], row["auroc_boot_high"]) == bootstrap_interval(direct(model), 150, 200, 3)
        if model != "scratch":
            gain = gains[gains["model"] == model].iloc[0]
            expected = bootstrap_interval(lambda idx: direct(model)(idx) - direct("scratch")(idx), 150, 200, 3)
            assert (gain["boot_ci_low"], gain["boot_ci_high"]) == pytest.approx(expected, abs=1e-12)


def test_bootstrap_brackets_the_estimate_and_pairs_the_gain():
    from seqtune.stats import bootstrap_over_test_examples

    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 400)
    records, predictions = [], {}
    for seed in (1, 2, 3):
        for model, signal in (("scratch", 0.5), ("full:motifs", 1.5)):
            score = y * signal + rng.normal(size=400)
            p1 = 1 / (1 + np.exp(-score))
            probabilities = np.column_stack([1 - p1, p1])
            predictions[(model, 100, seed)] = (y, probabilities)
            strategy, _, pretrained = model.partition(":")
            records.append({"strategy": strategy, "pretrained": pretrained or "none", "train_size": 100,
                            "seed": seed, **classification_metrics(y, probabilities, 2), "n_test": 400})
    runs = runs_table(records)
    levels, gains = bootstrap_over_test_examples(runs, predictions, "auroc", 300, seed=0)
    for model in ("scratch", "full:motifs"):
        row = levels[levels["model"] == model].iloc[0]
        mean = runs[runs["model"] == model]["auroc"].mean()
        assert row["auroc_boot_low"] < mean < row["auroc_boot_high"]
        assert row["auroc_boot_high"] - row["auroc_boot_low"] < 0.15
    gain = gains[gains["model"] == "full:motifs"].iloc[0]
    assert gain["boot_ci_low"] > 0.1  # a clear gain; the paired resample keeps its interval narrow
    assert list(gains["model"]) == ["full:motifs"]  # scratch has no gain over itself
    # Same seed, same intervals: the bootstrap is reproducible.
    again, _ = bootstrap_over_test_examples(runs, predictions, "auroc", 300, seed=0)
    pd.testing.assert_frame_equal(levels, again)


def _control_records(control_gains: list[float]) -> list[dict]:
    """_records() plus a pretrained model 'u' with full and linear_probe; full gains ``control_gains`` per seed."""
    rows = _records()
    scratch = {row["seed"]: row["auroc"] for row in rows if row["strategy"] == "scratch"}
    for seed, gain in enumerate(control_gains):
        for strategy, value in (("full", scratch[seed] + gain), ("linear_probe", scratch[seed] - 0.05)):
            rows.append({"pretrained": "u", "strategy": strategy, "train_size": 100, "seed": seed, "auroc": value,
                         **{m: 0.5 for m in ("accuracy", "balanced_accuracy", "f1_macro", "mcc", "auprc")}})
    return rows


@pytest.mark.parametrize("gains, passed", [([0.02, -0.03, 0.01], True), ([0.20, 0.22, 0.21], False)])
def test_a_negative_control_is_checked_not_crowned(gains, passed):
    runs = runs_table(_control_records(gains))
    result = verdict(runs, summarise(runs), "auroc", negative_controls=["u"])
    # Even when the control scores best, the verdict's best model is the real pretraining.
    assert [entry["best_model"] for entry in result["per_train_size"]] == ["full:p"]
    (check,) = result["negative_controls"]
    assert check["pretrained"] == "u" and check["passed"] is passed
    (entry,) = check["per_train_size"]
    assert entry["model"] == "full:u"  # its best strategy, the least favourable for the check
    assert entry["vs_scratch"]["mean"] == pytest.approx(np.mean(gains))
    assert entry["helps"] is (not passed)
    assert check["sentence"] in result["sentences"]
    assert ("HELPS" in check["sentence"]) is (not passed) and ("does not help" in check["sentence"]) is passed
    # Without the flag, the same model is an ordinary candidate and no check is made.
    plain = verdict(runs, summarise(runs), "auroc")
    assert plain["negative_controls"] == []
    assert plain["per_train_size"][0]["best_model"] == ("full:p" if passed else "full:u")


def _shuffled_runs(aurocs: list[float], pretrained: str = "none") -> pd.DataFrame:
    rows = _records()
    for seed, value in enumerate(aurocs):
        rows.append({"pretrained": pretrained, "strategy": "shuffled_labels", "train_size": 100, "seed": seed,
                     "auroc": value, "accuracy": 0.5, "balanced_accuracy": 0.5, "f1_macro": 0.4, "mcc": 0.0,
                     "auprc": 0.5})
    return runs_table(rows)


@pytest.mark.parametrize("aurocs, pretrained, status", [
    ([0.49, 0.51, 0.47, 0.52, 0.50, 0.49, 0.51, 0.48, 0.50], "none", "passed"),  # as the default study's
    ([0.62, 0.66, 0.60, 0.64], "none", "failed"),  # off chance, consistently
    ([0.38, 0.36, 0.40, 0.37], "p", "failed"),
    ([0.635, 0.498, 0.682, 0.395], "none", "inconclusive"),  # the BED example's: mean 0.553, too spread to tell
    ([0.987, 0.065, 0.046, 0.966], "p", "inconclusive"),  # a pretrained start: sign-symmetric scatter
    ([0.52], "none", "passed"),
    ([0.70], "none", "inconclusive"),  # one run cannot tell a scatter from a bias
])
@pytest.mark.parametrize("metric", ["auroc", "accuracy", "mcc"])
def test_shuffled_label_control_is_judged_on_the_mean_auroc_and_its_interval(aurocs, pretrained, status, metric):
    """The check reads AUROC whatever the primary metric (it failed for every other metric before); it fails only on
    a material, significant departure of the mean, passes only when the interval rules out a departure of 0.1, and
    calls everything else inconclusive (scattered runs passed before, on the mean alone)."""
    runs = _shuffled_runs(aurocs, pretrained)
    control = verdict(runs, summarise(runs), metric)["shuffled_label_control"]
    assert control["status"] == status and control["at_chance"] is (status == "passed")
    assert control["metric"] == "auroc" and control["mean"] == pytest.approx(np.mean(aurocs))
    assert control["runs_range"] == pytest.approx([min(aurocs), max(aurocs)])
    assert {"passed": "at chance, as it must be", "failed": "NOT at chance",
            "inconclusive": "inconclusive"}[status] in control["sentence"]
    assert ("set controls.shuffled_labels.strategy: scratch" in control["sentence"]) is (
        status == "inconclusive" and pretrained != "none")


@pytest.mark.parametrize("baseline_aurocs, phrase", [
    ([0.60, 0.62, 0.59], "it beats the best baseline (kmer_logreg) by +0.110"),
    ([0.80, 0.84, 0.79], "the baseline kmer_logreg is better, by +0.097"),
    ([0.75, 0.70, 0.74], "it and the best baseline (kmer_logreg) are not distinguishable: full:p minus baseline "
                         "-0.017"),
])
def test_the_verdict_sentence_against_the_best_baseline(baseline_aurocs, phrase):
    """The sentence says which side wins, or that neither does, with the sign of the difference explained (it read
    'the baseline is within -0.050 of it' when the baseline scored higher without a clear margin)."""
    rows = _records()
    for seed, value in enumerate(baseline_aurocs):
        rows.append({"pretrained": "none", "strategy": "kmer_logreg", "train_size": 100, "seed": seed,
                     "auroc": value, **{m: 0.5 for m in ("accuracy", "balanced_accuracy", "f1_macro", "mcc",
                                                          "auprc")}})
    runs = runs_table(rows)
    (sentence,) = [s for s in verdict(runs, summarise(runs), "auroc")["sentences"] if s.startswith("At 100")]
    assert phrase in sentence, sentence


def test_the_learning_curve_draws_intervals_within_the_metric_range():
    """Two seeds give t-intervals such as -1.10 to 2.20; drawn as is they squashed every curve into a band of the
    axis. The band stops at the metric's range (the tables keep the interval as computed)."""
    from seqtune.report import learning_curve_figure

    summary = pd.DataFrame([{"model": "scratch", "strategy": "scratch", "train_size": size, "auroc_mean": 0.6,
                             "auroc_ci_low": -1.1, "auroc_ci_high": 2.2} for size in (50, 150)])
    low, high = learning_curve_figure(summary).axes[0].get_ylim()
    assert -0.1 <= low < 0 and 1 < high <= 1.1


def test_shuffled_label_control_counts_seeds_not_runs():
    """Runs of one seed share initialisation and (nested) training examples: the FASTA example's control gave 0.439,
    0.461 (seed 1) and 0.421, 0.403 (seed 2). As 4 independent runs the interval excluded 0.5 ('NOT at chance');
    over its 2 seeds it cannot tell."""
    rows = _records()
    for (size, seed), value in {(50, 1): 0.439, (300, 1): 0.461, (50, 2): 0.421, (300, 2): 0.403}.items():
        rows.append({"pretrained": "none", "strategy": "shuffled_labels", "train_size": size, "seed": seed,
                     "auroc": value, **{m: 0.5 for m in ("accuracy", "balanced_accuracy", "f1_macro", "mcc",
                                                          "auprc")}})
    runs = runs_table(rows)
    control = verdict(runs, summarise(runs), "auroc")["shuffled_label_control"]
    assert control["n"] == 2 and control["runs"] == 4 and control["status"] == "inconclusive"
    assert control["mean"] == pytest.approx(np.mean([0.45, 0.412]))
    assert "over 2 seeds, 4 runs" in control["sentence"]
