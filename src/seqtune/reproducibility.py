"""CPU settings that make results reproducible across machines (``reproducibility: portable``).

On one machine and one software environment, seqtune's CPU results are bitwise identical from run to run (fixed seeds,
fixed thread count). Across machines they differ in the last bits, which training then amplifies, because PyTorch
picks its CPU kernels by what the processor supports:

* ATen's vectorised kernels (element-wise ops, reductions, softmax, optimiser steps) are compiled for several
  instruction sets and dispatched at start-up to the best one the CPU has (``DEFAULT``, ``AVX2``, ``AVX512``);
  ``ATEN_CPU_CAPABILITY`` caps the choice.
* oneDNN (convolutions, matrix products of ``mkldnn``) JIT-compiles kernels for the CPU's best ISA; their blocking and
  summation order follow the vector width. ``ONEDNN_MAX_CPU_ISA`` caps it.
* The number of threads splits reductions into chunks, so sums change with it.

``portable`` sets both caps to a level every x86-64 CPU of the last fifteen years has (``default`` and ``SSE41``) and
one thread, before torch is imported (:func:`apply`). What it cannot pin: the versions of torch, oneDNN, BLAS and
libm (install them from a lock file), non-x86 CPUs (ARM has its own kernels) and GPUs. See
docs/reproducibility.md.
"""

from __future__ import annotations

import logging
import os
import sys

log = logging.getLogger("seqtune")

MODES = ("machine", "portable")
# Set before torch loads: the dispatcher and oneDNN read them once.
PORTABLE_ENVIRONMENT = {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41"}
PORTABLE_THREADS = 1
ENVIRONMENT_VARIABLE = "SEQTUNE_REPRODUCIBILITY"


def apply(mode: str) -> None:
    """Under ``portable``, set the CPU caps for this process (and its children) and record the mode, so that
    :func:`threads` gives one thread; must run before torch is imported. ``machine`` changes nothing."""
    if mode not in MODES:
        raise ValueError(f"reproducibility mode '{mode}' is not one of {', '.join(MODES)}")
    if mode == "machine":
        return
    if "torch" in sys.modules:
        raise RuntimeError("reproducibility: portable must be applied before torch is imported")
    for name, value in PORTABLE_ENVIRONMENT.items():
        if os.environ.get(name, value) != value:
            log.info("reproducibility: portable overrides %s=%s with %s", name, os.environ[name], value)
        os.environ[name] = value
    os.environ[ENVIRONMENT_VARIABLE] = mode


def mode() -> str:
    return os.environ.get(ENVIRONMENT_VARIABLE, "machine")


def threads(requested: int | None) -> int | None:
    """The torch thread count to use: the requested one, or one under ``portable``."""
    if mode() == "portable" and requested != PORTABLE_THREADS:
        log.info("reproducibility: portable trains on %d thread (asked for %s)", PORTABLE_THREADS, requested)
        return PORTABLE_THREADS
    return requested


def cpu_settings() -> dict:
    """What decides the CPU kernels of this process: the mode, ATen's dispatched capability, the oneDNN cap and the
    thread count (recorded in every provenance record, so two results can be told apart by their kernels)."""
    import torch

    return {"reproducibility": mode(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"), "threads": torch.get_num_threads()}
