"""The real Snakemake workflow on the tiny config: every declared output exists and is well-formed."""

import hashlib
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO, snakemake

pytestmark = pytest.mark.slow


def test_every_output_exists_and_is_well_formed(tiny_run):
    results = tiny_run / "results"
    config = yaml.safe_load((REPO / "tests" / "configs" / "tiny.yaml").read_text())
    metrics = pd.read_csv(results / "metrics.tsv", sep="\t")
    for column in ("strategy", "train_size", "seed", "accuracy", "balanced_accuracy", "f1_macro", "mcc", "auroc",
                   "auprc"):
        assert column in metrics.columns
    expected = {"scratch", "full", "linear_probe", "kmer_logreg", "onehot_logreg", "shuffled_labels"}
    assert set(metrics["strategy"]) == expected
    sizes, seeds = config["finetune"]["train_sizes"], config["finetune"]["seeds"]
    assert len(metrics) == len(expected) * len(sizes) * len(seeds)
    scores = metrics[["accuracy", "balanced_accuracy", "f1_macro", "auroc", "auprc"]].to_numpy()
    assert ((scores >= 0) & (scores <= 1)).all()
    assert metrics["mcc"].between(-1, 1).all()

    summary = json.loads((results / "metrics.json").read_text())
    assert len(summary["runs"]) == len(metrics)
    row = summary["summary"][0]
    assert {"auroc_mean", "auroc_sd", "auroc_ci_low", "auroc_ci_high"} <= set(row)
    assert summary["verdict"]["sentences"]
    gain = pd.read_csv(results / "transfer_gain.tsv", sep="\t")
    assert {"model", "train_size", "mean_gain", "ci_low", "ci_high", "p_value"} <= set(gain.columns)

    html = (results / "report.html").read_text()
    assert "data:image/png;base64," in html and "Verdict" in html
    assert (results / "learning_curve.svg").read_text().lstrip().startswith("<?xml")


def test_predictions_cover_the_whole_test_split(tiny_run):
    results = tiny_run / "results"
    manifest = pd.read_csv(results / "split" / "target" / "manifest.tsv", sep="\t")
    test_ids = set(manifest.loc[manifest["split"] == "test", "id"])
    for path in (results / "evaluate").rglob("predictions.tsv"):
        predictions = pd.read_csv(path, sep="\t")
        assert set(predictions["id"]) == test_ids, path
        probabilities = predictions[["prob_negative", "prob_positive"]].to_numpy()
        assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)


def test_the_head_was_replaced_and_the_backbone_transferred(tiny_run):
    results = tiny_run / "results"
    pretrained = json.loads((results / "pretrain" / "motifs" / "model.json").read_text())
    assert pretrained["n_outputs"] == 4 and pretrained["task"] == "multilabel"
    finetuned = json.loads((results / "finetune" / "motifs" / "full" / "n60" / "seed1" / "model.json").read_text())
    assert finetuned["head_replaced"] == {"old_outputs": 4, "new_outputs": 2, "in_features": 16}
    assert finetuned["pretrained"].endswith("pretrain/motifs/model.safetensors")
    scratch = json.loads((results / "finetune" / "none" / "scratch" / "n60" / "seed1" / "model.json").read_text())
    assert scratch["head_replaced"] is None
    log = (tiny_run / "logs" / "finetune" / "motifs" / "full" / "n60" / "seed1.log").read_text()
    assert "replaced head" in log and "epoch" in log


def test_nested_training_subsets_and_pairing(tiny_run):
    runs = tiny_run / "results" / "finetune"
    small = pd.read_csv(runs / "none" / "scratch" / "n60" / "seed1" / "train_ids.tsv", sep="\t")
    large = pd.read_csv(runs / "none" / "scratch" / "n120" / "seed1" / "train_ids.tsv", sep="\t")
    paired = pd.read_csv(runs / "motifs" / "full" / "n60" / "seed1" / "train_ids.tsv", sep="\t")
    assert set(small["id"]) <= set(large["id"])
    assert small["id"].tolist() == paired["id"].tolist()
    other_seed = pd.read_csv(runs / "none" / "scratch" / "n60" / "seed2" / "train_ids.tsv", sep="\t")
    assert set(other_seed["id"]) != set(small["id"])


def _digest(folder):
    return {path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*.safetensors"))}


def test_rerun_in_a_clean_folder_gives_identical_metrics_and_weights(tiny_run, tmp_path):
    shutil.copy(REPO / "tests" / "configs" / "tiny.yaml", tmp_path / "config.yaml")
    snakemake(tmp_path, "--configfile", str(tmp_path / "config.yaml"), "--cores", "2")
    first, second = tiny_run / "results", tmp_path / "results"
    assert (first / "metrics.tsv").read_bytes() == (second / "metrics.tsv").read_bytes()
    assert _digest(first) == _digest(second) and len(_digest(first)) > 0


def test_nothing_left_to_do_after_a_run(tiny_run):
    process = snakemake(tiny_run, "--configfile", str(tiny_run / "config.yaml"), "-n")
    assert "Nothing to be done" in process.stdout + process.stderr


def test_changing_one_value_reruns_exactly_the_dependent_rules(tiny_run):
    config = yaml.safe_load((tiny_run / "config.yaml").read_text())
    config["finetune"]["training"]["max_epochs"] += 1
    changed = tiny_run / "changed.yaml"
    changed.write_text(yaml.safe_dump(config))
    process = snakemake(tiny_run, "--configfile", str(changed), "-n", "--quiet", "rules")
    output = process.stdout + process.stderr
    rerun = {line.split()[0] for line in output.splitlines()
             if len(line.split()) == 2 and line.split()[1].isdigit() and line.split()[0] not in ("total", "job")}
    assert {"finetune", "evaluate", "aggregate", "report"} <= rerun, output
    assert not rerun & {"simulate", "split", "pretrain", "baseline"}, output
