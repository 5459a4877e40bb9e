"""Leakage between splits: the same or nearly the same sequence (or genomic region) on both sides of a split.

:func:`leakage_report` counts each kind and gives a few examples, as a JSON-friendly dict; :func:`check_leakage`
turns the report into warnings or, under the ``fail`` policy, an error that says how to fix the split.

Kinds, each counted across splits only (a group inside one split does no harm):

* exact duplicates: identical sequences;
* reverse-complement duplicates: a sequence and the reverse complement of another (palindromes aside);
* near-duplicates: k-mer Jaccard similarity at or above a threshold (``seqtune.split.similarity_groups``), beyond
  what exact and reverse-complement identity explain;
* overlapping intervals (BED imports): windows on the same chromosome that share bases;
* corpus overlap: test sequences found in another corpus (the pretraining data), exactly or by shared k-mers.

Identical sequences with conflicting labels are reported too; they are a data problem rather than leakage.

``leaked_test_records`` lists the test records that any kind ties to a training or validation record (or to the
corpus): the aggregate step scores every model without them too (``eval_subset`` ``deduplicated``), and under the
``exclude`` policy evaluation drops them before scoring.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .errors import SeqtuneError
from .split import SPLITS, canonical_codes, canonical_kmer_hashes, row_ids, similarity_groups

log = logging.getLogger("seqtune")

LEAKAGE_POLICIES = ("warn", "fail", "exclude")
# Kinds a test record can leak by, in the order a record is attributed to the first that explains it.
LEAK_KINDS = ("exact_duplicates", "reverse_complement_duplicates", "near_duplicates", "interval_overlaps",
              "corpus_overlap")
MAX_MEMBERS_SHOWN = 6


def _spanning_groups(groups: np.ndarray, splits: np.ndarray, within: np.ndarray | None = None) -> np.ndarray:
    """Group ids (sorted) that hold examples of two or more splits, and, when ``within`` (N,) is given, two or more
    distinct ``within`` values (so the cross-split pair is not already explained by a finer grouping)."""
    frame = pd.DataFrame({"group": groups, "split": splits})
    counts = frame.groupby("group")["split"].nunique()
    spanning = counts[counts >= 2].index.to_numpy()
    if within is not None:
        frame["within"] = within
        distinct = frame.groupby("group")["within"].nunique()
        spanning = np.intersect1d(spanning, distinct[distinct >= 2].index.to_numpy())
    return spanning


def _examples(groups: np.ndarray, chosen: np.ndarray, ids, splits, labels, max_examples: int,
              extra: dict | None = None) -> list[list[dict]]:
    """Up to ``max_examples`` of the chosen groups, each as a list of its members (id, split, label[, extra])."""
    examples = []
    for group in chosen[:max_examples]:
        members = np.flatnonzero(groups == group)[:MAX_MEMBERS_SHOWN]
        examples.append([{"id": str(ids[i]), "split": str(splits[i]), "label": str(labels[i]),
                          **({key: _plain(values[i]) for key, values in extra.items()} if extra else {})}
                         for i in members])
    return examples


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def _records_with_partner(groups: np.ndarray, splits: np.ndarray, of_split: str, partner_split: str) -> int:
    """How many ``of_split`` examples share a group with at least one ``partner_split`` example."""
    partner_groups = np.unique(groups[splits == partner_split])
    return int(np.isin(groups[splits == of_split], partner_groups).sum())


def _duplicate_section(groups: np.ndarray, splits: np.ndarray, ids, labels, max_examples: int,
                       within: np.ndarray | None = None) -> dict:
    sizes = np.bincount(groups)
    if within is None:
        multi = np.flatnonzero(sizes >= 2)
        spanning = _spanning_groups(groups, splits)
    else:
        distinct = pd.Series(within).groupby(groups).nunique()
        multi = distinct[distinct >= 2].index.to_numpy()
        spanning = _spanning_groups(groups, splits, within)
    section = {
        "groups": int(len(multi)),
        "groups_across_splits": int(len(spanning)),
        "records_in_groups_across_splits": int(np.isin(groups, spanning).sum()),
        "test_records_with_train_match": _records_with_partner(groups, splits, "test", "train"),
        "examples": _examples(groups, spanning, ids, splits, labels, max_examples),
    }
    if within is None:
        section["redundant_copies"] = int((sizes[multi] - 1).sum())
    return section


def _interval_clusters(intervals) -> tuple[pd.DataFrame, np.ndarray]:
    """The intervals as a frame, and a cluster id per interval (chained overlaps on one chromosome)."""
    frame = pd.DataFrame({"chrom": np.asarray(intervals["chrom"]).astype(str),
                          "start": np.asarray(intervals["start"], dtype=np.int64),
                          "end": np.asarray(intervals["end"], dtype=np.int64)})
    order = np.lexsort((frame["start"].to_numpy(), frame["chrom"].to_numpy()))
    ordered = frame.iloc[order].reset_index(drop=True)
    reach = ordered.groupby("chrom", sort=False)["end"].cummax().shift(1)
    new_cluster = (ordered["chrom"] != ordered["chrom"].shift(1)) | (ordered["start"] >= reach)
    clusters = np.empty(len(frame), dtype=np.int64)
    clusters[order] = np.cumsum(new_cluster.to_numpy()) - 1
    return frame, clusters


def _interval_overlaps(intervals, splits: np.ndarray, ids, labels, max_examples: int) -> dict:
    """Clusters of overlapping intervals (chained overlaps on one chromosome) that hold two or more splits."""
    frame, clusters = _interval_clusters(intervals)
    spanning = _spanning_groups(clusters, splits)
    in_spanning = np.isin(clusters, spanning)
    extra = {"chrom": frame["chrom"].to_numpy(), "start": frame["start"].to_numpy(), "end": frame["end"].to_numpy()}
    return {
        "clusters_across_splits": int(len(spanning)),
        "records_in_clusters_across_splits": int(in_spanning.sum()),
        "test_records_overlapping_train": _records_with_partner(clusters, splits, "test", "train"),
        "examples": _examples(clusters, spanning, ids, splits, labels, max_examples, extra),
    }


def _kmer_set(codes: np.ndarray, k: int, keep_below: np.uint64, max_block: int = 1 << 22) -> np.ndarray:
    """Sorted unique canonical k-mer hashes of all rows, keeping only hashes below ``keep_below`` (FracMinHash)."""
    width = max(codes.shape[1] - k + 1, 1)
    parts = []
    for start in range(0, codes.shape[0], max(1, max_block // width)):
        hashes, valid = canonical_kmer_hashes(codes[start:start + max(1, max_block // width)], k)
        kept = hashes[valid & (hashes < keep_below)]
        parts.append(np.unique(kept))
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.uint64)


def _corpus_overlap(test_codes: np.ndarray, test_ids, other_codes: np.ndarray, k: int, threshold: float,
                    max_examples: int, max_corpus_kmers: int = 20_000_000) -> dict:
    """Test sequences found in the other corpus: identical (or reverse complement) when lengths match, and the
    fraction of each test sequence's canonical k-mers present anywhere in the corpus (its containment).

    For a corpus with more than ``max_corpus_kmers`` k-mers, both sides keep only k-mers whose hash falls in the
    lowest 1/s of the hash range (FracMinHash with scale s), which estimates containment without the memory.
    """
    other_codes = np.asarray(other_codes)
    section = {"k": k, "threshold": threshold, "test_records": int(len(test_codes))}
    if other_codes.shape[1] == test_codes.shape[1] and len(test_codes):
        both = row_ids(canonical_codes(np.concatenate([test_codes, other_codes])))
        identical = np.isin(both[:len(test_codes)], both[len(test_codes):])
        section["test_records_identical"] = int(identical.sum())
    else:
        identical = np.zeros(len(test_codes), dtype=bool)
        section["test_records_identical"] = None  # lengths differ: whole-sequence identity is not defined
    total_kmers = other_codes.shape[0] * max(other_codes.shape[1] - k + 1, 0)
    scale = max(1, int(np.ceil(total_kmers / max_corpus_kmers)))
    keep_below = np.uint64((1 << 64) // scale - 1) if scale > 1 else np.uint64((1 << 64) - 1)
    corpus_set = _kmer_set(other_codes, k, keep_below)
    hashes, valid = canonical_kmer_hashes(test_codes, k)
    counted = valid & (hashes <= keep_below)
    found = counted & np.isin(hashes, corpus_set).reshape(hashes.shape)
    n_counted = counted.sum(axis=1)
    containment = np.where(n_counted > 0, found.sum(axis=1) / np.maximum(n_counted, 1), 0.0)
    contained = containment >= threshold
    worst = np.argsort(-containment, kind="stable")[:max_examples]
    section.update({
        "leaked": contained | identical,
        "sketch_scale": scale,
        "test_records_contained": int(contained.sum()),
        "mean_containment": float(containment.mean()) if len(containment) else 0.0,
        "examples": [{"id": str(test_ids[i]), "containment": round(float(containment[i]), 4),
                      "identical": bool(identical[i])} for i in worst if containment[i] >= threshold],
    })
    return section


def leakage_report(ids, codes: np.ndarray, labels, splits, intervals=None, other_codes: np.ndarray | None = None,
                   near_k: int = 8, near_threshold: float = 0.5, corpus_k: int = 16, max_examples: int = 5,
                   seed: int = 0) -> dict:
    """Count sequences shared across splits, and with another corpus; see the module docstring for the kinds.

    Parameters
    ----------
    ids : array-like of str, shape (N,)
    codes : numpy.ndarray, shape (N, L), uint8 codes 0-4
    labels : array-like, shape (N,)
        Label of each example (for multi-label data, any string that identifies the label set).
    splits : array-like of str, shape (N,)
        ``train``, ``validation`` or ``test``.
    intervals : mapping or DataFrame with ``chrom``, ``start``, ``end`` columns of length N, optional
        Genomic windows (0-based, end exclusive), e.g. ``labels.tsv`` of a BED import.
    other_codes : numpy.ndarray, shape (M, L'), optional
        Another corpus (the pretraining data); L' may differ from L.
    near_k, near_threshold : int, float
        k-mer size and Jaccard threshold of near-duplicates (``similarity_groups``); ``near_threshold`` is also the
        containment at which a test sequence counts as found in ``other_codes``.
    corpus_k : int
        k-mer size of the corpus check; long enough (16) that a shared k-mer means shared sequence, not chance.
    max_examples : int
        Examples per kind.

    Returns
    -------
    dict
        ``n_sequences``, ``split_sizes``, and one section per kind: ``exact_duplicates``,
        ``reverse_complement_duplicates``, ``near_duplicates``, each with ``groups`` (groups of 2+ members not
        explained by the kind before: exact, then reverse complement, then near), ``groups_across_splits``,
        ``records_in_groups_across_splits``, ``examples``, and ``test_records_with_train_match``, which is
        cumulative (test records with an identical / identical-or-RC / any similar train record);
        ``exact_duplicates`` also has ``redundant_copies`` (records beyond the first of each group);
        ``conflicting_labels`` (``groups``, ``records``, ``examples``), ``interval_overlaps`` and ``corpus_overlap``
        (``None`` when not given), and ``parameters``.
    """
    ids = np.asarray(ids).astype(str)
    codes = np.asarray(codes)
    labels = np.asarray(labels).astype(str)
    splits = np.asarray(splits).astype(str)
    if not (len(ids) == len(codes) == len(labels) == len(splits)):
        raise SeqtuneError(f"leakage report: ids ({len(ids)}), codes ({len(codes)}), labels ({len(labels)}) and "
                           f"splits ({len(splits)}) must have one entry per sequence")
    exact = row_ids(codes)
    canonical = row_ids(canonical_codes(codes))
    similar = similarity_groups(codes, k=near_k, threshold=near_threshold, seed=seed)

    label_counts = pd.Series(labels).groupby(exact).nunique()
    conflicting = label_counts[label_counts >= 2].index.to_numpy()
    report = {
        "n_sequences": int(len(ids)),
        "split_sizes": {split: int((splits == split).sum()) for split in SPLITS},
        "exact_duplicates": _duplicate_section(exact, splits, ids, labels, max_examples),
        "reverse_complement_duplicates": _duplicate_section(canonical, splits, ids, labels, max_examples,
                                                            within=exact),
        "near_duplicates": _duplicate_section(similar, splits, ids, labels, max_examples, within=canonical),
        "conflicting_labels": {
            "groups": int(len(conflicting)),
            "records": int(np.isin(exact, conflicting).sum()),
            "examples": _examples(exact, conflicting, ids, splits, labels, max_examples),
        },
        "interval_overlaps": (_interval_overlaps(intervals, splits, ids, labels, max_examples)
                              if intervals is not None else None),
        "corpus_overlap": None,
        "parameters": {"near_k": near_k, "near_threshold": near_threshold, "corpus_k": corpus_k},
    }
    if other_codes is not None:
        test = splits == "test"
        report["corpus_overlap"] = _corpus_overlap(codes[test], ids[test], other_codes, corpus_k, near_threshold,
                                                   max_examples)
    corpus_leaked = np.zeros(len(ids), dtype=bool)
    if report["corpus_overlap"] is not None:
        corpus_leaked[splits == "test"] = report["corpus_overlap"].pop("leaked")
    kinds = {"exact_duplicates": _with_partner(exact, splits), "reverse_complement_duplicates":
             _with_partner(canonical, splits), "near_duplicates": _with_partner(similar, splits),
             "interval_overlaps": (_with_partner(_interval_clusters(intervals)[1], splits) if intervals is not None
                                   else np.zeros(len(ids), dtype=bool)),
             "corpus_overlap": corpus_leaked}
    report["leaked_test_records"] = leaked_test_records(ids, kinds)
    return report


def _with_partner(groups: np.ndarray, splits: np.ndarray) -> np.ndarray:
    """(N,) bool: test records whose group holds a training or validation record."""
    seen = np.unique(groups[splits != "test"])
    return (splits == "test") & np.isin(groups, seen)


def leaked_test_records(ids: np.ndarray, kinds: dict[str, np.ndarray]) -> dict:
    """``count`` of test records some kind flags, ``by_kind`` (each record counted under the first kind of
    ``LEAK_KINDS`` that flags it, so the counts add up to ``count``) and their ``ids`` in data order."""
    leaked = np.zeros(len(ids), dtype=bool)
    by_kind = {}
    for kind in LEAK_KINDS:
        new = kinds[kind] & ~leaked
        by_kind[kind] = int(new.sum())
        leaked |= new
    return {"count": int(leaked.sum()), "by_kind": by_kind, "ids": [str(i) for i in ids[leaked]]}


def leaked_ids(report: dict) -> set[str]:
    """The ids of the leaked test records of a leakage report (empty for a report written before they were listed)."""
    return set((report.get("leaked_test_records") or {}).get("ids", []))


def leakage_sentence(report: dict) -> str | None:
    """The verdict's first sentence when test records leak: how many, of which kind; None when none do."""
    leaked = report.get("leaked_test_records") or {}
    if not leaked.get("count"):
        return None
    names = {"exact_duplicates": "identical to", "reverse_complement_duplicates": "the reverse complement of",
             "near_duplicates": "nearly identical to (k-mer similarity)", "interval_overlaps": "overlapping"}
    kinds = "; ".join(f"{n} {names[kind]} a training or validation record" if kind in names else
                      f"{n} found in the pretraining corpus" for kind, n in leaked["by_kind"].items() if n)
    n_test = (report.get("split_sizes") or {}).get("test")
    of = f" of {n_test}" if n_test else ""
    action = ("they were dropped before scoring (leakage.policy: exclude), so every metric is on the rest"
              if report.get("policy") == "exclude" else
              "every model is also scored without them (eval_subset deduplicated); trust those rows, or set "
              "leakage.policy: exclude")
    return f"LEAKAGE: {leaked['count']}{of} test records leak ({kinds}); {action}."


def leakage_findings(report: dict) -> list[str]:
    """One sentence per kind of cross-split (or corpus) leakage found in ``report``; empty when clean."""
    findings = []
    for key, what in (("exact_duplicates", "identical sequence(s)"),
                      ("reverse_complement_duplicates", "reverse-complement pair group(s)"),
                      ("near_duplicates", "near-duplicate group(s)")):
        section = report[key]
        if section["groups_across_splits"]:
            findings.append(f"{section['groups_across_splits']} {what} span splits "
                            f"({section['records_in_groups_across_splits']} records)")
    overlaps = report.get("interval_overlaps")
    if overlaps and overlaps["clusters_across_splits"]:
        findings.append(f"{overlaps['clusters_across_splits']} cluster(s) of overlapping intervals span splits "
                        f"({overlaps['records_in_clusters_across_splits']} records)")
    corpus = report.get("corpus_overlap")
    if corpus and (corpus["test_records_contained"] or corpus.get("test_records_identical")):
        findings.append(f"{corpus['test_records_contained']} of {corpus['test_records']} test records share at "
                        f"least {corpus['threshold']:.0%} of their {corpus['k']}-mers with the other corpus "
                        f"({corpus.get('test_records_identical') or 0} identical)")
    return findings


def check_leakage(report: dict, policy: str = "warn", source: str = "split") -> list[str]:
    """Act on a leakage report: log a warning per finding (``warn``) or stop with all of them (``fail``).

    Conflicting labels are always only a warning. Returns the findings (empty when the split is clean).
    """
    if policy not in LEAKAGE_POLICIES:
        raise SeqtuneError(f"leakage policy '{policy}' is not one of {', '.join(LEAKAGE_POLICIES)}")
    findings = leakage_findings(report)
    conflicts = report["conflicting_labels"]
    if conflicts["groups"]:
        examples = "; ".join(", ".join(f"{m['id']}:{m['label']}" for m in group) for group in conflicts["examples"])
        log.warning("%s: %d identical-sequence group(s) carry conflicting labels (%d records), e.g. %s; check the "
                    "labels or drop these records", source, conflicts["groups"], conflicts["records"], examples)
    if not findings:
        return findings
    fix = ("split by similarity groups (split.method: similarity) or by chromosome (split.method: chromosome), "
           "remove the duplicates, or set leakage.policy: warn to proceed knowingly")
    if policy == "fail":
        raise SeqtuneError(f"{source}: leakage across splits: " + "; ".join(findings) + f". Fix: {fix}")
    for finding in findings:
        log.warning("%s: leakage: %s", source, finding)
    return findings


def deduplicated_record(record: dict, predictions, leaked: set[str]) -> dict:
    """A run's metrics.json record rescored from its ``predictions.tsv`` without the ``leaked`` test ids, at the
    run's own decision threshold; ``n_test`` counts the records left. With nothing to drop, the record as it is."""
    from .metrics import METRIC_NAMES, classification_metrics
    from .report import read_predictions

    ids, truth, probabilities, classes, _ = read_predictions(predictions, [str(c) for c in record["classes"]])
    keep = ~np.isin(ids.astype(str), list(leaked))
    if keep.all():
        return dict(record)
    threshold = (record.get("decision") or {}).get("threshold")
    scores = classification_metrics(truth[keep], probabilities[keep], len(classes), threshold)
    return {**record, **{name: scores[name] for name in METRIC_NAMES}, "confusion_matrix": scores["confusion_matrix"],
            "n_test": int(keep.sum())}
