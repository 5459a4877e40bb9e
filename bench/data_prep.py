#!/usr/bin/env python
"""Data preparation at scale: simulate, write the data set folder, split; 10^4, 10^5 and 10^6 sequences of 200 nt.

Stages (each size in fresh subprocesses, so that peak memory is the stage's own):

1. simulate: ``seqtune.simulate.simulate_presence`` with the default config's 8 JASPAR motifs, presence rate 0.3.
2. write:    ``seqtune.data.write_dataset`` (codes.npy, labels.tsv, sequences.fasta, sites.tsv, dataset.json).
   Stages 1 and 2 run in one process, as ``seqtune simulate`` does.
3. split:    ``seqtune.pipeline.split`` in a new process, as ``seqtune split`` does (read the folder,
   ``stratification_key`` + ``stratified_split``, write manifest.tsv and summary.json); the two library functions are
   also timed on their own.
4. import:   the user-data path, in a new process, as ``seqtune ingest`` does: the FASTA that stage 2 wrote, with a
   side table of binary labels (CTCF present or not), through ``seqtune.inputs.import_dataset`` into a new data set
   folder (parse, check every record, encode to uint8, write). Not part of the issue's simulate-encode-split target;
   reported beside it.

Peak memory: ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (the process's high-water mark, so cumulative within a
process: the write stage's figure includes the simulation's peak; workers are started through ``/bin/sh`` so that
they do not inherit this process's figure); and, where the kernel allows it, each stage's own
peak (``VmHWM`` after resetting it through ``/proc/self/clear_refs``). Growth ratios compare each size with the
previous one (10x more sequences: ~10x time and memory is linear).

Where the time goes (same workers): ``write_dataset``'s files written one by one into a scratch folder (``decode``
timed apart from the FASTA write), ``sample_background`` alone, and ``stratification_key`` + ``stratified_split``
on their own.

The prototypes measured on 2026-11-25 are now the library's code (bench/README.md).

Run:  .venv/bin/python bench/data_prep.py [--sizes 10000 100000 1000000]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from tables import table  # bench/tables.py

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MOTIFS = ["MA0139.2", "MA0035.4", "MA0080.5", "MA0102.4", "MA0148.4", "MA0114.4", "MA0106.3", "MA0143.4"]
LENGTH = 200
SEED = 2026


def corpus_motifs() -> list[str]:
    try:
        import yaml

        return list(yaml.safe_load((REPO / "config" / "config.yaml").read_text())["datasets"]["corpus"]["motifs"])
    except Exception:  # noqa: BLE001
        return DEFAULT_MOTIFS


# ------------------------------------------------------------------------------------------- memory accounting
def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _status(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def reset_hwm() -> bool:
    """Reset the peak RSS (VmHWM) to the current RSS (Linux >= 4.0); False when not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class Stage:
    """Times a stage and records its peak memory: cumulative ru_maxrss and the stage's own VmHWM."""

    def __init__(self, record: dict, name: str):
        self.record, self.name = record, name

    def __enter__(self):
        self.record["_process_peak_mb"] = max(maxrss_mb(), self.record.get("_process_peak_mb", 0.0))
        self.can_reset = reset_hwm()
        self.rss_before = _status("VmRSS")
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            seconds = time.perf_counter() - self.started
            # Resetting VmHWM also resets what getrusage reports, so the process's high-water mark is carried here.
            stage_peak = _status("VmHWM") if self.can_reset else None
            process_peak = max(maxrss_mb(), self.record.get("_process_peak_mb", 0.0))
            self.record["_process_peak_mb"] = process_peak
            self.record[self.name] = {"seconds": seconds, "maxrss_mb": process_peak, "stage_peak_mb": stage_peak,
                                      "rss_before_mb": self.rss_before}
        return False


# ------------------------------------------------------------------------------------------------------ workers
def info_of(result) -> dict:
    return {**result.task, "source": "simulate", "simulation": {
        "task": "motif_presence", "seed": SEED, "gc_content": 0.41, "cpg_ratio": 0.25,
        "background": "markov order 1"}}


