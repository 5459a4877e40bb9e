#!/usr/bin/env python
"""Snakemake dry run of a ~1,000-job sweep: how long ``snakemake -n`` takes before any job runs.

The config is the default one (``config/config.yaml``) with a wide sweep: 6 deep strategies (scratch, full,
linear_probe, partial, gradual_unfreeze, discriminative_lr), 8 train sizes, and as many seeds as bring the job count
closest to ``--target-jobs`` (1,000), baselines and the shuffled-label control as configured. The job count is read
from the dry run's own job stats. Each dry run is

    snakemake -s <repo>/Snakefile --configfile <tmp>/config.yaml -n --cores 2 --directory <tmp>

in a fresh temporary folder (no results: the full DAG). Timed ``--repeats`` times, median reported, target <= 15 s.
Every dry run is timed twice: as is, and with an instantly failing ``scontrol`` first on PATH (see ``shim_env``: the
Slurm executor plugin, a test extra, asks ``scontrol`` for the cluster config at import; with Slurm installed and no
controller up, that waits ~9 s). Then the same for the default config (for scale), and where the time goes:

* ``python -c "import snakemake.cli"`` (interpreter + Snakemake's imports),
* the config checks the Snakefile runs at parse time (``seqtune.config.schema_problems``, Snakemake's
  ``validate``, ``check_config`` with its pyjaspar motif lookups), timed in a fresh process,
* a ``cProfile`` of one whole dry run (in-process ``snakemake.cli.main``), top functions by cumulative time, grouped
  into parsing, DAG building and job scheduling.

Run:  .venv/bin/python bench/dry_run.py [--repeats 5] [--target-jobs 1000]
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from tables import table  # bench/tables.py

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
STRATEGIES = ["scratch", "full", "linear_probe", "partial", "gradual_unfreeze", "discriminative_lr"]
TRAIN_SIZES = [50, 100, 200, 300, 500, 700, 1000, 1500]


def repo_relative(text: str) -> str:
    """``text`` with this checkout's path written as ``<repo>`` and Python's installation as ``<python>``, so raw
    output names no machine path."""
    return text.replace(str(REPO), "<repo>").replace(sys.base_prefix, "<python>")


def sweep_config(seeds: int) -> dict:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config = copy.deepcopy(config)
    config["finetune"]["strategies"] = list(STRATEGIES)
    config["finetune"]["train_sizes"] = list(TRAIN_SIZES)
    config["finetune"]["seeds"] = list(range(1, seeds + 1))
    return config


def shim_env(tmp: Path) -> dict:
    """An environment whose PATH starts with a ``scontrol`` that fails at once. snakemake-executor-plugin-slurm (a
    test extra of seqtune) runs ``scontrol show config`` when Snakemake imports it, at every start, and with Slurm
    installed but no controller running that call waits ~9 s before failing. The shim shows what the dry run costs on
    a machine without that (no Slurm, or a reachable controller)."""
    shim = tmp / "shim"
    shim.mkdir(exist_ok=True)
    fake = shim / "scontrol"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    return {**os.environ, "PATH": f"{shim}{os.pathsep}{os.environ.get('PATH', '')}"}


def time_command(command: list[str], env: dict | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, capture_output=True)
    return time.perf_counter() - started


def dry_run(config: dict | None, folder: Path, env: dict | None = None) -> tuple[float, int, str]:
    """(seconds, job count, output) of one dry run in ``folder``; ``config`` None means config/config.yaml."""
    folder.mkdir(parents=True, exist_ok=True)
    if config is None:
        configfile = REPO / "config" / "config.yaml"
    else:
        configfile = folder / "config.yaml"
        configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    command = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--configfile", str(configfile), "-n", "--cores", "2",
               "--directory", str(folder)]
    started = time.perf_counter()
    out = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    text = out.stdout + out.stderr
    if out.returncode:
        raise RuntimeError(f"dry run failed ({' '.join(command)}):\n{text[-3000:]}")
    return seconds, job_count(text), text


def job_count(text: str) -> int:
    """The 'total' row of Snakemake's job stats table."""
    match = re.search(r"^total\s+(\d+)", text, flags=re.MULTILINE)
    if not match:
        raise RuntimeError("no job stats in the dry run's output:\n" + text[-2000:])
    return int(match.group(1))


def job_stats(text: str) -> dict[str, int]:
    block = text[text.index("Job stats:"):] if "Job stats:" in text else ""
    stats = {}
    for line in block.splitlines()[3:]:
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            stats[parts[0]] = int(parts[1])
        elif stats and not line.strip():
            break
    return stats


