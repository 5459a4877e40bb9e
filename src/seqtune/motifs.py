"""Transcription-factor motifs from JASPAR, read offline through pyjaspar's bundled database."""

from __future__ import annotations

import functools
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
        record = database.fetch_motif_by_id(jaspar_id)
    except Exception:  # pyjaspar raises assorted errors for malformed IDs
        record = None
    if record is None:
        raise SeqtuneError(
            f"unknown JASPAR matrix ID '{jaspar_id}' (database {database.release}); "
            "use a versioned ID such as MA0139.2, as listed on jaspar.elixir.no"
        )
    counts = np.array([record.counts[base] for base in "ACGT"], dtype=np.float64).T + pseudocount
    return Motif(jaspar_id, str(record.name), counts / counts.sum(axis=1, keepdims=True))


def load_motifs(jaspar_ids: list[str]) -> list[Motif]:
    return [load_motif(jaspar_id) for jaspar_id in jaspar_ids]
