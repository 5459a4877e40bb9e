"""Model cards: built from a run's files, the numbers copied faithfully, the caveats that apply stated."""

from __future__ import annotations

import hashlib
import json

import pytest

from seqtune.modelcard import build_card, model_card, render_markdown

SIDECAR = {"format": "seqtune-model/1", "seqtune_version": "0.1.0", "model": {"architecture": "cnn", "channels": 16},
           "n_outputs": 2, "head": "linear", "role": "finetuned", "strategy": "full",
           "pretrained": "results/pretrain/motifs/model.safetensors",
           "head_replaced": {"old_outputs": 4, "new_outputs": 2, "in_features": 16}, "shuffle_labels": False,
           "task": "binary", "classes": ["negative", "positive"], "alphabet": "ACGT", "length": 100,
           "train_size": 120, "training": {"learning_rate": 0.001, "max_epochs": 4, "monitor": "val_score"}, "seed": 99,
           "validation": {"best_epoch": 3, "epochs_run": 4, "val_loss": 0.4}}
RUN_METRICS = {"pretrained": "motifs", "strategy": "full", "train_size": 120, "seed": 2, "best_epoch": 3,
               "n_test": 150, "classes": ["negative", "positive"], "accuracy": 0.8, "balanced_accuracy": 0.8,
               "f1_macro": 0.79, "mcc": 0.6, "auroc": 0.88, "auprc": 0.86, "confusion_matrix": [[60, 15], [15, 60]]}
METRICS = {"primary_metric": "auroc",
           "summary": [{"model": "full:motifs", "train_size": 120, "n_seeds": 2, "auroc_mean": 0.85, "auroc_sd": 0.04,
                        "auroc_ci_low": 0.5, "auroc_ci_high": 1.2, "accuracy_mean": 0.78, "accuracy_sd": 0.02},
                       {"model": "full:motifs", "train_size": 60, "n_seeds": 2, "auroc_mean": 0.7, "auroc_sd": 0.1}],
           "transfer_gain": [{"model": "full:motifs", "reference": "scratch", "train_size": 120, "metric": "auroc",
                              "n_seeds": 2, "mean_gain": 0.1, "sd_gain": 0.02, "ci_low": -0.08, "ci_high": 0.28,
                              "p_value": 0.1}]}
DATA = {"type": "binary", "classes": ["negative", "positive"], "rule": {"all_of": ["MA0139.2", "MA0035.4"]},
        "distractors": ["MA0080.5"], "label_noise": 0.0, "source": "simulate", "n_sequences": 500, "length": 100,
        "class_counts": {"negative": 250, "positive": 250}, "simulation": {"task": "motif_grammar", "seed": 1}}
SPLIT = {"method": "stratified", "totals": {"train": 250, "validation": 100, "test": 150},
         "counts": {"train": {"negative": 125, "positive": 125}}, "validation_fraction": 0.2, "test_fraction": 0.3}
PRETRAINED = {"objective": "supervised", "task": "multilabel", "classes": ["MA0139.2"], "n_train": 1000,
              "data": "results/data/corpus", "training": {"max_epochs": 3}, "validation": {"val_auroc": 0.95}}
CORPUS = {"type": "multilabel", "source": "simulate", "n_sequences": 1500, "length": 100, "classes": ["MA0139.2"]}


