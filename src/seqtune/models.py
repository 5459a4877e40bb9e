"""Models: a backbone that turns one-hot DNA (N, 4, L) into features, and a head that turns features into outputs.

Transfer learning is a matter of keeping the backbone and replacing the head (``replace_head``). Backbones expose
their layers as ``blocks`` (bottom to top) so that fine-tuning strategies can freeze and unfreeze them by depth.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from .config import check_settings
from .errors import SeqtuneError

ARCHITECTURES = ("cnn", "dilated_cnn", "transformer", "mlp")
POSITIONS = ("learned", "sinusoidal")
FINAL_POOLS = ("max", "avg", "flatten")


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild a model; stored in the weights' JSON sidecar."""

    architecture: str = "cnn"
    length: int = 200
    channels: int = 64
    n_blocks: int = 2
    first_kernel_size: int = 15
    kernel_size: int = 5
    pool_size: int = 4
    final_pool: str = "max"
    hidden: int = 64
    dropout: float = 0.1
    heads: int = 4
    positions: str = "sinusoidal"

    # Allowed ranges, in JSON-schema words, as workflow/schemas/config.schema.yaml has them (a test keeps the two
    # equal); ``length`` is the config's sequence_length.
    LIMITS: ClassVar[dict] = {
        "length": {"minimum": 1}, "channels": {"minimum": 1}, "n_blocks": {"minimum": 1},
        "first_kernel_size": {"minimum": 1}, "kernel_size": {"minimum": 1}, "pool_size": {"minimum": 1},
        "hidden": {"minimum": 1}, "dropout": {"minimum": 0, "maximum": 0.9}, "heads": {"minimum": 1},
    }

    @classmethod
    def from_dict(cls, values: dict) -> "ModelSpec":
        check_settings(cls, values, "model")
        spec = cls(**values)
        if spec.architecture not in ARCHITECTURES:
            raise SeqtuneError(f"model.architecture '{spec.architecture}' is not one of {ARCHITECTURES}")
        if spec.positions not in POSITIONS:
            raise SeqtuneError(f"model.positions '{spec.positions}' is not one of {POSITIONS}")
        if spec.architecture == "transformer" and spec.channels % spec.heads:
            raise SeqtuneError(f"model.channels ({spec.channels}) must be divisible by model.heads ({spec.heads})")
        if spec.final_pool not in FINAL_POOLS:
            raise SeqtuneError(f"model.final_pool '{spec.final_pool}' is not one of {FINAL_POOLS}")
        return spec

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class ConvBlock(nn.Sequential):
    """Convolution, batch norm, max pooling, ReLU, dropout on (N, C, L).

    ReLU comes after the pooling: max and ReLU commute (ReLU is monotone), so this is exactly conv -> BN -> ReLU ->
    pool, forward and backward, with a quarter of the ReLU work. The modules hold the parameters and running
    statistics (state dicts keep their keys), but ``forward`` computes the block as a height-1 2-D convolution in
    channels-last memory: oneDNN's convolution keeps that layout, and batch norm and max pooling then run their
    channels-last CPU kernels, several times faster than the (N, C, L) ones (bench/cnn_throughput.py). Outputs
    agree with the plain Conv1d path to about 1e-7.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, pool_size: int, dropout: float):
        super().__init__(
            nn.Conv1d(in_channels, out_channels, kernel_size, padding="same"),
            nn.BatchNorm1d(out_channels),
            nn.MaxPool1d(pool_size) if pool_size > 1 else nn.Identity(),
            nn.ReLU(),
            nn.Dropout(dropout),
        )
        self.pool_size = pool_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv, norm, dropout = self[0], self[1], self[4]
        h = x.unsqueeze(2).contiguous(memory_format=torch.channels_last)
        if (conv.in_channels <= _INPUT_CHANNELS and x.device.type == "cpu" and not x.requires_grad
                and torch.is_grad_enabled()):
            h = _InputConv.apply(h, conv.weight.unsqueeze(2), conv.bias)
        else:
            h = nn.functional.conv2d(h, conv.weight.unsqueeze(2), conv.bias, padding="same")
        if norm.training:  # as BatchNorm1d with its defaults (running statistics tracked, momentum 0.1)
            norm.num_batches_tracked.add_(1)
        h = nn.functional.batch_norm(h, norm.running_mean, norm.running_var, norm.weight, norm.bias, norm.training,
                                     norm.momentum, norm.eps)
        if self.pool_size > 1:
            h = nn.functional.max_pool2d(h, (1, self.pool_size))
        # In place: neither batch norm's nor max pooling's backward reads its own output.
        h = nn.functional.dropout(nn.functional.relu_(h), dropout.p, dropout.training)
        return h.squeeze(2)


# A convolution over this few input channels (one-hot DNA has 4) takes its weight gradient from ``_InputConv``.
_INPUT_CHANNELS = 8


class _InputConv(torch.autograd.Function):
    """``conv2d(x, weight, bias, padding="same")`` on a channels-last (N, C, 1, L) CPU input that needs no gradient
    (the one-hot sequence), with the weight gradient from one GEMM over the input's unfolded windows.

    oneDNN's weight-gradient kernel runs a 4-channel input at 11-13% of the machine's matmul rate: it was the
    largest single cost of the default CNN's training step. Windows of a channels-last input are a strided view of
    the padded input (rows of L x C, a window of k rows is k*C consecutive values), so unfolding them is one copy and
    the gradient one (C_out, N*L) x (N*L, k*C) product, 2.0-2.3x faster (bench/cnn_throughput.py, section 6c). The
    forward pass is the same oneDNN convolution as before; the gradient agrees with oneDNN's to float rounding.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.kernel_size, ctx.has_bias = weight.shape[-1], bias is not None
        return nn.functional.conv2d(x, weight, bias, padding="same")

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        grad_weight, grad_bias = input_conv_gradients(x, grad, ctx.kernel_size)
        return (None, grad_weight if ctx.needs_input_grad[1] else None,
                grad_bias if ctx.has_bias and ctx.needs_input_grad[2] else None)


