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
    _check_weights_file(weights)
    if not sidecar_path(weights).is_file():
        raise SeqtuneError(f"{weights}: its sidecar {sidecar_path(weights)} is missing (it says how to rebuild the "
                           "model); keep the .json that seqtune wrote beside the weights, or rerun the step")
    sidecar = read_json(sidecar_path(weights))
    if sidecar.get("format") == "seqtune-hf-model/1":  # a fine-tuned Hugging Face backbone (seqtune.hf)
        from .hf.steps import load_finetuned

        return load_finetuned(weights, sidecar), sidecar
    if sidecar.get("format") != "seqtune-model/1":
        raise SeqtuneError(f"{sidecar_path(weights)}: not a seqtune model sidecar (no 'format: seqtune-model/1')")
    model = SequenceModel(ModelSpec.from_dict(sidecar["model"]), int(sidecar["n_outputs"]),
                          sidecar.get("head", "linear"))
    try:
        state = load_file(str(weights))
    except FileNotFoundError:
        raise SeqtuneError(f"{weights}: weights file not found") from None
    except (SafetensorError, OSError, ValueError) as error:
        raise SeqtuneError(
            f"{weights}: not a readable safetensors file ({error}); it may be truncated or corrupt, "
            "delete it and rerun the step that writes it"
        ) from None
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(tensor.isfinite().all()):
            raise SeqtuneError(f"{weights}: tensor '{name}' holds NaN or infinite values; the weights come from a "
                               "diverged or damaged run, retrain them (with a lower learning rate if training "
                               "diverged)")
    expected = {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}
    found = {name: tuple(tensor.shape) for name, tensor in state.items()}
    if expected != found:
        missing, extra = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
        shapes = [f"'{name}' is {found[name]} but the architecture needs {expected[name]}"
                  for name in expected if name in found and found[name] != expected[name]]
        detail = "; ".join(shapes[:1] + ([f"missing tensor(s) {missing[:3]}"] if missing else [])
                           + ([f"unexpected tensor(s) {extra[:3]}"] if extra else []))
        raise SeqtuneError(
            f"{weights}: weights do not match the architecture in {sidecar_path(weights).name} ({detail}); "
            "the file comes from another model, retrain it or pair it with its own sidecar"
        )
    model.load_state_dict(state, strict=True)
    return model, sidecar


# First bytes of files that are pickles: torch.save's zip archive, or a raw pickle (protocols 2-5).
_PICKLE_MAGIC = {b"PK\x03\x04": "a PyTorch .pt/.pth file (torch.save: a zip of pickles)",
                 b"\x80\x02": "a pickle", b"\x80\x03": "a pickle", b"\x80\x04": "a pickle", b"\x80\x05": "a pickle"}


def _check_weights_file(weights: Path) -> None:
    """Refuse, with the fix, a weights file that is missing or not safetensors (pickles are never loaded: unpickling
    runs arbitrary code)."""
    if weights.is_dir():
        found = sorted(path.name for path in weights.glob("*.safetensors"))
        raise SeqtuneError(f"{weights}: is a folder; give the weights file in it"
                           + (f" ({weights / found[0]})" if found else " (a .safetensors file)"))
    if not weights.is_file():
        raise SeqtuneError(f"{weights}: weights file not found; check the path, or rerun the step that writes it")
    with open(weights, "rb") as handle:
        head = handle.read(9)
    # safetensors: a little-endian u64 header length, then the JSON header. Recognised first, because that length's
    # first bytes can look like a pickle's (a 1,408-byte header starts with 80 05, pickle protocol 5).
    header_length = int.from_bytes(head[:8], "little")
    if len(head) == 9 and head[8:9] == b"{" and header_length <= weights.stat().st_size - 8:
        return
    kind = next((name for magic, name in _PICKLE_MAGIC.items() if head.startswith(magic)), None)
    if kind is None and weights.suffix.lower() in (".pt", ".pth", ".pkl", ".bin", ".ckpt"):
        kind = f"a '{weights.suffix}' file"
    if kind is not None:
        raise SeqtuneError(
            f"{weights}: this is {kind}, not safetensors; seqtune never unpickles weights (loading a pickle can run "
            "arbitrary code). Convert it once where you trust it: state = torch.load(path, weights_only=True); "
            "safetensors.torch.save_file(state, 'model.safetensors'), and pair it with a seqtune model.json sidecar")
