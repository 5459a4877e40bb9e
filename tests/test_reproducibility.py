"""reproducibility: portable gives the same weights under different CPU kernel levels; machine does not.

Two processes on this CPU stand in for two machines: one with AVX2 kernels (ATEN_CPU_CAPABILITY=avx2,
ONEDNN_MAX_CPU_ISA=AVX2), one with the baseline kernels (default, SSE41), as an older CPU would pick them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
AVX2 = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
BASELINE = {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41"}

pytestmark = pytest.mark.skipif(" avx2" not in Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists()
                                else True, reason="needs an x86-64 CPU with AVX2")


def run(*args, env=None):
    process = subprocess.run([str(BIN / "seqtune"), *args], capture_output=True, text=True,
                             env={**os.environ, **(env or {})})
    assert process.returncode == 0, process.stderr[-3000:]
    return process


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    folder = tmp_path_factory.mktemp("repro")
    run("simulate", "--out-dir", str(folder / "data"), "--task", "motif_grammar", "--n-sequences", "400",
        "--length", "100", "--required", "MA0139.2,MA0035.4", "--distractors", "MA0080.5", "--seed", "3")
    run("split", "--codes", str(folder / "data" / "codes.npy"), "--manifest", str(folder / "manifest.tsv"),
        "--summary", str(folder / "summary.json"), "--validation-fraction", "0.2", "--test-fraction", "0.2",
        "--seed", "4")
    return folder


def train(folder: Path, name: str, env: dict, mode: str) -> tuple[bytes, dict]:
    out = folder / name
    run("finetune", "--codes", str(folder / "data" / "codes.npy"), "--manifest", str(folder / "manifest.tsv"),
        "--weights", str(out / "model.safetensors"), "--history", str(out / "history.tsv"),
        "--train-ids", str(out / "train_ids.tsv"), "--strategy", "scratch", "--train-size", "150", "--seed", "5",
        "--model", json.dumps({"channels": 16, "n_blocks": 2}),
        "--training", json.dumps({"max_epochs": 2, "patience": 2, "batch_size": 32}),
        "--threads", "2", "--reproducibility", mode, env=env)
    sidecar = json.loads((out / "model.json").read_text())
    return (out / "model.safetensors").read_bytes(), sidecar["provenance"]["cpu"]


def test_portable_weights_agree_across_kernel_levels_and_machine_weights_do_not(target):
    fast, fast_cpu = train(target, "machine_avx2", AVX2, "machine")
    slow, slow_cpu = train(target, "machine_default", BASELINE, "machine")
    assert (fast_cpu["cpu_capability"], slow_cpu["cpu_capability"]) == ("AVX2", "DEFAULT")
    assert fast_cpu["reproducibility"] == "machine" and fast_cpu["threads"] == 2
    assert fast != slow  # the kernel level alone changes the weights: what portable has to remove

    a, a_cpu = train(target, "portable_avx2", AVX2, "portable")
    b, b_cpu = train(target, "portable_default", BASELINE, "portable")
    assert a == b
    assert a_cpu == b_cpu == {"reproducibility": "portable", "cpu_capability": "DEFAULT",
                              "onednn_max_cpu_isa": "SSE41", "threads": 1}
