"""The real workflow with Hugging Face checkpoints built at test time: a BERT-style model (character tokenizer) and an
ESM-style one (6-mer tokenizer) fine-tuned beside the seqtune CNN from scratch and the baselines."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

pytest.importorskip("transformers")
pytest.importorskip("peft")

from conftest import seqtune, snakemake  # noqa: E402
from hf_models import tiny_bert, tiny_esm  # noqa: E402

pytestmark = pytest.mark.slow

CONFIG = {
    "seed": 11, "results": "results", "sequence_length": 60,
    "datasets": {"target": {"source": "simulate", "task": "motif_grammar", "n_sequences": 300,
                            "required": ["MA0139.2"], "distractors": []}},
    "split": {"validation_fraction": 0.2, "test_fraction": 0.3},
    "model": {"architecture": "cnn", "channels": 8, "n_blocks": 1},
    "pretrain": {"models": {
        "bert": {"source": "huggingface", "path": "models/bert", "strategies": ["linear_probe", "lora", "full",
                                                                               "random_init"],
                 "lora": {"rank": 4, "alpha": 8}, "training": {"batch_size": 16, "accumulation_steps": 2}},
        "esm": {"source": "huggingface", "path": "models/esm", "pooling": "cls",
                "strategies": ["linear_probe", "lora"]}}},
    "finetune": {"dataset": "target", "strategies": ["scratch"], "train_sizes": [60], "seeds": [1, 2],
                 "training": {"max_epochs": 3, "patience": 2}},
    "baselines": {"strategies": ["kmer_logreg"]},
    "controls": {"shuffled_labels": {"enabled": False}},
    "predict": {"model": {"pretrained": "bert", "strategy": "lora"}},
}


@pytest.fixture(scope="module")
def hf_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("hf_study")
    tiny_bert(workdir / "models" / "bert")
    tiny_esm(workdir / "models" / "esm")
    (workdir / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    snakemake(workdir, "--configfile", str(workdir / "config.yaml"), "--cores", "2")
    return workdir


def test_metrics_have_every_hugging_face_strategy_beside_scratch_and_baselines(hf_run):
    metrics = pd.read_csv(hf_run / "results" / "metrics.tsv", sep="\t")
    metrics = metrics[metrics["eval_subset"] == "all"]
    expected = {"scratch", "kmer_logreg", "linear_probe:bert", "lora:bert", "full:bert", "random_init:bert",
                "linear_probe:esm", "lora:esm"}
    assert set(metrics["model"]) == expected
    assert len(metrics) == len(expected) * 2
    # every run's cost: the probe trains only its head, LoRA a few percent, full and random_init everything
    cost = metrics.set_index(["model", "seed"])
    for column in ("trainable_parameters", "total_parameters", "peak_memory_mb", "train_seconds"):
        assert cost[column].notna().all() and (cost[column] > 0).all(), column
    bert = {name: cost.loc[(f"{name}:bert", 1)] for name in ("linear_probe", "lora", "full", "random_init")}
    assert bert["linear_probe"]["trainable_parameters"] == 32 * 2 + 2
    assert bert["linear_probe"]["trainable_parameters"] < bert["lora"]["trainable_parameters"] < \
        bert["full"]["trainable_parameters"] == bert["random_init"]["trainable_parameters"]
    assert cost["embedding_seconds"].notna().sum() == 4  # the two probes x two seeds, from one embed job each
    assert len(list((hf_run / "results" / "embed").rglob("embeddings.npy"))) == 2
    gain = pd.read_csv(hf_run / "results" / "transfer_gain.tsv", sep="\t")
    assert set(gain.loc[gain["reference"] == "random_init:bert", "model"]) == {"linear_probe:bert", "lora:bert",
                                                                              "full:bert"}
    summary = json.loads((hf_run / "results" / "metrics.json").read_text())
    assert any("apart from its architecture" in sentence for sentence in summary["verdict"]["sentences"])
    html = (hf_run / "results" / "report.html").read_text()
    assert "Cost beside gain" in html


def test_lora_model_predicts_what_was_evaluated(hf_run):
    """The saved LoRA adapter and head, reloaded on the base checkpoint by seqtune predict, give the probabilities
    the evaluation scored."""
    results = hf_run / "results"
    run = "bert/lora/n60/seed1"
    evaluated = pd.read_csv(results / "evaluate" / run / "predictions.tsv", sep="\t")
    sidecar = json.loads((results / "finetune" / run / "model.json").read_text())
    assert sidecar["stored"] == "head+adapter" and sidecar["base"]["path"] == "models/bert"
    records = {}
    sequences = (results / "data" / "target" / "sequences.fasta").read_text().split(">")[1:]
    for record in sequences:
        name, sequence = record.split("\n", 1)
        records[name.split()[0]] = sequence.replace("\n", "")
    fasta = hf_run / "test.fa"
    fasta.write_text("".join(f">{name}\n{records[name]}\n" for name in evaluated["id"]))
    process = seqtune("predict", "--weights", str(results / "finetune" / run / "model.safetensors"),
                      "--input", str(fasta), "--output", str(hf_run / "new.tsv"))
    assert process.returncode == 0, process.stderr
    predicted = pd.read_csv(hf_run / "new.tsv", sep="\t")
    assert np.array_equal(predicted["prob_positive"].to_numpy(), evaluated["prob_positive"].to_numpy())


def test_interpretation_runs_ism_on_hugging_face_models(hf_run):
    summary = json.loads((hf_run / "results" / "interpret" / "bert" / "lora" / "n60" / "seed1" /
                          "interpretation.json").read_text())
    assert summary["recovery"]["ism"]["relevant"]["auroc"] is not None
    assert summary["not_computed"] == ["gradient_x_input"]
    assert summary["recovery"]["gradient_x_input"]["relevant"]["auroc"] is None


def test_checkpoint_with_remote_code_stops_before_any_job(hf_run, tmp_path):
    from hf_models import with_remote_code

    tiny_bert(tmp_path / "models" / "bert")
    with_remote_code(tmp_path / "models" / "bert")
    config = {**CONFIG, "pretrain": {"models": {"bert": CONFIG["pretrain"]["models"]["bert"]}},
              "predict": {"model": {"pretrained": "bert", "strategy": "lora"}}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    process = snakemake(tmp_path, "--configfile", str(tmp_path / "config.yaml"), "-n", check=False)
    assert process.returncode != 0
    # Snakemake prints a workflow's own errors on stdout.
    output = process.stdout + process.stderr
    assert "pretrain.models.bert: " in output and "set pretrain.models.bert.trust_remote_code: true" in output
    assert not (tmp_path / "results").exists()
