"""The import: an input spec's records into a data set folder (see ``seqtune.data``)."""

from __future__ import annotations

import contextlib
import logging
import os

import numpy as np

from ..data import write_dataset
from ..errors import SeqtuneError
from ..io import sha256_file
from ..sequence import N_CODE
from .bed import open_genome
from .checks import _apply_side_table, _labels_table, class_order
from .encoding import encoded_chunks, iter_records
from .spec import InputSpec, Record
from .tables import read_label_table

log = logging.getLogger("seqtune")

# -------------------------------------------------------------------------------------------------------- import
# dataset.json's description of the class order, by (labelled, positive_class given)
_CLASS_ORDER = {(True, False): "sorted label strings; model output k is classes[k]",
                (True, True): "sorted label strings, the positive class (positive_class) last; model output k is "
                              "classes[k]",
                (False, False): None}


def _check_not_all_n(records: list[Record], codes: np.ndarray, source: str) -> None:
    """A labelled record whose every base is N (a BED window inside an assembly gap, a masked sequence) has no
    sequence to learn from: its label would be noise that no split, metric or control can see."""
    empty = (codes == N_CODE).all(axis=1)
    if empty.any():
        record = records[int(np.flatnonzero(empty)[0])]
        cause = ("the window lies in a run of N of the genome (an assembly gap)" if source == "bed" else
                 "the sequence is N only, or padding of a sequence that is")
        raise SeqtuneError(f"{record.where()}: every base of the record is N ({cause}); it carries no sequence to "
                           "learn from: remove it from the input")


def import_dataset(out_dir: str | os.PathLike, spec: dict, length: int, seed: int) -> None:
    """Read user data (FASTA, TSV/CSV, or BED + genome) into a data set folder (see ``seqtune.data``).

    Parameters
    ----------
    out_dir : path
        The data set folder to write (``codes.npy`` (N, length) uint8, ``labels.tsv``, ``sequences.fasta``,
        ``dataset.json``, an empty ``sites.tsv``). Nothing is written unless every record passes every check.
    spec : dict
        What to read; keys ``source``, ``path``, ``paths``, ``labels``, ``genome``, ``id_column``,
        ``label_column``, ``sequence_column``, ``split_column``, ``length_policy``, ``ambiguous``, documented on
        :class:`InputSpec`.
    length : int
        Sequence length L of the data set (see ``length_policy``; BED windows are L long).
    seed : int
        Recorded in ``dataset.json`` for a uniform step signature; the import itself is deterministic and keeps the
        input order.

    ``labels.tsv`` has ``id``, ``label`` (as strings), for BED inputs ``chrom``, ``start``, ``end``, ``strand`` (the
    window taken from the genome, 0-based, end exclusive, clipped to the chromosome), and ``split`` when the input
    gives one. ``dataset.json`` records the task type (``binary`` for 2 classes, else ``multiclass``), the classes
    (in the order of the model's outputs: see :func:`class_order`), the input files and their sha256, and the
    policies.
    """
    if not isinstance(length, int) or isinstance(length, bool) or length < 1:
        raise SeqtuneError(f"sequence length {length} must be a positive whole number")
    spec_checked = InputSpec.from_dict(spec)
    side_labels, side_splits = None, None
    if spec_checked.labels:
        side_labels, side_splits = read_label_table(spec_checked.labels, spec_checked.id_column,
                                                    spec_checked.label_column, spec_checked.split_column,
                                                    spec_checked.split_column_required)
    records: list[Record] = []
    code_chunks: list[np.ndarray] = []
    read_lengths: list[np.ndarray] = []
    labelled = spec_checked.labelled
    with (open_genome(spec_checked.genome) if spec_checked.source == "bed" else contextlib.nullcontext()) as genome:
        for chunk in encoded_chunks(iter_records(spec_checked, genome, length, need_labels=labelled), length,
                                    spec_checked.length_policy, spec_checked.ambiguous):
            if labelled:
                _check_not_all_n(chunk.records, chunk.codes, spec_checked.source)
            records.extend(chunk.records)
            code_chunks.append(chunk.codes)
            read_lengths.append(chunk.read_lengths)
    if side_labels is not None:
        _apply_side_table(records, side_labels, side_splits, spec_checked.labels)
    labels = _labels_table(records, spec_checked)
    classes = class_order(labels["label"], spec_checked.positive_class,
                          ", ".join(path for _, path in spec_checked.files()[:2])) if labelled else []
    codes = np.concatenate(code_chunks)
    lengths = np.concatenate(read_lengths)
    info = {
        "type": "unlabelled" if not labelled else "binary" if len(classes) == 2 else "multiclass",
        "classes": classes,
        "class_order": _CLASS_ORDER[(labelled, spec_checked.positive_class is not None)],
        "source": "import",
        "import": {
            "format": spec_checked.source,
            "files": [{"role": role, "path": str(path), "sha256": sha256_file(path)}
                      for role, path in spec_checked.files()],
            "length": length,
            "length_policy": spec_checked.length_policy,
            "ambiguous": spec_checked.ambiguous,
            "n_cropped": int((lengths > length).sum()),
            "n_padded": int((lengths < length).sum()) if spec_checked.source != "bed" else int(
                (labels["end"] - labels["start"] < length).sum()),
            "n_with_ambiguous_bases": int((codes == N_CODE).any(axis=1).sum()),
            "user_split": "split" in labels.columns,
            "seed": seed,
        },
    }
    if spec_checked.source == "bed":
        info["import"]["window"] = ("length-nt window centred on each interval's midpoint; reverse complement for "
                                    "strand '-'; coordinates in labels.tsv are 0-based, end exclusive")
    write_dataset(out_dir, labels["id"].tolist(), codes, labels, info)
    log.info("imported %d sequences of %d nt from %s (%s): %s", len(records), length, spec_checked.source,
             ", ".join(path for _, path in spec_checked.files()),
             ", ".join(f"{label}={count}" for label, count in labels["label"].value_counts().sort_index().items())
             if labelled else "no labels (for masked pretraining)")
    if len(classes) == 2:
        log.info("positive class (binary AUROC/AUPRC): '%s'%s", classes[1],
                 "" if spec_checked.positive_class else "; the second label in sorted order (set positive_class)")
