#!/usr/bin/env python
"""Training throughput of seqtune's default CNN on the CPU, as a fraction of the machine's measured matmul FLOP/s.

The model is ``ModelSpec()`` (64 channels, 2 blocks, kernels 15 then 5, max pool 4, 200 nt) with 8 outputs, trained
on a simulated 8-motif corpus (``seqtune.simulate.simulate_presence``) with BCE loss and AdamW, as ``seqtune
pretrain`` does. Sections (every comparison is a ratio of figures measured in this run, interleaved round by round):

1. matmul: fp32 ``torch.matmul`` of two 4096 x 4096 matrices at 2 threads (start and end of the run).
2. FLOPs of one training step (forward + backward + AdamW) from ``torch.utils.flop_counter.FlopCounterMode``.
3. seqtune's loop (``fit()`` itself, and the inner loop ``fit`` runs) against a plain PyTorch loop over a
   pre-encoded float one-hot tensor, at batch 512, on the same model and on a textbook Conv1d build of it:
   sequences/s, achieved FLOP/s and its fraction of (1).
4. Batch-size sweep (64 ... 1024), seqtune loop vs plain loop.
5. Layout sweep: Conv1d (seqtune's), the same convolutions as Conv2d with height 1 in NCHW and in channels_last,
   and oneDNN (``torch.backends.mkldnn``) switched off.
6. Where the time goes: ``torch.profiler`` phases (one-hot, forward, backward, optimizer) and top ops.
   6b. Kernel micro-benchmarks; 6c. the first block's weight gradient, oneDNN against one GEMM (``_InputConv``).
7. Prototyped changes to ``models.py`` / ``train.py`` (made here by subclassing, not by editing src/), each measured
   against the unchanged model in the same rounds, with a check that the outputs are unchanged.
   7d. The same inner loop on conv-dominated shapes of the CNN (no pooling, as gReLU's ConvModel; 128 channels).
   7e. The issue's calibration shape (gReLU's ConvModel: kernels 15, 5, 5, no pooling, no dropout): seqtune's loop
       at batch 64 to 512 and ``fit()`` itself at batch 128, against a plain batch-512 loop over its textbook Conv1d
       build and over seqtune's own build of the same model, and against matmul.
   7f. (``--against-commit REV``) this checkout's models against those of an earlier commit, paired rounds.
8. Threads: intra-op 1 vs 2, inter-op 1 vs 2, ``OMP_WAIT_POLICY=PASSIVE``, each in a fresh subprocess.

Run:  .venv/bin/python bench/cnn_throughput.py            (about 15-20 minutes on a loaded 2-core machine)
      .venv/bin/python bench/cnn_throughput.py --calibration-only   (section 7e alone, about 3 minutes)
      .venv/bin/python bench/cnn_throughput.py --against-commit bc4a8ba   (section 7f alone, about 4 minutes)
      .venv/bin/python bench/cnn_throughput.py --quick    (smaller data and fewer rounds, about 5 minutes)
      .venv/bin/python bench/cnn_throughput.py --compile  (adds torch.compile; its compilation takes ~1 minute)
The last line of output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime
import inspect
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from seqtune import train as seqtune_train
from seqtune.models import ConvBlock, ModelSpec, SequenceModel
from seqtune.sequence import one_hot
from seqtune.train import Dataset, TrainSettings, fit
from tables import table  # bench/tables.py

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MOTIFS = ["MA0139.2", "MA0035.4", "MA0080.5", "MA0102.4", "MA0148.4", "MA0114.4", "MA0106.3", "MA0143.4"]
LENGTH = 200


# ------------------------------------------------------------------------------------------------------- helpers
def corpus_motifs() -> list[str]:
    """The default config's 8 JASPAR motifs (falls back to the same list if the config cannot be read)."""
    try:
        import yaml

        config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
        return list(config["datasets"]["corpus"]["motifs"])
    except Exception:  # noqa: BLE001 - the bench must run from a copy of bench/ too
        return DEFAULT_MOTIFS


