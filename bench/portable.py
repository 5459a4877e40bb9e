"""Training time with and without reproducibility: portable: one `seqtune finetune` from scratch per mode.

Usage: python bench/portable.py [--repeats 2] [--threads 2]. Prints one line per mode (seconds, best of the repeats,
and the CPU kernels the run recorded). Run it on a quiet machine; the numbers are this machine's.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def seqtune(*args):
    subprocess.run([str(BIN / "seqtune"), "--quiet", *args], check=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        seqtune("simulate", "--out-dir", str(folder / "data"), "--task", "motif_grammar", "--n-sequences", "3000",
                "--length", "200", "--required", "MA0139.2,MA0035.4", "--distractors", "MA0080.5", "--seed", "3")
        seqtune("split", "--codes", str(folder / "data" / "codes.npy"), "--manifest", str(folder / "manifest.tsv"),
                "--summary", str(folder / "summary.json"), "--validation-fraction", "0.15", "--test-fraction",
                "0.25", "--seed", "4")
        for mode in ("machine", "portable"):
            times = []
            for repeat in range(args.repeats):
                out = folder / f"{mode}{repeat}"
                started = time.perf_counter()
                seqtune("finetune", "--codes", str(folder / "data" / "codes.npy"), "--manifest",
                        str(folder / "manifest.tsv"), "--weights", str(out / "model.safetensors"), "--history",
                        str(out / "history.tsv"), "--train-ids", str(out / "train_ids.tsv"), "--strategy",
                        "scratch", "--train-size", "1000", "--seed", "5",
                        "--model", json.dumps({"channels": 64, "n_blocks": 2}),
                        "--training", json.dumps({"max_epochs": 5, "patience": 5, "batch_size": 32}),
                        "--threads", str(args.threads), "--reproducibility", mode)
                times.append(time.perf_counter() - started)
            cpu = json.loads((out / "model.json").read_text())["provenance"]["cpu"]
            print(f"{mode}\tbest_seconds={min(times):.1f}\tall={[round(t, 1) for t in times]}\tcpu={json.dumps(cpu)}",
                  flush=True)


if __name__ == "__main__":
    main()