def time_config_checks(config_path: Path) -> dict:
    """The Snakefile's parse-time config checks, each timed, in a fresh interpreter."""
    code = f"""
import json, time, yaml
t0 = time.perf_counter()
from snakemake.utils import validate
import seqtune.config as sc
t1 = time.perf_counter()
config = yaml.safe_load(open({str(config_path)!r}))
schema = {str(REPO / "workflow" / "schemas" / "config.schema.yaml")!r}
problems = sc.schema_problems(config, schema)
t2 = time.perf_counter()
validate(config, schema=schema)
t3 = time.perf_counter()
sc.check_config(config)
t4 = time.perf_counter()
from seqtune.motifs import load_motif
load_motif("MA0139.2")
t5 = time.perf_counter()
print(json.dumps({{"imports (snakemake.utils, seqtune.config)": t1 - t0, "schema_problems (jsonschema)": t2 - t1,
                   "snakemake validate()": t3 - t2, "check_config (incl. pyjaspar lookups)": t4 - t3,
                   "one more load_motif (cached database)": t5 - t4}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def profile_dry_run(config_path: Path, folder: Path, env: dict | None = None) -> tuple[list[dict], float]:
    """cProfile of one in-process dry run; top functions by cumulative time."""
    code = f"""
import cProfile, pstats, sys, io, json, time
sys.argv = ["snakemake", "-s", {str(REPO / "Snakefile")!r}, "--configfile", {str(config_path)!r}, "-n", "--cores",
            "2", "--directory", {str(folder)!r}, "--quiet"]
profiler = cProfile.Profile()
started = time.perf_counter()
profiler.enable()
try:
    import snakemake.cli
    snakemake.cli.main()
except SystemExit:
    pass
profiler.disable()
total = time.perf_counter() - started
stats = pstats.Stats(profiler)
rows = []
for (filename, line, name), (cc, nc, tt, ct, callers) in stats.stats.items():
    rows.append({{"function": f"{{filename.split('site-packages/')[-1]}}:{{line}}({{name}})", "calls": nc,
                  "own_s": tt, "cumulative_s": ct}})
