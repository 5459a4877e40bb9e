"""Aggregate per-run metrics into tables, and draw the self-contained HTML report."""

from __future__ import annotations

import base64
import html
import io
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


def report(metrics_tsv: str, metrics_json: str, gain_tsv: str, split_summary: str, html_out: str,
           figure_out: str, config_text: str = "") -> None:
    """Write the self-contained HTML report (figures embedded) and the learning-curve SVG for ``snakemake --report``."""
    import matplotlib.pyplot as plt

    from . import __version__

    runs = read_tsv(metrics_tsv)
    result = read_json(metrics_json)
    gains = read_tsv(gain_tsv)
    split = read_json(split_summary)
    metric = result["primary_metric"]
    summary = pd.DataFrame(result["summary"])
    figure = learning_curve_figure(summary, metric)
    svg = _figure_to_bytes(figure, "svg")
    png = _figure_to_bytes(figure, "png")
    plt.close(figure)
    with atomic_path(figure_out) as tmp:
        Path(tmp).write_bytes(svg)

    table = summary[["model", "train_size", "n_seeds"] + [f"{metric}_mean", f"{metric}_sd", f"{metric}_ci_low",
                                                          f"{metric}_ci_high", "accuracy_mean", "mcc_mean"]]
    import torch

    versions = {"seqtune": __version__, "python": platform.python_version(), "torch": torch.__version__,
                "numpy": np.__version__, "pandas": pd.__version__}
    sentences = "".join(f"<li>{html.escape(s)}</li>" for s in result["verdict"]["sentences"])
    control = result["verdict"].get("shuffled_label_control")
    warning = ""
    if control and not control.get("at_chance"):
        warning = ('<p class="warn">Warning: the shuffled-label control is not at chance. Suspect leakage or a bug '
                   "before reading anything else.</p>")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>seqtune report</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1000px; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.85em; }} td, th {{ border: 1px solid #ccc; padding: 3px 6px; }}
th {{ background: #f0f0f0; }} .verdict {{ background: #eef6ee; padding: 0.5em 1em; border-left: 4px solid #4a4; }}
.warn {{ background: #fdecea; padding: 0.5em; border-left: 4px solid #c33; }} pre {{ background: #f7f7f7; padding: 0.5em; overflow-x: auto; }}
</style></head><body>
<h1>seqtune: does fine-tuning beat training from scratch?</h1>
<div class="verdict"><h2>Verdict ({html.escape(metric)}, paired over seeds)</h2><ul>{sentences}</ul></div>
{warning}
<h2>Learning curves</h2>
<p>Test {html.escape(metric)} against the number of training examples of the target task; bands are 95% confidence
intervals of the mean over seeds. Dashed lines are baselines and the shuffled-label control. Models named
<code>strategy:pretrained</code> start from that pretrained model; <code>scratch</code> is the same architecture from
random weights with the same training budget.</p>
<img alt="learning curves" src="data:image/png;base64,{base64.b64encode(png).decode()}">
<h2>Summary over seeds</h2>
{table.to_html(index=False, float_format=lambda v: f"{v:.3f}", na_rep="")}
<h2>Gain over scratch (paired by seed)</h2>
{gains.to_html(index=False, float_format=lambda v: f"{v:.3g}", na_rep="")}
<h2>Data split (target task)</h2>
<pre>{html.escape(pd.DataFrame(split["counts"]).fillna(0).astype(int).to_string())}</pre>
<h2>Every run</h2>
{runs.to_html(index=False, float_format=lambda v: f"{v:.3f}", na_rep="")}
<h2>Run</h2>
<pre>{html.escape(str(versions))}</pre>
<details><summary>Configuration</summary><pre>{html.escape(config_text)}</pre></details>
</body></html>
"""
    with atomic_open(html_out) as handle:
        handle.write(page)
    log.info("wrote %s", html_out)
