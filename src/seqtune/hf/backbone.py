"""A local Hugging Face checkpoint as a seqtune backbone: checks, offline loading, tokens, pooling, LoRA.

How a sequence becomes tokens (docs/foundation_models.md): the uint8 codes (N, L) of a data set are decoded to
``ACGTN`` text once and passed to the checkpoint's own tokenizer in one batch call (character, k-mer or BPE, with the
special tokens its post-processor adds, e.g. ``[CLS] ... [SEP]``), padded to the longest sequence with the
tokenizer's pad token, never truncated: a sequence whose tokens exceed the model's positions is an error naming both
numbers. Training reads the resulting (N, T) token ids; the attention mask is ``ids != pad``. Pooling: ``mean`` over
the tokens that are neither padding nor special tokens, or ``cls``, the first token's hidden state.

The model also accepts one-hot input (N, 4, L), which it tokenises per batch: evaluation, prediction and in-silico
mutagenesis then run through the same code as seqtune's own models.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import SeqtuneError
from . import POOLINGS

log = logging.getLogger("seqtune")

TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "tokenizer.model", "spiece.model")
_DECODE = np.frombuffer(b"ACGTN", dtype=np.uint8)
# Forward passes without gradients (evaluation, ISM) run at most this many sequences at once: attention memory grows
# with batch x tokens^2, and ISM sends thousands of mutated sequences per call.
EVAL_CHUNK = 256


def require_transformers():
    """Import transformers (and quieten its load reports and progress bars), or say how to install it."""
    try:
        import transformers
    except ImportError:
        raise SeqtuneError("Hugging Face models need the optional packages transformers and peft; install them with "
                           "pip install -e '.[hf]'") from None
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    return transformers


def check_checkpoint(path: str | Path, key: str, trust_remote_code: bool = False) -> dict:
    """Check a checkpoint folder before anything is loaded; return its ``config.json`` and weight files.

    ``key`` is the config key that names it (``pretrain.models.<name>``), for the error messages.
    """
    folder = Path(path)
    fetch = ("download it once on a machine with network access, outside the workflow: "
             "huggingface-cli download <org>/<model> --local-dir <folder> (docs/foundation_models.md)")
    if not folder.exists():
        raise SeqtuneError(f"{key}.path: '{folder}' does not exist; {fetch}")
    if not folder.is_dir():
        raise SeqtuneError(f"{key}.path: '{folder}' is a file; name the checkpoint's folder (the one holding "
                           "config.json)")
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise SeqtuneError(f"{key}.path: '{folder}' has no config.json, so it is not a Hugging Face checkpoint "
                           f"folder; {fetch}")
    try:
        config = json.loads(config_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SeqtuneError(f"{config_file}: not valid JSON ({error}); download the checkpoint again") from None
    if "auto_map" in config and not trust_remote_code:
        raise SeqtuneError(f"{key}: {config_file} names custom model code (auto_map: "
                           f"{', '.join(sorted(config['auto_map']))}), which runs Python from that folder; set "
                           f"{key}.trust_remote_code: true only if you trust it")
    weights = sorted(file.name for file in folder.glob("*.safetensors"))
    if not weights:
        pickled = sorted(file.name for file in folder.glob("*.bin"))
        detail = (f"only {', '.join(pickled)} (pickles, which seqtune never loads: unpickling runs arbitrary code); "
                  "convert them once where you trust them, e.g. load the model with transformers and call "
                  "save_pretrained(folder, safe_serialization=True)") if pickled else f"no weights; {fetch}"
        raise SeqtuneError(f"{key}.path: '{folder}' has no .safetensors weights: {detail}")
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise SeqtuneError(f"{key}.path: '{folder}' has no tokenizer files (one of {', '.join(TOKENIZER_FILES)}); "
                           "copy the checkpoint's tokenizer into the folder (tokenizer.save_pretrained(folder))")
    return {"path": str(folder), "config": config, "weight_files": weights}


def weights_sha256(path: str | Path, files: list[str]) -> dict:
    """SHA-256 of each weight file: what a fine-tuned model's sidecar names as its base."""
    from ..io import sha256_file

    return {name: sha256_file(Path(path) / name) for name in files}


def max_tokens(config: dict) -> int | None:
    """How many tokens the model can take: ``max_position_embeddings``, less the ESM offset of absolute positions
    (they start after the pad index); None when the model does not say."""
    limit = config.get("max_position_embeddings") or config.get("n_positions") or config.get("max_seq_len")
    if not isinstance(limit, int):
        return None
    if config.get("model_type") == "esm" and config.get("position_embedding_type", "absolute") == "absolute":
        limit -= int(config.get("pad_token_id") or 0) + 1
    return limit