def make_data(n: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    from seqtune.simulate import simulate_presence

    sim = simulate_presence(n, LENGTH, corpus_motifs(), 0.3, 0.41, 0.25, seed)
    targets = np.array(sim.labels.drop(columns="id").to_numpy(dtype=np.float32))  # writable copy
    return sim.codes, targets


def section(title: str) -> None:
    print(f"\n== {title}", flush=True)


def matmul_gflops(n: int = 4096, reps: int = 5, threads: int = 2) -> list[float]:
    """fp32 matmul GFLOP/s (2 n^3 / t) of two random n x n matrices, one figure per repetition."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(n, n), torch.randn(n, n)
        torch.matmul(a, b)
        rates = []
        for _ in range(reps):
            started = time.perf_counter()
            torch.matmul(a, b)
            rates.append(2 * n**3 / (time.perf_counter() - started) / 1e9)
        return rates
    finally:
        torch.set_num_threads(previous)


def interleaved(cases: dict, n_sequences: int | dict, rounds: int, warmup: int = 1) -> dict[str, list[float]]:
    """Run every case once per round (rotating the order), ``warmup`` rounds untimed; sequences/s per round."""
    names = list(cases)
    rates = {name: [] for name in names}
    for round_index in range(warmup + rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            started = time.perf_counter()
            cases[name]()
            elapsed = time.perf_counter() - started
            if round_index >= warmup:
                count = n_sequences[name] if isinstance(n_sequences, dict) else n_sequences
                rates[name].append(count / elapsed)
    return rates


class Matmul:
    """A pseudo-case for ``interleaved``: one fp32 n x n matmul at 2 threads; its 'sequences' are GFLOPs, so its rate
    is GFLOP/s measured in the same round as the training loops (the machine is shared: load changes by the minute)."""

    def __init__(self, n: int = 4096, threads: int = 2):
        self.n, self.threads = n, threads
        self.a, self.b = torch.randn(n, n), torch.randn(n, n)
        self.gflop = 2 * n**3 / 1e9

    def __call__(self) -> None:
        previous = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        torch.matmul(self.a, self.b)
        torch.set_num_threads(previous)


def with_matmul(cases: dict, n: int, rounds: int, matmul: "Matmul") -> tuple[dict, list[float]]:
    """``interleaved`` over the cases plus a matmul in every round; returns (rates, matmul GFLOP/s per round)."""
    rates = interleaved({**cases, "__matmul__": matmul}, {**{k: n for k in cases}, "__matmul__": matmul.gflop},
                        rounds)
    return rates, rates.pop("__matmul__")


def fraction(rates: list[float], matmul: list[float], flops_per_sequence: float) -> float:
    """Median over rounds of (achieved FLOP/s) / (matmul FLOP/s in the same round)."""
    return statistics.median(r * flops_per_sequence / 1e9 / m for r, m in zip(rates, matmul))


@contextlib.contextmanager
def threads_set(threads: int):
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def median_ratio(a: list[float], b: list[float]) -> float:
    """Median over rounds of a[i] / b[i] (paired, so slow rounds on a shared machine cancel out)."""
    return statistics.median(x / y for x, y in zip(a, b))


# ------------------------------------------------------------------------------------- the loops being compared
class Loop:
    """One model + AdamW, and an epoch function: seqtune's inner loop (codes -> one-hot per batch) or a plain loop."""

    def __init__(self, model: nn.Module, codes: torch.Tensor, targets: torch.Tensor, batch: int, kind: str,
                 fused_adamw: bool | None = None, channels_last_input: bool = False, seed: int = 0):
        self.model, self.codes, self.targets, self.batch, self.kind = model, codes, targets, batch, kind
        self.generator = torch.Generator().manual_seed(seed)
        self.loss_fn = nn.BCEWithLogitsLoss()
        settings = TrainSettings(learning_rate=1e-3, batch_size=batch)
        groups = seqtune_train.apply_strategy(model, "scratch", settings)
        if fused_adamw is None and hasattr(seqtune_train, "adamw"):  # fit's own optimizer (fused since 2026-11-29)
            self.optimizer = seqtune_train.adamw(groups, settings.weight_decay, codes.device)
        else:
            self.optimizer = torch.optim.AdamW(groups, weight_decay=settings.weight_decay,
                                               **({"fused": True} if fused_adamw else {}))
        if kind == "plain":  # the floor: the whole data set pre-encoded once as float one-hot (N, 4, L)
            self.x = one_hot(codes).contiguous()
            if channels_last_input:
                self.x = self.x.unsqueeze(2).contiguous(memory_format=torch.channels_last).squeeze(2)

    def __call__(self) -> None:
        (self.seqtune_epoch if self.kind == "seqtune" else self.plain_epoch)()

    def seqtune_epoch(self) -> None:
        """The body of ``seqtune.train.fit``'s epoch, line for line (no validation; single process, no RC flips)."""
        model, device = self.model, self.codes.device
        model.train()
        order = torch.randperm(len(self.codes), generator=self.generator).to(device)
        running, seen = torch.zeros((), dtype=torch.float64, device=device), 0
        for start in range(0, len(self.codes), self.batch):
            index = order[start:start + self.batch]
            x = one_hot(self.codes[index])
            with seqtune_train._autocast(device, False):
                loss = self.loss_fn(model(x).float(), self.targets[index])
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            running.add_(loss.detach(), alpha=len(index))
            seen += len(index)
        if not np.isfinite(running.item()):
            raise RuntimeError("non-finite loss")

    def plain_epoch(self) -> None:
        model = self.model
        model.train()
        order = torch.randperm(len(self.x), generator=self.generator)
        for start in range(0, len(self.x), self.batch):
            index = order[start:start + self.batch]
            loss = self.loss_fn(model(self.x[index]), self.targets[index])
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()


class FitEpoch:
    """``seqtune.train.fit`` itself for one epoch; ``stub_validation`` replaces its per-epoch validation pass (and
    AUROC) with a no-op so that only its training loop is timed."""

    def __init__(self, model, train: Dataset, validation: Dataset, batch: int, stub_validation: bool):
        self.model, self.train, self.validation, self.stub = model, train, validation, stub_validation
        self.settings = TrainSettings(learning_rate=1e-3, batch_size=batch, max_epochs=1, patience=1)

    def __call__(self) -> None:
        if not self.stub:
            fit(self.model, self.train, self.validation, self.settings, "scratch", seed=0)
            return
        if "objective" in inspect.signature(fit).parameters:  # fit(..., objective=): validation is objective.evaluate
            from seqtune.train import Supervised

            class NoValidation(Supervised):
                def evaluate(self, model, data, batch_size, bf16):
                    return 0.0, 0.5

            fit(self.model, self.train, self.validation, self.settings, "scratch", seed=0,
                objective=NoValidation(True))
            return
        k = self.validation.targets.shape[1]  # older fit(): module-level evaluate_loss / validation_score
        with _patched(seqtune_train, "evaluate_loss", lambda model, data, batch_size, bf16=False: (0.0, np.zeros((1, k)))), \
                _patched(seqtune_train, "validation_score", lambda data, probabilities: 0.5):
            fit(self.model, self.train, self.validation, self.settings, "scratch", seed=0)


@contextlib.contextmanager
def _patched(module, name, value):
    old = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, old)


# -------------------------------------------------------------------- prototypes of changes to seqtune.models
class FastConvBlock(ConvBlock):
    """seqtune's ConvBlock with the same modules and parameters (state dicts are interchangeable), computed
    differently:

    * ``layout="conv1d"``: as seqtune (Conv1d, BatchNorm1d, MaxPool1d on (N, C, L)).
    * ``layout="nchw"``: the Conv1d weights used as a height-1 Conv2d on (N, C, 1, L), contiguous.
    * ``layout="nhwc"``: the same in channels_last memory ((N, L, C) in memory): oneDNN's convolution keeps the
      layout, and batch norm, ReLU and max pooling then run their channels-last CPU kernels.
    * ``relu_after_pool``: ReLU after the max pooling instead of before. Exact, because max and ReLU commute
      (ReLU is monotone): relu(max(x)) == max(relu(x)); the ReLU then touches a quarter of the elements.
    * ``rand_dropout``: the dropout mask from ``torch.rand_like(h).ge_(p)`` instead of ``F.dropout``'s
      ``bernoulli_`` (slow on the CPU). Same distribution, different random stream.
    """

    def configure(self, layout: str, relu_after_pool: bool, rand_dropout: bool = False) -> "FastConvBlock":
        self.layout, self.relu_after_pool, self.rand_dropout = layout, relu_after_pool, rand_dropout
        return self

    def _dropout(self, h: torch.Tensor, p: float) -> torch.Tensor:
        if not self.training or p == 0:
            return h
        if not self.rand_dropout:
            return F.dropout(h, p, True)
        return h * torch.rand_like(h).ge_(p).mul_(1 / (1 - p))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv, bn, dropout = self[0], self[1], self[4]
        pool = next((m for m in self if isinstance(m, nn.MaxPool1d)), self[2])  # index 3 until 2026-11-28, now 2
        k = pool.kernel_size if isinstance(pool, nn.MaxPool1d) else 1
        k = k[0] if isinstance(k, tuple) else k
        if self.layout == "conv1d":
            h = bn(conv(x))
            if self.relu_after_pool:
                h = F.relu(F.max_pool1d(h, k) if k > 1 else h)
            else:
                h = F.max_pool1d(F.relu(h), k) if k > 1 else F.relu(h)
            return self._dropout(h, dropout.p)
        h = x.unsqueeze(2)
        h = h.contiguous(memory_format=torch.channels_last if self.layout == "nhwc" else torch.contiguous_format)
        h = F.conv2d(h, conv.weight.unsqueeze(2), conv.bias, padding="same")
        if bn.training and bn.track_running_stats:
            bn.num_batches_tracked.add_(1)
        h = F.batch_norm(h, bn.running_mean, bn.running_var, bn.weight, bn.bias, bn.training, bn.momentum, bn.eps)
        if self.relu_after_pool:
            h = F.relu(F.max_pool2d(h, (1, k)) if k > 1 else h)
        else:
            h = F.max_pool2d(F.relu(h), (1, k)) if k > 1 else F.relu(h)
        h = self._dropout(h, dropout.p)
        return h.squeeze(2)


