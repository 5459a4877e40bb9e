"""Seeds for every job, derived from the config's one seed and the job's identity (no heavy imports here: the
Snakefile uses it while parsing)."""

from __future__ import annotations

import hashlib


def derive_seed(base_seed: int, *parts) -> int:
    """A 31-bit seed from the config's seed and the job's identity (dataset, model name, run seed...).

    A hash rather than a sum, so that (1, 10) and (10, 1) differ and adding a strategy changes no other job's seed.
    """
    text = ":".join([str(base_seed), *map(str, parts)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little") & 0x7FFFFFFF
