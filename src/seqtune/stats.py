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


def run_label(pretrained: str, strategy: str) -> str:
    return strategy if pretrained in ("none", "", None) else f"{strategy}:{pretrained}"


def runs_table(records: list[dict]) -> pd.DataFrame:
    """One row per run, with identity columns first and the test metrics after."""
    frame = pd.DataFrame(records)
    frame["model"] = [run_label(p, s) for p, s in zip(frame["pretrained"], frame["strategy"])]
    identity = ["model", "strategy", "pretrained", "train_size", "seed"]
    columns = identity + list(METRIC_NAMES) + [c for c in ("n_test", "best_epoch") if c in frame.columns]
    return frame[columns].sort_values(["model", "train_size", "seed"]).reset_index(drop=True)


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
    """Every model against ``scratch`` at every train size (paired over seeds)."""
    rows = []
    for model in sorted(set(runs["model"]) - {"scratch"}):
        for size in sorted(runs["train_size"].unique()):
            result = paired_difference(runs, model, "scratch", size, metric)
            if result is not None:
                rows.append(result)
    columns = ["model", "reference", "train_size", "metric", "n", "mean", "sd", "ci_low", "ci_high", "p_value",
               "effect_size_dz"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.rename(columns={"mean": "mean_gain", "sd": "sd_gain", "n": "n_seeds"})


def verdict(runs: pd.DataFrame, summary: pd.DataFrame, metric: str = "auroc",
            negative_controls: tuple[str, ...] | list[str] = (), chance_sd: dict | None = None) -> dict:
    """Per train size: the best deep model against scratch and against the best baseline; the shuffled-label check
    (``chance_sd``: see ``_shuffled_check``); each negative control's check; and plain sentences saying what they
    mean.

    ``negative_controls``: pretrained models whose corpus shares nothing with the target. They never count as the
    best model; instead each gets its own check (below).
    """
    per_size = []
    sentences = []
    deep = summary[~summary["strategy"].isin(DEEP_EXCLUDED) & ~summary["pretrained"].isin(list(negative_controls))]
    baselines = summary[summary["strategy"].isin(BASELINE_STRATEGIES)]
    for size in sorted(summary["train_size"].unique()):
        entry = {"train_size": int(size)}
        at_size = deep[deep["train_size"] == size]
        transferred = at_size[at_size["model"] != "scratch"]
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
    control = _shuffled_check(runs, chance_sd)
    if control:
        sentences.append(control["sentence"])
    checks = [_negative_control_check(runs, summary, name, metric) for name in negative_controls]
    checks = [check for check in checks if check]
    sentences += [check["sentence"] for check in checks]
    return {"metric": metric, "per_train_size": per_size, "shuffled_label_control": control,
            "negative_controls": checks, "sentences": sentences}


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
        sentence = (f"The negative control '{pretrained}' (pretraining that shares nothing with the target) HELPS "
                    f"where its gain's interval is above zero: {described}. Then part of the transfer gain is not "
                    "specific to the target: a generic benefit of any pretrained initialisation, or a corpus that "
                    "shares the target's motifs after all (`seqtune unrelated-motifs` lists motifs unlike them).")
    else:
        sentence = (f"The negative control '{pretrained}' (pretraining that shares nothing with the target) does not "
                    f"help, as it must not (best strategy against scratch, paired over seeds): {described}.")
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
                f"{metric} {_describe(diff)}")
    if "vs_baseline" in entry:
        base = entry["vs_baseline"]
        if base and base["n"] >= 2 and base["ci_low"] > 0:
            tail = f"; it beats the best baseline ({entry['best_baseline']}) by {_describe(base)}"
        elif base and base["n"] >= 2 and base["ci_high"] < 0:
            reversed_gap = {**base, "mean": -base["mean"], "ci_low": -base["ci_high"], "ci_high": -base["ci_low"]}
            tail = f"; the baseline {entry['best_baseline']} is better, by {_describe(reversed_gap)}"
        else:
            tail = f"; the baseline {entry['best_baseline']} is within {_describe(base)} of it"
        head += tail
    return head + "."


def auroc_chance_sd(class_counts) -> float:
    """Standard deviation of the AUROC of a scorer that ignores the labels, on a test set with these class counts:
    Hanley and McNeil's null variance (n0 + n1 + 1) / (12 n0 n1) for two classes; for K > 2 the mean of the
    one-vs-rest classes' sds, an upper bound for the sd of their macro mean. NaN when a class is empty."""
    counts = np.asarray(class_counts, dtype=float)
    total = counts.sum()
    if counts.size < 2 or (counts <= 0).any():
        return math.nan
    ones = counts[1:] if counts.size == 2 else counts
    return float(np.mean([math.sqrt((total + 1) / (12 * n1 * (total - n1))) for n1 in ones]))