rows.sort(key=lambda r: -r["cumulative_s"])
print(json.dumps({{"total": total, "rows": rows[:400]}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    line = [l for l in out.stdout.strip().splitlines() if l.startswith('{"total"')]
    if not line:
        raise RuntimeError("profile failed:\n" + (out.stdout + out.stderr)[-3000:])
    data = json.loads(line[-1])
    return data["rows"], data["total"]


PHASES = [  # (label, file, function): the function's cumulative time
    ("snakemake.cli.main (everything after imports)", "snakemake/cli.py", "main"),
    ("parse the Snakefile (workflow.include)", "snakemake/workflow.py", "include"),
    ("seqtune.config.schema_problems", "seqtune/config.py", "schema_problems"),
    ("snakemake.utils.validate", "snakemake/utils.py", "validate"),
    ("seqtune.config.check_config", "seqtune/config.py", "check_config"),
    ("pyjaspar: jaspardb()", "seqtune/motifs.py", "_database"),
    ("pyjaspar: load_motif", "seqtune/motifs.py", "load_motif"),
    ("workflow.execute (DAG, then the dry-run schedule)", "snakemake/workflow.py", "execute"),
    ("  of which: build the DAG (dag.init)", "snakemake/dag.py", "init"),
    ("    of which: dag.update (a job per output file)", "snakemake/dag.py", "update"),
]


def phases_of(rows: list[dict]) -> list[dict]:
    found = []
    for label, path, name in PHASES:
        matches = [r for r in rows if path in r["function"] and r["function"].endswith(f"({name})")]
        if matches:
            best = max(matches, key=lambda r: r["cumulative_s"])
            found.append({"phase": label, "seconds": best["cumulative_s"], "calls": best["calls"]})
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--target-jobs", type=int, default=1000)
    parser.add_argument("--skip-profile", action="store_true")
    args = parser.parse_args()
    print(f"dry_run: snakemake {repo_relative(SNAKEMAKE)}; load average {os.getloadavg()[0]:.1f}")
    results: dict = {"bench": "dry_run", "date": datetime.date.today().isoformat(),
                     "load_average_start": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="seqtune_dry_run_") as tmp:
        tmp = Path(tmp)
        # Size the sweep: job count with 1 and with 10 seeds gives the jobs per seed and the fixed jobs.
        _, one, _ = dry_run(sweep_config(1), tmp / "size1")
        _, ten, _ = dry_run(sweep_config(10), tmp / "size10")
        per_seed = (ten - one) / 9
        seeds = max(1, round((args.target_jobs - (one - per_seed)) / per_seed))
        config = sweep_config(seeds)
        print(f"sweep: {len(STRATEGIES)} strategies x {len(TRAIN_SIZES)} train sizes x {seeds} seeds "
              f"(+ baselines and control from config.yaml); {per_seed:.0f} jobs per seed, {one - per_seed:.0f} fixed")
        env = shim_env(tmp)
        timings, shim_timings, count, text = [], [], None, ""
        for index in range(args.repeats):  # alternate as-is and shimmed runs; a fresh folder every time
            seconds, count, text = dry_run(config, tmp / f"sweep{index}")
            timings.append(seconds)
            shim_seconds, shim_count, _ = dry_run(config, tmp / f"sweep_shim{index}", env)
            shim_timings.append(shim_seconds)
            print(f"  dry run {index + 1}: {seconds:.2f} s as is, {shim_seconds:.2f} s with the scontrol shim; "
                  f"{count} jobs", flush=True)
        stats = job_stats(text)
        default_timings, default_shim, default_count = [], [], None
        for index in range(max(2, args.repeats // 2)):
            seconds, default_count, _ = dry_run(None, tmp / f"default{index}")
            default_timings.append(seconds)
            default_shim.append(dry_run(None, tmp / f"default_shim{index}", env)[0])
        import_times = [time_command([sys.executable, "-c", "import snakemake.cli"]) for _ in range(3)]
        import_shim = [time_command([sys.executable, "-c", "import snakemake.cli"], env) for _ in range(3)]
        scontrol = [time_command(["/bin/sh", "-c", "scontrol show config >/dev/null 2>&1; true"]) for _ in range(2)]
        checks = time_config_checks(tmp / "sweep0" / "config.yaml")

        print("\n== dry run of the sweep")
        median, median_shim = statistics.median(timings), statistics.median(shim_timings)
        d_median, d_shim = statistics.median(default_timings), statistics.median(default_shim)
        print(table([
            {"config": f"sweep ({seeds} seeds)", "environment": "as is", "jobs": count, "median s": median,
             "min s": min(timings), "max s": max(timings), "ms per job": median / count * 1e3},
            {"config": f"sweep ({seeds} seeds)", "environment": "scontrol shim", "jobs": shim_count,
             "median s": median_shim, "min s": min(shim_timings), "max s": max(shim_timings),
             "ms per job": median_shim / shim_count * 1e3},
            {"config": "config/config.yaml (default)", "environment": "as is", "jobs": default_count,
             "median s": d_median, "min s": min(default_timings), "max s": max(default_timings),
             "ms per job": d_median / default_count * 1e3},
            {"config": "config/config.yaml (default)", "environment": "scontrol shim", "jobs": default_count,
             "median s": d_shim, "min s": min(default_shim), "max s": max(default_shim),
             "ms per job": d_shim / default_count * 1e3}]))
        print("job stats of the sweep: " + ", ".join(f"{k} {v}" for k, v in stats.items()))
        extra_jobs = count - default_count
        extra_seconds = median_shim - d_shim
        print(f"marginal cost (shim runs): {extra_seconds:.2f} s for {extra_jobs} more jobs = "
              f"{extra_seconds / max(extra_jobs, 1) * 1e3:.1f} ms per job; fixed part ~"
              f"{d_shim - default_count * extra_seconds / max(extra_jobs, 1):.2f} s")
        print(f"\n`python -c 'import snakemake.cli'`: median {statistics.median(import_times):.2f} s as is, "
              f"{statistics.median(import_shim):.2f} s with the shim; `scontrol show config` alone: "
              f"{statistics.median(scontrol):.2f} s")
        print("config checks the Snakefile runs at parse time (fresh process, s):")
        print(table([{"step": k, "seconds": v} for k, v in checks.items()]))
        met, met_shim = median <= 15, median_shim <= 15
        print(f"\ntarget: dry run of ~{args.target_jobs} jobs <= 15 s: {median:.2f} s as is ({'met' if met else 'NOT met'}), "
              f"{median_shim:.2f} s without the scontrol wait ({'met' if met_shim else 'NOT met'})")
        results.update({"seeds": seeds, "jobs": count, "job_stats": stats, "seconds": timings, "median_s": median,
                        "shim_seconds": shim_timings, "median_shim_s": median_shim,
                        "default_jobs": default_count, "default_seconds": default_timings,
                        "default_shim_seconds": default_shim,
                        "ms_per_extra_job": extra_seconds / max(extra_jobs, 1) * 1e3,
                        "import_snakemake_s": import_times, "import_snakemake_shim_s": import_shim,
                        "scontrol_s": scontrol, "config_checks_s": checks, "target_met": met,
                        "target_met_without_scontrol_wait": met_shim})
        if not args.skip_profile:
            rows, total = profile_dry_run(tmp / "sweep0" / "config.yaml", tmp / "profiled", env)
            print(f"\n== cProfile of one dry run of the sweep, with the scontrol shim ({total:.2f} s under the "
                  "profiler)")
            phases = phases_of(rows)
            print(table(phases))
            print("\ntop functions by cumulative time (outside the frames above):")
            skip = ("<built-in", "<frozen", "{method", "cli.py", "api.py")
            shown = [{**r, "function": repo_relative(r["function"])} for r in rows
                     if not any(s in r["function"] for s in skip)][:20]
            print(table([{"function": r["function"][-90:], "calls": r["calls"], "own s": r["own_s"],
                          "cumulative s": r["cumulative_s"]} for r in shown]))
            results["profile"] = {"total_s": total, "phases": phases, "top": shown}
    results["load_average_end"] = os.getloadavg()[0]
    print(json.dumps(results, default=float))


if __name__ == "__main__":
    main()
