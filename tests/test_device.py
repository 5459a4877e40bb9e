"""The GPU path's choices, run on the CPU: which device a job trains on (from its resources and what CUDA makes
visible), and which precision (``training.bf16``). The CUDA kernels themselves cannot run here; everything that
decides whether they would is tested."""

import logging
import os

import numpy as np
import pytest
import torch

import seqtune.train as train_module
from seqtune.errors import SeqtuneError
from seqtune.models import ModelSpec, SequenceModel
from seqtune.train import Dataset, TrainSettings, fit, select_device, use_bf16


@pytest.fixture
def fake_cuda(monkeypatch):
    """torch reports one visible CUDA device (as in a Slurm job given --gpus=1, CUDA_VISIBLE_DEVICES=3); the
    process-wide switches select_device flips are recorded, not applied."""
    calls = {"deterministic": []}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: "Fake GPU")
    monkeypatch.setattr(torch, "use_deterministic_algorithms", lambda flag: calls["deterministic"].append(flag))
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", True)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    return calls


def test_a_job_given_a_gpu_trains_on_cuda_deterministically_and_logs_it(fake_cuda, caplog):
    with caplog.at_level(logging.INFO, logger="seqtune"):
        device = select_device(1)
    assert device == torch.device("cuda")  # the first visible device: the one Slurm assigned
    assert fake_cuda["deterministic"] == [True] and torch.backends.cudnn.benchmark is False
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"  # what deterministic cuBLAS needs
    assert "device: cuda (Fake GPU), CUDA_VISIBLE_DEVICES=3" in caplog.text


def test_a_job_without_a_gpu_stays_on_the_cpu_even_where_cuda_is_visible(fake_cuda, caplog):
    """gpu=0 (every rule's default, and the default profile's) never takes a GPU another job may hold."""
    with caplog.at_level(logging.INFO, logger="seqtune"):
        assert select_device(0) == torch.device("cpu")
    assert fake_cuda["deterministic"] == []
    assert "device: cpu" in caplog.text and "CUDA" not in caplog.text


def test_a_job_given_a_gpu_without_cuda_falls_back_to_the_cpu_with_a_warning(monkeypatch, caplog):
    """A --gpus=1 job on a node without a CUDA build of torch (or with CUDA_VISIBLE_DEVICES empty) still runs."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with caplog.at_level(logging.INFO, logger="seqtune"):
        assert select_device(2) == torch.device("cpu")
    assert "asked for 2 GPU(s) but CUDA is not available; running on the CPU" in caplog.text


@pytest.mark.parametrize("setting, device, expected", [
    ("auto", "cuda", True), ("auto", "cpu", False), (True, "cpu", True), (True, "cuda", True),
    (False, "cuda", False), (False, "cpu", False),
])
def test_bf16_auto_autocasts_on_cuda_only(setting, device, expected):
    assert use_bf16(setting, torch.device(device)) is expected


def test_bf16_setting_accepts_auto_true_false_and_names_the_choices_otherwise():
    assert TrainSettings().bf16 == "auto"
    assert TrainSettings.from_dict({"bf16": "auto"}).bf16 == "auto"
    assert TrainSettings.from_dict({"bf16": False}).bf16 is False
    with pytest.raises(SeqtuneError, match=r"training\.bf16: 'sometimes' is not one of auto, true, false"):
        TrainSettings.from_dict({"bf16": "sometimes"})
    with pytest.raises(SeqtuneError, match=r"training\.bf16: 1 is not one of auto, true, false"):
        TrainSettings.from_dict({"bf16": 1})


def test_fit_autocasts_exactly_when_bf16_resolves_on(monkeypatch, caplog):
    """fit() enters bf16 autocast for its batches and validation passes when the setting resolves on for the data's
    device, and not otherwise; the log names the precision. On the CPU, auto is float32: a default run's numbers
    do not change with this setting."""
    seen = []
    real_autocast = train_module._autocast

    def recording_autocast(device, enabled):
        seen.append(enabled)
        return real_autocast(device, enabled)

    monkeypatch.setattr(train_module, "_autocast", recording_autocast)
    rng = np.random.default_rng(0)
    codes, labels = rng.integers(0, 4, size=(80, 30)).astype(np.uint8), np.arange(80) % 2
    cpu = torch.device("cpu")
    data = Dataset.from_numpy(codes[:60], labels[:60], False, cpu), Dataset.from_numpy(codes[60:], labels[60:], False, cpu)
    spec = ModelSpec(length=30, channels=4, n_blocks=1, pool_size=2)
    for setting, expected in (("auto", False), (True, True)):
        seen.clear()
        caplog.clear()
        torch.manual_seed(0)
        with caplog.at_level(logging.INFO, logger="seqtune"):
            fit(SequenceModel(spec, 2), *data, TrainSettings(max_epochs=1, patience=1, batch_size=32, bf16=setting),
                "scratch", seed=1)
        assert seen and set(seen) == {expected}, setting
        precision = "bfloat16 autocast" if expected else "float32"
        assert f"precision: {precision} (training.bf16: {str(setting).lower()})" in caplog.text
