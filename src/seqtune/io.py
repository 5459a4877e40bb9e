"""File formats at the edges: atomic writes, FASTA, TSV and JSON.

Every output of seqtune is written to a temporary file in the destination folder and renamed into place, so a killed
job never leaves a partial file under the final name.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import tempfile
import zlib
from pathlib import Path
from typing import IO, Iterable, Iterator

import numpy as np
import pandas as pd

from .errors import SeqtuneError


_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only if the block succeeds."""
    path = Path(path)
    if path.is_dir():
        raise SeqtuneError(f"{path}: is a folder; give a file name for the output (e.g. {path / 'out.tsv'})")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give outputs the usual permissions
    try:
        yield tmp_path
        # Again: a writer may have replaced the file (safetensors' save_file writes a new 0600 one).
        os.chmod(tmp_path, 0o666 & ~_UMASK)
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w") -> Iterator[IO]:
    """Open a temporary file for writing that replaces ``path`` when closed without error; gzip-compressed when
    ``path`` ends in ``.gz`` (with a zero timestamp, so that the same content gives the same bytes)."""
    with atomic_path(path) as tmp:
        if str(path).endswith(".gz"):
            with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as compressed:
                if "b" in mode:
                    yield compressed
                else:
                    with io.TextIOWrapper(compressed, encoding="utf-8", newline="") as handle:
                        yield handle
        else:
            with open(tmp, mode) as handle:
                yield handle


def write_json(path: str | os.PathLike, obj) -> None:
    with atomic_open(path) as handle:
        json.dump(obj, handle, indent=2, sort_keys=False, default=_json_default)
        handle.write("\n")


def finite_json(obj):
    """JSON has no NaN or infinity: null instead, in nested dicts, lists and tuples (other tools reject NaN)."""
    if obj is pd.NA or (isinstance(obj, float) and not np.isfinite(obj)):
        return None
    if isinstance(obj, dict):
        return {key: finite_json(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(value) for value in obj]
    return obj


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def read_json(path: str | os.PathLike) -> dict:
    try:
        with open(path) as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise SeqtuneError(f"{path}: file not found") from None
    except json.JSONDecodeError as error:
        raise SeqtuneError(f"{path}: not valid JSON ({error}); delete it and rerun the step that writes it") from None


# Probabilities keep 9 significant digits, enough to give float32 back exactly: metrics recomputed from a
# predictions file (and the aggregate's bootstrap, which reads them) then see the model's own scores, not ties made
# by rounding. Other tables keep 6.
PROBABILITY_FORMAT = "%.9g"


def write_tsv(path: str | os.PathLike, frame: pd.DataFrame, float_format: str = "%.6g") -> None:
    with atomic_open(path) as handle:
        frame.to_csv(handle, sep="\t", index=False, float_format=float_format, lineterminator="\n")


def read_tsv(path: str | os.PathLike, required: Iterable[str] = (), **kwargs) -> pd.DataFrame:
    """Read a tab-separated table with a header; ``required`` columns must be present."""
    try:
        frame = pd.read_csv(path, sep="\t", **kwargs)
    except FileNotFoundError:
        raise SeqtuneError(f"{path}: file not found") from None
    except pd.errors.EmptyDataError:
        raise SeqtuneError(f"{path}: the file is empty; it needs a header line and one row per record") from None
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise SeqtuneError(
            f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(map(str, frame.columns))}. "
            "Add the column(s) to the header line (tab-separated)."
        )
    return frame


def write_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    with atomic_open(path, "wb") as handle:
        np.save(handle, array, allow_pickle=False)


def read_npy(path: str | os.PathLike, mmap: bool = True) -> np.ndarray:
    """Load an array saved by :func:`write_npy`, memory-mapped so large sets are paged in on demand."""
    return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)


# Compressions that are not gzip, by their first bytes: named in the error instead of a decoding failure.
_OTHER_COMPRESSIONS = {b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"PK\x03\x04": "zip", b"\x28\xb5\x2f\xfd": "zstd"}


def open_text(path: str | os.PathLike) -> IO[str]:
    """Open a UTF-8 text file, gzipped or not, with universal newlines (Windows line endings and a byte-order mark
    are accepted).

    A file that is another compression (bzip2, xz, zip, zstd) or binary (NUL bytes, or not UTF-8 in its first 64 kB)
    is refused with a SeqtuneError naming it, instead of being parsed as garbage.
    """
    path = Path(path)
    with open(path, "rb") as probe:
        magic = probe.read(6)
    gzipped = magic[:2] == b"\x1f\x8b"
    if not gzipped:
        for prefix, name in _OTHER_COMPRESSIONS.items():
            if magic.startswith(prefix):
                raise SeqtuneError(f"{path}: the file is {name}-compressed; seqtune reads plain text or gzip, so "
                                   f"decompress it or recompress it with gzip")
    head = b""
    with (gzip.open(path, "rb") if gzipped else open(path, "rb")) as probe:
        try:
            while len(head) < 1 << 16 and (chunk := probe.read(1 << 12)):
                head += chunk
        except (EOFError, gzip.BadGzipFile, zlib.error):
            pass  # a truncated or corrupt gzip file: the reader reports it, with the line where it broke off
    _check_text(path, head)
    # utf-8-sig: UTF-8, dropping the byte-order mark spreadsheet programs put at the start of exported tables
    if gzipped:
        return gzip.open(path, "rt", newline=None, encoding="utf-8-sig")
    return open(path, "rt", newline=None, encoding="utf-8-sig")


def _check_text(path: Path, head: bytes) -> None:
    import codecs

    offsets = [head.find(b"\x00")] if b"\x00" in head else []
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)  # a cut multi-byte letter is fine
    except UnicodeDecodeError as error:
        offsets.append(error.start)
    if not offsets:
        return
    offset = min(offsets)
    raise SeqtuneError(f"{path}: this is a binary file, not text (byte 0x{head[offset]:02x} at offset {offset}); "
                       "give a FASTA, TSV/CSV or BED text file (plain or gzip, UTF-8)")


def write_fasta(path: str | os.PathLike, ids: Iterable[str], sequences: Iterable[str], width: int = 0) -> None:
    """Write a FASTA file; ``width`` > 0 wraps sequence lines."""
    with atomic_open(path) as handle:
        for record_id, sequence in zip(ids, sequences):
            handle.write(f">{record_id}\n")
            if width > 0:
                for start in range(0, len(sequence), width):
                    handle.write(sequence[start : start + width] + "\n")
            else:
                handle.write(sequence + "\n")


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()
