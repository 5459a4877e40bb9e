"""The bad-input catalogue (issue #7): one broken file, weights file or config value per case.

Every case checks the same contract: seqtune stops with one clear message (exit status 2 on the command line, no
traceback) that names the file or config key, says where in it (line, record, column, tensor or key) and what to do
about it, and leaves no output file behind. File and weights cases run the ``seqtune`` command in-process
(``seqtune.cli.main``); config cases run the checks the workflow runs before any job (``common.smk``: the schema,
then Snakemake's ``validate``, then ``check_config``), and a few run the real workflow (``snakemake -n``).
"""

from __future__ import annotations

import bz2
import copy
import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from conftest import REPO, snakemake
from seqtune.cli import main
from seqtune.config import check_config, schema_problems
from seqtune.errors import SeqtuneError
from seqtune.models import ModelSpec, SequenceModel
from seqtune.weights import save_model

LENGTH = 30
RNG = np.random.default_rng(7)
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def dna(length: int = LENGTH) -> str:
    return "".join(RNG.choice(list("ACGT"), size=length))


@dataclass
class Expect:
    """A command that must fail, and what its one-line message must contain."""

    argv: list[str]
    names: str  # the file (or config key) at fault
    where: str  # the line, record, column, tensor or key inside it
    fix: str  # the start of the advice
    outputs: list[Path] = field(default_factory=list)  # must not exist afterwards
    unchanged: dict[Path, bytes] = field(default_factory=dict)  # inputs that must keep these bytes


def keep(*paths: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in paths}


def ingest(tmp_path: Path, spec: dict, length: int = LENGTH) -> list[str]:
    return ["ingest", "--out-dir", str(tmp_path / "out"), "--spec", json.dumps(spec), "--length", str(length),
            "--seed", "1"]


