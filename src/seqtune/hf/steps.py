"""Pipeline steps for Hugging Face backbones: ``import-model`` (check a checkpoint, record its identity),
``embed`` (a linear probe's frozen embeddings, once per data set), building a model to fine-tune, and saving and
loading fine-tuned models (the head, the LoRA adapter or every weight, as safetensors with a JSON sidecar that names
the base checkpoint and the SHA-256 of its weight files)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import SeqtuneError
from ..io import read_json, write_json, write_npy
from . import HF_BASE_FORMAT, HF_MODEL_FORMAT, HF_STRATEGIES
from .backbone import (HFBackbone, HFSequenceModel, HFSpec, apply_lora, check_checkpoint, load_pretrained_model,
                       load_tokenizer, max_tokens, require_transformers, tokenize_codes, weights_sha256)

log = logging.getLogger("seqtune")

# What a fine-tuned model's safetensors file holds, by strategy: the rest comes from the base checkpoint.
STORED = {"linear_probe": "head", "lora": "head+adapter", "full": "all", "partial": "all", "random_init": "all"}


def is_hf_base(path) -> bool:
    """Whether ``path`` is the record ``import-model`` writes (a fine-tuning run's ``--pretrained``)."""
    if not path or not str(path).endswith(".json") or not Path(path).is_file():
        return False
    try:
        return read_json(path).get("format") == HF_BASE_FORMAT
    except SeqtuneError:
        return False


def import_model(path: str, output: str, key: str, length: int, pooling: str = "mean",
                 trust_remote_code: bool = False) -> dict:
    """Check a local checkpoint and write its record (``base.json``): where it is, the SHA-256 of its weight files,
    its architecture, and how many tokens a sequence of ``length`` nt becomes. Loads the tokenizer and the model's
    configuration, not its weights."""
    transformers_module = require_transformers()
    checked = check_checkpoint(path, key, trust_remote_code)
    tokenizer = load_tokenizer(path, key, trust_remote_code)
    config = checked["config"]
    limit = max_tokens(config)
    probe = np.random.default_rng(0).integers(0, 4, size=(1, length), dtype=np.uint8)
    n_tokens = int(tokenize_codes(tokenizer, probe, limit, f"{key}: sequence_length {length}").shape[1])
    record = {
        "format": HF_BASE_FORMAT, "key": key, "path": str(path), "resolved_path": str(Path(path).resolve()),
        "sha256": weights_sha256(path, checked["weight_files"]), "model_type": config.get("model_type"),
        "architectures": config.get("architectures"), "hidden_size": config.get("hidden_size"),
        "num_hidden_layers": config.get("num_hidden_layers"), "max_tokens": limit, "pooling": pooling,
        "trust_remote_code": trust_remote_code, "tokenizer": type(tokenizer).__name__,
        "special_tokens": list(tokenizer.all_special_tokens), "sequence_length": length,
        "tokens_per_sequence": n_tokens, "transformers_version": transformers_module.__version__,
    }
    write_json(output, record)
    log.info("%s: %s (%s, %s layers), %d nt -> %d tokens (limit %s)", key, path, record["model_type"],
             record["num_hidden_layers"], length, n_tokens, limit)
    return record


def read_base(base_json: str) -> dict:
    record = read_json(base_json)
    if record.get("format") != HF_BASE_FORMAT:
        raise SeqtuneError(f"{base_json}: not a record of seqtune import-model (format {HF_BASE_FORMAT})")
    return record


def check_base_unchanged(base: dict, where: str) -> None:
    """The checkpoint's weight files still have the SHA-256 recorded when it was imported or fine-tuned from."""
    now = weights_sha256(base["path"], sorted(base["sha256"]))
    changed = sorted(name for name in base["sha256"] if now.get(name) != base["sha256"][name])
    if changed:
        raise SeqtuneError(f"{where}: the base checkpoint {base['path']} changed since ({', '.join(changed)} has "
                           "another SHA-256); restore it, or rerun the study from it")


def build_model(base: dict, n_outputs: int, strategy: str, lora: dict | None = None,
                gradient_checkpointing: bool = False) -> HFSequenceModel:
    """The model a run fine-tunes: the base checkpoint (random weights for ``random_init``), LoRA adapters for
    ``lora``, and a new zero-initialised head."""
    if strategy not in HF_STRATEGIES:
        raise SeqtuneError(f"strategy '{strategy}' does not apply to a Hugging Face model; choose one of "
                           f"{', '.join(HF_STRATEGIES)}")
    key, path = base.get("key", "pretrain.models.<name>"), base["path"]
    check_checkpoint(path, key, base["trust_remote_code"])
    if strategy != "random_init":
        check_base_unchanged(base, key)
    tokenizer = load_tokenizer(path, key, base["trust_remote_code"])
    inner = load_pretrained_model(path, key, base["trust_remote_code"], random_init=strategy == "random_init")
    if gradient_checkpointing:
        if not getattr(inner, "supports_gradient_checkpointing", False):
            raise SeqtuneError(f"{key}.gradient_checkpointing: {type(inner).__name__} does not support it; set it "
                               "to false")
        inner.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    spec = HFSpec(base=path, model_type=str(base.get("model_type")), pooling=base["pooling"],
                  trust_remote_code=base["trust_remote_code"], lora=dict(lora or {}) if strategy == "lora" else None)
    model = HFSequenceModel(HFBackbone(inner, tokenizer, base["pooling"], base.get("max_tokens")), n_outputs, spec)
    if strategy == "lora":
        apply_lora(model, lora or {}, key)
    nn.init.zeros_(model.head.weight)  # as replace_head: a new head starts from uniform predictions
    nn.init.zeros_(model.head.bias)
    return model


def token_ids(model: HFSequenceModel, codes: np.ndarray, source: str) -> np.ndarray:
    return tokenize_codes(model.backbone.tokenizer, codes, model.backbone.limit, source)


def pooled_embeddings(backbone: HFBackbone, ids: np.ndarray, batch_size: int, device: torch.device) -> np.ndarray:
    """Frozen pooled embeddings (N, hidden) float32 of token ids, in eval mode (no dropout)."""
    backbone.eval().to(device)
    outputs = []
    with torch.no_grad():
        for start in range(0, ids.shape[0], batch_size):
            batch = torch.from_numpy(ids[start:start + batch_size]).to(device)
            outputs.append(backbone(batch).float().cpu())
    width = backbone.out_features
    return torch.cat(outputs).numpy() if outputs else np.zeros((0, width), dtype=np.float32)


def embed(base_json: str, codes: str, output: str, batch_size: int = 64, threads: int = 1, gpus: int = 0) -> None:
    """A linear probe's frozen embeddings of a whole data set, once: (N, hidden) float32 ``.npy`` in the data set's
    order, with a ``.json`` sidecar (base, pooling, shape, seconds)."""
    from ..data import read_dataset
    from ..train import configure_torch, select_device

    configure_torch(threads, 0)
    device = select_device(gpus)
    base = read_base(base_json)
    data = read_dataset(codes)
    model = build_model(base, 1, "linear_probe")
    started = time.perf_counter()
    ids = token_ids(model, data.codes, codes)
    features = pooled_embeddings(model.backbone, ids, batch_size, device)
    seconds = time.perf_counter() - started
    write_npy(output, features.astype(np.float32))
    write_json(Path(output).with_suffix(".json"), {
        "base": {"path": base["path"], "sha256": base["sha256"]}, "pooling": base["pooling"], "codes": str(codes),
        "n_sequences": int(features.shape[0]), "dimension": int(features.shape[1]), "tokens": int(ids.shape[1]),
        "seconds": seconds, "device": str(device)})
    log.info("embedded %d sequences (%d tokens each) to %d features in %.1f s", features.shape[0], ids.shape[1],
             features.shape[1], seconds)


class FeatureProbe(nn.Module):
    """A linear probe trained on precomputed embeddings: the head alone (``backbone.blocks`` is empty)."""

    head_kind = "linear"

    class _NoBackbone(nn.Module):
        blocks: list = []

    def __init__(self, in_features: int, n_outputs: int, spec: HFSpec):
        super().__init__()
        self.backbone, self.spec = self._NoBackbone(), spec
        self.head = nn.Linear(in_features, n_outputs)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    @property
    def n_outputs(self) -> int:
        return self.head.out_features

    @staticmethod
    def encode_batch(features: torch.Tensor) -> torch.Tensor:
        return features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)