def variant(model: SequenceModel, layout: str = "conv1d", relu_after_pool: bool = False,
            rand_dropout: bool = False) -> SequenceModel:
    """A deep copy of ``model`` whose ConvBlocks compute as FastConvBlock (same parameters, same state dict)."""
    model = copy.deepcopy(model)
    for block in model.backbone.blocks:
        block.__class__ = FastConvBlock
        block.configure(layout, relu_after_pool, rand_dropout)
    return model


def best_variant(model: SequenceModel) -> SequenceModel:
    """All the model-side prototypes together: channels_last blocks, ReLU after pool, rand_like dropout."""
    return variant(model, "nhwc", True, True)


def max_output_difference(a: nn.Module, b: nn.Module, codes: torch.Tensor) -> float:
    """Largest |output difference| of two models in eval mode (dropout off, running BN statistics)."""
    a.eval(), b.eval()
    with torch.no_grad():
        x = one_hot(codes[:256])
        return float((a(x) - b(x)).abs().max())


def step_flops(model: nn.Module, codes: torch.Tensor, targets: torch.Tensor, batch: int) -> tuple[int, dict]:
    """FLOPs counted by FlopCounterMode for one training step (forward + backward + AdamW) at ``batch``."""
    from torch.utils.flop_counter import FlopCounterMode

    model = copy.deepcopy(model)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    with FlopCounterMode(display=False) as counter:
        loss = nn.BCEWithLogitsLoss()(model(one_hot(codes[:batch])), targets[:batch])
        loss.backward()
        optimizer.step()
    by_op = {}
    for module, ops in counter.get_flop_counts().items():
        if module == "Global":
            for op, count in ops.items():
                by_op[str(op).split(".")[-1]] = int(count)
    return counter.get_total_flops(), by_op


# ------------------------------------------------------------------------------------------------------ profile
def profile_phases(model: nn.Module, codes: torch.Tensor, targets: torch.Tensor, batch: int, steps: int,
                   fused_adamw: bool | None = None) -> tuple[list[dict], list[dict], float]:
    """torch.profiler over ``steps`` seqtune-loop steps: time per phase and the top ops by self CPU time."""
    from torch.autograd.profiler import record_function
    from torch.profiler import ProfilerActivity, profile

    model = copy.deepcopy(model)
    loop = Loop(model, codes, targets, batch, "seqtune", fused_adamw=fused_adamw)
    loop()  # warm-up epoch (also allocates the optimizer state)
    generator = torch.Generator().manual_seed(1)
    order = torch.randperm(len(codes), generator=generator)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        started = time.perf_counter()
        for step in range(steps):
            index = order[(step * batch) % len(codes):][:batch]
            with record_function("phase: index + one_hot"):
                x = one_hot(codes[index])
            with record_function("phase: forward + loss"):
                loss = loop.loss_fn(model(x).float(), targets[index])
                finite = bool(torch.isfinite(loss))
            with record_function("phase: zero_grad"):
                loop.optimizer.zero_grad(set_to_none=True)
            with record_function("phase: backward"):
                loss.backward()
            with record_function("phase: optimizer step"):
                loop.optimizer.step()
            loss.item()
            assert finite
        wall = time.perf_counter() - started
    events = prof.key_averages()
    phases = []
    for event in events:
        if event.key.startswith("phase: "):
            phases.append({"phase": event.key[7:], "ms_per_step": event.cpu_time_total / 1e3 / steps})
    accounted = sum(p["ms_per_step"] for p in phases)
    phases.sort(key=lambda p: -p["ms_per_step"])
    phases.append({"phase": "outside the phases (Python loop, loss.item)",
                   "ms_per_step": max(wall * 1e3 / steps - accounted, 0.0)})
    for p in phases:
        p["share"] = p["ms_per_step"] / (wall * 1e3 / steps)
    ops = [e for e in events if e.key.startswith("aten::") or e.key.startswith("Optimizer") or
           e.key.startswith("autograd::")]
    ops.sort(key=lambda e: -e.self_cpu_time_total)
    total_self = sum(e.self_cpu_time_total for e in events if not e.key.startswith("phase: "))
    top = [{"op": e.key, "category": op_category(e.key), "ms_per_step": e.self_cpu_time_total / 1e3 / steps,
            "share_of_op_time": e.self_cpu_time_total / total_self, "calls_per_step": e.count / steps}
           for e in ops[:16]]
    return phases, top, wall / steps


def op_category(name: str) -> str:
    rules = [("convolution_backward", "conv backward"), ("convolution", "conv forward"),
             ("batch_norm_backward", "batchnorm backward"), ("batch_norm", "batchnorm forward"),
             ("max_pool", "maxpool"), ("threshold_backward", "relu backward"), ("clamp_min", "relu forward"),
             ("relu", "relu forward"), ("bernoulli", "dropout"), ("dropout", "dropout"), ("fill_", "zero-fill"),
             ("zero_", "zero-fill"), ("aten::index", "batch gather / one-hot"), ("amax", "final max pool"),
             ("Optimizer", "optimizer"), ("sqrt", "optimizer"), ("lerp", "optimizer"), ("addcdiv", "optimizer"),
             ("addmm", "head"), ("aten::mm", "head"), ("copy_", "copies"), ("binary_cross", "loss"),
             ("log_sigmoid", "loss")]
    for needle, category in rules:
        if needle in name:
            return category
    return "other"


# ------------------------------------------------------------------------------------------- kernel micro-bench
def kernel_microbench(reps: int = 9) -> list[dict]:
    """Forward and backward of the first block's max pooling and batch norm on a (512, 64, 200) activation, in
    seqtune's memory layout (NCL, MaxPool1d/BatchNorm1d) and in channels-last (N, C, 1, L) memory (max_pool2d,
    batch_norm on 4-D): milliseconds, medians of ``reps``."""
    torch.manual_seed(0)
    h = torch.randn(512, 64, 200)
    h_cl = h.unsqueeze(2).contiguous(memory_format=torch.channels_last)
    weight, bias = torch.ones(64, requires_grad=True), torch.zeros(64, requires_grad=True)
    cases = {
        "MaxPool1d(4), NCL (seqtune)": (h, lambda t: F.max_pool1d(t, 4)),
        "max_pool2d((1, 4)), channels_last": (h_cl, lambda t: F.max_pool2d(t, (1, 4))),
        "BatchNorm1d (train), NCL (seqtune)": (h, lambda t: F.batch_norm(t, None, None, weight, bias, True)),
        "batch_norm (train), channels_last": (h_cl, lambda t: F.batch_norm(t, None, None, weight, bias, True)),
        "ReLU, NCL, 512x64x200": (h, F.relu),
        "ReLU after pooling, 512x64x50": (h[..., ::4].contiguous(), F.relu),
        "dropout(0.1) via bernoulli_ (F.dropout), 512x64x50": (h[..., ::4].contiguous(),
                                                              lambda t: F.dropout(t, 0.1, True)),
        "dropout(0.1) via rand_like().ge_(p), 512x64x50": (
            h[..., ::4].contiguous(), lambda t: t * torch.rand_like(t).ge_(0.1).mul_(1 / 0.9)),
    }
    rows = []
    for name, (source, fn) in cases.items():
        forward, backward = [], []
        for _ in range(reps):
            x = source.detach().clone(memory_format=torch.preserve_format).requires_grad_(True)
            started = time.perf_counter()
            out = fn(x)
            middle = time.perf_counter()
            out.backward(torch.ones_like(out))
            backward.append(time.perf_counter() - middle)
            forward.append(middle - started)
        rows.append({"kernel": name, "forward ms": statistics.median(forward) * 1e3,
                     "backward ms": statistics.median(backward) * 1e3})
    return rows