def dataset_outputs(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "out"
    return [folder] + [folder / name for name in ("codes.npy", "labels.tsv", "sequences.fasta", "dataset.json")]


def fasta_case(tmp_path: Path, text: str | bytes, names: str, where: str, fix: str, name: str = "bad.fa",
               **spec) -> Expect:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return Expect(ingest(tmp_path, {"source": "fasta", "path": str(path), **spec}), names, where, fix,
                  dataset_outputs(tmp_path))


def table_case(tmp_path: Path, name: str, text: str, names: str, where: str, fix: str, **spec) -> Expect:
    path = tmp_path / name
    path.write_text(text)
    return Expect(ingest(tmp_path, {"source": "tsv", "path": str(path), **spec}), names, where, fix,
                  dataset_outputs(tmp_path))


GOOD = f">a label=x\n{dna()}\n>b label=y\n{dna()}\n"


def make_genome(folder: Path) -> Path:
    path = folder / "genome.fa"
    path.write_text(f">chr1\n{dna(300)}\n>chr2\n{dna(200)}\n")
    return path


def bed_case(tmp_path: Path, text: str, names: str, where: str, fix: str) -> Expect:
    genome = make_genome(tmp_path)
    bed = tmp_path / "bad.bed"
    bed.write_text(text)
    return Expect(ingest(tmp_path, {"source": "bed", "path": str(bed), "genome": str(genome)}), names, where, fix,
                  dataset_outputs(tmp_path))


# ------------------------------------------------------------------------------------ a target data set and models
@pytest.fixture(scope="module")
def target(tmp_path_factory):
    """A small imported data set (60 x 30 nt, classes a/b), split stratified; returns its folder."""
    from seqtune.inputs import import_dataset
    from seqtune.pipeline import split

    folder = tmp_path_factory.mktemp("target")
    rows = "".join(f"s{i}\t{dna()}\t{'ab'[i % 2]}\n" for i in range(60))
    (folder / "data.tsv").write_text("id\tsequence\tlabel\n" + rows)
    import_dataset(folder / "data", {"source": "tsv", "path": str(folder / "data.tsv")}, LENGTH, seed=1)
    split(str(folder / "data" / "codes.npy"), str(folder / "manifest.tsv"), str(folder / "summary.json"), 0.2, 0.2,
          seed=1)
    return folder


def small_model(length: int = LENGTH, **spec) -> SequenceModel:
    settings = {"channels": 8, "n_blocks": 1, "first_kernel_size": 5, "kernel_size": 3, "pool_size": 2, **spec}
    return SequenceModel(ModelSpec(length=length, **settings), 3)


def save_pretrained(path: Path, model: SequenceModel, length: int = LENGTH, objective: str = "supervised") -> Path:
    save_model(model, path, {"role": "pretrained", "objective": objective, "classes": ["m1", "m2", "m3"],
                             "length": length, "validation": {"best_epoch": 1}})
    return path


def finetune_case(tmp_path: Path, target: Path, pretrained: Path, names: str, where: str, fix: str,
                  strategy: str = "full", training: dict | None = None) -> Expect:
    run = tmp_path / "run"
    outputs = [run / "model.safetensors", run / "model.json", run / "history.tsv", run / "train_ids.tsv"]
    argv = ["finetune", "--codes", str(target / "data" / "codes.npy"), "--manifest", str(target / "manifest.tsv"),
            "--weights", str(outputs[0]), "--history", str(outputs[2]), "--train-ids", str(outputs[3]),
            "--strategy", strategy, "--train-size", "10", "--seed", "1",
            "--training", json.dumps(training or {"max_epochs": 1})]
    if strategy != "scratch":
        argv += ["--pretrained", str(pretrained)]
    else:
        argv += ["--model", json.dumps({"channels": 8, "n_blocks": 1})]
    return Expect(argv, names, where, fix, outputs)


# ------------------------------------------------------------------------------------------------------ the cases
def case_empty_fasta(tmp_path, target):
    return fasta_case(tmp_path, "", "bad.fa", "no FASTA records", "Give one '>id label=<class>' header")


def case_header_without_sequence(tmp_path, target):
    return fasta_case(tmp_path, f">a label=x\n{dna()}\n>b label=y\n>c label=y\n{dna()}\n", "bad.fa",
                      "line 3, record 'b'", "remove the header or add its sequence")


def case_duplicate_ids(tmp_path, target):
    return fasta_case(tmp_path, f">a label=x\n{dna()}\n>a label=y\n{dna()}\n", "bad.fa",
                      "line 3: duplicate id 'a' (first at line 1)", "rename or remove one of them")


def case_truncated_gzip(tmp_path, target):
    text = "".join(f">s{i} label={'xy'[i % 2]}\n{dna()}\n" for i in range(400))
    return fasta_case(tmp_path, gzip.compress(text.encode())[:2000], "bad.fa.gz", "after line",
                      "is it a text file, or a truncated or corrupt gzip file? Test it with 'gzip -t'",
                      name="bad.fa.gz")


def case_letter_outside_strict_alphabet(tmp_path, target):
    sequence = dna()
    return fasta_case(tmp_path, f">a label=x\n{dna()}\n>b label=y\n{sequence[:4]}N{sequence[5:]}\n", "bad.fa",
                      "line 3, record 'b', position 5: letter 'N'", "only A, C, G, T are accepted under ambiguous: "
                      "error; set ambiguous: allow", ambiguous="error")


def case_letter_that_is_not_dna(tmp_path, target):
    sequence = dna()
    return fasta_case(tmp_path, f">a label=x\n{dna()}\n>b label=y\n{sequence[:9]}1{sequence[10:]}\n", "bad.fa",
                      "line 3, record 'b', position 10: letter '1'", "use A, C, G, T or an IUPAC ambiguity code")


def case_mixed_lengths(tmp_path, target):
    return fasta_case(tmp_path, f">a label=x\n{dna()}\n>b label=y\n{dna(LENGTH + 7)}\n", "bad.fa",
                      f"line 3, record 'b': length {LENGTH + 7} differs from the required {LENGTH}",
                      "set length_policy to center_crop, pad or crop_or_pad")


def case_longer_than_pad_policy(tmp_path, target):
    return fasta_case(tmp_path, f">a label=x\n{dna(20)}\n>b label=y\n{dna(LENGTH + 1)}\n", "bad.fa",
                      "record 'b': length 31", "set length_policy: crop_or_pad", length_policy="pad")


def case_fasta_without_labels(tmp_path, target):
    return fasta_case(tmp_path, f">a\n{dna()}\n>b\n{dna()}\n", "bad.fa", "line 1, record 'a': missing label",
                      "add 'label=<class>' to its header or give a labels table")


def case_labels_table_lacks_an_id(tmp_path, target):
    (tmp_path / "labels.tsv").write_text("id\tlabel\na\tx\n")
    return fasta_case(tmp_path, f">a\n{dna()}\n>b\n{dna()}\n", "bad.fa", "line 3, record 'b': no label for this id "
                      "in", "add a row for it there", labels=str(tmp_path / "labels.tsv"))


def case_tsv_with_an_empty_label(tmp_path, target):
    return table_case(tmp_path, "bad.tsv", f"id\tsequence\tlabel\na\t{dna()}\tx\nb\t{dna()}\t\n", "bad.tsv",
                      "line 3, record 'b': missing label", "fill in column 'label'")


def case_missing_label_column(tmp_path, target):
    return table_case(tmp_path, "bad.tsv", f"id\tsequence\tclass\na\t{dna()}\tx\n", "bad.tsv",
                      "missing column(s) label (label); found id, sequence, class", "Rename the header or set "
                      "label_column")


def case_one_class_only(tmp_path, target):
    return fasta_case(tmp_path, f">a label=x\n{dna()}\n>b label=x\n{dna()}\n", "bad.fa", "the label 'x'",
                      "a classifier needs at least two classes")


def case_unknown_split_value(tmp_path, target):
    return fasta_case(tmp_path, f">a label=x split=train\n{dna()}\n>b label=y split=tset\n{dna()}\n", "bad.fa",
                      "line 3, record 'b': split 'tset'", "give every record one of them")


def case_csv_with_the_wrong_delimiter(tmp_path, target):
    return table_case(tmp_path, "data.csv", f"id\tsequence\tlabel\na\t{dna()}\tx\nb\t{dna()}\ty\n", "data.csv",
                      "line 1: the header is one comma-separated column but holds tabs", "rename it to .tsv")


def case_csv_with_the_wrong_header(tmp_path, target):
    return table_case(tmp_path, "data.csv", f"name,seq,class\na,{dna()},x\nb,{dna()},y\n", "data.csv",
                      "missing column(s) id (id), sequence (sequence), label (label); found name, seq, class",
                      "Rename the header or set id_column, sequence_column, label_column")


def case_binary_file(tmp_path, target):
    return fasta_case(tmp_path, b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "bad.fa", "byte 0x89 at offset 0",
                      "give a FASTA, TSV/CSV or BED text file")


def case_bzip2_instead_of_gzip(tmp_path, target):
    return fasta_case(tmp_path, bz2.compress(GOOD.encode()), "bad.fa.bz2", "bzip2-compressed",
                      "decompress it or recompress it with gzip", name="bad.fa.bz2")


def case_bed_interval_off_the_chromosome_end(tmp_path, target):
    return bed_case(tmp_path, "chr1\t100\t120\ta\nchr2\t190\t230\tb\n", "bad.bed",
                    "line 2: interval chr2:190-230 ends past the end of chr2 (length 200)",
                    "Use the matching genome or remove the line")


def case_bed_chromosome_not_in_the_genome(tmp_path, target):
    return bed_case(tmp_path, "chr1\t100\t120\ta\n\nchrX\t100\t120\tb\n", "bad.bed",
                    "line 3: chromosome 'chrX' is not in the genome", "use the genome the BED file was made for")


def case_bed_end_before_start(tmp_path, target):
    return bed_case(tmp_path, "chr1\t100\t120\ta\nchr1\t150\t140\tb\n", "bad.bed",
                    "line 2: interval chr1:150-140", "BED starts are 0-based and ends exclusive")


def case_test_class_absent_from_training(tmp_path, target):
    rows = [f"s{i}\t{dna()}\t{'ab'[i % 2]}\t{['train', 'validation', 'test'][i % 3]}" for i in range(12)]
    rows.append(f"only_c\t{dna()}\tc\ttest")
    table = tmp_path / "data.tsv"
    table.write_text("id\tsequence\tlabel\tsplit\n" + "\n".join(rows) + "\n")
    assert main(ingest(tmp_path, {"source": "tsv", "path": str(table)})) == 0
    codes = tmp_path / "out" / "codes.npy"
    outputs = [tmp_path / "manifest.tsv", tmp_path / "summary.json"]
    return Expect(["split", "--codes", str(codes), "--manifest", str(outputs[0]), "--summary", str(outputs[1]),
                   "--method", "column", "--seed", "1"], "out/labels.tsv",
                  "class(es) ['c'] occur in the test split but not in training",
                  "change the split settings", outputs)


def case_train_size_larger_than_the_data(tmp_path, target):
    outputs = [tmp_path / "manifest.tsv", tmp_path / "summary.json"]
    return Expect(["split", "--codes", str(target / "data" / "codes.npy"), "--manifest", str(outputs[0]),
                   "--summary", str(outputs[1]), "--seed", "1", "--largest-train-size", "500"], "labels.tsv",
                  "finetune.train_sizes: 500 is more than the 36 training examples", "lower the largest train size",
                  outputs)


def case_corrupted_weights(tmp_path, target):
    path = save_pretrained(tmp_path / "pre.safetensors", small_model())
    path.write_bytes(path.read_bytes()[:120])
    return finetune_case(tmp_path, target, path, "pre.safetensors", "not a readable safetensors file",
                         "delete it and rerun the step that writes it")


def case_weights_from_another_architecture(tmp_path, target):
    path = save_pretrained(tmp_path / "pre.safetensors", small_model(channels=8))
    other = save_pretrained(tmp_path / "other.safetensors", small_model(channels=16))
    path.write_bytes(other.read_bytes())  # the weights of one model beside the sidecar of another
    return finetune_case(tmp_path, target, path, "pre.safetensors",
                         "is (16, 4, 5) but the architecture needs (8, 4, 5)",
                         "retrain it or pair it with its own sidecar")


def case_weights_that_are_a_pickle(tmp_path, target):
    path = tmp_path / "pre.pt"
    torch.save(small_model().state_dict(), path)
    return finetune_case(tmp_path, target, path, "pre.pt", "a PyTorch .pt/.pth file", "Convert it once")


def case_weights_without_their_sidecar(tmp_path, target):
    path = save_pretrained(tmp_path / "pre.safetensors", small_model())
    (tmp_path / "pre.json").unlink()
    return finetune_case(tmp_path, target, path, "pre.safetensors", "its sidecar", "keep the .json that seqtune wrote")


def case_weights_with_nan(tmp_path, target):
    model = small_model()
    with torch.no_grad():
        next(model.parameters())[0] = float("nan")
    path = save_pretrained(tmp_path / "pre.safetensors", model)
    return finetune_case(tmp_path, target, path, "pre.safetensors", "holds NaN or infinite values", "retrain them")


def case_pretrained_model_of_another_length(tmp_path, target):
    path = save_pretrained(tmp_path / "pre.safetensors", small_model(length=40, architecture="mlp"), length=40)
    return finetune_case(tmp_path, target, path, "pre.safetensors",
                         "trained on length 40 with architecture mlp", "make sequence_length equal")


def case_training_setting_of_the_wrong_type(tmp_path, target):
    return finetune_case(tmp_path, target, tmp_path, "training.learning_rate", "'fast' has the wrong type",
                         "write a number", strategy="scratch", training={"learning_rate": "fast"})



# ------------------------------------------------------------------- issue #23: mistakes beyond the first catalogue
def table_rows(n: int = 12, label=lambda i: "ab"[i % 2], ident=lambda i: f"s{i}", sep: str = "\t") -> str:
    return "".join(f"{ident(i)}{sep}{dna()}{sep}{label(i)}\n" for i in range(n))


def copy_target(tmp_path: Path, target: Path) -> Path:
    """A copy of the target's data set folder (and manifest) that a case may break; returns the folder."""
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(target / "data", folder)
    shutil.copy(target / "manifest.tsv", tmp_path / "manifest.tsv")
    return folder


def split_argv(codes: Path, manifest: Path, summary: Path) -> list[str]:
    return ["split", "--codes", str(codes), "--manifest", str(manifest), "--summary", str(summary), "--seed", "1"]


def predict_argv(tmp_path: Path, input_path: Path, output: Path) -> list[str]:
    weights = tmp_path / "model.safetensors"  # a fine-tuned model's (a pretrained one is refused: see the case)
    save_model(small_model(), weights, {"role": "finetuned", "classes": ["a", "b", "c"], "length": LENGTH,
                                        "task": "multiclass", "validation": {"best_epoch": 1}})
    return ["predict", "--weights", str(weights), "--input", str(input_path), "--output", str(output)]


def case_fasta_label_with_a_space(tmp_path, target):
    text = "".join(f">s{i} label={['TF bound', 'TF unbound', 'none'][i % 3]}\n{dna()}\n" for i in range(9))
    return fasta_case(tmp_path, text, "bad.fa", "line 1, record 's0': 'label=TF' is followed by 'bound'",
                      "write label=TF_bound without spaces")


def case_csv_with_a_stray_quote(tmp_path, target):
    """The issue's case: a quote opened on one line and one closed five lines later took the rows between them into
    one id (35 of 40 rows were imported, with rc 0)."""
    rows = table_rows(40, sep=",").splitlines()
    rows[5] = '"' + rows[5]
    rows[10] = rows[10].replace(",", '",', 1)
    return table_case(tmp_path, "bad.csv", "id,sequence,label\n" + "\n".join(rows) + "\n", "bad.csv",
                      "line 7: a double quote in column 'id'", "remove the stray quote")


def case_csv_with_a_quote_never_closed(tmp_path, target):
    rows = table_rows(40, sep=",").splitlines()
    rows[5] = '"' + rows[5]
    return table_case(tmp_path, "bad.csv", "id,sequence,label\n" + "\n".join(rows) + "\n", "bad.csv",
                      "line 7: a double quote opens a quoted field that is never closed", "remove the stray quote")


def case_tsv_with_a_quote_left_open_in_a_label(tmp_path, target):
    rows = table_rows(10).splitlines()
    rows[2] = rows[2][:-1] + '"b'
    return table_case(tmp_path, "bad.tsv", "id\tsequence\tlabel\n" + "\n".join(rows) + "\n", "bad.tsv",
                      "line 4: a double quote opens a quoted field that is never closed", "remove the stray quote")


def case_label_holding_a_tab_in_quotes(tmp_path, target):
    return table_case(tmp_path, "bad.csv", f'id,sequence,label\na,{dna()},x\nb,{dna()},"y\tz"\n', "bad.csv",
                      "line 3, record 'b': label 'y\\tz' holds a tab", "write the class name on one line")


def case_tsv_id_with_a_space(tmp_path, target):
    return table_case(tmp_path, "bad.tsv", "id\tsequence\tlabel\n" + table_rows(ident=lambda i: f"seq {i}"),
                      "bad.tsv", "line 2, record 'seq 0': the id holds a space", "replace it (e.g. with '_')")


def case_bed_name_with_a_space_as_id(tmp_path, target):
    genome = make_genome(tmp_path)
    bed = tmp_path / "bad.bed"
    bed.write_text("chr1\t100\t120\tpeak one\t0\t+\nchr1\t150\t170\tpeak two\t0\t+\n")
    return Expect(ingest(tmp_path, {"source": "bed", "path": str(bed), "genome": str(genome), "id_column": 4,
                                    "label_column": 6}), "bad.bed", "line 1, record 'peak one'",
                  "replace it (e.g. with '_')", dataset_outputs(tmp_path))


def case_a_column_named_twice(tmp_path, target):
    return table_case(tmp_path, "bad.tsv", "id\tsequence\tlabel\tlabel\n" + "".join(
        f"s{i}\t{dna()}\t{'ab'[i % 2]}\tz\n" for i in range(6)), "bad.tsv",
        "line 1: column 'label' appears twice in the header (columns 3 and 4)", "rename or remove the other")


def case_one_number_written_two_ways(tmp_path, target):
    return table_case(tmp_path, "bad.tsv", "id\tsequence\tlabel\n" + table_rows(
        label=lambda i: f"{i % 2}.0" if i < 4 else f"{i % 2}"), "bad.tsv",
        "line 6, record 's4': label '0' is the same number as label '0.0'", "write each class one way")


def case_semicolon_separated_csv(tmp_path, target):
    return table_case(tmp_path, "bad.csv", "id;sequence;label\n" + table_rows(sep=";"), "bad.csv",
                      "line 1: the header is one column holding semicolons", "save it comma-separated as .csv")


def case_blank_line_before_a_duplicate_id(tmp_path, target):
    return table_case(tmp_path, "bad.tsv", f"id\tsequence\tlabel\na\t{dna()}\tx\n\nb\t{dna()}\ty\na\t{dna()}\tx\n",
                      "bad.tsv", "line 5: duplicate id 'a' (first at line 2)", "rename or remove one of them")


def case_empty_table(tmp_path, target):
    return table_case(tmp_path, "bad.tsv", "", "bad.tsv", "the file is empty", "it needs a header line")


def case_table_with_a_header_only(tmp_path, target):
    return table_case(tmp_path, "bad.tsv", "id\tsequence\tlabel\n", "bad.tsv", "has a header but no rows",
                      "add one row per record")


def case_sequence_with_a_space(tmp_path, target):
    return table_case(tmp_path, "bad.tsv", f"id\tsequence\tlabel\na\t{dna(15)} {dna(15)}\tx\n", "bad.tsv",
                      "line 2, record 'a', position 16: letter ' '", "use A, C, G, T or an IUPAC ambiguity code")


def case_protein_instead_of_dna(tmp_path, target):
    return fasta_case(tmp_path, ">a label=x\nMKVLAAGIVQWERTYPLKHGFDSAQWEMKV\n", "bad.fa",
                      "line 1, record 'a', position 4: letter 'L'", "use A, C, G, T or an IUPAC ambiguity code")


def case_fastq_given_as_fasta(tmp_path, target):
    return fasta_case(tmp_path, f"@a\n{dna()}\n+\n{'I' * LENGTH}\n", "bad.fa", "line 1: sequence text before the "
                      "first '>' header", "this is not a FASTA file")


def case_utf16_table(tmp_path, target):
    path = tmp_path / "bad.tsv"
    path.write_bytes(("id\tsequence\tlabel\n" + table_rows()).encode("utf-16"))
    return Expect(ingest(tmp_path, {"source": "tsv", "path": str(path)}), "bad.tsv", "byte 0xff at offset 0",
                  "give a FASTA, TSV/CSV or BED text file", dataset_outputs(tmp_path))


def case_gzip_name_on_a_bzip2_file(tmp_path, target):
    return fasta_case(tmp_path, bz2.compress(GOOD.encode()), "bad.fa.gz", "bzip2-compressed",
                      "decompress it or recompress it with gzip", name="bad.fa.gz")


def case_zip_archive(tmp_path, target):
    import zipfile

    path = tmp_path / "bad.fa"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("bad.fa", GOOD)
    return Expect(ingest(tmp_path, {"source": "fasta", "path": str(path)}), "bad.fa", "zip-compressed",
                  "decompress it", dataset_outputs(tmp_path))


def case_spreadsheet_workbook(tmp_path, target):
    import zipfile

    path = tmp_path / "data.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
    return Expect(ingest(tmp_path, {"source": "tsv", "path": str(path)}), "data.xlsx", "is a spreadsheet workbook",
                  "export the sheet", dataset_outputs(tmp_path))


def case_input_that_is_a_folder(tmp_path, target):
    (tmp_path / "reads.fa").mkdir()
    return Expect(ingest(tmp_path, {"source": "fasta", "path": str(tmp_path / "reads.fa")}), "reads.fa",
                  "is a folder, not a file", "give the path of the input file", dataset_outputs(tmp_path))


def case_genome_that_is_a_folder(tmp_path, target):
    (tmp_path / "genome").mkdir()
    bed = tmp_path / "a.bed"
    bed.write_text("chr1\t100\t120\ta\n")
    return Expect(ingest(tmp_path, {"source": "bed", "path": str(bed), "genome": str(tmp_path / "genome")}),
                  "genome", "is a folder", "'genome' must be the genome FASTA file", dataset_outputs(tmp_path))


def case_labels_table_not_found(tmp_path, target):
    return fasta_case(tmp_path, f">a\n{dna()}\n>b\n{dna()}\n", "labels.tsv", "file not found", "check the path",
                      labels=str(tmp_path / "labels.tsv"))


def case_labels_table_with_an_id_twice_but_for_a_space(tmp_path, target):
    (tmp_path / "labels.tsv").write_text("id\tlabel\na\tx\nb\ty\na \ty\n")
    return fasta_case(tmp_path, f">a\n{dna()}\n>b\n{dna()}\n", "labels.tsv", "line 4: duplicate id 'a '",
                      "each id needs exactly one label", labels=str(tmp_path / "labels.tsv"))


def case_bed_with_a_header_line(tmp_path, target):
    return bed_case(tmp_path, "chrom\tstart\tend\tname\nchr1\t100\t120\ta\n", "bad.bed",
                    "line 1: start 'start' and end 'end' must be whole numbers", "remove it if it is a header")


def case_bed_with_decimal_coordinates(tmp_path, target):
    return bed_case(tmp_path, "chr1\t100\t120\ta\nchr1\t150.0\t170.0\tb\n", "bad.bed",
                    "line 2: start '150.0' and end '170.0' must be whole numbers", "fix the line")


def case_bed_strand_written_as_a_number(tmp_path, target):
    return bed_case(tmp_path, "chr1\t100\t120\ta\t0\t1\nchr1\t150\t170\tb\t0\t-1\n", "bad.bed",
                    "line 1: strand '1' (column 6)", "must be '+', '-' or '.'")


def case_bed_line_with_two_fields(tmp_path, target):
    return bed_case(tmp_path, "chr1\t100\t120\ta\nchr1\t150\n", "bad.bed", "line 2: a BED line needs at least 3 "
                    "fields", "fix or remove the line")


def case_out_dir_holding_other_files(tmp_path, target):
    table = tmp_path / "data.tsv"
    table.write_text("id\tsequence\tlabel\n" + table_rows())
    notes = tmp_path / "out" / "notes.txt"
    notes.parent.mkdir()
    notes.write_text("mine")
    return Expect(ingest(tmp_path, {"source": "tsv", "path": str(table)}), "out",
                  "holds files that are not part of a data set (notes.txt)", "give a new or empty folder",
                  dataset_outputs(tmp_path)[1:], keep(notes))


def case_out_dir_that_is_a_file(tmp_path, target):
    table = tmp_path / "data.tsv"
    table.write_text("id\tsequence\tlabel\n" + table_rows())
    (tmp_path / "out").write_text("a file")
    return Expect(ingest(tmp_path, {"source": "tsv", "path": str(table)}), "out", "is a file, not a folder",
                  "choose another output path", unchanged=keep(tmp_path / "out"))


def case_ingest_out_dir_holding_its_input(tmp_path, target):
    table = tmp_path / "out" / "labels.tsv"
    table.parent.mkdir()
    table.write_text("id\tsequence\tlabel\n" + table_rows())
    return Expect(ingest(tmp_path, {"source": "tsv", "path": str(table)}), "out/labels.tsv (--out-dir)",
                  "is also an input of this step (--spec reads", "give --out-dir another path",
                  unchanged=keep(table))


def case_predict_output_naming_its_input(tmp_path, target):
    fasta = tmp_path / "new.fa"
    fasta.write_text(GOOD)
    return Expect(predict_argv(tmp_path, fasta, fasta), "new.fa (--output)", "is also an input of this step "
                  "(--input reads", "give --output another path", unchanged=keep(fasta))


def case_predict_output_naming_the_input_through_a_link(tmp_path, target):
    fasta = tmp_path / "new.fa"
    fasta.write_text(GOOD)
    (tmp_path / "link.fa").symlink_to(fasta)
    return Expect(predict_argv(tmp_path, tmp_path / "link.fa", fasta), "new.fa (--output)",
                  "link.fa, which is the same file", "give --output another path", unchanged=keep(fasta))


def case_predict_output_naming_the_models_sidecar(tmp_path, target):
    fasta = tmp_path / "new.fa"
    fasta.write_text(GOOD)
    argv = predict_argv(tmp_path, fasta, tmp_path / "model.json")
    return Expect(argv, "model.json (--output)", "(--weights reads", "give --output another path",
                  unchanged=keep(tmp_path / "model.json", tmp_path / "model.safetensors"))


def case_predict_output_that_is_a_pipe(tmp_path, target):
    import os

    fasta = tmp_path / "new.fa"
    fasta.write_text(GOOD)
    os.mkfifo(tmp_path / "pipe")
    return Expect(predict_argv(tmp_path, fasta, tmp_path / "pipe"), "pipe", "is not a regular file",
                  "give a file name for the output")


def case_finetune_weights_over_the_pretrained_model(tmp_path, target):
    path = save_pretrained(tmp_path / "pre.safetensors", small_model())
    expect = finetune_case(tmp_path, target, path, "pre.safetensors (--weights)",
                           "is also an input of this step (--pretrained reads", "give --weights another path")
    expect.argv[expect.argv.index("--weights") + 1] = str(path)
    expect.outputs = expect.outputs[2:]
    expect.unchanged = keep(path, tmp_path / "pre.json")
    return expect


def case_finetune_history_and_train_ids_in_one_file(tmp_path, target):
    expect = finetune_case(tmp_path, target, tmp_path, "history.tsv", "given to both --history and --train-ids",
                           "give each output its own path", strategy="scratch")
    expect.argv[expect.argv.index("--train-ids") + 1] = expect.argv[expect.argv.index("--history") + 1]
    return expect


def case_finetune_history_that_is_a_folder(tmp_path, target):
    expect = finetune_case(tmp_path, target, tmp_path, "history.tsv (--history)", "is a folder",
                           "give a file name for the output", strategy="scratch")
    (tmp_path / "run" / "history.tsv").mkdir(parents=True)
    expect.outputs = [path for path in expect.outputs if path.name != "history.tsv"]
    return expect


def case_split_manifest_over_the_data_sets_labels(tmp_path, target):
    folder = copy_target(tmp_path, target)
    return Expect(split_argv(folder / "codes.npy", folder / "labels.tsv", tmp_path / "summary.json"),
                  "labels.tsv (--manifest)", "(--codes reads", "give --manifest another path",
                  [tmp_path / "summary.json"], keep(folder / "labels.tsv"))


def case_split_manifest_and_summary_in_one_file(tmp_path, target):
    return Expect(split_argv(target / "data" / "codes.npy", tmp_path / "split.tsv", tmp_path / "split.tsv"),
                  "split.tsv", "given to both --manifest and --summary", "give each output its own path",
                  [tmp_path / "split.tsv"])


def case_split_output_under_a_file(tmp_path, target):
    (tmp_path / "results").write_text("a file")
    manifest = tmp_path / "results" / "manifest.tsv"
    return Expect(split_argv(target / "data" / "codes.npy", manifest, tmp_path / "summary.json"),
                  "manifest.tsv (--manifest)", "results is a file, not a folder", "choose another output path",
                  [tmp_path / "summary.json"])


def case_split_output_name_too_long(tmp_path, target):
    manifest = tmp_path / ("m" * 300 + ".tsv")
    return Expect(split_argv(target / "data" / "codes.npy", manifest, tmp_path / "summary.json"),
                  "m" * 300 + ".tsv", "File name too long", "shorten the path", [tmp_path / "summary.json"])


def case_split_output_folder_not_writable(tmp_path, target):
    import os

    if os.geteuid() == 0:
        pytest.skip("root can write to any folder")
    (tmp_path / "locked").mkdir(mode=0o500)
    return Expect(split_argv(target / "data" / "codes.npy", tmp_path / "locked" / "manifest.tsv",
                             tmp_path / "summary.json"), "manifest.tsv (--manifest)", "cannot be written",
                  "choose a folder you can write to", [tmp_path / "summary.json"])


def case_split_of_a_fasta_file(tmp_path, target):
    fasta = tmp_path / "reads.fa"
    fasta.write_text(GOOD)
    return Expect(split_argv(fasta, tmp_path / "m.tsv", tmp_path / "s.json"), "reads.fa",
                  "not the codes.npy of a data set folder", "give the codes.npy that seqtune ingest",
                  [tmp_path / "m.tsv", tmp_path / "s.json"])


def case_codes_that_are_not_an_array(tmp_path, target):
    folder = copy_target(tmp_path, target)
    (folder / "codes.npy").write_text("not an array")
    return Expect(split_argv(folder / "codes.npy", tmp_path / "m.tsv", tmp_path / "s.json"), "codes.npy",
                  "not a NumPy array file", "rerun the step that writes it", [tmp_path / "m.tsv", tmp_path / "s.json"])


def case_labels_table_of_the_data_set_is_binary(tmp_path, target):
    folder = copy_target(tmp_path, target)
    (folder / "labels.tsv").write_bytes(b"id\tlabel\n\xff\xfe\x00garbage\n")
    return Expect(split_argv(folder / "codes.npy", tmp_path / "m.tsv", tmp_path / "s.json"), "labels.tsv",
                  "not a UTF-8 text table", "rerun the step that writes it", [tmp_path / "m.tsv", tmp_path / "s.json"])


def case_manifest_of_another_data_set(tmp_path, target):
    rows = "".join(f"o{i}\t{dna()}\t{'ab'[i % 2]}\n" for i in range(60))
    (tmp_path / "other.tsv").write_text("id\tsequence\tlabel\n" + rows)
    assert main(ingest(tmp_path, {"source": "tsv", "path": str(tmp_path / "other.tsv")})) == 0
    expect = finetune_case(tmp_path, target, tmp_path, "manifest.tsv", "does not cover the data set's ids",
                           "rerun the split step on this data set", strategy="scratch")
    expect.argv[expect.argv.index("--codes") + 1] = str(tmp_path / "out" / "codes.npy")
    return expect


def case_manifest_edited_by_hand(tmp_path, target):
    folder = copy_target(tmp_path, target)
    manifest = tmp_path / "manifest.tsv"
    manifest.write_text(manifest.read_text().replace("\ttest\t", "\ttset\t", 1))
    expect = finetune_case(tmp_path, target, tmp_path, "manifest.tsv", "split value(s) ['tset']",
                           "rerun the split step", strategy="scratch")
    expect.argv[expect.argv.index("--codes") + 1] = str(folder / "codes.npy")
    expect.argv[expect.argv.index("--manifest") + 1] = str(manifest)
    return expect


def case_decision_from_a_broken_metrics_file(tmp_path, target):
    fasta = tmp_path / "new.fa"
    fasta.write_text(GOOD)
    (tmp_path / "metrics.json").write_text('{"decision": 1')
    argv = predict_argv(tmp_path, fasta, tmp_path / "out.tsv") + ["--decision-from", str(tmp_path / "metrics.json")]
    return Expect(argv, "metrics.json", "not valid JSON", "rerun the step that writes it", [tmp_path / "out.tsv"])

# ------------------------------------------------- mistakes tried as a new user (issue 23, docs/inputs.md)
def case_comment_line_above_the_table_header(tmp_path, target):
    """Was: 'a field beyond the 1 columns of the header', advice about quoting that did not apply."""
    return table_case(tmp_path, "bad.tsv", "# exported from my pipeline\nid\tsequence\tlabel\n" + table_rows(),
                      "bad.tsv", "line 1: a comment line ('# exported from my pipeline') above the header",
                      "delete the comment line(s) above it")


def case_fasta_given_as_a_table(tmp_path, target):
    """Was: 'missing column(s) id, sequence, label; ... Rename the header', the wrong fix for a FASTA file."""
    return table_case(tmp_path, "bad.fa", GOOD, "bad.fa", "line 1: '>a label=x' is a FASTA header",
                      "set source: fasta")


def case_fasta_named_txt_given_to_predict(tmp_path, target):
    """predict reads a .txt as a table; a FASTA saved as .txt got the table's missing-column advice."""
    fasta = tmp_path / "new.txt"
    fasta.write_text(GOOD)
    return Expect(predict_argv(tmp_path, fasta, tmp_path / "out.tsv"), "new.txt", "'>a label=x' is a FASTA header",
                  "name the file .fa or .fasta", [tmp_path / "out.tsv"])


def case_predict_with_a_masked_pretrained_model(tmp_path, target):
    """Was accepted: a masked-nucleotide model's per-base outputs were written as class probabilities of the new
    sequences. (A supervised pretrained model predicts its own task's classes, as its columns say: allowed.)"""
    fasta = tmp_path / "new.fa"
    fasta.write_text(GOOD)
    weights = save_pretrained(tmp_path / "pre.safetensors", small_model(), objective="masked")
    return Expect(["predict", "--weights", str(weights), "--input", str(fasta), "--output", str(tmp_path / "out.tsv")],
                  "pre.safetensors", "is a masked-nucleotide pretrained model", "give the weights of a fine-tuned model",
                  [tmp_path / "out.tsv"])


def case_bed_interval_in_an_assembly_gap(tmp_path, target):
    """Was accepted: a window of N only became a labelled training example with no sequence."""
    genome = tmp_path / "genome.fa"
    genome.write_text(f">chr1\n{dna(100)}{'N' * 100}{dna(100)}\n")
    bed = tmp_path / "peaks.bed"
    bed.write_text("chr1\t40\t50\tx\nchr1\t145\t155\ty\nchr1\t250\t260\ty\n")
    return Expect(ingest(tmp_path, {"source": "bed", "path": str(bed), "genome": str(genome)}), "peaks.bed",
                  "line 2, record 'chr1:145-155(.)': every base of the record is N (the window lies in a run of N",
                  "remove it from the input", dataset_outputs(tmp_path))


def case_weights_given_as_the_run_folder(tmp_path, target):
    """Was: 'weights file not found' for a folder that exists."""
    fasta = tmp_path / "new.fa"
    fasta.write_text(GOOD)
    argv = predict_argv(tmp_path, fasta, tmp_path / "out.tsv")
    argv[argv.index("--weights") + 1] = str(tmp_path)
    return Expect(argv, str(tmp_path), "is a folder", "give the weights file in it", [tmp_path / "out.tsv"])


CASES = {name[len("case_"):]: function for name, function in sorted(globals().items()) if name.startswith("case_")}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_gives_one_clear_message_and_no_output(name, tmp_path, target, capsys):
    expect = CASES[name](tmp_path, target)
    capsys.readouterr()
    status = main(expect.argv)
    stderr = capsys.readouterr().err
    assert status == 2, stderr
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1, stderr  # one message, on one line
    message = errors[0]
    assert message.startswith(f"seqtune {expect.argv[0]}: error: "), message
    for part in ("names", "where", "fix"):
        assert getattr(expect, part) in message, f"{part} {getattr(expect, part)!r} not in: {message}"
    left = [str(path) for path in expect.outputs if path.exists() and not (path.is_dir() and not any(path.iterdir()))]
    assert not left, f"partial output left behind: {left}"
    for path, content in expect.unchanged.items():
        assert path.read_bytes() == content, f"{path} was changed"
    partial = [str(path) for path in tmp_path.rglob(".*") if ".partial-" in path.name or path.name.endswith(".tmp")]
    assert not partial, f"temporary files left behind: {partial}"


# ----------------------------------------------------------------------------------------- line endings are fine
@pytest.mark.parametrize("source", ["fasta", "tsv", "bed", "csv"])
def test_windows_line_endings_give_the_same_data_set_as_unix_ones(tmp_path, source):
    """A mature tool accepts CRLF files (Windows editors, Excel exports, with their byte-order mark): the data set is
    byte-identical to the one from LF."""
    genome = make_genome(tmp_path)
    text = {"fasta": "".join(f">s{i} label={'xy'[i % 2]}\n{dna()}\n" for i in range(6)),
            "tsv": "id\tsequence\tlabel\n" + "".join(f"s{i}\t{dna()}\t{'xy'[i % 2]}\n" for i in range(6)),
            "csv": "id,sequence,label\n" + "".join(f"s{i},{dna()},{'xy'[i % 2]}\n" for i in range(6)),
            "bed": "".join(f"chr1\t{40 * i + 40}\t{40 * i + 50}\t{'xy'[i % 2]}\n" for i in range(6))}[source]
    folders = {}
    for name, newline, start in (("lf", "\n", b""), ("crlf", "\r\n", b"\xef\xbb\xbf" if source == "csv" else b"")):
        path = tmp_path / f"{name}.{source}"
        path.write_bytes(start + text.replace("\n", newline).encode())
        spec = {"source": "tsv" if source == "csv" else source, "path": str(path),
                **({"genome": str(genome)} if source == "bed" else {})}
        assert main(ingest(tmp_path / name, spec)) == 0
        folders[name] = tmp_path / name / "out"
    for file in ("codes.npy", "labels.tsv", "sequences.fasta"):
        assert (folders["lf"] / file).read_bytes() == (folders["crlf"] / file).read_bytes(), file


# ---------------------------------------------------------------------------------------------------- config cases
def tiny_config() -> dict:
    return yaml.safe_load((REPO / "tests" / "configs" / "tiny.yaml").read_text())


def check_like_the_workflow(config: dict) -> None:
    """What ``workflow/rules/common.smk`` does with a config before any job: raises SeqtuneError."""
    from snakemake.utils import validate

    problems = schema_problems(config, str(SCHEMA))
    if problems:
        raise SeqtuneError("config error:\n  " + "\n  ".join(problems))
    validate(config, schema=str(SCHEMA))
    check_config(config)


def edit(path: str, value):
    def apply(config):
        *parents, last = path.split(".")
        node = config
        for key in parents:
            node = node[key]
        node[last] = value
    return apply


def rename(path: str, new: str):
    def apply(config):
        *parents, last = path.split(".")
        node = config
        for key in parents:
            node = node[key]
        node[new] = node.pop(last)
    return apply


# (id, edit, the key named, the fix)
CONFIG_CASES = [
    ("config value of the wrong type", edit("finetune.train_sizes", "100"), "finetune.train_sizes: '100' has the "
     "wrong type", "write a list, e.g. [a, b]"),
    ("number written as text", edit("finetune.training.learning_rate", "fast"), "finetune.training.learning_rate",
     "write a number"),
    ("number in scientific notation (YAML 1.1 reads 5e-3 as text)", edit("finetune.training.learning_rate", "5e-3"),
     "finetune.training.learning_rate: '5e-3' has the wrong type", "write 0.005 or 5.0e-03"),
    ("train size of 0", edit("finetune.train_sizes", [0]), "finetune.train_sizes.0: 0 is out of range",
     "set it to at least 1"),
    ("train size larger than the data", edit("finetune.train_sizes", [60, 5000]),
     "finetune.train_sizes: [5000] exceed the ~250 training examples", "lower them or raise"),
    ("unknown strategy", edit("finetune.strategies", ["scratch", "fulll"]), "finetune.strategies.1: 'fulll'",
     "choose one of scratch, full"),
    ("unknown JASPAR ID", edit("datasets.target.required", ["MA0139.2", "MA9999.1"]),
     "datasets.target.required: unknown JASPAR matrix ID 'MA9999.1'", "use a versioned ID such as MA0139.2"),
    ("config key typo", rename("finetune.train_sizes", "train_size"), "finetune: Additional properties are not "
     "allowed ('train_size' was unexpected)", "check the spelling. Known keys here:"),
    ("unknown split method", edit("split.method", "random"), "split.method: 'random' is not allowed",
     "choose one of stratified, chromosome, similarity, column"),
    ("results path that is absolute", edit("results", "/tmp/seqtune-results"), "results: '/tmp/seqtune-results'",
     "a relative folder inside the working directory"),
    ("results path with ..", edit("results", "results/../../elsewhere"), "results: 'results/../../elsewhere'",
     "not absolute, no '..' part"),
    ("a seed listed twice", edit("finetune.seeds", [1, 1]), "finetune.seeds: [1, 1] lists a value more than once",
     "list each value once"),
    ("YAML yes/no as labels of per-class BED files (read as true/false)",
     edit("datasets.peaks", {"source": "bed", "paths": {True: "bound.bed", False: "unbound.bed"}, "genome": "g.fa"}),
     "datasets.peaks.paths: a label key reads as True", "quote each label: 'yes': pos.bed"),
]


@pytest.mark.parametrize("name, change, names, fix", CONFIG_CASES, ids=[case[0] for case in CONFIG_CASES])
def test_bad_config_value_names_the_key_and_the_fix(name, change, names, fix):
    config = tiny_config()
    change(config)
    with pytest.raises(SeqtuneError) as caught:
        check_like_the_workflow(config)
    lines = [line.strip() for line in str(caught.value).splitlines() if line.strip() != "config error:"]
    assert len(lines) == 1, lines  # one problem, one line
    assert names in lines[0] and fix in lines[0], lines[0]


def test_check_config_alone_keeps_results_inside_the_working_folder():
    """The rule holds without the schema too (seqtune used as a library or a module with its own validation)."""
    for bad in ("/abs/results", "..", "results/../..", "~/results", "C:/results", ""):
        config = tiny_config()
        config["results"] = bad
        with pytest.raises(SeqtuneError, match="results: .* is not allowed; write a relative folder"):
            check_config(config)
    from seqtune.config import check_results_folder

    for good in ("results", "results/study2", "./results", "."):
        check_results_folder(good)


@pytest.mark.slow
@pytest.mark.parametrize("results", ["/tmp/seqtune-escape", "../escape"])
def test_the_workflow_refuses_a_results_folder_outside_the_working_folder(tmp_path, results):
    config = tiny_config()
    config["results"] = results
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "config.yaml").write_text(yaml.safe_dump(config))
    process = snakemake(tmp_path / "work", "--configfile", str(tmp_path / "work" / "config.yaml"), "-n",
                        check=False)
    output = process.stdout + process.stderr
    assert process.returncode != 0
    assert f"results: '{results}' is not allowed here" in output, output[-2000:]
    assert "Traceback" not in output
    assert not (tmp_path / "escape").exists() and not Path("/tmp/seqtune-escape").exists()
    assert not (tmp_path / "work" / "results").exists()


