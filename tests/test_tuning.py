"""The hyperparameter search (seqtune.tuning): trials read no test record, a finished slot is never repeated, the
same config gives the same parameters, and the workflow's tuned study writes trials and chosen parameters."""

import hashlib
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO, snakemake
from seqtune import pipeline
from seqtune.split import training_subset
from seqtune.seeds import derive_seed
from seqtune.tuning import export_study, model_space, open_study, tune_trial

SPACE = {"learning_rate": [1e-4, 1e-2], "weight_decay": [1e-6, 1e-2], "dropout": [0.0, 0.5],
         "batch_size": [16, 32], "lora_rank": [4, 8], "C": [1e-3, 10.0]}
TRAINING = {"max_epochs": 3, "patience": 2}
MODEL = {"architecture": "cnn", "channels": 8, "n_blocks": 1}


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    folder = tmp_path_factory.mktemp("target")
    pipeline.simulate(folder / "data", "motif_grammar", 300, 60, [], seed=3, required=["MA0139.2", "MA0035.4"],
                      distractors=["MA0080.5"])
    pipeline.split(str(folder / "data" / "codes.npy"), str(folder / "manifest.tsv"), str(folder / "summary.json"),
                   0.2, 0.3, seed=4)
    return folder


def _trial(target, tmp, slot, strategy="kmer_logreg", journal="journal.log", codes=None, **extra):
    return tune_trial(str(codes or target / "data" / "codes.npy"), str(target / "manifest.tsv"),
                      str(tmp / f"slot{slot}.json"), str(tmp / journal), slot, strategy, 60, seed=11, space=SPACE,
                      study_seed=2026, training=TRAINING, model_spec=MODEL, startup_trials=2, **extra)


def test_spaces_per_model():
    assert set(model_space(SPACE, "scratch")) == {"learning_rate", "weight_decay", "dropout", "batch_size"}
    assert set(model_space(SPACE, "lora")) == {"learning_rate", "weight_decay", "dropout", "batch_size", "lora_rank"}
    assert set(model_space(SPACE, "kmer_logreg")) == {"C"}
    assert set(model_space({**SPACE, "dropout": None}, "full")) == {"learning_rate", "weight_decay", "batch_size"}


def test_no_trial_reads_a_test_record(target, tmp_path):
    """Poisoned test records (codes outside the alphabet, a label outside the classes) would crash or show in the
    ids a trial read; the trial runs and read exactly the training subset and the validation split."""
    data_dir = tmp_path / "data"
    shutil.copytree(target / "data", data_dir)
    manifest = pd.read_csv(target / "manifest.tsv", sep="\t", dtype={"id": str})
    test = (manifest["split"] == "test").to_numpy()
    codes = np.load(data_dir / "codes.npy")
    codes[test] = 255
    np.save(data_dir / "codes.npy", codes)
    labels = pd.read_csv(data_dir / "labels.tsv", sep="\t", dtype=str)
    labels.loc[test, "label"] = "poison"
    labels.to_csv(data_dir / "labels.tsv", sep="\t", index=False)
    for strategy in ("scratch", "kmer_logreg"):
        record = _trial(target, tmp_path, 0, strategy, journal=f"{strategy}.log", codes=data_dir / "codes.npy")
        assert record["state"] in ("COMPLETE", "PRUNED") and record["read"]["splits"] == ["train", "validation"]
        train_positions = np.flatnonzero(manifest["split"] == "train")
        classes = (labels["label"].to_numpy()[train_positions] == "positive").astype(int)
        subset = training_subset(train_positions, classes, 60, derive_seed(11, "subset"))
        digest = hashlib.sha256("\n".join(manifest["id"].to_numpy()[subset]).encode()).hexdigest()
        assert record["read"]["train_ids_sha256"] == digest
        validation = manifest.loc[manifest["split"] == "validation", "id"]
        assert record["read"]["validation_ids_sha256"] == hashlib.sha256("\n".join(validation).encode()).hexdigest()
        assert record["read"]["n_train"] + record["read"]["n_validation"] < len(manifest) - test.sum() + 1


