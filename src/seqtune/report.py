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

from .errors import SeqtuneError
from .io import atomic_open, atomic_path, finite_json, read_json, read_tsv, write_json, write_tsv
from .stats import (bootstrap_over_test_examples, on_subset, run_label, runs_table, summarise, transfer_gain_by_subset,
                    verdict)

log = logging.getLogger("seqtune")


def aggregate(metrics_files: list[str], metrics_tsv: str, metrics_json: str, gain_tsv: str,
              metric: str = "auroc", bootstrap_resamples: int = 1000, seed: int = 0,
              negative_controls: list[str] | tuple[str, ...] = (), tuning: list[str] = (),
              permutation: list[str] = (), shortcut: str | None = None, leakage: str | None = None) -> list[dict]:
    """Collect every run's metrics.json into one TSV, a JSON with summaries and the verdict, and the gain table;
    returns the runs' records (for ``provenance.results_provenance``, without reading them twice).

    With ``bootstrap_resamples`` > 0, each run's ``predictions.tsv`` (beside its metrics.json) is read too, and the
    summary and gain table get percentile intervals over resampled test examples
    (see ``stats.bootstrap_over_test_examples``). ``negative_controls`` names the pretrained models whose corpus
    shares nothing with the target (``pretrain.models.<name>.negative_control``); the verdict checks them.

    Every run has two rows (``eval_subset``): ``all`` its test metrics as evaluated, ``deduplicated`` rescored from its
    predictions without the test records ``leakage`` (the split's leakage report) lists as leaked; the same when
    none leak or no report is given. The gain table has both; summaries, bootstrap and verdict read ``all``.
    """
    from .leakage import deduplicated_record, leaked_ids

    records = [read_json(path) for path in metrics_files]
    report_ = read_json(leakage) if leakage else None
    leaked = leaked_ids(report_) if report_ else set()
    rows = []
    for record, path in zip(records, metrics_files):
        cost = _cost(path)
        rows.append({**record, "eval_subset": "all", "cost": cost})
        rows.append({**deduplicated_record(record, Path(path).with_name("predictions.tsv"), leaked),
                     "eval_subset": "deduplicated", "cost": cost})
    runs = runs_table(rows)
    full, deduplicated = on_subset(runs, "all"), on_subset(runs, "deduplicated")
    summary = summarise(full)
    gains = transfer_gain_by_subset(runs, metric)
    if bootstrap_resamples > 0:
        levels, gain_intervals = bootstrap_over_test_examples(full, _test_predictions(metrics_files, records),
                                                              metric, bootstrap_resamples, seed)
        summary = summary.merge(levels, on=["model", "train_size"], how="left")
        # the bootstrap pairs each model with scratch on all test records: its intervals belong to those rows
        gains = gains.merge(gain_intervals.assign(reference="scratch", eval_subset="all"),
                            on=["model", "train_size", "reference", "eval_subset"], how="left")
    result = {
        "primary_metric": metric,
        "runs": runs.to_dict(orient="records"),
        "summary": summary.to_dict(orient="records"),
        "transfer_gain": gains.to_dict(orient="records"),
        "verdict": verdict(full, summary, metric, negative_controls, report_, deduplicated),
    }
    if permutation or shortcut:  # controls that can conclude (seqtune.controls)
        from .controls import permutation_check, shortcut_check

        sentences = result["verdict"]["sentences"]
        if permutation:
            check = permutation_check([read_json(path) for path in permutation], full)
            result["verdict"]["permutation_control"] = check
            sentences.append(check["sentence"])
        if shortcut:
            check = shortcut_check(read_tsv(shortcut))
            if check:
                result["verdict"]["shortcut_control"] = check
                sentences.append(check["sentence"])
    if tuning:  # the hyperparameter search: the budget every model had (seqtune.tuning)
        from .tuning import budget_sentence, read_studies

        studies = read_studies(list(tuning))
        result["verdict"]["sentences"].append(budget_sentence(studies))
        result["verdict"]["tuning"] = [{key: study[key] for key in ("study", "params", "budget", "value", "trials")}
                                       for study in studies]
    write_tsv(metrics_tsv, runs)
    write_tsv(gain_tsv, gains)
    write_json(metrics_json, finite_json(result))
    for sentence in result["verdict"]["sentences"]:
        log.info("%s", sentence)
    return records


def _cost(metrics_file: str) -> dict:
    """A run's cost.json beside its metrics.json (seqtune.pipeline.cost_path); empty when it has none."""
    from .pipeline import cost_path

    path = cost_path(metrics_file)
    return read_json(path) if path.is_file() else {}


