"""Model weights as safetensors (never pickle) with a JSON sidecar that says how to rebuild and read the model."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import SeqtuneError
from .io import atomic_path, read_json, write_json
from .models import ModelSpec, SequenceModel


def sidecar_path(weights: str | os.PathLike) -> Path:
    return Path(weights).with_suffix(".json")


def save_model(model: SequenceModel, weights: str | os.PathLike, metadata: dict) -> None:
    """Write ``weights`` (.safetensors) and its sidecar (.json): architecture, task, classes, and ``metadata``."""
    from safetensors.torch import save_file

    state = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    with atomic_path(weights) as tmp:
        save_file(state, str(tmp))
    from . import __version__

    sidecar = {"format": "seqtune-model/1", "seqtune_version": __version__, "model": model.spec.to_dict(),
               "n_outputs": model.n_outputs, "head": model.head_kind, **metadata}
    write_json(sidecar_path(weights), sidecar)


def load_model(weights: str | os.PathLike) -> tuple[SequenceModel, dict]:
    """Rebuild a model from its sidecar and load its safetensors weights; errors name the file and the fix."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights = Path(weights)
    sidecar = read_json(sidecar_path(weights))
    if sidecar.get("format") != "seqtune-model/1":
        raise SeqtuneError(f"{sidecar_path(weights)}: not a seqtune model sidecar (no 'format: seqtune-model/1')")
    model = SequenceModel(ModelSpec.from_dict(sidecar["model"]), int(sidecar["n_outputs"]), sidecar.get("head", "linear"))
    try:
        state = load_file(str(weights))
    except FileNotFoundError:
        raise SeqtuneError(f"{weights}: weights file not found") from None
    except (SafetensorError, OSError, ValueError) as error:
        raise SeqtuneError(
            f"{weights}: not a readable safetensors file ({error}); it may be truncated or corrupt, "
            "delete it and rerun the step that writes it"
        ) from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        first = str(error).splitlines()[0]
        raise SeqtuneError(
            f"{weights}: weights do not match the architecture in {sidecar_path(weights).name} ({first}); "
            "the file comes from another model, retrain it or pair it with its own sidecar"
        ) from None
    return model, sidecar
