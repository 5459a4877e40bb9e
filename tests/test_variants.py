"""Variant effects (seqtune.variants): reading a VCF, windows, policies, output, and the sign of a real effect."""

from __future__ import annotations

import gzip
import json
import re
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from conftest import REPO, snakemake
from seqtune.errors import SeqtuneError
from seqtune.inputs import open_genome
from seqtune.models import ModelSpec, SequenceModel
from seqtune.sequence import decode, reverse_complement, encode
from seqtune.variants import (allele_windows, alt_kind, iter_alleles, log_odds_ratio, open_variant_genome,
                              padded_fetch, score_vcf, window_starts)
from seqtune.weights import save_model

DATA = REPO / "config" / "examples" / "data"
RNG = np.random.default_rng(22)
HEADER = "##fileformat=VCFv4.2\n##INFO=<ID=T,Number=1,Type=String,Description=\"a tag\">\n" \
         "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
CLASSES = ["negative", "positive"]


def dna(length: int) -> str:
    return "".join(RNG.choice(list("ACGT"), size=length))


@pytest.fixture(scope="module")
def genome_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("genome") / "genome.fa"
    path.write_text(f">chr1\n{dna(400)}\n>chr2\n{dna(250)}\n")
    return path


@pytest.fixture(scope="module")
def bases(genome_file) -> dict[str, str]:
    lines = genome_file.read_text().split()
    return {lines[0][1:]: lines[1], lines[2][1:]: lines[3]}


def tiny_weights(folder: Path, length: int = 31) -> Path:
    torch.manual_seed(0)
    model = SequenceModel(ModelSpec(length=length, channels=8, n_blocks=1, first_kernel_size=5), len(CLASSES))
    path = folder / "model.safetensors"
    save_model(model, path, {"classes": CLASSES, "length": length, "task": "binary", "validation": {"best_epoch": 1}})
    return path


def write_vcf(path: Path, rows: list[str], gzipped: bool = False) -> Path:
    text = HEADER + "".join(row + "\n" for row in rows)
    if gzipped:
        with gzip.open(path, "wt") as handle:
            handle.write(text)
    else:
        path.write_text(text)
    return path


def row(chrom, pos, ref, alt, identifier=".", info="T=x") -> str:
    return f"{chrom}\t{pos}\t{identifier}\t{ref}\t{alt}\t.\t.\t{info}"


# ------------------------------------------------------------------------------------------------------ windows
def test_an_snv_changes_only_the_centre_of_its_window():
    contig = dna(200)
    fetch = lambda start, end: contig[start:end]  # noqa: E731
    reference, alternative, padded = allele_windows(fetch, 200, 100, 1, "A" if contig[100] != "A" else "C", 31)
    assert reference == contig[85:116] and len(alternative) == 31 and not padded
    assert [i for i in range(31) if reference[i] != alternative[i]] == [15]