def _test_predictions(metrics_files: list[str], records: list[dict]) -> dict:
    """(model, train_size, seed) -> (true class indices, probabilities) from each run's predictions.tsv; every run
    must be scored on the same test examples in the same order, or the paired bootstrap would be meaningless."""
    result, reference_ids, reference_path = {}, None, None
    for path, record in zip(metrics_files, records):
        ids, truth, probabilities, _, predicted = read_predictions(Path(path).with_name("predictions.tsv"),
                                                                   [str(c) for c in record["classes"]])
        if reference_ids is None:
            reference_ids, reference_path = ids, path
        elif not np.array_equal(ids, reference_ids):
            raise SeqtuneError(f"{path}: its test examples differ from those of {reference_path}; every run of a "
                               "study must be scored on the same test split (rerun the study from one split)")
        model = run_label(record["pretrained"], record["strategy"])
        result[(model, int(record["train_size"]), int(record["seed"]))] = (truth, probabilities, predicted)
    return result


def read_predictions(path, classes: list[str] | None = None) -> tuple:
    """(ids, true class indices, probabilities (N, K), classes, predicted class indices) from an evaluation's
    predictions.tsv; ``classes`` defaults to the order of its ``prob_<class>`` columns. The predicted classes are
    the run's decisions (at its decision threshold), not recomputed from the probabilities."""
    frame = read_tsv(path, text=True, dtype={"id": str, "true_label": str, "predicted_label": str})
    if classes is None:
        classes = [column[5:] for column in frame.columns if column.startswith("prob_")]
    truth = pd.Categorical(frame["true_label"], categories=classes).codes.astype(np.int64)
    predicted = pd.Categorical(frame["predicted_label"], categories=classes).codes.astype(np.int64)
    probabilities = frame[[f"prob_{c}" for c in classes]].to_numpy(dtype=float)
    return frame["id"].to_numpy(), truth, probabilities, classes, predicted


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
        # Drawn within the metric's range: a t-interval over 2 seeds can reach far outside it (the tables keep
        # the interval as computed) and would squash every curve.
        lowest = -1.0 if metric == "mcc" else 0.0
        low = group[f"{metric}_ci_low"].clip(lower=lowest)
        high = group[f"{metric}_ci_high"].clip(upper=1.0)
        if low.notna().all():
            axis.fill_between(group["train_size"], low, high, color=line.get_color(), alpha=0.15)
    axis.set_xscale("log")
    sizes = sorted(summary["train_size"].unique())
    axis.set_xticks(sizes, [str(s) for s in sizes])
    axis.axhline(0.5, color="grey", linewidth=0.8, linestyle=":")
    axis.set_xlabel("training examples (target task)")
    axis.set_ylabel(f"test {metric} (mean, 95% CI over seeds, within the metric's range)")
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
    """An HTML table, floats to ``digits`` places; a non-zero value that would round to 0 (a p-value of 0.0003)
    in scientific notation instead."""
    def number(value: float) -> str:
        if digits and value != 0 and abs(value) < 0.5 * 10 ** -digits:
            return f"{value:.1e}"
        return f"{value:.{digits}f}"
    return frame.to_html(index=False, float_format=number, na_rep="", border=0)


def _run_files(results: Path, runs: pd.DataFrame, step: str, name: str) -> dict:
    """Path of a per-run file for each (model, train_size, seed) present on disk."""
    found = {}
    for row in runs.itertuples():
        run = Path(step, str(row.pretrained), str(row.strategy), f"n{row.train_size}", f"seed{row.seed}")
        path = results / run / name
        if path.exists():
            found[(row.model, int(row.train_size), int(row.seed))] = path
    return found


def _seed_groups(predictions: dict, size: int) -> dict:
    """Per model: the ``read_predictions`` tuples of its seeds at one train size, from ``predictions``:
    (model, train_size, seed) -> ``read_predictions``' tuple."""
    groups = {}
    for (model, train_size, _), run in sorted(predictions.items()):
        if train_size == size:
            groups.setdefault(model, []).append(run)
    return groups


def _pooled(groups: dict) -> dict:
    """Per model: (true class indices, probabilities, classes, predicted class indices) of its seeds concatenated."""
    return {model: (np.concatenate([run[1] for run in runs]), np.vstack([run[2] for run in runs]), runs[0][3],
                    np.concatenate([run[4] for run in runs])) for model, runs in groups.items()}


