"""Variant effects: the alleles of a VCF scored by a fine-tuned model on genome windows centred on each variant.

Streaming throughout: cyvcf2 (htslib) iterates the records of a plain, gzipped or bgzipped VCF, windows are cut from
the genome with pyfaidx and scored ``chunk_size`` alleles at a time, and rows are appended to a temporary file that
replaces the output only when every record has been read. Memory does not grow with the number of records.

Per allele (multi-allelic records are split), two windows of the model's length L:

* reference: the genome, centred on the middle of the REF allele;
* alternative: the genome with REF replaced by ALT, centred on the middle of the ALT allele (so an indel re-centres
  the window instead of shifting every base after it). For an SNV the two differ at the centre base only.

Windows that run past a contig end are filled with N (flag ``window_padded``). Symbolic alleles (``<DEL>``),
breakends, spanning deletions (``*``), missing ALT (``.``) and indels longer than ``max_indel_length`` are skipped
and counted, not scored.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import re
import time
from collections import Counter
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import pandas as pd

from .errors import SeqtuneError
from .io import PROBABILITY_FORMAT, atomic_open, write_json

log = logging.getLogger("seqtune")

CHUNK_SIZE = 4096  # alleles per scoring chunk
SKIP_REASONS = ("missing_alt", "symbolic", "breakend", "spanning_deletion", "too_long")
REF_POLICIES = ("error", "flag")
EPSILON = 1e-7  # probabilities are clipped to [EPSILON, 1 - EPSILON] before log-odds (float32 resolution)
_DNA = re.compile(r"^[ACGTNacgtn]+$")
_BREAKEND = re.compile(r"[\[\]]|^\.|\.$")
BASES = "ACGT"


@dataclass(frozen=True, slots=True)
class Allele:
    """One ALT allele of a VCF record: 1-based ``pos`` as in the VCF; ``record`` counts data lines (1-based)."""

    chrom: str
    pos: int
    id: str
    ref: str
    alt: str
    alt_index: int
    info: str
    record: int
    ref_mismatch: bool = False


def alt_kind(alt: str | None) -> str:
    """``snv_or_indel`` for an allele of bases, else why it is skipped (one of ``SKIP_REASONS`` but too_long)."""
    if alt is None or alt in ("", "."):
        return "missing_alt"
    if alt == "*":
        return "spanning_deletion"
    if alt.startswith("<"):
        return "symbolic"
    if _BREAKEND.search(alt):
        return "breakend"
    return "snv_or_indel"


def window_starts(pos0: int, ref_length: int, alt_length: int, length: int) -> tuple[int, int, int]:
    """Where the two windows of an allele come from, in 0-based contig coordinates.

    Returns ``(ref_start, left_start, right_end)``: the reference window is ``[ref_start, ref_start + length)``; the
    alternative one is ``[left_start, pos0) + ALT + [pos0 + ref_length, right_end)``, ``length`` bases with ALT's
    middle base at ``length // 2`` (as REF's middle base is in the reference window).
    """
    ref_start = pos0 + ref_length // 2 - length // 2
    alt_offset = length // 2 - alt_length // 2  # where ALT starts inside its window
    left_start = pos0 - alt_offset
    right_end = pos0 + ref_length + (length - alt_offset - alt_length)
    return ref_start, left_start, right_end


def allele_windows(fetch, contig_length: int, pos0: int, ref_length: int, alt: str, length: int
                   ) -> tuple[str, str, bool]:
    """The reference and alternative windows (strings of ``length``) of one allele, and whether either ran past a
    contig end (filled with N). ``fetch(start, end)`` returns the contig's bases in ``[start, end)``, any bounds."""
    ref_start, left_start, right_end = window_starts(pos0, ref_length, len(alt), length)
    start, end = min(ref_start, left_start), max(ref_start + length, right_end)
    span = fetch(start, end)
    reference = span[ref_start - start:ref_start - start + length]
    alternative = span[left_start - start:pos0 - start] + alt + span[pos0 + ref_length - start:right_end - start]
    return reference, alternative, start < 0 or end > contig_length