@pytest.mark.parametrize("ref_length, alt", [(7, "A"), (1, "AGTAC"), (3, "TT")])
def test_an_indel_recentres_the_alternative_window_on_its_allele(ref_length, alt):
    contig = dna(300)
    pos0, length = 150, 31
    reference, alternative, _ = allele_windows(lambda s, e: contig[s:e], 300, pos0, ref_length, alt, length)
    haplotype = contig[:pos0] + alt + contig[pos0 + ref_length:]
    alt_start = length // 2 - len(alt) // 2
    assert alternative == haplotype[pos0 - alt_start:pos0 - alt_start + length]
    assert alternative[alt_start:alt_start + len(alt)] == alt
    assert reference == contig[pos0 + ref_length // 2 - 15:pos0 + ref_length // 2 + 16]
    assert window_starts(pos0, ref_length, len(alt), length)[0] == pos0 + ref_length // 2 - 15


def test_windows_past_a_contig_end_are_filled_with_n_and_flagged(genome_file, bases):
    with open_genome(genome_file) as genome:
        fetch = padded_fetch(genome, "chr2", 250)
        reference, alternative, padded = allele_windows(fetch, 250, 3, 1, "A", 31)
    assert padded and reference == "N" * 12 + bases["chr2"][:19]
    assert alternative[:12] == "N" * 12 and alternative[15] == "A"


@pytest.mark.parametrize("alt, kind", [("A", "snv_or_indel"), ("ACGT", "snv_or_indel"), ("<DEL>", "symbolic"),
                                       ("<*>", "symbolic"), ("A[chr1:100[", "breakend"), ("]chr2:5]T", "breakend"),
                                       (".A", "breakend"), ("G.", "breakend"), (".", "missing_alt"),
                                       (None, "missing_alt"), ("*", "spanning_deletion")])
def test_alt_kinds(alt, kind):
    assert alt_kind(alt) == kind


def test_log_odds_ratio_is_finite_at_zero_and_one_and_antisymmetric():
    p_ref, p_alt = np.array([0.0, 0.5, 0.2]), np.array([1.0, 0.5, 0.8])
    ratio = log_odds_ratio(p_ref, p_alt)
    assert np.isfinite(ratio).all() and ratio[1] == 0 and ratio[0] > 30
    assert np.allclose(ratio, -log_odds_ratio(p_alt, p_ref))
    assert ratio[2] == pytest.approx(2 * np.log(4))


# ------------------------------------------------------------------------------------------------------ reading
def test_multiallelic_records_are_split_and_unscorable_alleles_counted(tmp_path, genome_file, bases):
    chrom = bases["chr1"]
    rows = [row("chr1", 50, chrom[49], "A,C,<DEL>", "rs1", "T=multi"),
            row("chr1", 60, chrom[59:64], chrom[59]),  # a 4-nt deletion
            row("chr1", 70, chrom[69], "*"), row("chr1", 80, chrom[79], "."),
            row("chr1", 90, chrom[89], f"{chrom[89]}[chr2:10["),
            row("chr1", 100, chrom[99], chrom[99] + "A" * 60),  # an insertion longer than max_indel_length
            row("chr2", 5, bases["chr2"][4].lower(), "g")]
    vcf = write_vcf(tmp_path / "calls.vcf", rows)
    counts = Counter()
    with open_genome(genome_file) as genome:
        alleles = list(iter_alleles(str(vcf), genome, 31, max_indel_length=50, counts=counts))
    assert [(a.chrom, a.pos, a.alt, a.alt_index) for a in alleles] == [
        ("chr1", 50, "A", 1), ("chr1", 50, "C", 2), ("chr1", 60, chrom[59], 1), ("chr2", 5, "G", 1)]
    assert alleles[0].id == "rs1" and alleles[0].info == "T=multi" and alleles[2].id == "."
    assert alleles[3].ref == bases["chr2"][4]  # upper-cased
    assert counts == Counter(records=7, alleles=9, symbolic=1, spanning_deletion=1, missing_alt=1, breakend=1,
                             too_long=1)


def test_a_ref_mismatch_stops_or_is_flagged_by_policy(tmp_path, genome_file, bases):
    wrong = "A" if bases["chr1"][39] != "A" else "C"
    vcf = write_vcf(tmp_path / "calls.vcf", [row("chr1", 30, bases["chr1"][29], "N"), row("chr1", 40, wrong, "G")])
    with open_genome(genome_file) as genome:
        with pytest.raises(SeqtuneError, match=r"record 2 \(line 5, chr1:40\): REF .* ref_mismatch: flag"):
            list(iter_alleles(str(vcf), genome, 31))
        flagged = list(iter_alleles(str(vcf), genome, 31, ref_mismatch="flag"))
    assert [a.ref_mismatch for a in flagged] == [False, True]
    output = tmp_path / "effects.tsv"
    score_vcf(tiny_weights(tmp_path), vcf, genome_file, output, ref_mismatch="flag", device="cpu")
    assert pd.read_csv(output, sep="\t")["flag"].tolist() == [".", "ref_mismatch"]


@pytest.mark.parametrize("rows, message", [
    ([row("chr1", 30, "A", "C"), row("chr1", 20, "A", "C")], r"record 2 \(line 5, chr1:20\): comes after chr1:30"),
    ([row("chr1", 20, "A", "C"), row("chr2", 5, "A", "C"), row("chr1", 40, "A", "C")],
     r"record 3 \(line 6, chr1:40\): contig chr1 appears again"),
])
def test_unsorted_records_are_refused_with_bcftools_sort(tmp_path, genome_file, bases, rows, message):
    rows = [r.replace("\tA\tC", f"\t{bases[r.split()[0]][int(r.split()[1]) - 1]}\tC") for r in rows]
    vcf = write_vcf(tmp_path / "calls.vcf", rows)
    with open_genome(genome_file) as genome, pytest.raises(SeqtuneError, match=message + ".*bcftools sort"):
        list(iter_alleles(str(vcf), genome, 31))


@pytest.mark.parametrize("bad", ["chr1 70 . A C . . .", "", "chr1\tabc\t.\tA\tC\t.\t.\t."])
def test_a_line_htslib_cannot_read_is_named_even_where_htslib_stops_silently(tmp_path, genome_file, bases, bad):
    vcf = write_vcf(tmp_path / "calls.vcf", [row("chr1", 10, bases["chr1"][9], "G"), bad,
                                             row("chr1", 90, bases["chr1"][89], "G")])
    with open_genome(genome_file) as genome, pytest.raises(SeqtuneError, match=r"record 2 \(line 5\)"):
        list(iter_alleles(str(vcf), genome, 31))


def test_trailing_empty_lines_are_fine(tmp_path, genome_file, bases):
    vcf = tmp_path / "calls.vcf"
    for tail in ("\n", "\n\n\n"):
        vcf.write_text(HEADER + row("chr1", 10, bases["chr1"][9], "G") + "\n" + tail)
        with open_genome(genome_file) as genome:
            assert len(list(iter_alleles(str(vcf), genome, 31))) == 1


# ------------------------------------------------------------------------------------------------------- output
def test_plain_gzip_and_bgzip_vcfs_give_the_same_table_with_ism(tmp_path, genome_file, bases):
    from Bio import bgzf

    chrom = bases["chr1"]
    rows = [row("chr1", p, chrom[p - 1], "ACGT".replace(chrom[p - 1], "")[p % 3], f"v{p}", f"T=t{p}")
            for p in range(20, 380, 37)] + [row("chr1", 390, chrom[389:393], chrom[389])]
    weights = tiny_weights(tmp_path)
    plain = write_vcf(tmp_path / "calls.vcf", rows)
    gzipped = write_vcf(tmp_path / "calls.vcf.gz", rows, gzipped=True)
    with bgzf.BgzfWriter(str(tmp_path / "calls.bgz.vcf.gz"), "wb") as handle:
        handle.write(plain.read_bytes())
    outputs = []
    for index, vcf in enumerate([plain, gzipped, tmp_path / "calls.bgz.vcf.gz"]):
        outputs.append(tmp_path / f"effects{index}.tsv")
        summary = score_vcf(weights, vcf, genome_file, outputs[-1], tmp_path / "summary.json", ism=True,
                            chunk_size=4, device="cpu")
        assert summary["scored"] == len(rows) and summary["records"] == len(rows)
        assert summary["flagged"]["window_padded"] == 1  # the deletion 10 nt from chr1's end
    assert outputs[0].read_bytes() == outputs[1].read_bytes() == outputs[2].read_bytes()
    frame = pd.read_csv(outputs[0], sep="\t")
    assert frame.columns[:6].tolist() == ["chrom", "pos", "id", "ref", "alt", "alt_index"]
    assert frame["info"].tolist()[:2] == ["T=t20", "T=t57"] and frame["id"].tolist()[0] == "v20"
    for name in CLASSES:
        assert np.allclose(frame[f"delta_{name}"], frame[f"prob_alt_{name}"] - frame[f"prob_ref_{name}"], atol=1e-6)
    snvs = frame[frame["ref"].str.len() == 1]
    for name in CLASSES:  # ISM of the ALT base at an SNV is its delta; of the REF base, zero
        ism_alt = [snv[f"ism_{snv['alt']}_{name}"] for _, snv in snvs.iterrows()]
        ism_ref = [snv[f"ism_{snv['ref']}_{name}"] for _, snv in snvs.iterrows()]
        assert np.allclose(ism_alt, snvs[f"delta_{name}"], atol=1e-6) and np.allclose(ism_ref, 0, atol=1e-6)
    assert json.loads((tmp_path / "summary.json").read_text())["skipped"]["symbolic"] == 0


def test_with_rc_average_a_variant_scores_the_same_on_either_strand(tmp_path):
    """An odd window length: the window of a variant on the reverse-complemented genome holds the same bases."""
    contig = dna(300)
    mirror = decode(reverse_complement(encode([contig])[0])[None])[0]
    (tmp_path / "genome.fa").write_text(f">chr1\n{contig}\n")
    (tmp_path / "mirror.fa").write_text(f">chr1\n{mirror}\n")
    complement = dict(zip("ACGT", "TGCA"))
    positions = range(40, 260, 23)
    alts = {p: "ACGT".replace(contig[p - 1], "")[p % 3] for p in positions}
    forward = write_vcf(tmp_path / "f.vcf", [row("chr1", p, contig[p - 1], alts[p]) for p in positions])
    backward = write_vcf(tmp_path / "b.vcf", [row("chr1", 301 - p, complement[contig[p - 1]], complement[alts[p]])
                                              for p in reversed(positions)])
    weights = tiny_weights(tmp_path, length=31)
    results = {}
    for name, vcf, genome in (("f", forward, "genome.fa"), ("b", backward, "mirror.fa")):
        score_vcf(weights, vcf, tmp_path / genome, tmp_path / f"{name}.tsv", rc_average=True, device="cpu")
        results[name] = pd.read_csv(tmp_path / f"{name}.tsv", sep="\t")
    assert np.allclose(results["f"]["delta_positive"], results["b"]["delta_positive"][::-1], atol=1e-6)
    score_vcf(weights, forward, tmp_path / "genome.fa", tmp_path / "one.tsv", device="cpu")
    assert not np.allclose(pd.read_csv(tmp_path / "one.tsv", sep="\t")["prob_ref_positive"],
                           results["f"]["prob_ref_positive"])


def test_a_bgzipped_genome_is_read_in_place_and_needs_a_writable_folder_to_index(tmp_path, genome_file, monkeypatch):
    from Bio import bgzf

    import seqtune.variants as variants

    genome = tmp_path / "genome.fa.gz"
    with bgzf.BgzfWriter(str(genome), "wb") as handle:
        handle.write(genome_file.read_bytes())
    monkeypatch.setattr(variants, "folder_writable", lambda path: False)
    with pytest.raises(SeqtuneError, match=r"genome.fa.gz: bgzipped genome without a current index .* samtools "
                                           r"faidx .*genome.fa.gz"):
        with open_variant_genome(genome):
            pass
    monkeypatch.undo()
    with open_variant_genome(genome) as opened, open_genome(genome_file) as plain:
        assert opened.fetch("chr2", 10, 40) == plain.fetch("chr2", 10, 40)
    assert (tmp_path / "genome.fa.gz.fai").exists() and (tmp_path / "genome.fa.gz.gzi").exists()


def test_no_partial_output_after_an_error(tmp_path, genome_file, bases):
    rows = [row("chr1", p, bases["chr1"][p - 1], "N") for p in range(20, 300, 3)] + [row("chrX", 5, "A", "C")]
    vcf = write_vcf(tmp_path / "calls.vcf", rows)
    with pytest.raises(SeqtuneError, match="contig chrX is not in the genome"):
        score_vcf(tiny_weights(tmp_path), vcf, genome_file, tmp_path / "out" / "effects.tsv",
                  tmp_path / "out" / "summary.json", chunk_size=8, device="cpu")
    assert not any((tmp_path / "out").iterdir())


# --------------------------------------------------------------------------------- a real effect, a real model
@pytest.fixture(scope="module")
def finetuned(tmp_path_factory) -> Path:
    """A small CNN pretrained on motif presence, fine-tuned (full) on the default task at 100 nt: the distribution
    the shipped genome's loci come from (config/examples/make_variant_data.py). About 10 s of CPU."""
    from seqtune import pipeline

    motifs = ["MA0139.2", "MA0035.4", "MA0080.5", "MA0148.4"]  # CTCF, GATA1, SPI1, FOXA1
    f = tmp_path_factory.mktemp("finetuned")
    model = {"channels": 32, "n_blocks": 2}
    pipeline.simulate(f / "corpus", "motif_presence", 3000, 100, motifs, seed=1)
    pipeline.split(str(f / "corpus/codes.npy"), str(f / "cm.tsv"), str(f / "cs.json"), 0.15, 0.15, seed=1)
    pipeline.pretrain(str(f / "corpus/codes.npy"), str(f / "cm.tsv"), str(f / "pre.safetensors"), str(f / "ph.tsv"),
                      model, {"learning_rate": 0.005, "batch_size": 128, "max_epochs": 4, "patience": 2}, seed=1)
    pipeline.simulate(f / "target", "motif_grammar", 1500, 100, [], seed=2, required=motifs[:2],
                      distractors=motifs[2:])
    pipeline.split(str(f / "target/codes.npy"), str(f / "tm.tsv"), str(f / "ts.json"), 0.15, 0.15, seed=2)
    pipeline.finetune(str(f / "target/codes.npy"), str(f / "tm.tsv"), str(f / "ft.safetensors"), str(f / "fh.tsv"),
                      str(f / "ids.tsv"), "full", 1000, seed=1, pretrained=str(f / "pre.safetensors"),
                      training={"batch_size": 32, "max_epochs": 15, "patience": 4})
    return f / "ft.safetensors"


def test_destroying_a_planted_ctcf_site_lowers_p_positive_against_neutral_variants(tmp_path, finetuned):
    from seqtune.cli import main

    output = tmp_path / "effects.tsv"
    assert main(["variant-effect", "--weights", str(finetuned), "--vcf", str(DATA / "variants.vcf.gz"),
                 "--genome", str(DATA / "variant_genome.fa"), "--output", str(output), "--summary",
                 str(tmp_path / "summary.json"), "--rc-average"]) == 0
    frame = pd.read_csv(output, sep="\t")
    kind = frame["info"].str.extract(r"KIND=(\w+)")[0]
    disrupting, neutral = frame[kind == "disrupting"], frame[kind == "neutral"]
    assert len(disrupting) > 40 and len(neutral) > 35
    assert disrupting["delta_positive"].mean() < neutral["delta_positive"].mean() - 0.1
    assert disrupting["log_odds_ratio_positive"].mean() < 0 and (disrupting["delta_positive"] < 0).mean() > 0.8
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["skipped"] == {"missing_alt": 1, "symbolic": 1, "breakend": 1, "spanning_deletion": 1,
                                  "too_long": 0}
    assert summary["scored"] == len(frame) and (kind == "unscored").sum() == 0


# -------------------------------------------------------------------------------------------------- workflow
def test_the_example_config_plans_one_variant_effect_job(tmp_path):
    (tmp_path / "config" / "examples" / "data").mkdir(parents=True)
    for name in ("variants.vcf.gz", "variant_genome.fa", "variant_genome.fa.fai"):
        shutil.copy(DATA / name, tmp_path / "config" / "examples" / "data" / name)
    process = snakemake(tmp_path, "--configfile", str(REPO / "config" / "examples" / "variant_effects.yaml"), "-n",
                        "--quiet", "rules", timeout=300)
    assert re.search(r"^variant_effect\s+1$", process.stdout, re.MULTILINE), process.stdout
    config = yaml.safe_load((REPO / "config" / "examples" / "variant_effects.yaml").read_text())
    assert set(config["variant_effects"]["inputs"]) == {"planted"}


def test_without_variant_effects_nothing_is_planned(tmp_path):
    shutil.copy(REPO / "tests" / "configs" / "tiny.yaml", tmp_path / "config.yaml")
    process = snakemake(tmp_path, "--configfile", str(tmp_path / "config.yaml"), "-n", "--quiet", "rules",
                        timeout=300)
    assert not re.search(r"^variant_effect\s", process.stdout, re.MULTILINE), process.stdout
    assert re.search(r"^predict\s|^finetune\s", process.stdout, re.MULTILINE), process.stdout
