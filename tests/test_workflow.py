"""The real Snakemake workflow on the tiny config: every declared output exists and is well-formed."""

import hashlib
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
import yaml

from conftest import REPO, seqtune, snakemake

pytestmark = pytest.mark.slow


def test_every_output_exists_and_is_well_formed(tiny_run):
    results = tiny_run / "results"
    config = yaml.safe_load((REPO / "tests" / "configs" / "tiny.yaml").read_text())
    metrics = pd.read_csv(results / "metrics.tsv", sep="\t")
    assert set(metrics["eval_subset"]) == {"all", "deduplicated"}
    metrics = metrics[metrics["eval_subset"] == "all"]
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
    assert len([run for run in summary["runs"] if run["eval_subset"] == "all"]) == len(metrics)
    row = summary["summary"][0]
    assert {"auroc_mean", "auroc_sd", "auroc_ci_low", "auroc_ci_high"} <= set(row)
    assert summary["verdict"]["sentences"]
    gain = pd.read_csv(results / "transfer_gain.tsv", sep="\t")
    assert {"model", "train_size", "mean_gain", "ci_low", "ci_high", "p_value"} <= set(gain.columns)
    # Bootstrap over test examples: an interval around each seed mean, and one around each gain.
    for row in summary["summary"]:
        assert row["auroc_boot_low"] <= row["auroc_mean"] <= row["auroc_boot_high"], row["model"]
    # (on all test records, against scratch: the rows without leaked records have no bootstrap)
    booted = gain[(gain["eval_subset"] == "all") & (gain["reference"] == "scratch")]
    assert len(booted) and booted["boot_ci_low"].notna().all()
    assert (booted["boot_ci_low"] <= booted["mean_gain"]).all() and (booted["mean_gain"] <= booted["boot_ci_high"]).all()

    html = (results / "report.html").read_text()
    assert "data:image/png;base64," in html and "Verdict" in html
    # Run summary: the device from the runs' provenance, wall time per stage from Snakemake's benchmark files.
    assert "Devices of the evaluations (from each run&#x27;s provenance): cpu" in html or \
        "Devices of the evaluations (from each run's provenance): cpu" in html
    assert "wall_seconds" in html and "<td>evaluate</td>" in html.replace(" ", "")
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
        # The file holds the scores the metrics were computed from (6 digits used to make ties: AUROC off by 5e-4).
        truth = (predictions["true_label"] == "positive").to_numpy()
        recorded = json.loads(path.with_name("metrics.json").read_text())
        assert roc_auc_score(truth, probabilities[:, 1]) == pytest.approx(recorded["auroc"], abs=1e-9), path
        # predicted_label, and the accuracy and MCC computed from it, follow the cut chosen on the validation split
        decision = recorded["decision"]
        assert decision["rule"] == "validation" and 0 < decision["threshold"] < 1, path
        assert decision["validation_balanced_accuracy"] >= decision["validation_balanced_accuracy_at_0.5"], path
        predicted = (predictions["predicted_label"] == "positive").to_numpy()
        clear = np.abs(probabilities[:, 1] - decision["threshold"]) > 1e-6  # the file's probabilities are rounded
        assert np.array_equal(predicted[clear], probabilities[clear, 1] >= decision["threshold"]), path
        assert recorded["accuracy"] == pytest.approx((predicted == truth).mean()), path


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
    # Every score and count is identical; seconds and peak memory are measurements of the machine and may differ.
    measured = ["peak_memory_mb", "train_seconds", "gpu_seconds", "embedding_seconds"]
    tables = [pd.read_csv(folder / "metrics.tsv", sep="\t", dtype=str, keep_default_na=False) for folder in
              (first, second)]
    assert set(measured) <= set(tables[0].columns)
    pd.testing.assert_frame_equal(*(table.drop(columns=measured) for table in tables))
    assert _digest(first) == _digest(second) and len(_digest(first)) > 0
    # Provenance has no clock or host in it: the records are identical too (same code, same git commit).
    assert (first / "provenance.json").read_bytes() == (second / "provenance.json").read_bytes()
    for sidecar in sorted(first.rglob("model.json")):
        a, b = (json.loads(path.read_text())["provenance"] for path in (sidecar, second / sidecar.relative_to(first)))
        assert a == b, sidecar


