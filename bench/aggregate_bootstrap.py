#!/usr/bin/env python
"""The aggregate step's bootstrap over test examples: how long ``stats.bootstrap_over_test_examples`` takes.

A study of 4 models (scratch and three pretrained strategies) x 3 train sizes x 5 seeds = 60 runs, scored on the same
600 test examples, with synthetic predictions (binary, and 3 classes as the UCI splice example), 1,000 resamples as
``evaluation.bootstrap_resamples`` by default. For each primary metric the bench times the whole bootstrap (every
level and every paired gain), and times scikit-learn's own metric on a sample of resamples, one at a time, to
show what the row-by-row path costs per resample: that metric alone (the path auprc took until 1f66a9f,
2026-11-30) and every metric (the path all but binary AUROC took until 2026-11-30, without reuse).

Run:  .venv/bin/python bench/aggregate_bootstrap.py [--resamples 1000] [--metrics auroc accuracy ...]
The last line of output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import time

import numpy as np
import pandas as pd

from seqtune.metrics import classification_metric, classification_metrics
from seqtune.stats import bootstrap_over_test_examples
from tables import table  # bench/tables.py

MODELS = ("scratch", "full:a", "linear_probe:a", "full:b")
SIZES = (100, 300, 1000)
SEEDS = range(5)
N_TEST = 600


def study(n_classes: int, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """Runs table and predictions: every model a little better than chance, pretrained ones more so."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_classes, N_TEST)
    predictions, rows = {}, []
    for model in MODELS:
        for size in SIZES:
            for run_seed in SEEDS:
                probabilities = rng.dirichlet(np.ones(n_classes), N_TEST)
                probabilities[np.arange(N_TEST), truth] += 0.1 if model == "scratch" else 0.3
                probabilities /= probabilities.sum(axis=1, keepdims=True)
                predictions[(model, size, run_seed)] = (truth, probabilities)
                rows.append({"model": model, "train_size": size, "seed": run_seed})
    return pd.DataFrame(rows), predictions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--metrics", nargs="+",
                        default=["auroc", "accuracy", "mcc", "f1_macro", "balanced_accuracy", "auprc"])
    parser.add_argument("--sample", type=int, default=50, help="resamples timed one by one through scikit-learn")
    args = parser.parse_args()
    n_runs = len(MODELS) * len(SIZES) * len(SEEDS)
    print(f"aggregate_bootstrap: {n_runs} runs x {N_TEST} test examples, {args.resamples} resamples; "
          f"load average {os.getloadavg()[0]:.1f}")
    rows = []
    for n_classes in (2, 3):
        runs, predictions = study(n_classes)
        truth, probabilities = next(iter(predictions.values()))
        indices = np.random.default_rng(1).integers(0, N_TEST, (args.sample, N_TEST))
        for metric in args.metrics:
            started = time.perf_counter()
            for row in indices:
                classification_metric(metric, truth[row], probabilities[row], n_classes)
            per_resample = (time.perf_counter() - started) / args.sample
            started = time.perf_counter()
            for row in indices:  # the row-by-row path until 2026-11-30: every metric, then the one wanted
                classification_metrics(truth[row], probabilities[row], n_classes)[metric]
            per_resample_all = (time.perf_counter() - started) / args.sample
            started = time.perf_counter()
            levels, gains = bootstrap_over_test_examples(runs, predictions, metric, args.resamples, seed=0)
            seconds = time.perf_counter() - started
            # Without vectorising or reuse, each level recomputes its runs and each gain its runs and scratch's.
            run_evaluations = n_runs + 2 * len(gains) * len(SEEDS)
            vectorised_before = n_classes == 2 and metric == "auroc"  # binary AUROC was already vectorised
            rows.append({"classes": n_classes, "metric": metric, "bootstrap s": seconds,
                         "sklearn ms / resample (this metric)": per_resample * 1e3,
                         "(all metrics)": per_resample_all * 1e3,
                         "before, estimate s": None if vectorised_before else
                         run_evaluations * args.resamples * per_resample_all,
                         "levels": len(levels), "gains": len(gains)})
    print(table(rows))
    print("'before, estimate': the bootstrap until 2026-11-30 (every metric of every run on every resample through "
          "scikit-learn, recomputed for each level and gain); binary AUROC was vectorised then too, without reuse.")
    print(json.dumps({"bench": "aggregate_bootstrap", "date": datetime.date.today().isoformat(), "runs": n_runs,
                      "n_test": N_TEST, "resamples": args.resamples, "rows": rows}))


if __name__ == "__main__":
    main()