# ------------------------------------------------------------------------------------------------- diverging loss
@pytest.mark.parametrize("where", ["training", "validation"])
def test_a_nan_loss_stops_training_with_a_clear_error_and_no_weights(where, tmp_path, target, capsys, monkeypatch):
    """A loss that turns NaN (diverging training, extreme inputs) stops the run at once with the fix, instead of
    saving NaN weights that every later step would trip over."""
    import seqtune.train as train

    if where == "training":
        original = train.Supervised.batch_loss
        monkeypatch.setattr(train.Supervised, "batch_loss",
                            lambda self, *args: original(self, *args) * float("nan"))
    else:
        monkeypatch.setattr(train.Supervised, "evaluate", lambda self, *args: (float("nan"), 0.5))
    expect = finetune_case(tmp_path, target, tmp_path, "", f"{where} loss became nan at epoch 1",
                           "lower the learning rate", strategy="scratch", training={"max_epochs": 2})
    capsys.readouterr()
    assert main(expect.argv) == 2
    message = capsys.readouterr().err
    assert expect.where in message and expect.fix in message and "Traceback" not in message, message
    assert not any(path.exists() for path in expect.outputs)


@pytest.mark.parametrize("argv, option", [
    (["predict", "--weights", "w.safetensors", "--input-spec", "{}", "--output", "o.tsv", "--threads", "-1"],
     "--threads"),
    (["simulate", "--out-dir", "d", "--task", "motif_presence", "--n-sequences", "0", "--length", "50", "--seed", "1"],
     "--n-sequences"),
    (["aggregate", "--bootstrap-resamples", "-5"], "--bootstrap-resamples"),
])
def test_a_count_option_out_of_range_is_a_usage_error(tmp_path, capsys, monkeypatch, argv, option):
    """A negative thread count reached torch as a bare RuntimeError; counts are now checked by the parser."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    error = capsys.readouterr().err
    assert f"argument {option}:" in error and "give at least" in error and "Traceback" not in error
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------- variant-effect inputs (issue 22)
# The same contract for `seqtune variant-effect`: one line naming the VCF or genome, the record (its number, line
# and chrom:pos) and the fix, and neither effects table nor summary left behind.
VCF_HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


def vcf_case(tmp_path: Path, rows: list[str], names: str, where: str, fix: str, genome: Path | None = None
             ) -> Expect:
    genome = genome or case_genome(tmp_path)
    weights = tmp_path / "model.safetensors"
    save_model(small_model(), weights, {"classes": ["a", "b", "c"], "length": LENGTH, "task": "multiclass",
                                        "validation": {"best_epoch": 1}})
    vcf = tmp_path / "calls.vcf"
    vcf.write_text(VCF_HEADER + "".join(row + "\n" for row in rows))
    outputs = [tmp_path / "effects.tsv", tmp_path / "effects.json"]
    return Expect(["variant-effect", "--weights", str(weights), "--vcf", str(vcf), "--genome", str(genome),
                   "--output", str(outputs[0]), "--summary", str(outputs[1])], names, where, fix, outputs)


def case_genome(tmp_path: Path) -> Path:
    """The case's genome (made once: make_genome draws new bases on each call)."""
    path = tmp_path / "genome.fa"
    return path if path.exists() else make_genome(tmp_path)


