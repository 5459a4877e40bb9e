import os
import stat

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
    # Readable by the group and others as every output is (safetensors itself writes a new 0600 file).
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(sidecar_path(path).stat().st_mode) == 0o666 & ~umask


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


def test_a_safetensors_header_whose_length_looks_like_a_pickle_is_read(tmp_path):
    """The header length is a little-endian u64: a 1,408-byte header starts the file with 80 05, pickle protocol 5's
    first bytes (seen on a real run: 1 file in 256 has such a low byte). It is safetensors all the same."""
    import json

    model = SequenceModel(ModelSpec(length=50, channels=8), 2)
    path = tmp_path / "model.safetensors"
    save_model(model, path, {"classes": ["a", "b"]})
    data = path.read_bytes()
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + length])
    padded = next(size for size in (0x280, 0x380, 0x480, 0x580) if size >= length)  # 80 02 ... 80 05
    text = json.dumps(header, separators=(",", ":")).encode()
    path.write_bytes(padded.to_bytes(8, "little") + text.ljust(padded, b" ") + data[8 + length:])  # spec: padding
    assert path.read_bytes()[:1] == b"\x80"
    loaded, sidecar = load_model(path)
    assert sidecar["classes"] == ["a", "b"]
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))
