"""TSV/CSV tables (by extension), read with the csv rules through pandas, every cell as written: no missing-value
parsing, so an id ``NA`` or a class ``None`` stays text."""

from __future__ import annotations

import csv
import itertools
import re
from typing import Iterator

import numpy as np
import pandas as pd

from ..errors import SeqtuneError
from ..io import open_text
from .spec import CHUNK_SIZE, Record, _reading_errors


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
    if len(header) == 1 and header[0].startswith("#") and len(rows) == 2 and len(rows[1]) > 1:
        raise SeqtuneError(f"{path}, line 1: a comment line ('{header[0][:40]}') above the header; the header (id, "
                           "sequence, label, ...) must be the first line: delete the comment line(s) above it")
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
            unclosed = re.search(r"EOF inside string starting at row (\d+)", str(error))
            if unclosed:  # pandas counts rows from 0 at the header
                raise SeqtuneError(f"{path}, line {int(unclosed.group(1)) + 1}: a double quote opens a quoted field "
                                   "that is never closed, so every line after it would be read into that field; "
                                   "remove the stray quote, or close it on the same line") from None
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
    if missing and len(columns) and str(columns[0]).startswith(">"):
        raise SeqtuneError(
            f"{path}, line 1: '{str(columns[0])[:40]}' is a FASTA header, not a table's header; the file is FASTA: "
            "set source: fasta (seqtune predict --input: name the file .fa or .fasta, or give "
            '{"source": "fasta", "path": ...})')
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
