"""Leakage reaches the verdict, with the real workflow: a TSV target whose test split repeats training sequences.

The verdict opens with the leaked test records, every run is also scored without them (``eval_subset``
deduplicated) in metrics.tsv, the gain table and the report, and ``leakage.policy: exclude`` drops them before
scoring."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import roc_auc_score

from conftest import snakemake

pytestmark = pytest.mark.slow

LENGTH = 40
N_TRAIN, N_VALIDATION, N_TEST = 120, 30, 50
N_EXACT = 10  # test records 0-9 copy training records 0-9
COMPLEMENT = str.maketrans("ACGT", "TGCA")


def make_target(path):
    """200 random 40-nt sequences, 'pos' when they carry GATAAG, with their split in a column; N_EXACT test records
    are copies of training records and one is the reverse complement of one: 11 leaked test records."""
    rng = np.random.default_rng(1)
    records = []
    for i in range(N_TRAIN + N_VALIDATION + N_TEST):
        sequence = "".join(rng.choice(list("ACGT"), LENGTH))
        label = "pos" if i % 2 else "neg"
        if label == "pos":
            start = int(rng.integers(0, LENGTH - 6))
            sequence = sequence[:start] + "GATAAG" + sequence[start + 6:]
        split = "train" if i < N_TRAIN else "validation" if i < N_TRAIN + N_VALIDATION else "test"
        records.append({"id": f"r{i}", "sequence": sequence, "label": label, "split": split})
    first_test = N_TRAIN + N_VALIDATION
    for k in range(N_EXACT):
        records[first_test + k].update(sequence=records[k]["sequence"], label=records[k]["label"])
    source = records[N_EXACT]
    records[first_test + N_EXACT].update(sequence=source["sequence"].translate(COMPLEMENT)[::-1],
                                         label=source["label"])
    pd.DataFrame(records).to_csv(path, sep="\t", index=False)
    return {records[first_test + k]["id"] for k in range(N_EXACT + 1)}


def config():
    return {
        "seed": 11,
        "sequence_length": LENGTH,
        "datasets": {
            "corpus": {"source": "simulate", "task": "motif_presence", "n_sequences": 400,
                       "motifs": ["MA0035.4"]},
            "target": {"source": "tsv", "path": "target.tsv", "split_column": "split"},
        },
        "split": {"method": "column"},
        "model": {"channels": 8, "n_blocks": 1, "first_kernel_size": 7},
        "pretrain": {"models": {"motifs": {"dataset": "corpus"}},
                     "training": {"max_epochs": 1, "patience": 1, "batch_size": 128}},
        "finetune": {"dataset": "target", "strategies": ["scratch", "full"], "train_sizes": [60], "seeds": [1],
                     "training": {"max_epochs": 2, "patience": 1}},
        "baselines": {"strategies": ["kmer_logreg"]},
        "controls": {"shuffled_labels": {"enabled": False}},
        "evaluation": {"bootstrap_resamples": 20},
    }


@pytest.fixture(scope="module")
def leaky_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("leaky")
    leaked = make_target(workdir / "target.tsv")
    (workdir / "config.yaml").write_text(yaml.safe_dump(config()))
    snakemake(workdir, "--configfile", str(workdir / "config.yaml"), "--cores", "2")
    return workdir, leaked


def test_the_verdict_opens_with_the_leaked_test_records(leaky_run):
    workdir, leaked = leaky_run
    results = workdir / "results"
    report = json.loads((results / "split" / "target" / "leakage.json").read_text())
    assert set(report["leaked_test_records"]["ids"]) == leaked
    assert report["leaked_test_records"]["by_kind"]["exact_duplicates"] == N_EXACT
    assert report["leaked_test_records"]["by_kind"]["reverse_complement_duplicates"] == 1
    verdict = json.loads((results / "metrics.json").read_text())["verdict"]
    first = verdict["sentences"][0]
    assert first.startswith(f"LEAKAGE: {len(leaked)} of {N_TEST} test records leak (10 identical to a training or "
                            "validation record; 1 the reverse complement of a training or validation record)")
    assert first == verdict["leakage"]
    assert any(s.startswith(f"At 60 training examples without the leaked test records ({N_TEST - len(leaked)} "
                            "left), full:motifs minus scratch") for s in verdict["sentences"])
    page = (results / "report.html").read_text()
    assert page.index("LEAKAGE: 11 of 50 test records leak") < page.index('id="verdict"')  # above the verdict
    assert "Without leaked test records (eval_subset deduplicated)" in page


def test_every_run_is_also_scored_on_the_deduplicated_test_subset(leaky_run):
    workdir, leaked = leaky_run
    results = workdir / "results"
    metrics = pd.read_csv(results / "metrics.tsv", sep="\t")
    assert list(metrics.columns[:6]) == ["model", "strategy", "pretrained", "train_size", "seed", "eval_subset"]
    both = metrics.pivot(index="model", columns="eval_subset", values="n_test")
    assert set(both.index) == {"scratch", "full:motifs", "kmer_logreg"}
    assert (both["all"] == N_TEST).all() and (both["deduplicated"] == N_TEST - len(leaked)).all()
    for row in metrics[metrics["eval_subset"] == "deduplicated"].itertuples():
        run = results / "evaluate" / row.pretrained / row.strategy / f"n{row.train_size}" / f"seed{row.seed}"
        predictions = pd.read_csv(run / "predictions.tsv", sep="\t")
        assert len(predictions) == N_TEST
        kept = predictions[~predictions["id"].isin(leaked)]
        assert row.auroc == pytest.approx(roc_auc_score(kept["true_label"] == "pos", kept["prob_pos"]), abs=1e-5)
        full = json.loads((run / "metrics.json").read_text())
        assert full["auroc"] == pytest.approx(roc_auc_score(predictions["true_label"] == "pos",
                                                            predictions["prob_pos"]), abs=1e-6)
    gains = pd.read_csv(results / "transfer_gain.tsv", sep="\t")
    assert set(gains["eval_subset"]) == {"all", "deduplicated"}
    assert len(gains[gains["eval_subset"] == "all"]) == len(gains[gains["eval_subset"] == "deduplicated"]) == 2


def test_policy_exclude_drops_the_leaked_test_records_before_scoring(leaky_run):
    workdir, leaked = leaky_run
    results = workdir / "results"
    snakemake(workdir, "--configfile", str(workdir / "config.yaml"), "--cores", "2",
              "--config", "leakage={'policy': 'exclude'}")
    run = results / "evaluate" / "motifs" / "full" / "n60" / "seed1"
    predictions = pd.read_csv(run / "predictions.tsv", sep="\t")
    assert len(predictions) == N_TEST - len(leaked) and not set(predictions["id"]) & leaked
    record = json.loads((run / "metrics.json").read_text())
    assert record["n_test"] == N_TEST - len(leaked) and record["excluded_test_records"] == len(leaked)
    assert record["provenance"]["inputs"]["exclude_leaked"]["path"].endswith("split/target/leakage.json")
    baseline = json.loads((results / "evaluate" / "none" / "kmer_logreg" / "n60" / "seed1" / "metrics.json")
                          .read_text())
    assert baseline["excluded_test_records"] == len(leaked)
    metrics = pd.read_csv(results / "metrics.tsv", sep="\t")
    assert (metrics["n_test"] == N_TEST - len(leaked)).all()  # all and deduplicated agree: nothing leaked is left
    first = json.loads((results / "metrics.json").read_text())["verdict"]["sentences"][0]
    assert first.startswith("LEAKAGE: 11 of 50 test records leak") and "dropped before scoring" in first
    assert "exclude" in (workdir / "logs" / "leakage" / "leakage.log").read_text()
