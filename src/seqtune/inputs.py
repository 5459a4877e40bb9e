"""Real data in: FASTA, TSV/CSV or BED intervals on a genome, read into a data set folder (see ``seqtune.data``).

One entry point, :func:`import_dataset`, driven by a small ``spec`` dict (the ``datasets.<name>`` entry of the
config). Records are read one at a time and encoded in chunks of uint8 codes, so a large input is never held as Python
strings; :mod:`seqtune.predict` reuses the same readers (:func:`encoded_chunks`) for prediction. Every check runs
before the first output file is written, so a failed import leaves no data set folder behind.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import gzip
import itertools
import logging
import os
import shutil
import tempfile
import zlib
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import pandas as pd

from .data import write_dataset
from .errors import SeqtuneError
from .io import open_text, sha256_file
from .sequence import _ENCODE as BYTE_TO_CODE  # byte -> code 0-4, 255 for a letter that is not DNA
from .sequence import N_CODE, reverse_complement

log = logging.getLogger("seqtune")

SOURCES = ("fasta", "tsv", "bed")
LENGTH_POLICIES = ("error", "center_crop", "pad", "crop_or_pad")
AMBIGUITY_POLICIES = ("allow", "error")
SPLIT_NAMES = ("train", "validation", "test")
BED_STRANDS = ("+", "-", ".")
CHUNK_SIZE = 10_000


@dataclass(frozen=True)
class InputSpec:
    """What to read and how; built from the config's dict by :meth:`from_dict`, which checks every key.

    Keys (all but ``source`` optional):

    source : {"fasta", "tsv", "bed"}
        ``fasta``: FASTA, labels from ``label=...`` header tokens or from a side table (``labels``).
        ``tsv``: a table with a header; comma-separated when the name ends in ``.csv`` or ``.csv.gz``, else tabs.
        ``bed``: intervals on ``genome``; each becomes a ``length``-nt window centred on the interval's midpoint,
        reverse-complemented for strand ``-``.
    path : str
        The input file (gzipped or not, any line endings). For ``bed``, either ``path`` or ``paths``.
    paths : dict of str to str
        ``bed`` only: one BED file per class, ``{label: path}``; every interval of a file gets its label.
    labels : str
        ``fasta`` only: a side table (TSV, or CSV by extension) with ``id_column`` and ``label_column`` (and
        ``split_column`` if present); it replaces the header tokens.
    genome : str
        ``bed`` only: the genome FASTA (plain, gzip or bgzip), read through pyfaidx. Its ``.fai`` index is written
        next to it when that folder is writable; otherwise (and for a compressed genome, which is decompressed) into a
        temporary folder that is removed after the run.
    id_column : str or int, default "id"
        The id column of a table or side table. ``bed``: a 1-based column number (4 for the name field) or, by
        default, ids made from the window, ``chrom:start-end(strand)``.
    label_column : str or int, default "label"
        The label column (``fasta``: the header token ``label=...``). ``bed`` with ``path``: a 1-based column
        number, default 4 (the BED name field).
    sequence_column : str, default "sequence"
        ``tsv`` only: the sequence column.
    split_column : str, default "split"
        A user-given split (values train, validation, test) for ``fasta`` (header token) and ``tsv``; stored in
        ``labels.tsv`` as ``split``. Used when present; an error when named explicitly and absent.
    length_policy : {"error", "center_crop", "pad", "crop_or_pad"}, default "error"
        What to do with a sequence whose length differs from ``length``: ``error`` stops, naming the record;
        ``center_crop`` keeps the central ``length`` bases of longer sequences (shorter ones are an error); ``pad``
        centres shorter sequences between runs of N (longer ones are an error); ``crop_or_pad`` does both. An odd
        difference puts the extra base on the right. For ``bed``, windows have the right length by construction and
        the policy decides windows that run past a chromosome end: N-filled under ``pad``/``crop_or_pad``, an error
        otherwise.
    ambiguous : {"allow", "error"}, default "allow"
        ``allow`` reads N and other IUPAC codes (R, Y, S, ...) as N (code 4, an all-zero one-hot column);
        ``error`` accepts only A, C, G, T (any case: soft-masked lower case is fine). Letters that are not DNA at all
        are always an error.
    positive_class : str, optional
        Two classes only: the label that is the positive class (model output 1, the class binary AUROC and AUPRC
        score). By default the second label in sorted order.
    labelled : bool, default True
        ``False``: sequences without labels (a corpus for masked-nucleotide pretraining); the label keys do not
        apply, and header tokens or label columns are not read.
    """

    source: str
    path: str | None = None
    paths: dict | None = None
    labels: str | None = None
    genome: str | None = None
    id_column: str | int | None = None
    label_column: str | int | None = None
    sequence_column: str = "sequence"
    split_column: str = "split"
    split_column_required: bool = False
    length_policy: str = "error"
    ambiguous: str = "allow"
    positive_class: str | None = None
    labelled: bool = True

    @classmethod
    def from_dict(cls, spec: dict, need_labels: bool = True, where: str = "input spec") -> "InputSpec":
        """Check ``spec`` (see the class docstring) and fill in defaults. ``need_labels=False`` for prediction."""
        spec = dict(spec)
        known = {field.name for field in dataclasses.fields(cls)} - {"split_column_required"}
        unknown = sorted(set(spec) - known)
        if unknown:
            raise SeqtuneError(f"{where}: unknown key(s) {unknown}; known keys: {sorted(known)}")
        source = spec.get("source")
        if source is None:
            raise SeqtuneError(f"{where}: no 'source'; add source: {' | '.join(SOURCES)} (the file's format)")
        if source not in SOURCES:
            raise SeqtuneError(f"{where}: source '{source}' is not one of {', '.join(SOURCES)}")
        for key, allowed in (("length_policy", LENGTH_POLICIES), ("ambiguous", AMBIGUITY_POLICIES)):
            if key in spec and spec[key] not in allowed:
                raise SeqtuneError(f"{where}: {key} '{spec[key]}' is not one of {', '.join(allowed)}")
        if source == "bed":
            if not spec.get("genome"):
                raise SeqtuneError(f"{where}: source bed needs 'genome', the FASTA the intervals refer to")
            if bool(spec.get("path")) == bool(spec.get("paths")):
                raise SeqtuneError(f"{where}: source bed needs either 'path' (labels in a column) or 'paths' "
                                   "(one BED file per class, {label: path}), not both")
            if spec.get("paths") is not None and not isinstance(spec["paths"], dict):
                raise SeqtuneError(f"{where}: 'paths' must map each label to a BED file")
            for key, default in (("label_column", 4), ("id_column", None)):
                value = spec.get(key, default)
                if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                    raise SeqtuneError(f"{where}: for source bed, {key} is a 1-based column number (4 is the name "
                                       f"field), not '{value}'")
                spec[key] = value
            for key in ("labels", "split_column", "sequence_column"):
                if key in spec:
                    raise SeqtuneError(f"{where}: '{key}' does not apply to source bed; remove it")
        else:
            if not spec.get("path"):
                raise SeqtuneError(f"{where}: source {source} needs 'path', the input file")
            for key in ("paths", "genome"):
                if key in spec:
                    raise SeqtuneError(f"{where}: '{key}' applies to source bed only; remove it")
            if "labels" in spec and source != "fasta":
                raise SeqtuneError(f"{where}: 'labels' (a side table) applies to source fasta only; use "
                                   "label_column for a table")
            if "sequence_column" in spec and source != "tsv":
                raise SeqtuneError(f"{where}: 'sequence_column' applies to source tsv only; remove it")
            for key in ("id_column", "label_column", "sequence_column", "split_column"):
                if key in spec and (not isinstance(spec[key], str) or not spec[key]):
                    raise SeqtuneError(f"{where}: {key} must be a column name, not '{spec[key]}'")
            spec.setdefault("id_column", "id")
            spec.setdefault("label_column", "label")
            spec["split_column_required"] = "split_column" in spec
        if spec.get("positive_class") is not None and (not isinstance(spec["positive_class"], str)
                                                      or not spec["positive_class"]):
            raise SeqtuneError(f"{where}: positive_class must be a label (text), not '{spec['positive_class']}'; "
                               "quote a numeric label in YAML: positive_class: '1'")
        if spec.get("labelled", True) is False:
            given = [key for key in ("labels", "positive_class", "paths") if spec.get(key) is not None]
            if given:
                raise SeqtuneError(f"{where}: {', '.join(given)} cannot go with labelled: false (sequences without "
                                   "labels); remove one or the other")
        if need_labels is False:
            for key in ("labels", "positive_class"):
                if spec.pop(key, None) is not None:
                    log.warning("%s: '%s' is ignored: prediction reads no labels", where, key)
        return cls(**spec)

    def files(self) -> list[tuple[str, str]]:
        """(role, path) of every input file."""
        if self.source == "bed":
            beds = ([("intervals", self.path)] if self.path else
                    [(f"intervals:{label}", path) for label, path in self.paths.items()])
            return beds + [("genome", self.genome)]
        return [("sequences", self.path)] + ([("labels", self.labels)] if self.labels else [])


# Label values that mean "no value" in the tools labels come from (R's NA, spreadsheets' #N/A, pandas' NaN).
MISSING_LABELS = frozenset({"NA", "N/A", "#N/A", "NaN", "nan", "NULL", "null"})


@dataclass(slots=True)
class Record:
    """One input record while it is read: its sequence (dropped once encoded) and where it came from."""

    id: str
    sequence: str | None
    path: str
    line: int
    label: str | None = None
    split: str | None = None
    chrom: str | None = None
    start: int = -1
    end: int = -1
    strand: str = "+"

    def where(self) -> str:
        return f"{self.path}, line {self.line}, record '{self.id}'"


# ------------------------------------------------------------------------------------------------------- readers
def _reading_errors(path: str, progress: list[int] | None = None):
    """Turn gzip and I/O failures while reading ``path`` into a SeqtuneError naming it; ``progress[0]``, when given,
    is the last line read (kept up to date by the reader), so that the message says where the file broke off."""
    @contextlib.contextmanager
    def guard():
        try:
            yield
        except FileNotFoundError:
            raise SeqtuneError(f"{path}: file not found; check the path (a relative one is read from "
                               f"{os.getcwd()})") from None
        except IsADirectoryError:
            raise SeqtuneError(f"{path}: is a folder, not a file; give the path of the input file in it") from None
        except PermissionError:
            raise SeqtuneError(f"{path}: permission denied; make the file readable (chmod +r) or copy it where "
                               "you can read it") from None
        except UnicodeDecodeError as error:
            where = f", near line {progress[0]}" if progress and progress[0] else ""
            raise SeqtuneError(f"{path}{where}: not UTF-8 text (byte 0x{error.object[error.start]:02x}); save it as "
                               "UTF-8, e.g. iconv -f latin1 -t utf-8 in > out") from None
        except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as error:
            where = f", after line {progress[0]}" if progress and progress[0] else ""
            raise SeqtuneError(f"{path}{where}: cannot be read ({error}); is it a text file, or a truncated or "
                               "corrupt gzip file? Test it with 'gzip -t', then copy or compress it again") from None
    return guard()


def _header_tokens(description: str, where: str, keys: tuple) -> dict[str, str]:
    """``key=value`` tokens of a FASTA description (other words are ignored); one of ``keys`` given twice with
    different values is an error (which label would be meant?), and so is a word without ``=`` right after one of
    ``keys``: ``label=TF bound`` would read as class 'TF' and merge with ``label=TF unbound``."""
    tokens = {}
    previous = None
    for word in description.split():
        key, equals, value = word.partition("=")
        if not equals and previous is not None:
            key, value = previous
            raise SeqtuneError(f"{where}: '{key}={value}' is followed by '{word}', which would be dropped (a header "
                               f"token ends at the first space); write {key}={value}_{word} without spaces, put "
                               "other words before the tokens, or give a labels table")
        # (a quoted value, label="open chromatin", is refused with its own message when labels are checked)
        previous = (key, value) if equals and key in keys and value[:1] not in "\"'" else None
        if equals and key:
            if key in keys and tokens.get(key, value) != value:
                raise SeqtuneError(f"{where}: '{key}=' is given twice ('{tokens[key]}' and '{value}'); keep one")
            tokens[key] = value
    return tokens


def iter_fasta(path: str, label_key: str | None = "label", split_key: str | None = "split") -> Iterator[Record]:
    """Yield the records of a FASTA file (plain or gzipped) one at a time, with ``label=``/``split=`` header tokens.

    Errors name the file and line: text before the first header, an empty id, a duplicate id, a header without a
    sequence, or no record at all.
    """
    path = str(path)
    seen: dict[str, int] = {}
    record: Record | None = None
    chunks: list[str] = []
    progress = [0]
    with _reading_errors(path, progress), open_text(path) as handle:
        for line_number, line in enumerate(handle, start=1):
            progress[0] = line_number
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            if line.startswith(">"):
                if record is not None:
                    yield _close_fasta_record(record, chunks)
                header = line[1:].strip()
                record_id, description = (header.split(None, 1) + [""])[:2] if header else ("", "")
                if not record_id:
                    raise SeqtuneError(f"{path}, line {line_number}: header '>' without an id; write '>ID ...'")
                if record_id in seen:
                    raise SeqtuneError(
                        f"{path}, line {line_number}: duplicate id '{record_id}' (first at line {seen[record_id]}); "
                        "ids must be unique, rename or remove one of them")
                seen[record_id] = line_number
                tokens = _header_tokens(description, f"{path}, line {line_number}, record '{record_id}'",
                                        (label_key, split_key))
                record = Record(record_id, None, path, line_number,
                                label=tokens.get(label_key) if label_key else None,
                                split=tokens.get(split_key) if split_key else None)
                chunks = []
            elif record is None:
                raise SeqtuneError(f"{path}, line {line_number}: sequence text before the first '>' header; this is "
                                   "not a FASTA file or its first header is missing")
            else:
                chunks.append(line.strip())
    if record is None:
        raise SeqtuneError(f"{path}: no FASTA records found; the file is empty or has no '>' header. Give one "
                           "'>id label=<class>' header line per record, followed by its sequence")
    yield _close_fasta_record(record, chunks)


def _close_fasta_record(record: Record, chunks: list[str]) -> Record:
    record.sequence = "".join(chunks)
    if not record.sequence:
        raise SeqtuneError(f"{record.where()}: the record has no sequence; remove the header or add its sequence "
                           "on the following line(s)")
    return record


def table_separator(path: str) -> str:
    """Comma for ``.csv`` / ``.csv.gz`` files, tab otherwise."""
    name = str(path).lower()
    return "," if name.endswith((".csv", ".csv.gz")) else "\t"


def _first_rows(path: str, separator: str) -> list[list[str]]:
    """The header and the first data row of a table, split as pandas splits them (quotes respected)."""
    with _reading_errors(path), open_text(path) as handle:
        return list(itertools.islice(csv.reader(handle, delimiter=separator), 2))


def _table_chunks(path: str, chunk_size: int) -> Iterator[pd.DataFrame]:
    """The rows of a TSV/CSV as string columns, ``chunk_size`` rows at a time; errors name the file.

    Rows may end in empty fields the header lacks (spreadsheets export a tab at the end of each row); a row with a
    non-empty field beyond the header is an error naming its line. pandas alone would take a longer first row's
    first column as an index and shift the others, or (``index_col=False``) drop the extra text silently.
    """
    path = str(path)
    separator = table_separator(path)
    rows = _first_rows(path, separator)
    header = rows[0] if rows else []
    for position, name in enumerate(header):
        if name.strip() and name in header[:position]:
            raise SeqtuneError(f"{path}, line 1: column '{name}' appears twice in the header (columns "
                               f"{header.index(name) + 1} and {position + 1}); only one would be read: rename or "
                               "remove the other")
    extra = [f"__extra_field_{i}" for i in range(max(0, len(rows[1]) - len(rows[0])))] if len(rows) == 2 else []
    with _reading_errors(path), open_text(path) as handle:
        try:
            reader = pd.read_csv(handle, sep=separator, dtype=str, keep_default_na=False, na_filter=False,
                                 chunksize=chunk_size, index_col=False, header=0, skip_blank_lines=False,
                                 names=rows[0] + extra if extra else None)
            for chunk in reader:
                if extra:
                    filled = (chunk[extra].fillna("") != "").to_numpy().any(axis=1)
                    if filled.any():
                        row = int(np.flatnonzero(filled)[0])
                        raise SeqtuneError(
                            f"{path}, line {chunk.index[row] + 2}: a field beyond the {len(rows[0])} columns of the "
                            f"header ('{next(v for v in chunk.iloc[row][extra] if v)}'); a field holding the "
                            f"separator ({'comma' if separator == ',' else 'tab'}) must be in double quotes")
                    chunk = chunk.drop(columns=extra)
                _check_no_line_breaks(path, chunk)
                # Blank lines are read as rows (so that a row's index gives its line) and dropped here.
                yield chunk[(chunk != "").to_numpy().any(axis=1)]
        except pd.errors.EmptyDataError:
            raise SeqtuneError(f"{path}: the file is empty; it needs a header line and one row per record") from None
        except pd.errors.ParserError as error:
            raise SeqtuneError(f"{path}: not a well-formed {'CSV' if separator == ',' else 'TSV'} "
                               f"table ({str(error).strip()}); every row needs as many fields as the header") from None


def _check_no_line_breaks(path: str, chunk: pd.DataFrame) -> None:
    """A field with a line break is a double quote left open: the csv rules then take the following lines, records
    and all, into that field. Refused, naming the line (the rows before it are one line each, so it is exact)."""
    broken = np.zeros(len(chunk), dtype=bool)
    for column in chunk.columns:
        broken |= chunk[column].str.contains("[\r\n]", regex=True).to_numpy(dtype=bool)
    if broken.any():
        row = int(np.flatnonzero(broken)[0])
        column = next(name for name in chunk.columns if any(c in chunk[name].iat[row] for c in "\r\n"))
        first = chunk[column].iat[row].splitlines()[0]
        raise SeqtuneError(f"{path}, line {chunk.index[row] + 2}: a double quote in column '{column}' ('{first[:40]}"
                           "...') opens a quoted field that runs over the following lines, taking their records into "
                           "it; remove the stray quote, or close it on the same line (a quote inside a field is "
                           "written twice: \"\")")


def _missing_columns(path: str, columns, required: dict[str, str]) -> None:
    missing = [f"{column} ({role})" for role, column in required.items() if column not in columns]
    separator = table_separator(path)
    other = {"\t": ",", ",": "\t"}[separator]
    if missing and len(columns) == 1 and ";" in str(columns[0]) and separator not in str(columns[0]):
        raise SeqtuneError(
            f"{path}, line 1: the header is one column holding semicolons ('{str(columns[0])[:60]}'); the file is "
            "semicolon-separated (a spreadsheet's CSV in some locales): save it comma-separated as .csv or "
            "tab-separated as .tsv")
    if missing and len(columns) == 1 and other in str(columns[0]):
        expected, found = ("comma", "tab") if separator == "," else ("tab", "comma")
        rename = "rename it to .tsv" if separator == "," else "rename it to .csv"
        raise SeqtuneError(
            f"{path}, line 1: the header is one {expected}-separated column but holds {found}s "
            f"('{str(columns[0])[:60]}'); the file is {found}-separated: {rename} (a name ending in .csv or .csv.gz "
            "is read as comma-separated, any other as tab-separated) or change its separator")
    if missing:
        keys = ", ".join(f"{role}_column" for role, column in required.items() if column not in columns)
        raise SeqtuneError(
            f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(map(str, columns))}. Rename the "
            f"header or set {keys} in the config (separator: {'comma' if table_separator(path) == ',' else 'tab'})")


def iter_table(path: str, id_column: str, sequence_column: str, label_column: str | None,
               split_column: str | None, split_required: bool = False,
               chunk_size: int = CHUNK_SIZE) -> Iterator[Record]:
    """Yield the rows of a TSV/CSV as records; line numbers count the header as line 1.

    ``label_column=None`` skips labels (prediction). A missing ``split_column`` is an error only when
    ``split_required``.
    """
    path = str(path)
    seen: dict[str, int] = {}
    n_rows = 0
    for number, chunk in enumerate(_table_chunks(path, chunk_size)):
        if number == 0:
            required = {"id": id_column, "sequence": sequence_column}
            if label_column is not None:
                required["label"] = label_column
            if split_required and split_column:
                required["split"] = split_column
            _missing_columns(path, chunk.columns, required)
            has_split = bool(split_column) and split_column in chunk.columns
        ids = chunk[id_column].to_numpy()
        sequences = chunk[sequence_column].to_numpy()
        labels = chunk[label_column].to_numpy() if label_column is not None else None
        splits = chunk[split_column].to_numpy() if has_split else None
        lines = chunk.index.to_numpy() + 2  # the header is line 1; blank lines were dropped, keeping the numbers
        for position in range(len(chunk)):
            line = int(lines[position])
            record_id = ids[position].strip()
            if not record_id:
                raise SeqtuneError(f"{path}, line {line}: empty id in column '{id_column}'; give every row an id")
            if record_id in seen:
                raise SeqtuneError(f"{path}, line {line}: duplicate id '{record_id}' (first at line "
                                   f"{seen[record_id]}); ids must be unique, rename or remove one of them")
            seen[record_id] = line
            record = Record(record_id, sequences[position].strip(), path, line,
                            label=labels[position].strip() if labels is not None else None,
                            split=splits[position].strip() if splits is not None else None)
            if not record.sequence:
                raise SeqtuneError(f"{record.where()}: empty sequence in column '{sequence_column}'; add the "
                                   "sequence or remove the row")
            yield record
        n_rows += len(chunk)
    if n_rows == 0:
        raise SeqtuneError(f"{path}: the table has a header but no rows; add one row per record")


def read_label_table(path: str, id_column: str, label_column: str, split_column: str | None,
                     split_required: bool = False) -> tuple[dict[str, str], dict[str, str] | None]:
    """The side table of a FASTA input: id -> label, and id -> split when it has a split column."""
    frames = list(_table_chunks(str(path), 1 << 30))
    frame = frames[0] if frames else pd.DataFrame()
    required = {"id": id_column, "label": label_column}
    if split_required and split_column:
        required["split"] = split_column
    _missing_columns(str(path), frame.columns, required)
    duplicated = frame[id_column].str.strip().duplicated()  # "a" and "a " are one id
    if duplicated.any():
        first = int(np.flatnonzero(duplicated.to_numpy())[0])
        raise SeqtuneError(f"{path}, line {frame.index[first] + 2}: duplicate id '{frame[id_column].iat[first]}'; "
                           "each id needs exactly one label, remove the repeated row")
    labels = dict(zip(frame[id_column].str.strip(), frame[label_column].str.strip()))
    splits = (dict(zip(frame[id_column].str.strip(), frame[split_column].str.strip()))
              if split_column and split_column in frame.columns else None)
    return labels, splits


def _bed_fields(path: str, line_number: int, line: str) -> tuple[list[str], str, int, int, str]:
    fields = line.split("\t") if "\t" in line else line.split()
    where = f"{path}, line {line_number}"
    if len(fields) < 3:
        raise SeqtuneError(f"{where}: a BED line needs at least 3 fields (chrom, start, end), found {len(fields)}: "
                           f"'{line[:60]}'; fix or remove the line")
    chrom = fields[0]
    try:
        start, end = int(fields[1]), int(fields[2])
    except ValueError:
        raise SeqtuneError(f"{where}: start '{fields[1]}' and end '{fields[2]}' must be whole numbers (0-based "
                           "start, exclusive end); fix the line, or remove it if it is a header") from None
    if start < 0 or end < start:
        raise SeqtuneError(f"{where}: interval {chrom}:{start}-{end} has a negative start or ends before it "
                           "starts; BED starts are 0-based and ends exclusive")
    strand = fields[5] if len(fields) >= 6 else "."
    if strand not in BED_STRANDS:
        raise SeqtuneError(f"{where}: strand '{strand}' (column 6) must be '+', '-' or '.'")
    return fields, chrom, start, end, strand


def iter_bed(path: str, genome, length: int, length_policy: str, label: str | None = None,
             label_column: int | None = 4, id_column: int | None = None) -> Iterator[Record]:
    """Yield one record per BED interval: the ``length``-nt window centred on it, from ``genome``.

    The window is ``[mid - length // 2, mid - length // 2 + length)`` with ``mid = (start + end) // 2``; its
    sequence is forward-strand (the reverse complement for strand ``-`` is taken after encoding). ``label`` gives
    every record one label (a per-class file); otherwise ``label_column`` (1-based) holds it, or ``None`` for none.
    Blank lines and ``#``, ``track`` and ``browser`` lines are skipped.
    """
    path = str(path)
    pads = length_policy in ("pad", "crop_or_pad")
    n_records = 0
    progress = [0]
    with _reading_errors(path, progress), open_text(path) as handle:
        for line_number, line in enumerate(handle, start=1):
            progress[0] = line_number
            line = line.rstrip("\r\n")
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            fields, chrom, start, end, strand = _bed_fields(path, line_number, line)
            where = f"{path}, line {line_number}"
            chrom_length = genome.chromosome_length(chrom)
            if chrom_length is None:
                raise SeqtuneError(
                    f"{where}: chromosome '{chrom}' is not in the genome {genome.path} (it has "
                    f"{genome.describe_names()}); use the genome the BED file was made for, or rename the "
                    "chromosomes to match (e.g. 'chr1' vs '1')")
            if end > chrom_length:
                raise SeqtuneError(
                    f"{where}: interval {chrom}:{start}-{end} ends past the end of {chrom} (length {chrom_length}) "
                    f"in {genome.path}; is the BED file for another genome assembly? Use the matching genome or "
                    "remove the line")
            window_start = (start + end) // 2 - length // 2
            window_end = window_start + length
            if window_start < 0 or window_end > chrom_length:
                if not pads:
                    raise SeqtuneError(
                        f"{where}: the {length}-nt window {chrom}:{window_start}-{window_end} around the interval "
                        f"runs past the chromosome's {'start' if window_start < 0 else 'end'} (length "
                        f"{chrom_length}); set length_policy: pad to fill it with N, or remove the line")
            clipped_start, clipped_end = max(window_start, 0), min(window_end, chrom_length)
            sequence = ("N" * (clipped_start - window_start) + genome.fetch(chrom, clipped_start, clipped_end)
                        + "N" * (window_end - clipped_end))
            record_label = label
            if record_label is None and label_column is not None:
                if len(fields) < label_column:
                    raise SeqtuneError(f"{where}: no label column (column {label_column}) on this line; add the "
                                       "label, or give one BED file per class with 'paths'")
                record_label = fields[label_column - 1].strip()
            if id_column is not None:
                if len(fields) < id_column or not fields[id_column - 1].strip():
                    raise SeqtuneError(f"{where}: no id in column {id_column}; add it or leave id_column unset to "
                                       "use chrom:start-end(strand) ids")
                record_id = fields[id_column - 1].strip()
            else:
                record_id = f"{chrom}:{start}-{end}({strand})"
            n_records += 1
            yield Record(record_id, sequence, path, line_number, label=record_label, chrom=chrom,
                         start=clipped_start, end=clipped_end, strand=strand)
    if n_records == 0:
        raise SeqtuneError(f"{path}: no intervals found; the BED file is empty or holds only comment/track lines")


# -------------------------------------------------------------------------------------------------------- genome
class Genome:
    """A genome FASTA opened through pyfaidx, its index kept out of read-only folders; use :func:`open_genome`."""

    def __init__(self, path: str, fasta):
        self.path = path
        self._fasta = fasta
        self._lengths = {name: record.rlen for name, record in fasta.faidx.index.items()}

    def chromosome_length(self, chrom: str) -> int | None:
        return self._lengths.get(chrom)

    def describe_names(self) -> str:
        names = list(self._lengths)
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        return f"{len(names)} sequence(s): {shown}"

    def fetch(self, chrom: str, start: int, end: int) -> str:
        """Forward-strand sequence of ``[start, end)`` (0-based, end exclusive)."""
        return str(self._fasta[chrom][start:end])


def _is_gzip(path: str) -> bool:
    with open(path, "rb") as probe:
        return probe.read(2) == b"\x1f\x8b"


def _index_is_current(path: str) -> bool:
    index = path + ".fai"
    return os.path.exists(index) and os.path.getmtime(index) >= os.path.getmtime(path)


def _keep_index(built: str, target: str) -> None:
    """Copy a finished index beside its genome, atomically (a failure only costs re-indexing next time)."""
    partial = f"{target}.{os.getpid()}.tmp"
    try:
        shutil.copyfile(built, partial)
        os.replace(partial, target)
    except OSError as error:
        log.info("could not keep the genome index %s (%s); it will be rebuilt next time", target, error)
        with contextlib.suppress(OSError):
            os.remove(partial)


@contextlib.contextmanager
def open_genome(path: str | os.PathLike) -> Iterator[Genome]:
    """Open a genome FASTA for random access; temporary files are removed on exit.

    * plain FASTA with a current ``.fai``: read in place;
    * plain FASTA without one: indexed in a temporary folder; in a writable folder the finished index is then moved
      beside it as ``<genome>.fai`` (kept, so the next run is fast; a genome pyfaidx refuses leaves no partial
      index behind);
    * gzip or bgzip FASTA: decompressed into a temporary folder (pyfaidx reads bgzip only with Biopython, and plain
      gzip not at all), indexed there.
    """
    import pyfaidx

    path = str(path)
    if os.path.isdir(path):
        raise SeqtuneError(f"{path}: is a folder; 'genome' must be the genome FASTA file (e.g. {path}/genome.fa)")
    if not os.path.isfile(path):
        raise SeqtuneError(f"{path}: genome FASTA not found; check 'genome' (a relative path is read from "
                           f"{os.getcwd()})")
    with tempfile.TemporaryDirectory(prefix="seqtune-genome-") as scratch:
        fasta_path, index_path = path, None
        if _is_gzip(path):
            fasta_path = os.path.join(scratch, "genome.fa")
            log.info("decompressing %s into a temporary folder for indexing", path)
            with _reading_errors(path), gzip.open(path, "rb") as source, open(fasta_path, "wb") as target:
                shutil.copyfileobj(source, target, 1 << 22)
            index_path = fasta_path + ".fai"
        elif not _index_is_current(path):
            index_path = os.path.join(scratch, "genome.fa.fai")
        try:
            fasta = pyfaidx.Fasta(fasta_path, indexname=index_path, as_raw=True, rebuild=True)
        except (pyfaidx.FastaIndexingError, ValueError, OSError) as error:
            raise SeqtuneError(f"{path}: cannot be indexed as a FASTA genome ({error}); check that it is a FASTA "
                               "file with unique sequence names and equal line widths within each sequence") from None
        if fasta_path == path and index_path and os.access(os.path.dirname(os.path.abspath(path)), os.W_OK):
            _keep_index(index_path, path + ".fai")
        try:
            yield Genome(path, fasta)
        finally:
            fasta.close()


# ------------------------------------------------------------------------------------------------------ encoding
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


# -------------------------------------------------------------------------------------------------------- import
# dataset.json's description of the class order, by (labelled, positive_class given)
_CLASS_ORDER = {(True, False): "sorted label strings; model output k is classes[k]",
                (True, True): "sorted label strings, the positive class (positive_class) last; model output k is "
                              "classes[k]",
                (False, False): None}


def class_order(labels: pd.Series, positive_class: str | None, inputs: str) -> list[str]:
    """The classes in model-output order: the sorted label strings, with ``positive_class`` (two classes only) moved
    last, so that output 1 is the positive class. ``inputs`` names the files in errors."""
    classes = sorted(labels.unique().tolist())
    if len(classes) < 2:
        raise SeqtuneError(f"{inputs}: every record has the label '{classes[0]}'; a classifier needs at least two "
                           "classes. Check the label column/tokens, or add records of the other class(es)")
    if positive_class is None:
        return classes
    if positive_class not in classes:
        raise SeqtuneError(f"{inputs}: positive_class '{positive_class}' is not a label of this data; its labels are "
                           f"{classes}. Set positive_class to one of them (the case counts)")
    if len(classes) != 2:
        raise SeqtuneError(f"{inputs}: positive_class applies to two classes; this data has {len(classes)} "
                           f"({classes}). Remove positive_class")
    return [label for label in classes if label != positive_class] + [positive_class]


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


def _apply_side_table(records: list[Record], side_labels: dict[str, str], side_splits: dict[str, str] | None,
                      table_path: str) -> None:
    for record in records:
        if record.id not in side_labels:
            raise SeqtuneError(f"{record.where()}: no label for this id in {table_path}; add a row for it there or "
                               "remove the record")
        record.label = side_labels[record.id]
        if side_splits is not None:
            record.split = side_splits[record.id]
    unused = len(side_labels) - len(records)
    if unused > 0:
        log.warning("%s: %d id(s) have a label but no sequence; they are ignored", table_path, unused)


def _check_labels(records: list[Record], spec: InputSpec, where) -> None:
    """Every record has a label that is a class name (not empty, not a missing-value marker, not quoted); labels
    that differ only in case get a warning. ``where(record)`` says where to fix a record."""
    for record in records:
        missing = record.label is None or record.label == ""
        if not missing and not record.label.isprintable():
            raise SeqtuneError(f"{where(record)}: label {record.label!r} holds a tab, line break or control "
                               "character; write the class name on one line (spaces are fine in a table)")
        if missing or record.label in MISSING_LABELS or record.label[:1] in "\"'":
            fix = {"fasta": f"fill in its '{spec.label_column}' cell" if spec.labels else
                   f"add '{spec.label_column}=<class>' to its header or give a labels table",
                   "tsv": f"fill in column '{spec.label_column}'",
                   "bed": f"fill in column {spec.label_column}"}[spec.source]
            if missing:
                problem = "missing label"
            elif record.label in MISSING_LABELS:
                problem, fix = (f"label '{record.label}' is how spreadsheets and R write a missing value",
                                fix + " with a class name")
            else:
                problem, fix = (f"label {record.label} starts with a quote", "a header token ends at the first "
                                f"space, so write e.g. {spec.label_column}=open_chromatin (no quotes, no spaces), or "
                                "give a labels table")
            raise SeqtuneError(f"{where(record)}: {problem}; {fix}")
    by_number: dict[float, list[str]] = {}
    for record in records:
        try:
            value = float(record.label)
        except ValueError:
            continue
        variants = by_number.setdefault(value, [])
        if record.label not in variants:
            variants.append(record.label)
            if len(variants) > 1:
                raise SeqtuneError(f"{where(record)}: label '{record.label}' is the same number as label "
                                   f"'{variants[0]}', written another way (as spreadsheets do), and would be a class of "
                                   "its own; write each class one way throughout")
    by_case: dict[str, set[str]] = {}
    for label in {record.label for record in records}:
        by_case.setdefault(label.casefold(), set()).add(label)
    for variants in by_case.values():
        if len(variants) > 1:
            log.warning("%s: labels %s differ only in case and are different classes; make them one if they are "
                        "meant to be", spec.path or spec.files()[0][1], ", ".join(f"'{v}'" for v in sorted(variants)))


def _labels_table(records: list[Record], spec: InputSpec) -> pd.DataFrame:
    """``id``, ``label`` [, ``chrom``, ``start``, ``end``, ``strand``] [, ``split``], after checking every record has
    a label and a valid split."""
    # A FASTA's labels (and splits) may come from a side table: then the table is where to fix them.
    def where(record: Record) -> str:
        return f"{spec.labels}, id '{record.id}'" if spec.labels else record.where()

    columns = {"id": [record.id for record in records]}
    if spec.labelled:
        _check_labels(records, spec, where)
        columns["label"] = [record.label for record in records]
    if spec.source == "bed":
        columns.update(chrom=[record.chrom for record in records], start=[record.start for record in records],
                       end=[record.end for record in records], strand=[record.strand for record in records])
    splits = [record.split for record in records]
    if spec.split_column_required and all(split is None for split in splits):
        raise SeqtuneError(f"{spec.path}: split_column '{spec.split_column}' is set but no record has a split; add "
                           f"'{spec.split_column}=train|validation|test' to the headers, or remove split_column")
    if any(split is not None for split in splits):
        for record in records:
            if record.split not in SPLIT_NAMES:
                raise SeqtuneError(f"{where(record)}: split '{record.split or ''}' is not one of "
                                   f"{', '.join(SPLIT_NAMES)}; give every record one of them, or drop the split "
                                   "column to let seqtune split")
        columns["split"] = splits
    return pd.DataFrame(columns)