def worker_simulate_write(n: int, folder: Path) -> dict:
    record: dict = {"baseline_mb": maxrss_mb()}
    import seqtune.simulate as sim
    from seqtune.data import write_dataset

    sim.load_motifs(corpus_motifs())  # pyjaspar's database opened before timing (the stage's constant cost)
    record["after_imports_mb"] = maxrss_mb()
    with Stage(record, "simulate"):
        result = sim.simulate_presence(n, LENGTH, corpus_motifs(), 0.3, 0.41, 0.25, SEED)
    record["n_sites"] = len(result.sites)
    with Stage(record, "write"):
        write_dataset(folder, result.ids, result.codes, result.labels, info_of(result), result.sites)
    # Where write_dataset's time goes: the same calls one by one, into a scratch folder.
    from seqtune.io import write_fasta, write_json, write_npy, write_tsv
    from seqtune.sequence import decode

    scratch = folder.parent / (folder.name + "_parts")
    parts = {}
    for name, action in (("codes.npy", lambda: write_npy(scratch / "codes.npy", result.codes)),
                         ("labels.tsv", lambda: write_tsv(scratch / "labels.tsv", result.labels)),
                         ("decode (FASTA's strings)", lambda: parts.__setitem__("_s", decode(result.codes))),
                         ("sequences.fasta (write only)",
                          lambda: write_fasta(scratch / "sequences.fasta", result.ids, parts["_s"])),
                         ("sites.tsv", lambda: write_tsv(scratch / "sites.tsv", result.sites)),
                         ("dataset.json", lambda: write_json(scratch / "dataset.json", info_of(result)))):
        started = time.perf_counter()
        action()
        parts[name] = time.perf_counter() - started
    parts.pop("_s")
    record["write_files"] = parts
    shutil.rmtree(scratch, ignore_errors=True)
    # and the simulation's own parts
    rng = np.random.default_rng(SEED)
    started = time.perf_counter()
    codes = sim.sample_background(n, LENGTH, sim.markov_transitions(0.41, 0.25), rng)
    record["simulate_parts"] = {"sample_background": time.perf_counter() - started}
    del codes
    return record


def worker_split(n: int, folder: Path) -> dict:
    record: dict = {"baseline_mb": maxrss_mb()}
    from seqtune.data import read_dataset
    from seqtune.pipeline import split
    from seqtune.split import stratification_key, stratified_split

    record["after_imports_mb"] = maxrss_mb()
    with Stage(record, "split"):
        split(str(folder / "codes.npy"), str(folder / "manifest.tsv"), str(folder / "summary.json"), 0.15, 0.25,
              SEED)
    data = read_dataset(folder / "codes.npy")
    started = time.perf_counter()
    key = stratification_key(data.labels)
    middle = time.perf_counter()
    stratified_split(key, 0.15, 0.25, SEED)
    record["split_functions"] = {"stratification_key": middle - started,
                                 "stratified_split": time.perf_counter() - middle}
    return record


def worker_import(n: int, folder: Path) -> dict:
    record: dict = {"baseline_mb": maxrss_mb()}
    import pandas as pd

    from seqtune.inputs import import_dataset

    labels = pd.read_csv(folder / "labels.tsv", sep="\t", dtype={"id": str})
    side = folder.parent / (folder.name + "_side_labels.tsv")
    motif = [column for column in labels.columns if column != "id"][0]
    pd.DataFrame({"id": labels["id"], "label": np.where(labels[motif] > 0, "bound", "unbound")}).to_csv(
        side, sep="\t", index=False)
    del labels
    record["after_imports_mb"] = maxrss_mb()
    out = folder.parent / (folder.name + "_imported")
    with Stage(record, "import"):
        import_dataset(out, {"source": "fasta", "path": str(folder / "sequences.fasta"), "labels": str(side)},
                       LENGTH, SEED)
    record["import_bytes"] = (folder / "sequences.fasta").stat().st_size
    shutil.rmtree(out, ignore_errors=True)
    side.unlink()
    return record


