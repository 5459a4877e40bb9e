"""Training: one loop for pretraining, fine-tuning and training from scratch.

The data set lives on the device as uint8 codes (N, L); each batch is indexed and one-hot encoded on the device, so
there is no per-sample Python and no DataLoader. Early stopping watches the validation loss and the best epoch is
restored. Fine-tuning strategies differ only in which parameters train, and at which learning rate.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import os
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .errors import SeqtuneError
from .metrics import classification_metrics, multilabel_metrics
from .models import SequenceModel
from .sequence import one_hot

log = logging.getLogger("seqtune")

STRATEGIES = ("scratch", "full", "linear_probe", "partial", "gradual_unfreeze", "discriminative_lr")


@dataclass(frozen=True)
class TrainSettings:
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 64
    max_epochs: int = 40
    patience: int = 6
    rc_augment: bool = False
    # partial: how many top backbone blocks train; gradual_unfreeze: epochs between unfreezing one more block;
    # discriminative_lr: learning-rate factor per block below the head.
    unfreeze_blocks: int = 1
    unfreeze_every: int = 3
    lr_decay: float = 0.3
    bf16: bool = False

    @classmethod
    def from_dict(cls, values: dict) -> "TrainSettings":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise SeqtuneError(f"unknown training setting(s) {sorted(unknown)}; known: {sorted(known)}")
        return cls(**values)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def configure_torch(threads: int | None, seed: int) -> None:
    """The rule's thread count, and every RNG seeded.

    On the CPU, seqtune's operations are deterministic for a fixed thread count. CUDA needs deterministic kernels
    switched on, which ``select_device`` does when it picks a GPU (``torch.use_deterministic_algorithms`` costs
    seconds of imports, so CPU jobs skip it).
    """
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))


def select_device(gpus: int = 0) -> torch.device:
    """CUDA when the job was given a GPU and one is visible; the CPU otherwise."""
    if gpus > 0 and torch.cuda.is_available():
        device = torch.device("cuda")
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
        log.info("device: cuda (%s), CUDA_VISIBLE_DEVICES=%s", torch.cuda.get_device_name(0),
                 os.environ.get("CUDA_VISIBLE_DEVICES", "unset"))
    else:
        if gpus > 0:
            log.warning("the job asked for %d GPU(s) but CUDA is not available; running on the CPU", gpus)
        device = torch.device("cpu")
        log.info("device: cpu, %d threads", torch.get_num_threads())
    return device


def apply_strategy(model: SequenceModel, strategy: str, settings: TrainSettings, epoch: int = 0) -> list[dict]:
    """Set ``requires_grad`` for the strategy at this epoch and return optimiser parameter groups.

    * ``scratch``, ``full``: everything trains.
    * ``linear_probe``: only the head trains.
    * ``partial``: the head and the top ``unfreeze_blocks`` backbone blocks train.
    * ``gradual_unfreeze``: the head first, then one more block (top down) every ``unfreeze_every`` epochs.
    * ``discriminative_lr``: everything trains; block i from the top gets learning rate x ``lr_decay`` ** (i + 1).
    """
    if strategy not in STRATEGIES:
        raise SeqtuneError(f"unknown strategy '{strategy}'; choose one of {', '.join(STRATEGIES)}")
    blocks = list(model.backbone.blocks)
    n_blocks = len(blocks)
    if strategy in ("scratch", "full", "discriminative_lr"):
        n_trainable = n_blocks
    elif strategy == "linear_probe":
        n_trainable = 0
    elif strategy == "partial":
        n_trainable = min(settings.unfreeze_blocks, n_blocks)
    else:  # gradual_unfreeze
        n_trainable = min(epoch // max(settings.unfreeze_every, 1), n_blocks)
    for index, block in enumerate(blocks):
        trainable = index >= n_blocks - n_trainable
        for parameter in block.parameters():
            parameter.requires_grad_(trainable)
    for parameter in model.head.parameters():
        parameter.requires_grad_(True)

    groups = [{"params": list(model.head.parameters()), "lr": settings.learning_rate}]
    for depth, block in enumerate(reversed(blocks)):
        factor = settings.lr_decay ** (depth + 1) if strategy == "discriminative_lr" else 1.0
        groups.append({"params": list(block.parameters()), "lr": settings.learning_rate * factor})
    return groups


@dataclass
class Dataset:
    """Codes (N, L) uint8 and targets: class indices (N,) for single-label, 0/1 floats (N, K) for multi-label."""

    codes: torch.Tensor
    targets: torch.Tensor
    multilabel: bool

    @classmethod
    def from_numpy(cls, codes: np.ndarray, targets: np.ndarray, multilabel: bool, device: torch.device) -> "Dataset":
        codes_tensor = torch.from_numpy(np.ascontiguousarray(codes))
        targets_tensor = torch.from_numpy(np.asarray(targets, dtype=np.float32 if multilabel else np.int64))
        if device.type == "cuda":  # pinned host memory lets the single copy to the GPU run asynchronously
            codes_tensor, targets_tensor = codes_tensor.pin_memory(), targets_tensor.pin_memory()
        return cls(codes_tensor.to(device, non_blocking=True), targets_tensor.to(device, non_blocking=True),
                   multilabel)

    def __len__(self) -> int:
        return self.codes.shape[0]


def reverse_complement_onehot(x: torch.Tensor) -> torch.Tensor:
    """Reverse complement of one-hot (N, 4, L) in ACGT order: complement reverses the channels, then the positions."""
    return x.flip(1).flip(2)


def _loss_fn(multilabel: bool) -> nn.Module:
    return nn.BCEWithLogitsLoss() if multilabel else nn.CrossEntropyLoss()


def _autocast(device: torch.device, enabled: bool):
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def evaluate_loss(model: SequenceModel, data: Dataset, batch_size: int, bf16: bool = False) -> tuple[float, np.ndarray]:
    """Mean loss and probabilities over a data set, in eval mode."""
    loss_fn = _loss_fn(data.multilabel)
    model.eval()
    total, outputs = 0.0, []
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            x = one_hot(data.codes[start:start + batch_size])
            with _autocast(data.codes.device, bf16):
                logits = model(x).float()
            total += loss_fn(logits, data.targets[start:start + batch_size]).item() * x.shape[0]
            outputs.append(logits)
    logits = torch.cat(outputs)
    probabilities = torch.sigmoid(logits) if data.multilabel else torch.softmax(logits, dim=1)
    return total / len(data), probabilities.cpu().numpy()


def validation_score(data: Dataset, probabilities: np.ndarray) -> float:
    """Validation AUROC (macro over tasks or classes), for the training log and the history."""
    targets = data.targets.cpu().numpy()
    if data.multilabel:
        return multilabel_metrics(targets, probabilities)["auroc"]
    return classification_metrics(targets, probabilities, probabilities.shape[1])["auroc"]


def fit(model: SequenceModel, train: Dataset, validation: Dataset, settings: TrainSettings, strategy: str,
        seed: int) -> tuple[list[dict], dict]:
    """Train with early stopping on validation loss; restore the best epoch. Returns (history rows, best summary)."""
    device = train.codes.device
    model.to(device)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    loss_fn = _loss_fn(train.multilabel)
    groups = apply_strategy(model, strategy, settings, epoch=0)
    optimizer = torch.optim.AdamW(groups, weight_decay=settings.weight_decay)
    best_loss, best_epoch, best_state = math.inf, -1, None
    history = []
    for epoch in range(settings.max_epochs):
        if strategy == "gradual_unfreeze":
            apply_strategy(model, strategy, settings, epoch=epoch)
        started = time.perf_counter()
        model.train()
        order = torch.randperm(len(train), generator=generator).to(device)
        running, seen = 0.0, 0
        for start in range(0, len(train), settings.batch_size):
            index = order[start:start + settings.batch_size]
            x = one_hot(train.codes[index])
            if settings.rc_augment:
                flip = torch.rand(x.shape[0], generator=generator).to(device) < 0.5
                x = torch.where(flip[:, None, None], reverse_complement_onehot(x), x)
            with _autocast(device, settings.bf16):
                loss = loss_fn(model(x).float(), train.targets[index])
            if not torch.isfinite(loss):
                raise SeqtuneError(
                    f"training loss became {loss.item()} at epoch {epoch + 1}; lower the learning rate "
                    f"(now {settings.learning_rate}) or check the inputs for extreme values"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            running += loss.item() * x.shape[0]
            seen += x.shape[0]
        val_loss, val_probabilities = evaluate_loss(model, validation, max(settings.batch_size, 256), settings.bf16)
        score = validation_score(validation, val_probabilities)
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        row = {"epoch": epoch + 1, "train_loss": running / seen, "val_loss": val_loss, "val_auroc": score,
               "trainable_parameters": trainable, "seconds": time.perf_counter() - started}
        history.append(row)
        improved = val_loss < best_loss - 1e-6
        if improved:
            best_loss, best_epoch = val_loss, epoch + 1
            best_state = copy.deepcopy(model.state_dict())
        log.info("epoch %3d  train_loss %.4f  val_loss %.4f  val_auroc %.4f  trainable %d%s", epoch + 1,
                 row["train_loss"], val_loss, score, trainable, "  *" if improved else "")
        if epoch + 1 - best_epoch >= settings.patience:
            log.info("early stop: no improvement in validation loss for %d epochs", settings.patience)
            break
    model.load_state_dict(best_state)
    _, val_probabilities = evaluate_loss(model, validation, max(settings.batch_size, 256), settings.bf16)
    summary = {"best_epoch": best_epoch, "epochs_run": len(history), "val_loss": best_loss,
               "val_auroc": validation_score(validation, val_probabilities)}
    log.info("restored best epoch %d (val_loss %.4f, val_auroc %.4f)", best_epoch, best_loss, summary["val_auroc"])
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    return history, summary


def predict_proba(model: SequenceModel, codes: torch.Tensor, multilabel: bool, batch_size: int = 512,
                  rc_average: bool = False, bf16: bool = False) -> np.ndarray:
    """Probabilities (N, K) for codes (N, L) already on the model's device; batched, optionally averaged over both
    strands."""
    model.eval()
    outputs = []
    with torch.no_grad():
        for start in range(0, codes.shape[0], batch_size):
            x = one_hot(codes[start:start + batch_size])
            with _autocast(codes.device, bf16):
                logits = model(x).float()
                if rc_average:
                    logits = (logits + model(reverse_complement_onehot(x)).float()) / 2
            outputs.append(torch.sigmoid(logits) if multilabel else torch.softmax(logits, dim=1))
    return torch.cat(outputs).cpu().numpy()
