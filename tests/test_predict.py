"""Prediction on FASTA, TSV and BED + genome inputs, streamed in chunks, through a saved model."""

import gzip
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from seqtune.errors import SeqtuneError
from seqtune.inputs import import_dataset
from seqtune.models import ModelSpec, SequenceModel
from seqtune.predict import predict_file
from seqtune.train import predict_proba
from seqtune.weights import save_model

LENGTH = 32
CLASSES = ["EI", "IE", "N"]
RNG = np.random.default_rng(3)


def random_dna(length: int) -> str:
    return "".join(RNG.choice(list("ACGT"), size=length))


@pytest.fixture
def weights(tmp_path):
    torch.manual_seed(0)
    model = SequenceModel(ModelSpec(length=LENGTH, channels=8, n_blocks=1, first_kernel_size=5), len(CLASSES))
    path = tmp_path / "model.safetensors"
    save_model(model, path, {"classes": CLASSES, "length": LENGTH, "task": "multiclass",
                             "validation": {"best_epoch": 1}})
    return path


def check_output(frame: pd.DataFrame, ids: list[str]) -> None:
    assert list(frame.columns) == ["id", "predicted_label"] + [f"prob_{name}" for name in CLASSES]
    assert frame["id"].tolist() == ids
    probabilities = frame[[f"prob_{name}" for name in CLASSES]].to_numpy()
    assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-4)
    assert frame["predicted_label"].tolist() == [CLASSES[i] for i in probabilities.argmax(axis=1)]


def test_fasta_in_chunks_matches_direct_prediction(tmp_path, weights):
    records = [(f"r{i}", random_dna(int(RNG.integers(20, 45)))) for i in range(23)]
    fasta = tmp_path / "in.fa.gz"
    with gzip.open(fasta, "wt") as handle:
        handle.write("".join(f">{name} some description\n{sequence}\n" for name, sequence in records))
    output = tmp_path / "out" / "predictions.tsv"
    spec = {"source": "fasta", "path": str(fasta), "length_policy": "crop_or_pad"}
    assert predict_file(weights, spec, output, batch_size=4, chunk_size=5, device="cpu") == 23
    frame = pd.read_csv(output, sep="\t")
    check_output(frame, [name for name, _ in records])
    # same numbers as one direct call on the imported codes
    import_dataset(tmp_path / "data", {**spec, "labels": str(_side_labels(tmp_path, records))}, LENGTH, seed=0)
    from seqtune.data import read_dataset
    from seqtune.weights import load_model

    model, _ = load_model(weights)
    codes = torch.from_numpy(np.array(read_dataset(tmp_path / "data" / "codes.npy").codes))
    expected = predict_proba(model, codes, multilabel=False)
    assert np.allclose(frame[[f"prob_{name}" for name in CLASSES]].to_numpy(), expected, atol=1e-5)
    assert [p.name for p in output.parent.iterdir()] == ["predictions.tsv"]


