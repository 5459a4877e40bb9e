#!/usr/bin/env python
"""Data preparation at scale: simulate, write the data set folder, split; 10^4, 10^5 and 10^6 sequences of 200 nt.

Stages (each size in fresh subprocesses, so that peak memory is the stage's own):

1. simulate: ``seqtune.simulate.simulate_presence`` with the default config's 8 JASPAR motifs, presence rate 0.3.
2. write:    ``seqtune.data.write_dataset`` (codes.npy, labels.tsv, sequences.fasta, sites.tsv, dataset.json).
   Stages 1 and 2 run in one process, as ``seqtune simulate`` does.
3. split:    ``seqtune.pipeline.split`` in a new process, as ``seqtune split`` does (read the folder,
   ``stratification_key`` + ``stratified_split``, write manifest.tsv and summary.json); the two library functions are
   also timed on their own.

Peak memory: ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (the process's high-water mark, so cumulative within a
process: the write stage's figure includes the simulation's peak; workers are started through ``/bin/sh`` so that
they do not inherit this process's figure); and, where the kernel allows it, each stage's own
peak (``VmHWM`` after resetting it through ``/proc/self/clear_refs``). Growth ratios compare each size with the
previous one (10x more sequences: ~10x time and memory is linear).

Then prototypes of fixes for the hot spots (copies of seqtune's functions with the change, in this file), run at every
size in their own processes, and checked to give identical arrays, tables and byte-identical files:

* ``sample_background``: the same uniforms drawn in chunks of 16,384 sequences (the same random stream, so the same
  codes), positions in a transposed, cache-friendly block, and 3 threshold comparisons instead of a (n, 4) gather +
  ``sum(axis=1)``; memory drops from 8 bytes/base (all uniforms at once) to 1.
* ``plant``: sort the sites by the carrier's integer row instead of ``Series.map`` of 2.4 M id strings to a dict.
* ``write_fasta``: bytes assembled with numpy (fixed-width ids) instead of decoding 10^6 Python strings.
* ``write_tsv``: rows joined from column lists instead of ``DataFrame.to_csv`` for integer/string tables.
* ``stratified_split``: classes as integer codes (``pd.factorize``) instead of ``np.unique`` and ``==`` on an object
  array of strings (timed in the split worker, same assignment checked).

Run:  .venv/bin/python bench/data_prep.py [--sizes 10000 100000 1000000] [--skip-prototypes]
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
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
import pandas as pd

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


# ------------------------------------------------------------------------------------------------- prototypes
def sample_background_fast(n: int, length: int, transitions: np.ndarray, rng: np.random.Generator,
                           chunk: int = 1 << 14) -> np.ndarray:
    """seqtune.simulate.sample_background, same random stream and output, chunked and without the (n, 4) gather."""
    stationary = np.linalg.matrix_power(transitions, 64)[0]
    codes = np.empty((n, length), dtype=np.uint8)
    cumulative = np.cumsum(transitions, axis=1)
    cumulative[:, -1] = 1.0
    codes[:, 0] = np.searchsorted(np.cumsum(stationary), rng.random(n), side="right").clip(max=3)
    # The 4th threshold is 1.0, never reached by a uniform in [0, 1): three comparisons count the same.
    thresholds = [np.ascontiguousarray(cumulative[:, k]) for k in range(3)]
    for low in range(0, n, chunk):
        high = min(low + chunk, n)
        uniforms = rng.random((high - low, length)).T.copy()  # rows low:high of the same (n, length) draw
        block = np.empty((length, high - low), dtype=np.uint8)
        block[0] = codes[low:high, 0]
        for position in range(1, length):
            previous, u = block[position - 1], uniforms[position]
            step = (u >= thresholds[0][previous]).view(np.uint8)
            step = step + (u >= thresholds[1][previous])
            block[position] = step + (u >= thresholds[2][previous])
        codes[low:high] = block.T
    return codes


def plant_fast(codes, presence, motifs, ids, rng):
    """seqtune.simulate.plant with the final ordering by integer row (no Series.map of id strings)."""
    from seqtune.errors import SeqtuneError
    from seqtune.sequence import COMPLEMENT
    from seqtune.simulate import sample_sites

    n, length = codes.shape
    bin_width = max(motif.width for motif in motifs)
    n_bins = length // bin_width
    per_sequence = presence.sum(axis=1)
    if n and per_sequence.max(initial=0) > n_bins:
        raise SeqtuneError("too many motifs for the sequence length")
    bin_order = np.argsort(rng.random((n, n_bins)), axis=1)
    slot = np.cumsum(presence, axis=1) - 1
    parts = []
    for motif_index, motif in enumerate(motifs):
        carriers = np.flatnonzero(presence[:, motif_index])
        if carriers.size == 0:
            continue
        bins = bin_order[carriers, slot[carriers, motif_index]]
        starts = bins * bin_width + rng.integers(0, bin_width - motif.width + 1, size=carriers.size)
        sites = sample_sites(motif, carriers.size, rng)
        minus = rng.random(carriers.size) < 0.5
        sites[minus] = COMPLEMENT[sites[minus]][:, ::-1]
        columns = starts[:, None] + np.arange(motif.width)[None, :]
        codes[carriers[:, None], columns] = sites
        parts.append((carriers, motif_index, starts, minus))
    columns = ["sequence_id", "motif_id", "motif_name", "start", "end", "strand"]
    if not parts:
        return pd.DataFrame(columns=columns)
    row = np.concatenate([p[0] for p in parts])
    motif_of = np.concatenate([np.full(p[0].size, p[1]) for p in parts])
    start = np.concatenate([p[2] for p in parts])
    minus = np.concatenate([p[3] for p in parts])
    order = np.lexsort((start, row))  # by sequence, then start (unique: sites never overlap)
    row, motif_of, start, minus = row[order], motif_of[order], start[order], minus[order]
    widths = np.array([m.width for m in motifs])
    return pd.DataFrame({
        "sequence_id": np.asarray(ids, dtype=object)[row],
        "motif_id": np.asarray([m.jaspar_id for m in motifs], dtype=object)[motif_of],
        "motif_name": np.asarray([m.name for m in motifs], dtype=object)[motif_of],
        "start": start,
        "end": start + widths[motif_of],
        "strand": np.where(minus, "-", "+"),
    })


def simulate_presence_fast(n_sequences, length, motif_ids, presence_rate, gc_content, cpg_ratio, seed,
                           id_prefix="seq"):
    """seqtune.simulate.simulate_presence with sample_background_fast and plant_fast (same output)."""
    from seqtune.motifs import load_motifs
    from seqtune.simulate import SimulatedData, markov_transitions

    rng = np.random.default_rng(seed)
    motifs = load_motifs(motif_ids)
    ids = [f"{id_prefix}{index:07d}" for index in range(n_sequences)]
    codes = sample_background_fast(n_sequences, length, markov_transitions(gc_content, cpg_ratio), rng)
    presence = rng.random((n_sequences, len(motifs))) < presence_rate
    sites = plant_fast(codes, presence, motifs, ids, rng)
    labels = pd.DataFrame(presence.astype(np.uint8), columns=[m.jaspar_id for m in motifs])
    labels.insert(0, "id", ids)
    task = {"type": "multilabel", "classes": [m.jaspar_id for m in motifs],
            "class_names": {m.jaspar_id: m.name for m in motifs}}
    return SimulatedData(ids, codes, labels, sites, task)


def write_fasta_fast(path, ids: list[str], codes: np.ndarray, chunk: int = 1 << 16) -> None:
    """write_fasta(path, ids, decode(codes)) without Python strings per sequence: '>' id '\\n' bases '\\n' rows
    assembled as one uint8 matrix per chunk when the ids share one width (simulated ids do), else joined per chunk."""
    from seqtune.io import atomic_open
    from seqtune.sequence import _DECODE

    n, length = codes.shape
    with atomic_open(path, "wb") as handle:
        for low in range(0, n, chunk):
            high = min(low + chunk, n)
            chunk_ids = ids[low:high]
            letters = _DECODE[codes[low:high]]
            encoded = np.array(chunk_ids, dtype=bytes)  # fixed-width S<w>, shorter ids padded with NUL
            width = encoded.dtype.itemsize
            if all(len(i) == width for i in chunk_ids) and all(i.isascii() for i in chunk_ids):
                rows = np.empty((high - low, width + length + 3), dtype=np.uint8)
                rows[:, 0] = ord(">")
                rows[:, 1:1 + width] = encoded.view(np.uint8).reshape(-1, width)
                rows[:, 1 + width] = ord("\n")
                rows[:, 2 + width:2 + width + length] = letters
                rows[:, -1] = ord("\n")
                handle.write(rows.tobytes())
            else:
                text = "".join(f">{i}\n{row.tobytes().decode('ascii')}\n" for i, row in zip(chunk_ids, letters))
                handle.write(text.encode())


def write_tsv_fast(path, frame: pd.DataFrame, chunk: int = 1 << 18) -> None:
    """write_tsv for tables of integer and plain-string columns (no tabs, quotes or newlines inside): rows joined
    from column lists, chunk by chunk. Other tables fall back to seqtune's write_tsv (pandas)."""
    from seqtune.io import atomic_open, write_tsv

    simple = all(pd.api.types.is_integer_dtype(frame[c]) or pd.api.types.is_string_dtype(frame[c])
                 or frame[c].dtype == object for c in frame.columns)
    if not simple or frame.empty:
        write_tsv(path, frame)
        return
    with atomic_open(path) as handle:
        handle.write("\t".join(map(str, frame.columns)) + "\n")
        for low in range(0, len(frame), chunk):
            part = frame.iloc[low:low + chunk]
            columns = []
            for name in frame.columns:
                values = part[name].to_numpy()
                if values.dtype == object:
                    strings = [str(v) for v in values]
                    if any(("\t" in v) or ('"' in v) or ("\n" in v) for v in strings):
                        raise ValueError("needs quoting")  # not expected in seqtune's tables
                    columns.append(strings)
                else:
                    columns.append(values.astype(str).tolist())
            handle.write("\n".join(map("\t".join, zip(*columns))) + "\n")


