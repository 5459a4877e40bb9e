"""Aggregate per-run metrics into tables, and draw the self-contained HTML report."""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import os
import platform
from pathlib import Path

import numpy as np
import pandas as pd

from .io import atomic_open, atomic_path, read_json, read_tsv, write_json, write_tsv
from .stats import runs_table, summarise, transfer_gain, verdict

log = logging.getLogger("seqtune")


def aggregate(metrics_files: list[str], metrics_tsv: str, metrics_json: str, gain_tsv: str,
              metric: str = "auroc") -> None:
    """Collect every run's metrics.json into one TSV, a JSON with summaries and the verdict, and the gain table."""
    records = [read_json(path) for path in metrics_files]
    runs = runs_table(records)
    summary = summarise(runs)
    gains = transfer_gain(runs, metric)
    result = {
        "primary_metric": metric,
        "runs": runs.to_dict(orient="records"),
        "summary": summary.to_dict(orient="records"),
        "transfer_gain": gains.to_dict(orient="records"),
        "verdict": verdict(runs, summary, metric),
    }
    write_tsv(metrics_tsv, runs)
    write_tsv(gain_tsv, gains)
    write_json(metrics_json, _finite(result))
    for sentence in result["verdict"]["sentences"]:
        log.info("%s", sentence)


def _finite(obj):
    """JSON has no NaN: write null instead."""
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {key: _finite(value) for key, value in obj.items()}
    if isinstance(obj, list):
        return [_finite(value) for value in obj]
    return obj


def _figure_to_bytes(figure, fmt: str) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, bbox_inches="tight", dpi=110)
    return buffer.getvalue()