def padded_fetch(genome, chrom: str, contig_length: int):
    """``fetch(start, end)`` over one contig of ``genome`` (a ``seqtune.inputs.Genome``), N beyond its ends."""
    def fetch(start: int, end: int) -> str:
        low = min(max(start, 0), end)
        high = max(min(end, contig_length), low)
        bases = genome.fetch(chrom, low, high) if high > low else ""
        return "N" * (low - start) + bases + "N" * (end - high)
    return fetch


def ref_matches(ref: str, genome_bases: str) -> bool:
    """REF agrees with the genome: equal letters, case ignored; N on either side matches anything."""
    ref, genome_bases = ref.upper(), genome_bases.upper()
    if len(ref) != len(genome_bases):
        return False
    return all(a == b or a == "N" or b == "N" for a, b in zip(ref, genome_bases))


def log_odds_ratio(p_ref: np.ndarray, p_alt: np.ndarray, epsilon: float = EPSILON) -> np.ndarray:
    """log(p_alt / (1 - p_alt)) - log(p_ref / (1 - p_ref)), elementwise, probabilities clipped to
    [epsilon, 1 - epsilon] so that a probability of 0 or 1 gives a finite value."""
    p_ref = np.clip(np.asarray(p_ref, dtype=np.float64), epsilon, 1 - epsilon)
    p_alt = np.clip(np.asarray(p_alt, dtype=np.float64), epsilon, 1 - epsilon)
    return np.log(p_alt / (1 - p_alt)) - np.log(p_ref / (1 - p_ref))


# --------------------------------------------------------------------------------------------------- the genome
def _gzip_kind(path: str) -> str | None:
    """``bgzf``, ``gzip`` or None (not compressed), from the first bytes."""
    with open(path, "rb") as probe:
        head = probe.read(18)
    if head[:2] != b"\x1f\x8b":
        return None
    return "bgzf" if len(head) >= 14 and head[3] & 4 and head[12:14] == b"BC" else "gzip"


def _index_current(index: str, path: str) -> bool:
    return os.path.exists(index) and os.path.getmtime(index) >= os.path.getmtime(path)


def folder_writable(path: str) -> bool:
    return os.access(os.path.dirname(os.path.abspath(path)), os.W_OK)


@contextlib.contextmanager
def open_variant_genome(path: str | os.PathLike):
    """The genome for variant windows, read in place (a ``seqtune.inputs.Genome``).

    * plain FASTA: as ``seqtune.inputs.open_genome`` (a missing ``.fai`` is built, beside the genome when its folder
      is writable, in a temporary folder otherwise);
    * bgzipped FASTA: read in place through its ``.fai`` and ``.gzi`` (what ``samtools faidx`` writes); missing ones
      are built beside it when the folder is writable, else the step stops saying to run ``samtools faidx`` (building
      them reads the whole genome, better done once than on every run);
    * gzip that is not bgzip: refused (it cannot be read at random); recompress it with ``bgzip``.
    """
    import pyfaidx

    from .inputs import Genome, open_genome

    path = str(path)
    if not os.path.isfile(path):
        raise SeqtuneError(f"{path}: genome FASTA not found; check the path (a relative one is read from "
                           f"{os.getcwd()})")
    kind = _gzip_kind(path)
    if kind is None:
        with open_genome(path) as genome:
            yield genome
        return
    if kind == "gzip":
        raise SeqtuneError(f"{path}: gzip-compressed but not with bgzip, so no index can give random access to it; "
                           f"recompress it: gunzip -c {path} | bgzip > genome.fa.gz && samtools faidx genome.fa.gz")
    indexes = [path + ".fai", path + ".gzi"]
    missing = [index for index in indexes if not _index_current(index, path)]
    if missing and not folder_writable(path):
        raise SeqtuneError(f"{path}: bgzipped genome without a current index ({', '.join(missing)} missing or older "
                           f"than the genome) in a folder seqtune cannot write to; run samtools faidx {path} where "
                           "you can write, or copy the genome to a writable folder")
    if missing:
        log.info("indexing %s (writing %s)", path, ", ".join(missing))
    try:
        fasta = pyfaidx.Fasta(path, as_raw=True, rebuild=bool(missing))
    except (pyfaidx.FastaIndexingError, pyfaidx.UnsupportedCompressionFormat, ValueError, OSError) as error:
        raise SeqtuneError(f"{path}: cannot be indexed as a bgzipped FASTA genome ({error}); check it with "
                           f"samtools faidx {path}") from None
    try:
        yield Genome(path, fasta)
    finally:
        fasta.close()


