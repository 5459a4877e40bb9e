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
import errno
import os
import shutil
import socket
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
    if path.exists() and not path.is_file():  # a device or pipe (/dev/stdout) would be replaced by the rename
        raise SeqtuneError(f"{path}: is not a regular file (a device or pipe); give a file name for the output, or "
                           "'-' where a step writes to standard output")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:  # named after the output, not the temporary file
        raise OSError(error.errno, error.strerror, str(path)) from None
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give outputs the usual permissions
    try:
        yield tmp_path
        # Again: a writer may have replaced the file (safetensors' save_file writes a new 0600 one).
        os.chmod(tmp_path, 0o666 & ~_UMASK)
        os.replace(tmp_path, path)
    except OSError as error:
        tmp_path.unlink(missing_ok=True)
        if error.filename in (None, str(tmp_path)):  # a failed write (a full disk) names no file, or the temporary one
            raise OSError(error.errno, error.strerror, str(path)) from None
        raise
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def _process_is_gone(name: str, prefix: str) -> bool:
    """Whether the temporary folder ``name`` (``<prefix><host>-<pid>-<random>``) belongs to a process of this machine
    that no longer runs; folders of other machines (a shared file system) are left alone."""
    parts = name[len(prefix):].rsplit("-", 2)
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except OSError:  # it runs, under another user
        return False
    return False


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike, expected: Iterable[str]) -> Iterator[Path]:
    """Yield a temporary folder beside ``path`` to write a whole folder into; it becomes ``path`` only if the block
    succeeds, so ``path`` is complete or absent whoever interrupts the writer (Ctrl-C, a killed job, a full disk).

    An existing ``path`` may hold only the ``expected`` file names (an earlier result, replaced); a folder that holds
    anything else is refused before anything is written, since it would be replaced with it. A temporary sibling
    left by a killed process of this machine is removed; the next run also ignores any other.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise SeqtuneError(f"{path}: is a file, not a folder; give a folder name for the output (e.g. {path}.d)")
    if path.is_dir():
        foreign = sorted(set(os.listdir(path)) - set(expected))
        if foreign:
            raise SeqtuneError(f"{path}: the folder holds files that are not part of a data set "
                               f"({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}); they would be "
                               "replaced: give a new or empty folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    prefixes = (f".{path.name}.partial-", f".{path.name}.old-")
    for stale in path.parent.iterdir():
        for prefix in prefixes:
            if stale.name.startswith(prefix) and _process_is_gone(stale.name, prefix):
                shutil.rmtree(stale, ignore_errors=True)
    owner = f"{socket.gethostname()}-{os.getpid()}-"
    tmp = Path(tempfile.mkdtemp(prefix=prefixes[0] + owner, dir=path.parent))
    try:
        os.chmod(tmp, 0o777 & ~_UMASK)  # mkdtemp makes 0700 folders; give outputs the usual permissions
        yield tmp
        if path.is_dir() and any(path.iterdir()):  # an earlier result: set it aside, move the new one in, drop it
            old = Path(tempfile.mkdtemp(prefix=prefixes[1] + owner, dir=path.parent))
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)  # an empty folder (Snakemake makes its outputs' folders) is replaced
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
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
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise SeqtuneError(f"{path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SeqtuneError(f"{path}: not valid JSON ({error}); delete it and rerun the step that writes it") from None


# Probabilities keep 9 significant digits, enough to give float32 back exactly: metrics recomputed from a
# predictions file (and the aggregate's bootstrap, which reads them) then see the model's own scores, not ties made
# by rounding. Other tables keep 6.
PROBABILITY_FORMAT = "%.9g"


def write_tsv(path: str | os.PathLike, frame: pd.DataFrame, float_format: str = "%.6g") -> None:
    with atomic_open(path) as handle:
        frame.to_csv(handle, sep="\t", index=False, float_format=float_format, lineterminator="\n")


def read_tsv(path: str | os.PathLike, required: Iterable[str] = (), text: bool = False, **kwargs) -> pd.DataFrame:
    """Read a tab-separated table with a header; ``required`` columns must be present.

    ``text=True`` for the tables seqtune writes about records (labels, manifests, sites): missing-value parsing is
    off, so an id ``NA`` or a class ``None`` is read back as written, not as NaN; columns given in ``dtype`` keep
    their type. Result tables with real gaps (metrics) keep pandas' default (empty cells are NaN).
    """
    if text:
        kwargs = {"keep_default_na": False, "na_filter": False, **kwargs}
    try:
        frame = pd.read_csv(path, sep="\t", **kwargs)
    except FileNotFoundError:
        raise SeqtuneError(f"{path}: file not found") from None
    except pd.errors.EmptyDataError:
        raise SeqtuneError(f"{path}: the file is empty; it needs a header line and one row per record") from None
    except UnicodeDecodeError as error:
        raise SeqtuneError(f"{path}: not a UTF-8 text table (byte 0x{error.object[error.start]:02x} at offset "
                           f"{error.start}); give the tab-separated file seqtune wrote, or rerun the step that "
                           "writes it") from None
    except (pd.errors.ParserError, ValueError) as error:
        raise SeqtuneError(f"{path}: not a well-formed tab-separated table ({str(error).strip()}); give the file "
                           "seqtune wrote, or rerun the step that writes it") from None
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
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileNotFoundError:
        raise SeqtuneError(f"{path}: file not found; give the codes.npy of a data set folder (seqtune ingest or "
                           "simulate writes it)") from None
    except (ValueError, EOFError) as error:
        raise SeqtuneError(f"{path}: not a NumPy array file ({error}); give the codes.npy of a data set folder, or "
                           "rerun the step that writes it") from None


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
        if magic.startswith(b"PK\x03\x04") and path.name.lower().endswith((".xlsx", ".xlsm", ".ods")):
            raise SeqtuneError(f"{path}: is a spreadsheet workbook, not a text table; export the sheet from the "
                               "spreadsheet program as CSV (comma-separated, .csv) or TSV (tab-separated, .tsv)")
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


# ------------------------------------------------------------------------------- a step's inputs against its outputs
def _same(a: str, b: str) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)  # hard links, bind mounts
    except OSError:
        return False


def check_inputs_and_outputs(inputs: dict[str, list[str]], outputs: dict[str, list[str]]) -> None:
    """Refuse a step that would overwrite one of its own inputs, or write two outputs to one file, before it starts.

    ``inputs`` and ``outputs`` map an option (``--codes``) to the files it stands for (for ``--codes``, the whole data
    set folder's files; for weights, the sidecar too); ``-`` (standard output) and ``None`` are skipped. Paths are
    compared resolved (symbolic links, ``..``) and by ``samefile`` (hard links). Every output's folder must be a
    folder that can be written, or one that can be made.
    """
    def files(options):
        return [(option, str(path)) for option, paths in options.items() for path in paths
                if path is not None and str(path) != "-"]

    written = files(outputs)
    for output_option, output in written:
        for input_option, source in files(inputs):
            if _same(output, source):
                shown = output if output_option == input_option else f"{output} ({output_option})"
                read = source if source == output else f"{source}, which is the same file"
                raise SeqtuneError(f"{shown}: is also an input of this step ({input_option} reads {read}); it would "
                                   f"be overwritten: give {output_option} another path")
    for i, (option, output) in enumerate(written):
        for other_option, other in written[:i]:
            if _same(output, other) and option != other_option:
                raise SeqtuneError(f"{output}: given to both {other_option} and {option}; one would overwrite the "
                                   "other: give each output its own path")
    for option, output in written:
        if os.path.isdir(output) and not option.endswith("-dir"):
            raise SeqtuneError(f"{output} ({option}): is a folder; give a file name for the output (e.g. "
                               f"{os.path.join(output, 'out' + (Path(output).suffix or '.tsv'))})")
        folder = os.path.dirname(os.path.abspath(output))
        while not os.path.exists(folder):
            folder = os.path.dirname(folder)
        if not os.path.isdir(folder):
            raise SeqtuneError(f"{output} ({option}): {folder} is a file, not a folder; choose another output path")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise SeqtuneError(f"{output} ({option}): the folder {folder} cannot be written (permission denied); "
                               "choose a folder you can write to, or change its permissions")


# What to do about an operating-system error, by its errno; the message names the path it concerns.
_OS_ERROR_FIXES = {
    errno.EACCES: "check its permissions (ls -l), or use a file or folder you can read and write",
    errno.EPERM: "check its permissions (ls -l), or use a file or folder you can read and write",
    errno.ENOSPC: "the disk is full: free some space, or write the outputs to another disk",
    errno.EDQUOT: "the disk quota is used up: free some space, or write the outputs elsewhere",
    errno.EROFS: "the file system is read-only: write the outputs to another folder",
    errno.EISDIR: "a folder was given where a file is needed: give the path of a file",
    errno.ENOTDIR: "a part of the path is a file, not a folder: check the path",
    errno.ENOENT: "check the path (a relative one is read from the working folder)",
    errno.ENAMETOOLONG: "shorten the path",
    errno.ELOOP: "the path has a loop of symbolic links: check them",
    errno.EMFILE: "too many files are open: raise the limit (ulimit -n)",
    errno.EIO: "the disk reported an input/output error: check the disk, or copy the file elsewhere",
}


def describe_os_error(error: OSError) -> str:
    """One line for an operating-system error: ``<path>: <reason>; <fix>``."""
    path = error.filename
    if error.filename2 is not None:
        path = f"{error.filename} -> {error.filename2}"
    reason = error.strerror or str(error)
    fix = _OS_ERROR_FIXES.get(error.errno, "check the path, its permissions and the disk")
    return f"{path}: {reason}; {fix}" if path is not None else f"{reason}; {fix}"