def learning_curve_figure(summary: pd.DataFrame, metric: str = "auroc"):
    """Mean test metric against train size, one line per model, with the 95% CI over seeds as a band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7.5, 4.5))
    for model, group in summary.groupby("model", sort=True):
        group = group.sort_values("train_size")
        dashed = group["strategy"].iloc[0] in ("kmer_logreg", "onehot_logreg", "shuffled_labels")
        line, = axis.plot(group["train_size"], group[f"{metric}_mean"], marker="o", label=model,
                          linestyle="--" if dashed else "-")
        low, high = group[f"{metric}_ci_low"], group[f"{metric}_ci_high"]
        if low.notna().all():
            axis.fill_between(group["train_size"], low, high, color=line.get_color(), alpha=0.15)
    axis.set_xscale("log")
    sizes = sorted(summary["train_size"].unique())
    axis.set_xticks(sizes, [str(s) for s in sizes])
    axis.axhline(0.5, color="grey", linewidth=0.8, linestyle=":")
    axis.set_xlabel("training examples (target task)")
    axis.set_ylabel(f"test {metric} (mean, 95% CI over seeds)")
    axis.legend(fontsize=8, loc="best")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def _img(figure, alt: str) -> str:
    import matplotlib.pyplot as plt

    png = _figure_to_bytes(figure, "png")
    plt.close(figure)
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _table(frame: pd.DataFrame, digits: int = 3) -> str:
    return frame.to_html(index=False, float_format=lambda v: f"{v:.{digits}f}", na_rep="", border=0)


def _run_files(results: Path, runs: pd.DataFrame, step: str, name: str) -> dict:
    """Path of a per-run file for each (model, train_size, seed) present on disk."""
    found = {}
    for row in runs.itertuples():
        path = results / step / str(row.pretrained) / str(row.strategy) / f"n{row.train_size}" / f"seed{row.seed}" / name
        if path.exists():
            found[(row.model, int(row.train_size), int(row.seed))] = path
    return found


def _pooled_predictions(prediction_files: dict, size: int) -> dict:
    """Per model: (true class indices, probabilities) pooled over seeds at one train size."""
    pooled = {}
    for (model, train_size, _), path in sorted(prediction_files.items()):
        if train_size != size:
            continue
        frame = read_tsv(path, dtype={"id": str})
        classes = [c[5:] for c in frame.columns if c.startswith("prob_")]
        truth = frame["true_label"].astype(str).map({c: i for i, c in enumerate(classes)}).to_numpy()
        probabilities = frame[[f"prob_{c}" for c in classes]].to_numpy()
        old = pooled.get(model)
        pooled[model] = (truth, probabilities, classes) if old is None else (
            np.concatenate([old[0], truth]), np.vstack([old[1], probabilities]), classes)
    return pooled


def roc_pr_figure(pooled: dict, size: int):
    """ROC and precision-recall curves per model (positive class, or micro-averaged one-vs-rest), seeds pooled."""
    import matplotlib.pyplot as plt
    from sklearn.metrics import auc, precision_recall_curve, roc_curve

    figure, (roc_axis, pr_axis) = plt.subplots(1, 2, figsize=(11, 4.5))
    for model, (truth, probabilities, classes) in sorted(pooled.items()):
        if len(classes) == 2:
            y, score = truth == 1, probabilities[:, 1]
        else:  # micro-average: every (example, class) pair is one binary decision
            y, score = (np.eye(len(classes))[truth] == 1).ravel(), probabilities.ravel()
        fpr, tpr, _ = roc_curve(y, score)
        precision, recall, _ = precision_recall_curve(y, score)
        roc_axis.plot(fpr, tpr, label=f"{model} ({auc(fpr, tpr):.2f})")
        pr_axis.plot(recall, precision, label=model)
    roc_axis.plot([0, 1], [0, 1], color="grey", linestyle=":")
    roc_axis.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC, {size} training examples")
    pr_axis.set(xlabel="recall", ylabel="precision", title=f"Precision-recall, {size} training examples")
    roc_axis.legend(fontsize=7)
    pr_axis.legend(fontsize=7)
    figure.tight_layout()
    return figure


def calibration(pooled: dict, size: int, bins: int = 10):
    """Reliability diagram, expected calibration error and Brier score per model (top-label confidence)."""
    import matplotlib.pyplot as plt
    from sklearn.calibration import calibration_curve

    figure, axis = plt.subplots(figsize=(5.5, 4.5))
    rows = []
    for model, (truth, probabilities, classes) in sorted(pooled.items()):
        confidence = probabilities.max(axis=1)
        correct = probabilities.argmax(axis=1) == truth
        edges = np.linspace(0, 1, bins + 1)
        which = np.clip(np.digitize(confidence, edges) - 1, 0, bins - 1)
        ece = sum(abs(correct[which == b].mean() - confidence[which == b].mean()) * (which == b).mean()
                  for b in range(bins) if (which == b).any())
        brier = float(((probabilities - np.eye(len(classes))[truth]) ** 2).sum(axis=1).mean())
        rows.append({"model": model, "train_size": size, "ece": ece, "brier": brier, "n": truth.size})
        observed, predicted = calibration_curve(correct, confidence, n_bins=bins, strategy="uniform")
        axis.plot(predicted, observed, marker="o", markersize=3, label=model)
    axis.plot([0, 1], [0, 1], color="grey", linestyle=":")
    axis.set(xlabel="confidence (top class)", ylabel="accuracy", title=f"Reliability, {size} training examples")
    axis.legend(fontsize=7)
    figure.tight_layout()
    return figure, pd.DataFrame(rows)


def confusion_figure(pooled: dict, size: int):
    import matplotlib.pyplot as plt
    from sklearn.metrics import confusion_matrix

    models = sorted(pooled)
    columns = min(len(models), 4)
    rows = int(np.ceil(len(models) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(3 * columns, 2.8 * rows), squeeze=False)
    for axis in axes.ravel()[len(models):]:
        axis.axis("off")
    for axis, model in zip(axes.ravel(), models):
        truth, probabilities, classes = pooled[model]
        matrix = confusion_matrix(truth, probabilities.argmax(axis=1), labels=range(len(classes)))
        axis.imshow(matrix, cmap="Blues")
        for (i, j), value in np.ndenumerate(matrix):
            axis.text(j, i, str(value), ha="center", va="center", fontsize=8)
        axis.set_xticks(range(len(classes)), classes, fontsize=7, rotation=30)
        axis.set_yticks(range(len(classes)), classes, fontsize=7)
        axis.set_title(model, fontsize=8)
        axis.set_xlabel("predicted", fontsize=7)
    figure.suptitle(f"Confusion matrices, {size} training examples, seeds summed", fontsize=9)
    figure.tight_layout()
    return figure


def training_curves_figure(history_files: dict, size: int, seed: int):
    """Validation loss per epoch for each model at one train size and seed; the restored (best) epoch marked."""
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7.5, 4))
    for (model, train_size, run_seed), path in sorted(history_files.items()):
        if train_size != size or run_seed != seed:
            continue
        history = read_tsv(path)
        line, = axis.plot(history["epoch"], history["val_loss"], label=model)
        best = history["val_loss"].idxmin()
        axis.plot(history["epoch"][best], history["val_loss"][best], marker="*", markersize=12,
                  color=line.get_color())
    axis.set(xlabel="epoch", ylabel="validation loss",
             title=f"Training curves, {size} training examples, seed {seed} (star: restored epoch)")
    axis.legend(fontsize=7)
    figure.tight_layout()
    return figure


def gain_figure(gains: pd.DataFrame, metric: str):
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7.5, 4))
    models = sorted(gains["model"].unique())
    sizes = sorted(gains["train_size"].unique())
    width = 0.8 / max(len(models), 1)
    for index, model in enumerate(models):
        part = gains[gains["model"] == model].set_index("train_size").reindex(sizes)
        x = np.arange(len(sizes)) + index * width
        errors = np.vstack([part["mean_gain"] - part["ci_low"], part["ci_high"] - part["mean_gain"]])
        axis.bar(x, part["mean_gain"], width, yerr=np.nan_to_num(errors), capsize=3, label=model)
    axis.axhline(0, color="black", linewidth=0.8)
    axis.set_xticks(np.arange(len(sizes)) + 0.4 - width / 2, [str(s) for s in sizes])
    axis.set(xlabel="training examples", ylabel=f"{metric} gain over scratch (95% CI)")
    axis.legend(fontsize=7)
    figure.tight_layout()
    return figure


def _leakage_section(leakage: str | None) -> str:
    if not leakage or not Path(leakage).exists():
        return "<p>No leakage report for this run.</p>"
    result = read_json(leakage)
    rows = []
    for key, value in result.items():
        if isinstance(value, dict):
            counts = {k: v for k, v in value.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
            if counts:
                rows.append({"check": key, **counts})
    body = _table(pd.DataFrame(rows), 0) if rows else ""
    return body + f"<details><summary>Full leakage report (JSON)</summary><pre>{html.escape(json.dumps(result, indent=1)[:20000])}</pre></details>"


def report(metrics_tsv: str, metrics_json: str, gain_tsv: str, split_summary: str, html_out: str,
           figure_out: str, config_text: str = "", leakage: str | None = None,
           interpretation: str | None = None) -> None:
    """Write the self-contained HTML report (figures embedded) and the learning-curve SVG for ``snakemake --report``.

    Per-run predictions and histories are read from the results folder that holds ``metrics_tsv``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import sklearn
    import torch

    from . import __version__

    results = Path(metrics_tsv).parent
    runs = read_tsv(metrics_tsv)
    result = read_json(metrics_json)
    gains = read_tsv(gain_tsv)
    split = read_json(split_summary)
    metric = result["primary_metric"]
    summary = pd.DataFrame(result["summary"])
    sizes = sorted(int(size) for size in runs["train_size"].unique())
    seeds = sorted(int(seed) for seed in runs["seed"].unique())

    figure = learning_curve_figure(summary, metric)
    with atomic_path(figure_out) as tmp:
        Path(tmp).write_bytes(_figure_to_bytes(figure, "svg"))
    learning = _img(figure, "learning curves")

    predictions = _run_files(results, runs, "evaluate", "predictions.tsv")
    histories = _run_files(results, runs, "finetune", "history.tsv")
    per_size = []
    calibration_tables = []
    for size in (sizes[0], sizes[-1]) if len(sizes) > 1 else sizes:
        pooled = _pooled_predictions(predictions, size)
        if not pooled:
            continue
        calibration_plot, calibration_table = calibration(pooled, size)
        calibration_tables.append(calibration_table)
        per_size.append(f"<h3>{size} training examples</h3>" + _img(roc_pr_figure(pooled, size), "ROC and PR")
                        + _img(confusion_figure(pooled, size), "confusion matrices")
                        + _img(calibration_plot, "reliability diagram"))
    training = _img(training_curves_figure(histories, sizes[0], seeds[0]), "training curves") if histories else ""
    gain_plot = _img(gain_figure(gains, metric), "gain over scratch") if len(gains) else ""

    table = summary[["model", "train_size", "n_seeds"] + [f"{metric}_mean", f"{metric}_sd", f"{metric}_ci_low",
                                                          f"{metric}_ci_high", "accuracy_mean", "mcc_mean"]]
    versions = {"seqtune": __version__, "python": platform.python_version(), "torch": torch.__version__,
                "numpy": np.__version__, "pandas": pd.__version__, "scikit-learn": sklearn.__version__,
                "matplotlib": matplotlib.__version__}
    wall = _wall_times(results)
    sentences = "".join(f"<li>{html.escape(s)}</li>" for s in result["verdict"]["sentences"])
    control = result["verdict"].get("shuffled_label_control")
    warning = ""
    if control and not control.get("at_chance"):
        warning = ('<p class="warn">Warning: the shuffled-label control is not at chance. Suspect leakage or a bug '
                   "before reading anything else.</p>")
    split_counts = pd.DataFrame(split["counts"]).fillna(0).astype(int)
    split_counts.index.name = "class"
    data_info = _data_info(results)
    interpretation_html = _interpretation_section(interpretation)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>seqtune report</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; line-height: 1.4; }}
