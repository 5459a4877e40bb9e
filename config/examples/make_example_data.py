"""Make the small example inputs under config/examples/data/ (run from the repository root; deterministic).

    python config/examples/make_example_data.py

Writes, with real JASPAR motifs (read offline through seqtune/pyjaspar) sampled into a vertebrate-like background
(first-order Markov chain, GC 0.41, CpG depleted), so that the pretraining corpora of the example configs, which plant
the same motifs, have something to transfer:

* ``fasta_example.fa.gz``: 600 sequences of 90-130 nt, ``label=bound`` (a TP53 site in the central 80 nt) or
  ``label=unbound``; some soft-masked (lower case) stretches and a few N. ``fasta_new.fa``: 40 unlabelled ones.
* ``tsv_example.tsv.gz``: 600 rows of 100 nt, columns ``id``, ``sequence``, ``label`` (``CTCF``, ``SPI1``, or
  ``none``: which motif the sequence carries), ``split`` (a user-given train/validation/test split).
* ``genome.fa.gz``: a random genome of three chromosomes (chr1 24 kb, chr2 and chr3 13 kb each), soft-masked in
  places; ``bed_bound.bed``: intervals whose centre carries a CTCF site planted into the genome, ``bed_unbound.bed``:
  intervals without one (all 100-nt windows around the midpoints are disjoint); ``bed_new.bed``: 30 intervals to
  predict (half bound), names in column 4.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np

from seqtune.motifs import load_motif
from seqtune.simulate import markov_transitions, sample_background, sample_sites

OUT = Path(__file__).resolve().parent / "data"
BASES = np.array(list("ACGT"))
CTCF, SPI1, TP53 = "MA0139.2", "MA0080.5", "MA0106.3"


def text(codes: np.ndarray) -> str:
    return "".join(BASES[codes])


def plant(codes: np.ndarray, motif, position: int, rng: np.random.Generator) -> None:
    """Write one site sampled from ``motif`` at ``position`` of the 1-D ``codes``, on a random strand."""
    site = sample_sites(motif, 1, rng)[0]
    if rng.random() < 0.5:
        site = (3 - site)[::-1]
    codes[position:position + len(site)] = site


def soft_mask(sequence: str, rng: np.random.Generator, fraction: float = 0.1) -> str:
    """Lower-case a few random stretches (as repeat-masked genome sequence is)."""
    letters = list(sequence)
    while sum(c.islower() for c in letters) < fraction * len(letters):
        start = int(rng.integers(0, len(letters)))
        for i in range(start, min(len(letters), start + int(rng.integers(10, 60)))):
            letters[i] = letters[i].lower()
    return "".join(letters)


def open_text(path: Path):
    """A text file for writing; gzip (with a fixed time stamp, so reruns give identical bytes) for ``.gz``."""
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.GzipFile(path, "wb", mtime=0), encoding="ascii", newline="\n")
    return open(path, "w", encoding="ascii", newline="\n")


def write_fasta(path: Path, records: list[tuple[str, str]], width: int = 60) -> None:
    with open_text(path) as handle:
        for header, sequence in records:
            handle.write(f">{header}\n")
            for start in range(0, len(sequence), width):
                handle.write(sequence[start:start + width] + "\n")


def fasta_example(rng, transitions, tp53) -> None:
    records = []
    for i in range(600):
        length = int(rng.integers(90, 131))
        codes = sample_background(1, length, transitions, rng)[0]
        bound = i % 2 == 0
        if bound:
            centre_start = (length - 80) // 2
            plant(codes, tp53, centre_start + int(rng.integers(0, 80 - tp53.width)), rng)
        sequence = soft_mask(text(codes), rng, 0.05)
        if rng.random() < 0.02:
            position = int(rng.integers(0, length))
            sequence = sequence[:position] + "N" + sequence[position + 1:]
        records.append((f"seq{i:04d} label={'bound' if bound else 'unbound'}", sequence))
    write_fasta(OUT / "fasta_example.fa.gz", records)
    new = []
    for i in range(40):
        codes = sample_background(1, 100, transitions, rng)[0]
        if i % 2 == 0:
            plant(codes, tp53, 10 + int(rng.integers(0, 80 - tp53.width)), rng)
        new.append((f"new{i:03d}", text(codes)))
    write_fasta(OUT / "fasta_new.fa", new)


def tsv_example(rng, transitions, ctcf, spi1) -> None:
    labels = np.array(["CTCF", "SPI1", "none"])[np.arange(600) % 3]
    splits = np.array(["train"] * 6 + ["validation"] * 2 + ["test"] * 2)[rng.permutation(600) % 10]
    with open_text(OUT / "tsv_example.tsv.gz") as handle:
        handle.write("id\tsequence\tlabel\tsplit\n")
        for i, (label, split) in enumerate(zip(labels, splits)):
            codes = sample_background(1, 100, transitions, rng)[0]
            if label != "none":
                motif = ctcf if label == "CTCF" else spi1
                plant(codes, motif, int(rng.integers(0, 100 - motif.width)), rng)
            handle.write(f"row{i:04d}\t{text(codes)}\t{label}\t{split}\n")


def bed_example(rng, transitions, ctcf) -> None:
    chromosomes = {"chr1": 24_000, "chr2": 13_000, "chr3": 13_000}
    genome = {name: sample_background(1, length, transitions, rng)[0] for name, length in chromosomes.items()}
    bound, unbound, new = [], [], []
    for name, length in chromosomes.items():
        # Interval midpoints on a 115-nt grid: the 100-nt windows around them never overlap.
        for k, middle in enumerate(range(150, length - 150, 115)):
            width = int(rng.integers(20, 80))
            start = middle - width // 2
            strand = "+-"[int(rng.integers(0, 2))]
            is_bound = rng.random() < 0.5
            if is_bound:
                plant(genome[name], ctcf, middle - ctcf.width // 2 + int(rng.integers(-15, 16)), rng)
            row = f"{name}\t{start}\t{start + width}\t{name}_{k}\t0\t{strand}\n"
            if name == "chr1" and k % 7 == 3 and len(new) < 30:
                new.append(row)  # held back for prediction
            else:
                (bound if is_bound else unbound).append(row)
    (OUT / "bed_bound.bed").write_text("track name=bound description='CTCF site at the centre'\n" + "".join(bound))
    (OUT / "bed_unbound.bed").write_text("".join(unbound))
    (OUT / "bed_new.bed").write_text("".join(new))
    write_fasta(OUT / "genome.fa.gz", [(name, soft_mask(text(codes), rng)) for name, codes in genome.items()])


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    transitions = markov_transitions(0.41, 0.25)
    ctcf, spi1, tp53 = load_motif(CTCF), load_motif(SPI1), load_motif(TP53)
    fasta_example(np.random.default_rng(1), transitions, tp53)
    tsv_example(np.random.default_rng(2), transitions, ctcf, spi1)
    bed_example(np.random.default_rng(3), transitions, ctcf)
    for path in sorted(OUT.iterdir()):
        print(f"{path.relative_to(OUT.parent.parent.parent)}\t{path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