def genome_base(tmp_path: Path, chrom: str, pos: int) -> str:
    lines = case_genome(tmp_path).read_text().split()
    return dict(zip([name[1:] for name in lines[0::2]], lines[1::2]))[chrom][pos - 1]


def snv(tmp_path: Path, chrom: str, pos: int) -> str:
    ref = genome_base(tmp_path, chrom, pos)
    return f"{chrom}\t{pos}\t.\t{ref}\t{'C' if ref != 'C' else 'G'}\t.\t.\t."


def vcf_case_contig_the_genome_lacks(tmp_path, target):
    return vcf_case(tmp_path, [snv(tmp_path, "chr1", 50), "chrX\t20\t.\tA\tC\t.\t.\t."], "calls.vcf",
                    "record 2 (line 4, chrX:20): contig chrX is not in the genome", "rename the VCF's contigs")


def vcf_case_ref_mismatch(tmp_path, target):
    ref = genome_base(tmp_path, "chr1", 60)
    wrong = "A" if ref != "A" else "T"
    return vcf_case(tmp_path, [f"chr1\t60\t.\t{wrong}\tG\t.\t.\t."], "calls.vcf",
                    f"record 1 (line 3, chr1:60): REF {wrong} but the genome", "set ref_mismatch: flag")


def vcf_case_unsorted_positions(tmp_path, target):
    return vcf_case(tmp_path, [snv(tmp_path, "chr1", 80), snv(tmp_path, "chr1", 40)], "calls.vcf",
                    "record 2 (line 4, chr1:40): comes after chr1:80", "bcftools sort")


