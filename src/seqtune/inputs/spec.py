"""What to read (:class:`InputSpec`, checked from the config's dict), one record while it is read (:class:`Record`),
and the error guard every reader uses."""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import logging
import os
import zlib
from dataclasses import dataclass

from ..errors import SeqtuneError

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
