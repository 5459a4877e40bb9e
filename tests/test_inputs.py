"""Importing FASTA, TSV/CSV and BED + genome into a data set folder; every bad input names the file and the line."""

import gzip
import json
import os

import numpy as np
import pandas as pd
import pytest

from seqtune.data import read_dataset
from seqtune.errors import SeqtuneError
from seqtune.inputs import InputSpec, import_dataset
from seqtune.sequence import decode, encode, reverse_complement

RNG = np.random.default_rng(11)


def random_dna(length: int) -> str:
    return "".join(RNG.choice(list("ACGT"), size=length))


def write_text(path, text: str):
    if str(path).endswith(".gz"):
        with gzip.open(path, "wt") as handle:
            handle.write(text)
    else:
        path.write_text(text)
    return path


def write_fasta(path, records: list[tuple[str, str]], width: int = 50):
    lines = []
    for header, sequence in records:
        lines.append(f">{header}")
        lines.extend(sequence[i:i + width] for i in range(0, len(sequence), width))
    return write_text(path, "\n".join(lines) + "\n")


@pytest.fixture
def genome(tmp_path):
    """A small soft-masked genome: chr1 (600 nt) and chr2 (400 nt); returns (path, {chrom: sequence})."""
    chromosomes = {"chr1": random_dna(600), "chr2": random_dna(400)}
    chromosomes["chr1"] = chromosomes["chr1"][:100] + chromosomes["chr1"][100:150].lower() + chromosomes["chr1"][150:]
    folder = tmp_path / "genome"
    folder.mkdir()
    path = write_fasta(folder / "genome.fa", list(chromosomes.items()), width=60)
    return path, chromosomes


def assert_no_output(out_dir):
    assert not out_dir.exists() or not any(out_dir.iterdir())


def labelled_fasta(tmp_path, n: int = 12, length: int = 40, name: str = "in.fa"):
    records = [(f"s{i} label={'pos' if i % 2 else 'neg'} other=x", random_dna(length)) for i in range(n)]
    return write_fasta(tmp_path / name, records), records


# ----------------------------------------------------------------------------------------------------- good inputs
def test_fasta_with_label_tokens(tmp_path):
    path, records = labelled_fasta(tmp_path)
    out = tmp_path / "data"
    import_dataset(out, {"source": "fasta", "path": str(path)}, length=40, seed=1)
    data = read_dataset(out / "codes.npy")
    assert data.codes.shape == (12, 40) and data.codes.dtype == np.uint8
    assert list(data.ids) == [f"s{i}" for i in range(12)]
    assert data.classes == ["neg", "pos"] and data.info["type"] == "binary"
    assert decode(data.codes)[3] == records[3][1]
    assert list(data.labels.columns) == ["id", "label"]
    files = data.info["import"]["files"]
    assert files[0]["path"] == str(path) and len(files[0]["sha256"]) == 64
    assert data.info["import"]["length_policy"] == "error" and data.info["import"]["ambiguous"] == "allow"


def test_gzipped_fasta_with_side_table_and_split(tmp_path):
    records = [(f"r{i}", random_dna(30).lower()) for i in range(9)]  # soft-masked
    path = write_fasta(tmp_path / "in.fa.gz", records)
    labels = ["a", "b", "c"] * 3
    splits = ["train", "train", "test"] * 3
    table = pd.DataFrame({"name": [r[0] for r in records], "class": labels, "split": splits})
    table.to_csv(tmp_path / "labels.csv", index=False)
    out = tmp_path / "data"
    import_dataset(out, {"source": "fasta", "path": str(path), "labels": str(tmp_path / "labels.csv"),
                         "id_column": "name", "label_column": "class"}, length=30, seed=1)
    data = read_dataset(out / "codes.npy")
    assert data.info["type"] == "multiclass" and data.classes == ["a", "b", "c"]
    assert data.labels["split"].tolist() == splits and data.labels["label"].tolist() == labels
    assert decode(data.codes)[0] == records[0][1].upper()
    assert [f["role"] for f in data.info["import"]["files"]] == ["sequences", "labels"]


