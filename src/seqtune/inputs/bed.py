"""BED intervals as windows of a genome FASTA, read through pyfaidx."""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import shutil
import tempfile
from typing import Iterator

from ..errors import SeqtuneError
from ..io import open_text
from .spec import BED_STRANDS, Record, _reading_errors

log = logging.getLogger("seqtune")


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