def load_tokenizer(path: str | Path, key: str, trust_remote_code: bool = False):
    transformers = require_transformers()
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(path), local_files_only=True,
                                                               trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as error:
        first = (str(error).strip().splitlines() or [""])[0][:300]
        raise SeqtuneError(f"{key}.path: the tokenizer in '{path}' does not load ({first}); copy the checkpoint's "
                           "tokenizer files into the folder") from None
    if tokenizer.pad_token_id is None:
        raise SeqtuneError(f"{key}.path: the tokenizer in '{path}' has no pad token, so sequences of different token "
                           "counts cannot form a batch; add one (tokenizer.add_special_tokens({'pad_token': "
                           "'[PAD]'})) and save it again")
    return tokenizer


def load_pretrained_model(path: str | Path, key: str, trust_remote_code: bool = False, random_init: bool = False):
    """The checkpoint's base model (no task head) through ``AutoModel``, offline; ``random_init``: the same
    architecture from random weights (torch's RNG, seeded by the caller). An unused pooler is dropped."""
    transformers = require_transformers()
    try:
        if random_init:
            config = transformers.AutoConfig.from_pretrained(str(path), local_files_only=True,
                                                             trust_remote_code=trust_remote_code)
            model = transformers.AutoModel.from_config(config, trust_remote_code=trust_remote_code)
        else:
            model = transformers.AutoModel.from_pretrained(str(path), local_files_only=True,
                                                           trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError) as error:
        first = (str(error).strip().splitlines() or [""])[0][:300]
        raise SeqtuneError(f"{key}.path: transformers cannot load the model in '{path}' ({first}); check that the "
                           "folder holds a complete checkpoint and that transformers knows its model_type") from None
    if isinstance(getattr(model, "pooler", None), nn.Module):
        model.pooler = None  # seqtune pools itself; BERT and ESM poolers are newly initialised on load and unused
    return model


def tokenize_codes(tokenizer, codes: np.ndarray, limit: int | None, source: str) -> np.ndarray:
    """Token ids (N, T) int64 of uint8 codes (N, L), padded with the tokenizer's pad id; see the module docstring."""
    codes = np.asarray(codes)
    if codes.ndim != 2:
        raise SeqtuneError(f"{source}: codes must be (N, L), got shape {codes.shape}")
    if codes.shape[0] == 0:
        return np.zeros((0, 0), dtype=np.int64)
    text = _DECODE[np.minimum(codes, 4)]
    strings = [row.tobytes().decode("ascii") for row in text]
    encoded = tokenizer(strings, padding="longest", truncation=False, return_attention_mask=False,
                        return_token_type_ids=False, return_tensors="np")["input_ids"].astype(np.int64)
    if limit is not None and encoded.shape[1] > limit:
        raise SeqtuneError(f"{source}: a sequence of {codes.shape[1]} nt becomes {encoded.shape[1]} tokens, more than "
                           f"the model's {limit} positions; lower sequence_length (or crop the inputs) so that "
                           f"sequences fit, or use a model with more positions")
    return encoded