def input_conv_gradients(x: torch.Tensor, grad: torch.Tensor, kernel: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight (C_out, C, 1, k) and bias gradients of a "same" height-1 convolution of a channels-last (N, C, 1, L)
    input, given the output's gradient (N, C_out, 1, L)."""
    n, channels, _, length = x.shape
    left = (kernel - 1) // 2  # padding="same" puts the odd one of an even kernel's padding on the right
    rows = nn.functional.pad(x.squeeze(2).transpose(1, 2), (0, 0, left, kernel - 1 - left))  # (N, L + k - 1, C)
    windows = rows.reshape(n, -1).unfold(1, kernel * channels, channels).reshape(n * length, kernel * channels)
    # (N*L, C_out), a view when channels-last; in the input's float32 when bf16 autocast made the output bf16
    grad_rows = grad.permute(0, 2, 3, 1).reshape(n * length, -1).to(x.dtype)
    grad_weight = (grad_rows.t() @ windows).view(-1, 1, kernel, channels).permute(0, 3, 1, 2).contiguous()
    return grad_weight, grad_rows.sum(0)


class _GlobalMax(torch.autograd.Function):
    """``x.amax(dim=2)`` with the same gradient (shared equally among tied maxima) in fewer passes: autograd's amax
    backward turns its boolean mask into floats twice, which cost 5% of a training step (bench/cnn_throughput.py)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        values = x.amax(dim=2)
        ctx.save_for_backward(x, values)
        return values

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        x, values = ctx.saved_tensors
        # The comparison written straight into floats: a boolean mask costs a cast to int64 to count and a where.
        is_max = torch.eq(x, values.unsqueeze(2), out=torch.empty_like(x))
        return is_max.mul_(grad.unsqueeze(2) / is_max.sum(dim=2, keepdim=True))


class PositionalBackbone(nn.Module):
    """Common tail of the position-resolved backbones: ``blocks`` turn (N, 4, L) into (N, C, L'), then a final pooling.

    ``final_pool``: ``max`` or ``avg`` over positions (position-free: a motif anywhere counts), or ``flatten`` (keeps
    position, for anchored tasks such as splice sites).
    """

    blocks: nn.ModuleList

    def _finish(self, spec: ModelSpec, length: int) -> None:
        if length < 1:
            raise SeqtuneError(
                f"model: {spec.n_blocks} blocks with pool_size {spec.pool_size} shrink length {spec.length} to 0; "
                "use fewer blocks or a smaller pool_size"
            )
        self.final_pool = spec.final_pool
        self.feature_length = length
        self.out_features = spec.channels * (length if spec.final_pool == "flatten" else 1)

    def positional_features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 4, L) -> (N, C, L') before the final pooling."""
        for block in self.blocks:
            x = block(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.positional_features(x)
        if self.final_pool == "max":
            return _GlobalMax.apply(x)
        if self.final_pool == "avg":
            return x.mean(dim=2)
        return x.flatten(1)


class CNNBackbone(PositionalBackbone):
    """Convolution blocks: convolution, batch norm, max pooling, ReLU, dropout (see ``ConvBlock``)."""

    def __init__(self, spec: ModelSpec):
        super().__init__()
        blocks = []
        in_channels, length = 4, spec.length
        for index in range(spec.n_blocks):
            kernel = spec.first_kernel_size if index == 0 else spec.kernel_size
            blocks.append(ConvBlock(in_channels, spec.channels, kernel, spec.pool_size, spec.dropout))
            in_channels, length = spec.channels, length // max(spec.pool_size, 1)
        self.blocks = nn.ModuleList(blocks)
        self._finish(spec, length)


class ResidualDilatedBlock(nn.Module):
    """x + conv(ReLU(BN(conv_dilated(ReLU(BN(x)))))): the receptive field doubles with each block, length is kept."""

    def __init__(self, channels: int, kernel_size: int, dilation: int, dropout: float):
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm1d(channels), nn.ReLU(),
            nn.Conv1d(channels, channels, kernel_size, padding="same", dilation=dilation),
            nn.BatchNorm1d(channels), nn.ReLU(),
            nn.Conv1d(channels, channels, 1),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class DilatedCNNBackbone(PositionalBackbone):
    """A stem convolution block (with pooling), then residual blocks with dilation 2, 4, 8, ... (Basenji-like)."""

    def __init__(self, spec: ModelSpec):
        super().__init__()
        stem = ConvBlock(4, spec.channels, spec.first_kernel_size, spec.pool_size, spec.dropout)
        residual = [ResidualDilatedBlock(spec.channels, spec.kernel_size, 2 ** (index + 1), spec.dropout)
                    for index in range(spec.n_blocks - 1)]
        self.blocks = nn.ModuleList([stem, *residual])
        self._finish(spec, spec.length // max(spec.pool_size, 1))


class PositionEmbedding(nn.Module):
    """Adds learned or sinusoidal position embeddings to (N, C, L') features."""

    def __init__(self, channels: int, length: int, kind: str):
        super().__init__()
        if kind == "learned":
            self.table = nn.Parameter(torch.zeros(1, channels, length))
            nn.init.normal_(self.table, std=0.02)
        else:
            position = torch.arange(length, dtype=torch.float32)[:, None]
            frequency = torch.exp(torch.arange(0, channels, 2, dtype=torch.float32) * (-math.log(10000.0) / channels))
            table = torch.zeros(length, channels)
            table[:, 0::2] = torch.sin(position * frequency)
            table[:, 1::2] = torch.cos(position * frequency)[:, : channels // 2]
            self.register_buffer("table", table.T[None], persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.table


class TransformerBlock(nn.Module):
    """A pre-norm transformer encoder layer on (N, C, L') features."""

    def __init__(self, channels: int, heads: int, dropout: float):
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(channels, heads, 2 * channels, dropout, batch_first=True,
                                                norm_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x.transpose(1, 2)).transpose(1, 2)


class TransformerBackbone(PositionalBackbone):
    """A convolution stem (with pooling) and position embeddings, then ``n_blocks - 1`` transformer encoder layers."""

    def __init__(self, spec: ModelSpec):
        super().__init__()
        length = spec.length // max(spec.pool_size, 1)
        stem = nn.Sequential(ConvBlock(4, spec.channels, spec.first_kernel_size, spec.pool_size, spec.dropout),
                             PositionEmbedding(spec.channels, length, spec.positions))
        layers = [TransformerBlock(spec.channels, spec.heads, spec.dropout) for _ in range(spec.n_blocks - 1)]
        self.blocks = nn.ModuleList([stem, *layers])
        self._finish(spec, length)


class MLPBackbone(nn.Module):
    """The seed tutorial's model: the flattened one-hot sequence through fully connected layers."""

    def __init__(self, spec: ModelSpec):
        super().__init__()
        sizes = [4 * spec.length] + [spec.hidden] * spec.n_blocks
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Linear(a, b), nn.ReLU(), nn.Dropout(spec.dropout)) for a, b in zip(sizes, sizes[1:])
        )
        self.out_features = sizes[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for block in self.blocks:
            x = block(x)
        return x


def build_backbone(spec: ModelSpec) -> nn.Module:
    backbones = {"cnn": CNNBackbone, "dilated_cnn": DilatedCNNBackbone, "transformer": TransformerBackbone,
                 "mlp": MLPBackbone}
    return backbones[spec.architecture](spec)


class MaskedHead(nn.Module):
    """Predicts the base at every input position (masked-nucleotide pretraining): (N, 4, L) logits.

    On a CNN each pooled position predicts the ``factor`` input positions it summarises (a 1-D pixel shuffle); on an
    MLP one linear layer predicts all positions. Positions past the last whole pooling window get no prediction
    (the output is shorter than L by less than ``factor``).
    """

    def __init__(self, backbone: nn.Module, spec: ModelSpec):
        super().__init__()
        self.positional = isinstance(backbone, PositionalBackbone)
        if self.positional:
            self.factor = spec.length // backbone.feature_length
            self.project = nn.Conv1d(spec.channels, 4 * self.factor, 1)
        else:
            self.factor = 1
            self.project = nn.Linear(backbone.out_features, 4 * spec.length)
        self.length = spec.length

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        logits = self.project(features)
        if not self.positional:
            return logits.view(-1, 4, self.length)
        n, _, positions = logits.shape
        return logits.view(n, 4, self.factor, positions).permute(0, 1, 3, 2).reshape(n, 4, positions * self.factor)


HEADS = ("linear", "masked")


class SequenceModel(nn.Module):
    """Backbone plus a head: ``linear`` gives one logit per class (or per task for multi-label targets) from the
    pooled features; ``masked`` predicts the base at every position (masked-nucleotide pretraining)."""

    def __init__(self, spec: ModelSpec, n_outputs: int, head: str = "linear"):
        super().__init__()
        if head not in HEADS:
            raise SeqtuneError(f"unknown head '{head}'; choose one of {HEADS}")
        self.spec = spec
        self.head_kind = head
        self.backbone = build_backbone(spec)
        if head == "masked":
            self.head = MaskedHead(self.backbone, spec)
        else:
            self.head = nn.Linear(self.backbone.out_features, n_outputs)

    @property
    def n_outputs(self) -> int:
        return 4 if self.head_kind == "masked" else self.head.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.head_kind == "masked" and self.head.positional:
            return self.head(self.backbone.positional_features(x))
        return self.head(self.backbone(x))

    def train(self, mode: bool = True):
        """Frozen blocks stay in eval mode while training, so their batch-norm statistics and dropout do not move."""
        super().train(mode)
        if mode:
            for block in self.backbone.blocks:
                if not any(parameter.requires_grad for parameter in block.parameters()):
                    block.eval()
        return self


def replace_head(model: SequenceModel, n_outputs: int) -> dict:
    """Swap the model's head for a new one with ``n_outputs`` outputs; returns what changed.

    The backbone is untouched: this is the transfer step. The new head starts at zero, so the fine-tuned model
    starts from uniform predictions rather than from a random projection of informative pretrained features (which
    would score far from chance before seeing a single label, and bias the shuffled-label control).
    """
    old_outputs, old_kind = model.n_outputs, model.head_kind
    in_features = model.backbone.out_features
    model.head = nn.Linear(in_features, n_outputs)
    model.head_kind = "linear"
    nn.init.zeros_(model.head.weight)
    nn.init.zeros_(model.head.bias)
    change = {"old_outputs": old_outputs, "new_outputs": n_outputs, "in_features": in_features}
    if old_kind != "linear":
        change["old_head"] = old_kind
    return change


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
