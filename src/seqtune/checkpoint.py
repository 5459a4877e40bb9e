"""Training checkpoints as safetensors (no pickle): model, optimiser, best state, RNG states and progress.

A job killed at any moment resumes from its last checkpoint and ends bit for bit where an uninterrupted run would
(on the CPU). A checkpoint carries a fingerprint of the run's settings; one written by a run with other settings is
ignored, so a changed config never resumes a stale run.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import torch

from .io import atomic_path

log = logging.getLogger("seqtune")


def save_checkpoint(path: str | os.PathLike, fingerprint: str, model, optimizer, best_state, generator,
                    progress: dict) -> None:
    """Write everything needed to continue training after ``progress['epoch']`` epochs, atomically."""
    from safetensors.torch import save_file

    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if best_state is not None:
        tensors.update({f"best.{k}": v.detach().cpu().contiguous() for k, v in best_state.items()})
    optimizer_state = optimizer.state_dict()
    for index, state in optimizer_state["state"].items():
        for key, value in state.items():
            tensors[f"optim.{index}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    tensors["rng.generator"] = generator.get_state()
    tensors["rng.torch"] = torch.get_rng_state()
    metadata = {"fingerprint": fingerprint, "progress": json.dumps(progress),
                "param_groups": json.dumps(optimizer_state["param_groups"])}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def load_checkpoint(path: str | os.PathLike, fingerprint: str, model, optimizer, generator) -> tuple[dict, dict] | None:
    """Restore a checkpoint into ``model``, ``optimizer`` and ``generator``; returns (progress, best_state), or None
    when there is no usable checkpoint (missing, unreadable, or from a run with other settings)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.exists():
        return None
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except Exception as error:  # a checkpoint is an optimisation: a bad one means starting over, not failing
        log.warning("ignoring unreadable checkpoint %s (%s); training from the start", path, error)
        return None
    if metadata.get("fingerprint") != fingerprint:
        log.warning("ignoring checkpoint %s: it was written with other settings; training from the start", path)
        return None
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    best = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")} or None
    state: dict = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": json.loads(metadata["param_groups"])})
    generator.set_state(tensors["rng.generator"])
    torch.set_rng_state(tensors["rng.torch"])
    progress = json.loads(metadata["progress"])
    log.info("resumed from checkpoint %s after epoch %d", path, progress["epoch"])
    return progress, best