def read_embeddings(path: str, base: dict, n_sequences: int) -> np.ndarray:
    """Embeddings written by ``embed`` from this base, one row per sequence of the data set."""
    from ..io import read_npy

    sidecar = read_json(Path(path).with_suffix(".json"))
    if sidecar["base"]["sha256"] != base["sha256"] or sidecar["pooling"] != base["pooling"]:
        raise SeqtuneError(f"{path}: computed from another base checkpoint or pooling than {base['path']}; rerun "
                           "seqtune embed")
    features = np.asarray(read_npy(path, mmap=False), dtype=np.float32)
    if features.shape[0] != n_sequences:
        raise SeqtuneError(f"{path}: {features.shape[0]} rows for a data set of {n_sequences} sequences; rerun "
                           "seqtune embed on this data set")
    return features


def save_finetuned(model: HFSequenceModel, weights: str, strategy: str, base: dict, metadata: dict) -> None:
    """The fine-tuned model as safetensors (what ``STORED`` says for the strategy) and its sidecar."""
    from safetensors.torch import save_file

    from .. import __version__
    from ..io import atomic_path
    from ..weights import sidecar_path

    stored = STORED[strategy]
    state = model.state_dict()
    keep = {"head": lambda name: name.startswith("head."),
            "head+adapter": lambda name: name.startswith("head.") or "lora_" in name,
            "all": lambda name: True}[stored]
    # clone: safetensors refuses tensors that share memory (tied weights)
    tensors = {name: tensor.detach().cpu().contiguous().clone() for name, tensor in state.items() if keep(name)}
    with atomic_path(weights) as tmp:
        save_file(tensors, str(tmp))
    write_json(sidecar_path(weights), {
        "format": HF_MODEL_FORMAT, "seqtune_version": __version__, "model": model.spec.to_dict(),
        "n_outputs": model.n_outputs, "head": "linear", "stored": stored,
        "base": {"path": base["path"], "resolved_path": base.get("resolved_path"), "sha256": base["sha256"],
                 "model_type": base.get("model_type"), "key": base.get("key")},
        "base_record": {key: base[key] for key in ("pooling", "trust_remote_code", "max_tokens", "tokens_per_sequence")
                        if key in base},
        **metadata})


