import pytest
import torch

from seqtune.errors import SeqtuneError
from seqtune.models import ModelSpec, SequenceModel
from seqtune.weights import load_model, save_model, sidecar_path


def test_roundtrip_keeps_weights_and_sidecar(tmp_path):
    model = SequenceModel(ModelSpec(length=50, channels=8), 3)
    path = tmp_path / "model.safetensors"
    save_model(model, path, {"classes": ["a", "b", "c"], "seed": 4})
    loaded, sidecar = load_model(path)
    assert sidecar["classes"] == ["a", "b", "c"] and sidecar["model"]["channels"] == 8
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))
    assert path.read_bytes()[:8] != b"\x80\x04\x95"  # not a pickle


def test_corrupt_weights_give_a_clear_error(tmp_path):
    path = tmp_path / "model.safetensors"
    save_model(SequenceModel(ModelSpec(length=50, channels=8), 2), path, {})
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(SeqtuneError, match="not a readable safetensors file"):
        load_model(path)


def test_weights_from_another_architecture_are_refused(tmp_path):
    path = tmp_path / "model.safetensors"
    save_model(SequenceModel(ModelSpec(length=50, channels=8), 2), path, {})
    other = tmp_path / "other.safetensors"
    save_model(SequenceModel(ModelSpec(length=50, channels=16), 2), other, {})
    path.write_bytes(other.read_bytes())
    with pytest.raises(SeqtuneError, match="do not match the architecture"):
        load_model(path)
    assert sidecar_path(path).exists()