def vcf_case_contig_revisited(tmp_path, target):
    return vcf_case(tmp_path, [snv(tmp_path, "chr1", 40), snv(tmp_path, "chr2", 40), snv(tmp_path, "chr1", 90)],
                    "calls.vcf", "record 3 (line 5, chr1:90): contig chr1 appears again", "bcftools sort")


def vcf_case_malformed_position(tmp_path, target):
    return vcf_case(tmp_path, [snv(tmp_path, "chr1", 40), "chr1\tforty\t.\tA\tC\t.\t.\t."], "calls.vcf",
                    "record 2 (line 4) cannot be read as VCF: 'chr1\tforty", "fix or delete that line")


def vcf_case_line_without_tabs(tmp_path, target):
    return vcf_case(tmp_path, [snv(tmp_path, "chr1", 40), "chr1 50 . A C . . .", snv(tmp_path, "chr1", 90)],
                    "calls.vcf", "record 2 (line 4) cannot be read as VCF", "fix or delete that line")


def vcf_case_empty_line(tmp_path, target):
    return vcf_case(tmp_path, [snv(tmp_path, "chr1", 40), "", snv(tmp_path, "chr1", 90)], "calls.vcf",
                    "record 2 (line 4) is an empty line", "delete empty lines")


def vcf_case_ref_not_bases(tmp_path, target):
    return vcf_case(tmp_path, ["chr1\t40\t.\tA?\tC\t.\t.\t."], "calls.vcf", "record 1 (line 3, chr1:40): REF 'A?'",
                    "fix the record")