def _side_labels(tmp_path, records):
    path = tmp_path / "labels.tsv"
    pd.DataFrame({"id": [name for name, _ in records], "label": ["a", "b"] * (len(records) // 2) + ["a"] *
                  (len(records) % 2)}).to_csv(path, sep="\t", index=False)
    return path


def test_table_input_with_labels_ignored_and_rc_average(tmp_path, weights):
    ids = [f"row{i}" for i in range(9)]
    table = tmp_path / "in.csv"
    pd.DataFrame({"name": ids, "dna": [random_dna(LENGTH).lower() for _ in ids], "label": "x"}).to_csv(
        table, index=False)
    output = tmp_path / "predictions.tsv"
    spec = {"source": "tsv", "path": str(table), "id_column": "name", "sequence_column": "dna"}
    predict_file(weights, spec, output, rc_average=True, chunk_size=4)
    check_output(pd.read_csv(output, sep="\t"), ids)


def test_bed_input_on_a_genome(tmp_path, weights):
    genome = tmp_path / "genome.fa"
    genome.write_text(">chr1\n" + random_dna(300) + "\n>chr2\n" + random_dna(200) + "\n")
    bed = tmp_path / "regions.bed"
    bed.write_text("chr1\t50\t60\tp\t0\t+\nchr2\t100\t140\tq\t0\t-\nchr1\t200\t201\n")
    output = tmp_path / "predictions.tsv"
    predict_file(weights, {"source": "bed", "path": str(bed), "genome": str(genome)}, output)
    check_output(pd.read_csv(output, sep="\t"), ["chr1:50-60(+)", "chr2:100-140(-)", "chr1:200-201(.)"])


def test_bad_record_late_in_the_file_leaves_no_output(tmp_path, weights):
    fasta = tmp_path / "in.fa"
    fasta.write_text("".join(f">r{i}\n{random_dna(LENGTH)}\n" for i in range(12)) + f">bad\n{'A' * 31}X\n")
    output = tmp_path / "out" / "predictions.tsv"
    with pytest.raises(SeqtuneError, match=r"in\.fa, line 25, record 'bad', position 32: letter 'X'"):
        predict_file(weights, {"source": "fasta", "path": str(fasta)}, output, chunk_size=5)
    assert not output.exists() and list(output.parent.iterdir()) == []


def test_strict_policy_and_wrong_sidecar(tmp_path, weights):
    fasta = tmp_path / "in.fa"
    fasta.write_text(f">a\n{random_dna(LENGTH - 1)}N\n")
    with pytest.raises(SeqtuneError, match="record 'a', position 32: letter 'N'.*ambiguous: allow"):
        predict_file(weights, {"source": "fasta", "path": str(fasta), "ambiguous": "error"}, tmp_path / "p.tsv")
    predict_file(weights, {"source": "fasta", "path": str(fasta)}, tmp_path / "p.tsv")
    assert len(pd.read_csv(tmp_path / "p.tsv", sep="\t")) == 1
    model = SequenceModel(ModelSpec(length=LENGTH, channels=8, n_blocks=1), 2)
    save_model(model, tmp_path / "two.safetensors", {"classes": CLASSES, "length": LENGTH})
    with pytest.raises(SeqtuneError, match="lists 3 classes but the model has 2 outputs"):
        predict_file(tmp_path / "two.safetensors", {"source": "fasta", "path": str(fasta)}, tmp_path / "q.tsv")
    assert not (tmp_path / "q.tsv").exists()


def test_gzipped_output_standard_output_and_a_folder(tmp_path, weights, capsys):
    """--output x.tsv.gz writes gzip (the same bytes on a rerun), '-' writes to standard output, a folder is refused."""
    records = [(f"r{i}", random_dna(LENGTH)) for i in range(5)]
    fasta = tmp_path / "in.fa"
    fasta.write_text("".join(f">{name}\n{sequence}\n" for name, sequence in records))
    spec = {"source": "fasta", "path": str(fasta)}
    predict_file(weights, spec, tmp_path / "out.tsv", device="cpu")
    predict_file(weights, spec, tmp_path / "out.tsv.gz", device="cpu")
    first = (tmp_path / "out.tsv.gz").read_bytes()
    assert gzip.decompress(first) == (tmp_path / "out.tsv").read_bytes()
    predict_file(weights, spec, tmp_path / "out.tsv.gz", device="cpu")
    assert (tmp_path / "out.tsv.gz").read_bytes() == first
    capsys.readouterr()
    predict_file(weights, spec, "-", device="cpu")
    assert capsys.readouterr().out == (tmp_path / "out.tsv").read_text()
    assert not (tmp_path / "-").exists() and not Path("-").exists()
    (tmp_path / "folder").mkdir()
    with pytest.raises(SeqtuneError, match="folder: is a folder; give a file name"):
        predict_file(weights, spec, tmp_path / "folder", device="cpu")
    assert list((tmp_path / "folder").iterdir()) == []


def test_the_decision_threshold_of_the_models_evaluation(tmp_path):
    """--decision-from: a binary model's predicted_label uses the cut its evaluation chose on the validation split;
    a metrics.json of another model, or one without a decision, is refused by name."""
    import json

    torch.manual_seed(1)
    model = SequenceModel(ModelSpec(length=LENGTH, channels=8, n_blocks=1, first_kernel_size=5), 2)
    weights = tmp_path / "binary.safetensors"
    save_model(model, weights, {"classes": ["negative", "positive"], "length": LENGTH, "task": "binary",
                                "validation": {"best_epoch": 1}})
    fasta = tmp_path / "new.fa"
    fasta.write_text("".join(f">s{i}\n{random_dna(LENGTH)}\n" for i in range(40)))
    spec = {"source": "fasta", "path": str(fasta)}
    plain = tmp_path / "plain.tsv"
    predict_file(weights, spec, plain)
    probabilities = pd.read_csv(plain, sep="\t")["prob_positive"].to_numpy()
    threshold = float(np.median(probabilities))  # half the records on each side, whatever argmax says
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"classes": ["negative", "positive"],
                                   "decision": {"rule": "validation", "threshold": threshold}}))
    tuned = tmp_path / "tuned.tsv"
    predict_file(weights, spec, tuned, decision_from=metrics)
    labels = pd.read_csv(tuned, sep="\t")["predicted_label"].to_numpy()
    assert (labels == np.where(probabilities >= threshold, "positive", "negative")).all()
    assert (labels == "positive").sum() == 20
    metrics.write_text(json.dumps({"classes": ["bound", "unbound"], "decision": {"threshold": 0.5}}))
    with pytest.raises(SeqtuneError, match="not the model's"):
        predict_file(weights, spec, tmp_path / "refused.tsv", decision_from=metrics)
    metrics.write_text(json.dumps({"classes": ["negative", "positive"]}))
    with pytest.raises(SeqtuneError, match="no 'decision' entry"):
        predict_file(weights, spec, tmp_path / "refused.tsv", decision_from=metrics)
    assert not (tmp_path / "refused.tsv").exists()