# ------------------------------------------------------------------------------------------------------ the VCF
def _open_lines(path: str):
    return gzip.open(path, "rt", newline=None) if _gzip_kind(path) else open(path, "rt", newline=None)


def header_line_count(path: str) -> int:
    """Lines before the first data line (``##`` meta lines and the ``#CHROM`` line)."""
    count = 0
    with _open_lines(path) as handle:
        for line in handle:
            if not line.startswith("#"):
                break
            count += 1
    return count


def check_read_to_end(path: str, header_lines: int, n_read: int) -> None:
    """Raise if the VCF has data lines after the ``n_read`` records htslib returned (htslib stops without an error
    at some malformed lines, such as an empty one or one without tabs); trailing empty lines are fine."""
    with _open_lines(path) as handle:
        for number, line in enumerate(handle, start=1):
            if number <= header_lines + n_read:
                continue
            if number == header_lines + n_read + 1:
                first, first_number = line.rstrip("\r\n"), number
            if line.strip():
                break
        else:
            return
    record = f"{path}: record {n_read + 1} (line {first_number})"
    if not first.strip():
        raise SeqtuneError(f"{record} is an empty line, where htslib stops reading and the records after it would be "
                           "lost; delete empty lines (grep -v '^$')")
    raise SeqtuneError(f"{record} cannot be read as VCF: '{first[:70]}'; fix or delete that line (a data line has at "
                       "least 8 tab-separated columns: CHROM POS ID REF ALT QUAL FILTER INFO; bcftools view shows "
                       "htslib's own message)")


def open_vcf(path: str):
    """A cyvcf2 reader of a plain, gzipped or bgzipped VCF (no index needed: it is read from start to end)."""
    import cyvcf2

    if not os.path.isfile(path):
        raise SeqtuneError(f"{path}: VCF file not found; check the path (a relative one is read from {os.getcwd()})")
    cyvcf2.cyvcf2.set_htslib_log_level(0)  # a header htslib cannot read: seqtune's one line says so
    try:
        return cyvcf2.VCF(path, lazy=True)
    except Exception as error:  # cyvcf2: OSError, or a bare Exception "cannot parse VCF header" (no #CHROM line)
        if not isinstance(error, OSError) and "header" not in str(error):
            raise
        raise SeqtuneError(f"{path}: not a VCF that htslib can read (it needs the ## meta lines and the #CHROM "
                           "header line); give a VCF, plain or bgzipped (bcftools view checks it)") from None
    finally:
        cyvcf2.cyvcf2.set_htslib_log_level(1)  # then errors only: seqtune's own message names the record