def layer_list(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """The model's stack of transformer layers: its longest ``nn.ModuleList`` (``encoder.layer`` in BERT and ESM,
    ``backbone.layers`` in HyenaDNA and Caduceus)."""
    best = ("", None)
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and (best[1] is None or len(module) > len(best[1])):
            best = (name, module)
    if best[1] is None or len(best[1]) == 0:
        raise SeqtuneError(f"{type(model).__name__}: no stack of layers found (an nn.ModuleList); strategy partial "
                           "needs one, use full, lora or linear_probe")
    return best


class ParameterGroup:
    """Some of a model's parameters, as a backbone block for ``train.apply_strategy`` (which only asks for
    ``parameters()``)."""

    def __init__(self, name: str, parameters: list[nn.Parameter]):
        self.name, self._parameters = name, parameters

    def parameters(self):
        return iter(self._parameters)


@dataclasses.dataclass(frozen=True)
class HFSpec:
    """What rebuilds the model; the sidecar's ``model``."""

    base: str
    model_type: str
    pooling: str = "mean"
    trust_remote_code: bool = False
    lora: dict | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class HFBackbone(nn.Module):
    """The checkpoint's model, pooled: token ids (N, T) -> features (N, hidden). ``blocks``, bottom to top: the
    embeddings, then each layer (the last with whatever follows it, such as a final layer norm)."""

    def __init__(self, model: nn.Module, tokenizer, pooling: str, limit: int | None):
        super().__init__()
        if pooling not in POOLINGS:
            raise SeqtuneError(f"pooling '{pooling}' is not one of {', '.join(POOLINGS)}")
        self.model = model
        self.tokenizer, self.pooling, self.limit = tokenizer, pooling, limit
        self.pad_id = int(tokenizer.pad_token_id)
        self.register_buffer("special_ids", torch.tensor(sorted(set(tokenizer.all_special_ids)), dtype=torch.long),
                             persistent=False)
        config = model.config
        self.out_features = int(getattr(config, "hidden_size", None) or getattr(config, "d_model"))
        self._takes_mask = "attention_mask" in inspect.signature(model.forward).parameters

    @property
    def blocks(self) -> list[ParameterGroup]:
        prefix, layers = layer_list(self.model)
        per_layer = [[] for _ in layers]
        bottom, top = [], []
        for name, parameter in self.model.named_parameters():
            if name.startswith(prefix + "."):
                per_layer[int(name[len(prefix) + 1:].split(".")[0])].append(parameter)
            elif "embed" in name:
                bottom.append(parameter)
            else:
                top.append(parameter)
        per_layer[-1] += top  # what follows the last layer (a final layer norm) trains with it
        return [ParameterGroup("embeddings", bottom)] + [ParameterGroup(f"layer {i}", group)
                                                         for i, group in enumerate(per_layer)]

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Token ids from ids (returned as they are) or one-hot (N, 4, L) (tokenised; an all-zero column is N)."""
        if not x.is_floating_point():
            return x
        codes = x.argmax(1)
        codes[x.sum(1) == 0] = 4
        ids = tokenize_codes(self.tokenizer, codes.to(torch.uint8).cpu().numpy(), self.limit, "one-hot input")
        return torch.from_numpy(ids).to(x.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ids = self.tokens(x)
        if not torch.is_grad_enabled() and ids.shape[0] > EVAL_CHUNK:
            return torch.cat([self._pooled(chunk) for chunk in ids.split(EVAL_CHUNK)])
        return self._pooled(ids)

    def _pooled(self, ids: torch.Tensor) -> torch.Tensor:
        real = ids != self.pad_id
        kwargs = {"attention_mask": real.long()} if self._takes_mask else {}
        output = self.model(input_ids=ids, **kwargs)
        hidden = output[0] if isinstance(output, tuple) else output.last_hidden_state
        if self.pooling == "cls":
            return hidden[:, 0]
        keep = (real & ~torch.isin(ids, self.special_ids)).unsqueeze(-1).to(hidden.dtype)
        return (hidden * keep).sum(1) / keep.sum(1).clamp(min=1)


class HFSequenceModel(nn.Module):
    """A Hugging Face backbone with a linear head on its pooled embeddings: seqtune's ``SequenceModel`` interface
    (``backbone.blocks``, ``head``, ``head_kind``, ``n_outputs``, ``spec``)."""

    head_kind = "linear"

    def __init__(self, backbone: HFBackbone, n_outputs: int, spec: HFSpec):
        super().__init__()
        self.backbone, self.spec = backbone, spec
        self.head = nn.Linear(backbone.out_features, n_outputs)

    @property
    def n_outputs(self) -> int:
        return self.head.out_features

    @staticmethod
    def encode_batch(ids: torch.Tensor) -> torch.Tensor:
        """What training feeds the model for a batch of its data set's rows: the token ids themselves."""
        return ids

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))

    def train(self, mode: bool = True):
        """A submodule none of whose parameters trains stays in eval mode (no dropout in frozen layers, so a linear
        probe's embeddings are those computed once); parameterless modules follow their parent."""
        super().train(mode)
        if mode:
            _frozen_to_eval(self.backbone)
        return self


def _frozen_to_eval(module: nn.Module) -> None:
    for child in module.children():
        parameters = list(child.parameters())
        if not parameters:
            continue
        if not any(parameter.requires_grad for parameter in parameters):
            child.eval()
        else:
            _frozen_to_eval(child)


def apply_lora(model: HFSequenceModel, lora: dict, key: str) -> None:
    """Wrap the backbone's model with LoRA adapters (peft): ``rank``, ``alpha``, ``dropout``, ``target_modules``
    (null: the attention's ``query`` and ``value`` projections where the model has them, as in BERT, ESM and the
    Nucleotide Transformer, else peft's default for the model type). An unknown target module is an error naming
    the key and the candidates."""
    try:
        import peft
    except ImportError:
        raise SeqtuneError("strategy lora needs the optional package peft; install it with pip install -e '.[hf]'") \
            from None
    inner = model.backbone.model
    targets = lora.get("target_modules")
    linear_names = sorted({name.rsplit(".", 1)[-1] for name, module in inner.named_modules()
                           if isinstance(module, (nn.Linear, nn.Conv1d)) and "." in name})
    if not targets and {"query", "value"} <= set(linear_names):
        targets = ["query", "value"]
    if targets:
        unknown = [target for target in targets if target not in linear_names]
        if unknown:
            raise SeqtuneError(f"{key}.lora.target_modules: {unknown} name no layer of this model; choose from "
                               f"{', '.join(linear_names)}")
    config = peft.LoraConfig(r=int(lora.get("rank", 8)), lora_alpha=float(lora.get("alpha", 16)),
                             lora_dropout=float(lora.get("dropout", 0.0)), target_modules=targets or None,
                             bias="none")
    try:
        model.backbone.model = peft.get_peft_model(inner, config)
    except ValueError as error:
        first = (str(error).strip().splitlines() or [""])[0][:200]
        raise SeqtuneError(f"{key}.lora.target_modules: peft has no default for model type "
                           f"'{model.spec.model_type}' ({first}); name the layers, e.g. from "
                           f"{', '.join(linear_names[:8])}") from None


def lora_parameter_names(model: HFSequenceModel) -> list[str]:
    return [name for name, _ in model.named_parameters() if "lora_" in name]