@pytest.mark.parametrize("name, separator", [("in.tsv", "\t"), ("in.csv.gz", ","), ("in.txt.gz", "\t")])
def test_tables_tsv_csv_gzip_crlf(tmp_path, name, separator):
    rows = [(f"q{i}", random_dna(25), "yes" if i % 3 else "no") for i in range(10)]
    text = separator.join(["seq_id", "dna", "y"]) + "\r\n" + "".join(
        separator.join(row) + "\r\n" for row in rows)
    path = write_text(tmp_path / name, text)
    out = tmp_path / "data"
    import_dataset(out, {"source": "tsv", "path": str(path), "id_column": "seq_id", "sequence_column": "dna",
                         "label_column": "y"}, length=25, seed=0)
    data = read_dataset(out / "codes.npy")
    assert decode(data.codes) == [row[1] for row in rows]
    assert data.labels["label"].tolist() == [row[2] for row in rows]


@pytest.mark.parametrize("header_trailing", [False, True])
def test_a_trailing_separator_does_not_shift_the_columns(tmp_path, header_trailing):
    """Spreadsheets export a tab at the end of each row; pandas would take the first column as an index and shift
    the others (the sequence was then read as the id)."""
    rows = [(f"q{i}", random_dna(20), "yes" if i % 2 else "no") for i in range(6)]
    header = "seq_id\tdna\ty" + ("\t" if header_trailing else "")
    path = write_text(tmp_path / "in.tsv", header + "\n" + "".join("\t".join(row) + "\t\n" for row in rows))
    import_dataset(tmp_path / "data", {"source": "tsv", "path": str(path), "id_column": "seq_id",
                                       "sequence_column": "dna", "label_column": "y"}, length=20, seed=0)
    data = read_dataset(tmp_path / "data" / "codes.npy")
    assert decode(data.codes) == [row[1] for row in rows]
    assert data.labels["id"].tolist() == [row[0] for row in rows]
    labels = write_text(tmp_path / "labels.tsv", "name\tclass\n" + "".join(f"{r[0]}\t{r[2]}\t\n" for r in rows))
    fasta = write_fasta(tmp_path / "in.fa", [(r[0], r[1]) for r in rows])
    import_dataset(tmp_path / "fa", {"source": "fasta", "path": str(fasta), "labels": str(labels),
                                     "id_column": "name", "label_column": "class"}, length=20, seed=0)
    assert read_dataset(tmp_path / "fa" / "codes.npy").labels["label"].tolist() == [row[2] for row in rows]


def test_length_policies(tmp_path):
    sequences = {"long": "AAAACCCCGGGGTT", "short": "ACG", "exact": "ACGTACGT"}
    path = write_fasta(tmp_path / "in.fa", [(f"{key} label={key == 'exact'}", value)
                                             for key, value in sequences.items()])
    out = tmp_path / "data"
    import_dataset(out, {"source": "fasta", "path": str(path), "length_policy": "crop_or_pad"}, length=8, seed=0)
    data = read_dataset(out / "codes.npy")
    # 14 -> 8: drop 3 left, 3 right; 3 -> 8: 2 N left, 3 N right
    assert decode(data.codes) == ["ACCCCGGG", "NNACGNNN", "ACGTACGT"]
    assert data.info["import"]["n_cropped"] == 1 and data.info["import"]["n_padded"] == 1
    with pytest.raises(SeqtuneError, match=r"in\.fa, line 3, record 'short'.*length 3.*center_crop"):
        import_dataset(tmp_path / "crop", {"source": "fasta", "path": str(path), "length_policy": "center_crop"},
                       length=8, seed=0)
    with pytest.raises(SeqtuneError, match=r"record 'long'.*length 14.*crop_or_pad"):
        import_dataset(tmp_path / "pad", {"source": "fasta", "path": str(path), "length_policy": "pad"},
                       length=8, seed=0)
    assert_no_output(tmp_path / "crop")
    assert_no_output(tmp_path / "pad")