def iter_alleles(path: str, genome, length: int, max_indel_length: int = 50, ref_mismatch: str = "error",
                 counts: Counter | None = None) -> Iterator[Allele]:
    """Every scorable allele of the VCF at ``path``, checked against ``genome``, in file order.

    Each record must be sorted (by position within a contig, each contig in one block), on a contig of the genome,
    within it, with a REF of bases that matches the genome (``ref_mismatch``: ``error`` stops, ``flag`` marks the
    allele). ``counts`` (updated as records are read) gets ``records``, ``alleles`` and a count per skip reason.
    """
    if ref_mismatch not in REF_POLICIES:
        raise SeqtuneError(f"ref_mismatch: '{ref_mismatch}' is not allowed; choose one of {', '.join(REF_POLICIES)}")
    counts = Counter() if counts is None else counts
    header_lines = header_line_count(path)
    reader = open_vcf(path)
    current, last_pos, finished, number = None, 0, set(), 0
    records = iter(reader)
    try:
        while True:
            try:
                record = next(records)
            except StopIteration:
                break
            except Exception:  # cyvcf2 raises a bare Exception for a line htslib cannot parse: named below
                break
            if not record.CHROM or any(letter.isspace() for letter in record.CHROM):
                # An empty line, or one without tabs, which htslib returns as a record on a contig named '' or
                # named by the whole line: named below, without touching the record (cyvcf2 can crash on it).
                break
            number += 1
            chrom, pos = record.CHROM, record.POS
            where = f"{path}: record {number} (line {header_lines + number}, {chrom}:{pos})"
            if chrom != current:
                if chrom in finished:
                    raise SeqtuneError(f"{where}: contig {chrom} appears again after other contigs; the VCF must be "
                                       f"sorted, each contig in one block: bcftools sort -Oz -o sorted.vcf.gz {path}")
                if current is not None:
                    finished.add(current)
                current, last_pos = chrom, 0
            if pos < last_pos:
                raise SeqtuneError(f"{where}: comes after {chrom}:{last_pos}; the VCF is not sorted by position, "
                                   f"sort it: bcftools sort -Oz -o sorted.vcf.gz {path}")
            last_pos = pos
            counts["records"] += 1
            yield from _record_alleles(record, number, where, genome, length, max_indel_length, ref_mismatch,
                                       counts)
        check_read_to_end(path, header_lines, number)
    finally:
        # Not reader.close(): after such a line it crashes (cyvcf2 0.35); dropping the reader frees it safely.
        del records, reader


def _record_alleles(record, number: int, where: str, genome, length: int, max_indel_length: int,
                    ref_mismatch: str, counts: Counter) -> Iterator[Allele]:
    chrom, pos, ref = record.CHROM, record.POS, record.REF
    contig_length = genome.chromosome_length(chrom)
    if contig_length is None:
        raise SeqtuneError(f"{where}: contig {chrom} is not in the genome {genome.path} ({genome.describe_names()});"
                           " give the genome the calls were made on, or rename the VCF's contigs to the genome's "
                           "names (bcftools annotate --rename-chrs)")
    if not ref or not _DNA.match(ref):
        raise SeqtuneError(f"{where}: REF '{ref}' is not a sequence of bases (A, C, G, T, N); fix the record")
    if pos < 1 or pos - 1 + len(ref) > contig_length:
        raise SeqtuneError(f"{where}: REF {ref} at position {pos} lies off {chrom}, which has {contig_length} nt in "
                           f"{genome.path}; the calls were made on another genome build, give that genome")
    genome_ref = genome.fetch(chrom, pos - 1, pos - 1 + len(ref))
    mismatch = not ref_matches(ref, genome_ref)
    if mismatch and ref_mismatch == "error":
        raise SeqtuneError(f"{where}: REF {ref} but the genome {genome.path} has {genome_ref.upper()} there; give the "
                           "genome the calls were made on (same build), or set ref_mismatch: flag (--ref-mismatch "
                           "flag) to score such records and flag them")
    alts = record.ALT or [None]
    identifier = record.ID or "."
    info = None
    for alt_index, alt in enumerate(alts, start=1):
        counts["alleles"] += 1
        kind = alt_kind(alt)
        if kind == "snv_or_indel" and not _DNA.match(alt):
            raise SeqtuneError(f"{where}: ALT '{alt}' is neither bases (A, C, G, T, N) nor a symbolic allele (<...>), "
                               "a breakend or '*'; fix the record")
        if kind == "snv_or_indel" and (abs(len(alt) - len(ref)) > max_indel_length or max(len(alt), len(ref)) > length):
            kind = "too_long"
        if kind != "snv_or_indel":
            counts[kind] += 1
            continue
        if info is None:
            info = str(record).split("\t", 8)[7].rstrip("\r\n")
        yield Allele(chrom, pos, identifier, ref.upper(), alt.upper(), alt_index, info, number, mismatch)


