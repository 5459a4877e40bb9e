"""Dinucleotide shuffle (Altschul & Erickson 1985): a random sequence with exactly the same 2-mer counts, first and
last base as the input, order otherwise destroyed.

A model that still scores well on shuffled test sequences reads composition (mono- and dinucleotide content, GC,
CpG), not motifs or their arrangement: the shortcut control. tangermeme ships an equivalent (``dinucleotide_shuffle``)
but brings numba and llvmlite for it; this is the same algorithm in plain numpy, on seqtune's uint8 codes.

The algorithm: the sequence is an Eulerian path in the graph whose vertices are symbols and whose edges are the
sequence's 2-mers. Pick, for every vertex but the last symbol, a random "last exit" edge so that the last exits form
a tree rooted at the last symbol (draw again until they do); shuffle every vertex's other exits; then walk from the
first symbol, taking each vertex's exits in that order and its last exit last. Every Eulerian path with the same
start is equally likely.
"""

from __future__ import annotations

import numpy as np

from .errors import SeqtuneError


def dinucleotide_shuffle(codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One dinucleotide shuffle of one sequence of codes (L,) (0-3 ACGT, 4 N: N is a symbol like the others).

    Parameters
    ----------
    codes : np.ndarray, shape (L,)
        The sequence, uint8 codes.
    rng : np.random.Generator
        The source of randomness (seeded by the caller).

    Returns
    -------
    np.ndarray, shape (L,)
        A new array with the same 2-mer counts, the same first and the same last code.
    """
    codes = np.asarray(codes)
    if codes.ndim != 1:
        raise SeqtuneError(f"dinucleotide_shuffle takes one sequence (L,), got shape {codes.shape}")
    if codes.size < 3:
        return codes.copy()
    symbols = int(codes.max()) + 1
    exits = [list(codes[1:][codes[:-1] == v]) for v in range(symbols)]
    last = int(codes[-1])
    present = [v for v in range(symbols) if exits[v] and v != last]
    for _ in range(10_000):
        chosen = {v: int(rng.integers(len(exits[v]))) for v in present}
        if _is_tree(chosen, exits, last):
            break
    else:  # unreachable in practice: a valid tree exists (the input's own last exits form one)
        raise SeqtuneError("dinucleotide_shuffle found no spanning tree in 10,000 draws")
    order = []
    for v in range(symbols):
        edges = list(exits[v])
        tail = [edges.pop(chosen[v])] if v in chosen else []
        rng.shuffle(edges)
        order.append(edges + tail)
    result = np.empty_like(codes)
    result[0] = vertex = int(codes[0])
    position = [0] * symbols
    for i in range(1, codes.size):
        nxt = order[vertex][position[vertex]]
        position[vertex] += 1
        result[i] = vertex = int(nxt)
    return result


def _is_tree(chosen: dict, exits: list, root: int) -> bool:
    """Do the last exits ``chosen`` lead every vertex to ``root`` (no cycle)?"""
    for start in chosen:
        seen, vertex = set(), start
        while vertex != root:
            if vertex in seen:
                return False
            seen.add(vertex)
            vertex = int(exits[vertex][chosen[vertex]])
    return True


def shuffle_codes(codes: np.ndarray, seed: int) -> np.ndarray:
    """Dinucleotide-shuffle every sequence of codes (N, L), in order, from one generator seeded with ``seed``."""
    codes = np.asarray(codes)
    rng = np.random.default_rng(seed)
    return np.stack([dinucleotide_shuffle(row, rng) for row in codes]) if len(codes) else codes.copy()
