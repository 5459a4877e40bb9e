"""Multi-process (DDP) training: which process this is, the process group, and the launcher.

A training step runs as N processes when started by ``torchrun`` (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``, ``MASTER_PORT``) or inside an ``srun`` step of N tasks (``SLURM_PROCID``, ``SLURM_STEP_NUM_TASKS``,
``SLURM_LOCALID``; the address and port come from ``MASTER_ADDR``/``MASTER_PORT`` when set, else the node ``srun``
was launched from and a port derived from the job id). ``seqtune pretrain --nproc N`` starts itself through
``torchrun --standalone`` on the local machine. The backend is gloo on the CPU, nccl on CUDA.

``fit`` (``seqtune.train``) does the rest: every process holds the whole (uint8) training set and draws the same
batch order from the same seed; each takes its contiguous share of every batch, gradients are averaged across the
processes by ``DistributedDataParallel``, process 0 alone validates and broadcasts the validation loss and score, so
early stopping is decided identically everywhere, and process 0 alone writes outputs.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import dataclass

from .errors import SeqtuneError

log = logging.getLogger("seqtune")


@dataclass(frozen=True)
class Context:
    """This process's place in a multi-process run (``world_size`` 1: a plain single-process run)."""

    rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


SINGLE = Context()


def _int_env(name: str) -> int | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise SeqtuneError(f"environment variable {name}={value!r} is not an integer") from None


def detect() -> tuple[int, int, int, str]:
    """(rank, world size, local rank, launcher) from the environment; world size 1 when not launched as several
    processes. torchrun's variables take precedence over Slurm's; Slurm's count only inside an ``srun`` step of more
    than one task (a batch script that merely asked for several tasks is one process)."""
    world = _int_env("WORLD_SIZE")
    if world is not None and world > 1:
        rank, local = _int_env("RANK"), _int_env("LOCAL_RANK")
        if rank is None:
            raise SeqtuneError("WORLD_SIZE is set but RANK is not; start the step with torchrun (or srun)")
        return rank, world, local if local is not None else rank, "torchrun"
    tasks = _int_env("SLURM_STEP_NUM_TASKS")
    if tasks is not None and tasks > 1 and os.environ.get("SLURM_PROCID") is not None:
        rank, local = _int_env("SLURM_PROCID"), _int_env("SLURM_LOCALID")
        return rank, tasks, local if local is not None else 0, "srun"
    return 0, 1, 0, "none"


def init(gpus: int = 0) -> Context:
    """Join the process group when launched as several processes; returns this process's context (SINGLE when not).

    CUDA (``gpus`` > 0 and CUDA visible): nccl, one GPU per process (``LOCAL_RANK``); the CPU: gloo.
    """
    rank, world, local, launcher = detect()
    if world == 1:
        return SINGLE
    import torch
    import torch.distributed as dist

    if launcher == "srun":
        os.environ.setdefault("MASTER_ADDR", os.environ.get("SLURM_LAUNCH_NODE_IPADDR", "127.0.0.1"))
        os.environ.setdefault("MASTER_PORT", str(20000 + (_int_env("SLURM_JOB_ID") or 0) % 20000))
    if not os.environ.get("MASTER_ADDR") or not os.environ.get("MASTER_PORT"):
        raise SeqtuneError("multi-process training needs MASTER_ADDR and MASTER_PORT (torchrun sets them)")
    cuda = gpus > 0 and torch.cuda.is_available()
    if cuda:  # one GPU per process; under srun --gpus-per-task each task sees only its own (device 0)
        on_this_machine = _int_env("LOCAL_WORLD_SIZE") if launcher == "torchrun" else None
        if on_this_machine and torch.cuda.device_count() < on_this_machine:
            # nccl refuses two processes on one GPU, and only after every process has started; say why first
            raise SeqtuneError(f"{on_this_machine} training processes on this machine but {torch.cuda.device_count()} "
                               "GPU(s) visible; nccl needs one GPU per process: give the pretrain job as many GPUs "
                               "as pretrain.processes (gpu in the profile's set-resources), or lower "
                               "pretrain.processes")
        torch.cuda.set_device(local % torch.cuda.device_count())
    backend = "nccl" if cuda else "gloo"
    if not dist.is_available():
        raise SeqtuneError("this torch build has no torch.distributed; run with one process")
    dist.init_process_group(backend, init_method="env://", rank=rank, world_size=world)
    context = Context(rank, world)
    if not context.is_main:  # one log: the other processes report warnings and errors only
        logging.getLogger("seqtune").setLevel(logging.WARNING)
    log.info("process group: %d processes (%s, started by %s), this is rank %d", world, backend, launcher, rank)
    return context


def finish(context: Context) -> None:
    if context.enabled:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()


def relaunch(nproc: int, argv: list[str]) -> int:
    """Run ``seqtune <argv>`` as ``nproc`` processes on this machine through torchrun; returns its exit status.

    ``--nproc`` is left out of the processes' arguments: torchrun would take it for its own ``--nproc-per-node``.
    """
    kept, skip = [], False
    for argument in argv:
        if skip:
            skip = False
        elif argument == "--nproc":
            skip = True
        elif not argument.startswith("--nproc="):
            kept.append(argument)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
               "-m", "seqtune.cli", *kept]
    log.info("starting %d processes: %s", nproc, " ".join(command))
    return subprocess.call(command)