def write_dataset_fast(folder, ids, codes, labels, info, sites) -> dict:
    """seqtune.data.write_dataset with write_fasta_fast and write_tsv_fast; returns seconds per file."""
    from seqtune.io import write_json, write_npy

    folder = Path(folder)
    info = {**info, "n_sequences": int(codes.shape[0]), "length": int(codes.shape[1])}
    seconds = {}
    for name, action in (("codes.npy", lambda: write_npy(folder / "codes.npy", codes)),
                         ("labels.tsv", lambda: write_tsv_fast(folder / "labels.tsv", labels)),
                         ("sequences.fasta", lambda: write_fasta_fast(folder / "sequences.fasta", ids, codes)),
                         ("sites.tsv", lambda: write_tsv_fast(folder / "sites.tsv", sites)),
                         ("dataset.json", lambda: write_json(folder / "dataset.json", info))):
        started = time.perf_counter()
        action()
        seconds[name] = time.perf_counter() - started
    return seconds


def stratified_split_fast(labels: pd.Series, validation_fraction: float, test_fraction: float, seed: int,
                          source: str = "labels") -> np.ndarray:
    """seqtune.split.stratified_split on integer class codes (``pd.factorize``, sorted like ``np.unique``) instead
    of ``np.unique`` + ``values == label`` over an object array of strings; same random draws, same assignment."""
    from seqtune.errors import SeqtuneError

    rng = np.random.default_rng(seed)
    codes, classes = pd.factorize(labels, sort=True)
    counts = np.bincount(codes, minlength=len(classes))
    if len(classes) < 2:
        raise SeqtuneError(f"{source}: only one class present")
    assignment = np.empty(len(codes), dtype=object)
    by_class = np.argsort(codes, kind="stable")  # each class's members in increasing position, as flatnonzero
    ends = np.cumsum(counts)
    for k, count in enumerate(counts):
        members = by_class[ends[k] - count:ends[k]]
        members = members[rng.permutation(members.size)]
        n_test = int(round(count * test_fraction))
        n_validation = int(round(count * validation_fraction))
        if count >= 3 and n_test == 0:
            n_test = 1
        if count >= 3 and validation_fraction > 0 and n_validation == 0:
            n_validation = 1
        if count - n_test - n_validation < 1:
            raise SeqtuneError(f"{source}: class '{classes[k]}' has too few examples")
        assignment[members[:n_test]] = "test"
        assignment[members[n_test:n_test + n_validation]] = "validation"
        assignment[members[n_test + n_validation:]] = "train"
    return assignment


