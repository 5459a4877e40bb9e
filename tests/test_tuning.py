"""The hyperparameter search (seqtune.tuning): trials read no test record, a finished slot is never repeated, the
same config gives the same parameters, and the workflow's tuned study writes trials and chosen parameters."""

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import BIN, REPO, simulated_target, snakemake
from seqtune.split import training_subset
from seqtune.seeds import derive_seed
from seqtune.tuning import export_study, model_space, open_study, tune_trial

SPACE = {"learning_rate": [1e-4, 1e-2], "weight_decay": [1e-6, 1e-2], "dropout": [0.0, 0.5],
         "batch_size": [16, 32], "lora_rank": [4, 8], "C": [1e-3, 10.0]}
TRAINING = {"max_epochs": 3, "patience": 2}
MODEL = {"architecture": "cnn", "channels": 8, "n_blocks": 1}


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    return simulated_target(tmp_path_factory.mktemp("target"))


def _trial(target, tmp, slot, strategy="kmer_logreg", journal="journal.log", codes=None, **extra):
    return tune_trial(str(codes or target / "data" / "codes.npy"), str(target / "manifest.tsv"),
                      str(tmp / f"slot{slot}.json"), str(tmp / journal), slot, strategy, 60, seed=11, space=SPACE,
                      study_seed=2026, training=TRAINING, model_spec=MODEL, startup_trials=2, **extra)


def test_spaces_per_model():
    assert set(model_space(SPACE, "scratch")) == {"learning_rate", "weight_decay", "dropout", "batch_size"}
    assert set(model_space(SPACE, "lora")) == {"learning_rate", "weight_decay", "dropout", "batch_size", "lora_rank"}
    assert set(model_space(SPACE, "kmer_logreg")) == {"C"}
    assert set(model_space({**SPACE, "dropout": None}, "full")) == {"learning_rate", "weight_decay", "batch_size"}


def test_set_dropout_reaches_every_layer_and_the_spec():
    from torch import nn

    from seqtune.models import ModelSpec, SequenceModel
    from seqtune.tuning import set_dropout

    model = SequenceModel(ModelSpec.from_dict({**MODEL, "length": 60, "dropout": 0.1}), 2)
    set_dropout(model, 0.35)
    rates = [m.p for m in model.modules() if isinstance(m, nn.Dropout)]
    assert rates and all(rate == 0.35 for rate in rates) and model.spec.dropout == 0.35


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