def vcf_case_position_off_the_contig(tmp_path, target):
    return vcf_case(tmp_path, ["chr2\t201\t.\tA\tC\t.\t.\t."], "calls.vcf",
                    "record 1 (line 3, chr2:201): REF A at position 201 lies off chr2, which has 200 nt",
                    "give that genome")


def vcf_case_genome_without_a_usable_index(tmp_path, target):
    """A gzip (not bgzip) genome: no .fai/.gzi can index it for random access."""
    plain = case_genome(tmp_path)
    genome = tmp_path / "genome.fa.gz"
    genome.write_bytes(gzip.compress(plain.read_bytes()))
    return vcf_case(tmp_path, [snv(tmp_path, "chr1", 40)], "genome.fa.gz", "gzip-compressed but not with bgzip",
                    "samtools faidx", genome=genome)


def vcf_case_header_without_the_chrom_line(tmp_path, target):
    """Was a traceback (cyvcf2's bare Exception 'cannot parse VCF header')."""
    expect = vcf_case(tmp_path, [], "calls.vcf", "not a VCF that htslib can read", "#CHROM header line")
    (tmp_path / "calls.vcf").write_text("##fileformat=VCFv4.2\nchr1\t40\t.\tA\tC\t.\t.\t.\n")
    return expect


def vcf_case_not_a_vcf(tmp_path, target):
    expect = vcf_case(tmp_path, [], "calls.vcf", "not a VCF that htslib can read", "give a VCF")
    (tmp_path / "calls.vcf").write_text("chr1\t40\t.\tA\tC\t.\t.\t.\n")  # no header
    return expect