def roc_pr_figure(groups: dict, size: int):
    """ROC and precision-recall curves per model (positive class, or micro-averaged one-vs-rest), averaged over
    seeds: each seed's curve is interpolated on a common grid of false positive rates (recalls) and the curves are
    averaged ("vertical averaging"), so the legend's AUC is the mean of the seeds' own AUROC, as in the tables.
    Pooling the seeds' scores instead mixes probabilities on different scales and draws a curve below every seed's.
    For two classes a dot marks the mean operating point of the runs' predicted labels (each seed at its own
    decision threshold). ``groups``: model -> ``read_predictions`` tuples of its seeds (``_seed_groups``)."""
    import matplotlib.pyplot as plt
    from sklearn.metrics import auc, precision_recall_curve, roc_curve

    grid = np.linspace(0, 1, 201)
    figure, (roc_axis, pr_axis) = plt.subplots(1, 2, figsize=(11, 4.5))
    for model, runs in sorted(groups.items()):
        roc_curves, pr_curves, areas, points = [], [], [], []
        for _, truth, probabilities, classes, predicted in runs:
            if len(classes) == 2:
                y, score = truth == 1, probabilities[:, 1]
            else:  # micro-average: every (example, class) pair is one binary decision
                y, score = (np.eye(len(classes))[truth] == 1).ravel(), probabilities.ravel()
            if y.all() or not y.any():
                continue  # one class in this seed's test split: no curve
            fpr, tpr, _ = roc_curve(y, score)
            precision, recall, _ = precision_recall_curve(y, score)
            roc_curves.append(np.interp(grid, fpr, tpr))
            pr_curves.append(np.interp(grid, recall[::-1], precision[::-1]))
            areas.append(auc(fpr, tpr))
            if len(classes) == 2:
                called = predicted == 1
                points.append((called[~y].mean(), called[y].mean(), y[called].mean() if called.any() else np.nan))
        if not roc_curves:
            continue
        line, = roc_axis.plot(grid, np.mean(roc_curves, axis=0), label=f"{model} ({np.mean(areas):.2f})")
        pr_axis.plot(grid, np.mean(pr_curves, axis=0), label=model)
        if points:
            false_rate, hit_rate, precision_at = np.nanmean(points, axis=0)
            roc_axis.plot(false_rate, hit_rate, "o", color=line.get_color())
            pr_axis.plot(hit_rate, precision_at, "o", color=line.get_color())
    roc_axis.plot([0, 1], [0, 1], color="grey", linestyle=":")
    roc_axis.set(xlabel="false positive rate", ylabel="true positive rate",
                 title=f"ROC, {size} training examples, mean over seeds")
    pr_axis.set(xlabel="recall", ylabel="precision",
                title=f"Precision-recall, {size} training examples, mean over seeds")
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
    for model, (truth, probabilities, classes, _) in sorted(pooled.items()):
        confidence = probabilities.max(axis=1)
        correct = probabilities.argmax(axis=1) == truth
        edges = np.linspace(0, 1, bins + 1)
        which = np.clip(np.digitize(confidence, edges) - 1, 0, bins - 1)
        ece = sum(abs(correct[which == b].mean() - confidence[which == b].mean()) * (which == b).mean()
                  for b in range(bins) if (which == b).any())
        brier = float(((probabilities - np.eye(len(classes))[truth]) ** 2).sum(axis=1).mean())
        rows.append({"model": model, "train_size": size, "ece": ece, "brier_sum": brier, "n": truth.size})
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
        truth, _, classes, predicted = pooled[model]
        matrix = confusion_matrix(truth, predicted, labels=range(len(classes)))
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
    gains = gains[gains["reference"] == "scratch"]
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


def _cost_section(runs: pd.DataFrame, gains: pd.DataFrame) -> str:
    """Cost beside gain: what each model cost to train (means over seeds) and what it gained over scratch."""
    from .stats import cost_summary

    table = cost_summary(runs, gains)
    if table.empty:
        return ""
    return ('<h2 id="cost">Cost beside gain</h2><p>Mean over seeds: trainable and total parameters, peak memory '
            "(the process's peak resident set on the CPU, the GPU's peak allocation on CUDA), training seconds "
            "(GPU-seconds on a GPU; a probe on cached embeddings also has their one-off <code>embedding_seconds</code>), "
            "and the mean gain over scratch. Seconds and memory are measurements of this machine: they differ "
            "between reruns, unlike the scores.</p>" + _table(table, digits=4))


def _one_class_runs(predictions: dict) -> str:
    """A note naming the runs whose every test prediction (at the run's decision threshold) is one class: their
    accuracy, balanced accuracy, F1 and MCC measure the threshold, not the ranking (AUROC and AUPRC do), so their
    means across models are not comparable. A model stopped at an early epoch can rank well and still sit on one
    side of 0.5, which ``evaluation.decision_threshold: validation`` corrects for binary targets.
    ``predictions``: (model, train_size, seed) -> ``read_predictions``' tuple."""
    flagged = []
    for (model, size, seed), (_, _, _, classes, predicted) in sorted(predictions.items()):
        predicted = np.unique(predicted)
        if len(classes) > 1 and predicted.size == 1:
            flagged.append(f"{model} at {size} (seed {seed}): all '{classes[predicted[0]]}'")
    if not flagged:
        return ""
    return (f'<p class="note">{len(flagged)} run(s) predict one class for every test sequence: '
            f"{html.escape('; '.join(flagged))}. Their accuracy, balanced accuracy, F1 and MCC reflect the decision "
            "threshold, not the ranking that AUROC and AUPRC measure, and pull the means of those metrics down; "
            "compare models on the ranking metrics.</p>")


