"""Records to uint8 codes (n, length), chunk by chunk, applying the length and ambiguity policies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ..errors import SeqtuneError
from ..sequence import _ENCODE as BYTE_TO_CODE  # byte -> code 0-4, 255 for a letter that is not DNA
from ..sequence import N_CODE, reverse_complement
from .bed import Genome, iter_bed
from .fasta import iter_fasta
from .spec import CHUNK_SIZE, InputSpec, Record
from .tables import iter_table


@dataclass
class EncodedChunk:
    """Records (sequences dropped), their codes (n, length) uint8, and their lengths as read (n,)."""

    records: list[Record]
    codes: np.ndarray
    read_lengths: np.ndarray


def encode_records(records: list[Record], length: int, length_policy: str = "error",
                   ambiguous: str = "allow") -> np.ndarray:
    """Encode records of any length to codes of shape (n, length), applying the length and ambiguity policies.

    Letters are checked over the whole record as read (so a bad letter in a cropped-off flank is still reported).
    Records on strand ``-`` are reverse-complemented. Errors name the file, line, record and position.
    """
    read_lengths = np.fromiter((len(record.sequence) for record in records), dtype=np.int64, count=len(records))
    joined = "".join(record.sequence for record in records)
    flat = BYTE_TO_CODE[np.frombuffer(joined.encode("ascii", errors="replace"), dtype=np.uint8)]
    bad = flat == 255
    if ambiguous == "error":
        bad |= flat == N_CODE
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        ends = np.cumsum(read_lengths)
        index = int(np.searchsorted(ends, position, side="right"))
        offset = position - (int(ends[index - 1]) if index else 0)
        letter = joined[position]
        fix = ("only A, C, G, T are accepted under ambiguous: error; set ambiguous: allow to read IUPAC codes as N"
               if flat[position] == N_CODE else "use A, C, G, T or an IUPAC ambiguity code (N, R, Y, ...)")
        raise SeqtuneError(f"{records[index].where()}, position {offset + 1}: letter '{letter}' is not allowed; {fix}")
    # Letters first: a stray space or gap makes a record look one base too long, which is not the error to report.
    _check_lengths(records, read_lengths, length, length_policy)
    codes = fit_length(flat, read_lengths, length)
    minus = np.fromiter((record.strand == "-" for record in records), dtype=bool, count=len(records))
    if minus.any():
        codes[minus] = reverse_complement(codes[minus])
    return codes


def _check_lengths(records: list[Record], read_lengths: np.ndarray, length: int, length_policy: str) -> None:
    too_long = read_lengths > length if length_policy in ("error", "pad") else np.zeros(len(records), bool)
    too_short = read_lengths < length if length_policy in ("error", "center_crop") else np.zeros(len(records), bool)
    wrong = too_long | too_short
    if wrong.any():
        index = int(np.flatnonzero(wrong)[0])
        fix = {"error": "set length_policy to center_crop, pad or crop_or_pad, or change the length",
               "pad": "set length_policy: crop_or_pad to also crop longer sequences",
               "center_crop": "set length_policy: crop_or_pad to also pad shorter sequences with N"}[length_policy]
        raise SeqtuneError(f"{records[index].where()}: length {read_lengths[index]} differs from the required "
                           f"{length} (length_policy: {length_policy}); {fix}")


def fit_length(flat: np.ndarray, read_lengths: np.ndarray, length: int) -> np.ndarray:
    """Cut concatenated codes (sum of read_lengths,) into rows (n, length): longer rows centre-cropped, shorter ones
    centred between N codes (the extra base of an odd difference goes to the right)."""
    n = len(read_lengths)
    if (read_lengths == length).all():
        return flat.reshape(n, length).copy()
    starts = np.cumsum(read_lengths) - read_lengths
    excess = read_lengths - length
    crop_left = np.where(excess > 0, excess // 2, 0)
    pad_left = np.where(excess < 0, (-excess) // 2, 0)
    copied = np.minimum(read_lengths, length)
    rows = np.repeat(np.arange(n), copied)
    within = np.arange(int(copied.sum())) - np.repeat(np.cumsum(copied) - copied, copied)
    codes = np.full((n, length), N_CODE, dtype=np.uint8)
    codes[rows, pad_left[rows] + within] = flat[starts[rows] + crop_left[rows] + within]
    return codes


def iter_records(spec: InputSpec, genome: Genome | None, length: int, need_labels: bool = True) -> Iterator[Record]:
    """All records of the input described by ``spec``, in file order (``paths`` in the order given)."""
    if spec.source == "fasta":
        label_key = spec.label_column if need_labels and not spec.labels else None
        return iter_fasta(spec.path, label_key, spec.split_column if need_labels and not spec.labels else None)
    if spec.source == "tsv":
        return iter_table(spec.path, spec.id_column, spec.sequence_column, spec.label_column if need_labels else None,
                          spec.split_column if need_labels else None, need_labels and spec.split_column_required)
    if spec.path:
        return iter_bed(spec.path, genome, length, spec.length_policy,
                        label_column=spec.label_column if need_labels else None, id_column=spec.id_column)
    return _chain(iter_bed(path, genome, length, spec.length_policy, label=str(label), id_column=spec.id_column)
                  for label, path in spec.paths.items())


def _chain(iterators) -> Iterator[Record]:
    for iterator in iterators:
        yield from iterator


def encoded_chunks(records: Iterator[Record], length: int, length_policy: str, ambiguous: str,
                   chunk_size: int = CHUNK_SIZE) -> Iterator[EncodedChunk]:
    """Encode records ``chunk_size`` at a time; ids must be unique across all files (errors name both places)."""
    seen: dict[str, tuple[str, int]] = {}
    batch: list[Record] = []

    def flush() -> EncodedChunk:
        read_lengths = np.fromiter((len(record.sequence) for record in batch), dtype=np.int64, count=len(batch))
        codes = encode_records(batch, length, length_policy, ambiguous)
        for record in batch:
            record.sequence = None
        return EncodedChunk(list(batch), codes, read_lengths)

    for record in records:
        if " " in record.id or not record.id.isprintable():  # isprintable: False for tabs, other blanks, controls
            raise SeqtuneError(f"{record.where()}: the id holds a space or another blank or control character; ids "
                               "are written to sequences.fasta, where an id ends at the first space, so replace it "
                               "(e.g. with '_')")
        first = seen.setdefault(record.id, (record.path, record.line))
        if first != (record.path, record.line):
            raise SeqtuneError(f"{record.where()}: duplicate id (first in {first[0]}, line {first[1]}); ids must be "
                               "unique, remove the repeated interval or record")
        batch.append(record)
        if len(batch) >= chunk_size:
            yield flush()
            batch = []
    if batch:
        yield flush()