def test_a_finished_slot_is_not_repeated_and_a_killed_one_is_retried(target, tmp_path):
    first = [_trial(target, tmp_path, slot) for slot in range(3)]
    assert [r["reused"] for r in first] == [False] * 3
    again = _trial(target, tmp_path, 1)
    assert again["reused"] and again["number"] == first[1]["number"] and again["params"] == first[1]["params"]
    # A job killed mid-trial leaves a RUNNING trial of its slot: the rerun marks it failed and runs the slot anew.
    study = open_study(str(tmp_path / "journal.log"), first[0]["study"], 0, 2, {})
    stale = study.ask()
    stale.set_user_attr("slot", 3)
    retried = _trial(target, tmp_path, 3)
    assert not retried["reused"] and retried["state"] == "COMPLETE"
    states = [t.state.name for t in open_study(str(tmp_path / "journal.log"), first[0]["study"], 0, 2,
                                               {}).get_trials()]
    assert states.count("COMPLETE") == 4 and states.count("FAIL") == 1
    chosen = export_study([str(tmp_path / f"slot{k}.json") for k in range(4)], str(tmp_path / "journal.log"),
                          str(tmp_path / "trials.tsv"), str(tmp_path / "chosen.json"), budget=4)
    table = pd.read_csv(tmp_path / "trials.tsv", sep="\t")
    assert {"number", "slot", "state", "value", "duration_seconds", "param_C"} <= set(table.columns)
    assert len(table) == 5 and chosen["budget"] == 4 and set(chosen["params"]) == {"C"}
    assert chosen["value"] == pytest.approx(table.loc[table["state"] == "COMPLETE", "value"].max(), abs=1e-6)


def test_the_same_config_gives_the_same_parameters(target, tmp_path):
    runs = []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        runs.append([_trial(target, folder, slot)["params"] for slot in range(4)])
    assert runs[0] == runs[1]
    assert len({json.dumps(p) for p in runs[0]}) == 4  # each slot its own draw


@pytest.mark.slow
def test_tuned_workflow_writes_trials_and_resumes(tmp_path):
    """The tiny tuned study: a trials TSV and chosen parameters per model and size; killed after a few trial slots
    (--until), the rerun repeats no finished trial; final runs record the parameters and the budget."""
    config = yaml.safe_load((REPO / "tests" / "configs" / "tiny_tuning.yaml").read_text())
    shutil.copy(REPO / "tests" / "configs" / "tiny_tuning.yaml", tmp_path / "config.yaml")
    args = ["--configfile", str(tmp_path / "config.yaml"), "--cores", "2"]
    tuning = tmp_path / "results" / "tuning"
    # Stopped after two of scratch's three trial slots (the target is the second slot's record).
    snakemake(tmp_path, *args, "results/tuning/none/scratch/n60/trials/slot1.json")
    before = {path: path.stat().st_mtime_ns for path in tuning.rglob("slot*.json")}
    assert len(before) == 2
    snakemake(tmp_path, *args)
    budget = config["tuning"]["n_trials"]
    models = [("none", "scratch"), ("motifs", "full"), ("none", "kmer_logreg")]
    for pretrained, strategy in models:
        for size in config["finetune"]["train_sizes"]:
            folder = tuning / pretrained / strategy / f"n{size}"
            trials = pd.read_csv(folder / "trials.tsv", sep="\t")
            chosen = json.loads((folder / "chosen.json").read_text())
            assert chosen["budget"] == budget and chosen["params"], folder
            assert sorted(trials["slot"]) == list(range(budget)), folder  # no slot ran twice
    for path, mtime in before.items():
        assert path.stat().st_mtime_ns == mtime, f"{path} was rerun"
    sidecar = json.loads((tmp_path / "results" / "finetune" / "none" / "scratch" / "n60" / "seed1" /
                          "model.json").read_text())
    assert sidecar["tuning"]["budget"] == budget and sidecar["tuning"]["params"]
    card = json.loads((tmp_path / "results" / "finetune" / "none" / "scratch" / "n60" / "seed1" /
                       "model_card.json").read_text())
    assert card["training"]["tuning"]["budget"] == budget
    verdict = json.loads((tmp_path / "results" / "metrics.json").read_text())["verdict"]
    assert any(f"same budget of {budget} trials" in sentence for sentence in verdict["sentences"])
    assert "Hyperparameter search" in (tmp_path / "results" / "report.html").read_text()