def input_conv_microbench(matmul: "Matmul", batches=(64, 128, 512), reps: int = 9) -> list[dict]:
    """Section 6c. The first block's weight gradient (64 filters of 4 x 15 on one-hot input, 200 nt): oneDNN's
    convolution backward (seqtune before 49ec985, 2026-11-30) against one GEMM over the unfolded input windows
    (``seqtune.models._InputConv``), with the matmul measured between them."""
    from seqtune.models import input_conv_gradients

    rows = []
    for batch in batches:
        torch.manual_seed(0)
        x = one_hot(torch.randint(0, 4, (batch, LENGTH), dtype=torch.uint8)).unsqueeze(2)
        x = x.contiguous(memory_format=torch.channels_last)
        weight = torch.randn(64, 4, 1, 15)
        grad = torch.randn(batch, 64, 1, LENGTH).contiguous(memory_format=torch.channels_last)
        flops = 2 * batch * LENGTH * 64 * 4 * 15
        cases = {
            "oneDNN convolution_backward": lambda: torch.ops.aten.convolution_backward(
                grad, x, weight, [64], [1, 1], [0, 7], [1, 1], False, [0, 0], 1, [False, True, True]),
            "GEMM over unfolded windows (_InputConv)": lambda: input_conv_gradients(x, grad, 15),
        }
        times = {name: [] for name in [*cases, "matmul"]}
        for _ in range(reps):
            for name, fn in [*cases.items(), ("matmul", matmul)]:
                started = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - started)
        mm = matmul.gflop / statistics.median(times["matmul"])
        for name in cases:
            seconds = statistics.median(times[name])
            rows.append({"batch": batch, "weight and bias gradients": name, "ms": seconds * 1e3,
                         "GFLOP/s": flops / seconds / 1e9, "of matmul": flops / seconds / 1e9 / mm})
    return rows


# ---------------------------------------------------------------------------------------- thread sweep (worker)
def worker(args) -> None:
    """Run in a fresh process: thread settings must be fixed before torch starts any parallel work."""
    torch.set_num_interop_threads(args.worker_interop)
    torch.set_num_threads(args.worker_threads)
    data = np.load(args.worker_data)
    codes, targets = torch.from_numpy(data["codes"]), torch.from_numpy(data["targets"])
    torch.manual_seed(0)
    base = SequenceModel(ModelSpec(), targets.shape[1])
    cases = {
        "seqtune": Loop(copy.deepcopy(base), codes, targets, 512, "seqtune"),
        "best prototype": Loop(best_variant(base), codes, targets, 512, "seqtune", fused_adamw=True),
    }
    rates, matmul = with_matmul(cases, len(codes), args.rounds, Matmul(4096, args.worker_threads))
    print(json.dumps({"threads": args.worker_threads, "interop": args.worker_interop,
                      "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
                      "seqtune": statistics.median(rates["seqtune"]),
                      "best prototype": statistics.median(rates["best prototype"]),
                      "matmul_same_threads": statistics.median(matmul)}))


THREAD_SETTINGS = [(1, 1, None), (2, 1, None), (1, 2, None), (2, 2, None), (2, 2, "PASSIVE")]


def thread_sweep(codes: np.ndarray, targets: np.ndarray, rounds: int, passes: int) -> list[dict]:
    """Every setting in a fresh subprocess; ``passes`` passes over the settings (alternating order), medians."""
    runs: dict = {setting: [] for setting in THREAD_SETTINGS}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.npz"
        np.savez(path, codes=codes, targets=targets)
        for index in range(passes):
            for threads, interop, policy in (THREAD_SETTINGS if index % 2 == 0 else THREAD_SETTINGS[::-1]):
                env = dict(os.environ)
                env.pop("OMP_WAIT_POLICY", None)
                if policy:
                    env["OMP_WAIT_POLICY"] = policy
                command = [sys.executable, __file__, "--worker-data", str(path), "--worker-threads", str(threads),
                           "--worker-interop", str(interop), "--rounds", str(rounds)]
                out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
                row = json.loads(out.strip().splitlines()[-1])
                runs[(threads, interop, policy)].append(row)
                print(f"  pass {index + 1}: intra-op {threads}, inter-op {interop}, OMP_WAIT_POLICY "
                      f"{policy or 'default'}: {row['seqtune']:.0f} seq/s seqtune, "
                      f"{row['best prototype']:.0f} seq/s prototype", flush=True)
    rows = []
    for (threads, interop, policy), values in runs.items():
        rows.append({"intra-op": threads, "inter-op": interop, "OMP_WAIT_POLICY": policy or "default",
                     "seqtune seq/s": statistics.median(v["seqtune"] for v in values),
                     "prototype seq/s": statistics.median(v["best prototype"] for v in values),
                     "matmul GFLOP/s (same threads)": statistics.median(v["matmul_same_threads"] for v in values)})
    return rows


def calibration_shape(codes: torch.Tensor, targets: torch.Tensor, rounds: int, matmul: "Matmul",
                      validation: Dataset) -> dict:
    """Section 7e. The issue's "50% of matmul, about 1.3x the plain batch-512 loop" was measured on gReLU's ConvModel
    (64 channels, convolutions of 15 then 2 x 5 at full length, 200 nt), where a plain loop over that textbook build
    reached 38% of matmul. The same comparison on that shape of seqtune's CNN, so that the trainer is also judged on
    the model the target came from. ``seqtune.train.fit`` itself is timed too (one epoch per call, its validation
    pass stubbed and not), not only the benchmark's line-for-line copy of its epoch."""
    section("7e. the issue's calibration shape (gReLU-ConvModel-like: kernels 15, 5, 5 at full length, 64 channels, "
            "no pooling, no dropout): seqtune's loop vs a plain loop over its textbook Conv1d build")
    torch.manual_seed(0)
    model = SequenceModel(ModelSpec(n_blocks=3, pool_size=1, dropout=0.0), targets.shape[1])
    flops_per_sequence = step_flops(model, codes, targets, 512)[0] / 512
    train = Dataset(codes, targets, True)
    textbook = "plain loop at batch 512, textbook Conv1d build"
    same_build = "plain loop at batch 512, seqtune's build"
    cases = {
        textbook: Loop(variant(model, "conv1d", relu_after_pool=False), codes, targets, 512, "plain",
                       fused_adamw=False),
        same_build: Loop(copy.deepcopy(model), codes, targets, 512, "plain"),
        **{f"seqtune inner loop at batch {batch}": Loop(copy.deepcopy(model), codes, targets, batch, "seqtune")
           for batch in (64, 128, 256, 512)},
        "seqtune fit() at batch 128, validation stubbed": FitEpoch(copy.deepcopy(model), train, validation, 128,
                                                                    True),
        f"seqtune fit() at batch 128, with {len(validation)}-seq validation": FitEpoch(
            copy.deepcopy(model), train, validation, 128, False),
    }
    rates, mm_rounds = with_matmul(cases, len(codes), rounds, matmul)
    rows = [{"loop": name, "seq/s": statistics.median(values), "vs textbook": median_ratio(values, rates[textbook]),
             "vs same build": median_ratio(values, rates[same_build]),
             "of matmul": fraction(values, mm_rounds, flops_per_sequence)} for name, values in rates.items()]
    print(table(rows))
    print(f"  {flops_per_sequence / 1e6:.1f} MFLOP per sequence, {len(codes)} sequences per timed epoch; matmul in "
          f"these rounds: median {statistics.median(mm_rounds):.1f} GFLOP/s")
    return {"rows": rows, "mflop_per_sequence": flops_per_sequence / 1e6, "matmul_rounds": mm_rounds}


