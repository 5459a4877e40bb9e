"""How far test AUROC moves between x86-64 machines under reproducibility: machine, emulated on one CPU.

Usage: python bench/cross_kernel.py [--seeds 3] [--train-sizes 100 1000] [--threads 2] [--config config/config.yaml]
                                    [--portable-train-size 100]

Two x86-64 machines with the same packages differ, on the CPU, in the kernels torch picks at start-up: ATen's
vectorised kernels (ATEN_CPU_CAPABILITY: avx512, avx2, default) and oneDNN's JIT kernels (ONEDNN_MAX_CPU_ISA). Both
caps are read once, before torch is imported, so each run here is a fresh `seqtune` process with them in its
environment. On an AVX-512 CPU three emulated machines:

* avx512: ATen AVX512, oneDNN uncapped (this CPU's best, as a recent AVX-512 server picks them);
* avx2: ATen AVX2, oneDNN capped at AVX2 (a desktop or an AVX2-only server);
* sse41: ATen default, oneDNN capped at SSE4.1 (an old x86-64 CPU; the kernels `portable` pins).

The default study's target (config/config.yaml: its simulated target, split and seeds, derived as the workflow derives
them) is simulated and split once. For each train size and run seed 1..--seeds, a model is trained from scratch with
the default CNN and the study's fine-tuning settings (`seqtune finetune --strategy scratch`, --reproducibility
machine) on each emulated machine and scored on the test split (`seqtune evaluate`). Printed per train size: test
AUROC per machine and seed, the largest absolute difference between machines per seed, its median and maximum over
seeds, and beside it the seed-to-seed standard deviation of AUROC (per machine, ddof 1): the spread the verdict's
intervals already carry. Then one pair (avx512 and avx2, first seed, --portable-train-size) again under
--reproducibility portable, where both are expected to give byte-identical weights and the same AUROC.

Same threads on every emulated machine (--threads), so only the kernels differ; this is kernel levels on one CPU,
not two physical machines (other CPU families, library versions and thread counts are not covered). The last line
is one JSON object with every figure. Nothing is asserted. Cost: `--seeds 5` took 12 CPU-minutes (42 wall minutes on
a 2-core machine at load 6-10); the default of 3 seeds about 60% of that. The sse41 runs take about twice as long as
the avx512 ones.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from seqtune.io import sha256_file
from seqtune.seeds import derive_seed

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parent.parent
# Environment of each emulated machine (None: the variable is removed, the CPU's own best is used).
MACHINES = {
    "avx512": {"ATEN_CPU_CAPABILITY": "avx512", "ONEDNN_MAX_CPU_ISA": None},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "sse41": {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41"},
}
PORTABLE_PAIR = ("avx512", "avx2")  # neither is the level portable pins, so portable overrides both
# Which ISA oneDNN actually JIT-compiles for under each cap: one convolution with ONEDNN_VERBOSE=1.
PROBE = ("import torch; torch.nn.functional.conv1d(torch.randn(8, 4, 200), torch.randn(16, 4, 15)); "
         "print('aten', torch.backends.cpu.get_cpu_capability())")


def environment(machine: str, **extra) -> dict:
    env = dict(os.environ)
    for name, value in {**MACHINES[machine], **extra}.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def seqtune(*args, env=None):
    subprocess.run([str(BIN / "seqtune"), "--quiet", *args], check=True, env=env)


def kernels(machine: str) -> str:
    """What the emulated machine runs: ATen's dispatched capability and oneDNN's ISA line."""
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True,
                         env=environment(machine, ONEDNN_VERBOSE="1")).stdout
    aten = next((line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("aten ")), "?")
    isa = next((line.split("isa:", 1)[1] for line in out.splitlines() if "isa:" in line), "?")
    conv = next((line.split(",")[6] for line in out.splitlines() if ",exec,cpu,convolution," in line), "?")
    return f"ATen {aten}; oneDNN {isa}, convolution {conv}"


def sd(values):
    return statistics.stdev(values) if len(values) > 1 else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3, help="run seeds 1..N (default 3)")
    parser.add_argument("--train-sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--config", type=Path, default=REPO / "config" / "config.yaml")
    parser.add_argument("--portable-train-size", type=int, default=None,
                        help="train size of the portable pair (default: the smallest of --train-sizes)")
    args = parser.parse_args()
    config = yaml.safe_load(args.config.read_text())
    target_name = config["finetune"]["dataset"]
    target = config["datasets"][target_name]
    background = {**config["background"], **target.get("background", {})}
    training = {**config["finetune"].get("training", {}), **config["finetune"]["strategy_training"].get("scratch", {})}
    training.pop("checkpoint_every", None)
    model = config["model"]
    seeds = list(range(1, args.seeds + 1))
    portable_size = args.portable_train_size or min(args.train_sizes)
    started_all = time.perf_counter()

    print(f"target: {target['task']}, {target['n_sequences']} x {config['sequence_length']} nt, required "
          f"{','.join(target['required'])}, distractors {','.join(target['distractors'])}; scratch, model "
          f"{json.dumps(model, sort_keys=True)}, training {json.dumps(training, sort_keys=True)}, "
          f"{args.threads} threads", flush=True)
    kernel_lines = {machine: kernels(machine) for machine in MACHINES}
    for machine, line in kernel_lines.items():
        print(f"machine {machine}: {line}", flush=True)

    runs = []  # one dict per finetune + evaluate
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        data = folder / "data"
        seqtune("simulate", "--out-dir", str(data), "--task", target["task"],
                "--n-sequences", str(target["n_sequences"]), "--length", str(config["sequence_length"]),
                "--required", ",".join(target["required"]), "--distractors", ",".join(target["distractors"]),
                "--distractor-rate", str(target["distractor_rate"]),
                "--positive-fraction", str(target["positive_fraction"]), "--label-noise", str(target["label_noise"]),
                "--gc-content", str(background["gc_content"]), "--cpg-ratio", str(background["cpg_ratio"]),
                "--seed", str(derive_seed(config["seed"], "simulate", target_name)))
        split = config["split"]
        seqtune("split", "--codes", str(data / "codes.npy"), "--manifest", str(folder / "manifest.tsv"),
                "--summary", str(folder / "summary.json"), "--method", split.get("method", "stratified"),
                "--validation-fraction", str(split["validation_fraction"]),
                "--test-fraction", str(split["test_fraction"]),
                "--seed", str(derive_seed(config["seed"], "split", target_name)))

        def run(machine, size, seed, mode):
            out = folder / mode / machine / f"n{size}" / f"seed{seed}"
            env = environment(machine)
            started = time.perf_counter()
            seqtune("finetune", "--codes", str(data / "codes.npy"), "--manifest", str(folder / "manifest.tsv"),
                    "--weights", str(out / "model.safetensors"), "--history", str(out / "history.tsv"),
                    "--train-ids", str(out / "train_ids.tsv"), "--strategy", "scratch", "--train-size", str(size),
                    "--seed", str(derive_seed(config["seed"], "run", seed)),
                    "--model", json.dumps(model, sort_keys=True), "--training", json.dumps(training, sort_keys=True),
                    "--threads", str(args.threads), "--reproducibility", mode, env=env)
            train_seconds = time.perf_counter() - started
            seqtune("evaluate", "--codes", str(data / "codes.npy"), "--manifest", str(folder / "manifest.tsv"),
                    "--weights", str(out / "model.safetensors"), "--predictions", str(out / "predictions.tsv"),
                    "--metrics", str(out / "metrics.json"), "--threads", str(args.threads),
                    "--reproducibility", mode, env=env)
            metrics = json.loads((out / "metrics.json").read_text())
            cpu = json.loads((out / "model.json").read_text())["provenance"]["cpu"]
            epochs = len((out / "history.tsv").read_text().splitlines()) - 1
            record = {"mode": mode, "machine": machine, "train_size": size, "seed": seed,
                      "auroc": metrics["auroc"], "best_epoch": metrics.get("best_epoch"), "epochs": epochs,
                      "weights_sha256": sha256_file(out / "model.safetensors"),
                      "train_seconds": round(train_seconds, 1), "cpu": cpu}
            runs.append(record)
            print(f"  {mode:8s} {machine:6s} n={size:<5d} seed={seed}  auroc={record['auroc']:.4f}  "
                  f"epochs={epochs} (best {record['best_epoch']})  {train_seconds:.0f} s  cpu={json.dumps(cpu)}",
                  flush=True)
            return record

        print("\nruns (reproducibility: machine)", flush=True)
        # Machines in rotating order per seed, so that a change of load falls on all of them alike.
        order = list(MACHINES)
        for size in args.train_sizes:
            for index, seed in enumerate(seeds):
                for machine in order[index % 3:] + order[:index % 3]:
                    run(machine, size, seed, "machine")
        print(f"\nruns (reproducibility: portable), pair {PORTABLE_PAIR[0]} / {PORTABLE_PAIR[1]}", flush=True)
        portable_runs = [run(machine, portable_size, seeds[0], "portable") for machine in PORTABLE_PAIR]

    figures = {}
    for size in args.train_sizes:
        table = {(r["machine"], r["seed"]): r for r in runs if r["mode"] == "machine" and r["train_size"] == size}
        print(f"\n== train size {size}: test AUROC (scratch, reproducibility: machine) ==")
        print("seed\t" + "\t".join(MACHINES) + "\tmax |diff|\tepochs (" + "/".join(MACHINES) + ")\tweights")
        diffs = []
        for seed in seeds:
            values = [table[(m, seed)]["auroc"] for m in MACHINES]
            diffs.append(max(values) - min(values))
            distinct = len({table[(m, seed)]["weights_sha256"] for m in MACHINES})
            print(f"{seed}\t" + "\t".join(f"{v:.4f}" for v in values) + f"\t{diffs[-1]:.4f}\t"
                  + "/".join(str(table[(m, seed)]["epochs"]) for m in MACHINES) + f"\t{distinct} distinct")
        per_machine = {m: [table[(m, seed)]["auroc"] for seed in seeds] for m in MACHINES}
        seed_sd = {m: sd(values) for m, values in per_machine.items()}
        print("mean\t" + "\t".join(f"{statistics.mean(v):.4f}" for v in per_machine.values()))
        print("seed sd\t" + "\t".join(f"{v:.4f}" for v in seed_sd.values()))
        median_diff, max_diff = statistics.median(diffs), max(diffs)
        mean_sd = statistics.mean(seed_sd.values())
        mean_spread = max(statistics.mean(v) for v in per_machine.values()) - min(
            statistics.mean(v) for v in per_machine.values())
        print(f"max |diff| across machines per seed: median {median_diff:.4f}, max {max_diff:.4f} over "
              f"{len(seeds)} seeds; seed-to-seed sd {mean_sd:.4f} (mean over machines); median/sd "
              f"{median_diff / mean_sd:.2f}, max/sd {max_diff / mean_sd:.2f}; machines' means differ by at most "
              f"{mean_spread:.4f}")
        figures[str(size)] = {
            "auroc": {m: per_machine[m] for m in MACHINES},
            "epochs": {m: [table[(m, seed)]["epochs"] for seed in seeds] for m in MACHINES},
            "max_abs_diff_per_seed": diffs, "median_max_abs_diff": median_diff, "max_max_abs_diff": max_diff,
            "seed_sd": seed_sd, "seed_sd_mean": mean_sd, "machine_means_max_diff": mean_spread,
            "train_seconds": {m: [table[(m, seed)]["train_seconds"] for seed in seeds] for m in MACHINES},
            "distinct_weights_per_seed": [len({table[(m, seed)]["weights_sha256"] for m in MACHINES})
                                          for seed in seeds],
        }

    a, b = portable_runs
    portable = {"pair": list(PORTABLE_PAIR), "train_size": portable_size, "seed": seeds[0],
                "auroc": [a["auroc"], b["auroc"]], "abs_diff": abs(a["auroc"] - b["auroc"]),
                "weights_identical": a["weights_sha256"] == b["weights_sha256"], "cpu": [a["cpu"], b["cpu"]],
                "train_seconds": [a["train_seconds"], b["train_seconds"]]}
    print(f"\n== reproducibility: portable, {PORTABLE_PAIR[0]} vs {PORTABLE_PAIR[1]}, n={portable_size}, "
          f"seed {seeds[0]} ==")
    print(f"auroc {a['auroc']:.6f} vs {b['auroc']:.6f}: |diff| {portable['abs_diff']:.6f}; weights byte-identical: "
          f"{portable['weights_identical']}")
    total = time.perf_counter() - started_all
    print(f"\ntotal {total / 60:.1f} min")
    print(json.dumps({"config": str(args.config.resolve().relative_to(REPO)) if args.config.resolve().is_relative_to(
        REPO) else args.config.name, "threads": args.threads, "seeds": seeds, "train_sizes": args.train_sizes,
        "training": training, "machines": {m: {"env": MACHINES[m], "kernels": kernel_lines[m]} for m in MACHINES},
        "by_train_size": figures, "portable": portable, "runs": runs, "total_seconds": round(total, 1)}))


if __name__ == "__main__":
    main()
