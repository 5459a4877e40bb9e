#!/usr/bin/env python
"""What the hyperparameter search costs: a study's jobs and CPU-minutes with ``tuning.enabled`` beside without.

Two cases of the same config (by default ``config/config.yaml``, the default study):

* untuned: ``tuning.enabled: false``;
* tuned: ``tuning.enabled: true`` with ``tuning.n_trials`` = ``--budget`` (2 by default: a small budget, to keep the
  run short; the search's cost grows linearly in it, one ``tune_trial`` job per model, train size and trial).

For each, a dry run in a fresh temporary folder gives the job count per rule (Snakemake's job stats); then, unless
``--dry-only``, the case runs for real there (``snakemake --cores <cores>``) and the CPU time of every job is summed
from Snakemake's benchmark files (``benchmarks/<rule>/...tsv``, column ``cpu_time``: user + system seconds of the
job's processes). Rules without a benchmark file (local bookkeeping rules such as ``tune_export``, seconds each) are
counted as jobs and listed, not timed. The two cases run one after the other, so on a shared machine their wall times
are not comparable; CPU time is less sensitive to load, but still not exact.

Run:  .venv/bin/python bench/tuning_cost.py [--budget 2] [--config config/config.yaml] [--cores 2] [--dry-only]
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml
from dry_run import job_count, job_stats  # bench/dry_run.py
from tables import table  # bench/tables.py

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def case_config(base: dict, budget: int | None) -> dict:
    """The config of one case: the search off (``budget`` None) or on with ``budget`` trials per study."""
    config = copy.deepcopy(base)
    tuning = dict(config.get("tuning") or {})
    tuning["enabled"] = budget is not None
    if budget is not None:
        tuning["n_trials"] = budget
    config["tuning"] = tuning
    config["results"] = "results"
    return config


def snakemake(folder: Path, *args: str) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--configfile", str(folder / "config.yaml"),
               "--directory", str(folder), *args]
    out = subprocess.run(command, capture_output=True, text=True, env=env)
    if out.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{(out.stdout + out.stderr)[-3000:]}")
    return out.stdout + out.stderr


def cpu_by_rule(folder: Path) -> pd.DataFrame:
    """Per rule: jobs with a benchmark file, their summed CPU seconds and wall seconds."""
    rows = []
    for path in (folder / "benchmarks").rglob("*.tsv"):
        rule = path.relative_to(folder / "benchmarks").parts[0]
        frame = pd.read_csv(path, sep="\t")
        rows.append({"rule": rule, "cpu_s": float(frame["cpu_time"].iloc[-1]), "wall_s": float(frame["s"].iloc[-1])})
    if not rows:
        return pd.DataFrame(columns=["rule", "timed_jobs", "cpu_s", "wall_s"])
    frame = pd.DataFrame(rows)
    return frame.groupby("rule", as_index=False).agg(timed_jobs=("cpu_s", "size"), cpu_s=("cpu_s", "sum"),
                                                     wall_s=("wall_s", "sum"))


def run_case(name: str, config: dict, root: Path, cores: int, dry_only: bool) -> dict:
    folder = root / name
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    text = snakemake(folder, "-n", "--cores", str(cores))
    result = {"case": name, "jobs": job_count(text), "stats": job_stats(text)}
    if dry_only:
        return result
    started = time.perf_counter()
    snakemake(folder, "--cores", str(cores))
    result["wall_minutes"] = (time.perf_counter() - started) / 60
    rules = cpu_by_rule(folder)
    result["cpu_minutes"] = float(rules["cpu_s"].sum()) / 60
    result["rules"] = rules.to_dict(orient="records")
    result["untimed_rules"] = sorted(set(result["stats"]) - set(rules["rule"]) - {"default", "total"})
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "config" / "config.yaml"))
    parser.add_argument("--budget", type=int, default=2, help="tuning.n_trials of the tuned case")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--dry-only", action="store_true", help="job counts only (seconds): no run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    base = yaml.safe_load(Path(args.config).read_text())
    root = Path(tempfile.mkdtemp(prefix="seqtune_tuning_cost."))
    print(f"tuning_cost: {datetime.datetime.now().isoformat(timespec='seconds')}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f}, config {Path(args.config).name}, budget {args.budget}, "
          f"--cores {args.cores}")
    cases = [run_case("untuned", case_config(base, None), root, args.cores, args.dry_only),
             run_case("tuned", case_config(base, args.budget), root, args.cores, args.dry_only)]
    untuned, tuned = cases
    rows = []
    for case in cases:
        row = {"case": case["case"], "jobs": case["jobs"], "tune_trial jobs": case["stats"].get("tune_trial", 0)}
        if not args.dry_only:
            row.update({"CPU-minutes": round(case["cpu_minutes"], 2), "wall minutes": round(case["wall_minutes"], 2)})
        rows.append(row)
    extra = {"case": "tuned / untuned", "jobs": round(tuned["jobs"] / untuned["jobs"], 2)}
    if not args.dry_only:
        extra["CPU-minutes"] = round(tuned["cpu_minutes"] / max(untuned["cpu_minutes"], 1e-9), 2)
    rows.append(extra)
    print(table(rows))
    print()
    rules = sorted((set(untuned["stats"]) | set(tuned["stats"])) - {"total"}) + ["total"]
    by_rule = []
    for rule in rules:
        row = {"rule": rule, "untuned jobs": untuned["stats"].get(rule, 0), "tuned jobs": tuned["stats"].get(rule, 0)}
        if not args.dry_only:
            for case in cases:
                timed = {r["rule"]: r["cpu_s"] for r in case["rules"]}
                cpu = sum(timed.values()) if rule == "total" else timed.get(rule)
                row[f"{case['case']} CPU-min"] = None if cpu is None else round(cpu / 60, 2)
        by_rule.append(row)
    print(table(by_rule))
    if not args.dry_only:
        print(f"\nnot timed (no benchmark file): {', '.join(tuned['untimed_rules']) or 'none'}")
    if args.keep:
        print(f"kept: {root}")
    else:
        shutil.rmtree(root)
    print(json.dumps({"bench": "tuning_cost", "date": datetime.date.today().isoformat(), "config": Path(args.config).name,
                      "budget": args.budget, "cores": args.cores,
                      "cases": cases}))


if __name__ == "__main__":
    main()
