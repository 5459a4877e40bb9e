"""Controls that can conclude (seqtune.controls): the label-permutation null of the baseline and its verdict, and the
shortcut control on dinucleotide-shuffled test sequences."""

import json

import numpy as np
import pandas as pd
import pytest

from conftest import simulated_target
from seqtune import pipeline
from seqtune.controls import permutation_check, permutation_null, shortcut_check, shortcut_scores
from seqtune.errors import SeqtuneError


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    return simulated_target(tmp_path_factory.mktemp("controls"))


def _null(target, tmp_path, name="null.json", **extra):
    return permutation_null(str(target / "data" / "codes.npy"), str(target / "manifest.tsv"), str(tmp_path / name),
                            60, [11, 12], **{"n_permutations": 120, "seed": 5, **extra})


def test_the_permutation_null_concludes_at_chance(target, tmp_path):
    """Hundreds of cheap permuted fits: the null's mean interval is narrow enough to say 'passed'."""
    result = _null(target, tmp_path)
    written = json.loads((tmp_path / "null.json").read_text())
    assert written["n_permutations"] == 120 == len(written["null"])
    assert written["null_ci"][0] < written["null_mean"] < written["null_ci"][1]
    assert abs(result["null_mean"] - 0.5) < 0.03 and result["null_ci"][1] - result["null_ci"][0] < 0.05
    assert 0 < result["p_value"] <= 1 and len(result["real"]) == 2
    check = permutation_check([result], pd.DataFrame())
    assert check["status"] == "passed" and "at chance" in check["sentence"]
    # Seeded: the same permutations again; another seed, other ones.
    assert _null(target, tmp_path, "again.json")["null"] == result["null"]
    assert _null(target, tmp_path, "other.json", seed=6)["null"] != result["null"]


def test_the_permutation_null_refits_at_the_searched_c(target, tmp_path):
    result = _null(target, tmp_path, n_permutations=4, tuned={"params": {"C": 0.05}})
    assert result["C"] == [0.05, 0.05] and result["tuned"]
    with pytest.raises(SeqtuneError, match="n_permutations"):
        _null(target, tmp_path, n_permutations=1)


def _fake_null(mean, sd, n, size=60):
    half = 1.96 * sd / np.sqrt(n)
    return {"train_size": size, "kind": "kmer_logreg", "k": 3, "n_permutations": n, "null_mean": mean,
            "null_sd": sd, "null_ci": [mean - half, mean + half], "null_quantiles": [mean - 2 * sd, mean + 2 * sd],
            "real_mean": 0.8, "p_value": 0.01}


def test_the_permutation_check_fails_a_null_away_from_chance_and_places_the_networks():
    failed = permutation_check([_fake_null(0.70, 0.05, 200)], pd.DataFrame())
    assert failed["status"] == "failed" and "NOT at chance" in failed["sentence"]
    wide = permutation_check([_fake_null(0.52, 0.2, 5)], pd.DataFrame())
    assert wide["status"] == "inconclusive" and "n_permutations" in wide["sentence"]
    runs = pd.DataFrame({"strategy": ["shuffled_labels"] * 3 + ["scratch"], "train_size": [60] * 4,
                         "auroc": [0.45, 0.52, 0.95, 0.9]})
    placed = permutation_check([_fake_null(0.5, 0.05, 200), _fake_null(0.5, 0.05, 200, size=120)], runs)
    first = placed["per_train_size"][0]
    assert placed["status"] == "passed" and first["network_inside_null"] == 2 and len(first["network_runs"]) == 3
    assert "2 of 3 network runs" in placed["sentence"] and "network_runs" not in placed["per_train_size"][1]


def test_shortcut_scores_match_evaluate_and_change_on_shuffled_sequences(target, tmp_path):
    codes, manifest = str(target / "data" / "codes.npy"), str(target / "manifest.tsv")
    run = tmp_path / "none" / "scratch" / "n60" / "seed1"
    run.mkdir(parents=True)
    pipeline.finetune(codes, manifest, str(run / "model.safetensors"), str(run / "history.tsv"),
                      str(run / "train_ids.tsv"), "scratch", 60, 1, {"max_epochs": 2, "patience": 2},
                      {"architecture": "cnn", "channels": 8, "n_blocks": 1})
    pipeline.evaluate(codes, manifest, str(run / "model.safetensors"), str(tmp_path / "predictions.tsv"),
                      str(tmp_path / "metrics.json"), {"pretrained": "none", "strategy": "scratch",
                                                       "train_size": 60, "seed": 1})
    frame = shortcut_scores(codes, manifest, [str(run / "model.safetensors")], str(tmp_path / "shortcut.tsv"), 9)
    written = pd.read_csv(tmp_path / "shortcut.tsv", sep="\t")
    assert written[["pretrained", "strategy", "train_size", "seed"]].equals(frame[["pretrained", "strategy",
                                                                                   "train_size", "seed"]])
    assert np.allclose(written[["auroc_test", "auroc_shuffled"]], frame[["auroc_test", "auroc_shuffled"]], atol=1e-6)
    row = frame.iloc[0]
    assert (row["pretrained"], row["strategy"], row["train_size"], row["seed"]) == ("none", "scratch", 60, 1)
    evaluated = json.loads((tmp_path / "metrics.json").read_text())["auroc"]
    assert row["auroc_test"] == pytest.approx(evaluated, abs=1e-6)
    assert row["auroc_shuffled"] != pytest.approx(row["auroc_test"], abs=1e-9)
    again = shortcut_scores(codes, manifest, [str(run / "model.safetensors")], str(tmp_path / "again.tsv"), 9)
    assert again["auroc_shuffled"].iloc[0] == row["auroc_shuffled"]  # seeded shuffle
    with pytest.raises(SeqtuneError, match="n<size>/seed<seed>"):
        shortcut_scores(codes, manifest, [str(tmp_path / "model.safetensors")], str(tmp_path / "x.tsv"), 9)
    with pytest.raises(SeqtuneError, match="no model given"):
        shortcut_scores(codes, manifest, [], str(tmp_path / "x.tsv"), 9)


def test_the_shortcut_check_says_how_much_composition_explains():
    frame = pd.DataFrame({"pretrained": ["none", "none", "motifs", "motifs", "none"],
                          "strategy": ["scratch", "scratch", "full", "full", "scratch"],
                          "train_size": [100, 100, 100, 100, 50], "seed": [1, 2, 1, 2, 1],
                          "auroc_test": [0.9, 0.8, 0.7, 0.7, 0.6], "auroc_shuffled": [0.6, 0.6, 0.5, 0.5, 0.55]})
    check = shortcut_check(frame)
    table = pd.DataFrame(check["per_model"]).set_index(["model", "train_size"])
    assert table.loc[("scratch", 100), "composition_share"] == pytest.approx(0.1 / 0.35)
    assert table.loc[("full:motifs", 100), "composition_share"] == pytest.approx(0.0)
    assert "at 100 training examples" in check["sentence"] and "scratch 0.850 -> 0.600 (29% of its margin" in check["sentence"]
    assert "full:motifs 0.700 -> 0.500 (none of its margin" in check["sentence"]
    assert shortcut_check(pd.DataFrame()) is None
