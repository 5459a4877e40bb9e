"""Leakage across splits, and the splits that avoid it: by chromosome and by groups of similar sequences."""

import json
import logging

import numpy as np
import pandas as pd
import pytest

from seqtune.errors import SeqtuneError
from seqtune.leakage import check_leakage, leakage_report, leakage_sentence, leaked_ids
from seqtune.sequence import reverse_complement
from seqtune.split import (canonical_codes, chromosome_split, grouped_split, minhash_signatures, row_ids,
                           similarity_groups)

RNG = np.random.default_rng(5)


def random_codes(n: int, length: int) -> np.ndarray:
    return RNG.integers(0, 4, size=(n, length)).astype(np.uint8)


def mutate(row: np.ndarray, positions) -> np.ndarray:
    copy = row.copy()
    copy[list(positions)] = (copy[list(positions)] + 1) % 4
    return copy


@pytest.fixture
def planted():
    """40 random 60-nt sequences with planted relatives: an exact copy (0 -> 1), a reverse complement (2 -> 3),
    a one-substitution near-duplicate (4 -> 5), and an identical pair with conflicting labels (6 -> 7)."""
    codes = random_codes(40, 60)
    codes[1] = codes[0]
    codes[3] = reverse_complement(codes[2])
    codes[5] = mutate(codes[4], [30])
    codes[7] = codes[6]
    ids = np.array([f"s{i}" for i in range(40)])
    labels = np.array(["a", "b"] * 20)
    labels[1] = labels[0]
    labels[7] = "a" if labels[6] == "b" else "b"
    splits = np.array(["train"] * 20 + ["validation"] * 8 + ["test"] * 12, dtype=object)
    splits[[1, 3, 5]] = "test"  # 6 and 7 stay together in train
    return ids, codes, labels, splits


# ------------------------------------------------------------------------------------------------------ similarity
def test_similarity_groups_join_identical_reverse_complement_and_near(planted):
    _, codes, _, _ = planted
    groups = similarity_groups(codes)
    assert groups.shape == (40,) and groups.dtype == np.int64
    assert groups[0] == groups[1] and groups[2] == groups[3] and groups[4] == groups[5] and groups[6] == groups[7]
    assert len(np.unique(groups)) == 36  # the other 32 sequences are unrelated
    assert groups[0] == 0 and np.all(np.diff(np.unique(groups, return_index=True)[1]) > 0)


def test_similarity_threshold_and_ambiguous_rows():
    base = random_codes(1, 60)[0]
    far = mutate(base, range(0, 60, 6))  # 10 substitutions: few shared 8-mers
    only_n = np.full(60, 4, dtype=np.uint8)
    codes = np.stack([base, far, only_n, only_n.copy()])
    groups = similarity_groups(codes, threshold=0.5)
    assert groups[0] != groups[1]
    assert groups[2] == groups[3] and groups[2] not in (groups[0], groups[1])  # identical all-N rows only


def test_minhash_estimates_jaccard():
    base = random_codes(1, 200)[0]
    near = mutate(base, [50, 150])
    signatures, has_kmers = minhash_signatures(np.stack([base, near, reverse_complement(base)]), k=8)
    assert has_kmers.all() and signatures.shape == (3, 128)
    assert np.array_equal(signatures[0], signatures[2])  # canonical k-mers: reverse complement matches exactly
    assert 0.7 < (signatures[0] == signatures[1]).mean() < 0.95  # true Jaccard 177/209 = 0.85


def test_canonical_rows():
    codes = random_codes(3, 11)
    both = np.concatenate([codes, reverse_complement(codes)])
    ids = row_ids(canonical_codes(both))
    assert np.array_equal(ids[:3], ids[3:]) and len(np.unique(ids)) == 3


# -------------------------------------------------------------------------------------------------------- splits
def test_grouped_split_keeps_groups_together_and_balances_labels():
    groups = np.repeat(np.arange(200), 3)[:500]
    labels = np.where(RNG.random(500) < 0.3, "pos", "neg")
    labels = labels[groups * 3 % 500]  # one label per group
    splits = grouped_split(groups, labels, validation_fraction=0.2, test_fraction=0.3, seed=1)
    frame = pd.DataFrame({"group": groups, "split": splits, "label": labels})
    assert (frame.groupby("group")["split"].nunique() == 1).all()
    fractions = frame["split"].value_counts(normalize=True)
    assert abs(fractions["test"] - 0.3) < 0.05 and abs(fractions["validation"] - 0.2) < 0.05
    positive_rate = frame.groupby("split")["label"].apply(lambda x: (x == "pos").mean())
    assert positive_rate.max() - positive_rate.min() < 0.1
    assert np.array_equal(splits, grouped_split(groups, labels, 0.2, 0.3, seed=1))