VCF_CASES = {name[len("vcf_case_"):]: function for name, function in sorted(globals().items())
             if name.startswith("vcf_case_")}


@pytest.mark.parametrize("name", list(VCF_CASES))
def test_bad_variant_input_gives_one_clear_message_and_no_output(name, tmp_path, capsys, monkeypatch):
    """Checked by the catalogue's own test, with this case put in its catalogue."""
    monkeypatch.setitem(CASES, name, VCF_CASES[name])
    test_bad_input_gives_one_clear_message_and_no_output(name, tmp_path, None, capsys)


# ------------------------------------------------------------- accepted on purpose (issue #23): the correct result
def test_ids_and_classes_that_look_like_missing_values_are_kept_as_written(tmp_path, capsys):
    """Ids NA, null, None, nan and a class None went through ingest, were read back as NaN and crashed split (or made
    finetune ask for a rerun of the split): every table is now read with missing-value parsing off."""
    from seqtune.data import read_dataset, read_manifest

    ids = ["NA", "null", "None", "nan", "N/A", ""] + [f"s{i}" for i in range(6, 30)]
    ids[5] = "#N/A"
    table = tmp_path / "data.tsv"
    table.write_text("id\tsequence\tlabel\n" + "".join(f"{ids[i]}\t{dna()}\t{['None', 'bound', 'x'][i % 3]}\n"
                                                      for i in range(30)))
    assert main(ingest(tmp_path, {"source": "tsv", "path": str(table)})) == 0
    codes = tmp_path / "out" / "codes.npy"
    assert main(split_argv(codes, tmp_path / "manifest.tsv", tmp_path / "summary.json")) == 0
    data = read_dataset(codes)
    assert data.ids.tolist() == ids and data.classes == ["None", "bound", "x"]
    assert data.targets().tolist() == [i % 3 for i in range(30)]
    assert sorted(set(read_manifest(tmp_path / "manifest.tsv", data))) == ["test", "train", "validation"]
    run = tmp_path / "run"
    assert main(["finetune", "--codes", str(codes), "--manifest", str(tmp_path / "manifest.tsv"), "--weights",
                 str(run / "m.safetensors"), "--history", str(run / "h.tsv"), "--train-ids", str(run / "t.tsv"),
                 "--strategy", "scratch", "--train-size", "6", "--seed", "1", "--model",
                 json.dumps({"channels": 8, "n_blocks": 1}), "--training", json.dumps({"max_epochs": 1})]) == 0, \
        capsys.readouterr().err
    trained = (run / "t.tsv").read_text().splitlines()[1:]
    assert {line.split("\t")[1] for line in trained} == {"None", "bound", "x"}