def test_ambiguity_codes_read_as_n(tmp_path):
    path = write_fasta(tmp_path / "in.fa", [("a label=x", "ACRYN"), ("b label=y", "acgtS")])
    import_dataset(tmp_path / "data", {"source": "fasta", "path": str(path)}, length=5, seed=0)
    data = read_dataset(tmp_path / "data" / "codes.npy")
    assert decode(data.codes) == ["ACNNN", "ACGTN"]
    assert data.info["import"]["n_with_ambiguous_bases"] == 2


def test_bed_per_class_files_on_a_genome(tmp_path, genome):
    genome_path, chromosomes = genome
    positive = write_text(tmp_path / "pos.bed",
                          "track name=pos\nchr1\t100\t120\tpeak1\t0\t+\nchr2\t50\t71\tpeak2\t0\t-\n")
    negative = write_text(tmp_path / "neg.bed.gz", "# comment\nchr1\t300\t310\nchr2\t200\t260\tx\t0\t.\n")
    out = tmp_path / "data"
    import_dataset(out, {"source": "bed", "paths": {"pos": str(positive), "neg": str(negative)},
                         "genome": str(genome_path)}, length=30, seed=0)
    data = read_dataset(out / "codes.npy")
    labels = data.labels
    assert list(labels.columns) == ["id", "label", "chrom", "start", "end", "strand"]
    assert labels["label"].tolist() == ["pos", "pos", "neg", "neg"]
    assert labels["id"].tolist() == ["chr1:100-120(+)", "chr2:50-71(-)", "chr1:300-310(.)", "chr2:200-260(.)"]
    # window of 30 centred on the midpoint: chr1 100-120 -> mid 110 -> 95-125
    assert labels[["start", "end"]].to_numpy().tolist() == [[95, 125], [45, 75], [290, 320], [215, 245]]
    expected_plus = encode([chromosomes["chr1"][95:125]])
    assert np.array_equal(data.codes[0:1], expected_plus)
    expected_minus = reverse_complement(encode([chromosomes["chr2"][45:75]]))
    assert np.array_equal(data.codes[1:2], expected_minus)
    assert os.path.exists(str(genome_path) + ".fai")  # a writable genome folder keeps its index
    roles = [f["role"] for f in data.info["import"]["files"]]
    assert roles == ["intervals:pos", "intervals:neg", "genome"]


def test_bed_label_column_gzip_genome_and_edge_padding(tmp_path, genome):
    genome_path, chromosomes = genome
    zipped = tmp_path / "genome.fa.gz"
    zipped.write_bytes(gzip.compress(genome_path.read_bytes()))
    bed = write_text(tmp_path / "regions.bed", "chr1\t2\t8\tup\nchr2\t390\t400\tdown\nchr1\t200\t220\tup\n")
    out = tmp_path / "data"
    import_dataset(out, {"source": "bed", "path": str(bed), "genome": str(zipped), "length_policy": "pad"},
                   length=20, seed=0)
    data = read_dataset(out / "codes.npy")
    assert data.labels["label"].tolist() == ["up", "down", "up"]
    sequences = decode(data.codes)
    assert sequences[0] == "N" * 5 + chromosomes["chr1"][:15].upper()
    assert sequences[1] == chromosomes["chr2"][385:400].upper() + "N" * 5
    assert data.labels[["start", "end"]].to_numpy().tolist()[:2] == [[0, 15], [385, 400]]
    assert not (tmp_path / "genome.fa.gz.fai").exists()