# ---------------------------------------------------------------------------------------------------- scoring
def output_columns(classes: list[str], ism: bool) -> list[str]:
    """The effects table's columns, in order."""
    columns = ["chrom", "pos", "id", "ref", "alt", "alt_index"]
    for name in classes:
        columns += [f"prob_ref_{name}", f"prob_alt_{name}", f"delta_{name}", f"log_odds_ratio_{name}"]
    columns.append("flag")
    if ism:
        columns += [f"ism_{base}_{name}" for name in classes for base in BASES]
    return columns + ["info"]


def score_chunk(alleles: list[Allele], genome, length: int, predict, classes: list[str], ism: bool
                ) -> pd.DataFrame:
    """The effects rows of one chunk of alleles: windows cut, encoded and scored in one batch each.

    ``predict(codes)``: probabilities (n, K) of uint8 codes (n, length), K = len(classes).
    """
    from .sequence import encode

    fetchers, references, alternatives, padded = {}, [], [], []
    for allele in alleles:
        if allele.chrom not in fetchers:
            fetchers[allele.chrom] = (padded_fetch(genome, allele.chrom, genome.chromosome_length(allele.chrom)),
                                      genome.chromosome_length(allele.chrom))
        fetch, contig_length = fetchers[allele.chrom]
        reference, alternative, edge = allele_windows(fetch, contig_length, allele.pos - 1, len(allele.ref),
                                                      allele.alt, length)
        references.append(reference)
        alternatives.append(alternative)
        padded.append(edge)
    ids = [f"{a.chrom}:{a.pos} {a.ref}>{a.alt}" for a in alleles]
    ref_codes = encode(references, length, "allow", source=f"{genome.path} (reference window)", ids=ids)
    alt_codes = encode(alternatives, length, "allow", source=f"{genome.path} (alternative window)", ids=ids)
    p_ref, p_alt = predict(ref_codes), predict(alt_codes)
    frame = pd.DataFrame({"chrom": [a.chrom for a in alleles], "pos": [a.pos for a in alleles],
                          "id": [a.id for a in alleles], "ref": [a.ref for a in alleles],
                          "alt": [a.alt for a in alleles], "alt_index": [a.alt_index for a in alleles]})
    ratio = log_odds_ratio(p_ref, p_alt)
    for k, name in enumerate(classes):
        frame[f"prob_ref_{name}"] = p_ref[:, k]
        frame[f"prob_alt_{name}"] = p_alt[:, k]
        frame[f"delta_{name}"] = p_alt[:, k] - p_ref[:, k]
        frame[f"log_odds_ratio_{name}"] = ratio[:, k]
    flags = [",".join(name for name, on in (("ref_mismatch", a.ref_mismatch), ("window_padded", edge)) if on) or "."
             for a, edge in zip(alleles, padded)]
    frame["flag"] = flags
    if ism:
        for name, values in ism_at_variant(ref_codes, p_ref, [len(a.ref) for a in alleles], predict, classes).items():
            frame[name] = values
    frame["info"] = [a.info for a in alleles]
    return frame


def ism_at_variant(ref_codes: np.ndarray, p_ref: np.ndarray, ref_lengths: list[int], predict, classes: list[str]
                   ) -> dict[str, np.ndarray]:
    """In-silico mutagenesis at each variant's position (its first REF base) in its reference window: for each base
    b, P(class | b there) - P(class | reference). The reference base scores 0; for an SNV, ``ism_<ALT>`` equals the
    allele's delta. Returns ``ism_<base>_<class>`` -> (n,) arrays.

    Parameters
    ----------
    ref_codes : numpy.ndarray, shape (n, L), uint8
    p_ref : numpy.ndarray, shape (n, K)
    """
    n, length = ref_codes.shape
    offsets = length // 2 - np.asarray(ref_lengths) // 2
    mutated = np.repeat(ref_codes[None], 4, axis=0)  # (4, n, L): base b written at each variant's offset
    mutated[:, np.arange(n), offsets] = np.arange(4, dtype=np.uint8)[:, None]
    probabilities = predict(mutated.reshape(4 * n, length)).reshape(4, n, -1) - p_ref[None]
    return {f"ism_{base}_{name}": probabilities[b, :, k] for k, name in enumerate(classes)
            for b, base in enumerate(BASES)}


