"""Aggregation and statistics over runs: means with spread, paired gains over scratch, the verdict.

Every comparison against ``scratch`` is paired: runs that share a train size and a seed share their training subset
(see ``split.training_subset``), so the per-seed differences remove the subset's luck from the comparison.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as sps

from .metrics import METRIC_NAMES

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


def verdict(runs: pd.DataFrame, summary: pd.DataFrame, metric: str = "auroc") -> dict:
    """Per train size: the best deep model against scratch and against the best baseline; the shuffled-label check;
    and plain sentences saying what they mean."""
    per_size = []
    sentences = []
    deep = summary[~summary["strategy"].isin(DEEP_EXCLUDED)]
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
    control = _shuffled_check(runs, metric)
    if control:
        sentences.append(control["sentence"])
    return {"metric": metric, "per_train_size": per_size, "shuffled_label_control": control, "sentences": sentences}


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
            tail = f"; the baseline {entry['best_baseline']} is better, by {_describe({**base, 'mean': -base['mean'], 'ci_low': -base['ci_high'], 'ci_high': -base['ci_low']})}"
        else:
            tail = f"; the baseline {entry['best_baseline']} is within {_describe(base)} of it"
        head += tail
    return head + "."


def _shuffled_check(runs: pd.DataFrame, metric: str) -> dict | None:
    control = runs[runs["strategy"] == "shuffled_labels"]
    if control.empty:
        return None
    stats = mean_ci(control[metric])
    at_chance = abs(stats["mean"] - 0.5) <= 0.05 if metric == "auroc" else None
    stats["at_chance"] = bool(at_chance)
    stats["sentence"] = (
        f"The shuffled-label control scores {metric} {stats['mean']:.3f} (sd {stats['sd']:.3f}, {stats['n']} runs): "
        + ("at chance, as it must be." if at_chance else
           "NOT at chance; this points to leakage between splits or a bug, so do not trust the other numbers "
           "until it is explained.")
    )
    return stats