def test_read_only_genome_folder_gets_no_index(tmp_path, genome, monkeypatch):
    genome_path, _ = genome
    import seqtune.inputs as inputs

    monkeypatch.setattr(inputs.os, "access", lambda path, mode: False)  # as if the folder were read-only
    bed = write_text(tmp_path / "r.bed", "chr1\t100\t110\ta\nchr2\t100\t110\tb\n")
    import_dataset(tmp_path / "data", {"source": "bed", "path": str(bed), "genome": str(genome_path)},
                   length=10, seed=0)
    assert os.listdir(genome_path.parent) == ["genome.fa"]
    assert read_dataset(tmp_path / "data" / "codes.npy").codes.shape == (2, 10)


def test_a_genome_pyfaidx_refuses_leaves_no_index_beside_it(tmp_path):
    """Duplicate sequence names: pyfaidx stops part-way through indexing; the user's folder keeps only the genome."""
    folder = tmp_path / "genome"
    folder.mkdir()
    genome_path = write_text(folder / "dup.fa", ">chr1\n" + "ACGT" * 30 + "\n>chr1\n" + "GGCC" * 30 + "\n")
    bed = write_text(tmp_path / "r.bed", "chr1\t10\t20\ta\nchr1\t50\t60\tb\n")
    with pytest.raises(SeqtuneError, match=r"dup\.fa: cannot be indexed.*unique sequence names"):
        import_dataset(tmp_path / "data", {"source": "bed", "path": str(bed), "genome": str(genome_path)},
                       length=10, seed=0)
    assert os.listdir(folder) == ["dup.fa"]
    assert_no_output(tmp_path / "data")