def test_nothing_left_to_do_after_a_run(tiny_run):
    process = snakemake(tiny_run, "--configfile", str(tiny_run / "config.yaml"), "-n")
    assert "Nothing to be done" in process.stdout + process.stderr


def _bump(path, value):
    def edit(config):
        *parents, last = path
        node = config
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value(node.get(last))
    return edit


# Jobs of the tiny study: 2 train sizes x 2 seeds = 4 per (pretrained, strategy); runs: scratch, full, linear_probe,
# the shuffled control (strategy full from motifs), kmer_logreg, onehot_logreg.
RERUNS = [
    ("finetune.training", _bump(["finetune", "training", "max_epochs"], lambda v: v + 1),
     {"finetune": 16, "evaluate": 16, "aggregate": 1, "report": 1}),
    ("one strategy's training", _bump(["finetune", "strategy_training", "linear_probe", "learning_rate"],
                                      lambda v: 0.02),
     {"finetune": 4, "evaluate": 4, "aggregate": 1, "report": 1}),
    ("pretrain.training", _bump(["pretrain", "training", "max_epochs"], lambda v: v + 1),
     {"pretrain": 1, "finetune": 12, "evaluate": 12, "aggregate": 1, "report": 1}),
    # A train size above the largest: the new runs only (the split's params held the largest size, so the split and
    # everything after it reran, with byte-identical results).
    ("a larger train size", _bump(["finetune", "train_sizes"], lambda v: v + [200]),
     {"finetune": 8, "evaluate": 8, "baseline": 4, "aggregate": 1, "report": 1}),
    ("baselines.kmer_k", _bump(["baselines", "kmer_k"], lambda v: 4),
     {"baseline": 4, "aggregate": 1, "report": 1}),
    # The decision rule is applied at evaluation: every model is scored again, none is retrained.
    ("evaluation.decision_threshold", _bump(["evaluation", "decision_threshold"], lambda v: "argmax"),
     {"evaluate": 16, "baseline": 8, "aggregate": 1, "report": 1}),
    # Checkpointing changes when progress is saved, not the weights: no model is trained or scored again (the config
    # snapshot, which records every key, is rewritten, and the seconds-long summaries that read it).
    ("training.checkpoint_every", lambda config: [config[section].setdefault("training", {}).update(
        checkpoint_every=3) for section in ("pretrain", "finetune")],
     {"config_snapshot": 1, "aggregate": 1, "report": 1, "pretrain": 0, "finetune": 0, "evaluate": 0}),
    # A prediction input applies a trained model; it reruns nothing of the study (results/config.yaml leaves the
    # predict section out: it used to rerun the config snapshot, aggregate, every model card and the report).
    ("a new predict input", _bump(["predict", "inputs"], lambda v: {
        "again": {"source": "fasta", "path": "results/data/target/sequences.fasta"}}),
     {"predict": 1, "config_snapshot": 0, "model_card": 0}),
]


@pytest.mark.parametrize("name, change, expected", RERUNS, ids=[case[0] for case in RERUNS])
def test_changing_one_value_reruns_exactly_the_dependent_rules(tiny_run, name, change, expected):
    config = yaml.safe_load((tiny_run / "config.yaml").read_text())
    change(config)
    changed = tiny_run / "changed.yaml"
    changed.write_text(yaml.safe_dump(config))
    process = snakemake(tiny_run, "--configfile", str(changed), "-n", "--quiet", "rules")
    output = process.stdout + process.stderr
    counts = {line.split()[0]: int(line.split()[1]) for line in output.splitlines()
              if len(line.split()) == 2 and line.split()[1].isdigit() and line.split()[0] not in ("total", "job")}
    # Rules downstream of the models (interpretation, model cards) may rerun too; these must match exactly:
    core = ("simulate", "ingest", "split", "leakage", "pretrain", "finetune", "evaluate", "baseline", "aggregate",
            "report", "predict")
    core += tuple(rule for rule in expected if rule not in core)  # a case may pin more rules (to 0)
    assert {rule: counts.get(rule, 0) for rule in core} == {rule: expected.get(rule, 0) for rule in core}, output


def _interpreted(config):
    """(pretrained, strategy, n<size>, seed<seed>) of every model the tiny study interprets: fine-tuned and scratch at
    the largest train size, every seed; not the shuffled-label control, not the baselines."""
    size = max(config["finetune"]["train_sizes"])
    pairs = [("none", "scratch"), ("motifs", "full"), ("motifs", "linear_probe")]
    return sorted((p, s, f"n{size}", f"seed{seed}") for p, s in pairs for seed in config["finetune"]["seeds"])


