"""Multi-process (DDP) pretraining: `seqtune pretrain --nproc 2` runs 2 processes through torchrun with gloo on the
CPU, writes the outputs of a one-process run, and trains like one process at the same global batch."""

import json
import subprocess

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from conftest import BIN
from seqtune.data import write_dataset
from seqtune.distributed import Context, detect
from seqtune.pipeline import split
from seqtune.train import _share


def test_shares_of_a_batch_cover_it_once_and_differ_by_at_most_one():
    for n in (2, 7, 64, 129):
        shares = [_share(n, Context(rank, 3 if n > 2 else 2)) for rank in range(3 if n > 2 else 2)]
        assert shares[0][0] == 0 and shares[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(shares, shares[1:]))
        sizes = [high - low for low, high in shares]
        assert max(sizes) - min(sizes) <= 1


def test_the_launcher_is_read_from_torchrun_or_an_srun_step(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "SLURM_STEP_NUM_TASKS", "SLURM_PROCID", "SLURM_LOCALID"):
        monkeypatch.delenv(name, raising=False)
    assert detect() == (0, 1, 0, "none")
    monkeypatch.setenv("SLURM_PROCID", "0")
    monkeypatch.setenv("SLURM_STEP_NUM_TASKS", "1")  # a one-task step (a batch job asking for 2 tasks is one process)
    assert detect()[1] == 1
    monkeypatch.setenv("SLURM_STEP_NUM_TASKS", "4")
    monkeypatch.setenv("SLURM_PROCID", "3")
    monkeypatch.setenv("SLURM_LOCALID", "1")
    assert detect() == (3, 4, 1, "srun")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert detect() == (1, 2, 1, "torchrun")