# ------------------------------------------------------------------------------------------------------ bad inputs
def bad_case(tmp_path, genome_path, case: str):
    """Write the input of one bad case; returns (spec, length, patterns the message must contain)."""
    fasta = tmp_path / "bad.fa"
    if case == "empty_fasta":
        fasta.write_text("")
        return {"source": "fasta", "path": str(fasta)}, 10, ["bad.fa", "empty"]
    if case == "no_sequence":
        write_text(fasta, ">a label=x\nACGTACGTAC\n>b label=y\n>c label=y\nACGTACGTAC\n")
        return {"source": "fasta", "path": str(fasta)}, 10, ["bad.fa", "line 3", "'b'", "no sequence"]
    if case == "duplicate_fasta":
        write_text(fasta, ">a label=x\nACGTACGTAC\n>a label=y\nACGTACGTAC\n")
        return {"source": "fasta", "path": str(fasta)}, 10, ["bad.fa", "line 3", "duplicate id 'a'", "line 1"]
    if case == "duplicate_tsv":
        table = write_text(tmp_path / "bad.tsv", "id\tsequence\tlabel\na\tACGT\tx\nb\tACGT\ty\na\tACGT\ty\n")
        return {"source": "tsv", "path": str(table)}, 4, ["bad.tsv", "line 4", "duplicate id 'a'", "line 2"]
    if case == "strict_iupac":
        write_text(fasta, ">a label=x\nACGTACGTAC\n>b label=y\nACGTRCGTAC\n")
        return ({"source": "fasta", "path": str(fasta), "ambiguous": "error"}, 10,
                ["bad.fa", "line 3", "'b'", "position 5", "'R'", "ambiguous: allow"])
    if case == "not_dna":
        write_text(fasta, ">a label=x\nACGTACGTAC\n>b label=y\nACGTAC\nG*TA\n")
        return {"source": "fasta", "path": str(fasta)}, 10, ["bad.fa", "line 3", "'b'", "position 8", "'*'"]
    if case == "bed_past_end":
        bed = write_text(tmp_path / "bad.bed", "chr1\t10\t20\ta\nchr2\t390\t410\tb\n")
        return ({"source": "bed", "path": str(bed), "genome": str(genome_path)}, 10,
                ["bad.bed", "line 2", "chr2:390-410", "length 400", "genome.fa", "assembly"])
    if case == "bed_unknown_chromosome":
        bed = write_text(tmp_path / "bad.bed", "chr1\t10\t20\ta\n\n1\t30\t40\tb\n")
        return ({"source": "bed", "path": str(bed), "genome": str(genome_path)}, 10,
                ["bad.bed", "line 3", "chromosome '1'", "chr1, chr2"])
    if case == "bed_window_past_edge":
        bed = write_text(tmp_path / "bad.bed", "chr1\t10\t20\ta\nchr1\t0\t4\tb\n")
        return ({"source": "bed", "path": str(bed), "genome": str(genome_path)}, 10,
                ["bad.bed", "line 2", "start", "length_policy: pad"])
    if case == "bed_malformed":
        bed = write_text(tmp_path / "bad.bed", "chr1\t10\t20\ta\nchr1\tten\t20\tb\n")
        return ({"source": "bed", "paths": {"a": str(bed), "b": str(bed)}, "genome": str(genome_path)}, 10,
                ["bad.bed", "line 2", "'ten'"])
    if case == "bed_too_few_fields":
        bed = write_text(tmp_path / "bad.bed", "chr1\t10\t20\ta\nchr1 30\n")
        return ({"source": "bed", "path": str(bed), "genome": str(genome_path)}, 10,
                ["bad.bed", "line 2", "at least 3 fields"])
    if case == "bed_duplicate_interval":
        first = write_text(tmp_path / "a.bed", "chr1\t10\t20\nchr1\t40\t50\n")
        second = write_text(tmp_path / "b.bed", "chr1\t60\t70\nchr1\t10\t20\n")
        return ({"source": "bed", "paths": {"a": str(first), "b": str(second)}, "genome": str(genome_path)}, 10,
                ["b.bed", "line 2", "chr1:10-20(.)", "duplicate", "a.bed, line 1"])
    if case == "label_column_missing":
        table = write_text(tmp_path / "bad.tsv", "id\tsequence\tclass\na\tACGT\tx\n")
        return {"source": "tsv", "path": str(table)}, 4, ["bad.tsv", "label", "class", "label_column"]
    if case == "missing_label_token":
        write_text(fasta, ">a label=x\nACGTACGTAC\n>b\nACGTACGTAC\n")
        return {"source": "fasta", "path": str(fasta)}, 10, ["bad.fa", "line 3", "'b'", "missing label", "label="]
    if case == "missing_label_cell":
        table = write_text(tmp_path / "bad.csv", "id,sequence,label\na,ACGT,x\nb,ACGT,\n")
        return {"source": "tsv", "path": str(table)}, 4, ["bad.csv", "line 3", "'b'", "missing label"]
    if case == "missing_label_side_table":
        write_text(fasta, ">a\nACGTACGTAC\n>b\nACGTACGTAC\n")
        write_text(tmp_path / "labels.tsv", "id\tlabel\na\tx\n")
        return ({"source": "fasta", "path": str(fasta), "labels": str(tmp_path / "labels.tsv")}, 10,
                ["bad.fa", "line 3", "'b'", "labels.tsv"])
    if case == "empty_label_cell_side_table":  # the table, not the FASTA, is where to fix it
        write_text(fasta, ">a\nACGTACGTAC\n>b\nACGTACGTAC\n")
        write_text(tmp_path / "labels.tsv", "id\tlabel\na\tx\nb\t\n")
        return ({"source": "fasta", "path": str(fasta), "labels": str(tmp_path / "labels.tsv")}, 10,
                ["labels.tsv, id 'b'", "missing label", "fill in its 'label' cell"])
    if case == "bad_split_side_table":
        write_text(fasta, ">a\nACGTACGTAC\n>b\nACGTACGTAC\n")
        write_text(tmp_path / "labels.tsv", "id\tlabel\tsplit\na\tx\ttrain\nb\ty\ttset\n")
        return ({"source": "fasta", "path": str(fasta), "labels": str(tmp_path / "labels.tsv"),
                 "split_column": "split"}, 10, ["labels.tsv, id 'b'", "'tset'"])
    if case == "no_source":
        return {"path": str(fasta)}, 10, ["no 'source'", "fasta"]
    if case == "label_given_twice":
        write_text(fasta, ">a label=x\nACGTACGTAC\n>b label=x label=y\nACGTACGTAC\n")
        return {"source": "fasta", "path": str(fasta)}, 10, ["bad.fa", "line 3", "'b'", "'label=' is given twice"]
    if case == "one_class":
        write_text(fasta, ">a label=x\nACGTACGTAC\n>b label=x\nACGTACGTAC\n")
        return {"source": "fasta", "path": str(fasta)}, 10, ["bad.fa", "'x'", "two classes"]
    if case == "bad_split":
        write_text(fasta, ">a label=x split=train\nACGTACGTAC\n>b label=y split=tset\nACGTACGTAC\n")
        return {"source": "fasta", "path": str(fasta)}, 10, ["bad.fa", "line 3", "'b'", "'tset'"]
    if case == "empty_table":
        table = write_text(tmp_path / "bad.tsv", "")
        return {"source": "tsv", "path": str(table)}, 4, ["bad.tsv", "empty"]
    if case == "header_only_table":
        table = write_text(tmp_path / "bad.tsv", "id\tsequence\tlabel\n")
        return {"source": "tsv", "path": str(table)}, 4, ["bad.tsv", "no rows"]
    if case == "truncated_gzip":
        fasta_gz = tmp_path / "bad.fa.gz"
        fasta_gz.write_bytes(gzip.compress((">a label=x\n" + random_dna(2000) + "\n").encode())[:200])
        return {"source": "fasta", "path": str(fasta_gz)}, 10, ["bad.fa.gz", "truncated or corrupt"]
    if case == "extra_field_first_row":  # pandas alone dropped the extra text silently when the first row had it
        table = write_text(tmp_path / "bad.csv", "id,sequence,label\na,ACGT,x,strong\nb,ACGT,y\nc,ACGT,x,weak\n")
        return {"source": "tsv", "path": str(table)}, 4, ["bad.csv", "line 2", "'strong'", "double quotes"]
    if case == "extra_field_later_row":
        table = write_text(tmp_path / "bad.csv", "id,sequence,label\na,ACGT,x,\nb,ACGT,y,\nc,ACGT,x,weak\n")
        return {"source": "tsv", "path": str(table)}, 4, ["bad.csv", "line 4", "'weak'", "double quotes"]
    if case == "na_label":
        table = write_text(tmp_path / "bad.tsv", "id\tsequence\tlabel\na\tACGT\tx\nb\tACGT\tNA\nc\tACGT\ty\n")
        return {"source": "tsv", "path": str(table)}, 4, ["bad.tsv", "line 3", "'b'", "'NA'", "missing value"]
    if case == "quoted_label_token":
        write_text(fasta, '>a label=x\nACGTACGTAC\n>b label="open chromatin"\nACGTACGTAC\n')
        return {"source": "fasta", "path": str(fasta)}, 10, ["bad.fa", "line 3", "'b'", "starts with a quote",
                                                              "no spaces"]
    if case == "latin1_after_64k":  # open_text checks the first 64 kB; the reader reports the rest
        rows = "".join(f"r{i}\tACGT\tx\n" for i in range(9000))
        table = tmp_path / "bad.tsv"
        table.write_bytes(("id\tsequence\tlabel\n" + rows).encode() + "z\tACGT\tcaf\u00e9\n".encode("latin-1"))
        return {"source": "tsv", "path": str(table)}, 4, ["bad.tsv", "not UTF-8", "0xe9", "iconv"]
    if case == "unknown_key":
        return {"source": "fasta", "path": str(fasta), "lenght_policy": "pad"}, 10, ["lenght_policy", "known keys"]
    raise ValueError(case)