# ------------------------------------------------------------------------------------------------------ workers
def info_of(result) -> dict:
    return {**result.task, "source": "simulate", "simulation": {
        "task": "motif_presence", "seed": SEED, "gc_content": 0.41, "cpg_ratio": 0.25,
        "background": "markov order 1"}}


def worker_simulate_write(n: int, folder: Path, fast: bool) -> dict:
    record: dict = {"baseline_mb": maxrss_mb()}
    import seqtune.simulate as sim
    from seqtune.data import write_dataset

    sim.load_motifs(corpus_motifs())  # pyjaspar's database opened before timing (the stage's constant cost)
    record["after_imports_mb"] = maxrss_mb()
    with Stage(record, "simulate"):
        simulate = simulate_presence_fast if fast else sim.simulate_presence
        result = simulate(n, LENGTH, corpus_motifs(), 0.3, 0.41, 0.25, SEED)
    record["n_sites"] = len(result.sites)
    with Stage(record, "write"):
        if fast:
            record["write_files"] = write_dataset_fast(folder, result.ids, result.codes, result.labels,
                                                       info_of(result), result.sites)
        else:
            write_dataset(folder, result.ids, result.codes, result.labels, info_of(result), result.sites)
    if fast:  # the prototype background sampler alone, to separate its gain from plant_fast's
        rng = np.random.default_rng(SEED)
        started = time.perf_counter()
        codes = sample_background_fast(n, LENGTH, sim.markov_transitions(0.41, 0.25), rng)
        record["simulate_parts"] = {"sample_background": time.perf_counter() - started}
        del codes
    if not fast:  # where write_dataset's time goes: the same calls one by one, into a scratch folder
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
    assignment = stratified_split(key, 0.15, 0.25, SEED)
    end = time.perf_counter()
    fast = stratified_split_fast(key, 0.15, 0.25, SEED)
    record["split_functions"] = {"stratification_key": middle - started, "stratified_split": end - middle,
                                 "prototype stratified_split_fast": time.perf_counter() - end,
                                 "prototype identical": bool(np.array_equal(assignment, fast))}
    return record


