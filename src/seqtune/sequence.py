"""Sequence encoding: strings to compact uint8 codes, and codes to one-hot tensors per batch.

Convention (as tangermeme and gReLU): alphabet ``ACGT``, codes 0-3, code 4 for N and any other ambiguity code, which
becomes an all-zero column in the one-hot (N, 4, L) layout. Storage is one byte per base; floats exist only inside
the model, batch by batch.
"""

from __future__ import annotations

import functools

import numpy as np

from .errors import SeqtuneError

ALPHABET = "ACGT"
N_CODE = 4
IUPAC_AMBIGUOUS = "NRYSWKMBDHV"

# Byte -> code lookup; 255 marks a letter that is not DNA at all.
_ENCODE = np.full(256, 255, dtype=np.uint8)
for _code, _base in enumerate(ALPHABET):
    _ENCODE[ord(_base)] = _code
    _ENCODE[ord(_base.lower())] = _code
for _base in IUPAC_AMBIGUOUS:
    _ENCODE[ord(_base)] = N_CODE
    _ENCODE[ord(_base.lower())] = N_CODE
_ENCODE[ord("U")] = _ENCODE[ord("u")] = 3  # RNA input: U reads as T

_DECODE = np.frombuffer(b"ACGTN", dtype=np.uint8)
# Complement of each code; N stays N.
COMPLEMENT = np.array([3, 2, 1, 0, 4], dtype=np.uint8)


def encode(sequences: list[str], length: int | None = None, ambiguous: str = "allow", source: str = "sequences",
           ids: list[str] | None = None) -> np.ndarray:
    """Encode equal-length sequences to a uint8 array of shape (N, L).

    Parameters
    ----------
    sequences : list of str
        DNA sequences, any case (soft-masked lower case is accepted).
    length : int, optional
        Required length; defaults to the length of the first sequence.
    ambiguous : {"allow", "error"}
        ``allow`` encodes N and other IUPAC ambiguity codes as code 4 (an all-zero one-hot column); ``error`` rejects
        them (the strict policy).
    source, ids : used in error messages to name the file and record.
    """
    if not sequences:
        raise SeqtuneError(f"{source}: no sequences to encode")
    length = len(sequences[0]) if length is None else length
    joined = "".join(sequences)
    if len(joined) != length * len(sequences):
        for index, sequence in enumerate(sequences):
            if len(sequence) != length:
                name = ids[index] if ids else f"#{index + 1}"
                raise SeqtuneError(
                    f"{source}, record '{name}': length {len(sequence)} differs from {length}; "
                    "set a length policy (crop/pad) or give sequences of one length"
                )
    raw = np.frombuffer(joined.encode("ascii", errors="replace"), dtype=np.uint8)
    codes = _ENCODE[raw]
    bad = codes == 255
    if ambiguous == "error":
        bad |= codes == N_CODE
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        record, offset = divmod(position, length)
        name = ids[record] if ids else f"#{record + 1}"
        letter = joined[position]
        fix = ("only A, C, G, T are accepted under the strict policy; set ambiguous: allow to read IUPAC codes as N"
               if _ENCODE[raw[position]] == N_CODE else "use A, C, G, T or an IUPAC ambiguity code (N, R, Y, ...)")
        raise SeqtuneError(f"{source}, record '{name}', position {offset + 1}: letter '{letter}' is not allowed; {fix}")
    return codes.reshape(len(sequences), length)


def decode(codes: np.ndarray) -> list[str]:
    """Turn a (N, L) code array back into strings (ambiguous bases come back as N)."""
    codes = np.asarray(codes)
    letters = _DECODE[codes]
    return [row.tobytes().decode("ascii") for row in letters]


def reverse_complement(codes: np.ndarray) -> np.ndarray:
    """Reverse complement of a (N, L) or (L,) code array."""
    return COMPLEMENT[np.asarray(codes)][..., ::-1]


def one_hot(codes, dtype=None):
    """One-hot encode a uint8 code tensor (N, L) to a float tensor (N, 4, L) on the tensor's own device.

    Done per batch on the device, so the data set stays one byte per base in memory.
    """
    import torch

    return _one_hot_table(codes.device, dtype or torch.float32)[codes.long()].transpose(1, 2)


@functools.lru_cache(maxsize=None)
def _one_hot_table(device, dtype):
    """(5, 4) lookup: codes 0-3 (ACGT) to unit rows, code 4 (N) to zeros. Built once per device and dtype, not per
    batch (three small kernels per batch saved; bench/seed_tutorial.py)."""
    import torch

    table = torch.zeros(5, 4, dtype=dtype, device=device)
    table[:4] = torch.eye(4, dtype=dtype, device=device)
    return table