def test_card_copies_the_run_and_the_spread_over_seeds():
    card = build_card(SIDECAR, RUN_METRICS, METRICS, DATA, SPLIT, PRETRAINED, CORPUS)
    assert card["name"] == "full:motifs, 120 training examples, seed 2"
    assert card["evaluation"]["this_run"]["auroc"] == 0.88 and card["evaluation"]["n_test"] == 150
    over = card["evaluation"]["same_model_and_size_over_seeds"]
    assert over["n_seeds"] == 2 and over["auroc"] == {"mean": 0.85, "sd": 0.04, "ci_low": 0.5, "ci_high": 1.2}
    assert card["evaluation"]["gain_over_scratch"]["mean_gain"] == 0.1
    assert card["data"]["n_sequences"] == 500 and card["split"]["totals"]["test"] == 150
    assert card["pretraining"]["objective"] == "supervised" and card["pretraining"]["corpus"]["n_sequences"] == 1500
    assert card["training"]["settings"] == {"learning_rate": 0.001, "max_epochs": 4, "monitor": "val_score"}
    limits = " ".join(card["limitations"])
    assert "simulated" in limits and "Small training set (120" in limits and "exactly 100 nt" in limits
    assert card["interpretation"] is None

    markdown = render_markdown(card)
    for heading in ("# Model card: full:motifs", "## Data", "## Pretraining", "## Training", "## Evaluation",
                    "## Intended use", "## Limitations"):
        assert heading in markdown
    assert "| auroc | 0.880 | 0.850 ± 0.040 |" in markdown
    assert "replaced, 4 -> 2 outputs" in markdown
    assert "probability cut" not in markdown  # no decision recorded: nothing claimed

    decided = {**RUN_METRICS, "decision": {"rule": "validation", "threshold": 0.62,
                                           "validation_balanced_accuracy": 0.81,
                                           "validation_balanced_accuracy_at_0.5": 0.66}}
    card = build_card(SIDECAR, decided, METRICS, DATA, SPLIT, PRETRAINED, CORPUS)
    assert card["evaluation"]["decision"]["threshold"] == 0.62
    assert ("at a probability cut of 0.620 for 'positive', chosen on the validation split (balanced accuracy 0.810 "
            "there, against 0.660 at 0.5)") in render_markdown(card)


def test_scratch_and_control_cards():
    scratch = build_card({**SIDECAR, "strategy": "scratch", "pretrained": None, "head_replaced": None},
                         {**RUN_METRICS, "pretrained": "none", "strategy": "scratch"}, METRICS, DATA, SPLIT)
    assert scratch["pretraining"] is None and scratch["evaluation"]["same_model_and_size_over_seeds"] is None
    assert "trained from random weights" in render_markdown(scratch)
    control = build_card({**SIDECAR, "shuffle_labels": True}, {**RUN_METRICS, "strategy": "shuffled_labels"},
                         METRICS, DATA, SPLIT, PRETRAINED, CORPUS)
    assert control["run"]["shuffled_labels"] and "Do not use it to predict" in control["intended_use"][0]


def test_model_card_writes_json_and_markdown(tmp_path):
    paths = {}
    for name, content in (("model.json", SIDECAR), ("run.json", RUN_METRICS), ("metrics.json", METRICS),
                          ("dataset.json", {**DATA, "class_counts": {"negative": 250, "positive": 250}}),
                          ("split.json", SPLIT), ("interpretation.json", {
                              "relevant_motifs": ["MA0139.2"], "n_sequences": 10, "position_score": "max_abs",
                              "recovery": {"ism": {"relevant": {"auroc": 0.91, "precision_at_k": 0.6},
                                                   "all": {"auroc": 0.8}, "per_motif": {}}}})):
        paths[name] = tmp_path / name
        paths[name].write_text(json.dumps(content))
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"weights")
    card = model_card(weights, paths["model.json"], paths["run.json"], paths["metrics.json"],
                      paths["dataset.json"], paths["split.json"], tmp_path / "card.json", tmp_path / "card.md",
                      interpretation=paths["interpretation.json"])
    written = json.loads((tmp_path / "card.json").read_text())
    assert written == json.loads(json.dumps(card))
    assert written["model"]["weights_sha256"] == hashlib.sha256(b"weights").hexdigest()
    assert written["interpretation"]["motif_recovery"]["ism"]["relevant"]["auroc"] == 0.91
    assert "| ism | 0.910 | 0.600 |" in (tmp_path / "card.md").read_text()
    assert "(early stopping on the validation AUROC)" in (tmp_path / "card.md").read_text()  # training.monitor
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporary files left


def test_model_card_names_a_missing_file(tmp_path):
    from seqtune.errors import SeqtuneError

    (tmp_path / "model.json").write_text(json.dumps(SIDECAR))
    with pytest.raises(SeqtuneError, match="run.json: file not found"):
        model_card(tmp_path / "w", tmp_path / "model.json", tmp_path / "run.json", tmp_path / "m", tmp_path / "d",
                   tmp_path / "s", tmp_path / "c.json", tmp_path / "c.md")
    assert not (tmp_path / "c.json").exists() and not (tmp_path / "c.md").exists()


def test_model_id_is_the_metrics_table_label():
    from seqtune.modelcard import model_id
    from seqtune.stats import run_label

    for pretrained, strategy in (("none", "scratch"), ("motifs", "full"), ("masked", "linear_probe")):
        assert model_id(pretrained, strategy) == run_label(pretrained, strategy)