def run_worker(kind: str, n: int, folder: Path) -> dict:
    # Through /bin/sh, which forks again: a process forked straight from this (large) one starts with this one's RSS
    # as its ru_maxrss (Linux copies the high-water mark at fork and keeps it across exec).
    command = ["/bin/sh", "-c", '"$0" "$@"; exit $?', sys.executable, __file__, "--worker", kind,
               "--worker-n", str(n), "--worker-dir", str(folder)]
    out = subprocess.run(command, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"worker {kind} n={n} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------------------------------- helpers
# ------------------------------------------------------------------------------------------------------------ main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--keep", action="store_true", help="keep the temporary data set folders")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--worker-n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--worker-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        folder = Path(args.worker_dir)
        worker = {"simulate_write": worker_simulate_write, "split": worker_split, "import": worker_import}
        record = worker[args.worker](args.worker_n, folder)
        print(json.dumps(record))
        return

    print(f"data_prep: sizes {args.sizes}, {LENGTH} nt, 8 motifs; load average {os.getloadavg()[0]:.1f}")
    tmp = Path(tempfile.mkdtemp(prefix="seqtune_data_prep_"))
    results: dict = {"bench": "data_prep", "date": datetime.date.today().isoformat(), "sizes": args.sizes,
                     "length": LENGTH, "load_average_start": os.getloadavg()[0], "runs": {}}
    try:
        rows = []
        for n in args.sizes:
            folder = tmp / f"n{n}"
            print(f"\n-- {n:,} sequences", flush=True)
            sw = run_worker("simulate_write", n, folder)
            sp = run_worker("split", n, folder)
            imp = run_worker("import", n, folder)
            total = sw["simulate"]["seconds"] + sw["write"]["seconds"] + sp["split"]["seconds"]
            peak = max(sw["simulate"]["maxrss_mb"], sw["write"]["maxrss_mb"], sp["split"]["maxrss_mb"])
            run = {"simulate": sw["simulate"], "write": sw["write"], "split": sp["split"], "total_seconds": total,
                   "peak_mb": peak, "n_sites": sw["n_sites"], "write_files": sw["write_files"],
                   "simulate_parts": sw["simulate_parts"], "split_functions": sp["split_functions"],
                   "baseline_mb": sw["after_imports_mb"], "import": imp["import"],
                   "import_fasta_bytes": imp["import_bytes"],
                   "bytes": {p.name: p.stat().st_size for p in folder.iterdir() if p.is_file()}}
            results["runs"][n] = run
            for stage in ("simulate", "write", "split"):
                rows.append({"n": n, "stage": stage, "seconds": run[stage]["seconds"],
                             "process peak MB (ru_maxrss)": run[stage]["maxrss_mb"],
                             "stage's own peak MB (VmHWM)": run[stage]["stage_peak_mb"]})
            rows.append({"n": n, "stage": "TOTAL", "seconds": total, "process peak MB (ru_maxrss)": peak,
                         "stage's own peak MB (VmHWM)": None})
            rows.append({"n": n, "stage": "import (FASTA + labels; not in TOTAL)", "seconds": imp["import"]["seconds"],
                         "process peak MB (ru_maxrss)": imp["import"]["maxrss_mb"],
                         "stage's own peak MB (VmHWM)": imp["import"]["stage_peak_mb"]})
            print(table(rows[-5:]))
            print("   write_dataset by file (s): " + ", ".join(f"{k} {v:.2f}" for k, v in sw["write_files"].items()))
            print(f"   sample_background alone: {sw['simulate_parts']['sample_background']:.2f} s; "
                  f"stratification_key {sp['split_functions']['stratification_key']:.2f} s, stratified_split "
                  f"{sp['split_functions']['stratified_split']:.2f} s; {sw['n_sites']:,} planted sites")
            if not args.keep:
                shutil.rmtree(folder, ignore_errors=True)

        print("\n== all sizes")
        print(table(rows))
        sizes = args.sizes
        growth = []
        for small, large in zip(sizes, sizes[1:]):
            a, b = results["runs"][small], results["runs"][large]
            row = {"from -> to": f"{small:,} -> {large:,}", "size x": large / small}
            for stage in ("simulate", "write", "split", "import"):
                row[f"{stage} time x"] = b[stage]["seconds"] / a[stage]["seconds"]
            row["total time x"] = b["total_seconds"] / a["total_seconds"]
            row["peak x"] = b["peak_mb"] / a["peak_mb"]
            row["peak above baseline x"] = ((b["peak_mb"] - b["baseline_mb"]) / max(a["peak_mb"] - a["baseline_mb"],
                                                                                     1e-9))
            growth.append(row)
        print("\n== growth ratios (time and memory per 10x sequences; linear = 10)")
        print(table(growth))
        results["growth"] = growth
        largest = results["runs"][sizes[-1]]
        met = largest["total_seconds"] <= 60 and largest["peak_mb"] <= 2048
        print(f"\n{sizes[-1]:,} sequences: {largest['total_seconds']:.1f} s total, peak {largest['peak_mb']:.0f} MB "
              f"(target <= 60 s and <= 2048 MB: {'met' if met else 'NOT met'})")
        results["target_met"] = met
        results["load_average_end"] = os.getloadavg()[0]
        print(json.dumps(results, default=float))
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
