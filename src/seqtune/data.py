"""The data set folder every step reads: one layout whether the data were simulated or imported.

``<folder>/codes.npy``      uint8 (N, L) sequence codes, memory-mapped when read (see ``sequence``)
``<folder>/labels.tsv``     ``id`` then ``label`` (single-label) or one 0/1 column per class (multi-label)
``<folder>/sequences.fasta`` the same sequences, for other tools
``<folder>/dataset.json``   task type, ordered classes, length, counts
``<folder>/sites.tsv``      planted motif sites (simulated data only; empty otherwise)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import SeqtuneError
from .io import atomic_folder, read_json, read_npy, read_tsv, write_fasta, write_json, write_npy, write_tsv
from .sequence import decode

SPLIT_NAMES = ("train", "validation", "test")
DATASET_FILES = ("codes.npy", "labels.tsv", "sequences.fasta", "dataset.json", "sites.tsv")
# Columns of labels.tsv and a manifest that hold names (read as written: an id "NA" or a class "None" stays text)
TEXT_COLUMNS = {name: str for name in ("id", "label", "true_label", "split", "stratum", "chrom", "strand")}


@dataclass
class LabelledData:
    ids: np.ndarray
    codes: np.ndarray
    labels: pd.DataFrame
    info: dict

    @property
    def multilabel(self) -> bool:
        return self.info["type"] == "multilabel"

    @property
    def labelled(self) -> bool:
        """False for sequences imported without labels (``labelled: false``: masked pretraining only)."""
        return self.info["type"] != "unlabelled"

    @property
    def classes(self) -> list[str]:
        return list(self.info["classes"])

    def targets(self) -> np.ndarray:
        """Class indices (N,) for single-label data, a 0/1 matrix (N, K) for multi-label data; zeros for data
        without labels (masked pretraining makes its own targets from the sequences)."""
        if not self.labelled:
            return np.zeros(len(self.ids), dtype=np.int64)
        if self.multilabel:
            return self.labels[self.classes].to_numpy(dtype=np.float32)
        index = {label: i for i, label in enumerate(self.classes)}
        return self.labels["label"].astype(str).map(index).to_numpy(dtype=np.int64)


def write_dataset(folder: str | os.PathLike, ids: list[str], codes: np.ndarray, labels: pd.DataFrame, info: dict,
                  sites: pd.DataFrame | None = None) -> None:
    folder = Path(folder)
    info = {**info, "n_sequences": int(codes.shape[0]), "length": int(codes.shape[1])}
    if info["type"] not in ("multilabel", "unlabelled"):
        counts = labels["label"].astype(str).value_counts()
        info["class_counts"] = {label: int(counts.get(label, 0)) for label in info["classes"]}
    columns = ["sequence_id", "motif_id", "motif_name", "start", "end", "strand"]
    # The whole folder is written beside it and renamed into place: complete or absent, whoever interrupts it.
    with atomic_folder(folder, DATASET_FILES) as partial:
        write_npy(partial / "codes.npy", codes)
        write_tsv(partial / "labels.tsv", labels)
        write_fasta(partial / "sequences.fasta", ids, decode(codes))
        write_tsv(partial / "sites.tsv", sites if sites is not None else pd.DataFrame(columns=columns))
        write_json(partial / "dataset.json", info)


def read_dataset(codes_path: str | os.PathLike) -> LabelledData:
    """Read a data set folder, given the path of its ``codes.npy`` (the other files sit beside it)."""
    folder = Path(codes_path).parent
    if not (folder / "dataset.json").is_file():
        raise SeqtuneError(f"{codes_path}: not the codes.npy of a data set folder (no dataset.json beside it); give "
                           "the codes.npy that seqtune ingest or simulate wrote, e.g. results/data/<name>/codes.npy")
    info = read_json(folder / "dataset.json")
    labels = read_tsv(folder / "labels.tsv", required=["id"], text=True, dtype=TEXT_COLUMNS)
    codes = read_npy(folder / "codes.npy")
    if codes.ndim != 2 or codes.shape[0] != len(labels):
        raise SeqtuneError(f"{folder}: codes.npy has shape {codes.shape} but labels.tsv {len(labels)} rows; "
                           "the folder is inconsistent, rerun the step that made it")
    return LabelledData(labels["id"].to_numpy(), codes, labels, info)


def read_manifest(path: str | os.PathLike, data: LabelledData) -> np.ndarray:
    """The split of each example of ``data``, in its order, from a manifest (id, split) TSV."""
    manifest = read_tsv(path, required=["id", "split"], text=True, dtype=TEXT_COLUMNS)
    splits = manifest.set_index("id")["split"]
    if not splits.index.is_unique or len(splits) != len(data.ids):
        raise SeqtuneError(f"{path}: the manifest does not cover the data set's ids ({len(splits)} rows, "
                           f"{len(splits) - splits.index.nunique()} repeated ids, for {len(data.ids)} ids); it is "
                           "another data set's manifest: rerun the split step on this data set")
    unknown = sorted(set(splits) - set(SPLIT_NAMES))
    if unknown:
        raise SeqtuneError(f"{path}: split value(s) {unknown[:3]} are not train, validation or test; rerun the "
                           "split step (seqtune split) instead of editing the manifest")
    assignment = splits.reindex(pd.Index(data.ids, dtype=object))
    if assignment.isna().any():
        missing = list(assignment.index[assignment.isna()][:3])
        raise SeqtuneError(f"{path}: the manifest does not cover the data set's ids (missing: {missing}); it is "
                           "another data set's manifest: rerun the split step on this data set")
    return assignment.to_numpy(dtype=object)
