"""Aggregation and statistics over runs: means with spread, paired gains over scratch, the verdict.

Every comparison against ``scratch`` is paired: runs that share a train size and a seed share their training subset
(see ``split.training_subset``), so the per-seed differences remove the subset's luck from the comparison.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pandas as pd
from scipy import stats as sps

from .metrics import (CONFUSION_METRICS, METRIC_NAMES, auroc_rows, average_precision_rows, confusion_rows,
                      metric_from_confusion)

DEEP_EXCLUDED = {"kmer_logreg", "onehot_logreg", "shuffled_labels"}
BASELINE_STRATEGIES = ("kmer_logreg", "onehot_logreg")
# metrics.tsv's cost columns; gpu_seconds is empty on the CPU, embedding_seconds for probes on cached embeddings.
COST_COLUMNS = ("trainable_parameters", "total_parameters", "peak_memory_mb", "train_seconds", "gpu_seconds",
                "embedding_seconds")


def run_label(pretrained: str, strategy: str) -> str:
    return strategy if pretrained in ("none", "", None) else f"{strategy}:{pretrained}"


def runs_table(records: list[dict]) -> pd.DataFrame:
    """One row per run, with identity columns first and the test metrics after."""
    frame = pd.DataFrame(records)
    frame["model"] = [run_label(p, s) for p, s in zip(frame["pretrained"], frame["strategy"])]
    identity = ["model", "strategy", "pretrained", "train_size", "seed"]
    if "eval_subset" in frame.columns:  # all test records, or without the leaked ones (seqtune.leakage)
        identity.append("eval_subset")
    if "decision" in frame.columns:  # the cut behind accuracy ... MCC (empty: the most probable class)
        frame["decision_threshold"] = [decision.get("threshold") if isinstance(decision, dict) else None
                                       for decision in frame["decision"]]
        frame["decision_threshold"] = frame["decision_threshold"].astype(float)
    if "cost" in frame.columns:  # what each run cost (seqtune.pipeline.run_cost): parameters, memory, seconds
        for column in COST_COLUMNS:
            frame[column] = [cost.get(column) if isinstance(cost, dict) else None for cost in frame["cost"]]
            frame[column] = frame[column].astype(float)
    columns = identity + list(METRIC_NAMES) + [c for c in ("n_test", "best_epoch", "decision_threshold")
                                               if c in frame.columns]
    columns += [c for c in COST_COLUMNS if c in frame.columns]
    for column in ("n_test", "best_epoch"):  # whole numbers, missing for baselines (no epochs)
        if column in frame.columns:
            frame[column] = frame[column].astype("Int64")
    order = ["model", "train_size", "seed"] + (["eval_subset"] if "eval_subset" in frame.columns else [])
    return frame[columns].sort_values(order).reset_index(drop=True)


def on_subset(frame: pd.DataFrame, subset: str = "all") -> pd.DataFrame:
    """The rows of one ``eval_subset`` (all of them for a table written before the column existed)."""
    if "eval_subset" not in frame.columns:
        return frame
    return frame[frame["eval_subset"] == subset].reset_index(drop=True)


def transfer_gain_by_subset(runs: pd.DataFrame, metric: str = "auroc") -> pd.DataFrame:
    """:func:`transfer_gain` on each ``eval_subset`` of ``runs``, with an ``eval_subset`` column after ``reference``."""
    if "eval_subset" not in runs.columns:
        return transfer_gain(runs, metric)
    parts = []
    for subset in sorted(runs["eval_subset"].unique()):
        gains = transfer_gain(on_subset(runs, subset), metric)
        gains.insert(2, "eval_subset", subset)
        parts.append(gains)
    return pd.concat(parts, ignore_index=True)


def mean_ci(values, confidence: float = 0.95) -> dict:
    """Mean, standard deviation and a t-distribution confidence interval of the mean (NaN bounds for n < 2)."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    n = values.size
    if n == 0:
        return {"n": 0, "mean": math.nan, "sd": math.nan, "ci_low": math.nan, "ci_high": math.nan}
    mean = float(values.mean())
    if n < 2:
        return {"n": 1, "mean": mean, "sd": math.nan, "ci_low": math.nan, "ci_high": math.nan}
    sd = float(values.std(ddof=1))
    half = float(sps.t.ppf(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n))
    return {"n": int(n), "mean": mean, "sd": sd, "ci_low": mean - half, "ci_high": mean + half}


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean, sd and 95% CI over seeds for each model x train size and metric."""
    rows = []
    for (model, size), group in runs.groupby(["model", "train_size"], sort=True):
        row = {"model": model, "strategy": group["strategy"].iloc[0], "pretrained": group["pretrained"].iloc[0],
               "train_size": int(size), "n_seeds": int(group["seed"].nunique())}
        for metric in METRIC_NAMES:
            for key, value in mean_ci(group[metric]).items():
                if key != "n":
                    row[f"{metric}_{key}"] = value
        rows.append(row)
    return pd.DataFrame(rows)


def paired_difference(runs: pd.DataFrame, model: str, reference: str, train_size: int, metric: str) -> dict | None:
    """Paired difference ``model - reference`` over the seeds both have, with CI, paired t-test and effect size."""
    selected = runs[runs["train_size"] == train_size]
    a = selected[selected["model"] == model].set_index("seed")[metric]
    b = selected[selected["model"] == reference].set_index("seed")[metric]
    seeds = a.index.intersection(b.index)
    if len(seeds) == 0:
        return None
    differences = (a.loc[seeds] - b.loc[seeds]).to_numpy(dtype=float)
    result = mean_ci(differences)
    if len(seeds) >= 2 and np.std(differences) > 0:
        result["p_value"] = float(sps.ttest_rel(a.loc[seeds], b.loc[seeds]).pvalue)
        result["effect_size_dz"] = float(differences.mean() / differences.std(ddof=1))
    else:
        result["p_value"] = math.nan
        result["effect_size_dz"] = math.nan
    result.update({"model": model, "reference": reference, "train_size": int(train_size), "metric": metric})
    return result


def transfer_gain(runs: pd.DataFrame, metric: str = "auroc") -> pd.DataFrame:
    """Every model against ``scratch`` at every train size (paired over seeds); and each model fine-tuned from a
    Hugging Face checkpoint against ``random_init:<model>``, the same architecture from random weights (what
    pretraining adds, apart from what the architecture adds)."""
    rows = []
    models = set(runs["model"])
    for model in sorted(models - {"scratch"}):
        references = ["scratch"]
        pretrained = runs.loc[runs["model"] == model, "pretrained"].iloc[0]
        random_init = run_label(pretrained, "random_init")
        if random_init in models and model != random_init and not model.startswith("shuffled_labels"):
            references.append(random_init)
        for reference in references:
            for size in sorted(runs["train_size"].unique()):
                result = paired_difference(runs, model, reference, size, metric)
                if result is not None:
                    rows.append(result)
    columns = ["model", "reference", "train_size", "metric", "n", "mean", "sd", "ci_low", "ci_high", "p_value",
               "effect_size_dz"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.rename(columns={"mean": "mean_gain", "sd": "sd_gain", "n": "n_seeds"})


def cost_summary(runs: pd.DataFrame, gains: pd.DataFrame) -> pd.DataFrame:
    """Per model x train size: mean cost over seeds (parameters, peak memory, training seconds) beside the mean gain
    over scratch, for choosing between a probe, LoRA and full fine-tuning by what each costs."""
    present = [column for column in COST_COLUMNS if column in runs.columns and runs[column].notna().any()]
    if not present:
        return pd.DataFrame()
    table = runs.groupby(["model", "train_size"], sort=True)[present].mean().reset_index()
    over_scratch = gains[gains["reference"] == "scratch"][["model", "train_size", "mean_gain"]] if len(gains) else \
        pd.DataFrame(columns=["model", "train_size", "mean_gain"])
    return table.merge(over_scratch.rename(columns={"mean_gain": "gain_over_scratch"}), on=["model", "train_size"],
                       how="left")


def verdict(runs: pd.DataFrame, summary: pd.DataFrame, metric: str = "auroc",
            negative_controls: tuple[str, ...] | list[str] = (), leakage: dict | None = None,
            deduplicated: pd.DataFrame | None = None) -> dict:
    """Per train size: the best deep model against scratch and against the best baseline; the shuffled-label check
    (``_shuffled_check``); each negative control's check; and plain sentences saying what they mean.

    ``negative_controls``: pretrained models whose corpus shares nothing with the target. They never count as the
    best model; instead each gets its own check (below). ``leakage``: the split's leakage report; when test records
    leak, the first sentence says how many and of which kind, and with ``deduplicated`` (the runs scored without
    them, ``eval_subset`` deduplicated) each train size's best model is compared with scratch on those too.
    """
    from .leakage import leakage_sentence

    per_size = []
    sentences = []
    leak = leakage_sentence(leakage) if leakage else None
    if leak:
        sentences.append(leak)
    deep = summary[~summary["strategy"].isin(DEEP_EXCLUDED) & ~summary["pretrained"].isin(list(negative_controls))]
    baselines = summary[summary["strategy"].isin(BASELINE_STRATEGIES)]
    for size in sorted(summary["train_size"].unique()):
        entry = {"train_size": int(size)}
        at_size = deep[deep["train_size"] == size]
        # random_init is a reference trained from random weights, not a transfer
        transferred = at_size[(at_size["model"] != "scratch") & (at_size["strategy"] != "random_init")]
        if transferred.empty:
            continue
        best = transferred.sort_values(f"{metric}_mean", ascending=False).iloc[0]["model"]
        entry["best_model"] = best
        entry["vs_scratch"] = paired_difference(runs, best, "scratch", size, metric)
        base_at = baselines[baselines["train_size"] == size]
        if not base_at.empty:
            best_baseline = base_at.sort_values(f"{metric}_mean", ascending=False).iloc[0]["model"]
            entry["best_baseline"] = best_baseline
            entry["vs_baseline"] = paired_difference(runs, best, best_baseline, size, metric)
        per_size.append(entry)
        sentences.append(_sentence(entry, metric))
        if leak and deduplicated is not None and leakage.get("policy") != "exclude":
            clean = paired_difference(deduplicated, best, "scratch", size, metric)
            entry["vs_scratch_deduplicated"] = clean
            n_clean = deduplicated.loc[deduplicated["train_size"] == size, "n_test"]
            sentences.append(f"At {int(size)} training examples without the leaked test records "
                             f"({int(n_clean.iloc[0]) if len(n_clean) else '?'} left), {best} minus scratch: "
                             f"{metric} {_describe(clean)}.")
    architecture = _architecture_checks(runs, deep, metric)
    sentences += [check["sentence"] for check in architecture]
    control = _shuffled_check(runs)
    if control:
        sentences.append(control["sentence"])
    checks = [_negative_control_check(runs, summary, name, metric) for name in negative_controls]
    checks = [check for check in checks if check]
    sentences += [check["sentence"] for check in checks]
    return {"metric": metric, "leakage": leak, "per_train_size": per_size, "shuffled_label_control": control,
            "negative_controls": checks, "pretraining_vs_architecture": architecture, "sentences": sentences}


def _architecture_checks(runs: pd.DataFrame, deep: pd.DataFrame, metric: str) -> list[dict]:
    """Per pretrained model with a ``random_init`` reference (a Hugging Face checkpoint), per train size: its best
    strategy against the same architecture from random weights. Against scratch (seqtune's CNN) a gain mixes what
    pretraining and what the architecture add; against random_init only pretraining differs."""
    checks = []
    for pretrained in sorted(deep.loc[deep["strategy"] == "random_init", "pretrained"].unique()):
        reference = run_label(pretrained, "random_init")
        own = deep[(deep["pretrained"] == pretrained) & (deep["strategy"] != "random_init")]
        parts = []
        for size in sorted(own["train_size"].unique()):
            at_size = own[own["train_size"] == size]
            best = at_size.sort_values(f"{metric}_mean", ascending=False).iloc[0]["model"]
            diff = paired_difference(runs, best, reference, size, metric)
            parts.append({"train_size": int(size), "model": best, "vs_random_init": diff})
        if not parts:
            continue
        described = "; ".join(f"at {p['train_size']}, {p['model']} {_describe(p['vs_random_init'])}" for p in parts)
        checks.append({"pretrained": pretrained, "reference": reference, "per_train_size": parts,
                       "sentence": f"What pretraining '{pretrained}' adds, apart from its architecture (its best "
                                   f"strategy minus {reference}, the same architecture from random weights with the "
                                   f"same budget, paired over seeds): {described}."})
    return checks


def _negative_control_check(runs: pd.DataFrame, summary: pd.DataFrame, pretrained: str, metric: str) -> dict | None:
    """A pretraining that shares nothing with the target must not help. At each train size its best strategy (the
    one with the highest mean, the least favourable for the check) is compared with scratch, paired by seed; the
    control fails where that gain's 95% CI lies above zero."""
    rows = summary[(summary["pretrained"] == pretrained) & ~summary["strategy"].isin(DEEP_EXCLUDED)]
    if rows.empty:
        return None
    per_size = []
    for size in sorted(rows["train_size"].unique()):
        at_size = rows[rows["train_size"] == size]
        best = at_size.sort_values(f"{metric}_mean", ascending=False).iloc[0]["model"]
        diff = paired_difference(runs, best, "scratch", size, metric)
        if diff is None:
            continue
        helps = bool(diff["n"] >= 2 and diff["ci_low"] > 0)
        per_size.append({"train_size": int(size), "model": best, "vs_scratch": diff, "helps": helps})
    if not per_size:
        return None
    failed = [entry for entry in per_size if entry["helps"]]
    described = "; ".join(f"at {e['train_size']}, {e['model']} {_describe(e['vs_scratch'])}" for e in per_size)
    if failed:
        sentence = (f"The negative control '{pretrained}' (pretraining meant to share nothing with the target's "
                    f"labels) HELPS where its gain's interval is above zero: {described}. Then part of the transfer "
                    "gain is not specific to the target's labels: a generic benefit of any pretrained "
                    "initialisation, what the corpora share besides their motifs (simulated corpora share the top-level "
                    "background unless a data set sets its own), or motifs like the target's after all "
                    "(`seqtune unrelated-motifs` lists motifs unlike them).")
    else:
        sentence = (f"The negative control '{pretrained}' (pretraining meant to share nothing with the target's "
                    f"labels) does not help, as it must not (best strategy against scratch, paired over seeds): "
                    f"{described}.")
    return {"pretrained": pretrained, "per_train_size": per_size, "passed": not failed, "sentence": sentence}


def _describe(diff: dict | None) -> str:
    if diff is None or diff["n"] == 0:
        return "no paired runs"
    if diff["n"] < 2:
        return f"{diff['mean']:+.3f} (one seed, no interval)"
    return f"{diff['mean']:+.3f} (95% CI {diff['ci_low']:+.3f} to {diff['ci_high']:+.3f}, {diff['n']} seeds)"


def _sentence(entry: dict, metric: str) -> str:
    diff = entry["vs_scratch"]
    best = entry["best_model"]
    if diff and diff["n"] >= 2 and diff["ci_low"] > 0:
        head = f"At {entry['train_size']} training examples, {best} beats scratch: {metric} {_describe(diff)}"
    elif diff and diff["n"] >= 2 and diff["ci_high"] < 0:
        head = f"At {entry['train_size']} training examples, {best} is worse than scratch: {metric} {_describe(diff)}"
    else:
        head = (f"At {entry['train_size']} training examples, {best} and scratch are not distinguishable: "
                f"{metric} {_describe(diff)}{_seeds_note(diff)}")
    if "vs_baseline" in entry:
        base = entry["vs_baseline"]
        if base and base["n"] >= 2 and base["ci_low"] > 0:
            tail = f"; it beats the best baseline ({entry['best_baseline']}) by {_describe(base)}"
        elif base and base["n"] >= 2 and base["ci_high"] < 0:
            reversed_gap = {**base, "mean": -base["mean"], "ci_low": -base["ci_high"], "ci_high": -base["ci_low"]}
            tail = f"; the baseline {entry['best_baseline']} is better, by {_describe(reversed_gap)}"
        else:
            tail = (f"; it and the best baseline ({entry['best_baseline']}) are not distinguishable: "
                    f"{best} minus baseline {_describe(base)}{_seeds_note(base)}")
        head += tail
    return head + "."


# ------------------------------------------------------------------------------- seeds an undecided verdict needs
POWER, ALPHA, MAX_SEEDS = 0.8, 0.05, 1000


def paired_t_power(effect_size: float, n: int, alpha: float = ALPHA) -> float:
    """Power of the two-sided paired t-test (one-sample t on the n differences) at standardised effect size
    ``effect_size`` (mean difference / sd of the differences): the non-central t's mass beyond the critical value."""
    if n < 2:
        return 0.0
    df = n - 1
    critical = sps.t.ppf(1 - alpha / 2, df)
    shift = abs(effect_size) * math.sqrt(n)
    upper, lower = sps.nct.sf(critical, df, shift), sps.nct.cdf(-critical, df, shift)
    # scipy's non-central t returns NaN for a vanishing tail far from its centre: that tail is 0 (or 1 above)
    upper = float(upper) if np.isfinite(upper) else 1.0
    lower = float(lower) if np.isfinite(lower) else 0.0
    return upper + lower


def seeds_needed(mean: float, sd: float, power: float = POWER, alpha: float = ALPHA) -> int | None:
    """The smallest number of seeds with which the paired t-test detects a gain of ``mean`` at spread ``sd`` with
    ``power`` (two-sided ``alpha``); None when no gain is there to detect, or more than ``MAX_SEEDS`` would be
    needed."""
    if not (np.isfinite(mean) and np.isfinite(sd)) or sd <= 0 or mean == 0:
        return None
    d = abs(mean) / sd
    n = 2
    while paired_t_power(d, n, alpha) < power:
        n = n + 1 if n < 64 else int(n * 1.1) + 1
        if n > MAX_SEEDS:
            return None
    if n > 64:  # coarse steps above 64: walk back to the smallest
        while n > 64 and paired_t_power(d, n - 1, alpha) >= power:
            n -= 1
    return n


def detectable_gain(sd: float, n: int, power: float = POWER, alpha: float = ALPHA) -> float:
    """The smallest gain the paired t-test detects with ``power`` over ``n`` seeds at spread ``sd`` (d_min x sd)."""
    from scipy.optimize import brentq

    if n < 2 or not np.isfinite(sd) or sd <= 0:
        return math.nan
    d_min = brentq(lambda d: paired_t_power(d, n, alpha) - power, 1e-6, 50.0)
    return float(d_min * sd)


def _seeds_note(diff: dict | None) -> str:
    """What an undecided comparison needs: the seeds that would resolve a gain of the observed size at the observed
    spread (paired t, 80% power), and the smallest gain the current seeds detect. Recorded in ``diff`` too."""
    if not diff or diff["n"] < 2:
        return "; one seed gives no interval: run at least 3 seeds (finetune.seeds)"
    needed = seeds_needed(diff["mean"], diff["sd"])
    detectable = detectable_gain(diff["sd"], diff["n"])
    diff["seeds_needed"], diff["detectable_gain"] = needed, detectable
    if needed is None:
        size = f"a gain of {diff['mean']:+.3f} at this spread would need more than {MAX_SEEDS} seeds"
    else:
        size = f"a gain of {diff['mean']:+.3f} at this spread needs about {needed} seeds"
    return (f"; with {diff['n']} seeds, {size} (paired t, 80% power), and the current seeds detect gains above "
            f"{detectable:.3f}")


CHANCE_TOLERANCE = 0.05  # a departure of the control's mean AUROC from 0.5 smaller than this is immaterial
CHANCE_MARGIN = 0.1  # a passing control's 95% CI rules out departures this large


def _shuffled_check(runs: pd.DataFrame) -> dict | None:
    """The shuffled-label control, judged on AUROC whatever the primary metric: a model fitted to permuted labels has
    AUROC 0.5 in expectation on any test set and class balance. Single runs need not sit at 0.5: such a model can
    still learn features that follow the classes from the sequences alone (a pretrained backbone already has them),
    and its score then lands on either side of 0.5 by the sign it happens to take. So the check is on the mean over
    runs, with its 95% CI over seeds (t; runs of one seed share their initialisation and, nested, their training
    examples, so the seed is the independent unit: its runs are averaged first):

    * failed: the CI excludes 0.5 and the mean is more than ``CHANCE_TOLERANCE`` away (leakage or a bug);
    * passed: not failed, and the CI lies within 0.5 +- ``CHANCE_MARGIN`` (one run: within the tolerance);
    * inconclusive: neither; the runs scatter too much to tell, and more seeds narrow the interval.
    """
    control = runs[runs["strategy"] == "shuffled_labels"]
    if control.empty:
        return None
    per_seed = control.groupby("seed")["auroc"].mean()
    stats = mean_ci(per_seed)
    stats["runs"] = int(control["auroc"].notna().sum())
    pretrained = str(control["pretrained"].iloc[0])
    from_scratch = pretrained in ("none", "", "None")
    mean, low, high = stats["mean"], stats["ci_low"], stats["ci_high"]
    material = bool(np.isfinite(mean) and abs(mean - 0.5) > CHANCE_TOLERANCE)
    if stats["n"] >= 2:
        failed = material and (low > 0.5 or high < 0.5)
        passed = not failed and 0.5 - CHANCE_MARGIN <= low and high <= 0.5 + CHANCE_MARGIN
    else:
        failed, passed = False, bool(np.isfinite(mean) and not material)
    status = "failed" if failed else "passed" if passed else "inconclusive"
    values = control["auroc"].dropna()
    stats.update({"metric": "auroc", "start": "scratch" if from_scratch else pretrained, "status": status,
                  "at_chance": status == "passed",
                  "runs_range": [float(values.min()), float(values.max())] if len(values) else None})
    interval = f"95% CI {low:.3f} to {high:.3f}, " if stats["n"] >= 2 else ""
    head = (f"The shuffled-label control ({'from scratch' if from_scratch else 'from ' + pretrained}) scores AUROC "
            f"{mean:.3f} ({interval}over {stats['n']} seeds, {stats['runs']} runs)")
    if status == "passed":
        stats["sentence"] = head + ": at chance, as it must be."
    elif status == "failed":
        stats["sentence"] = (head + ": NOT at chance. This points to leakage between splits or a bug, so do not "
                             "trust the other numbers until it is explained.")
    else:
        stats["sentence"] = (
            head + f": inconclusive. Its interval (runs from {values.min():.3f} to {values.max():.3f}) is too wide "
            f"to rule out a departure of {CHANCE_MARGIN} from chance. A model fitted to shuffled labels can still learn "
            "features that follow the classes from the sequences alone and land on either side of 0.5; more seeds "
            "narrow the interval."
            + ("" if from_scratch else " From a pretrained start this is expected (its features already separate "
               "the classes); set controls.shuffled_labels.strategy: scratch."))
    return stats


# ----------------------------------------------------------------------------------- bootstrap over test examples
# The seeds' spread says how much a result depends on the training subset and initialisation; it says nothing about
# the finite test set. Every run of a study is scored on the same test split, so resampling test examples (the same
# resample for every run) gives a second interval: for a model's seed-mean metric, and for its paired gain over
# scratch. scipy.stats.bootstrap draws the resamples and computes the percentile interval.

def metric_on_resamples(truth: np.ndarray, probabilities: np.ndarray, indices: np.ndarray, metric: str,
                        predicted: np.ndarray | None = None) -> np.ndarray:
    """``metric`` of predictions ``probabilities`` (N, K) against ``truth`` (N,) on each row of ``indices`` (B, n).

    Every metric is computed for all rows at once, by scikit-learn's definitions as ``classification_metrics`` uses
    them (tested equal on every resample): AUROC and AUPRC of the positive class when K = 2 and as macro one-vs-rest
    means when K > 2, and the metrics of the confusion matrix of the ``predicted`` classes (N,), the run's decisions
    (its predictions.tsv); the most probable class when not given."""
    n_classes = probabilities.shape[1]
    indices = np.atleast_2d(indices)
    if metric in ("auroc", "auprc"):
        per_class = auroc_rows if metric == "auroc" else average_precision_rows
        if n_classes == 2:
            return per_class(truth[indices], probabilities[:, 1][indices])
        # A class absent from a resample makes its AUROC NaN (so the mean is NaN, as in sklearn) and its AUPRC 0.
        resampled = truth[indices]
        return np.mean([per_class(resampled == c, probabilities[:, c][indices]) for c in range(n_classes)], axis=0)
    if metric in CONFUSION_METRICS:
        predicted = probabilities.argmax(axis=1) if predicted is None else predicted
        confusion = confusion_rows(truth[indices], predicted[indices], n_classes)
        return metric_from_confusion(metric, confusion)
    raise ValueError(f"unknown metric '{metric}'; known: {', '.join(METRIC_NAMES)}")


def bootstrap_interval(statistic, n_test: int, n_resamples: int, seed: int, confidence: float = 0.95) -> tuple:
    """Percentile interval of ``statistic(indices)`` over resamples of the ``n_test`` test examples (NaN when
    ``n_resamples`` is 0 or the statistic is undefined on some resample)."""
    from scipy.stats import bootstrap

    if n_resamples < 1 or n_test < 2:
        return math.nan, math.nan

    def vectorized(indices, axis=-1):
        indices = np.moveaxis(np.asarray(indices, dtype=np.int64), axis, -1)
        return statistic(indices.reshape(-1, indices.shape[-1])).reshape(indices.shape[:-1])

    with np.errstate(invalid="ignore"):
        result = bootstrap((np.arange(n_test),), vectorized, vectorized=True, n_resamples=n_resamples,
                           batch=200, confidence_level=confidence, method="percentile",
                           rng=np.random.default_rng(seed))
    low, high = result.confidence_interval
    return float(low), float(high)


def bootstrap_over_test_examples(runs: pd.DataFrame, predictions: dict, metric: str, n_resamples: int,
                                 seed: int = 0):
    """Bootstrap intervals over test examples: per model x train size of the seed-mean ``metric``, and of each
    model's paired gain over scratch. ``predictions`` maps (model, train_size, seed) to (truth, probabilities) or
    (truth, probabilities, predicted classes), all on the same test examples in the same order. Returns two frames
    keyed by (model, train_size)."""
    def group(model, size):
        keys = sorted(key for key in predictions if key[0] == model and key[1] == size)
        return {key[2]: predictions[key] for key in keys}

    # scipy draws the same resamples for every interval (one seed, one test set), so each run's metric on a batch
    # of resamples is computed once and reused by its level, its gain and every gain it is the reference of.
    cache = {}

    def on_resamples(runs_, idx):
        """Each run's metric on this batch of resamples (hashed once per batch, not per run)."""
        digest = hashlib.blake2b(np.ascontiguousarray(idx).tobytes(), digest_size=16).digest()
        for run in runs_:
            if (id(run), digest) not in cache:
                truth, probabilities, *predicted = run
                cache[(id(run), digest)] = metric_on_resamples(truth, probabilities, idx, metric, *predicted)
        return [cache[(id(run), digest)] for run in runs_]

    def seed_mean(members):
        return lambda idx: np.mean(on_resamples(list(members.values()), idx), axis=0)

    level_rows, gain_rows = [], []
    for (model, size), _ in runs.groupby(["model", "train_size"], sort=True):
        members = group(model, size)
        if not members:
            continue
        n_test = len(next(iter(members.values()))[0])
        low, high = bootstrap_interval(seed_mean(members), n_test, n_resamples, seed)
        level_rows.append({"model": model, "train_size": int(size), f"{metric}_boot_low": low,
                           f"{metric}_boot_high": high})
        reference = group("scratch", size)
        shared = sorted(set(members) & set(reference))
        if model != "scratch" and shared:
            pairs = {s: (members[s], reference[s]) for s in shared}

            def gain(idx, pairs=pairs):
                ours = on_resamples([a for a, _ in pairs.values()], idx)
                theirs = on_resamples([b for _, b in pairs.values()], idx)
                return np.mean([a - b for a, b in zip(ours, theirs)], axis=0)

            low, high = bootstrap_interval(gain, n_test, n_resamples, seed)
            gain_rows.append({"model": model, "train_size": int(size), "boot_ci_low": low, "boot_ci_high": high})
    return (pd.DataFrame(level_rows, columns=["model", "train_size", f"{metric}_boot_low", f"{metric}_boot_high"]),
            pd.DataFrame(gain_rows, columns=["model", "train_size", "boot_ci_low", "boot_ci_high"]))