def run_worker(kind: str, n: int, folder: Path, fast: bool = False) -> dict:
    # Through /bin/sh, which forks again: a process forked straight from this (large) one starts with this one's RSS
    # as its ru_maxrss (Linux copies the high-water mark at fork and keeps it across exec).
    command = ["/bin/sh", "-c", '"$0" "$@"; exit $?', sys.executable, __file__, "--worker", kind,
               "--worker-n", str(n), "--worker-dir", str(folder)]
    if fast:
        command.append("--worker-fast")
    out = subprocess.run(command, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"worker {kind} n={n} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------------------------------- helpers
def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def table(rows: list[dict]) -> str:
    columns = list(rows[0])
    cells = [[_fmt(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(cell[i]) for cell in cells)) for i, c in enumerate(columns)]
    out = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)), "  ".join("-" * w for w in widths)]
    return "\n".join(out + ["  ".join(x.ljust(w) for x, w in zip(cell, widths)) for cell in cells])


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def check_prototypes(n: int = 20000) -> dict:
    """The prototypes give the same arrays and tables as seqtune (checked in this process, at ``n``)."""
    import seqtune.simulate as sim

    a = sim.simulate_presence(n, LENGTH, corpus_motifs(), 0.3, 0.41, 0.25, SEED)
    b = simulate_presence_fast(n, LENGTH, corpus_motifs(), 0.3, 0.41, 0.25, SEED)
    same_codes = bool(np.array_equal(a.codes, b.codes))
    try:
        pd.testing.assert_frame_equal(a.sites, b.sites, check_dtype=False)
        same_sites = True
    except AssertionError:
        same_sites = False
    same_labels = a.labels.equals(b.labels)
    return {"codes": same_codes, "sites": same_sites, "labels": same_labels}