def load_finetuned(weights: Path, sidecar: dict) -> HFSequenceModel:
    """Rebuild a fine-tuned Hugging Face model from its sidecar, its base checkpoint and its safetensors file."""
    from safetensors.torch import load_file

    base = {**sidecar["base"], **sidecar["base_record"]}
    # The path as the config wrote it is relative to the workflow's folder; from elsewhere, the resolved one.
    if not Path(base["path"]).is_dir() and base.get("resolved_path") and Path(base["resolved_path"]).is_dir():
        base["path"] = base["resolved_path"]
    strategy = sidecar.get("strategy")
    if strategy not in STORED:
        raise SeqtuneError(f"{weights}: the sidecar names strategy {strategy!r}, not one of {', '.join(STORED)}")
    # Every weight stored: the base gives the architecture and tokenizer only (built from its config, then
    # overwritten), so a full fine-tune does not depend on the base weights staying the same.
    model = build_model(base, int(sidecar["n_outputs"]), "random_init" if sidecar["stored"] == "all" else strategy,
                        lora=sidecar["model"].get("lora"))
    if sidecar["stored"] == "all" and strategy == "lora":
        raise SeqtuneError(f"{weights}: inconsistent sidecar (lora with every weight stored)")
    state = load_file(str(weights))
    expected = model.state_dict()
    unexpected = sorted(set(state) - set(expected))
    shapes = [name for name in state if name in expected and tuple(expected[name].shape) != tuple(state[name].shape)]
    missing = sorted(name for name in expected if name not in state and (
        sidecar["stored"] == "all" or name.startswith("head.") or "lora_" in name))
    if unexpected or shapes or missing:
        detail = (unexpected or shapes or missing)[:3]
        raise SeqtuneError(f"{weights}: tensors do not match the model its sidecar describes (e.g. {detail}); the file "
                           "comes from another model, retrain it or pair it with its own sidecar")
    model.load_state_dict(state, strict=False)
    return model


def model_and_inputs(base: dict, strategy: str, n_classes: int, codes: np.ndarray, subset: np.ndarray,
                     validation_rows: np.ndarray, device: torch.device, embeddings: str | None = None,
                     lora: dict | None = None, gradient_checkpointing: bool = False, source: str = "codes"):
    """What a fine-tuning run trains: (model to save, module ``fit`` trains, training inputs, validation inputs).

    ``linear_probe`` trains a head on the frozen pooled embeddings (``embeddings``, from ``seqtune embed``, or
    computed here once for the rows it needs), never recomputed per epoch; every other strategy trains on token ids.
    """
    model = build_model(base, n_classes, strategy, lora, gradient_checkpointing)
    if strategy == "linear_probe":
        if embeddings:
            features = read_embeddings(embeddings, base, codes.shape[0])
            train_inputs, validation_inputs = features[subset], features[validation_rows]
        else:
            train_inputs, validation_inputs = (
                pooled_embeddings(model.backbone, token_ids(model, codes[rows], source), 64, device)
                for rows in (subset, validation_rows))
        probe = FeatureProbe(model.backbone.out_features, n_classes, model.spec)
        return model, probe, train_inputs, validation_inputs
    return model, model, token_ids(model, codes[subset], source), token_ids(model, codes[validation_rows], source)