def _finished_trials(tuning) -> dict:
    """(study, slot) -> (trial number, start time) of every finished trial in the studies' journals."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    finished = {}
    for journal in tuning.rglob("journal.log"):
        storage = JournalStorage(JournalFileBackend(str(journal)))
        for name in optuna.get_all_study_names(storage):
            for trial in optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False):
                if trial.state.name in ("COMPLETE", "PRUNED"):
                    key = (name, trial.user_attrs["slot"])
                    assert key not in finished, f"slot {key} finished twice"
                    finished[key] = (trial.number, trial.datetime_start)
    return finished


def _kill_when(process, condition, tmp_path, limit=600):
    """SIGKILL the workflow's process group once ``condition()`` holds, and every process of this test's folder
    left behind (by pid)."""
    deadline = time.monotonic() + limit
    while not condition():
        assert process.poll() is None, "the workflow ended before it could be killed"
        assert time.monotonic() < deadline, "the search never got going"
        time.sleep(0.5)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    for _ in range(20):  # jobs in their own process group would outlive the kill: end them by pid
        left = [int(pid) for pid in os.listdir("/proc") if pid.isdigit() and int(pid) != os.getpid()
                and _cmdline(pid).find(str(tmp_path)) >= 0]
        if not left:
            return
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.5)


def _cmdline(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().decode(errors="replace")
    except OSError:
        return ""


@pytest.mark.slow
def test_tuned_study_writes_trials_and_resumes_after_a_kill(tmp_path):
    """config/tuned_study.yaml from a clean folder: killed (SIGKILL) mid-search at a budget of 2 trials, then run to
    the end at 3: no finished trial is repeated (each slot finished once, the trials finished before the kill kept
    their numbers), a trials TSV and chosen parameters per model and size, the final runs use and record them, the
    verdict states the common budget and names the seeds an undecided comparison needs, and the controls conclude."""
    config = yaml.safe_load((REPO / "config" / "tuned_study.yaml").read_text())
    results = tmp_path / config["results"]
    tuning = results / "tuning"
    config["tuning"]["n_trials"] = 2
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    args = ["--configfile", str(tmp_path / "config.yaml"), "--cores", "2"]
    command = [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path), *args]
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    with open(tmp_path / "killed.log", "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        _kill_when(process, lambda: len(list(tuning.rglob("slot*.json"))) >= 3, tmp_path)
    before = _finished_trials(tuning)
    assert before and not (results / "metrics.json").exists()

    budget = config["tuning"]["n_trials"] = 3  # a larger budget extends the same studies
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    snakemake(tmp_path, *args, "--unlock")
    snakemake(tmp_path, *args, "--rerun-incomplete")
    after = _finished_trials(tuning)
    for key, trial in before.items():
        assert after[key] == trial, f"{key} was run again"
    models = [("none", "scratch"), ("motifs", "full"), ("none", "kmer_logreg")]
    sizes = config["finetune"]["train_sizes"]
    assert len(after) == len(models) * len(sizes) * budget  # every slot finished, once
    for pretrained, strategy in models:
        for size in sizes:
            folder = tuning / pretrained / strategy / f"n{size}"
            trials = pd.read_csv(folder / "trials.tsv", sep="\t")
            finished = trials[trials["state"].isin(["COMPLETE", "PRUNED"])]
            assert sorted(finished["slot"]) == list(range(budget)), folder
            assert set(trials["state"]) <= {"COMPLETE", "PRUNED", "FAIL"}  # FAIL: a trial the kill cut short
            chosen = json.loads((folder / "chosen.json").read_text())
            assert chosen["budget"] == budget and chosen["params"], folder
            assert chosen["trial"] in set(trials.loc[trials["state"] == "COMPLETE", "number"])
            for seed in config["finetune"]["seeds"]:
                if strategy == "kmer_logreg":
                    metrics = json.loads((results / "evaluate" / pretrained / strategy / f"n{size}" / f"seed{seed}"
                                          / "metrics.json").read_text())
                    assert metrics["regularisation_C"] == pytest.approx(chosen["params"]["C"])
                    assert metrics["tuning"]["budget"] == budget
                    continue
                run = results / "finetune" / pretrained / strategy / f"n{size}" / f"seed{seed}"
                sidecar = json.loads((run / "model.json").read_text())
                for name in ("learning_rate", "weight_decay", "batch_size"):
                    assert sidecar["training"][name] == pytest.approx(chosen["params"][name]), (run, name)
                assert sidecar["model"]["dropout"] == pytest.approx(chosen["params"]["dropout"]), run
                assert sidecar["tuning"]["params"] == chosen["params"] and sidecar["tuning"]["budget"] == budget
                card = json.loads((run / "model_card.json").read_text())
                assert card["training"]["tuning"]["budget"] == budget
    # The shuffled-label control retrains scratch with scratch's chosen parameters.
    scratch = json.loads((tuning / "none" / "scratch" / f"n{sizes[0]}" / "chosen.json").read_text())
    control = json.loads((results / "finetune" / "none" / "shuffled_labels" / f"n{sizes[0]}" / "seed1" /
                          "model.json").read_text())
    assert control["training"]["learning_rate"] == pytest.approx(scratch["params"]["learning_rate"])

    verdict = json.loads((results / "metrics.json").read_text())["verdict"]
    sentences = verdict["sentences"]
    assert any(f"same budget of {budget} trials" in sentence for sentence in sentences)
    undecided = [s for s in sentences if "not distinguishable" in s]
    assert undecided and all(re.search(r"needs about \d+ seeds", s) for s in undecided)
    assert verdict["permutation_control"]["status"] == "passed"  # 200 fits per size: it concludes
    assert [e["train_size"] for e in verdict["permutation_control"]["per_train_size"]] == sizes
    assert verdict["shortcut_control"]["per_model"] and any(s.startswith("Shortcut control") for s in sentences)
    shortcut = pd.read_csv(results / "controls" / "shortcut.tsv", sep="\t")
    assert len(shortcut) == 2 * len(sizes) * len(config["finetune"]["seeds"])  # scratch and full, every run
    html = (results / "report.html").read_text()
    assert "Hyperparameter search" in html and "label-permutation control" in html
