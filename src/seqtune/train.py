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
from typing import ClassVar
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .config import check_settings
from .errors import SeqtuneError
from .metrics import classification_metrics, multilabel_metrics
from .models import SequenceModel
from .progress import progress
from .seeds import derive_seed
from .sequence import one_hot

log = logging.getLogger("seqtune")

STRATEGIES = ("scratch", "full", "linear_probe", "partial", "gradual_unfreeze", "discriminative_lr", "lora",
              "random_init")
MONITORS = ("val_loss", "val_score")


@dataclass(frozen=True)
class TrainSettings:
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 64
    max_epochs: int = 40
    patience: int = 6
    # What early stopping watches and the restored epoch maximises: "val_loss" (lowest validation loss) or
    # "val_score" (highest validation score: AUROC, or masked-base accuracy for masked pretraining).
    monitor: str = "val_loss"
    rc_augment: bool = False
    # partial: how many top backbone blocks train; gradual_unfreeze: epochs between unfreezing one more block;
    # discriminative_lr: learning-rate factor per block below the head.
    unfreeze_blocks: int = 1
    unfreeze_every: int = 3
    lr_decay: float = 0.3
    # bfloat16 autocast: "auto" on CUDA only (where bf16 matmuls are fast; on the CPU they are slower than fp32),
    # true also on the CPU, false never.
    bf16: bool | str = "auto"
    # Write a resumable checkpoint every this many epochs (0: never).
    checkpoint_every: int = 1
    # Run the model through torch.compile (inductor) in training, validation and prediction.
    compile: bool = False
    # Gradient accumulation: each step of batch_size examples runs as this many micro-batches (less memory, the
    # same effective batch; batch norm sees micro-batches).
    accumulation_steps: int = 1

    # Allowed ranges, in JSON-schema words, as workflow/schemas/config.schema.yaml has them (a test keeps the two
    # equal): the command line's --training gets the same checks as a config.
    LIMITS: ClassVar[dict] = {
        "learning_rate": {"exclusiveMinimum": 0}, "weight_decay": {"minimum": 0}, "batch_size": {"minimum": 1},
        "max_epochs": {"minimum": 1}, "patience": {"minimum": 1}, "unfreeze_blocks": {"minimum": 0},
        "unfreeze_every": {"minimum": 1}, "lr_decay": {"exclusiveMinimum": 0, "maximum": 1},
        "checkpoint_every": {"minimum": 0}, "accumulation_steps": {"minimum": 1},
    }

    @classmethod
    def from_dict(cls, values: dict) -> "TrainSettings":
        bf16 = values.get("bf16", "auto")
        if not (bf16 is True or bf16 is False or bf16 == "auto"):
            raise SeqtuneError(f"training.bf16: {bf16!r} is not one of auto, true, false (default auto)")
        check_settings(cls, values, "training")
        if values.get("monitor", "val_loss") not in MONITORS:
            raise SeqtuneError(f"training.monitor: '{values['monitor']}' is not one of {list(MONITORS)}")
        return cls(**values)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def configure_torch(threads: int | None, seed: int) -> None:
    """The rule's thread count, and every RNG seeded.

    On the CPU, seqtune's operations are deterministic for a fixed thread count (one under
    ``reproducibility: portable``, see ``seqtune.reproducibility``). CUDA needs deterministic kernels
    switched on, which ``select_device`` does when it picks a GPU (``torch.use_deterministic_algorithms`` costs
    seconds of imports, so CPU jobs skip it).
    """
    from .reproducibility import threads as pinned_threads

    threads = pinned_threads(threads)
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
    * ``lora``: the head and the LoRA adapters (parameters named ``lora_*``, added by peft) train; base weights stay.
    * ``random_init``: as ``scratch`` (a Hugging Face architecture from random weights).
    """
    if strategy not in STRATEGIES:
        raise SeqtuneError(f"unknown strategy '{strategy}'; choose one of {', '.join(STRATEGIES)}")
    blocks = list(model.backbone.blocks)
    n_blocks = len(blocks)
    if strategy in ("scratch", "full", "discriminative_lr", "random_init"):
        n_trainable = n_blocks
    elif strategy in ("linear_probe", "lora"):
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
    if strategy == "lora":
        for name, parameter in model.named_parameters():
            if "lora_" in name:
                parameter.requires_grad_(True)

    groups = [{"params": list(model.head.parameters()), "lr": settings.learning_rate}]
    for depth, block in enumerate(reversed(blocks)):
        factor = settings.lr_decay ** (depth + 1) if strategy == "discriminative_lr" else 1.0
        if factor == 1.0:  # one group per learning rate: a fused step is one kernel call per group
            groups[-1]["params"] += list(block.parameters())
        else:
            groups.append({"params": list(block.parameters()), "lr": settings.learning_rate * factor})
    return groups


def peak_memory(device: torch.device) -> dict:
    """Peak memory so far: the GPU's peak allocation on CUDA, else the process's peak resident set (imports
    included: what the job needs from the scheduler)."""
    if device.type == "cuda":
        return {"peak_memory_mb": torch.cuda.max_memory_allocated() / 2**20, "peak_memory_kind": "cuda_allocated"}
    import resource

    return {"peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "peak_memory_kind": "process_rss"}


def input_encoder(model):
    """How a batch of a data set's rows becomes the model's input: one-hot for seqtune's models, the rows as they
    are for models that say otherwise (token ids, precomputed embeddings: ``encode_batch``)."""
    return getattr(model, "encode_batch", one_hot)


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


def adamw(groups: list[dict], weight_decay: float, device: torch.device) -> torch.optim.AdamW:
    """AdamW, fused (one kernel for every parameter's update) on the CPU and CUDA: the same update, 2x faster per
    step than the per-parameter loop (bench/seed_tutorial.py)."""
    return torch.optim.AdamW(groups, weight_decay=weight_decay, fused=device.type in ("cpu", "cuda"))


class _Compiled:
    """A ``torch.compile``d module whose compilation errors become one-line SeqtuneErrors naming the setting."""

    def __init__(self, module):
        self.module = module

    def eval(self):
        self.module.eval()
        return self

    def __call__(self, *args):
        try:
            return self.module(*args)
        except Exception as error:
            if not type(error).__module__.startswith(("torch._dynamo", "torch._inductor")):
                raise
            first = (str(error).strip().splitlines() or [""])[0][:300]
            raise SeqtuneError(f"training.compile: torch.compile failed ({type(error).__name__}: {first}); set "
                               "compile: false (inductor needs a working C++ compiler on the CPU)") from None


def compile_model(module):
    """``torch.compile(module)``, or a SeqtuneError saying why it cannot be used here."""
    import sys

    compile_fn = getattr(torch, "compile", None)
    if compile_fn is None:
        raise SeqtuneError(f"training.compile: torch {torch.__version__} has no torch.compile; set compile: false")
    try:
        from torch import _dynamo

        supported = _dynamo.is_dynamo_supported()
    except Exception:  # an import failure means the same thing here: no compile
        supported = False
    if not supported:
        raise SeqtuneError(f"training.compile: torch.compile is not supported with torch {torch.__version__} on "
                           f"Python {sys.version.split()[0]}; set compile: false")
    return _Compiled(compile_fn(module))


def prediction_module(model, training: dict):
    """What predictions go through: ``model``, compiled once when its run trained with ``compile`` (its sidecar's
    ``training`` settings), so that every chunk or batch reuses one compiled module."""
    return compile_model(model) if training.get("compile", False) else model


def reverse_complement_onehot(x: torch.Tensor) -> torch.Tensor:
    """Reverse complement of one-hot (N, 4, L) in ACGT order: complement reverses the channels, then the positions."""
    return x.flip(1).flip(2)


def use_bf16(setting: bool | str, device: torch.device) -> bool:
    """``training.bf16`` on this device: "auto" autocasts on CUDA and not on the CPU."""
    return setting is True or (setting == "auto" and device.type == "cuda")


def _autocast(device: torch.device, enabled: bool):
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


class Supervised:
    """Classification loss on the data set's targets: cross-entropy (single-label) or binary cross-entropy per task
    (multi-label). Its validation score is the AUROC (macro over classes or tasks)."""

    score_name = "auroc"

    def __init__(self, multilabel: bool):
        self.multilabel = multilabel
        self.loss_fn = nn.BCEWithLogitsLoss() if multilabel else nn.CrossEntropyLoss()

    def batch_loss(self, model, x, targets, generator, rows=None):
        return self.loss_fn(model(x).float(), targets)

    def evaluate(self, model, data: "Dataset", batch_size: int, bf16: bool, encode=one_hot) -> tuple[float, float]:
        total, outputs = 0.0, []
        with torch.no_grad():
            for start in range(0, len(data), batch_size):
                x = encode(data.codes[start:start + batch_size])
                with _autocast(data.codes.device, bf16):
                    logits = model(x).float()
                total += self.loss_fn(logits, data.targets[start:start + batch_size]).item() * x.shape[0]
                outputs.append(logits)
        logits = torch.cat(outputs)
        probabilities = (torch.sigmoid(logits) if self.multilabel else torch.softmax(logits, dim=1)).cpu().numpy()
        targets = data.targets.cpu().numpy()
        if self.multilabel:
            score = multilabel_metrics(targets, probabilities)["auroc"]
        else:
            score = classification_metrics(targets, probabilities, probabilities.shape[1])["auroc"]
        return total / len(data), score


class MaskedNucleotide:
    """Self-supervised masked-nucleotide modelling: hide a fraction of positions (their one-hot column becomes zero,
    like N) and predict the hidden bases. Labels are not used. Its validation score is the accuracy on masked bases,
    to be read against the background's most frequent base (``background_accuracy``)."""

    score_name = "masked_accuracy"

    def __init__(self, mask_fraction: float = 0.15):
        if not 0 < mask_fraction < 1:
            raise SeqtuneError(f"mask_fraction must lie strictly between 0 and 1, got {mask_fraction}")
        self.mask_fraction = mask_fraction

    def _masked(self, model, codes, generator, rows=None):
        # Drawn from fit's CPU generator, as the batch order and flips are: the same masks on the CPU and a GPU, and
        # a checkpoint's generator state resumes them. The copy is one bool per base of one batch.
        mask = (torch.rand(codes.shape, generator=generator) < self.mask_fraction).to(codes.device)
        if rows is not None:  # one process's share of a batch: masks drawn for the whole batch, as one process does
            codes, mask = codes[rows], mask[rows]
        mask &= codes < 4  # an N has no base to predict
        x = one_hot(codes) * (~mask).unsqueeze(1)
        logits = model(x).float()
        covered = logits.shape[2]  # a pooled CNN predicts all but the last partial window
        mask = mask[:, :covered]
        selected = logits.permute(0, 2, 1)[mask]
        return selected, codes[:, :covered][mask].long()

    def batch_loss(self, model, codes, targets, generator, rows=None):
        selected, truth = self._masked(model, codes, generator, rows)
        return nn.functional.cross_entropy(selected, truth)

    def evaluate(self, model, data: "Dataset", batch_size: int, bf16: bool, encode=None) -> tuple[float, float]:
        generator = torch.Generator(device="cpu").manual_seed(0)  # the same masks every epoch
        total, correct, count = 0.0, 0, 0
        with torch.no_grad():
            for start in range(0, len(data), batch_size):
                with _autocast(data.codes.device, bf16):
                    selected, truth = self._masked(model, data.codes[start:start + batch_size], generator)
                total += nn.functional.cross_entropy(selected, truth, reduction="sum").item()
                correct += (selected.argmax(dim=1) == truth).sum().item()
                count += truth.numel()
        return total / max(count, 1), correct / max(count, 1)

    @staticmethod
    def background_accuracy(codes: np.ndarray) -> float:
        """Accuracy of always guessing the most frequent base: the floor masked-nucleotide accuracy must beat."""
        counts = np.bincount(np.asarray(codes).ravel(), minlength=5)[:4]
        return float(counts.max() / counts.sum())


def fit(model: SequenceModel, train: Dataset, validation: Dataset, settings: TrainSettings, strategy: str,
        seed: int, objective=None, checkpoint: str | None = None, context=None,
        on_epoch=None) -> tuple[list[dict], dict]:
    """Train with early stopping on validation loss; restore the best epoch. Returns (history rows, best summary).

    ``objective`` defaults to the supervised loss on the data sets' targets (see ``Supervised``, ``MaskedNucleotide``).
    With ``checkpoint``, progress is saved there every ``settings.checkpoint_every`` epochs, training resumes from it
    when it exists, and it is removed when training ends.

    ``context`` (``seqtune.distributed.Context``): one of several processes (DDP). ``batch_size`` stays the global
    batch: every process draws the same batch order and takes its contiguous share of each batch, gradients are
    averaged (weighted by share), process 0 validates and broadcasts the result, and only process 0 writes the
    checkpoint. Batch-norm statistics are per share, as in plain DDP.

    ``on_epoch(epoch, row)``: called after each epoch's validation with its history row (1-based ``epoch``); a
    hyperparameter search reports the validation score there and may raise to stop the run (``optuna.TrialPruned``,
    which propagates). ``None``: training is unchanged.
    """
    from .distributed import SINGLE

    context = context or SINGLE
    device = train.codes.device
    model.to(device)
    objective = objective or Supervised(train.multilabel)
    score_key = f"val_{objective.score_name}"
    generator = torch.Generator(device="cpu").manual_seed(seed)
    groups = apply_strategy(model, strategy, settings, epoch=0)
    if context.enabled and strategy not in ("scratch", "full"):
        raise SeqtuneError(f"multi-process training trains every weight (scratch or full), not '{strategy}'")
    optimizer = adamw(groups, settings.weight_decay, device)
    encode = input_encoder(model)
    if settings.rc_augment and encode is not one_hot:
        raise SeqtuneError("training.rc_augment flips one-hot sequences; this model reads token ids or embeddings, "
                           "so set rc_augment: false for it")
    accumulation = settings.accumulation_steps
    if accumulation > 1 and (context.enabled or isinstance(objective, MaskedNucleotide)):
        raise SeqtuneError("training.accumulation_steps above 1 applies to single-process supervised training; set "
                           "it to 1 here")
    eval_batch = max(settings.batch_size, 256)
    bf16 = use_bf16(settings.bf16, device)
    log.info("precision: %s (training.bf16: %s)", "bfloat16 autocast" if bf16 else "float32",
             str(settings.bf16).lower())
    # best_value: the monitored quantity, oriented so that lower is better (the score is negated).
    best_value, best_epoch, best_state = math.inf, -1, None
    history = []
    start_epoch = 0
    fingerprint = _fingerprint(model, train, validation, settings, strategy, seed, objective, context.world_size)
    if checkpoint:
        from .checkpoint import load_checkpoint

        resumed = load_checkpoint(checkpoint, fingerprint, model, optimizer, generator)
        if resumed:
            saved, best_state = resumed  # not "progress": that name is the progress-bar function here
            start_epoch, best_value, best_epoch = saved["epoch"], saved["best_value"], saved["best_epoch"]
            history = saved["history"]
    stopped = start_epoch > 0 and start_epoch - best_epoch >= settings.patience
    network = model  # what training batches go through
    if context.enabled:
        from torch.nn.parallel import DistributedDataParallel

        network = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if settings.compile:
        network = compile_model(network)
    evaluator = network  # validation: process 0 alone, so never through DDP (its forward is a collective)
    if context.enabled:
        evaluator = compile_model(model) if settings.compile else model
    # A bar only when stderr is a terminal; every epoch also logs one line (below), which is what a rule's log gets.
    for epoch in progress(range(start_epoch, 0 if stopped else settings.max_epochs), "training"):
        if strategy == "gradual_unfreeze":
            apply_strategy(model, strategy, settings, epoch=epoch)
        if context.enabled:  # dropout: each process its own stream, a function of (seed, rank, epoch) (resumable)
            torch.manual_seed(derive_seed(seed, "process", context.rank, "epoch", epoch))
        started = time.perf_counter()
        model.train()
        order = torch.randperm(len(train), generator=generator).to(device)
        running, seen = torch.zeros((), dtype=torch.float64, device=device), 0
        for start in range(0, len(train), settings.batch_size):
            index = order[start:start + settings.batch_size]
            rows, weight = None, 1.0
            if context.enabled:
                if len(index) < context.world_size:
                    continue  # a last batch too small to share is skipped, by every process alike
                low, high = _share(len(index), context)
                rows, weight = slice(low, high), (high - low) * context.world_size / len(index)
            local = index if rows is None else index[rows]
            if isinstance(objective, MaskedNucleotide):
                x = train.codes[index]  # the masks are drawn for the whole batch; the loss takes this share's rows
            else:
                flip = torch.rand(len(index), generator=generator).to(device) < 0.5 if settings.rc_augment else None
                x = encode(train.codes[local])
                if flip is not None:
                    flip = flip if rows is None else flip[rows]
                    x = torch.where(flip[:, None, None], reverse_complement_onehot(x), x)
            optimizer.zero_grad(set_to_none=True)
            if accumulation == 1:
                with _autocast(device, bf16):
                    loss = objective.batch_loss(network, x, train.targets[local], generator, rows)
                (loss * weight if weight != 1.0 else loss).backward()
            else:  # micro-batches, each loss weighted by its share of the batch: the gradient of the whole batch
                loss = torch.zeros((), device=device)
                for part in torch.arange(len(local), device=device).tensor_split(accumulation):
                    if len(part) == 0:
                        continue
                    with _autocast(device, bf16):
                        part_loss = objective.batch_loss(network, x[part], train.targets[local][part], generator)
                    (part_loss * (len(part) / len(local))).backward()
                    loss = loss + part_loss.detach() * (len(part) / len(local))
            optimizer.step()
            # Summed on the device and read once per epoch: no host-device sync per step (float64, as a Python
            # float sum would be). A non-finite loss makes the sum non-finite, and the epoch fails below.
            running.add_(loss.detach(), alpha=len(local))
            seen += len(local)
        running = running.item()
        if not math.isfinite(running):
            raise SeqtuneError(
                f"training loss became {running} at epoch {epoch + 1}; lower the learning rate "
                f"(now {settings.learning_rate}) or check the inputs for extreme values"
            )
        model.eval()
        if context.enabled:
            running, seen = _all_reduce_sum(context, device, running, seen)
        val_loss, score = math.nan, math.nan
        if context.is_main:
            val_loss, score = objective.evaluate(evaluator, validation, eval_batch, bf16, encode)
        if context.enabled:  # process 0's validation decides for every process
            val_loss, score = _broadcast(context, device, val_loss, score)
        if not math.isfinite(val_loss):
            raise SeqtuneError(f"validation loss became {val_loss} at epoch {epoch + 1}; lower the learning rate")
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        row = {"epoch": epoch + 1, "train_loss": running / seen, "val_loss": val_loss, score_key: score,
               "trainable_parameters": trainable, "seconds": time.perf_counter() - started}
        history.append(row)
        value = val_loss if settings.monitor == "val_loss" else -score
        improved = value < best_value - 1e-6  # a NaN score (one class in validation) never improves
        if improved:
            best_value, best_epoch = value, epoch + 1
            best_state = copy.deepcopy(model.state_dict())
        log.info("epoch %3d  train_loss %.4f  val_loss %.4f  %s %.4f  trainable %d%s", epoch + 1,
                 row["train_loss"], val_loss, score_key, score, trainable, "  *" if improved else "")
        if checkpoint and context.is_main and settings.checkpoint_every and \
                (epoch + 1) % settings.checkpoint_every == 0:
            from .checkpoint import save_checkpoint

            save_checkpoint(checkpoint, fingerprint, model, optimizer, best_state, generator,
                            {"epoch": epoch + 1, "best_value": best_value, "best_epoch": best_epoch,
                             "history": history})
        if on_epoch is not None:
            on_epoch(epoch + 1, row)
        if epoch + 1 - best_epoch >= settings.patience:
            log.info("early stop: no improvement in %s for %d epochs", settings.monitor, settings.patience)
            break
    if best_state is None:
        raise SeqtuneError(f"the validation {objective.score_name} was undefined in every epoch (a validation split "
                           "with one class?), so training.monitor: val_score has nothing to watch; use val_loss")
    model.load_state_dict(best_state)
    best_row = history[best_epoch - 1]
    summary = {"best_epoch": best_epoch, "epochs_run": len(history), "val_loss": best_row["val_loss"],
               score_key: best_row[score_key]}
    log.info("restored best epoch %d (val_loss %.4f, %s %.4f; monitor %s)", best_epoch, best_row["val_loss"],
             score_key, best_row[score_key], settings.monitor)
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    if checkpoint and context.is_main:
        Path(checkpoint).unlink(missing_ok=True)
    return history, summary


def _share(n: int, context) -> tuple[int, int]:
    """Rows [low, high) of an n-row batch that this process takes: contiguous shares differing by at most one."""
    base, extra = divmod(n, context.world_size)
    low = context.rank * base + min(context.rank, extra)
    return low, low + base + (context.rank < extra)


def _all_reduce_sum(context, device, *values: float) -> list[float]:
    import torch.distributed as dist

    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def _broadcast(context, device, *values: float) -> list[float]:
    import torch.distributed as dist

    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.broadcast(tensor, src=0)
    return tensor.tolist()


def _fingerprint(model, train: Dataset, validation: Dataset, settings: TrainSettings, strategy: str, seed: int,
                 objective, processes: int = 1) -> str:
    """What a checkpoint must match to be resumed: settings, strategy, seed, objective, architecture and data."""
    import hashlib
    import json

    digest = hashlib.sha256()
    for tensor in (train.codes, train.targets, validation.codes, validation.targets):
        digest.update(tensor.cpu().numpy().tobytes())
    # checkpoint_every changes when progress is saved, not what is trained: a checkpoint written under one value
    # resumes under another.
    trained_with = {key: value for key, value in settings.to_dict().items() if key != "checkpoint_every"}
    description = {"settings": trained_with, "strategy": strategy, "seed": seed,
                   "objective": type(objective).__name__, "mask": getattr(objective, "mask_fraction", None),
                   "model": model.spec.to_dict(), "head": model.head_kind, "outputs": model.n_outputs,
                   "data": digest.hexdigest()}
    if processes > 1:  # another process count gives another batch-norm and dropout trajectory
        description["processes"] = processes
    return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()


def predict_proba(model, codes: torch.Tensor, multilabel: bool, batch_size: int = 512,
                  rc_average: bool = False, bf16: bool = False) -> np.ndarray:
    """Probabilities (N, K) for codes (N, L) already on the model's device; batched, optionally averaged over both
    strands. ``model``: a SequenceModel, or one wrapped by ``compile_model`` (compile once, call per chunk)."""
    forward = model.eval()
    outputs = []
    with torch.no_grad():
        for start in range(0, codes.shape[0], batch_size):
            x = one_hot(codes[start:start + batch_size])  # every model takes one-hot here (Hugging Face: tokenised)
            with _autocast(codes.device, bf16):
                logits = forward(x).float()
                if rc_average:
                    logits = (logits + forward(reverse_complement_onehot(x)).float()) / 2
            outputs.append(torch.sigmoid(logits) if multilabel else torch.softmax(logits, dim=1))
    return torch.cat(outputs).cpu().numpy()
