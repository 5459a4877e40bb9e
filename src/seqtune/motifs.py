"""Transcription-factor motifs from JASPAR, read offline through pyjaspar's bundled database."""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import numpy as np

from .errors import SeqtuneError


@dataclass(frozen=True)
class Motif:
    """A position frequency matrix as probabilities, shape (width, 4) over ACGT."""

    jaspar_id: str
    name: str
    probabilities: np.ndarray

    @property
    def width(self) -> int:
        return self.probabilities.shape[0]


@functools.lru_cache(maxsize=1)
def _database():
    from pyjaspar import jaspardb

    return jaspardb()


def load_motif(jaspar_id: str, pseudocount: float = 0.25) -> Motif:
    """Fetch one matrix by its JASPAR matrix ID (for example ``MA0139.2``) and normalise its counts."""
    database = _database()
    try:
        with warnings.catch_warnings():  # an unknown ID: pyjaspar warns, then returns None; our error says it better
            warnings.simplefilter("ignore")
            record = database.fetch_motif_by_id(jaspar_id)
    except Exception:  # pyjaspar raises assorted errors for malformed IDs
        record = None
    if record is None:
        raise SeqtuneError(
            f"unknown JASPAR matrix ID '{jaspar_id}' (database {database.release}); "
            "use a versioned ID such as MA0139.2, as listed on jaspar.elixir.no"
        )
    return _motif(record, pseudocount, jaspar_id)


def _motif(record, pseudocount: float, jaspar_id: str | None = None) -> Motif:
    """A pyjaspar record as a Motif (named ``jaspar_id``, by default the record's own): counts plus a pseudocount,
    normalised per position."""
    counts = np.array([record.counts[base] for base in "ACGT"], dtype=np.float64).T + pseudocount
    return Motif(jaspar_id or record.matrix_id, str(record.name), counts / counts.sum(axis=1, keepdims=True))


def load_motifs(jaspar_ids: list[str]) -> list[Motif]:
    return [load_motif(jaspar_id) for jaspar_id in jaspar_ids]


# ------------------------------------------------------------------------------------------------ motif similarity
def centred_log_odds(probabilities: np.ndarray, background: float = 0.25) -> np.ndarray:
    """(W, 4) probabilities -> (W, 4) log-odds with each position's mean removed."""
    log_odds = np.log2(probabilities / background)
    return log_odds - log_odds.mean(axis=1, keepdims=True)


def best_alignment(matrix_a: np.ndarray, matrix_b: np.ndarray, min_overlap: int) -> tuple[float, int]:
    """Max Pearson correlation between two (W, 4) position-centred matrices over offsets with at least
    ``min_overlap`` aligned positions; offset = start of ``matrix_b`` relative to the start of ``matrix_a``."""
    k, w = matrix_a.shape[0], matrix_b.shape[0]
    best, best_offset = -np.inf, 0
    for offset in range(-(w - min_overlap), k - min_overlap + 1):
        first, last = max(0, offset), min(k, offset + w)
        a = matrix_a[first:last].ravel()
        b = matrix_b[first - offset:last - offset].ravel()
        a, b = a - a.mean(), b - b.mean()
        denominator = np.sqrt((a * a).sum() * (b * b).sum())
        r = float((a * b).sum() / denominator) if denominator > 0 else 0.0
        if r > best:
            best, best_offset = r, offset
    return best, best_offset


def motif_similarity(a: Motif, b: Motif, min_overlap: int = 6) -> float:
    """How alike two motifs are, as a simple TOMTOM: the best Pearson correlation of their position-centred
    log-odds over every offset that aligns at least ``min_overlap`` positions (fewer if a motif is narrower), on
    both strands of ``b``. 1 for identical motifs; unrelated JASPAR motifs mostly score 0.3-0.6 (short aligned
    stretches correlate by chance)."""
    matrix_a, matrix_b = centred_log_odds(a.probabilities), centred_log_odds(b.probabilities)
    overlap = min(min_overlap, a.width, b.width)
    return max(best_alignment(matrix_a, matrix_b, overlap)[0],
               best_alignment(matrix_a, matrix_b[::-1, ::-1], overlap)[0])  # reverse complement in ACGT order


def jaspar_motifs(collection: str = "CORE", tax_group: str = "vertebrates", widths: tuple[int, int] = (8, 20),
                  pseudocount: float = 0.25) -> list[Motif]:
    """Every motif of a JASPAR collection and taxon (latest version of each) whose width is within ``widths``."""
    records = _database().fetch_motifs(collection=collection, tax_group=[tax_group], all_versions=False)
    motifs = [_motif(record, pseudocount) for record in records]
    return [motif for motif in motifs if widths[0] <= motif.width <= widths[1]]


def unrelated_motifs(reference_ids: list[str], n: int, candidates: list[Motif] | None = None,
                     max_similarity: float = 0.4, max_mutual_similarity: float = 0.6) -> list[tuple[Motif, float]]:
    """Motifs for a negative-control pretraining corpus: ``n`` motifs that share nothing with ``reference_ids``.

    Candidates (by default every JASPAR CORE vertebrate motif 8-20 positions wide) are taken in order of their
    highest ``motif_similarity`` to any reference motif, least similar first; one is skipped when it resembles an
    already chosen motif more than ``max_mutual_similarity`` (so the corpus is not eight paralogues of one factor).
    Returns (motif, its highest similarity to a reference) pairs. Raises if fewer than ``n`` candidates stay at or
    below ``max_similarity``.
    """
    references = load_motifs(reference_ids)
    candidates = jaspar_motifs() if candidates is None else candidates
    # Another version of a reference matrix, or another matrix of the same factor, is not unrelated.
    reference_bases = {motif.jaspar_id.split(".")[0] for motif in references}
    reference_names = {motif.name.upper() for motif in references}
    scored = sorted(
        ((max(motif_similarity(candidate, reference) for reference in references), candidate.jaspar_id, candidate)
         for candidate in candidates
         if candidate.jaspar_id.split(".")[0] not in reference_bases and candidate.name.upper() not in reference_names),
    )
    chosen: list[tuple[Motif, float]] = []
    for similarity, _, candidate in scored:
        if len(chosen) == n or similarity > max_similarity:
            break
        if all(motif_similarity(candidate, other) <= max_mutual_similarity for other, _ in chosen):
            chosen.append((candidate, similarity))
    if len(chosen) < n:
        raise SeqtuneError(f"only {len(chosen)} motifs have a similarity of at most {max_similarity} to "
                           f"{reference_ids} and differ from each other; ask for fewer or raise max_similarity")
    return chosen
