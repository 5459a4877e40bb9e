"""The real workflow on real-looking inputs: BED files per class on a generated genome, split by chromosome, a
leakage report, predictions on new intervals; and a BED file that names a chromosome the genome lacks."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import average_precision_score

from conftest import snakemake

pytestmark = pytest.mark.slow

LENGTH = 60
MOTIF = "CCGCGAGGGGGCGCT"  # a CTCF-like consensus planted at the centre of every 'bound' window
CHROMOSOMES = {"chr1": 9000, "chr2": 3500, "chr3": 3500}
SPACING = 90  # interval midpoints on this grid: the 60-nt windows never overlap


def make_inputs(folder, seed=0):
    """A random genome (chr1-3), bound.bed and unbound.bed (one class per file, 6 BED columns, a track line), and
    new.bed to predict. One chr3 (test) window is a copy of a chr1 (train) window: a planted leak."""
    rng = np.random.default_rng(seed)
    genome = {name: rng.choice(list("ACGT"), size) for name, size in CHROMOSOMES.items()}
    beds = {"bound": ["track name=bound"], "unbound": []}
    windows = {}
    for name, size in CHROMOSOMES.items():
        for k, middle in enumerate(range(100, size - 100, SPACING)):
            label = "bound" if k % 2 else "unbound"
            if label == "bound":
                start = middle - len(MOTIF) // 2
                genome[name][start:start + len(MOTIF)] = list(MOTIF)
            width = int(rng.integers(10, 40))
            strand = "+-"[k % 3 == 0]
            beds[label].append(f"{name}\t{middle - width // 2}\t{middle - width // 2 + width}\t{name}_{k}\t0\t{strand}")
            windows[(name, k)] = (middle - LENGTH // 2, strand)
    # The leak: copy the window of chr1_1 over the window of chr3_1 (same strand, so the sequences are identical).
    (source_start, _), (target_start, _) = windows[("chr1", 1)], windows[("chr3", 1)]
    genome["chr3"][target_start:target_start + LENGTH] = genome["chr1"][source_start:source_start + LENGTH]
    with open(folder / "genome.fa", "w") as handle:
        for name, bases in genome.items():
            sequence = "".join(bases)
            handle.write(f">{name}\n" + "\n".join(sequence[i:i + 70] for i in range(0, len(sequence), 70)) + "\n")
    (folder / "bound.bed").write_text("\n".join(beds["bound"]) + "\n")
    (folder / "unbound.bed").write_text("\n".join(beds["unbound"]) + "\n")
    (folder / "new.bed").write_text("chr1\t1000\t1020\tq1\t0\t+\nchr2\t500\t530\tq2\t0\t-\n")
    # An unlabelled corpus for masked pretraining: random sequences, a third carrying the motif somewhere.
    corpus = []
    for i in range(300):
        bases = rng.choice(list("ACGT"), LENGTH)
        if i % 3 == 0:
            start = int(rng.integers(0, LENGTH - len(MOTIF)))
            bases[start:start + len(MOTIF)] = list(MOTIF)
        corpus.append(f">c{i} from somewhere\n{''.join(bases)}\n")
    (folder / "corpus.fa").write_text("".join(corpus))


def config(folder):
    return {
        "seed": 5,
        "results": "results",
        "sequence_length": LENGTH,
        "datasets": {
            "corpus": {"source": "fasta", "path": "corpus.fa", "labelled": False},
            "target": {"source": "bed", "paths": {"bound": "bound.bed", "unbound": "unbound.bed"},
                       "genome": "genome.fa", "id_column": 4, "positive_class": "bound"},
        },
        "split": {"method": "chromosome", "validation_chroms": ["chr2"], "test_chroms": ["chr3"]},
        "model": {"channels": 8, "n_blocks": 1, "first_kernel_size": 9},
        "pretrain": {"models": {"motifs": {"dataset": "corpus", "objective": "masked"}},
                     "training": {"max_epochs": 2, "patience": 1, "batch_size": 64}},
        "finetune": {"dataset": "target", "strategies": ["scratch", "full"], "train_sizes": [40], "seeds": [1],
                     "training": {"max_epochs": 3, "patience": 2}},
        "baselines": {"strategies": ["kmer_logreg"]},
        "controls": {"shuffled_labels": {"enabled": False}},
        "leakage": {"policy": "warn"},
        "predict": {"inputs": {"new": {"source": "bed", "path": "new.bed", "genome": "genome.fa", "id_column": 4}}},
    }


@pytest.fixture(scope="module")
def bed_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("bed")
    make_inputs(workdir)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config(workdir)))
    snakemake(workdir, "--configfile", str(workdir / "config.yaml"), "--cores", "2")
    return workdir


def test_bed_data_set_is_imported_split_by_chromosome_and_run_end_to_end(bed_run):
    results = bed_run / "results"
    labels = pd.read_csv(results / "data" / "target" / "labels.tsv", sep="\t")
    assert {"id", "label", "chrom", "start", "end", "strand"} <= set(labels.columns)
    assert set(labels["label"]) == {"bound", "unbound"}
    assert ((labels["end"] - labels["start"]) == LENGTH).all()
    info = json.loads((results / "data" / "target" / "dataset.json").read_text())
    assert info["length"] == LENGTH and info["import"]["format"] == "bed"
    assert info["classes"] == ["unbound", "bound"]  # positive_class: bound is output 1, not the sorted order's
    # The pretraining corpus has no labels (labelled: false): split at random, pretrained with the masked objective.
    corpus = json.loads((results / "data" / "corpus" / "dataset.json").read_text())
    assert corpus["type"] == "unlabelled" and corpus["classes"] == [] and corpus["n_sequences"] == 300
    assert list(pd.read_csv(results / "data" / "corpus" / "labels.tsv", sep="\t").columns) == ["id"]
    assert json.loads((results / "split" / "corpus" / "summary.json").read_text())["totals"]["train"] > 150
    assert json.loads((results / "pretrain" / "motifs" / "model.json").read_text())["objective"] == "masked"
    assert {entry["path"] for entry in info["import"]["files"]} == {"bound.bed", "unbound.bed", "genome.fa"}
    # every 'bound' window carries the motif at its centre, on the interval's strand
    fasta = (results / "data" / "target" / "sequences.fasta").read_text().split(">")[1:]
    sequences = {record.split("\n", 1)[0]: record.split("\n", 1)[1].replace("\n", "") for record in fasta}
    reverse = MOTIF[::-1].translate(str.maketrans("ACGT", "TGCA"))
    for record in labels.itertuples():
        carries = MOTIF in sequences[record.id] or reverse in sequences[record.id]
        assert carries == (record.label == "bound"), record.id

    manifest = pd.read_csv(results / "split" / "target" / "manifest.tsv", sep="\t").merge(labels, on="id")
    assert (manifest.groupby("chrom")["split"].agg(set) == pd.Series(
        {"chr1": {"train"}, "chr2": {"validation"}, "chr3": {"test"}})).all()
    summary = json.loads((results / "split" / "target" / "summary.json").read_text())
    assert summary["method"] == "chromosome" and summary["train_chroms"] == ["chr1"]

    metrics = pd.read_csv(results / "metrics.tsv", sep="\t")
    metrics = metrics[metrics["eval_subset"] == "all"]
    assert set(metrics["strategy"]) == {"scratch", "full", "kmer_logreg"} and len(metrics) == 3
    assert (metrics["n_test"] == (manifest["split"] == "test").sum()).all()
    # AUPRC scores the positive class the config names (AUROC is the same either way round)
    runs = sorted((results / "evaluate").rglob("predictions.tsv"))
    assert len(runs) == len(metrics)
    for path in runs:
        predictions = pd.read_csv(path, sep="\t")
        bound = predictions["true_label"] == "bound"
        auprc = json.loads((path.parent / "metrics.json").read_text())["auprc"]
        assert auprc == pytest.approx(average_precision_score(bound, predictions["prob_bound"]), abs=1e-6)
        assert auprc != pytest.approx(average_precision_score(~bound, predictions["prob_unbound"]), abs=1e-6)
    assert "<th>positive class</th>" in (results / "report.html").read_text()
    assert (results / "report.html").is_file()


def test_leakage_report_finds_the_planted_duplicate(bed_run):
    report = json.loads((bed_run / "results" / "split" / "target" / "leakage.json").read_text())
    assert report["policy"] == "warn" and not report["clean"]
    exact = report["exact_duplicates"]
    assert exact["groups_across_splits"] == 1
    assert {member["id"] for member in exact["examples"][0]} == {"chr1_1", "chr3_1"}
    assert report["interval_overlaps"]["clusters_across_splits"] == 0
    assert report["corpus_overlap"]["test_records"] == report["split_sizes"]["test"]
    assert report["corpora"][0]["codes"].endswith("data/corpus/codes.npy")
    assert "leakage" in (bed_run / "logs" / "leakage" / "leakage.log").read_text()


def test_predictions_for_new_intervals(bed_run):
    predictions = pd.read_csv(bed_run / "results" / "predict" / "new.tsv", sep="\t")
    assert predictions["id"].tolist() == ["q1", "q2"]
    assert np.allclose(predictions[["prob_bound", "prob_unbound"]].sum(axis=1), 1, atol=1e-5)
    # predicted_label follows the decision threshold chosen when the predicting model (predict.model's default:
    # motifs/full at the largest size, first seed) was evaluated
    evaluation = json.loads((bed_run / "results" / "evaluate" / "motifs" / "full" / "n40" / "seed1" /
                             "metrics.json").read_text())
    threshold, positive = evaluation["decision"]["threshold"], evaluation["classes"][1]
    expected = [positive if p >= threshold else evaluation["classes"][0] for p in predictions[f"prob_{positive}"]]
    assert predictions["predicted_label"].tolist() == expected


def test_leakage_policy_fail_stops_the_run_and_leaves_no_report(bed_run):
    output = bed_run / "results" / "split" / "target" / "leakage.json"
    process = snakemake(bed_run, "--configfile", str(bed_run / "config.yaml"), "--cores", "1",
                        "--config", "leakage={'policy': 'fail'}", check=False)
    assert process.returncode != 0
    log = (bed_run / "logs" / "leakage" / "leakage.log").read_text()
    assert "leakage across splits: 1 identical sequence(s) span splits" in log
    assert not output.exists()


def test_an_interval_on_a_missing_chromosome_fails_the_import_and_leaves_no_files(tmp_path):
    make_inputs(tmp_path)
    with open(tmp_path / "unbound.bed", "a") as handle:
        handle.write("chrX\t100\t130\tbad\t0\t+\n")
    bad_line = len((tmp_path / "unbound.bed").read_text().splitlines())
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config(tmp_path)))
    process = snakemake(tmp_path, "--configfile", str(tmp_path / "config.yaml"), "--cores", "1",
                        "results/data/target/codes.npy", check=False)
    assert process.returncode != 0
    log = (tmp_path / "logs" / "ingest" / "target.log").read_text()
    assert f"unbound.bed, line {bad_line}: chromosome 'chrX' is not in the genome genome.fa" in log
    folder = tmp_path / "results" / "data" / "target"
    assert not folder.exists() or not any(folder.iterdir())


def test_a_train_size_larger_than_a_file_targets_training_split_stops_the_run_naming_the_largest_that_fits(tmp_path):
    """The config check cannot count a file target's training split; the first run that draws the subset (a
    baseline or scratch run, neither waits for pretraining) stops the study with the key and the size that fits,
    and writes no result of that size."""
    make_inputs(tmp_path)
    settings = config(tmp_path)
    settings["finetune"]["train_sizes"] = [40, 5000]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(settings))
    process = snakemake(tmp_path, "--configfile", str(tmp_path / "config.yaml"), "--cores", "1", check=False)
    assert process.returncode != 0
    n_train = (pd.read_csv(tmp_path / "results" / "split" / "target" / "manifest.tsv", sep="\t")["split"]
               == "train").sum()
    output = process.stdout + process.stderr
    assert (f"train size 5000 is larger than the {n_train} examples in the training split of "
            f"results/split/target/manifest.tsv; lower finetune.train_sizes to at most {n_train}") in output, \
        output[-3000:]
    assert not list((tmp_path / "results").rglob("n5000/*/*.json")), "a run of the impossible size left a result"
    assert not (tmp_path / "results" / "metrics.tsv").exists()


@pytest.mark.parametrize("edit, expected", [
    (lambda c: c["datasets"]["target"].update(n_sequences=100), "datasets.target: Additional properties are not "
                                                                 "allowed ('n_sequences' was unexpected)"),
    (lambda c: c["datasets"]["target"].update(sequence_column="seq"), "'sequence_column' was unexpected"),
    (lambda c: c["split"].update(test_chroms=[]), "split.test_chroms: split.method chromosome needs at least one"),
    (lambda c: c["split"].update(method="column"), "split.method: column uses the data set's own split column"),
    (lambda c: c["predict"].update(model={"pretrained": "nope"}), "predict.model.pretrained: 'nope'"),
], ids=["simulate key on a BED data set", "tsv key on a BED data set", "no test chromosome",
        "column split of a BED data set", "unknown model to predict with"])
def test_file_data_set_config_errors_name_the_key(tmp_path, edit, expected):
    settings = config(tmp_path)
    edit(settings)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(settings))
    process = snakemake(tmp_path, "--configfile", str(tmp_path / "config.yaml"), "-n", check=False)
    assert process.returncode != 0
    assert expected in process.stdout + process.stderr, (process.stdout + process.stderr)[-2000:]


def test_split_methods_check_their_data(tmp_path):
    from conftest import seqtune

    table = tmp_path / "data.tsv"
    rng = np.random.default_rng(1)
    rows = [f"s{i}\t{''.join(rng.choice(list('ACGT'), 30))}\t{'ab'[i % 2]}" for i in range(40)]
    table.write_text("id\tsequence\tlabel\n" + "\n".join(rows) + "\n")
    folder = tmp_path / "data"
    seqtune("ingest", "--out-dir", str(folder), "--spec", json.dumps({"source": "tsv", "path": str(table)}),
            "--length", "30", "--seed", "1", check=True)
    outputs = ["--codes", str(folder / "codes.npy"), "--manifest", str(tmp_path / "m.tsv"),
               "--summary", str(tmp_path / "s.json"), "--seed", "1"]
    for method, message in (("column", "split.method column needs the data set's own split"),
                            ("chromosome", "split.method chromosome needs a 'chrom' column")):
        process = seqtune("split", *outputs, "--method", method)
        assert process.returncode == 2 and message in process.stderr, process.stderr
    process = seqtune("split", *outputs, "--method", "stratified", "--largest-train-size", "100")
    assert process.returncode == 2 and "finetune.train_sizes: 100 is more than the" in process.stderr
    assert not (tmp_path / "m.tsv").exists()
    seqtune("split", *outputs, "--method", "similarity", "--similarity-k", "6", check=True)
    manifest = pd.read_csv(tmp_path / "m.tsv", sep="\t")
    assert {"id", "split", "stratum", "group"} <= set(manifest.columns)
    assert json.loads((tmp_path / "s.json").read_text())["method"] == "similarity"


def test_input_files_must_exist_and_may_be_absolute(tmp_path):
    """A missing input file stops the run before any job (Snakemake alone would skip a job whose input is missing
    when its output exists, keeping results of the old file); absolute paths are fine (a genome under /ref)."""
    make_inputs(tmp_path)
    settings = config(tmp_path)
    settings["datasets"]["target"]["genome"] = str(tmp_path / "genome.fa")  # absolute
    settings["datasets"]["target"]["paths"]["unbound"] = "unbund.bed"
    settings["predict"]["inputs"]["new"]["path"] = "missing"
    (tmp_path / "missing").mkdir()
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(settings))
    process = snakemake(tmp_path, "--configfile", str(tmp_path / "config.yaml"), "-n", check=False)
    output = process.stdout + process.stderr
    assert process.returncode != 0
    assert f"input file(s) not found (relative to the working directory {tmp_path})" in output, output[-2000:]
    assert "datasets.target.paths: 'unbund.bed' does not exist" in output
    assert "predict.inputs.new.path: 'missing' is a folder, not a file" in output
    assert "genome" not in output.split("not found", 1)[1] and "Traceback" not in output
    settings["datasets"]["target"]["paths"]["unbound"] = str(tmp_path / "unbound.bed")
    settings["predict"]["inputs"]["new"]["path"] = "new.bed"
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(settings))
    process = snakemake(tmp_path, "--configfile", str(tmp_path / "config.yaml"), "-n", check=False)
    assert process.returncode == 0, (process.stdout + process.stderr)[-2000:]