CHANCE_TOLERANCE = 0.05  # the control's mean AUROC may sit this far from 0.5
CHANCE_Z = 4.0  # a run further than this many null sds from 0.5 is off chance (two-sided p about 6e-5)


def _shuffled_check(runs: pd.DataFrame, chance_sd: dict | None = None) -> dict | None:
    """The shuffled-label control: a model trained on permuted labels ignores the true ones, so its AUROC on the test
    set is 0.5 in expectation whatever the primary metric and the class balance; AUROC is always checked.

    It passes when the mean over runs is within ``CHANCE_TOLERANCE`` of 0.5 and no run is further than ``CHANCE_Z``
    null sds (``chance_sd``: (model, train_size, seed) -> ``auroc_chance_sd`` of that run's test set). A control
    started from scratch fails otherwise. A control started from a pretrained model fails when its mean is off;
    when only single runs are off, on both sides of 0.5, it is inconclusive: the pretrained features already
    separate the test classes, so a head fitted to noise lands near 0 or 1 depending on its sign, and such a control
    cannot tell leakage from transfer."""
    control = runs[runs["strategy"] == "shuffled_labels"]
    if control.empty:
        return None
    chance_sd = chance_sd or {}
    stats = mean_ci(control["auroc"])
    pretrained = str(control["pretrained"].iloc[0])
    from_scratch = pretrained in ("none", "", "None")
    off = []
    for row in control.itertuples():
        sd = chance_sd.get((row.model, int(row.train_size), int(row.seed)), math.nan)
        if np.isfinite(row.auroc) and np.isfinite(sd) and abs(row.auroc - 0.5) > CHANCE_Z * sd:
            off.append({"train_size": int(row.train_size), "seed": int(row.seed), "auroc": float(row.auroc),
                        "chance_sd": sd})
    mean_ok = bool(np.isfinite(stats["mean"]) and abs(stats["mean"] - 0.5) <= CHANCE_TOLERANCE)
    if mean_ok and not off:
        status = "passed"
    elif mean_ok and not from_scratch and {run["auroc"] > 0.5 for run in off} == {True, False}:
        status = "inconclusive"
    else:
        status = "failed"
    stats.update({"metric": "auroc", "start": "scratch" if from_scratch else pretrained, "status": status,
                  "at_chance": status == "passed", "runs_off_chance": off})
    where = ", ".join(f"{run['auroc']:.3f} (n{run['train_size']}, seed {run['seed']})" for run in off)
    head = (f"The shuffled-label control ({'from scratch' if from_scratch else 'from ' + pretrained}) scores AUROC "
            f"{stats['mean']:.3f} (sd {stats['sd']:.3f}, {stats['n']} runs)")
    if status == "passed":
        stats["sentence"] = head + ": at chance, as it must be."
    elif status == "inconclusive":
        stats["sentence"] = (
            head + f", at chance on average, but single runs are far from chance on both sides: {where}. The "
            "pretrained features already separate the test classes, so a head fitted to shuffled labels lands near 0 "
            "or 1 by the sign it happens to take; this control cannot tell leakage from transfer. Set "
            "controls.shuffled_labels.strategy: scratch for a control that can.")
    else:
        detail = f"runs further than {CHANCE_Z:g} null sds from 0.5: {where}" if off else \
            f"the mean is more than {CHANCE_TOLERANCE} from 0.5"
        stats["sentence"] = (
            head + f": NOT at chance ({detail}). This points to leakage between splits or a bug, so do not trust "
            "the other numbers until it is explained.")
    return stats


# ----------------------------------------------------------------------------------- bootstrap over test examples
# The seeds' spread says how much a result depends on the training subset and initialisation; it says nothing about
# the finite test set. Every run of a study is scored on the same test split, so resampling test examples (the same
# resample for every run) gives a second interval: for a model's seed-mean metric, and for its paired gain over
# scratch. scipy.stats.bootstrap draws the resamples and computes the percentile interval.

def metric_on_resamples(truth: np.ndarray, probabilities: np.ndarray, indices: np.ndarray, metric: str) -> np.ndarray:
    """``metric`` of predictions ``probabilities`` (N, K) against ``truth`` (N,) on each row of ``indices`` (B, n).

    Every metric is computed for all rows at once, by scikit-learn's definitions as ``classification_metrics`` uses
    them (tested equal on every resample): AUROC and AUPRC of the positive class when K = 2 and as macro one-vs-rest
    means when K > 2, and the metrics of the confusion matrix."""
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
        confusion = confusion_rows(truth[indices], probabilities.argmax(axis=1)[indices], n_classes)
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
    model's paired gain over scratch. ``predictions`` maps (model, train_size, seed) to (truth, probabilities), all
    on the same test examples in the same order. Returns two frames keyed by (model, train_size)."""
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
                cache[(id(run), digest)] = metric_on_resamples(*run, idx, metric)
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