def score_vcf(weights: str | os.PathLike, vcf: str | os.PathLike, genome_path: str | os.PathLike,
              output: str | os.PathLike, summary: str | os.PathLike | None = None, ref_mismatch: str = "error",
              ism: bool = False, rc_average: bool = False, max_indel_length: int = 50, batch_size: int = 512,
              device=None, chunk_size: int = CHUNK_SIZE) -> dict:
    """Score every SNV and short indel of a VCF with a fine-tuned model: one TSV row per allele, in file order.

    Parameters
    ----------
    weights : path
        A fine-tuned ``.safetensors`` with its sidecar (``classes``, ``length``).
    vcf : path
        Plain, gzipped or bgzipped VCF, sorted (``bcftools sort``); read from start to end, no index needed.
    genome_path : path
        The FASTA the calls refer to: plain (``.fai`` built if missing) or bgzipped (see :func:`open_variant_genome`).
    output : path
        The effects TSV (``.gz``: gzipped); columns :func:`output_columns`.
    summary : path, optional
        JSON: counts of records, alleles scored, skipped (per reason) and flagged, and the settings.
    ref_mismatch : {"error", "flag"}
        A REF that differs from the genome stops the step naming the record, or is scored and flagged.
    ism : bool
        Add ``ism_<base>_<class>``: in-silico mutagenesis at the variant's position in the reference window.
    rc_average : bool
        Average the model's outputs over both strands.
    max_indel_length : int
        Longer indels (difference of allele lengths) are skipped as ``too_long``.

    Returns
    -------
    dict
        The summary.
    """
    from .predict import load_predictor

    started = time.perf_counter()
    vcf, genome_path = str(vcf), str(genome_path)
    predictor = load_predictor(weights, device=device, batch_size=batch_size, rc_average=rc_average)
    if predictor.multilabel:
        log.info("%s is multi-label: each class's probability is scored on its own", weights)
    counts, flags = Counter(), Counter()
    columns = output_columns(predictor.classes, ism)
    with open_variant_genome(genome_path) as genome, atomic_open(output) as handle:
        handle.write("\t".join(columns) + "\n")
        alleles = iter_alleles(vcf, genome, predictor.length, max_indel_length, ref_mismatch, counts)
        for chunk in _chunks(alleles, chunk_size):
            frame = score_chunk(chunk, genome, predictor.length, predictor, predictor.classes, ism)
            flags.update(flag for value in frame["flag"] if value != "." for flag in value.split(","))
            frame.to_csv(handle, sep="\t", index=False, header=False, float_format=PROBABILITY_FORMAT,
                         lineterminator="\n")
            counts["scored"] += len(frame)
        result = {"vcf": vcf, "genome": genome_path, "weights": str(weights), "classes": predictor.classes,
                  "length": predictor.length, "records": counts["records"], "alleles": counts["alleles"],
                  "scored": counts["scored"], "skipped": {reason: counts[reason] for reason in SKIP_REASONS},
                  "flagged": {name: flags[name] for name in ("ref_mismatch", "window_padded")},
                  "settings": {"ref_mismatch": ref_mismatch, "ism": ism, "rc_average": rc_average,
                               "max_indel_length": max_indel_length}}
    if summary:
        write_json(summary, result)
    skipped = ", ".join(f"{count} {reason}" for reason, count in result["skipped"].items() if count) or "none"
    log.info("scored %d alleles of %d records from %s in %.1f s (skipped: %s; flagged: %s)", counts["scored"],
             counts["records"], vcf, time.perf_counter() - started, skipped, result["flagged"])
    return result


def _chunks(items: Iterator[Allele], size: int) -> Iterator[list[Allele]]:
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
