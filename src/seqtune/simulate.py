"""Simulated sequences with known ground truth: Markov background plus JASPAR motifs sampled from their matrices.

Two kinds of task come out of one mechanism (``plant``):

* ``motif_presence``: a pretraining corpus whose multi-label targets say which motifs a sequence carries;
* ``motif_grammar``: a small target task whose binary label follows a grammar over motifs (all ``required`` motifs
  present), with hard negatives that carry only some of them, distractor motifs, and optional label noise.

Every planted site is returned, so that interpretation can be checked against the truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import brentq

from .errors import SeqtuneError
from .motifs import Motif, load_motifs
from .sequence import COMPLEMENT


@dataclass
class SimulatedData:
    """Codes (N, L) uint8, a label table (``id`` plus label columns), planted sites, and the task description."""

    ids: list[str]
    codes: np.ndarray
    labels: pd.DataFrame
    sites: pd.DataFrame
    task: dict = field(default_factory=dict)


def markov_transitions(gc_content: float, cpg_ratio: float) -> np.ndarray:
    """First-order Markov transitions (4, 4) whose stationary GC content is ``gc_content`` and whose CpG
    observed/expected ratio, P(CG) / (P(C) P(G)), is ``cpg_ratio``.

    Vertebrate genomes have GC around 0.41 and CpG at about a quarter of its expectation (0.25); 1 gives an
    independent (order 0) background. The chain is order 0 except that the C -> G transition is scaled by a factor
    (the C row renormalised). Scaling it lowers the GC content, and the ratio it gives is not the factor itself
    (a factor 0.25 gives 0.355), so both are solved numerically (scipy's brentq): the per-base GC probability for
    the GC content, inside the factor for the ratio (the ratio grows with the factor, at a fixed GC content).
    """
    if not 0 < gc_content < 1:
        raise SeqtuneError(f"gc_content must lie strictly between 0 and 1, got {gc_content}")
    if not 0 <= cpg_ratio <= 1:
        raise SeqtuneError(f"cpg_ratio must lie between 0 and 1 (the CpG observed/expected ratio), got {cpg_ratio}")

    def chain(gc: float, factor: float) -> np.ndarray:
        base = np.array([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])
        transitions = np.tile(base, (4, 1))
        transitions[1, 2] *= factor  # C -> G
        return transitions / transitions.sum(axis=1, keepdims=True)

    def stationary(transitions: np.ndarray) -> np.ndarray:
        return np.linalg.matrix_power(transitions, 256)[0]

    def at_gc_content(factor: float) -> np.ndarray:
        gc = brentq(lambda g: stationary(chain(g, factor))[1:3].sum() - gc_content, 1e-9, 1 - 1e-9, xtol=1e-15)
        return chain(gc, factor)

    def observed_expected(factor: float) -> float:
        transitions = at_gc_content(factor)
        return transitions[1, 2] / stationary(transitions)[2]  # P(CG) / (P(C) P(G)) = P(G | C) / P(G)

    if cpg_ratio in (0, 1):  # the ends need no search: no CpG at all, or no depletion
        return at_gc_content(float(cpg_ratio))
    return at_gc_content(brentq(lambda factor: observed_expected(factor) - cpg_ratio, 0.0, 1.0, xtol=1e-15))


def sample_background(n: int, length: int, transitions: np.ndarray, rng: np.random.Generator,
                      chunk: int = 1 << 14) -> np.ndarray:
    """Sample (n, length) codes from a first-order Markov chain, vectorised over sequences.

    The uniforms are drawn ``chunk`` rows at a time: the same random stream as one (n, length) draw (numpy fills
    it row by row), so the codes are the same, with peak memory of one chunk instead of n x length float64s.
    """
    stationary = np.linalg.matrix_power(transitions, 64)[0]
    codes = np.empty((n, length), dtype=np.uint8)
    cumulative = np.cumsum(transitions, axis=1)
    cumulative[:, -1] = 1.0
    codes[:, 0] = np.searchsorted(np.cumsum(stationary), rng.random(n), side="right").clip(max=3)
    # The next base is the number of cumulative thresholds the uniform draw reaches; the 4th is 1.0, which a
    # uniform in [0, 1) never reaches, so three comparisons suffice.
    thresholds = [np.ascontiguousarray(cumulative[:, k]) for k in range(3)]
    for low in range(0, n, chunk):
        high = min(low + chunk, n)
        uniforms = rng.random((high - low, length)).T.copy()  # position-major: each step reads one contiguous row
        block = np.empty((length, high - low), dtype=np.uint8)
        block[0] = codes[low:high, 0]
        for position in range(1, length):
            previous, u = block[position - 1], uniforms[position]
            step = (u >= thresholds[0][previous]).view(np.uint8)
            step = step + (u >= thresholds[1][previous])
            block[position] = step + (u >= thresholds[2][previous])
        codes[low:high] = block.T
    return codes


def sample_sites(motif: Motif, n: int, rng: np.random.Generator) -> np.ndarray:
    """Sample n binding sites (n, width) base by base from the motif's probability matrix (not its consensus)."""
    cumulative = np.cumsum(motif.probabilities, axis=1)
    cumulative[:, -1] = 1.0
    uniforms = rng.random((n, motif.width))
    return (uniforms[:, :, None] >= cumulative[None, :, :]).sum(axis=2).astype(np.uint8)


def plant(codes: np.ndarray, presence: np.ndarray, motifs: list[Motif], ids: list[str],
          rng: np.random.Generator) -> pd.DataFrame:
    """Plant motif j into sequence i wherever ``presence[i, j]``; modifies ``codes`` in place.

    Sites never overlap: each sequence is cut into bins as wide as the widest motif, and every planted motif takes a
    distinct random bin, at a random offset inside it, on a random strand.
    Returns the planted sites (sequence_id, motif_id, motif_name, start, end, strand), 0-based half-open like BED.
    """
    n, length = codes.shape
    bin_width = max(motif.width for motif in motifs)
    n_bins = length // bin_width
    per_sequence = presence.sum(axis=1)
    if n and per_sequence.max(initial=0) > n_bins:
        raise SeqtuneError(
            f"sequence_length {length} leaves room for {n_bins} non-overlapping sites of width {bin_width}, "
            f"but up to {per_sequence.max()} motifs are planted per sequence; increase sequence_length"
        )
    # A random permutation of bins per sequence; the k-th planted motif takes the k-th bin.
    bin_order = np.argsort(rng.random((n, n_bins)), axis=1)
    slot = np.cumsum(presence, axis=1) - 1
    parts = []
    for motif_index, motif in enumerate(motifs):
        carriers = np.flatnonzero(presence[:, motif_index])
        if carriers.size == 0:
            continue
        bins = bin_order[carriers, slot[carriers, motif_index]]
        starts = bins * bin_width + rng.integers(0, bin_width - motif.width + 1, size=carriers.size)
        sites = sample_sites(motif, carriers.size, rng)
        minus = rng.random(carriers.size) < 0.5
        sites[minus] = COMPLEMENT[sites[minus]][:, ::-1]
        columns = starts[:, None] + np.arange(motif.width)[None, :]
        codes[carriers[:, None], columns] = sites
        parts.append((carriers, motif_index, starts, minus))
    columns = ["sequence_id", "motif_id", "motif_name", "start", "end", "strand"]
    if not parts:
        return pd.DataFrame(columns=columns)
    # Sites ordered by sequence (its row), then start: unique, because sites never overlap.
    row = np.concatenate([part[0] for part in parts])
    motif_of = np.concatenate([np.full(part[0].size, part[1]) for part in parts])
    start = np.concatenate([part[2] for part in parts])
    minus = np.concatenate([part[3] for part in parts])
    order = np.lexsort((start, row))
    row, motif_of, start, minus = row[order], motif_of[order], start[order], minus[order]
    widths = np.array([motif.width for motif in motifs])
    return pd.DataFrame({
        "sequence_id": np.asarray(ids, dtype=object)[row],
        "motif_id": np.asarray([motif.jaspar_id for motif in motifs], dtype=object)[motif_of],
        "motif_name": np.asarray([motif.name for motif in motifs], dtype=object)[motif_of],
        "start": start,
        "end": start + widths[motif_of],
        "strand": np.where(minus, "-", "+"),
    })


def simulate_presence(n_sequences: int, length: int, motif_ids: list[str], presence_rate: float,
                      gc_content: float, cpg_ratio: float, seed: int, id_prefix: str = "seq") -> SimulatedData:
    """A multi-label corpus: each motif present independently with probability ``presence_rate``."""
    rng = np.random.default_rng(seed)
    motifs = load_motifs(motif_ids)
    ids = [f"{id_prefix}{index:07d}" for index in range(n_sequences)]
    codes = sample_background(n_sequences, length, markov_transitions(gc_content, cpg_ratio), rng)
    presence = rng.random((n_sequences, len(motifs))) < presence_rate
    sites = plant(codes, presence, motifs, ids, rng)
    labels = pd.DataFrame(presence.astype(np.uint8), columns=[m.jaspar_id for m in motifs])
    labels.insert(0, "id", ids)
    task = {"type": "multilabel", "classes": [m.jaspar_id for m in motifs],
            "class_names": {m.jaspar_id: m.name for m in motifs}}
    return SimulatedData(ids, codes, labels, sites, task)


def simulate_grammar(n_sequences: int, length: int, required: list[str], distractors: list[str],
                     distractor_rate: float, positive_fraction: float, label_noise: float, gc_content: float,
                     cpg_ratio: float, seed: int, id_prefix: str = "seq") -> SimulatedData:
    """A binary task: ``positive`` when every motif in ``required`` is present (motif A AND motif B ...).

    Negatives are split evenly between sequences carrying none of the required motifs and, for each required motif,
    sequences carrying it alone (hard negatives: two thirds of the negatives with two required motifs). Distractor
    motifs are planted independently of the label with probability ``distractor_rate``; ``label_noise`` flips that
    fraction of labels at random.
    """
    if not required:
        raise SeqtuneError("motif_grammar needs at least one motif in 'required'")
    overlap = set(required) & set(distractors)
    if overlap:
        raise SeqtuneError(f"motif(s) {sorted(overlap)} are both required and distractors; list each in one place")
    rng = np.random.default_rng(seed)
    motifs = load_motifs(list(required) + list(distractors))
    n_required = len(required)
    ids = [f"{id_prefix}{index:07d}" for index in range(n_sequences)]
    codes = sample_background(n_sequences, length, markov_transitions(gc_content, cpg_ratio), rng)

    positive = rng.random(n_sequences) < positive_fraction
    presence = np.zeros((n_sequences, len(motifs)), dtype=bool)
    presence[positive, :n_required] = True
    # Negative kinds: 0 = none of the required motifs; k = only required motif k (a hard negative).
    negatives = np.flatnonzero(~positive)
    kinds = rng.integers(0, n_required + 1 if n_required > 1 else 1, size=negatives.size)
    for k in range(1, n_required + 1):
        presence[negatives[kinds == k], k - 1] = True
    presence[:, n_required:] = rng.random((n_sequences, len(distractors))) < distractor_rate
    sites = plant(codes, presence, motifs, ids, rng)

    truth = positive.copy()
    flipped = rng.random(n_sequences) < label_noise
    observed = truth ^ flipped
    labels = pd.DataFrame({
        "id": ids,
        "label": np.where(observed, "positive", "negative"),
        "true_label": np.where(truth, "positive", "negative"),
    })
    task = {"type": "binary", "classes": ["negative", "positive"],
            "rule": {"all_of": list(required)}, "distractors": list(distractors),
            "label_noise": label_noise, "n_flipped": int(flipped.sum())}
    return SimulatedData(ids, codes, labels, sites, task)