def test_grouped_split_small_cases():
    splits = grouped_split(np.array([0, 0, 1, 1, 2, 2]), np.array(list("ababab")), 0.2, 0.3, seed=0)
    assert sorted(set(splits)) == ["test", "train", "validation"]
    with pytest.raises(SeqtuneError, match=r"validation split came out empty.*\(2 group"):
        grouped_split(np.array([0, 0, 1, 1]), np.array(list("abab")), 0.2, 0.3, seed=0)
    with pytest.raises(SeqtuneError, match="must be in"):
        grouped_split(np.array([0, 1]), np.array(list("ab")), 0.6, 0.5, seed=0)


def test_chromosome_split():
    chroms = np.array(["chr1", "chr2", "chr3", "chr1", "chrX"])
    splits = chromosome_split(chroms, ["chr2"], ["chr3", "chrX"])
    assert splits.tolist() == ["train", "validation", "test", "train", "test"]
    with pytest.raises(SeqtuneError, match="chr9 hold no examples.*chr1, chr2"):
        chromosome_split(chroms, ["chr9"], ["chr3"])
    with pytest.raises(SeqtuneError, match="train split is empty"):
        chromosome_split(chroms, ["chr1", "chr2"], ["chr3", "chrX"])
    with pytest.raises(SeqtuneError, match="validation split is empty"):
        chromosome_split(chroms, [], ["chr3"])
    with pytest.raises(SeqtuneError, match="both validation and test"):
        chromosome_split(chroms, ["chr2"], ["chr2"])


# ------------------------------------------------------------------------------------------------------- report
def test_leakage_report_counts_each_kind(planted):
    ids, codes, labels, splits = planted
    report = leakage_report(ids, codes, labels, splits)
    json.dumps(report)  # JSON-friendly
    exact = report["exact_duplicates"]
    assert (exact["groups"], exact["redundant_copies"], exact["groups_across_splits"]) == (2, 2, 1)
    assert exact["records_in_groups_across_splits"] == 2 and exact["test_records_with_train_match"] == 1
    assert {member["id"] for member in exact["examples"][0]} == {"s0", "s1"}
    reverse = report["reverse_complement_duplicates"]
    assert (reverse["groups"], reverse["groups_across_splits"], reverse["test_records_with_train_match"]) == (1, 1, 2)
    near = report["near_duplicates"]
    assert (near["groups"], near["groups_across_splits"], near["test_records_with_train_match"]) == (1, 1, 3)
    assert {member["id"] for member in near["examples"][0]} == {"s4", "s5"}
    conflicts = report["conflicting_labels"]
    assert (conflicts["groups"], conflicts["records"]) == (1, 2)
    assert report["interval_overlaps"] is None and report["corpus_overlap"] is None
    assert report["split_sizes"] == {"train": 17, "validation": 8, "test": 15}


def test_leaked_test_records_by_first_kind(planted):
    ids, codes, labels, splits = planted
    report = leakage_report(ids, codes, labels, splits)
    leaked = report["leaked_test_records"]
    assert leaked["ids"] == ["s1", "s3", "s5"] and leaked["count"] == 3
    assert leaked["by_kind"] == {"exact_duplicates": 1, "reverse_complement_duplicates": 1, "near_duplicates": 1,
                                 "interval_overlaps": 0, "corpus_overlap": 0}
    assert leaked_ids(report) == {"s1", "s3", "s5"}
    sentence = leakage_sentence({**report, "policy": "warn"})
    assert sentence.startswith("LEAKAGE: 3 of 15 test records leak (1 identical to a training or validation record")
    assert "eval_subset deduplicated" in sentence
    assert "dropped before scoring" in leakage_sentence({**report, "policy": "exclude"})
    # a copy of a test record in the corpus adds a corpus-only leak; a test record twice within test leaks nothing
    test_rows = np.flatnonzero(splits == "test")
    corpus = np.concatenate([random_codes(30, 60), codes[test_rows[-1:]]])
    report = leakage_report(ids, codes, labels, splits, other_codes=corpus)
    assert report["leaked_test_records"]["by_kind"]["corpus_overlap"] == 1
    assert report["leaked_test_records"]["ids"][-1] == ids[test_rows[-1]]
    assert "1 found in the pretraining corpus" in leakage_sentence(report)