def against_commit(revision: str, codes: torch.Tensor, targets: torch.Tensor, rounds: int, matmul: "Matmul",
                   batches=(64, 128, 256, 512)) -> list[dict]:
    """Section 7f. seqtune's inner loop with the models of this checkout against the models of ``revision`` (its
    ``src/seqtune`` extracted with ``git archive`` and imported as ``seqtune_before``), same weights, same rounds:
    the default CNN and the calibration shape of 7e."""
    section(f"7f. this checkout's models against those of {revision} (seqtune inner loop, same weights and rounds)")
    folder = Path(tempfile.mkdtemp(prefix="seqtune_before_"))
    archive = subprocess.run(["git", "-C", str(REPO), "archive", revision, "src/seqtune"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    (folder / "src" / "seqtune").rename(folder / "seqtune_before")
    sys.path.insert(0, str(folder))
    import seqtune_before.models as before

    rows = []
    shapes = {"default ModelSpec()": {}, "calibration shape (7e)": {"n_blocks": 3, "pool_size": 1, "dropout": 0.0}}
    for label, fields in shapes.items():
        torch.manual_seed(0)
        now = SequenceModel(ModelSpec(**fields), targets.shape[1])
        old = before.SequenceModel(before.ModelSpec(**fields), targets.shape[1])
        old.load_state_dict(now.state_dict())
        flops_per_sequence = step_flops(old, codes, targets, 512)[0] / 512
        cases = {}
        for batch in batches:
            cases[(batch, "before")] = Loop(copy.deepcopy(old), codes, targets, batch, "seqtune")
            cases[(batch, "now")] = Loop(copy.deepcopy(now), codes, targets, batch, "seqtune")
        rates, mm_rounds = with_matmul(cases, len(codes), rounds, matmul)
        for batch in batches:
            old_rates, new_rates = rates[(batch, "before")], rates[(batch, "now")]
            rows.append({"model": label, "batch": batch, "before seq/s": statistics.median(old_rates),
                         "now seq/s": statistics.median(new_rates), "now / before": median_ratio(new_rates, old_rates),
                         "before, of matmul": fraction(old_rates, mm_rounds, flops_per_sequence),
                         "now, of matmul": fraction(new_rates, mm_rounds, flops_per_sequence)})
    print(table(rows))
    return rows


# ------------------------------------------------------------------------------------------------------------ main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller data set and fewer rounds")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the pretrain rule uses 2)")
    parser.add_argument("--n", type=int, default=None, help="training sequences per timed epoch (default 4096)")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds per comparison (default 5)")
    parser.add_argument("--compile", action="store_true", help="also measure torch.compile (slow to compile)")
    parser.add_argument("--skip-threads", action="store_true", help="skip the thread sweep (subprocesses)")
    parser.add_argument("--micro-only", action="store_true", help="only the kernel micro-benchmarks (section 6b)")
    parser.add_argument("--calibration-only", action="store_true",
                        help="only the issue's calibration shape (section 7e), with the matmul of section 1")
    parser.add_argument("--against-commit", metavar="REV",
                        help="only section 7f: this checkout's models against those of git revision REV")
    parser.add_argument("--worker-data", help=argparse.SUPPRESS)
    parser.add_argument("--worker-threads", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--worker-interop", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker_data:
        args.rounds = args.rounds or 3
        worker(args)
        return

    if args.micro_only:
        torch.set_num_threads(args.threads)
        print(f"cnn_throughput --micro-only: {args.threads} threads; load average {os.getloadavg()[0]:.1f}")
        section("6b. kernel micro-benchmarks (first block's activation, 512 x 64 x 200)")
        rows = kernel_microbench()
        print(table(rows))
        section("6c. the first block's weight gradient: oneDNN vs one GEMM over unfolded windows (_InputConv)")
        input_conv = input_conv_microbench(Matmul())
        print(table(input_conv))
        print(json.dumps({"bench": "cnn_throughput", "section": "6b, 6c", "date": datetime.date.today().isoformat(),
                          "threads": args.threads, "kernels": rows, "input_conv": input_conv}))
        return
    n = args.n or (2048 if args.quick else 4096)
    rounds = args.rounds or (3 if args.quick else 5)
    sweep_rounds = max(rounds - 2, 2)
    torch.set_num_threads(args.threads)
    if args.against_commit:
        print(f"cnn_throughput --against-commit {args.against_commit}: {args.threads} threads, {n} sequences, "
              f"{rounds} rounds; load average {os.getloadavg()[0]:.1f}")
        codes_np, targets_np = make_data(n)
        rows = against_commit(args.against_commit, torch.from_numpy(codes_np), torch.from_numpy(targets_np), rounds,
                              Matmul())
        print(json.dumps({"bench": "cnn_throughput", "section": "7f", "date": datetime.date.today().isoformat(),
                          "against": args.against_commit, "threads": args.threads, "n_train": n, "rounds": rounds,
                          "rows": rows, "load_average_end": os.getloadavg()[0]}, default=float))
        return
    if args.calibration_only:
        print(f"cnn_throughput --calibration-only: {args.threads} threads, {n} sequences, {rounds} rounds; load "
              f"average {os.getloadavg()[0]:.1f}")
        codes_np, targets_np = make_data(n + 512)
        validation = Dataset.from_numpy(codes_np[n:], targets_np[n:], True, torch.device("cpu"))
        result = calibration_shape(torch.from_numpy(codes_np[:n].copy()), torch.from_numpy(targets_np[:n].copy()),
                                   rounds, Matmul(), validation)
        print(json.dumps({"bench": "cnn_throughput", "section": "7e", "date": datetime.date.today().isoformat(),
                          "threads": args.threads, "n_train": n, "rounds": rounds, "calibration_shape": result,
                          "load_average_end": os.getloadavg()[0]}, default=float))
        return
    results: dict = {"bench": "cnn_throughput", "date": datetime.date.today().isoformat(),
                     "torch": torch.__version__, "cpu": platform.processor() or platform.machine(),
                     "cores": os.cpu_count(), "threads": args.threads, "n_train": n, "rounds": rounds,
                     "load_average_start": os.getloadavg()[0]}
    print(f"cnn_throughput: torch {torch.__version__}, {os.cpu_count()} cores, {args.threads} threads, "
          f"{n} training sequences per timed epoch, {rounds} rounds; load average {os.getloadavg()[0]:.1f}")
    print("Every 'of matmul' figure divides by the 4096 x 4096 matmul GFLOP/s measured in the same round.")

    codes_np, targets_np = make_data(n + 512)
    codes = torch.from_numpy(codes_np[:n].copy())
    targets = torch.from_numpy(targets_np[:n].copy())
    torch.manual_seed(0)
    spec = ModelSpec()
    base = SequenceModel(spec, targets.shape[1])
    results["model"] = {**spec.to_dict(), "outputs": targets.shape[1],
                        "parameters": sum(p.numel() for p in base.parameters())}
    matmul = Matmul(4096, 2)

    # 1. matmul ----------------------------------------------------------------------------------------------
    section("1. machine: fp32 matmul 4096 x 4096, torch threads = 2 (and 1)")
    mm_start = matmul_gflops(4096, 5, 2)
    mm_one = matmul_gflops(4096, 3, 1)
    print("  2 threads, GFLOP/s per repetition:", ", ".join(f"{r:.1f}" for r in mm_start))
    print("  1 thread,  GFLOP/s per repetition:", ", ".join(f"{r:.1f}" for r in mm_one))

    # 2. FLOPs per step -----------------------------------------------------------------------------------------
    section("2. FLOPs of one training step at batch 512 (FlopCounterMode)")
    flops_512, by_op = step_flops(base, codes, targets, 512)
    flops_per_sequence = flops_512 / 512
    flops_proto, _ = step_flops(best_variant(base), codes, targets, 512)
    print(f"  {flops_512 / 1e9:.3f} GFLOP per step = {flops_per_sequence / 1e6:.2f} MFLOP per sequence; by op: "
          + ", ".join(f"{op} {count / 1e9:.3f} G" for op, count in by_op.items()))
    print(f"  the prototype model (section 7) counts {flops_proto / 1e9:.3f} GFLOP per step (same work)")
    print("  (FlopCounterMode counts convolutions and matmuls only: batch norm, ReLU, pooling, dropout and AdamW "
          "are free in the count and cost time)")
    results["flops"] = {"per_step_512": flops_512, "per_sequence": flops_per_sequence, "by_op": by_op,
                        "prototype_per_step_512": flops_proto}

    # 3. seqtune vs plain at 512 ------------------------------------------------------------------------------
    section("3. seqtune vs a plain loop over pre-encoded float one-hot, batch 512")
    train_ds = Dataset.from_numpy(codes_np[:n], targets_np[:n], True, torch.device("cpu"))
    validation_ds = Dataset.from_numpy(codes_np[n:], targets_np[n:], True, torch.device("cpu"))
    textbook = "plain loop, textbook Conv1d build"
    cases = {
        "plain loop (floor)": Loop(copy.deepcopy(base), codes, targets, 512, "plain"),
        # The same architecture and parameters written as most code writes it (Conv1d -> BN -> ReLU -> MaxPool ->
        # Dropout on (N, C, L), unfused AdamW), under the same plain loop: the kind of loop the issue's
        # "1.3x the plain batch-512 loop" was measured against (gReLU's ConvModel, a textbook Conv1d build).
        textbook: Loop(variant(base, "conv1d", relu_after_pool=False), codes, targets, 512, "plain",
                       fused_adamw=False),
        "seqtune inner loop": Loop(copy.deepcopy(base), codes, targets, 512, "seqtune"),
        "seqtune fit(), validation stubbed": FitEpoch(copy.deepcopy(base), train_ds, validation_ds, 512, True),
        "seqtune fit(), with 512-seq validation": FitEpoch(copy.deepcopy(base), train_ds, validation_ds, 512, False),
    }
    rates, mm_rounds = with_matmul(cases, n, rounds, matmul)
    floor = rates["plain loop (floor)"]
    rows = []
    for name, values in rates.items():
        seqs = statistics.median(values)
        rows.append({"loop": name, "seq/s": seqs, "vs plain": median_ratio(values, floor),
                     "vs textbook": median_ratio(values, rates[textbook]),
                     "GFLOP/s": seqs * flops_per_sequence / 1e9,
                     "of matmul": fraction(values, mm_rounds, flops_per_sequence)})
    print(table(rows))
    print(f"  matmul in these rounds: median {statistics.median(mm_rounds):.1f} GFLOP/s")
    results["batch512"] = {"rows": rows, "matmul_rounds": mm_rounds}
    if args.threads != 1:
        section("3b. the same at 1 thread (matmul at 1 thread; far less sensitive to other processes' load)")
        with threads_set(1):
            cases = {
                "plain loop (floor)": Loop(copy.deepcopy(base), codes, targets, 512, "plain"),
                textbook: Loop(variant(base, "conv1d", relu_after_pool=False), codes, targets, 512, "plain",
                               fused_adamw=False),
                "seqtune inner loop": Loop(copy.deepcopy(base), codes, targets, 512, "seqtune"),
                "seqtune fit(), validation stubbed": FitEpoch(copy.deepcopy(base), train_ds, validation_ds, 512,
                                                              True),
            }
            rates, mm_rounds = with_matmul(cases, n, rounds, Matmul(4096, 1))
        rows = [{"loop": name, "seq/s": statistics.median(v),
                 "vs plain": median_ratio(v, rates["plain loop (floor)"]),
                 "vs textbook": median_ratio(v, rates[textbook]),
                 "GFLOP/s": statistics.median(v) * flops_per_sequence / 1e9,
                 "of 1-thread matmul": fraction(v, mm_rounds, flops_per_sequence)} for name, v in rates.items()]
        print(table(rows))
        print(f"  1-thread matmul in these rounds: median {statistics.median(mm_rounds):.1f} GFLOP/s")
        results["batch512_one_thread"] = {"rows": rows, "matmul_rounds": mm_rounds}

    # 4. batch sweep -----------------------------------------------------------------------------------------------
    section("4. batch-size sweep (seqtune inner loop vs plain loop)")
    rows = []
    for batch in (64, 128, 256, 512, 1024):
        cases = {"seqtune": Loop(copy.deepcopy(base), codes, targets, batch, "seqtune"),
                 "plain": Loop(copy.deepcopy(base), codes, targets, batch, "plain")}
        rates, mm_rounds = with_matmul(cases, n, sweep_rounds, matmul)
        rows.append({"batch": batch, "seqtune seq/s": statistics.median(rates["seqtune"]),
                     "plain seq/s": statistics.median(rates["plain"]),
                     "seqtune/plain": median_ratio(rates["seqtune"], rates["plain"]),
                     "seqtune of matmul": fraction(rates["seqtune"], mm_rounds, flops_per_sequence),
                     "plain of matmul": fraction(rates["plain"], mm_rounds, flops_per_sequence)})
        print(table(rows[-1:]) if batch == 64 else table(rows[-1:]).splitlines()[-1], flush=True)
    best_batch = max(rows, key=lambda r: r["seqtune of matmul"])
    print(f"  best batch size for seqtune's loop: {best_batch['batch']}")
    results["batch_sweep"] = rows

    # 5. layout sweep ---------------------------------------------------------------------------------------------
    section("5. memory layout / backend at batch 512 (seqtune inner loop; same parameters, same FLOPs)")
    # seqtune's ConvBlock computes in channels-last height-1 form since 2026-11-29; all three with ReLU after pool.
    layouts = {
        "seqtune (channels_last Conv2d h=1)": copy.deepcopy(base),
        "Conv1d (NCL, the path until 2026-11-28)": variant(base, "conv1d", True),
        "Conv2d h=1, NCHW": variant(base, "nchw", True),
    }
    for name, model in layouts.items():
        if name != "seqtune (channels_last Conv2d h=1)":
            print(f"  {name}: max |output difference| vs seqtune = {max_output_difference(base, model, codes):.2e}")
    cases = {name: Loop(model, codes, targets, 512, "seqtune") for name, model in layouts.items()}
    rates, mm_rounds = with_matmul(cases, n, rounds, matmul)
    reference = rates["seqtune (channels_last Conv2d h=1)"]
    rows = [{"layout": name, "seq/s": statistics.median(v), "vs seqtune": median_ratio(v, reference),
             "of matmul": fraction(v, mm_rounds, flops_per_sequence)} for name, v in rates.items()]
    # oneDNN off is ~10x slower: fewer sequences, its own paired rounds against the default.
    small = min(n, 512)
    slow_on = Loop(copy.deepcopy(base), codes[:small], targets[:small], 256, "seqtune")
    slow_off = Loop(copy.deepcopy(base), codes[:small], targets[:small], 256, "seqtune")

    def mkldnn_off():
        with warnings.catch_warnings():  # flags() also restores a TF32 setting, which warns on CPU-only builds
            warnings.simplefilter("ignore", UserWarning)
            with torch.backends.mkldnn.flags(enabled=False):
                slow_off()

    slow = interleaved({"on": slow_on, "off": mkldnn_off}, small, 2)
    rows.append({"layout": "seqtune, torch.backends.mkldnn disabled (batch 256, 512 seqs)",
                 "seq/s": statistics.median(slow["off"]), "vs seqtune": median_ratio(slow["off"], slow["on"]),
                 "of matmul": statistics.median(slow["off"]) * flops_per_sequence / 1e9 / statistics.median(
                     mm_rounds)})
    print(table(rows))
    best_layout = max(rows, key=lambda r: r["vs seqtune"])
    print(f"  best layout: {best_layout['layout']}")
    results["layout_sweep"] = rows

    # 6. profile ----------------------------------------------------------------------------------------------------
    section("6. where seqtune's batch-512 step goes (torch.profiler, 8 steps)")
    phases, top, step_seconds = profile_phases(base, codes, targets, 512, 8)
    print(f"  {step_seconds * 1e3:.0f} ms per step under the profiler")
    print(table(phases))
    print(table(top))
    phases_p, top_p, step_seconds_p = profile_phases(best_variant(base), codes, targets, 512, 8, fused_adamw=True)
    print(f"\n  the same for the prototype A+B+C+E (section 7): {step_seconds_p * 1e3:.0f} ms per step")
    print(table(phases_p))
    print(table(top_p))
    results["profile"] = {"seqtune": {"phases": phases, "top_ops": top, "ms_per_step": step_seconds * 1e3},
                          "prototype": {"phases": phases_p, "top_ops": top_p, "ms_per_step": step_seconds_p * 1e3}}

    section("6b. kernel micro-benchmarks (first block's activation, 512 x 64 x 200)")
    micro = kernel_microbench()
    print(table(micro))
    results["kernels"] = micro

    section("6c. the first block's weight gradient: oneDNN vs one GEMM over unfolded windows (_InputConv)")
    input_conv = input_conv_microbench(matmul)
    print(table(input_conv))
    results["input_conv"] = input_conv

    # 7. prototypes ----------------------------------------------------------------------------------------------------
    section("7. prototyped changes, batch 512, seqtune inner loop (same rounds, paired ratios)")
    # Since 2026-11-29 seqtune is A+B+C ("as is"); the seqtune of 2026-11-25 is the Conv1d path, ReLU before pool,
    # unfused AdamW.
    protos = {
        "seqtune as is": (copy.deepcopy(base), None),
        "seqtune of 2026-11-25 (Conv1d, ReLU before pool, AdamW)": (variant(base, "conv1d", False), False),
        "as is, unfused AdamW": (copy.deepcopy(base), False),
        "as is, ReLU before pool": (variant(base, "nhwc", False), None),
        "A+B+C+E (as is + rand_like dropout)": (best_variant(base), True),
    }
    for name, (model, _) in protos.items():
        if name != "seqtune as is":
            print(f"  {name}: max |output difference| vs seqtune (eval mode) = "
                  f"{max_output_difference(base, model, codes):.2e}")
    cases = {name: Loop(model, codes, targets, 512, "seqtune", fused_adamw=fused)
             for name, (model, fused) in protos.items()}
    if args.compile:
        started = time.perf_counter()
        compiled_loop = Loop(copy.deepcopy(base), codes, targets, 512, "seqtune")
        compiled_loop.model = torch.compile(compiled_loop.model)
        compiled_loop()
        results["compile_seconds"] = time.perf_counter() - started
        print(f"  D. torch.compile: first epoch incl. compilation {results['compile_seconds']:.0f} s")
        cases["D. torch.compile(model)"] = compiled_loop
    rates, mm_rounds = with_matmul(cases, n, rounds, matmul)
    reference = rates["seqtune as is"]
    rows = [{"change": name, "seq/s": statistics.median(v), "vs as is": median_ratio(v, reference),
             "GFLOP/s": statistics.median(v) * flops_per_sequence / 1e9,
             "of matmul": fraction(v, mm_rounds, flops_per_sequence)} for name, v in rates.items()]
    print(table(rows))
    print(f"  matmul in these rounds: median {statistics.median(mm_rounds):.1f} GFLOP/s")
    results["prototypes"] = {"rows": rows, "matmul_rounds": mm_rounds}

    if args.threads != 1:
        section("7c. the same prototypes at 1 thread (matmul at 1 thread)")
        with threads_set(1):
            cases = {name: Loop(copy.deepcopy(model), codes, targets, 512, "seqtune", fused_adamw=fused)
                     for name, (model, fused) in protos.items()}
            rates, mm_rounds = with_matmul(cases, n, rounds, Matmul(4096, 1))
        reference = rates["seqtune as is"]
        rows = [{"change": name, "seq/s": statistics.median(v), "vs as is": median_ratio(v, reference),
                 "GFLOP/s": statistics.median(v) * flops_per_sequence / 1e9,
                 "of 1-thread matmul": fraction(v, mm_rounds, flops_per_sequence)} for name, v in rates.items()]
        print(table(rows))
        print(f"  1-thread matmul in these rounds: median {statistics.median(mm_rounds):.1f} GFLOP/s")
        results["prototypes_one_thread"] = {"rows": rows, "matmul_rounds": mm_rounds}

    section("7b. prototype A+B+C+E vs the plain loop and seqtune, batch 512 and 1024")
    rows = []
    for batch in (512, 1024):
        cases = {"seqtune as is": Loop(copy.deepcopy(base), codes, targets, batch, "seqtune"),
                 "plain loop, seqtune's model": Loop(copy.deepcopy(base), codes, targets, batch, "plain"),
                 "prototype A+B+C+E": Loop(best_variant(base), codes, targets, batch, "seqtune", fused_adamw=True),
                 "plain loop, prototype model": Loop(best_variant(base), codes, targets, batch, "plain",
                                                     fused_adamw=True, channels_last_input=True)}
        rates, mm_rounds = with_matmul(cases, n, sweep_rounds, matmul)
        for name, values in rates.items():
            rows.append({"batch": batch, "loop": name, "seq/s": statistics.median(values),
                         "vs seqtune as is": median_ratio(values, rates["seqtune as is"]),
                         "of matmul": fraction(values, mm_rounds, flops_per_sequence)})
    print(table(rows))
    results["prototype_vs_plain"] = rows

    # 7d. other shapes -------------------------------------------------------------------------------------------
    section("7d. seqtune's inner loop on conv-dominated shapes of the same CNN class, batch 512 (FLOPs counted per "
            "model)")
    shapes = {
        "default: ModelSpec()": spec,
        "gReLU-ConvModel-like: 3 blocks, no pooling": ModelSpec(n_blocks=3, pool_size=1),
        "gReLU-ConvModel-like, dropout 0": ModelSpec(n_blocks=3, pool_size=1, dropout=0.0),
        "128 channels, 3 blocks, pool 2": ModelSpec(channels=128, n_blocks=3, pool_size=2),
    }
    shape_models, shape_flops = {}, {}
    for name, shape in shapes.items():
        torch.manual_seed(0)
        shape_models[name] = SequenceModel(shape, targets.shape[1])
        shape_flops[name] = step_flops(shape_models[name], codes, targets, 512)[0] / 512
    shape_n = min(n, 1024)  # the no-pooling shapes are ~5x slower per sequence
    cases = {name: Loop(model, codes[:shape_n], targets[:shape_n], 512, "seqtune")
             for name, model in shape_models.items()}
    rates, mm_rounds = with_matmul(cases, shape_n, sweep_rounds, matmul)
    rows = [{"model": name, "MFLOP/seq": shape_flops[name] / 1e6, "seq/s": statistics.median(values),
             "of matmul": fraction(values, mm_rounds, shape_flops[name])} for name, values in rates.items()]
    print(table(rows))
    print("  The trainer is the same; the fraction of matmul is the model's: convolutions at full length with many "
          "input channels keep the GEMMs busy, while pooling early (the default) leaves batch norm, pooling and "
          "dropout (bernoulli_) as the larger part of the step.")
    results["shapes"] = rows

    # 7e. the calibration model ---------------------------------------------------------------------------
    results["calibration_shape"] = calibration_shape(codes, targets, rounds, matmul, validation_ds)

    # 8. threads ------------------------------------------------------------------------------------------------------
    if not args.skip_threads:
        section("8. thread settings, batch 512 (fresh subprocess each; matmul at the same thread count)")
        rows = thread_sweep(codes_np[:n], targets_np[:n], sweep_rounds, 1 if args.quick else 2)
        print(table(rows))
        best = max(rows, key=lambda r: r["seqtune seq/s"])
        print(f"  best thread setting for seqtune: intra-op {best['intra-op']}, inter-op {best['inter-op']}, "
              f"OMP_WAIT_POLICY {best['OMP_WAIT_POLICY']}")
        results["thread_sweep"] = rows

    # summary -------------------------------------------------------------------------------------------------------
    mm_end = matmul_gflops(4096, 3, 2)
    results["matmul_gflops"] = {"start": mm_start, "end": mm_end, "one_thread": mm_one,
                                "median": statistics.median(mm_start + mm_end), "max": max(mm_start + mm_end)}
    seqtune_row = next(r for r in results["batch512"]["rows"] if r["loop"] == "seqtune inner loop")
    proto_row = [r for r in results["prototypes"]["rows"] if r["change"].startswith("A+B+C+E")][0]
    old_row = [r for r in results["prototypes"]["rows"] if r["change"].startswith("seqtune of 2026-11-25")][0]
    results["summary"] = {
        "matmul_gflops_median": results["matmul_gflops"]["median"],
        "seqtune_512_seq_per_s": seqtune_row["seq/s"], "seqtune_512_of_matmul": seqtune_row["of matmul"],
        "seqtune_vs_plain_512": seqtune_row["vs plain"], "seqtune_vs_textbook_512": seqtune_row["vs textbook"],
        "prototype_512_vs_as_is": proto_row["vs as is"], "prototype_512_of_matmul": proto_row["of matmul"],
        "as_is_vs_2026_11_25": 1 / old_row["vs as is"], "of_matmul_2026_11_25": old_row["of matmul"],
        "target_of_matmul": 0.5, "best_batch": best_batch["batch"], "best_layout": best_layout["layout"],
    }
    best_calibration = max((r for r in results["calibration_shape"]["rows"] if r["loop"].startswith("seqtune")),
                           key=lambda r: r["of matmul"])
    results["summary"].update({"calibration_best_loop": best_calibration["loop"],
                               "calibration_of_matmul": best_calibration["of matmul"],
                               "calibration_vs_textbook": best_calibration["vs textbook"]})
    results["load_average_end"] = os.getloadavg()[0]
    section("summary")
    print(f"  matmul (fp32, 2 threads, outside the rounds): median {results['matmul_gflops']['median']:.1f} GFLOP/s, "
          f"max {results['matmul_gflops']['max']:.1f}")
    print(f"  seqtune loop, batch 512: {seqtune_row['seq/s']:.0f} seq/s, {seqtune_row['vs plain']:.2f}x the plain "
          f"loop, {seqtune_row['vs textbook']:.2f}x the plain loop over a textbook Conv1d build, "
          f"{seqtune_row['of matmul']:.0%} of matmul (target 50%)")
    print(f"  the issue's calibration shape: {best_calibration['loop']}: {best_calibration['vs textbook']:.2f}x the "
          f"plain loop over its textbook build, {best_calibration['of matmul']:.0%} of matmul (target 50%)")
    print(f"  prototype A+B+C+E, batch 512: {proto_row['vs as is']:.2f}x seqtune, {proto_row['of matmul']:.0%} of "
          "matmul")
    if "prototypes_one_thread" in results:
        one = next(r for r in results["batch512_one_thread"]["rows"] if r["loop"] == "seqtune inner loop")
        proto_one = [r for r in results["prototypes_one_thread"]["rows"] if r["change"].startswith("A+B+C+E")][0]
        results["summary"].update({"seqtune_512_one_thread_of_matmul": one["of 1-thread matmul"],
                                   "prototype_512_one_thread_vs_as_is": proto_one["vs as is"],
                                   "prototype_512_one_thread_of_matmul": proto_one["of 1-thread matmul"]})
        print(f"  at 1 thread: seqtune {one['of 1-thread matmul']:.0%} of the 1-thread matmul, prototype "
              f"{proto_one['vs as is']:.2f}x seqtune = {proto_one['of 1-thread matmul']:.0%}")
    print(json.dumps(results, default=float))


if __name__ == "__main__":
    main()