# ------------------------------------------------------------------------------------------------------------ main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--skip-prototypes", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data set folders")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--worker-n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--worker-dir", help=argparse.SUPPRESS)
    parser.add_argument("--worker-fast", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        folder = Path(args.worker_dir)
        record = (worker_simulate_write(args.worker_n, folder, args.worker_fast) if args.worker == "simulate_write"
                  else worker_split(args.worker_n, folder))
        print(json.dumps(record))
        return

    print(f"data_prep: sizes {args.sizes}, {LENGTH} nt, 8 motifs; load average {os.getloadavg()[0]:.1f}")
    tmp = Path(tempfile.mkdtemp(prefix="seqtune_data_prep_"))
    results: dict = {"bench": "data_prep", "date": datetime.date.today().isoformat(), "sizes": args.sizes,
                     "length": LENGTH, "load_average_start": os.getloadavg()[0], "runs": {}, "prototype": {}}
    try:
        if not args.skip_prototypes:
            results["prototype_equivalence"] = check_prototypes()
            print(f"prototype outputs identical to seqtune's (20,000 sequences): "
                  f"{results['prototype_equivalence']}")
        rows, breakdown = [], []
        for n in args.sizes:
            folder = tmp / f"n{n}"
            print(f"\n-- {n:,} sequences", flush=True)
            sw = run_worker("simulate_write", n, folder)
            sp = run_worker("split", n, folder)
            total = sw["simulate"]["seconds"] + sw["write"]["seconds"] + sp["split"]["seconds"]
            peak = max(sw["simulate"]["maxrss_mb"], sw["write"]["maxrss_mb"], sp["split"]["maxrss_mb"])
            run = {"simulate": sw["simulate"], "write": sw["write"], "split": sp["split"], "total_seconds": total,
                   "peak_mb": peak, "n_sites": sw["n_sites"], "write_files": sw["write_files"],
                   "simulate_parts": sw["simulate_parts"], "split_functions": sp["split_functions"],
                   "baseline_mb": sw["after_imports_mb"],
                   "bytes": {p.name: p.stat().st_size for p in folder.iterdir() if p.is_file()}}
            results["runs"][n] = run
            for stage in ("simulate", "write", "split"):
                rows.append({"n": n, "stage": stage, "seconds": run[stage]["seconds"],
                             "process peak MB (ru_maxrss)": run[stage]["maxrss_mb"],
                             "stage's own peak MB (VmHWM)": run[stage]["stage_peak_mb"]})
            rows.append({"n": n, "stage": "TOTAL", "seconds": total, "process peak MB (ru_maxrss)": peak,
                         "stage's own peak MB (VmHWM)": None})
            print(table(rows[-4:]))
            print("   write_dataset by file (s): " + ", ".join(f"{k} {v:.2f}" for k, v in sw["write_files"].items()))
            print(f"   sample_background alone: {sw['simulate_parts']['sample_background']:.2f} s; "
                  f"stratification_key {sp['split_functions']['stratification_key']:.2f} s, stratified_split "
                  f"{sp['split_functions']['stratified_split']:.2f} s (prototype on integer codes "
                  f"{sp['split_functions']['prototype stratified_split_fast']:.2f} s, identical "
                  f"{sp['split_functions']['prototype identical']}); {sw['n_sites']:,} planted sites")
            if not args.skip_prototypes:
                fast_folder = tmp / f"n{n}_fast"
                fw = run_worker("simulate_write", n, fast_folder, fast=True)
                identical = {name: sha256(folder / name) == sha256(fast_folder / name)
                             for name in ("codes.npy", "labels.tsv", "sequences.fasta", "sites.tsv", "dataset.json")}
                results["prototype"][n] = {"simulate": fw["simulate"], "write": fw["write"],
                                           "simulate_parts": fw["simulate_parts"],
                                           "write_files": fw["write_files"], "identical_files": identical}
                print(f"   prototype sample_background alone: {fw['simulate_parts']['sample_background']:.2f} s")
                print(f"   prototype: simulate {fw['simulate']['seconds']:.2f} s (peak "
                      f"{fw['simulate']['maxrss_mb']:.0f} MB), write {fw['write']['seconds']:.2f} s (peak "
                      f"{fw['write']['maxrss_mb']:.0f} MB); files byte-identical: {identical}")
                print("   prototype write by file (s): " + ", ".join(f"{k} {v:.2f}"
                                                                     for k, v in fw["write_files"].items()))
            if not args.keep:
                for path in (folder, tmp / f"n{n}_fast"):
                    shutil.rmtree(path, ignore_errors=True)

        print("\n== all sizes")
        print(table(rows))
        sizes = args.sizes
        growth = []
        for small, large in zip(sizes, sizes[1:]):
            a, b = results["runs"][small], results["runs"][large]
            row = {"from -> to": f"{small:,} -> {large:,}", "size x": large / small}
            for stage in ("simulate", "write", "split"):
                row[f"{stage} time x"] = b[stage]["seconds"] / a[stage]["seconds"]
            row["total time x"] = b["total_seconds"] / a["total_seconds"]
            row["peak x"] = b["peak_mb"] / a["peak_mb"]
            row["peak above baseline x"] = ((b["peak_mb"] - b["baseline_mb"]) / max(a["peak_mb"] - a["baseline_mb"],
                                                                                     1e-9))
            growth.append(row)
        print("\n== growth ratios (time and memory per 10x sequences; linear = 10)")
        print(table(growth))
        results["growth"] = growth
        if not args.skip_prototypes:
            proto_rows = []
            for n in sizes:
                base, fast = results["runs"][n], results["prototype"][n]
                proto_rows.append({
                    "n": n, "simulate s": base["simulate"]["seconds"], "proto simulate s": fast["simulate"]["seconds"],
                    "simulate x faster": base["simulate"]["seconds"] / fast["simulate"]["seconds"],
                    "simulate peak MB": base["simulate"]["maxrss_mb"], "proto peak MB": fast["simulate"]["maxrss_mb"],
                    "write s": base["write"]["seconds"], "proto write s": fast["write"]["seconds"],
                    "write x faster": base["write"]["seconds"] / fast["write"]["seconds"],
                    "total s": base["total_seconds"],
                    "proto total s": fast["simulate"]["seconds"] + fast["write"]["seconds"] + base["split"]["seconds"],
                    "identical files": all(fast["identical_files"].values())})
            print("\n== prototypes (same process layout; split unchanged)")
            print(table(proto_rows))
            results["prototype_summary"] = proto_rows
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