def _deduplicated_section(leak: str | None, runs: pd.DataFrame, gains: pd.DataFrame, metric: str) -> tuple[str, str]:
    """The leakage warning above the verdict (empty when no test record leaks), and the summary and gain over
    scratch of every model on the test records left without the leaked ones (``eval_subset`` deduplicated)."""
    warning = f'<p class="warn">{html.escape(leak)}</p>' if leak else ""
    clean = on_subset(runs, "deduplicated") if "eval_subset" in runs.columns else pd.DataFrame()
    if clean.empty:
        return warning, ""
    summary = summarise(clean)
    n_test = sorted({int(n) for n in clean["n_test"].dropna()}) if "n_test" in clean.columns else []
    table = summary[["model", "train_size", "n_seeds", f"{metric}_mean", f"{metric}_sd", f"{metric}_ci_low",
                     f"{metric}_ci_high"]]
    clean_gains = gains[gains["eval_subset"] == "deduplicated"] if "eval_subset" in gains.columns else gains.iloc[:0]
    return warning, (f'<h3 id="deduplicated">Without leaked test records (eval_subset deduplicated)</h3><p>Every run '
                     f"rescored on the {', '.join(map(str, n_test)) or '?'} test records that no training or "
                     "validation record (nor the pretraining corpus) duplicates or nearly duplicates, at its own "
                     "decision threshold (identical to the rows above when none leak).</p>"
                     + _table(table) + _table(clean_gains))


def _leakage_section(leakage: str | None) -> str:
    if not leakage or not Path(leakage).exists():
        return "<p>No leakage report for this run.</p>"
    result = read_json(leakage)
    rows = []
    for key, value in result.items():
        if isinstance(value, dict):
            # counts and fractions (thresholds, containment) side by side: each number as it is, not rounded to 0
            counts = {k: f"{v:.4g}" for k, v in value.items()
                      if isinstance(v, (int, float)) and not isinstance(v, bool)}
            if counts:
                rows.append({"check": key, **counts})
    body = _table(pd.DataFrame(rows)) if rows else ""
    full = html.escape(json.dumps(result, indent=1)[:20000])
    return body + f"<details><summary>Full leakage report (JSON)</summary><pre>{full}</pre></details>"


