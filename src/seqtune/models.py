"""Models: a backbone that turns one-hot DNA (N, 4, L) into features, and a head that turns features into outputs.

Transfer learning is a matter of keeping the backbone and replacing the head (``replace_head``). Backbones expose
their layers as ``blocks`` (bottom to top) so that fine-tuning strategies can freeze and unfreeze them by depth.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from .errors import SeqtuneError

ARCHITECTURES = ("cnn", "mlp")
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

    @classmethod
    def from_dict(cls, values: dict) -> "ModelSpec":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise SeqtuneError(f"unknown model setting(s) {sorted(unknown)}; known: {sorted(known)}")
        spec = cls(**values)
        if spec.architecture not in ARCHITECTURES:
            raise SeqtuneError(f"model.architecture '{spec.architecture}' is not one of {ARCHITECTURES}")
        if spec.final_pool not in FINAL_POOLS:
            raise SeqtuneError(f"model.final_pool '{spec.final_pool}' is not one of {FINAL_POOLS}")
        return spec

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class ConvBlock(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, pool_size: int, dropout: float):
        super().__init__(
            nn.Conv1d(in_channels, out_channels, kernel_size, padding="same"),
            nn.BatchNorm1d(out_channels),
            nn.ReLU(),
            nn.MaxPool1d(pool_size) if pool_size > 1 else nn.Identity(),
            nn.Dropout(dropout),
        )


class CNNBackbone(nn.Module):
    """Convolution blocks (conv, batch norm, ReLU, max pooling), then a final pooling to a feature vector.

    ``final_pool``: ``max`` or ``avg`` over positions (position-free: a motif anywhere counts), or ``flatten`` (keeps
    position, for anchored tasks such as splice sites).
    """

    def __init__(self, spec: ModelSpec):
        super().__init__()
        blocks = []
        in_channels, length = 4, spec.length
        for index in range(spec.n_blocks):
            kernel = spec.first_kernel_size if index == 0 else spec.kernel_size
            blocks.append(ConvBlock(in_channels, spec.channels, kernel, spec.pool_size, spec.dropout))
            in_channels, length = spec.channels, length // max(spec.pool_size, 1)
        if length < 1:
            raise SeqtuneError(
                f"model: {spec.n_blocks} blocks with pool_size {spec.pool_size} shrink length {spec.length} to 0; "
                "use fewer blocks or a smaller pool_size"
            )
        self.blocks = nn.ModuleList(blocks)
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
            return x.amax(dim=2)
        if self.final_pool == "avg":
            return x.mean(dim=2)
        return x.flatten(1)


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
    return {"cnn": CNNBackbone, "mlp": MLPBackbone}[spec.architecture](spec)


class SequenceModel(nn.Module):
    """Backbone plus a linear head producing one logit per class (or per task for multi-label targets)."""

    def __init__(self, spec: ModelSpec, n_outputs: int):
        super().__init__()
        self.spec = spec
        self.backbone = build_backbone(spec)
        self.head = nn.Linear(self.backbone.out_features, n_outputs)

    @property
    def n_outputs(self) -> int:
        return self.head.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
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
    old = model.head
    model.head = nn.Linear(old.in_features, n_outputs)
    nn.init.zeros_(model.head.weight)
    nn.init.zeros_(model.head.bias)
    return {"old_outputs": old.out_features, "new_outputs": n_outputs, "in_features": old.in_features}


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