def test_no_leakage_within_one_split(planted):
    ids, codes, labels, _ = planted
    splits = np.array(["train"] * 8 + ["validation"] * 12 + ["test"] * 20)  # every planted pair inside train
    report = leakage_report(ids, codes, labels, splits)
    assert report["exact_duplicates"]["groups"] == 2 and report["exact_duplicates"]["groups_across_splits"] == 0
    assert report["near_duplicates"]["groups_across_splits"] == 0
    assert check_leakage(report, "fail") == []  # conflicting labels alone never fail
    assert report["leaked_test_records"]["count"] == 0 and leakage_sentence(report) is None


def test_interval_overlaps_across_splits():
    codes = random_codes(5, 20)
    intervals = pd.DataFrame({"chrom": ["chr1", "chr1", "chr1", "chr2", "chr2"],
                              "start": [100, 110, 500, 100, 120], "end": [120, 130, 520, 120, 140]})
    splits = np.array(["train", "test", "test", "train", "test"])
    report = leakage_report([f"r{i}" for i in range(5)], codes, ["a", "b"] * 2 + ["a"], splits, intervals=intervals)
    overlaps = report["interval_overlaps"]
    assert overlaps["clusters_across_splits"] == 1  # chr2 100-120 and 120-140 only touch (half-open)
    assert overlaps["records_in_clusters_across_splits"] == 2 and overlaps["test_records_overlapping_train"] == 1
    assert report["leaked_test_records"]["ids"] == ["r1"]
    assert report["leaked_test_records"]["by_kind"]["interval_overlaps"] == 1
    assert overlaps["examples"][0][0] == {"id": "r0", "split": "train", "label": "a", "chrom": "chr1", "start": 100,
                                          "end": 120}


def test_corpus_overlap_with_the_test_split(planted):
    ids, codes, labels, splits = planted
    test_rows = np.flatnonzero(splits == "test")
    corpus = np.concatenate([random_codes(30, 60), codes[test_rows[:2]], reverse_complement(codes[test_rows[2:3]])])
    report = leakage_report(ids, codes, labels, splits, other_codes=corpus)
    overlap = report["corpus_overlap"]
    assert overlap["test_records"] == 15 and overlap["test_records_identical"] == 3
    assert overlap["test_records_contained"] == 3
    # a longer corpus holding a test sequence inside it: no whole-sequence identity, but containment finds it
    longer = np.concatenate([random_codes(10, 200)])
    longer[4, 70:130] = codes[test_rows[5]]
    overlap = leakage_report(ids, codes, labels, splits, other_codes=longer)["corpus_overlap"]
    assert overlap["test_records_identical"] is None and overlap["test_records_contained"] == 1
    assert overlap["examples"][0]["id"] == ids[test_rows[5]] and overlap["examples"][0]["containment"] == 1.0


def test_check_leakage_warn_and_fail(planted, caplog):
    ids, codes, labels, splits = planted
    report = leakage_report(ids, codes, labels, splits)
    with caplog.at_level(logging.WARNING, logger="seqtune"):
        findings = check_leakage(report, "warn", source="target split")
    assert len(findings) == 3
    assert "1 identical sequence(s) span splits (2 records)" in caplog.text
    assert "conflicting labels" in caplog.text and "s6:" in caplog.text
    with pytest.raises(SeqtuneError, match=r"target split: leakage across splits: 1 identical.*Fix: split by"):
        check_leakage(report, "fail", source="target split")
    with pytest.raises(SeqtuneError, match="policy 'ignore'"):
        check_leakage(report, "ignore")


def test_grouped_split_removes_the_leakage(planted):
    ids, codes, labels, _ = planted
    codes = np.concatenate([codes, random_codes(60, 60)])
    ids = np.concatenate([ids, [f"t{i}" for i in range(60)]])
    labels = np.concatenate([labels, np.array(["a", "b"] * 30)])
    splits = grouped_split(similarity_groups(codes), labels, 0.2, 0.3, seed=3)
    report = leakage_report(ids, codes, labels, splits)
    for kind in ("exact_duplicates", "reverse_complement_duplicates", "near_duplicates"):
        assert report[kind]["groups_across_splits"] == 0