BAD_CASES = ["empty_fasta", "no_sequence", "duplicate_fasta", "duplicate_tsv", "strict_iupac", "not_dna",
             "bed_past_end", "bed_unknown_chromosome", "bed_window_past_edge", "bed_malformed", "bed_too_few_fields",
             "bed_duplicate_interval", "label_column_missing", "missing_label_token", "missing_label_cell",
             "missing_label_side_table", "empty_label_cell_side_table", "bad_split_side_table", "no_source",
             "label_given_twice", "one_class", "bad_split", "empty_table", "header_only_table",
             "truncated_gzip", "unknown_key", "extra_field_first_row", "extra_field_later_row", "na_label",
             "quoted_label_token", "latin1_after_64k"]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_names_file_and_record_and_writes_nothing(tmp_path, genome, case):
    spec, length, patterns = bad_case(tmp_path, genome[0], case)
    out = tmp_path / "data"
    with pytest.raises(SeqtuneError) as caught:
        import_dataset(out, spec, length=length, seed=0)
    message = str(caught.value)
    for pattern in patterns:
        assert pattern in message, f"'{pattern}' not in: {message}"
    assert_no_output(out)


def test_spec_checks(tmp_path):
    with pytest.raises(SeqtuneError, match="source 'fastq'"):
        InputSpec.from_dict({"source": "fastq", "path": "x"})
    with pytest.raises(SeqtuneError, match="needs 'genome'"):
        InputSpec.from_dict({"source": "bed", "path": "x.bed"})
    with pytest.raises(SeqtuneError, match="either 'path'.*or 'paths'"):
        InputSpec.from_dict({"source": "bed", "path": "x.bed", "paths": {"a": "y"}, "genome": "g.fa"})
    with pytest.raises(SeqtuneError, match="1-based column number"):
        InputSpec.from_dict({"source": "bed", "path": "x.bed", "genome": "g.fa", "label_column": "name"})
    with pytest.raises(SeqtuneError, match="length_policy 'crop'"):
        InputSpec.from_dict({"source": "tsv", "path": "x.tsv", "length_policy": "crop"})
    spec = InputSpec.from_dict({"source": "tsv", "path": "x.tsv"})
    assert (spec.id_column, spec.label_column, spec.sequence_column, spec.split_column) == (
        "id", "label", "sequence", "split")
    assert (spec.length_policy, spec.ambiguous) == ("error", "allow")


