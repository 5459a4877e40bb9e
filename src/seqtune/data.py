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
from .io import read_json, read_npy, read_tsv, write_fasta, write_json, write_npy, write_tsv
from .sequence import decode

DATASET_FILES = ("codes.npy", "labels.tsv", "sequences.fasta", "dataset.json", "sites.tsv")


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
    write_npy(folder / "codes.npy", codes)
    write_tsv(folder / "labels.tsv", labels)
    write_fasta(folder / "sequences.fasta", ids, decode(codes))
    columns = ["sequence_id", "motif_id", "motif_name", "start", "end", "strand"]
    write_tsv(folder / "sites.tsv", sites if sites is not None else pd.DataFrame(columns=columns))
    write_json(folder / "dataset.json", info)


def read_dataset(codes_path: str | os.PathLike) -> LabelledData:
    """Read a data set folder, given the path of its ``codes.npy`` (the other files sit beside it)."""
    folder = Path(codes_path).parent
    info = read_json(folder / "dataset.json")
    labels = read_tsv(folder / "labels.tsv", required=["id"], dtype={"id": str, "label": str})
    codes = read_npy(folder / "codes.npy")
    if codes.shape[0] != len(labels):
        raise SeqtuneError(f"{folder}: codes.npy has {codes.shape[0]} rows but labels.tsv {len(labels)}; "
                           "the folder is inconsistent, rerun the step that made it")
    return LabelledData(labels["id"].to_numpy(), codes, labels, info)


def read_manifest(path: str | os.PathLike, data: LabelledData) -> np.ndarray:
    """The split of each example of ``data``, in its order, from a manifest (id, split) TSV."""
    manifest = read_tsv(path, required=["id", "split"], dtype={"id": str})
    splits = manifest.set_index("id")["split"]
    if not splits.index.is_unique or len(splits) != len(data.ids):
        raise SeqtuneError(f"{path}: the manifest does not cover the data set's ids; rerun the split step")
    assignment = splits.reindex(pd.Index(data.ids, dtype=object))
    if assignment.isna().any():
        missing = list(assignment.index[assignment.isna()][:3])
        raise SeqtuneError(f"{path}: the manifest does not cover the data set's ids (missing: {missing}); rerun "
                           "the split step")
    return assignment.to_numpy(dtype=object)
