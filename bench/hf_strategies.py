"""What each fine-tuning strategy costs on a Hugging Face backbone: step time, peak memory, trainable parameters, and
the linear probe's speed-up from embedding the data set once instead of once per epoch.

    .venv/bin/python bench/hf_strategies.py [--hidden 64] [--layers 2] [--train-size 256] [--epochs 3]

A small BERT-style masked LM (random weights, character tokenizer, saved with save_pretrained as a checkpoint
arrives on disk) on the default target's sequences (200 nt). Every strategy runs the real step, `seqtune finetune`,
in a fresh process (so each peak resident set is that strategy's own), for a fixed number of epochs (no early
stopping), batch 32, 1 thread. Step time = the run's training seconds / optimiser steps; it includes one pass over
the 64-sequence validation split per epoch. The probe's speed-up compares what it does (one `seqtune embed` pass over
the data set, then the head's epochs) with what a probe that runs the frozen backbone every epoch would spend
(that pass's per-sequence time x the training and validation sequences x epochs, plus the same head epochs).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
STRATEGIES = ["linear_probe", "lora", "partial", "full", "random_init"]


def seqtune(*args: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "seqtune.cli", *args, "--quiet"], check=True, env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--train-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()

    from hf_models import tiny_bert

    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        n_sequences = args.train_size + 64 + 64
        seqtune("simulate", "--out-dir", str(work / "data"), "--task", "motif_grammar", "--n-sequences",
                str(n_sequences), "--length", "200", "--required", "MA0139.2,MA0035.4", "--seed", "1")
        seqtune("split", "--codes", str(work / "data/codes.npy"), "--manifest", str(work / "manifest.tsv"),
                "--summary", str(work / "summary.json"), "--validation-fraction", f"{64 / n_sequences:.6f}",
                "--test-fraction", f"{64 / n_sequences:.6f}", "--seed", "1")
        checkpoint = tiny_bert(work / "bert", max_positions=256, hidden=args.hidden, layers=args.layers)
        seqtune("import-model", "--path", str(checkpoint), "--output", str(work / "base.json"), "--length", "200")
        seqtune("embed", "--base", str(work / "base.json"), "--codes", str(work / "data/codes.npy"), "--output",
                str(work / "embeddings.npy"), "--threads", "1")
        embedding = json.loads((work / "embeddings.json").read_text())
        per_sequence = embedding["seconds"] / n_sequences
        training = {"max_epochs": args.epochs, "patience": args.epochs + 1, "batch_size": 32,
                    "learning_rate": 1e-3, "unfreeze_blocks": 1}
        steps = args.epochs * -(-args.train_size // 32)
        print(f"# BERT-style masked LM, hidden {args.hidden}, {args.layers} layers, 200 nt (202 tokens), train "
              f"{args.train_size}, validation 64, batch 32, {args.epochs} epochs = {steps} optimiser steps, 1 thread")
        print(f"# {platform.processor() or platform.machine()}, torch {__import__('torch').__version__}, "
              f"load average {os.getloadavg()[0]:.1f}")
        print(f"embed: {n_sequences} sequences in {embedding['seconds']:.2f} s ({per_sequence * 1000:.2f} ms each)")
        print(f"{'strategy':<13} {'trainable':>10} {'total':>10} {'train s':>8} {'ms/step':>8} {'peak MB':>8}")
        rows = {}
        for strategy in STRATEGIES:
            run = work / strategy
            extra = ["--embeddings", str(work / "embeddings.npy")] if strategy == "linear_probe" else []
            seqtune("finetune", "--codes", str(work / "data/codes.npy"), "--manifest", str(work / "manifest.tsv"),
                    "--pretrained", str(work / "base.json"), "--weights", str(run / "model.safetensors"),
                    "--history", str(run / "history.tsv"), "--train-ids", str(run / "train_ids.tsv"),
                    "--strategy", strategy, "--train-size", str(args.train_size), "--training",
                    json.dumps(training), "--seed", "1", "--threads", "1", *extra)
            cost = json.loads((run / "model.json").read_text())["cost"]
            rows[strategy] = cost
            print(f"{strategy:<13} {cost['trainable_parameters']:>10,} {cost['total_parameters']:>10,} "
                  f"{cost['train_seconds']:>8.2f} {cost['train_seconds'] / steps * 1000:>8.1f} "
                  f"{cost['peak_memory_mb']:>8.0f}")
        probe = rows["linear_probe"]["train_seconds"]
        once = embedding["seconds"] + probe
        per_epoch = per_sequence * (args.train_size + 64) * args.epochs + probe
        print(f"linear_probe: embed once + head = {once:.2f} s; frozen backbone every epoch + head would be "
              f"{per_epoch:.2f} s: {per_epoch / once:.1f}x speed-up at {args.epochs} epochs (it grows with epochs; "
              f"one embedding serves every seed and train size)")


if __name__ == "__main__":
    main()