def test_multilabel_predicted_label_joins_every_class_at_one_half():
    from seqtune.predict import prediction_rows

    probabilities = np.array([[0.6, 0.1, 0.9], [0.1, 0.2, 0.3], [0.5, 0.5, 0.5], [0.2, 0.7, 0.1]])
    frame = prediction_rows(["w", "x", "y", "z"], probabilities, ["CTCF", "GATA1", "SPI1"], multilabel=True)
    assert list(frame["predicted_label"]) == ["CTCF;SPI1", "", "CTCF;GATA1;SPI1", "GATA1"]
    assert list(frame.columns) == ["id", "predicted_label", "prob_CTCF", "prob_GATA1", "prob_SPI1"]


def test_the_command_line_takes_a_fasta_or_table_path_as_well_as_a_json_spec(tmp_path, weights):
    """`seqtune predict --input new.fa.gz` reads the file by its extension, as the JSON spec would; a BED file (which
    needs a genome) and an unknown extension are refused with the JSON form to write instead."""
    from conftest import seqtune

    records = [(f"r{i}", random_dna(LENGTH)) for i in range(4)]
    fasta = tmp_path / "new.fa.gz"
    fasta.write_bytes(gzip.compress("".join(f">{name}\n{sequence}\n" for name, sequence in records).encode()))
    table = tmp_path / "new.csv"
    table.write_text("id,sequence\n" + "".join(f"{name},{sequence}\n" for name, sequence in records))
    by_spec = seqtune("predict", "--weights", str(weights), "--output", "-",
                      "--input-spec", json.dumps({"source": "fasta", "path": str(fasta)}), check=True).stdout
    for path in (fasta, table):
        process = seqtune("predict", "--weights", str(weights), "--output", "-", "--input", str(path), check=True)
        assert process.stdout == by_spec, path
    check_output(pd.read_csv(io.StringIO(by_spec), sep="\t"), [name for name, _ in records])
    for name, message in (("peaks.bed", "BED intervals need a genome; give the input as JSON"),
                          ("calls.vcf", "is neither a JSON input spec nor a file named .fa")):
        process = seqtune("predict", "--weights", str(weights), "--output", "-", "--input", name)
        assert process.returncode == 2 and message in process.stderr, process.stderr