def test_explicit_split_column_must_exist(tmp_path):
    table = write_text(tmp_path / "t.tsv", "id\tsequence\tlabel\na\tACGT\tx\nb\tACGT\ty\n")
    import_dataset(tmp_path / "ok", {"source": "tsv", "path": str(table)}, length=4, seed=0)
    assert "split" not in read_dataset(tmp_path / "ok" / "codes.npy").labels.columns
    with pytest.raises(SeqtuneError, match=r"t\.tsv: missing column\(s\) fold \(split\)"):
        import_dataset(tmp_path / "bad", {"source": "tsv", "path": str(table), "split_column": "fold"}, length=4,
                       seed=0)
    assert_no_output(tmp_path / "bad")


def test_dataset_json_records_class_order(tmp_path):
    path, _ = labelled_fasta(tmp_path)
    import_dataset(tmp_path / "data", {"source": "fasta", "path": str(path)}, length=40, seed=3)
    info = json.loads((tmp_path / "data" / "dataset.json").read_text())
    assert info["classes"] == ["neg", "pos"] and "sorted" in info["class_order"]
    assert info["class_counts"] == {"neg": 6, "pos": 6} and info["import"]["seed"] == 3


def test_positive_class_is_model_output_one(tmp_path):
    table = write_text(tmp_path / "t.tsv", "id\tsequence\tlabel\na\tACGT\tbound\nb\tACGT\tunbound\nc\tACGT\tother\n")
    two = write_text(tmp_path / "two.tsv", "id\tsequence\tlabel\na\tACGT\tbound\nb\tACGT\tunbound\n")
    import_dataset(tmp_path / "data", {"source": "tsv", "path": str(two), "positive_class": "bound"}, length=4, seed=0)
    data = read_dataset(tmp_path / "data" / "codes.npy")
    assert data.classes == ["unbound", "bound"] and "positive_class" in data.info["class_order"]
    assert data.targets().tolist() == [1, 0]
    with pytest.raises(SeqtuneError, match=r"two\.tsv: positive_class 'Bound' is not a label .*'bound', 'unbound'"):
        import_dataset(tmp_path / "case", {"source": "tsv", "path": str(two), "positive_class": "Bound"}, length=4,
                       seed=0)
    with pytest.raises(SeqtuneError, match=r"t\.tsv: positive_class applies to two classes; this data has 3"):
        import_dataset(tmp_path / "three", {"source": "tsv", "path": str(table), "positive_class": "bound"}, length=4,
                       seed=0)
    with pytest.raises(SeqtuneError, match=r"positive_class must be a label \(text\).*quote"):
        import_dataset(tmp_path / "number", {"source": "tsv", "path": str(two), "positive_class": 1}, length=4, seed=0)
    for name in ("case", "three", "number"):
        assert_no_output(tmp_path / name)


