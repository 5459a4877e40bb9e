"""What a fine-tuning run trains, built one way for the final runs (``seqtune finetune``) and for the trials of a
hyperparameter search (``seqtune tune-trial``), so that a trial trains exactly the model its chosen parameters are
then used for: seqtune's own architectures from scratch or from pretrained weights, and Hugging Face checkpoints
(``seqtune import-model``'s base.json) under any of their strategies, LoRA settings included."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from .errors import SeqtuneError

log = logging.getLogger(__name__)


@dataclass
class RunModel:
    model: object  # the model a run saves
    fit_model: object  # the module fit() trains: the model itself, or a probe on precomputed embeddings
    train_inputs: np.ndarray
    validation_inputs: np.ndarray
    head_change: dict | None = None  # a pretrained seqtune model's replaced head
    hf_base: dict | None = None  # a Hugging Face checkpoint's record


def read_hf_base(pretrained: str | None) -> dict | None:
    """The Hugging Face checkpoint's record when ``pretrained`` names one (a .json), else None."""
    if not (pretrained and pretrained.endswith(".json")):
        return None
    from .hf.steps import is_hf_base, read_base

    if not is_hf_base(pretrained):
        raise SeqtuneError(f"--pretrained {pretrained}: not a record of seqtune import-model; pass a model's "
                           ".safetensors, or the base.json that import-model writes")
    return read_base(pretrained)


def build_run_model(codes: np.ndarray, n_classes: int, strategy: str, subset: np.ndarray,
                    validation_rows: np.ndarray, device, *, pretrained: str | None = None,
                    model_spec: dict | None = None, embeddings: str | None = None, lora: dict | None = None,
                    gradient_checkpointing: bool = False, dropout: float | None = None,
                    source: str = "codes") -> RunModel:
    """The model of one run of ``strategy`` and the inputs it trains and validates on (rows ``subset`` and
    ``validation_rows`` of ``codes``). ``dropout`` (a searched rate) is set on a loaded model's dropout layers; a
    model from scratch takes it from ``model_spec``. ``source`` names the data in errors."""
    from .models import ModelSpec, SequenceModel, replace_head
    from .weights import load_model

    hf_base = read_hf_base(pretrained)
    if hf_base is not None:
        from .hf.steps import model_and_inputs

        model, fit_model, train_inputs, validation_inputs = model_and_inputs(
            hf_base, strategy, n_classes, codes, subset, validation_rows, device, embeddings, lora,
            gradient_checkpointing, source=source)
        log.info("Hugging Face model %s (%s), strategy %s, %d tokens per sequence", hf_base["path"],
                 hf_base.get("model_type"), strategy, train_inputs.shape[1] if train_inputs.ndim == 2 else 0)
        if dropout is not None:
            _set_dropout(fit_model, dropout)
        return RunModel(model, fit_model, train_inputs, validation_inputs, hf_base=hf_base)
    train_inputs, validation_inputs = codes[subset], codes[validation_rows]
    if strategy == "scratch":
        if pretrained:
            raise SeqtuneError("strategy 'scratch' trains from random weights; do not pass a pretrained model")
        model = SequenceModel(ModelSpec.from_dict({**(model_spec or {}), "length": codes.shape[1]}), n_classes)
        return RunModel(model, model, train_inputs, validation_inputs)
    if not pretrained:
        raise SeqtuneError(f"strategy '{strategy}' fine-tunes a pretrained model; pass --pretrained WEIGHTS")
    model, trained_on = load_model(pretrained)
    bound = model.spec.final_pool == "flatten" or model.spec.architecture in ("mlp", "transformer")
    if trained_on["length"] != codes.shape[1] and bound:
        what = ("final_pool flatten" if model.spec.final_pool == "flatten"
                else f"architecture {model.spec.architecture}")
        raise SeqtuneError(f"{pretrained}: trained on length {trained_on['length']} with {what}, which fixes the "
                           f"input length, but the target {source} has length {codes.shape[1]}; make "
                           "sequence_length equal, or pretrain a cnn/dilated_cnn with final_pool max or avg")
    head_change = replace_head(model, n_classes)
    if dropout is not None:
        _set_dropout(model, dropout)
    log.info("replaced head of %s: %d -> %d outputs (backbone kept, %d input features)", pretrained,
             head_change["old_outputs"], head_change["new_outputs"], head_change["in_features"])
    return RunModel(model, model, train_inputs, validation_inputs, head_change=head_change)


def _set_dropout(model, rate: float) -> None:
    from .tuning import set_dropout

    set_dropout(model, rate)
