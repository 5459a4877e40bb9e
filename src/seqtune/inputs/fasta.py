"""FASTA records, one at a time, with ``label=`` / ``split=`` header tokens."""

from __future__ import annotations

from typing import Iterator

from ..errors import SeqtuneError
from ..io import open_text
from .spec import Record, _reading_errors


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