def test_fasta_id_is_the_first_word_whatever_the_whitespace(tmp_path, caplog):
    """A tab after the id (as some tools write headers) ends the id like a space; labels differing only in case are
    warned about (they are different classes)."""
    path = write_text(tmp_path / "in.fa", ">a\tlabel=Pos\nACGT\n>b  label=pos\nACGT\n>c label=neg\nACGT\n")
    import_dataset(tmp_path / "data", {"source": "fasta", "path": str(path)}, length=4, seed=0)
    data = read_dataset(tmp_path / "data" / "codes.npy")
    assert data.ids.tolist() == ["a", "b", "c"] and data.labels["label"].tolist() == ["Pos", "pos", "neg"]
    assert "labels 'Pos', 'pos' differ only in case" in caplog.text


def test_sequences_without_labels_for_masked_pretraining(tmp_path, genome):
    """labelled: false reads no label tokens or columns (a FASTA without any, a BED3 file): the data set has ids only,
    type 'unlabelled', and splits at random; label keys cannot go with it."""
    fasta = write_fasta(tmp_path / "corpus.fa", [(f"c{i}", random_dna(20)) for i in range(30)])
    import_dataset(tmp_path / "fa", {"source": "fasta", "path": str(fasta), "labelled": False}, length=20, seed=0)
    data = read_dataset(tmp_path / "fa" / "codes.npy")
    assert data.info["type"] == "unlabelled" and not data.labelled and list(data.labels.columns) == ["id"]
    assert data.targets().tolist() == [0] * 30 and "class_counts" not in data.info
    from seqtune.pipeline import split

    split(str(tmp_path / "fa" / "codes.npy"), str(tmp_path / "manifest.tsv"), str(tmp_path / "summary.json"), 0.2,
          0.1, seed=1)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["totals"] == {"train": 21, "validation": 6, "test": 3}
    assert summary["stratified_by"] == "nothing (no labels)"
    bed = write_text(tmp_path / "regions.bed", "chr1\t10\t30\nchr2\t50\t70\n")
    import_dataset(tmp_path / "bed", {"source": "bed", "path": str(bed), "genome": str(genome[0]),
                                      "labelled": False}, length=10, seed=0)
    assert read_dataset(tmp_path / "bed" / "codes.npy").info["type"] == "unlabelled"
    with pytest.raises(SeqtuneError, match="positive_class cannot go with labelled: false"):
        import_dataset(tmp_path / "bad", {"source": "fasta", "path": str(fasta), "labelled": False,
                                          "positive_class": "x"}, length=20, seed=0)
    assert_no_output(tmp_path / "bad")