def report(metrics_tsv: str, metrics_json: str, gain_tsv: str, split_summary: str, html_out: str,
           figure_out: str, config_text: str = "", leakage: str | None = None,
           interpretation: str | None = None, benchmarks: str | None = None, tuning: list[str] = ()) -> None:
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
    every_row = read_tsv(metrics_tsv, dtype={"n_test": "Int64", "best_epoch": "Int64"})
    runs = on_subset(every_row, "all")  # one row per run; the deduplicated rows get their own table below
    result = read_json(metrics_json)
    every_gain = read_tsv(gain_tsv)
    gains = on_subset(every_gain, "all")
    split = read_json(split_summary)
    metric = result["primary_metric"]
    summary = pd.DataFrame(result["summary"])
    sizes = sorted(int(size) for size in runs["train_size"].unique())
    seeds = sorted(int(seed) for seed in runs["seed"].unique())

    figure = learning_curve_figure(summary, metric)
    with atomic_path(figure_out) as tmp:
        Path(tmp).write_bytes(_figure_to_bytes(figure, "svg"))
    learning = _img(figure, "learning curves")

    # Each run's predictions, read once for the per-size figures and the one-class note.
    predictions = {run: read_predictions(path) for run, path in _run_files(results, runs, "evaluate",
                                                                             "predictions.tsv").items()}
    histories = _run_files(results, runs, "finetune", "history.tsv")
    per_size = []
    calibration_tables = []
    for size in (sizes[0], sizes[-1]) if len(sizes) > 1 else sizes:
        groups = _seed_groups(predictions, size)
        pooled = _pooled(groups)
        if not pooled:
            continue
        calibration_plot, calibration_table = calibration(pooled, size)
        calibration_tables.append(calibration_table)
        per_size.append(f"<h3>{size} training examples</h3>"
                        + _img(roc_pr_figure(groups, size), "ROC and PR")
                        + _img(confusion_figure(pooled, size), "confusion matrices")
                        + _img(calibration_plot, "reliability diagram"))
    training = _img(training_curves_figure(histories, sizes[0], seeds[0]), "training curves") if histories else ""
    gain_plot = _img(gain_figure(gains, metric), "gain over scratch") if len(gains) else ""

    one_class_note = _one_class_runs(predictions)
    tuned = "decision_threshold" in runs.columns and runs["decision_threshold"].notna().any()
    decision_note = ("<code>accuracy_mean</code> and <code>mcc_mean</code> score each run's predictions at the cut on "
                     "the positive class's probability chosen on its validation split (balanced accuracy maximised; "
                     "<code>decision_threshold</code> of every run below)" if tuned else
                     "<code>accuracy_mean</code> and <code>mcc_mean</code> score the most probable class")
    boot = [c for c in (f"{metric}_boot_low", f"{metric}_boot_high") if c in summary.columns]
    table = summary[["model", "train_size", "n_seeds"] + [f"{metric}_mean", f"{metric}_sd", f"{metric}_ci_low",
                                                          f"{metric}_ci_high", *boot, "accuracy_mean", "mcc_mean"]]
    versions = {"seqtune": __version__, "python": platform.python_version(), "torch": torch.__version__,
                "numpy": np.__version__, "pandas": pd.__version__, "scikit-learn": sklearn.__version__,
                "matplotlib": matplotlib.__version__}
    wall = _wall_times(results, runs, benchmarks)
    devices = sorted({str((read_json(path).get("provenance") or {}).get("device"))
                      for path in _run_files(results, runs, "evaluate", "metrics.json").values()} - {"None"})
    sentences = "".join(f"<li>{html.escape(s)}</li>" for s in result["verdict"]["sentences"])
    leak_warning, deduplicated_html = _deduplicated_section(result["verdict"].get("leakage"), every_row, every_gain,
                                                            metric)
    control = result["verdict"].get("shuffled_label_control")
    warning = ""
    status = control and (control.get("status") or ("passed" if control.get("at_chance") else "failed"))
    if status == "failed":
        warning = ('<p class="warn">Warning: the shuffled-label control is not at chance. Suspect leakage or a bug '
                   "before reading anything else.</p>")
    elif status == "inconclusive":
        warning = ('<p class="warn">Note: the shuffled-label control is inconclusive: its runs scatter too much to '
                   "tell chance from a departure (verdict below).</p>")
    for check in result["verdict"].get("negative_controls") or []:
        if not check["passed"]:
            warning += (f'<p class="warn">Warning: the negative control \'{html.escape(check["pretrained"])}\' helps '
                        "at some train size (verdict below): read the transfer gain as partly generic.</p>")
    cost_html = _cost_section(runs, gains)
    split_counts = pd.DataFrame(split["counts"]).fillna(0).astype(int)
    split_counts.index.name = "class"
    data_info = _data_info(results)
    interpretation_html = _interpretation_section(interpretation)
    if tuning:
        from .tuning import tuning_section

        interpretation_html = tuning_section(list(tuning), _img) + interpretation_html
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>seqtune report</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; line-height: 1.4; }}
table {{ border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }}
td, th {{ border: 1px solid #ccc; padding: 3px 6px; }}
th {{ background: #f0f0f0; }} .verdict {{ background: #eef6ee; padding: 0.5em 1em; border-left: 4px solid #4a4; }}
.warn {{ background: #fdecea; padding: 0.5em; border-left: 4px solid #c33; }}
pre {{ background: #f7f7f7; padding: 0.5em; overflow-x: auto; font-size: 0.8em; }} img {{ max-width: 100%; }}
nav a {{ margin-right: 1em; }}
</style></head><body>
<h1>seqtune: does fine-tuning beat training from scratch?</h1>
<nav><a href="#verdict">Verdict</a><a href="#curves">Learning curves</a><a href="#gain">Gain</a>
<a href="#runs">Per-run curves</a><a href="#training">Training</a><a href="#calibration">Calibration</a>
<a href="#interpretation">Interpretation</a><a href="#data">Data</a><a href="#run">Run</a></nav>
{leak_warning}
<div class="verdict" id="verdict"><h2>Verdict ({html.escape(metric)}, paired over seeds)</h2><ul>{sentences}</ul></div>
{warning}
<h2 id="curves">Learning curves</h2>
<p>Test {html.escape(metric)} against the number of training examples of the target task; bands are 95% confidence
intervals of the mean over seeds {seeds}. Dashed lines are baselines and the shuffled-label control. Models named
<code>strategy:pretrained</code> start from that pretrained model; <code>scratch</code> is the same architecture from
random weights with the same training budget.</p>
{learning}
<h3>Summary over seeds</h3>
<p><code>ci_low</code>/<code>ci_high</code>: 95% t-interval of the mean over seeds (luck of the training subset and
initialisation). <code>boot_low</code>/<code>boot_high</code>, when present: 95% percentile interval of the same seed
mean over bootstrap resamples of the test examples (luck of the finite test set). {decision_note}.</p>
{_table(table)}
{one_class_note}
<h2 id="gain">Gain over scratch (paired by seed)</h2>
<p>Per seed, the model's {html.escape(metric)} minus scratch's on the same training subset; mean, sd and 95% CI over
seeds, the paired t-test's p-value and effect size (d<sub>z</sub>); <code>boot_ci_low</code>/<code>boot_ci_high</code>:
the gain's interval over resampled test examples (one resample shared by both models, so it stays paired).</p>
{gain_plot}
{_table(gains)}
{deduplicated_html}
{cost_html}
<h2 id="runs">ROC, precision-recall and confusion matrices</h2>
<p>At the smallest and the largest train size. ROC and precision-recall curves are the mean of the seeds' curves
(each interpolated on a common grid), so the AUC in the legend is the mean of the seeds' own AUROC, as in the tables;
dots (two classes) mark the mean operating point of the runs' predicted labels, each seed at its own decision
threshold. Confusion matrices sum the seeds' test predictions.</p>
{"".join(per_size)}
<h2 id="training">Training curves</h2>
{training}
<h2 id="calibration">Calibration</h2>
<p>Expected calibration error (10 bins of top-class confidence) and Brier score, seeds pooled. The Brier score is
the squared error summed over the classes (0 to 2; with two classes, twice scikit-learn's
<code>brier_score_loss</code> of the positive class).</p>
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
{_table(every_row)}
<h2 id="run">Run</h2>
<p>Devices of the evaluations (from each run's provenance): {html.escape(", ".join(devices) or "not recorded")};
each training log names its own device. Seeds: config seed and run seeds {seeds}. Per stage: jobs and their summed
wall time and peak memory (MB) from Snakemake's benchmark files,
and the seconds spent in training epochs (the rest of a job is start-up, data loading and evaluation).</p>
{_table(wall, 1) if len(wall) else ""}
<pre>{html.escape(json.dumps(versions, indent=1))}</pre>
<details><summary>Configuration</summary><pre>{html.escape(config_text)}</pre></details>
</body></html>
"""
    plt.close("all")
    with atomic_open(html_out) as handle:
        handle.write(page)
    log.info("wrote %s", html_out)


# The folders under the benchmarks folder that the workflow's rules write (``benchmark:``; a test keeps the two in
# step). Other folders there belong to other studies (benchmarks/<results>/ when results is not "results").
BENCHMARKED_STAGES = ("simulate", "ingest", "import_model", "split", "leakage", "pretrain", "embed", "tune_trial",
                      "finetune", "evaluate", "baseline", "permutation_control", "shortcut_control", "interpret",
                      "variant_effect")


def _wall_times(results: Path, runs: pd.DataFrame, benchmarks: str | None = None) -> pd.DataFrame:
    """Per stage: jobs, summed wall time and peak memory from Snakemake's benchmark files (when ``benchmarks`` names
    their folder), and the training seconds summed over the epochs in the histories of this study's runs."""
    stages = {}
    if benchmarks and Path(benchmarks).is_dir():
        for stage in BENCHMARKED_STAGES:
            stage_dir = Path(benchmarks) / stage
            tables = [read_tsv(path) for path in sorted(stage_dir.rglob("*.tsv"))]
            tables = [table for table in tables if {"s", "max_rss"} <= set(table.columns) and len(table)]
            if tables:
                stages[stage] = {
                    "stage": stage, "jobs": len(tables),
                    "wall_seconds": float(sum(table["s"].iloc[-1] for table in tables)),
                    "max_rss_mb": float(max(pd.to_numeric(table["max_rss"], errors="coerce").max()
                                            for table in tables)),
                }
    # Only this study's runs: a results folder may keep histories of runs an earlier config had.
    histories = {
        "pretrain": [results / "pretrain" / str(name) / "history.tsv" for name in sorted(set(runs["pretrained"]))],
        "finetune": list(_run_files(results, runs, "finetune", "history.tsv").values()),
    }
    for step, paths in histories.items():
        total = sum(read_tsv(path)["seconds"].sum() for path in paths if path.is_file())
        stages.setdefault(step, {"stage": step})["training_seconds"] = float(total)
    return pd.DataFrame(list(stages.values()), columns=["stage", "jobs", "wall_seconds", "max_rss_mb",
                                                         "training_seconds"])


def _data_info(results: Path) -> str:
    rows = []
    for info_path in sorted((results / "data").glob("*/dataset.json")):
        info = read_json(info_path)
        rows.append({"data set": info_path.parent.name, "type": info.get("type"), "sequences": info.get("n_sequences"),
                     "length": info.get("length"), "classes": ", ".join(map(str, info.get("classes", []))),
                     # binary AUROC/AUPRC score output 1 (inputs.class_order)
                     "positive class": info["classes"][1] if info.get("type") == "binary" else "",
                     "class counts": ", ".join(f"{k}: {v}" for k, v in info.get("class_counts", {}).items())})
    return _table(pd.DataFrame(rows), 0) if rows else ""


METHOD_NAMES = {"ism": "ISM", "gradient_x_input": "grad×input"}
MEASURE_NAMES = {"auroc": "AUROC", "precision_at_k": "precision@k"}


def _mean_sd(mean, sd) -> str:
    if mean is None or not np.isfinite(mean):
        return ""
    return f"{mean:.3f}" + (f" ± {sd:.3f}" if sd is not None and np.isfinite(sd) else "")


def motif_recovery_figure(runs: pd.DataFrame):
    """Motif-recovery AUROC (label-relevant sites) per model and attribution method: mean over seeds as bars, each
    seed as a dot, chance (0.5) dotted."""
    import matplotlib.pyplot as plt

    models = sorted(runs["model"].unique(), key=lambda model: (model != "scratch", model))
    methods = list(METHOD_NAMES)
    figure, axis = plt.subplots(figsize=(7.5, 3.8))
    width = 0.8 / len(methods)
    for index, method in enumerate(methods):
        column = f"{method}_auroc"
        x = np.arange(len(models)) + (index - (len(methods) - 1) / 2) * width
        means = [runs.loc[runs["model"] == model, column].mean() for model in models]
        axis.bar(x, means, width, label=METHOD_NAMES[method], alpha=0.8)
        for position, model in zip(x, models):
            values = runs.loc[runs["model"] == model, column].to_numpy()
            axis.plot(np.full(values.size, position), values, "o", color="black", markersize=3)
    axis.axhline(0.5, color="grey", linewidth=0.8, linestyle=":")
    axis.set_xticks(np.arange(len(models)), models)
    axis.set_ylim(0, 1)
    axis.set_ylabel("motif-recovery AUROC\n(label-relevant sites)")
    axis.legend(fontsize=8, loc="lower right")
    axis.grid(alpha=0.3, axis="y")
    figure.tight_layout()
    return figure


def _recovery_table(summary: pd.DataFrame, sites: str) -> pd.DataFrame:
    """Models as rows, 'mean ± sd' of each method x measure as columns, for one site set."""
    part = summary[summary["sites"] == sites]
    rows = []
    for (model, size), group in part.groupby(["model", "train_size"], sort=False):
        row = {"model": model, "train size": int(size), "seeds": int(group["n_seeds"].max())}
        for entry in group.itertuples():
            row[f"{METHOD_NAMES[entry.method]} {MEASURE_NAMES[entry.measure]}"] = _mean_sd(entry.mean, entry.sd)
        rows.append(row)
    frame = pd.DataFrame(rows)
    return frame.sort_values("model", key=lambda column: column != "scratch", kind="stable")


def _versus_scratch_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Each pretrained-then-fine-tuned model beside scratch, per method x measure (label-relevant sites), with the
    paired difference."""
    part = summary[summary["sites"] == "relevant"]
    scratch = part[part["model"] == "scratch"].set_index(["train_size", "method", "measure"])
    rows = []
    for entry in part[part["model"] != "scratch"].itertuples():
        key = (entry.train_size, entry.method, entry.measure)
        reference = scratch.loc[key] if key in scratch.index else None
        low, high = entry.minus_scratch_ci_low, entry.minus_scratch_ci_high
        rows.append({
            "model": entry.model, "train size": int(entry.train_size), "method": METHOD_NAMES[entry.method],
            "measure": MEASURE_NAMES[entry.measure], "model mean ± sd": _mean_sd(entry.mean, entry.sd),
            "scratch mean ± sd": "" if reference is None else _mean_sd(reference["mean"], reference["sd"]),
            "difference (paired)": "" if not np.isfinite(entry.minus_scratch_mean) else
            f"{entry.minus_scratch_mean:+.3f}" + (f" [{low:+.3f}, {high:+.3f}]" if np.isfinite(low) else ""),
            "p (paired t)": entry.minus_scratch_p_value})
    return pd.DataFrame(rows)


def _filter_table(filters: pd.DataFrame) -> pd.DataFrame:
    """Motifs as rows, each model's best first-layer filter similarity (mean ± sd over seeds) as columns, beside the
    similarity of position-shuffled filters (chance)."""
    rows = []
    for (motif_id, name), group in filters.groupby(["motif_id", "motif_name"], sort=False):
        row = {"motif": f"{name} ({motif_id})", "label-relevant": "yes" if group["relevant"].any() else "no"}
        for entry in group.sort_values("model", key=lambda column: column != "scratch", kind="stable").itertuples():
            row[entry.model] = _mean_sd(entry.similarity_mean, entry.similarity_sd)
        row["chance (shuffled filters)"] = f"{group['chance_mean'].mean():.3f}"
        rows.append(row)
    return pd.DataFrame(rows)


def _png(path: str | os.PathLike, alt: str) -> str:
    data = Path(path).read_bytes()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def _interpretation_section(interpretation: str | None) -> str:
    """The report's interpretation section from the JSON of ``interpret.summarise_interpretation``."""
    if not interpretation or not Path(interpretation).exists():
        return ("<p>Interpretation was not run for this study: it needs a simulated target (the planted sites are the "
                "ground truth) and <code>interpretation.enabled: true</code>.</p>")
    result = read_json(interpretation)
    settings = result.get("settings", {})
    summary = pd.DataFrame(result["summary"]).astype({"mean": float, "sd": float})
    for column in [c for c in summary.columns if c.startswith("minus_scratch_")]:
        summary[column] = summary[column].astype(float)
    runs = pd.DataFrame(result["runs"])
    for column in [c for c in runs.columns if c.startswith(tuple(METHOD_NAMES))]:
        runs[column] = runs[column].astype(float)  # null (no sites) -> NaN
    sentences = "".join(f"<li>{html.escape(sentence)}</li>" for sentence in result.get("sentences", []))
    per_motif = pd.DataFrame(result.get("per_motif", []))
    filters = pd.DataFrame(result.get("filters", []))
    names = dict(zip(filters["motif_id"], filters["motif_name"])) if len(filters) else {}
    relevant = ", ".join(f"{names.get(motif_id, motif_id)} ({motif_id})"
                         for motif_id in settings.get("relevant_motifs") or []) or "all planted motifs"
    parts = [f"""<p>Which bases drive each model's prediction, and do they fall on the motifs that decide the label?
On {settings.get("n_sequences")} test sequences (the same for every model; {html.escape(str(settings.get("target")))}
attributed, as the {html.escape(str(settings.get("score")))}), in-silico saturation mutagenesis (ISM: the effect of
every single-base substitution) and gradient × input give one importance per position
(<code>{html.escape(str(settings.get("position_score")))}</code>, window {settings.get("window")}). Motif recovery
scores them against the planted sites: AUROC for "this position lies in a site" (0.5 is chance) and precision@k (of the
k top-scoring positions, k the number of site positions, the fraction inside a site). Label-relevant sites are those of
{html.escape(relevant)}; distractors are planted regardless of the label, so a model that learnt the grammar ignores
them.</p>""", f"<ul>{sentences}</ul>"]
    if len(runs):
        parts.append(_img(motif_recovery_figure(runs), "motif recovery AUROC per model"))
    parts += ["<h3>Motif recovery, label-relevant sites (mean ± sd over seeds)</h3>",
              _table(_recovery_table(summary, "relevant")),
              "<h3>Pretrained then fine-tuned against scratch</h3>",
              "<p>Per seed, the fine-tuned model's motif recovery minus scratch's (same training subset); mean and 95% "
              "CI over seeds. A positive difference: pretraining made the model attend to the motifs more.</p>",
              _table(_versus_scratch_table(summary)),
              "<h3>Motif recovery, all planted sites (distractors included)</h3>",
              _table(_recovery_table(summary, "all"))]
    if len(per_motif):
        ism = per_motif[per_motif["method"] == "ism"].astype({"auroc_mean": float})
        table = ism.pivot_table(index="model", columns="motif_id", values="auroc_mean").rename(
            columns=lambda motif_id: f"{names.get(motif_id, motif_id)} ({motif_id})")
        table.columns.name = None
        parts += ["<h3>Which motifs each model attends to (ISM AUROC against one motif's sites, mean over seeds)</h3>",
                  _table(table.reset_index())]
    if len(filters):
        parts += ["<h3>First-layer filters against JASPAR</h3>",
                  "<p>For each motif, the first-layer convolution filter that matches it best (Pearson r of the "
                  "position-centred filter weights against the motif's log-odds, best offset and strand), mean ± sd "
                  "over seeds; chance is the same with each filter's positions shuffled. A linear probe keeps the "
                  "pretrained filters, so its seeds agree exactly.</p>",
                  _table(_filter_table(filters))]
    plots = [plot for plot in result.get("plots", []) if Path(plot["path"]).exists()]
    if plots:
        parts.append("<h3>Attributions on test sequences</h3><p>Per position, the reference base's attribution to the "
                     f"target class ({html.escape(METHOD_NAMES.get(plots[0]['method'], plots[0]['method']))}), "
                     "coloured by base; grey spans are the planted sites (distractors marked \"not relevant\"). Each "
                     "model at its first seed, on the same sequences.</p>")
        for plot in sorted(plots, key=lambda plot: (plot["model"] != "scratch", plot["model"])):
            parts.append(f"<h4>{html.escape(plot['model'])}, {plot['train_size']} training examples, seed "
                         f"{plot['seed']}</h4>" + _png(plot["path"], f"attributions of {plot['model']}"))
    parts.append("<details><summary>Every interpreted run</summary>" + _table(runs) + "</details>")
    return "".join(parts)