table {{ border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }} td, th {{ border: 1px solid #ccc; padding: 3px 6px; }}
th {{ background: #f0f0f0; }} .verdict {{ background: #eef6ee; padding: 0.5em 1em; border-left: 4px solid #4a4; }}
.warn {{ background: #fdecea; padding: 0.5em; border-left: 4px solid #c33; }}
pre {{ background: #f7f7f7; padding: 0.5em; overflow-x: auto; font-size: 0.8em; }} img {{ max-width: 100%; }}
nav a {{ margin-right: 1em; }}
</style></head><body>
<h1>seqtune: does fine-tuning beat training from scratch?</h1>
<nav><a href="#verdict">Verdict</a><a href="#curves">Learning curves</a><a href="#gain">Gain</a>
<a href="#runs">Per-run curves</a><a href="#training">Training</a><a href="#calibration">Calibration</a>
<a href="#interpretation">Interpretation</a><a href="#data">Data</a><a href="#run">Run</a></nav>
<div class="verdict" id="verdict"><h2>Verdict ({html.escape(metric)}, paired over seeds)</h2><ul>{sentences}</ul></div>
{warning}
<h2 id="curves">Learning curves</h2>
<p>Test {html.escape(metric)} against the number of training examples of the target task; bands are 95% confidence
intervals of the mean over seeds {seeds}. Dashed lines are baselines and the shuffled-label control. Models named
<code>strategy:pretrained</code> start from that pretrained model; <code>scratch</code> is the same architecture from
random weights with the same training budget.</p>
{learning}
<h3>Summary over seeds</h3>
{_table(table)}
<h2 id="gain">Gain over scratch (paired by seed)</h2>
{gain_plot}
{_table(gains)}
<h2 id="runs">ROC, precision-recall and confusion matrices</h2>
<p>Test predictions of every seed pooled, at the smallest and the largest train size.</p>
{"".join(per_size)}
<h2 id="training">Training curves</h2>
{training}
<h2 id="calibration">Calibration</h2>
<p>Expected calibration error (10 bins of top-class confidence) and Brier score, seeds pooled.</p>
{_table(pd.concat(calibration_tables) if calibration_tables else pd.DataFrame())}
<h2 id="interpretation">Interpretation</h2>
{interpretation_html}
<h2 id="data">Data</h2>
{data_info}
<h3>Split of the target task (counts per class)</h3>
{_table(split_counts.reset_index(), 0)}
<h3>Leakage</h3>
{_leakage_section(leakage)}
<h2>Every run</h2>
{_table(runs)}
<h2 id="run">Run</h2>
<p>Device: CPU unless a job's log says otherwise (each training log names its device). Seeds: config seed and run
seeds {seeds}.</p>
{_table(wall, 1) if len(wall) else ""}
<pre>{html.escape(json.dumps(versions, indent=1))}</pre>
<details><summary>Configuration</summary><pre>{html.escape(config_text)}</pre></details>
</body></html>
"""
    plt.close("all")
    with atomic_open(html_out) as handle:
        handle.write(page)
    log.info("wrote %s", html_out)


def _wall_times(results: Path) -> pd.DataFrame:
    """Seconds per training stage, summed over the epochs in the histories."""
    rows = []
    for step in ("pretrain", "finetune"):
        total = sum(read_tsv(path)["seconds"].sum() for path in (results / step).rglob("history.tsv"))
        rows.append({"stage": step, "training_seconds": total})
    return pd.DataFrame(rows)


def _data_info(results: Path) -> str:
    rows = []
    for info_path in sorted((results / "data").glob("*/dataset.json")):
        info = read_json(info_path)
        rows.append({"data set": info_path.parent.name, "type": info.get("type"), "sequences": info.get("n_sequences"),
                     "length": info.get("length"), "classes": ", ".join(map(str, info.get("classes", []))),
                     "class counts": ", ".join(f"{k}: {v}" for k, v in info.get("class_counts", {}).items())})
    return _table(pd.DataFrame(rows), 0) if rows else ""


def _interpretation_section(interpretation: str | None) -> str:
    if not interpretation or not Path(interpretation).exists():
        return "<p>Interpretation was not run for this report.</p>"
    result = read_json(interpretation)
    parts = [f"<pre>{html.escape(json.dumps(result, indent=1)[:20000])}</pre>"]
    return "".join(parts)