def test_table_labels_with_spaces_and_quoted_csv_fields_are_read_as_written(tmp_path):
    """In a table a label with a space is one class as written (in a FASTA header it is refused: see the catalogue);
    a quoted CSV field, comma and all, is parsed by the csv rules."""
    from seqtune.data import read_dataset

    labels = ["TF bound", "TF unbound", "none, really"]
    table = tmp_path / "data.csv"
    table.write_text('"id","sequence","label"\n' + "".join(f'"s{i}","{dna()}","{labels[i % 3]}"\n' for i in range(9)))
    assert main(ingest(tmp_path, {"source": "tsv", "path": str(table)})) == 0
    data = read_dataset(tmp_path / "out" / "codes.npy")
    assert data.classes == sorted(labels)
    assert data.labels["label"].tolist() == [labels[i % 3] for i in range(9)]


def test_an_interrupted_ingest_leaves_the_earlier_folder_whole_and_no_partial_one(tmp_path, capsys, monkeypatch):
    """Ctrl-C during a standalone ingest left codes.npy without the rest of the folder. The folder is now written
    beside it and renamed into place: an interrupted run (here, stopped as the last file is written) leaves the
    folder as it was, and nothing else."""
    import seqtune.data

    table = tmp_path / "data.tsv"
    table.write_text("id\tsequence\tlabel\n" + table_rows())
    assert main(ingest(tmp_path, {"source": "tsv", "path": str(table)})) == 0
    folder = tmp_path / "out"
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    table.write_text("id\tsequence\tlabel\n" + table_rows(20))

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(seqtune.data, "write_json", interrupted)
    capsys.readouterr()
    assert main(ingest(tmp_path, {"source": "tsv", "path": str(table)})) == 130
    assert "seqtune ingest: interrupted" in capsys.readouterr().err
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["data.tsv", "out"]
    fresh = tmp_path / "fresh"  # no earlier folder: none afterwards either
    assert main(ingest(fresh, {"source": "tsv", "path": str(table)})) == 130
    assert list(fresh.iterdir()) == []


def test_a_rerun_replaces_the_folder_and_removes_what_a_killed_run_left(tmp_path):
    """A run killed outright (no chance to clean up) leaves a hidden temporary sibling; the next run on this machine
    removes it when its process is gone, and leaves another machine's alone (a shared file system). An empty folder
    (Snakemake makes its outputs' folder) is replaced by the data set."""
    import socket
    import subprocess
    import sys

    from seqtune.data import DATASET_FILES, read_dataset

    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout.strip()
    stale = tmp_path / f".out.partial-{socket.gethostname()}-{finished}-abc123"
    other = tmp_path / f".out.partial-elsewhere-{finished}-abc123"
    for path in (stale, other):
        path.mkdir()
        (path / "codes.npy").write_text("partial")
    (tmp_path / "out").mkdir()
    table = tmp_path / "data.tsv"
    for n in (12, 20):
        table.write_text("id\tsequence\tlabel\n" + table_rows(n))
        assert main(ingest(tmp_path, {"source": "tsv", "path": str(table)})) == 0
        assert sorted(path.name for path in (tmp_path / "out").iterdir()) == sorted(DATASET_FILES)
        assert read_dataset(tmp_path / "out" / "codes.npy").codes.shape == (n, LENGTH)
    assert not stale.exists() and other.exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([other.name, "data.tsv", "out"])


def test_predictions_named_csv_are_comma_separated(tmp_path):
    """A new user's `--output predictions.csv` got tab-separated text under a .csv name (one column in a
    spreadsheet); a name ending in .csv or .csv.gz is now written comma-separated, as the inputs are read."""
    fasta = tmp_path / "new.fa"
    fasta.write_text(GOOD)
    argv = predict_argv(tmp_path, fasta, tmp_path / "out.tsv")  # one model for the three
    for name in ("out.csv", "out.csv.gz", "out.tsv"):
        assert main(argv[:-1] + [str(tmp_path / name)]) == 0
    tsv = (tmp_path / "out.tsv").read_text()
    assert (tmp_path / "out.csv").read_text() == tsv.replace("\t", ",")
    assert gzip.open(tmp_path / "out.csv.gz", "rt").read() == tsv.replace("\t", ",")
    assert tsv.splitlines()[0] == "id\tpredicted_label\tprob_a\tprob_b\tprob_c"
