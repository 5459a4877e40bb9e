"""Interpretation: which bases drive a prediction, do they fall on the planted motifs, and what did the filters learn.

* ``ism`` (in-silico saturation mutagenesis) and ``gradient_x_input`` give attributions (N, 4, L) for a target class;
* ``position_scores`` reduces them to one importance per position (N, L);
* ``motif_recovery`` scores those positions against the planted sites of simulated data (AUROC, precision at k);
* ``filter_motif_similarity`` matches first-layer convolution filters to JASPAR matrices;
* ``plot_attributions`` draws attribution tracks with the planted sites marked;
* ``interpret`` is the pipeline step that runs all of it for one model and writes a TSV, a JSON summary and a PNG.

What is attributed (both methods alike): the target class's logit, by default centred over the classes
(``z_t - mean_k z_k``). A softmax model is trained only on differences between its logits, so the part of ``z_t``
that all classes share is arbitrary (a randomly initialised head puts some there); the centred logit removes it and,
for two classes, is half the log-odds ``log p_t / (1 - p_t)``. Multi-label (sigmoid) models have independent logits,
which are used as they are (``center_logits=False``). Logits rather than log-probabilities, because the
log-probability saturates for confident predictions, hiding the effect of a mutation in a sequence that stays
confidently positive.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from .errors import SeqtuneError
from .metrics import auroc_rows
from .motifs import Motif, best_alignment, centred_log_odds
from .sequence import ALPHABET, N_CODE, one_hot

log = logging.getLogger("seqtune")

POSITION_SCORES = ("max_abs", "reference", "abs_reference")
METHODS = ("ism", "gradient_x_input")
BASE_COLOURS = ("#109648", "#255C99", "#F7B32B", "#D62839")  # A, C, G, T as in sequence logos


# ---------------------------------------------------------------------------------------------------------- helpers
def _device_of(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def _check_codes(codes) -> np.ndarray:
    codes = np.asarray(codes)
    if codes.ndim != 2:
        raise ValueError(f"codes: expected a (N, L) array of uint8 codes, got shape {codes.shape}")
    if codes.size and (codes.min() < 0 or codes.max() > N_CODE):
        raise ValueError(f"codes: values must lie in 0-{N_CODE} (ACGT, N), found {codes.min()}-{codes.max()}")
    return codes.astype(np.uint8, copy=False)


def _check_target(target_class, n: int, n_outputs: int) -> np.ndarray:
    """The target class of each sequence, (N,) int64, from an int or an array of N ints."""
    target = np.broadcast_to(np.asarray(target_class, dtype=np.int64), (n,)).copy()
    if target.size and (target.min() < 0 or target.max() >= n_outputs):
        raise ValueError(f"target_class: must lie in 0-{n_outputs - 1} for a model with {n_outputs} outputs, "
                         f"got {target.min()}-{target.max()}")
    return target


def _target_score(logits: torch.Tensor, target: torch.Tensor, center_logits: bool) -> torch.Tensor:
    """(M, K) logits and (M,) target indices -> (M,) scores: the target logit, centred over classes if asked."""
    if center_logits and logits.shape[1] > 1:
        logits = logits - logits.mean(dim=1, keepdim=True)
    return logits.gather(1, target[:, None])[:, 0]


class _EvalMode:
    """Put a model in eval mode for a block and restore its previous mode afterwards."""

    def __init__(self, model: nn.Module):
        self.model = model

    def __enter__(self):
        self.modes = [module.training for module in self.model.modules()]
        self.model.eval()
        return self.model

    def __exit__(self, *exc):
        for module, mode in zip(self.model.modules(), self.modes):
            module.training = mode
        return False


def _n_outputs(model: nn.Module, length: int, device: torch.device) -> int:
    with torch.no_grad():
        shape = model(torch.zeros(1, 4, length, device=device)).shape
    if len(shape) != 2:
        raise ValueError(f"model: expected logits of shape (B, K) for one-hot input (B, 4, L), got {tuple(shape)}")
    return int(shape[1])


# ------------------------------------------------------------------------------------------------------ attribution
def ism(model: nn.Module, codes: np.ndarray, target_class, batch_size: int = 2048, center_logits: bool = True,
        center: bool = False) -> np.ndarray:
    """In-silico saturation mutagenesis: the effect of every single-base substitution on the target score.

    All mutants of a chunk of sequences are built at once as one uint8 code tensor (index arithmetic, no per-mutant
    Python) and run through the model in batches of ``batch_size``, in eval mode, on the model's device.

    Parameters
    ----------
    model : nn.Module
        Takes one-hot input (B, 4, L) and returns logits (B, K).
    codes : np.ndarray
        uint8 codes (N, L), 0-3 = ACGT, 4 = N.
    target_class : int or np.ndarray
        Class (output index) to attribute, one for all sequences or one per sequence (N,).
    batch_size : int
        Mutants per forward pass.
    center_logits : bool
        Score the logit minus the mean logit over classes (see the module docstring); ``False`` for multi-label
        models.
    center : bool
        Subtract, at every position, the mean over the four bases (the usual "mean-centred ISM"): the reference entry
        then says how much better the reference base is than an average base, and the four entries sum to zero.

    Returns
    -------
    np.ndarray
        float32 (N, 4, L): ``score(mutant with base b at position i) - score(reference)``; the reference base's entry
        is exactly 0 (before centring). At an N position all four bases are substitutions of the all-zero column.
    """
    codes = _check_codes(codes)
    if batch_size < 1:
        raise ValueError(f"batch_size: must be positive, got {batch_size}")
    n, length = codes.shape
    device = _device_of(model)
    result = np.zeros((n, 4, length), dtype=np.float32)
    if n == 0:
        return result
    with _EvalMode(model), torch.no_grad():
        target = _check_target(target_class, n, _n_outputs(model, length, device))
        bases = np.arange(4, dtype=np.uint8)
        # Sequences per chunk: keep the chunk's mutant codes (3L copies of L bytes each) near 32 MB.
        per_chunk = max(1, (32 << 20) // (4 * length * length))
        for first in range(0, n, per_chunk):
            chunk = np.array(codes[first:first + per_chunk])  # a writable copy (codes may be memory-mapped)
            # Every (sequence, position, base) whose base differs from the reference is one mutant.
            is_mutant = chunk[:, None, :] != bases[None, :, None]  # (c, 4, L)
            sequence, base, position = np.nonzero(is_mutant)
            mutants = chunk[sequence].copy()
            mutants[np.arange(sequence.size), position] = base
            chunk_target = torch.from_numpy(target[first:first + per_chunk]).to(device)
            reference = _batched_scores(model, torch.from_numpy(chunk).to(device),
                                        chunk_target, batch_size, center_logits)
            mutant_target = chunk_target[torch.from_numpy(sequence).to(device)]
            scores = _batched_scores(model, torch.from_numpy(mutants).to(device), mutant_target, batch_size,
                                     center_logits)
            delta = (scores - reference[torch.from_numpy(sequence).to(device)]).cpu().numpy()
            result[first + sequence, base, position] = delta
    if center:
        result -= result.mean(axis=1, keepdims=True)
    return result


def _batched_scores(model: nn.Module, codes: torch.Tensor, target: torch.Tensor, batch_size: int,
                    center_logits: bool) -> torch.Tensor:
    out = [_target_score(model(one_hot(codes[start:start + batch_size])).float(), target[start:start + batch_size],
                         center_logits) for start in range(0, codes.shape[0], batch_size)]
    return torch.cat(out)


def gradient_x_input(model: nn.Module, codes: np.ndarray, target_class, batch_size: int = 256,
                     center_logits: bool = True, correct_gradients: bool = False) -> np.ndarray:
    """Gradient of the target score with respect to the one-hot input, times the input.

    Parameters
    ----------
    model, codes, target_class, center_logits
        As in :func:`ism`.
    batch_size : int
        Sequences per forward and backward pass.
    correct_gradients : bool
        Subtract the mean gradient over the four bases at each position before multiplying by the input (the
        correction of Majdandzic et al. 2023: the gradient component orthogonal to the one-hot simplex is noise the
        model never sees in training).

    Returns
    -------
    np.ndarray
        float32 (N, 4, L): the gradient at the reference base in that base's row, zeros elsewhere (and all zeros at N
        positions).
    """
    codes = _check_codes(codes)
    n, length = codes.shape
    device = _device_of(model)
    result = np.zeros((n, 4, length), dtype=np.float32)
    if n == 0:
        return result
    with _EvalMode(model):
        target = torch.from_numpy(_check_target(target_class, n, _n_outputs(model, length, device))).to(device)
        tensor = torch.from_numpy(np.array(codes)).to(device)
        for start in range(0, n, batch_size):
            x = one_hot(tensor[start:start + batch_size]).requires_grad_(True)
            score = _target_score(model(x).float(), target[start:start + batch_size], center_logits)
            (gradient,) = torch.autograd.grad(score.sum(), x)
            if correct_gradients:
                gradient = gradient - gradient.mean(dim=1, keepdim=True)
            result[start:start + x.shape[0]] = (gradient * x).detach().cpu().numpy()
    return result


def position_scores(attributions: np.ndarray, codes: np.ndarray, method: str = "max_abs",
                    window: int = 1) -> np.ndarray:
    """One importance per position from attributions (N, 4, L).

    Parameters
    ----------
    attributions : np.ndarray
        (N, 4, L) from :func:`ism` or :func:`gradient_x_input`.
    codes : np.ndarray
        uint8 codes (N, L) of the attributed sequences.
    method : {"max_abs", "reference", "abs_reference"}
        ``max_abs``: the largest absolute attribution over the four bases (for ISM: the strongest substitution
        effect, of either sign; for gradient x input: the absolute attribution of the reference base).
        ``reference``: the reference base's attribution minus the mean over the four bases at that position, signed
        (positive: the base supports the target class). For uncentred ISM this is minus the mean effect of the three
        substitutions, times 3/4; for gradient x input it is 3/4 of the reference base's attribution; for centred ISM
        it is the reference entry itself. ``abs_reference``: its absolute value. N positions score 0 under
        ``reference`` and ``abs_reference``.
    window : int
        Average the scores over a centred window of this many positions (1: none). A window about the width of a
        motif turns base-level scores into site-level scores: a degenerate position inside a binding site then
        scores like its site.

    Returns
    -------
    np.ndarray
        float32 (N, L).
    """
    attributions = np.asarray(attributions, dtype=np.float32)
    codes = _check_codes(codes)
    if attributions.ndim != 3 or attributions.shape[1] != 4 or attributions.shape[::2] != codes.shape:
        raise ValueError(f"attributions: expected shape (N, 4, L) = ({codes.shape[0]}, 4, {codes.shape[1]}), "
                         f"got {attributions.shape}")
    if method not in POSITION_SCORES:
        raise ValueError(f"method: '{method}' is not one of {POSITION_SCORES}")
    if window < 1:
        raise ValueError(f"window: must be at least 1, got {window}")
    if method == "max_abs":
        scores = np.abs(attributions).max(axis=1)
    else:
        centred = attributions - attributions.mean(axis=1, keepdims=True)
        reference = np.minimum(codes, 3).astype(np.int64)[:, None, :]
        scores = np.take_along_axis(centred, reference, axis=1)[:, 0, :]
        scores[codes == N_CODE] = 0.0
        if method == "abs_reference":
            scores = np.abs(scores)
    if window > 1:
        scores = _moving_average(scores, window)
    return scores.astype(np.float32)


def _moving_average(scores: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average along the last axis; near the ends, the mean over the part of the window inside."""
    padded = np.pad(scores, ((0, 0), (window // 2, (window - 1) // 2)))
    cumulative = np.concatenate([np.zeros((scores.shape[0], 1)), np.cumsum(padded, axis=1)], axis=1)
    sums = cumulative[:, window:] - cumulative[:, :-window]
    inside = np.convolve(np.ones(scores.shape[1]), np.ones(window), mode="full")[(window - 1) // 2:][:scores.shape[1]]
    return sums / inside


# --------------------------------------------------------------------------------------------------- motif recovery
def site_mask(sites: Sequence[Sequence[tuple]], length: int) -> np.ndarray:
    """Boolean (N, L) mask of the positions inside any site; ``sites[i]`` lists (start, end, ...) tuples, 0-based
    half-open."""
    mask = np.zeros((len(sites), length), dtype=bool)
    for row, spans in enumerate(sites):
        for span in spans:
            start, end = int(span[0]), int(span[1])
            if not 0 <= start < end <= length:
                raise ValueError(f"sites: span ({start}, {end}) of sequence {row} lies outside 0-{length}")
            mask[row, start:end] = True
    return mask


def sites_by_sequence(sites: pd.DataFrame, ids: Sequence[str], motif_ids: Sequence[str] | None = None) -> list:
    """The planted sites of each of ``ids`` as lists of (start, end, motif_name, motif_id), from a sites.tsv table.

    ``motif_ids``: keep only sites of these motifs (all when None).
    """
    keep = sites["sequence_id"].isin(list(ids))
    if motif_ids is not None:
        keep &= sites["motif_id"].isin(list(motif_ids))
    chosen = sites[keep]
    grouped: dict[str, list] = {}
    for record_id, start, end, name, motif_id in zip(chosen["sequence_id"], chosen["start"].astype(int),
                                                     chosen["end"].astype(int), chosen["motif_name"].astype(str),
                                                     chosen["motif_id"].astype(str)):
        grouped.setdefault(record_id, []).append((int(start), int(end), name, motif_id))
    return [grouped.get(record_id, []) for record_id in ids]


def motif_recovery(position_scores: np.ndarray, sites_for_each_sequence: Sequence[Sequence[tuple]],
                   k: int | None = None) -> dict:
    """How well per-position scores single out the planted motif positions, sequence by sequence.

    Parameters
    ----------
    position_scores : np.ndarray
        (N, L), higher = more important.
    sites_for_each_sequence : list of lists of (start, end, ...) tuples
        Planted sites per sequence, 0-based half-open; a position inside any site is a positive.
    k : int, optional
        Precision at k: the fraction of the k top-scoring positions that lie in a site. By default k is the number of
        site positions of the sequence (so precision at k is also recall at k, "R-precision").

    Returns
    -------
    dict
        ``auroc`` and ``precision_at_k``: means over the sequences with at least one site (NaN if there are none);
        ``n_sequences``: how many that is; ``per_sequence``: a dict of (N,) arrays ``auroc``, ``precision_at_k``
        (NaN for sequences without sites) and ``n_site_positions``.
    """
    scores = np.asarray(position_scores, dtype=np.float64)
    if scores.ndim != 2:
        raise ValueError(f"position_scores: expected shape (N, L), got {scores.shape}")
    if len(sites_for_each_sequence) != scores.shape[0]:
        raise ValueError(f"sites_for_each_sequence: {len(sites_for_each_sequence)} entries for "
                         f"{scores.shape[0]} sequences")
    if k is not None and not 1 <= k <= scores.shape[1]:
        raise ValueError(f"k: must lie in 1-{scores.shape[1]}, got {k}")
    mask = site_mask(sites_for_each_sequence, scores.shape[1])
    n_positive = mask.sum(axis=1)
    auroc = np.full(scores.shape[0], np.nan)
    precision = np.full(scores.shape[0], np.nan)
    rows = np.flatnonzero((n_positive > 0) & (n_positive < scores.shape[1]))
    if rows.size:
        # AUROC of every sequence at once (ties count one half, exactly as sklearn's roc_auc_score).
        positives = n_positive[rows]
        auroc[rows] = auroc_rows(mask[rows], scores[rows])
        # Stable descending order: ties keep position order, so constant scores are not credited with the sites.
        order = np.argsort(-scores[rows], axis=1, kind="stable")
        hits = np.take_along_axis(mask[rows], order, axis=1).cumsum(axis=1)
        top = np.full(rows.size, k) if k else positives
        precision[rows] = hits[np.arange(rows.size), top - 1] / top
    valid = ~np.isnan(auroc)
    return {
        "auroc": float(auroc[valid].mean()) if valid.any() else float("nan"),
        "precision_at_k": float(precision[valid].mean()) if valid.any() else float("nan"),
        "n_sequences": int(valid.sum()),
        "per_sequence": {"auroc": auroc, "precision_at_k": precision, "n_site_positions": n_positive},
    }


# ------------------------------------------------------------------------------------------- filters against motifs
def filter_motif_similarity(first_conv_weight, motifs: list[Motif], min_overlap: int | None = None) -> pd.DataFrame:
    """Match each first-layer convolution filter to its most similar JASPAR motif (a simple TOMTOM).

    A filter's weights on one-hot input act as a position weight matrix: its response is the sum of the weights of
    the bases present. Adding a constant to the four weights of one position shifts every response equally (the bias
    or batch norm absorbs it), and scaling all weights rescales every response, so a filter is compared only up to
    those changes: each position is centred over the four bases, and similarity is the Pearson correlation (which
    ignores overall scale) between the centred filter and the motif's position-centred log-odds
    ``log2(p / 0.25)``, flattened over the aligned positions. The best over all offsets (both matrices overlapping by
    at least ``min_overlap`` positions) and both strands of the motif is reported. A filter set to a motif's log-odds
    matrix scores 1 against it.

    Parameters
    ----------
    first_conv_weight : array or tensor
        (C, 4, K) weights of the first Conv1d (``model.backbone.blocks[0][0].weight``).
    motifs : list of Motif
        Candidates (``seqtune.motifs.load_motifs``).
    min_overlap : int, optional
        Fewest aligned positions; defaults to the narrower of filter and motif, so the narrower lies wholly inside the
        wider (short overlaps correlate highly by chance).

    Returns
    -------
    pd.DataFrame
        One row per filter: ``filter``, ``motif_id``, ``motif_name``, ``similarity`` (Pearson r in [-1, 1]),
        ``strand`` (+ or -, of the motif), ``offset`` (motif start relative to the filter's first position), and
        ``weight_norm`` (the filter's L2 norm after centring; near-zero filters are dead).
    """
    weight = first_conv_weight.detach().cpu().numpy() if isinstance(first_conv_weight, torch.Tensor) \
        else np.asarray(first_conv_weight)
    if weight.ndim != 3 or weight.shape[1] != 4:
        raise ValueError(f"first_conv_weight: expected shape (C, 4, K), got {weight.shape}")
    if not motifs:
        raise ValueError("motifs: give at least one motif to compare the filters with")
    similarity, strand, offset, norm = _filter_motif_scores(weight, motifs, min_overlap)
    best = similarity.argmax(axis=1)
    rows = np.arange(weight.shape[0])
    return pd.DataFrame({
        "filter": rows,
        "motif_id": [motifs[j].jaspar_id for j in best],
        "motif_name": [motifs[j].name for j in best],
        "similarity": similarity[rows, best],
        "strand": strand[rows, best],
        "offset": offset[rows, best],
        "weight_norm": norm,
    })


def _filter_motif_scores(weight: np.ndarray, motifs: list[Motif], min_overlap: int | None):
    """Best similarity (C, M), its motif strand (C, M), offset (C, M), and each filter's centred norm (C,)."""
    n_filters = weight.shape[0]
    similarity = np.full((n_filters, len(motifs)), -np.inf)
    strand = np.full((n_filters, len(motifs)), "+", dtype=object)
    offset = np.zeros((n_filters, len(motifs)), dtype=np.int64)
    matrices = [w.T - w.T.mean(axis=1, keepdims=True) for w in weight.astype(np.float64)]  # (K, 4), centred
    for j, motif in enumerate(motifs):
        log_odds = centred_log_odds(motif.probabilities)
        # Reverse complement in ACGT order: reverse the positions and the base columns.
        for sign, matrix_b in (("+", log_odds), ("-", log_odds[::-1, ::-1])):
            for i, matrix_a in enumerate(matrices):
                shortest = min(matrix_a.shape[0], matrix_b.shape[0])
                r, shift = best_alignment(matrix_a, matrix_b, min(min_overlap or shortest, shortest))
                if r > similarity[i, j]:
                    similarity[i, j], strand[i, j], offset[i, j] = r, sign, shift
    norm = np.array([np.sqrt((matrix ** 2).sum()) for matrix in matrices])
    return similarity, strand, offset, norm


# -------------------------------------------------------------------------------------------------------- plotting
def plot_attributions(codes: np.ndarray, scores: np.ndarray, sites: Sequence[Sequence[tuple]],
                      path: str | os.PathLike, ids: Sequence[str], titles: Sequence[str] | None = None,
                      max_sequences: int = 6, width: float = 12.0, row_height: float = 1.8) -> None:
    """Attribution tracks of a few sequences, with the planted sites as shaded, labelled spans; a PNG, atomically.

    Parameters
    ----------
    codes : np.ndarray
        uint8 (N, L).
    scores : np.ndarray
        Per-position scores (N, L), or attributions (N, 4, L), drawn as the reference base's centred attribution
        (``position_scores(..., method="reference")``). Bars are coloured by the reference base.
    sites : list of lists of (start, end, name) tuples
        Planted sites per sequence (``sites_by_sequence``).
    path : path
        The PNG to write.
    ids : list of str
        Sequence ids, used as panel titles (with ``titles[i]`` appended when given).
    max_sequences : int
        Draw at most this many (the first ones).
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    from .io import atomic_path

    codes = _check_codes(codes)
    scores = np.asarray(scores)
    if scores.ndim == 3:
        scores = position_scores(scores, codes, method="reference")
    if scores.shape != codes.shape:
        raise ValueError(f"scores: expected shape {codes.shape} (or (N, 4, L)), got {scores.shape}")
    if not len(ids) == len(sites) == codes.shape[0]:
        raise ValueError(f"ids ({len(ids)}) and sites ({len(sites)}) must have one entry per sequence "
                         f"({codes.shape[0]})")
    n = min(max_sequences, codes.shape[0])
    if n == 0:
        raise ValueError("codes: no sequences to plot")
    figure = Figure(figsize=(width, row_height * n + 0.6), layout="constrained")
    axes = figure.subplots(n, 1, squeeze=False)[:, 0]
    positions = np.arange(codes.shape[1])
    colours = np.array([*BASE_COLOURS, "#999999"])
    for row, ax in enumerate(axes):
        ax.bar(positions, scores[row], width=1.0, color=colours[codes[row]], linewidth=0)
        ax.axhline(0, color="black", linewidth=0.5)
        top = np.abs(scores[row]).max() or 1.0
        ax.set_ylim(-1.15 * top, 1.35 * top)
        for span in sites[row]:
            start, end = int(span[0]), int(span[1])
            ax.axvspan(start - 0.5, end - 0.5, color="#888888", alpha=0.2, linewidth=0)
            if len(span) > 2:
                ax.text((start + end - 1) / 2, 1.3 * top, str(span[2]), ha="center", va="top", fontsize=8)
        title = str(ids[row]) + (f"  {titles[row]}" if titles is not None else "")
        ax.set_title(title, loc="left", fontsize=9)
        ax.set_xlim(-0.5, codes.shape[1] - 0.5)
        ax.set_ylabel("attribution", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[-1].set_xlabel("position (0-based)", fontsize=8)
    handles = [Patch(color=colour, label=base) for colour, base in zip(BASE_COLOURS, ALPHABET)]
    handles.append(Patch(color="#888888", alpha=0.3, label="planted site"))
    # Above the first panel, right of its title, so it never covers a site label.
    axes[0].legend(handles=handles, ncol=5, fontsize=7, loc="lower right", bbox_to_anchor=(1.0, 1.0), frameon=False)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=110)


# ------------------------------------------------------------------------------------------------------ the step
def _select(priority: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``n`` items, lowest ``priority`` first and at random within a priority; returned in index order."""
    order = np.lexsort((rng.random(priority.size), priority))
    return np.sort(order[:n])


def _targets_and_sites(data, test: np.ndarray, sites: pd.DataFrame, rng: np.random.Generator):
    """For each test example: the class to attribute, its label-relevant planted sites, all its planted sites, and a
    selection priority (0 best)."""
    ids = data.ids[test]
    all_sites = sites_by_sequence(sites, ids)
    planted = np.array([len(spans) > 0 for spans in all_sites])
    if data.multilabel:
        # One class per sequence, at random among those it carries; its relevant sites are that motif's.
        present = data.labels[data.classes].to_numpy()[test] > 0
        target = np.array([rng.choice(np.flatnonzero(row)) if row.any() else 0 for row in present], dtype=np.int64)
        relevant = [[span for span in spans if span[3] == data.classes[t]] for spans, t in zip(all_sites, target)]
        has_relevant = np.array([len(spans) > 0 for spans in relevant])
        priority = np.where(has_relevant, 0, np.where(present.any(axis=1), 1, 2))
        return target, relevant, all_sites, priority, [data.classes[t] for t in sorted(set(target.tolist()))]
    targets = data.targets()[test]
    rule = data.info.get("rule", {}).get("all_of")
    relevant = [[span for span in spans if span[3] in rule] for spans in all_sites] if rule else all_sites
    has_relevant = np.array([len(spans) > 0 for spans in relevant])
    if len(data.classes) == 2:
        # Binary: attribute the positive (last) class; prefer positives carrying the label-relevant sites.
        positive = targets == len(data.classes) - 1
        target = np.full(test.size, len(data.classes) - 1, dtype=np.int64)
        priority = np.where(positive & has_relevant, 0, np.where(positive, 1, np.where(planted, 2, 3)))
    else:
        target = targets.astype(np.int64)
        priority = np.where(has_relevant, 0, 1)
    return target, relevant, all_sites, priority, list(rule) if rule else None


def interpret(weights: str, codes: str, manifest: str, sites: str, n_sequences: int, out_tsv: str, out_json: str,
              out_png: str, method: str = "ism", seed: int = 0, position_score: str = "max_abs", window: int = 1,
              batch_size: int = 2048, n_plot: int = 4, threads: int = 1, gpus: int = 0,
              run: dict | None = None) -> dict:
    """Attribute a trained model's predictions on test sequences and score them against the planted motif sites.

    Picks ``n_sequences`` test-split sequences at random (``seed``), preferring, for binary tasks, positives that carry
    the label-relevant sites (the motifs of the grammar's ``rule.all_of``; distractor motifs are planted independently
    of the label, so a correct model ignores them), and attributes the positive class; for multi-label tasks, a class
    each sequence carries, with that motif's sites as the relevant ones; for multi-class tasks, the sequence's own
    class and all its sites. Both ISM and gradient x input are computed, reduced with ``position_score`` (averaged over
    ``window`` positions), and scored with :func:`motif_recovery` against the relevant sites and against all planted
    sites. When the model has a convolution on the one-hot input (the first layer of the cnn, dilated_cnn and
    transformer backbones), its filters are matched to the data set's motifs (grammar: ``rule.all_of`` and
    ``distractors``; multi-label: ``classes``); otherwise ``filters`` is null.

    Writes
    ------
    out_tsv : one row per sequence: id, label, target class, its predicted probability, site counts, and AUROC and
        precision at k per method, against relevant (``<method>_auroc``) and all (``<method>_auroc_all_sites``) sites.
    out_json : settings, means per method and site set, the filter table and each motif's best filter, timings.
    out_png : attribution tracks (``method``) of the first ``n_plot`` selected sequences, planted sites shaded.

    ``run``: the run's identity (pretrained, strategy, train_size, seed), copied into the JSON for
    :func:`summarise_interpretation`. Returns the JSON summary.
    """
    from .data import read_dataset, read_manifest
    from .io import read_tsv, write_json, write_tsv
    from .train import configure_torch, predict_proba, select_device
    from .weights import load_model

    if method not in METHODS:
        raise SeqtuneError(f"unknown interpretation method '{method}'; choose one of {', '.join(METHODS)}")
    if position_score not in POSITION_SCORES:
        raise SeqtuneError(f"unknown position score '{position_score}'; choose one of {', '.join(POSITION_SCORES)}")
    if n_sequences < 1 or window < 1:
        raise SeqtuneError(f"n_sequences ({n_sequences}) and window ({window}) must be positive")
    configure_torch(threads, seed)
    device = select_device(gpus)
    data = read_dataset(codes)
    model, sidecar = load_model(weights)
    if getattr(model, "head_kind", "linear") != "linear":
        raise SeqtuneError(f"{weights}: a {model.head_kind}-head (pretraining) model has no classes to attribute; "
                           "interpret a fine-tuned model")
    if list(sidecar.get("classes", [])) != data.classes:
        raise SeqtuneError(f"{weights}: model classes {sidecar.get('classes')} differ from the data's {data.classes}")
    model.to(device)
    assignment = read_manifest(manifest, data)
    test = np.flatnonzero(assignment == "test")
    if test.size == 0:
        raise SeqtuneError(f"{manifest}: no test examples to interpret; set split.test_fraction above 0")
    site_table = read_tsv(sites, text=True, required=["sequence_id", "motif_id", "motif_name", "start", "end"],
                          dtype={"sequence_id": str, "motif_id": str, "motif_name": str})
    rng = np.random.default_rng(seed)
    target, relevant, all_sites, priority, relevant_motifs = _targets_and_sites(data, test, site_table, rng)
    chosen = _select(priority, n_sequences, rng)
    rows = test[chosen]
    target, priority = target[chosen], priority[chosen]
    relevant = [relevant[i] for i in chosen]
    all_sites = [all_sites[i] for i in chosen]
    sequence_codes = np.ascontiguousarray(data.codes[rows])
    center_logits = not data.multilabel
    log.info("interpreting %d test sequences (%d with label-relevant sites) of %s", rows.size,
             int((priority == 0).sum()), weights)

    started = time.perf_counter()
    attributions = {"ism": ism(model, sequence_codes, target, batch_size, center_logits)}
    seconds = {"ism": time.perf_counter() - started}
    started = time.perf_counter()
    # A tokenised model (a Hugging Face backbone) has no gradient with respect to the bases: ISM only.
    tokenised = hasattr(getattr(model, "backbone", None), "tokens")
    attributions["gradient_x_input"] = None if tokenised else gradient_x_input(model, sequence_codes, target,
                                                                               center_logits=center_logits)
    seconds["gradient_x_input"] = time.perf_counter() - started
    if tokenised and method == "gradient_x_input":
        log.warning("gradient x input needs a gradient with respect to the bases, which a tokenised model has not; "
                    "plotting ISM")
        method = "ism"
    probabilities = predict_proba(model, torch.from_numpy(sequence_codes).to(device), data.multilabel)
    probability = probabilities[np.arange(rows.size), target]

    table = pd.DataFrame({
        "id": data.ids[rows],
        "label": _labels(data, rows),
        "target_class": np.asarray(data.classes)[target],
        "probability": probability,
        "n_relevant_sites": [len(spans) for spans in relevant],
        "n_sites": [len(spans) for spans in all_sites],
    })
    recovery = {}
    for name, values in attributions.items():
        if values is None:  # not computable for this model: empty columns, null means
            empty = {"auroc": None, "precision_at_k": None}
            recovery[name] = {"relevant": dict(empty), "all": dict(empty), "per_motif": {}}
            table = table.assign(**{f"{name}_{measure}{suffix}": np.nan for measure in ("auroc", "precision_at_k")
                                    for suffix in ("", "_all_sites")})
            continue
        scores = position_scores(values, sequence_codes, position_score, window)
        columns, recovery[name] = _recovery(scores, relevant, all_sites, name)
        table = table.assign(**columns)
    filters = _filter_summary(model, data.info)

    if data.multilabel:
        target_description, score = "a class each sequence carries", "target logit"
    else:
        target_description = "positive (last) class" if len(data.classes) == 2 else "each sequence's own class"
        score = "target logit centred over classes"
    summary = {
        "weights": str(weights), "data": str(Path(codes).parent), "seed": seed, "method": method,
        "target": target_description, "score": score, "position_score": position_score, "window": window,
        "n_sequences": int(rows.size), "n_with_relevant_sites": int(sum(len(spans) > 0 for spans in relevant)),
        "relevant_motifs": relevant_motifs, "mean_probability": float(probability.mean()),
        "recovery": recovery, "not_computed": [name for name, values in attributions.items() if values is None],
        "filters": filters, "seconds": seconds, "run": dict(run or {}), "plot": str(out_png),
    }
    write_tsv(out_tsv, table)
    write_json(out_json, summary)
    labelled = [[(span[0], span[1], span[2] if span in relevant[i] else f"{span[2]} (not relevant)")
                 for span in all_sites[i]] for i in range(rows.size)]
    titles = [f"{data.classes[t]} p={p:.2f}  {method} AUROC {a:.2f}" for t, p, a in
              zip(target, probability, table[f"{method}_auroc"])]
    plot_attributions(sequence_codes, attributions[method], labelled, out_png, list(data.ids[rows]), titles,
                      max_sequences=n_plot)
    for name in METHODS:
        log.info("%s: motif recovery AUROC %s, precision at k %s (relevant sites); %.1f s", name,
                 recovery[name]["relevant"]["auroc"], recovery[name]["relevant"]["precision_at_k"], seconds[name])
    return summary


def _labels(data, rows: np.ndarray) -> list[str]:
    """The label of each row; for multi-label data, the classes present, comma-separated."""
    if not data.multilabel:
        return data.labels["label"].astype(str).to_numpy()[rows].tolist()
    present = data.labels[data.classes].to_numpy()[rows] > 0
    return [",".join(np.asarray(data.classes)[row]) for row in present]


def _recovery(scores: np.ndarray, relevant: list, all_sites: list, name: str) -> tuple[dict, dict]:
    """Per-sequence columns and mean recovery of one method's position scores (N, L): against the label-relevant
    sites, against all planted sites, and against each motif's sites alone (every other position, other sites
    included, counting as negative), which shows which motifs the model uses."""
    columns, summary = {}, {}
    for site_set, spans, suffix in (("relevant", relevant, ""), ("all", all_sites, "_all_sites")):
        result = motif_recovery(scores, spans)
        columns[f"{name}_auroc{suffix}"] = result["per_sequence"]["auroc"]
        columns[f"{name}_precision_at_k{suffix}"] = result["per_sequence"]["precision_at_k"]
        summary[site_set] = _means(result)
    motif_ids = sorted({span[3] for spans in all_sites for span in spans})
    summary["per_motif"] = {
        motif_id: _means(motif_recovery(scores, [[span for span in spans if span[3] == motif_id]
                                                 for spans in all_sites]))
        for motif_id in motif_ids}
    return columns, summary


def _means(result: dict) -> dict:
    """The JSON-ready part of a ``motif_recovery`` result (NaN as null)."""
    return {key: (None if isinstance(value, float) and np.isnan(value) else value)
            for key, value in result.items() if key != "per_sequence"}


def _filter_summary(model: nn.Module, info: dict) -> dict | None:
    """Filter-vs-motif table (as records) and each motif's best filter, for models with a convolution on the one-hot
    input and data that name motifs; None otherwise."""
    from .motifs import load_motifs

    first = next((module for module in model.modules() if isinstance(module, nn.Conv1d) and module.in_channels == 4),
                 None)
    if first is None:
        return None
    if info.get("type") == "multilabel":
        motif_ids = list(info.get("classes", []))
    else:
        motif_ids = list(info.get("rule", {}).get("all_of", [])) + list(info.get("distractors", []))
    if not motif_ids:
        return None
    motifs = load_motifs(motif_ids)
    weight = first.weight.detach().cpu().numpy()
    table = filter_motif_similarity(weight, motifs)
    similarity, _, _, _ = _filter_motif_scores(weight, motifs, None)
    # Chance level: the same filters with their positions shuffled (base preferences kept, their order lost).
    rng = np.random.default_rng(0)
    shuffled = np.stack([w[:, rng.permutation(w.shape[1])] for w in weight])
    null, _, _, _ = _filter_motif_scores(shuffled, motifs, None)
    best = {}
    for j, motif in enumerate(motifs):
        top = int(similarity[:, j].argmax())
        best[motif.jaspar_id] = {"motif_name": motif.name, "filter": top, "similarity": float(similarity[top, j]),
                                 "shuffled_filters_similarity": float(null[:, j].max()),
                                 "n_filters_best_matching": int((table["motif_id"] == motif.jaspar_id).sum())}
    return {"method": "max Pearson r of position-centred filter weights vs motif log-odds, over offsets and strands",
            "motifs": motif_ids, "best_filter_per_motif": best, "table": table.to_dict(orient="records")}


# ------------------------------------------------------------------------------------------------------ across runs
MEASURES = ("auroc", "precision_at_k")
SITE_SETS = {"relevant": "", "all": "_all_sites"}  # site set -> column suffix in the per-run table


def _value(value) -> float:
    return float("nan") if value is None else float(value)


def _run_model(run: dict) -> str:
    """The model label (``strategy:pretrained``) of a run's identity as recorded in an interpretation summary."""
    from .stats import run_label

    return run_label(str(run.get("pretrained", "none")), str(run.get("strategy", "unknown")))


def interpretation_runs(summaries: Sequence[dict]) -> pd.DataFrame:
    """One row per interpreted run (the JSON summaries of :func:`interpret`): its identity, then motif-recovery AUROC
    and precision at k per method, against the label-relevant sites and (``_all_sites``) all planted sites."""
    from .stats import run_label

    rows = []
    for summary in summaries:
        run = summary.get("run") or {}
        pretrained, strategy = str(run.get("pretrained", "none")), str(run.get("strategy", "unknown"))
        row = {"model": run_label(pretrained, strategy), "strategy": strategy, "pretrained": pretrained,
               "train_size": int(run.get("train_size", 0)), "seed": int(run.get("seed", 0))}
        for method in METHODS:
            for site_set, suffix in SITE_SETS.items():
                for measure in MEASURES:
                    row[f"{method}_{measure}{suffix}"] = _value(summary["recovery"][method][site_set][measure])
        row.update({"n_sequences": int(summary["n_sequences"]),
                    "n_with_relevant_sites": int(summary["n_with_relevant_sites"]),
                    "mean_probability": float(summary["mean_probability"]),
                    "seconds": float(sum(summary.get("seconds", {}).values()))})
        rows.append(row)
    if not rows:
        raise SeqtuneError("no interpretation summaries to collect; interpret at least one model")
    return pd.DataFrame(rows).sort_values(["model", "train_size", "seed"]).reset_index(drop=True)


def recovery_summary(runs: pd.DataFrame, reference: str = "scratch") -> pd.DataFrame:
    """Long table, one row per model x train size x method x site set x measure: mean and sd over seeds, and the
    difference from ``reference`` (the same architecture from scratch) paired by seed: mean, sd, 95% CI, p-value."""
    from .stats import mean_ci, paired_difference

    rows = []
    for (model, size), group in runs.groupby(["model", "train_size"], sort=True):
        for method in METHODS:
            for site_set, suffix in SITE_SETS.items():
                for measure in MEASURES:
                    column = f"{method}_{measure}{suffix}"
                    spread = mean_ci(group[column])
                    row = {"model": model, "strategy": group["strategy"].iloc[0],
                           "pretrained": group["pretrained"].iloc[0], "train_size": int(size), "method": method,
                           "sites": site_set, "measure": measure, "n_seeds": spread["n"], "mean": spread["mean"],
                           "sd": spread["sd"]}
                    difference = (paired_difference(runs, model, reference, size, column)
                                  if model != reference and reference in set(runs["model"]) else None)
                    for key in ("n", "mean", "sd", "ci_low", "ci_high", "p_value"):
                        row[f"minus_{reference}_{key}"] = difference[key] if difference else float("nan")
                    rows.append(row)
    return pd.DataFrame(rows)


def filter_summary(summaries: Sequence[dict]) -> pd.DataFrame:
    """Per model x motif: the best first-layer filter's similarity to the motif, mean and sd over seeds, beside the
    same for position-shuffled filters (chance), and how many filters match that motif best (mean over seeds)."""
    from .stats import mean_ci

    records = []
    for summary in summaries:
        filters = summary.get("filters")
        if not filters:
            continue
        run = summary.get("run") or {}
        model = _run_model(run)
        relevant = set(summary.get("relevant_motifs") or [])
        for motif_id, best in filters["best_filter_per_motif"].items():
            records.append({"model": model, "train_size": int(run.get("train_size", 0)), "motif_id": motif_id,
                            "motif_name": best["motif_name"], "relevant": motif_id in relevant,
                            "similarity": best["similarity"], "chance": best["shuffled_filters_similarity"],
                            "n_filters": best["n_filters_best_matching"]})
    if not records:
        return pd.DataFrame(columns=["model", "train_size", "motif_id", "motif_name", "relevant", "n_seeds",
                                     "similarity_mean", "similarity_sd", "chance_mean", "n_filters_mean"])
    frame = pd.DataFrame(records)
    rows = []
    for (model, size, motif_id), group in frame.groupby(["model", "train_size", "motif_id"], sort=True):
        spread = mean_ci(group["similarity"])
        rows.append({"model": model, "train_size": int(size), "motif_id": motif_id,
                     "motif_name": group["motif_name"].iloc[0], "relevant": bool(group["relevant"].iloc[0]),
                     "n_seeds": spread["n"], "similarity_mean": spread["mean"], "similarity_sd": spread["sd"],
                     "chance_mean": float(group["chance"].mean()), "n_filters_mean": float(group["n_filters"].mean())})
    return pd.DataFrame(rows)


def per_motif_summary(summaries: Sequence[dict], method: str = "ism") -> pd.DataFrame:
    """Per model x motif: motif-recovery AUROC of ``method`` against that motif's sites alone, mean over seeds (which
    motifs a model attends to: the grammar's or the distractors)."""

    records = []
    for summary in summaries:
        run = summary.get("run") or {}
        model = _run_model(run)
        for motif_id, result in summary["recovery"][method].get("per_motif", {}).items():
            records.append({"model": model, "train_size": int(run.get("train_size", 0)), "motif_id": motif_id,
                            "auroc": _value(result["auroc"])})
    if not records:
        return pd.DataFrame(columns=["model", "train_size", "motif_id", "auroc_mean", "n_seeds"])
    frame = pd.DataFrame(records)
    return (frame.groupby(["model", "train_size", "motif_id"], sort=True)["auroc"]
            .agg(auroc_mean="mean", n_seeds="count").reset_index())


def interpretation_sentences(summary: pd.DataFrame, method: str = "ism", reference: str = "scratch") -> list[str]:
    """Plain sentences: each model's motif-recovery AUROC (label-relevant sites) and its difference from scratch."""
    sentences = []
    selected = summary[(summary["method"] == method) & (summary["sites"] == "relevant")
                       & (summary["measure"] == "auroc")]
    for size, group in selected.groupby("train_size", sort=True):
        parts = [f"{row['model']} {row['mean']:.3f}" + (f" ± {row['sd']:.3f}" if np.isfinite(row["sd"]) else "")
                 for _, row in group.sort_values("mean", ascending=False).iterrows()]
        sentence = (f"At {size} training examples, {method} motif-recovery AUROC on the label-relevant sites "
                    "(mean ± sd over seeds): " + ", ".join(parts) + ".")
        prefix = f"minus_{reference}_"
        differences = [f"{row['model']} {row[prefix + 'mean']:+.3f} (95% CI {row[prefix + 'ci_low']:+.3f} to "
                       f"{row[prefix + 'ci_high']:+.3f})" for _, row in group.iterrows()
                       if row["model"] != reference and np.isfinite(row[prefix + "ci_low"])]
        if differences:
            sentence += f" Difference from {reference}, paired by seed: " + "; ".join(differences) + "."
        sentences.append(sentence)
    return sentences


def summarise_interpretation(summary_files: Sequence[str], out_tsv: str, out_json: str) -> dict:
    """Collect the per-run interpretation summaries (the JSON files of :func:`interpret`) into one table and JSON.

    Writes
    ------
    out_tsv : :func:`recovery_summary`, one row per model x train size x method x site set x measure.
    out_json : ``runs`` (:func:`interpretation_runs`), ``summary`` (the TSV's rows), ``filters``
        (:func:`filter_summary`), ``per_motif`` (:func:`per_motif_summary` of both methods), ``plots`` (the attribution
        plot of each model at its first seed), ``settings`` and ``sentences``.
    """
    import json

    from .io import finite_json, read_json, write_json, write_tsv

    summaries = [read_json(path) for path in summary_files]
    runs = interpretation_runs(summaries)
    summary = recovery_summary(runs)
    filters = filter_summary(summaries)
    per_motif = pd.concat([per_motif_summary(summaries, method).assign(method=method) for method in METHODS],
                          ignore_index=True)
    plots, seen = [], set()
    for item in sorted(summaries, key=lambda item: (item["run"].get("seed", 0), json.dumps(item["run"], sort_keys=True))
                       if item.get("run") else (0, "")):
        run = item.get("run") or {}
        model = _run_model(run)
        if (model, run.get("train_size")) not in seen and item.get("plot"):
            seen.add((model, run.get("train_size")))
            plots.append({"model": model, "train_size": run.get("train_size"), "seed": run.get("seed"),
                          "path": item["plot"], "method": item["method"]})
    first = summaries[0]
    result = {
        "settings": {key: first.get(key) for key in ("method", "position_score", "window", "n_sequences", "target",
                                                      "score", "relevant_motifs", "seed")},
        "sentences": interpretation_sentences(summary),
        "summary": summary.to_dict(orient="records"),
        "runs": runs.to_dict(orient="records"),
        "filters": filters.to_dict(orient="records"),
        "per_motif": per_motif.to_dict(orient="records"),
        "plots": plots,
    }
    write_tsv(out_tsv, summary)
    write_json(out_json, finite_json(result))
    for sentence in result["sentences"]:
        log.info("%s", sentence)
    return result


