"""Pieces of report.html that a reader relies on: numbers are never shown rounded to 0, and runs that predict one
class everywhere are named (their threshold metrics say nothing about ranking)."""

import pandas as pd
import pytest

from seqtune.report import _leakage_section, _one_class_runs, _table, read_predictions


def test_small_numbers_are_not_shown_as_zero():
    html = _table(pd.DataFrame({"p_value": [0.00029, 0.0123, 0.0], "gain": [0.1234, -0.0002, 1.0]}))
    assert "2.9e-04" in html and "0.012" in html and "0.000" in html and "-2.0e-04" in html and "1.000" in html


def test_leakage_fractions_keep_their_digits(tmp_path):
    leakage = tmp_path / "leakage.json"
    leakage.write_text('{"corpus_overlap": {"k": 16, "threshold": 0.5, "mean_containment": 0.0110435, "n": 750}}')
    html = _leakage_section(str(leakage))
    assert "<td>0.5</td>" in html and "<td>0.01104</td>" in html and "<td>750</td>" in html


def test_runs_predicting_one_class_are_named(tmp_path):
    def predictions(name, positive, threshold=0.5):
        path = tmp_path / f"{name}.tsv"
        pd.DataFrame({"id": ["a", "b", "c"], "true_label": ["negative", "positive", "positive"],
                      "predicted_label": ["positive" if p >= threshold else "negative" for p in positive],
                      "prob_negative": [1 - p for p in positive], "prob_positive": positive}).to_csv(
            path, sep="\t", index=False)
        return read_predictions(path)
    files = {("full:motifs", 100, 1): predictions("one", [0.6, 0.7, 0.9]),
             ("scratch", 100, 1): predictions("both", [0.2, 0.7, 0.9])}
    note = _one_class_runs(files)
    assert "1 run(s) predict one class" in note and "full:motifs at 100 (seed 1): all &#x27;positive&#x27;" in note
    assert "scratch" not in note
    assert _one_class_runs({("scratch", 100, 1): files[("scratch", 100, 1)]}) == ""
    # The note reads the run's decisions (predicted_label, at its decision threshold), not the most probable class.
    tuned = predictions("tuned", [0.6, 0.7, 0.9], threshold=0.65)
    assert list(tuned[4]) == [0, 1, 1]
    assert _one_class_runs({("full:motifs", 100, 1): tuned}) == ""


def test_roc_curves_are_averaged_over_seeds_not_pooled():
    """Two seeds that rank equally well on different probability scales: pooling their scores would draw a worse
    curve than either; the figure's curve is the mean of the seeds' curves, and its legend the mean of their AUROC.
    The dot (operating point) is the mean of the seeds' rates at their predicted labels."""
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np
    from sklearn.metrics import auc, roc_auc_score

    from seqtune.report import roc_pr_figure

    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, 400)
    runs, areas = [], []
    for offset in (0.0, 0.4):  # the second seed's probabilities sit higher
        positive = np.clip(0.2 + offset + 0.25 * truth + rng.normal(0, 0.15, 400), 0, 1)
        predicted = (positive >= 0.325 + offset).astype(int)
        runs.append((None, truth, np.column_stack([1 - positive, positive]), ["negative", "positive"], predicted))
        areas.append(roc_auc_score(truth, positive))
    pooled = roc_auc_score(np.concatenate([truth, truth]), np.concatenate([r[2][:, 1] for r in runs]))
    figure = roc_pr_figure({"full:motifs": runs}, 100)
    roc_axis = figure.axes[0]
    label = roc_axis.get_legend_handles_labels()[1][0]
    assert label == f"full:motifs ({np.mean(areas):.2f})" and pooled < min(areas) - 0.05
    curve, dot = roc_axis.lines[0], roc_axis.lines[1]
    assert auc(curve.get_xdata(), curve.get_ydata()) == pytest.approx(np.mean(areas), abs=0.01)
    rates = [((p == 1)[truth == 0].mean(), (p == 1)[truth == 1].mean()) for *_, p in runs]
    assert (dot.get_xdata()[0], dot.get_ydata()[0]) == pytest.approx(tuple(np.mean(rates, axis=0)))