def test_more_processes_than_visible_gpus_is_refused_before_nccl_starts(monkeypatch):
    """torchrun --nproc-per-node 2 on a machine (or job) with one GPU: one clear error naming the settings, instead
    of nccl's failure once both processes run. The CPU stays on gloo whatever the GPU count."""
    from seqtune.distributed import init
    from seqtune.errors import SeqtuneError

    for name, value in {"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "2",
                        "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29999"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(SeqtuneError, match=r"2 training processes on this machine but 1 GPU\(s\) visible.*"
                                           r"pretrain\.processes"):
        init(gpus=1)


def _corpus(folder, n=600, length=40, seed=0):
    """Binary: positive sequences carry GGGGGG somewhere."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, size=(n, length)).astype(np.uint8)
    positive = rng.random(n) < 0.5
    for i in np.flatnonzero(positive):
        start = rng.integers(0, length - 6)
        codes[i, start:start + 6] = 2
    ids = [f"s{i:04d}" for i in range(n)]
    labels = pd.DataFrame({"id": ids, "label": np.where(positive, "positive", "negative")})
    write_dataset(folder, ids, codes, labels, {"type": "binary", "classes": ["negative", "positive"]})
    split(str(folder / "codes.npy"), str(folder / "manifest.tsv"), str(folder / "summary.json"), 0.2, 0.1, seed=1)
    return folder / "codes.npy", folder / "manifest.tsv"


def _pretrain(codes, manifest, out, nproc, model, training, threads=2):
    out.mkdir()
    command = [str(BIN / "seqtune"), "pretrain", "--codes", str(codes), "--manifest", str(manifest),
               "--weights", str(out / "model.safetensors"), "--history", str(out / "history.tsv"),
               "--model", json.dumps(model), "--training", json.dumps(training), "--seed", "11",
               "--threads", str(threads), "--nproc", str(nproc)]
    process = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert process.returncode == 0, process.stderr[-4000:]
    assert sorted(path.name for path in out.iterdir()) == ["history.tsv", "model.json", "model.safetensors"]
    return (load_file(str(out / "model.safetensors")), json.loads((out / "model.json").read_text()),
            pd.read_csv(out / "history.tsv", sep="\t"), process.stderr)


@pytest.mark.slow
def test_two_processes_write_the_same_outputs_and_train_like_one_at_the_same_batch(tmp_path):
    codes, manifest = _corpus(tmp_path)
    # No batch norm and no dropout: then 2 processes x 16 examples average to the gradient of 1 x 32.
    model = {"architecture": "mlp", "hidden": 32, "n_blocks": 2, "dropout": 0.0}
    training = {"batch_size": 32, "max_epochs": 4, "patience": 4, "learning_rate": 0.005}
    one = _pretrain(codes, manifest, tmp_path / "one", 1, model, training)
    two = _pretrain(codes, manifest, tmp_path / "two", 2, model, training)
    (weights_1, sidecar_1, history_1, _), (weights_2, sidecar_2, history_2, log_2) = one, two
    assert "process group: 2 processes (gloo" in log_2
    assert set(sidecar_1) == set(sidecar_2) and (sidecar_1["processes"], sidecar_2["processes"]) == (1, 2)
    assert sidecar_1["training"] == sidecar_2["training"] and sidecar_1["n_train"] == sidecar_2["n_train"]
    assert list(history_1.columns) == list(history_2.columns) and len(history_1) == len(history_2) == 4
    assert set(weights_1) == set(weights_2)
    for name, tensor in weights_1.items():
        assert torch.allclose(tensor, weights_2[name], rtol=1e-3, atol=1e-4), name
    assert np.allclose(history_1["val_loss"], history_2["val_loss"], rtol=1e-3)
    assert np.allclose(history_1["train_loss"], history_2["train_loss"], rtol=1e-3)
    assert history_2["train_loss"].iloc[-1] < history_2["train_loss"].iloc[0]
    assert sidecar_2["validation"]["val_auroc"] > 0.8

    # The CNN (batch norm per share, dropout per process) learns the task as 2 processes too.
    cnn = {"architecture": "cnn", "channels": 16, "n_blocks": 2, "pool_size": 2, "first_kernel_size": 7,
           "kernel_size": 3}
    weights, sidecar, history, _ = _pretrain(codes, manifest, tmp_path / "cnn", 2, cnn,
                                             {**training, "max_epochs": 6, "patience": 6})
    assert sidecar["processes"] == 2 and history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    assert sidecar["validation"]["val_auroc"] > 0.9


def _free_port():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_a_two_node_launch_writes_what_one_node_with_two_processes_writes(tmp_path):
    """The multi-node path: two torchrun agents, one per "node" (`--nnodes 2 --node-rank 0|1`, one process each,
    static rendezvous at rank 0's address), here both on localhost. Rank 1 then has LOCAL_RANK 0 and its own agent,
    as on a second machine; the weights must be those of `--nproc 2` on one node, bit for bit."""
    codes, manifest = _corpus(tmp_path, n=300)
    model = {"architecture": "mlp", "hidden": 16, "n_blocks": 1, "dropout": 0.1}
    training = {"batch_size": 32, "max_epochs": 2, "patience": 2, "learning_rate": 0.005}
    weights_one_node, sidecar_one_node, history_one_node, _ = _pretrain(codes, manifest, tmp_path / "one_node", 2,
                                                                        model, training, threads=1)
    out = tmp_path / "two_nodes"
    out.mkdir()
    port = _free_port()
    step = ["pretrain", "--codes", str(codes), "--manifest", str(manifest), "--weights", str(out / "model.safetensors"),
            "--history", str(out / "history.tsv"), "--model", json.dumps(model), "--training", json.dumps(training),
            "--seed", "11", "--threads", "1"]
    nodes = [subprocess.Popen([str(BIN / "torchrun"), "--nnodes=2", "--nproc-per-node=1", f"--node-rank={node}",
                               "--master-addr=127.0.0.1", f"--master-port={port}", "-m", "seqtune.cli", *step],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for node in (0, 1)]
    logs = [node.communicate(timeout=600)[1] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], "\n".join(log[-3000:] for log in logs)
    assert "process group: 2 processes (gloo, started by torchrun), this is rank 0" in logs[0], logs[0][-3000:]
    assert sorted(path.name for path in out.iterdir()) == ["history.tsv", "model.json", "model.safetensors"]
    weights_two_nodes = load_file(str(out / "model.safetensors"))
    assert json.loads((out / "model.json").read_text())["processes"] == sidecar_one_node["processes"] == 2
    assert set(weights_two_nodes) == set(weights_one_node)
    for name, tensor in weights_one_node.items():
        assert torch.equal(tensor, weights_two_nodes[name]), name
    columns = ["epoch", "train_loss", "val_loss"]
    assert pd.read_csv(out / "history.tsv", sep="\t")[columns].equals(history_one_node[columns])
