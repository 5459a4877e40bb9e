"""Provenance: every pretrained and fine-tuned model, every evaluation and the study as a whole record what made them
(input checksums, the settings and their hash, seeds, versions, git commit, device), with no clock or host in it."""

import json
import subprocess

import pytest
import yaml

from seqtune.io import sha256_file
from seqtune.provenance import config_hash, git_commit, provenance, results_provenance


def test_a_record_is_a_pure_function_of_inputs_settings_and_environment(tmp_path):
    data = tmp_path / "codes.npy"
    data.write_bytes(b"some bytes")
    first = provenance({"codes": data, "pretrained": None}, {"lr": 0.1, "model": {"a": 1}}, {"seed": 3}, "cpu")
    second = provenance({"codes": data}, {"model": {"a": 1}, "lr": 0.1}, {"seed": 3}, "cpu")
    assert first == second  # key order and None inputs do not matter
    assert first["inputs"] == {"codes": {"path": str(data), "sha256": sha256_file(data)}}
    assert first["settings_sha256"] == config_hash({"lr": 0.1, "model": {"a": 1}}) != config_hash({"lr": 0.2})
    assert first["versions"]["torch"] and first["versions"]["python"] and "seqtune" in first["versions"]
    assert first["device"] == "cpu" and first["seeds"] == {"seed": 3}
    text = json.dumps(first)
    import socket

    assert socket.gethostname() not in text and "time" not in text
    data.write_bytes(b"other bytes")
    assert provenance({"codes": data}, {}, {}, "cpu")["inputs"]["codes"]["sha256"] != first["inputs"]["codes"]["sha256"]


def test_git_commit_is_seqtunes_own_or_none(tmp_path):
    assert git_commit(tmp_path) is None  # not a seqtune source tree
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    assert git_commit(tmp_path) is None  # a git repository, but not seqtune's
    commit = git_commit()
    if commit is not None:  # running from a clone
        assert len(commit.removesuffix("-dirty")) == 40


def test_results_provenance_hashes_the_config_and_every_run(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"seed": 1, "results": "results"}))
    metrics = tmp_path / "metrics.json"
    run = {"pretrained": "none", "strategy": "scratch", "train_size": 10, "seed": 1,
           "provenance": {"inputs": {"weights": {"path": "w", "sha256": "0" * 64}}, "settings_sha256": "1" * 64,
                          "device": "cpu"}}
    metrics.write_text(json.dumps(run))
    record = results_provenance(config, [str(metrics)], [run])
    assert record["config_sha256"] == config_hash({"seed": 1, "results": "results"})
    assert record["inputs"][str(metrics)]["sha256"] == sha256_file(metrics)
    assert record["runs"] == [{"pretrained": "none", "strategy": "scratch", "train_size": 10, "seed": 1,
                               "metrics": str(metrics), "inputs": run["provenance"]["inputs"],
                               "settings_sha256": "1" * 64, "device": "cpu"}]


@pytest.mark.slow
def test_every_model_and_the_study_carry_their_provenance(tiny_run):
    results = tiny_run / "results"
    pretrained = json.loads((results / "pretrain" / "motifs" / "model.json").read_text())["provenance"]
    assert set(pretrained["inputs"]) == {"codes", "manifest"}
    assert pretrained["inputs"]["codes"]["sha256"] == sha256_file(results / "data" / "corpus" / "codes.npy")
    assert pretrained["settings"]["step"] == "pretrain" and pretrained["device"] == "cpu"
    run = results / "finetune" / "motifs" / "full" / "n60" / "seed1"
    finetuned = json.loads((run / "model.json").read_text())["provenance"]
    assert finetuned["inputs"]["pretrained"]["sha256"] == sha256_file(results / "pretrain" / "motifs" /
                                                                     "model.safetensors")
    assert finetuned["inputs"]["manifest"]["sha256"] == sha256_file(results / "split" / "target" / "manifest.tsv")
    assert {"seed", "subset"} <= set(finetuned["seeds"])
    scratch = json.loads((results / "finetune" / "none" / "scratch" / "n60" / "seed1" / "model.json").read_text())
    assert "pretrained" not in scratch["provenance"]["inputs"]
    evaluation = json.loads((results / "evaluate" / "motifs" / "full" / "n60" / "seed1" / "metrics.json").read_text())
    assert evaluation["provenance"]["inputs"]["weights"]["sha256"] == sha256_file(run / "model.safetensors")

    study = json.loads((results / "provenance.json").read_text())
    config = yaml.safe_load((results / "config.yaml").read_text())
    assert study["config_sha256"] == config_hash(config)
    assert study["versions"]["seqtune"] and len(study["runs"]) == len(study["inputs"])
    assert all(entry["settings_sha256"] for entry in study["runs"])