def test_interpretation_outputs_are_sane(tiny_run):
    results = tiny_run / "results"
    config = yaml.safe_load((REPO / "tests" / "configs" / "tiny.yaml").read_text())
    found = sorted(path.parent.relative_to(results / "interpret").parts
                   for path in (results / "interpret").rglob("interpretation.json"))
    assert found == _interpreted(config)
    n_test = (pd.read_csv(results / "split" / "target" / "manifest.tsv", sep="\t")["split"] == "test").sum()
    for parts in found:
        folder = results.joinpath("interpret", *parts)
        scores = pd.read_csv(folder / "attributions.tsv", sep="\t")
        assert len(scores) == min(50, n_test)  # interpretation.n_sequences, default
        assert scores["ism_auroc"].dropna().between(0, 1).all() and scores["probability"].between(0, 1).all()
        assert (folder / "attributions.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        run = json.loads((folder / "interpretation.json").read_text())["run"]
        assert (run["pretrained"], run["strategy"]) == parts[:2]

    table = pd.read_csv(results / "interpretation.tsv", sep="\t")
    assert set(table["model"]) == {"scratch", "full:motifs", "linear_probe:motifs"}
    assert set(table["method"]) == {"ism", "gradient_x_input"} and set(table["sites"]) == {"relevant", "all"}
    assert (table["n_seeds"] == len(config["finetune"]["seeds"])).all()
    assert table["mean"].between(0, 1).all()
    fine_tuned = table["model"] != "scratch"
    assert table.loc[fine_tuned, "minus_scratch_mean"].notna().all()
    assert table.loc[~fine_tuned, "minus_scratch_mean"].isna().all()
    # The paired difference is the difference of the per-seed values it summarises.
    summary = json.loads((results / "interpretation.json").read_text())
    runs = pd.DataFrame(summary["runs"])
    by_seed = runs.set_index(["model", "seed"])["ism_auroc"]
    row = table[(table["model"] == "full:motifs") & (table["method"] == "ism") & (table["sites"] == "relevant")
                & (table["measure"] == "auroc")].iloc[0]
    expected = np.mean([by_seed[("full:motifs", s)] - by_seed[("scratch", s)] for s in config["finetune"]["seeds"]])
    assert row["minus_scratch_mean"] == pytest.approx(expected, abs=1e-5)
    # Pretrained, fine-tuned models attend to the planted sites better than chance (0.5; 50 sequences per run put the
    # mean's standard error near 0.02) and better than scratch, which on 120 examples has barely learned them.
    pretrained = runs["model"] != "scratch"
    assert (runs.loc[pretrained, "ism_auroc"] > 0.55).all(), runs[["model", "seed", "ism_auroc"]]
    assert runs.loc[pretrained, "ism_auroc"].mean() > runs.loc[~pretrained, "ism_auroc"].mean()
    filters = pd.DataFrame(summary["filters"])
    assert set(filters["motif_id"]) == {"MA0139.2", "MA0035.4", "MA0080.5"}
    assert filters["similarity_mean"].between(-1, 1).all()
    assert sorted(plot["model"] for plot in summary["plots"]) == ["full:motifs", "linear_probe:motifs", "scratch"]

    html = (results / "report.html").read_text()
    section = html[html.index('<h2 id="interpretation">'):html.index('<h2 id="data">')]
    assert "Pretrained then fine-tuned against scratch" in section and "First-layer filters" in section
    assert section.count("data:image/png;base64,") == 1 + 3  # the recovery figure and one plot per model
    assert "CTCF" in section and "not run" not in section


def test_a_model_card_beside_every_trained_model(tiny_run):
    results = tiny_run / "results"
    config = yaml.safe_load((REPO / "tests" / "configs" / "tiny.yaml").read_text())
    metrics = pd.read_csv(results / "metrics.tsv", sep="\t")
    metrics = metrics[metrics["eval_subset"] == "all"]
    deep = metrics[~metrics["strategy"].isin(["kmer_logreg", "onehot_logreg"])]
    cards = sorted((results / "finetune").rglob("model_card.json"))
    assert len(cards) == len(deep) > 0
    interpreted = _interpreted(config)
    for path in cards:
        card = json.loads(path.read_text())
        run = card["run"]
        row = deep[(deep["pretrained"] == run["pretrained"]) & (deep["strategy"] == run["strategy"])
                   & (deep["train_size"] == run["train_size"]) & (deep["seed"] == run["seed"])]
        assert len(row) == 1, path
        assert card["evaluation"]["this_run"]["auroc"] == pytest.approx(row["auroc"].iloc[0], abs=1e-5)
        same = deep[(deep["model"] == row["model"].iloc[0]) & (deep["train_size"] == run["train_size"])]
        over = card["evaluation"]["same_model_and_size_over_seeds"]
        assert over["n_seeds"] == len(same)
        assert over["auroc"]["mean"] == pytest.approx(same["auroc"].mean(), abs=1e-5)
        assert over["auroc"]["sd"] == pytest.approx(same["auroc"].std(ddof=1), abs=1e-5)
        assert card["data"]["n_sequences"] == 500 and card["data"]["source"] == "simulate"
        assert card["split"]["method"] == "stratified" and sum(card["split"]["totals"].values()) == 500
        assert (card["pretraining"] is None) == (run["pretrained"] == "none")
        if card["pretraining"]:
            assert card["pretraining"]["objective"] == "supervised"
            assert card["pretraining"]["corpus"]["n_sequences"] == 1500
        key = (run["pretrained"], run["strategy"], f"n{run['train_size']}", f"seed{run['seed']}")
        assert (card["interpretation"] is not None) == (key in interpreted)
        assert any("simulated" in limit for limit in card["limitations"])
        markdown = path.with_suffix(".md").read_text()
        assert "## Evaluation (test split)" in markdown and "## Limitations" in markdown
        assert f"| auroc | {row['auroc'].iloc[0]:.3f} |" in markdown


def _planned_rules(workdir, configfile):
    process = snakemake(workdir, "--configfile", str(configfile), "-n", "--forceall", "--quiet", "rules")
    counts = {}
    for line in (process.stdout + process.stderr).splitlines():
        words = line.split()
        if len(words) == 2 and words[1].isdigit() and words[0] not in ("total", "job"):
            counts[words[0]] = int(words[1])
    return counts


def test_default_study_plans_interpretation_and_cards_and_interpretation_can_be_off(tmp_path):
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    counts = _planned_rules(tmp_path, REPO / "config" / "config.yaml")
    seeds, sizes = len(config["finetune"]["seeds"]), len(config["finetune"]["train_sizes"])
    assert counts["interpret"] == 3 * seeds  # scratch, full, linear_probe at the largest size
    assert counts["interpretation_summary"] == 1
    assert counts["model_card"] == counts["finetune"] == 4 * sizes * seeds  # with the shuffled-label control
    config["interpretation"] = {"enabled": False}
    off = tmp_path / "off.yaml"
    off.write_text(yaml.safe_dump(config))
    counts = _planned_rules(tmp_path, off)
    assert "interpret" not in counts and "interpretation_summary" not in counts and counts["report"] == 1


@pytest.mark.parametrize("name, strategies, pretrains, interprets", [
    # transfer study: 4 pretrained models with 5 + 2 + 1 + 2 strategies, scratch, the shuffled-label control
    ("transfer_study", 5 + 2 + 1 + 2 + 1 + 1, 4, True),
    # negative control: the unrelated pretraining with full and linear_probe, and scratch, over 20 seeds
    ("negative_control", 2 + 1, 1, False),
])
def test_shipped_study_configs_plan_their_runs(tmp_path, name, strategies, pretrains, interprets):
    path = REPO / "config" / f"{name}.yaml"
    config = yaml.safe_load(path.read_text())
    counts = _planned_rules(tmp_path, path)
    runs = strategies * len(config["finetune"]["train_sizes"]) * len(config["finetune"]["seeds"])
    assert counts["finetune"] == counts["evaluate"] == counts["model_card"] == runs
    assert counts["pretrain"] == pretrains and counts["report"] == 1
    assert ("interpret" in counts) == interprets


def test_aggregate_and_report_check_a_negative_control(tiny_run, tmp_path):
    """The tiny study's only pretrained model, declared a negative control: the verdict checks it instead of crowning
    it, and the report warns exactly when it helps."""
    results = tmp_path / "results"
    shutil.copytree(tiny_run / "results", results)
    metrics_files = sorted(str(path) for path in (results / "evaluate").rglob("metrics.json"))
    seqtune("aggregate", *metrics_files, "--metrics-tsv", str(results / "metrics.tsv"),
            "--metrics-json", str(results / "metrics.json"), "--gain-tsv", str(results / "transfer_gain.tsv"),
            "--bootstrap-resamples", "0", "--negative-controls", "motifs", check=True)
    summary = json.loads((results / "metrics.json").read_text())
    assert summary["verdict"]["per_train_size"] == []  # every transferred model is the control's
    (check,) = summary["verdict"]["negative_controls"]
    sizes = yaml.safe_load((REPO / "tests" / "configs" / "tiny.yaml").read_text())["finetune"]["train_sizes"]
    assert check["pretrained"] == "motifs" and [e["train_size"] for e in check["per_train_size"]] == sorted(sizes)
    for entry in check["per_train_size"]:
        assert entry["model"].endswith(":motifs")
        assert entry["helps"] is bool(entry["vs_scratch"]["ci_low"] > 0)
    assert check["passed"] is not any(entry["helps"] for entry in check["per_train_size"])
    assert check["sentence"] in summary["verdict"]["sentences"]
    html = results / "report.html"
    seqtune("report", "--metrics-tsv", str(results / "metrics.tsv"), "--metrics-json", str(results / "metrics.json"),
            "--gain-tsv", str(results / "transfer_gain.tsv"),
            "--split-summary", str(next((results / "split").glob("*/summary.json"))),
            "--config", str(results / "config.yaml"), "--html", str(html), "--figure", str(tmp_path / "curve.svg"),
            check=True)
    page = html.read_text()
    assert ("Warning: the negative control" in page) is (not check["passed"])
    assert "negative control" in page


def test_the_report_times_only_this_studys_stages_and_runs(tmp_path):
    """benchmarks/ also holds other studies' folders (benchmarks/<results>/) and results/ may keep histories of runs
    an earlier config had: neither may count. The stage folders read are the ones the rules write."""
    import re

    from seqtune.report import BENCHMARKED_STAGES, _wall_times

    written = set()
    for rules in (REPO / "workflow" / "rules").glob("*.smk"):
        written |= set(re.findall(r"\{BENCHMARKS\}/(\w+)/", rules.read_text()))
    assert written == set(BENCHMARKED_STAGES)
    benchmarks, results = tmp_path / "benchmarks", tmp_path / "results"
    table = "s\th:m:s\tmax_rss\n2.0\t0:00:02\t100\n"
    for path in ("finetune/none/scratch/n60/seed1.tsv", "res_dot/finetune/none/scratch/n60/seed1.tsv",
                 "results/example/pretrain/motifs.tsv"):
        (benchmarks / path).parent.mkdir(parents=True, exist_ok=True)
        (benchmarks / path).write_text(table)
    for run in ("none/scratch/n60/seed1", "none/scratch/n60/seed9"):  # seed 9: a run of an earlier config
        (results / "finetune" / run).mkdir(parents=True)
        (results / "finetune" / run / "history.tsv").write_text("epoch\tseconds\n1\t1.5\n2\t2.5\n")
    runs = pd.DataFrame([{"model": "scratch", "pretrained": "none", "strategy": "scratch", "train_size": 60,
                          "seed": 1}])
    wall = _wall_times(results, runs, str(benchmarks)).set_index("stage")
    assert set(wall.index) == {"finetune", "pretrain"} and wall.loc["finetune", "jobs"] == 1
    assert wall.loc["finetune", "wall_seconds"] == 2.0 and wall.loc["finetune", "training_seconds"] == 4.0
    assert wall.loc["pretrain", "training_seconds"] == 0.0


def test_snakemakes_own_report_of_a_run(tiny_run):
    """`snakemake --report` (docs/outputs.md) builds the zip with the caption naming the study's target and sizes."""
    import zipfile

    snakemake(tiny_run, "--configfile", str(tiny_run / "config.yaml"), "--report", "report.zip")
    with zipfile.ZipFile(tiny_run / "report.zip") as archive:
        text = "\n".join(archive.read(name).decode("utf-8", "replace") for name in archive.namelist()
                         if name.endswith((".html", ".js")))
    assert "target" in text and "[60, 120]" in text
