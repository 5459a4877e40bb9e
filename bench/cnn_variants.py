#!/usr/bin/env python
"""What changes to the default CNN itself (not to the trainer) would buy on the CPU: seqtune's inner loop at batch
512 on variants of ``ModelSpec()``'s convolution block, in paired rounds, as a ratio to the block as it is and as a
fraction of the fp32 matmul measured in the same rounds.

Variants (none is applied in ``seqtune.models``: each changes the model, and with it every result):
- no dropout in the blocks;
- dropout mask from ``torch.rand_like`` instead of ``bernoulli_`` (same distribution, other random stream);
- dropout mask from geometric gaps between the dropped elements: about p*n uniform draws instead of n (the same
  i.i.d. Bernoulli distribution, another random stream);
- channel-wise ("spatial") dropout: one draw per sequence and channel, broadcast over positions;
- batch norm after the max pooling (on a quarter of the positions), with elementwise or spatial dropout, or none.

FLOPs per step are the same for every variant (FlopCounterMode counts the convolutions only), so "of matmul" is
seqtune's FLOP/s on the default model's count.

Run:  .venv/bin/python bench/cnn_variants.py [--compile] [--n 4096] [--rounds 3]     (about 1 minute; 2 with --compile)
The last line of output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import statistics

import torch
import torch.nn.functional as F

from cnn_throughput import Loop, Matmul, fraction, make_data, median_ratio, step_flops, with_matmul
from seqtune.models import ConvBlock, ModelSpec, SequenceModel
from tables import table  # bench/tables.py


def gap_dropout(h: torch.Tensor, p: float) -> torch.Tensor:
    """Dropout whose dropped positions are drawn as geometric gaps (gap - 1 = floor(log(1 - U) / log(1 - p))): each
    element is dropped independently with probability p, as with ``bernoulli_``, from about p*n draws instead of
    n. ``h`` is channels-last (N, C, 1, L); the mask is built in its memory order."""
    n = h.numel()
    expected = n * p
    draws = int(expected + 8 * math.sqrt(expected) + 16)  # falling short of n is an 8-sigma event
    gaps = torch.rand(draws, dtype=torch.float64).neg_().log1p_().div_(math.log1p(-p)).floor_()
    positions = gaps.cumsum_(0).add_(torch.arange(draws, dtype=torch.float64))
    if positions[-1] < n:
        raise RuntimeError("gap_dropout drew too few gaps")
    mask = torch.full((n,), 1 / (1 - p), dtype=h.dtype)
    mask[positions[positions < n].long()] = 0
    return h * mask.view(h.shape[0], h.shape[2], h.shape[3], h.shape[1]).permute(0, 3, 1, 2)


class VariantBlock(ConvBlock):
    """seqtune's ConvBlock (same modules and parameters) with the block's order or dropout changed."""

    def configure(self, norm_after_pool: bool, dropout_kind: str) -> "VariantBlock":
        self.norm_after_pool, self.dropout_kind = norm_after_pool, dropout_kind
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv, norm, dropout = self[0], self[1], self[4]
        h = x.unsqueeze(2).contiguous(memory_format=torch.channels_last)
        h = F.conv2d(h, conv.weight.unsqueeze(2), conv.bias, padding="same")
        if self.norm_after_pool and self.pool_size > 1:
            h = F.max_pool2d(h, (1, self.pool_size))
        h = F.batch_norm(h, norm.running_mean, norm.running_var, norm.weight, norm.bias, norm.training,
                         norm.momentum, norm.eps)
        if not self.norm_after_pool and self.pool_size > 1:
            h = F.max_pool2d(h, (1, self.pool_size))
        h = F.relu(h)
        p = dropout.p
        if self.training and p > 0 and self.dropout_kind != "none":
            if self.dropout_kind == "spatial":
                h = h * torch.empty(h.shape[0], h.shape[1], 1, 1).bernoulli_(1 - p).div_(1 - p)
            elif self.dropout_kind == "rand_like":
                h = h * torch.rand_like(h).ge_(p).mul_(1 / (1 - p))
            elif self.dropout_kind == "gaps":
                h = gap_dropout(h, p)
            else:
                h = F.dropout(h, p, True)
        return h.squeeze(2)


VARIANTS = {
    "as is (BN, pool, ReLU, dropout)": (False, "bernoulli"),
    "no dropout": (False, "none"),
    "rand_like dropout": (False, "rand_like"),
    "geometric-gap dropout": (False, "gaps"),
    "spatial dropout": (False, "spatial"),
    "BN after pool": (True, "bernoulli"),
    "BN after pool, spatial dropout": (True, "spatial"),
    "BN after pool, no dropout": (True, "none"),
}


def build(norm_after_pool: bool, dropout_kind: str, outputs: int) -> SequenceModel:
    torch.manual_seed(0)
    model = SequenceModel(ModelSpec(), outputs)
    for block in model.backbone.blocks:
        block.__class__ = VariantBlock
        block.configure(norm_after_pool, dropout_kind)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=4096, help="training sequences per timed epoch")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="torch.compile every variant (compiles first)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    print(f"cnn_variants: torch {torch.__version__}, 2 threads, {args.n} sequences, {args.rounds} rounds, batch 512"
          f"{', torch.compile' if args.compile else ''}; load average {os.getloadavg()[0]:.1f}")
    codes_np, targets_np = make_data(args.n)
    codes, targets = torch.from_numpy(codes_np), torch.from_numpy(targets_np)
    flops_per_sequence = step_flops(build(False, "bernoulli", targets.shape[1]), codes, targets, 512)[0] / 512
    cases = {}
    for name, (norm_after_pool, dropout_kind) in VARIANTS.items():
        model = build(norm_after_pool, dropout_kind, targets.shape[1])
        cases[name] = Loop(torch.compile(model) if args.compile else model, codes, targets, 512, "seqtune")
    rates, mm_rounds = with_matmul(cases, args.n, args.rounds, Matmul())
    reference = rates["as is (BN, pool, ReLU, dropout)"]
    rows = [{"block": name, "seq/s": statistics.median(values), "vs as is": median_ratio(values, reference),
             "of matmul": fraction(values, mm_rounds, flops_per_sequence)} for name, values in rates.items()]
    print(table(rows))
    print(f"  {flops_per_sequence / 1e6:.2f} MFLOP per sequence; matmul in these rounds: median "
          f"{statistics.median(mm_rounds):.1f} GFLOP/s")
    print(json.dumps({"bench": "cnn_variants", "date": datetime.date.today().isoformat(), "n_train": args.n,
                      "rounds": args.rounds, "compile": args.compile, "rows": rows, "matmul_rounds": mm_rounds,
                      "load_average_end": os.getloadavg()[0]}, default=float))


if __name__ == "__main__":
    main()
