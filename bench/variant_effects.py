"""seqtune variant-effect at 10^4, 10^5 and 10^6 variants: variants per second and peak memory.

    .venv/bin/python bench/variant_effects.py [--sizes 10000 100000 1000000] [--threads 1]

Builds, in a temporary folder, a random genome (10 contigs of 2 Mb, plain FASTA with its .fai), a bgzipped VCF of
SNVs (one in twenty multi-allelic, one in twenty an indel: deletions of 1-9 nt, insertions of 1-10 nt) sorted along the contigs, and a model of the
default CNN's shape at 200 nt (random weights: the speed does not depend on them). Each size runs in a fresh
subprocess (`seqtune.variants.score_vcf`, the step's function, timed after its imports), so that its peak resident memory (getrusage
maxrss) is its own; the table gives wall time, variants and alleles per second, peak RSS, and its growth from the
previous size. Constant memory means the peak stays flat as the VCF grows. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CONTIGS, CONTIG_LENGTH, LENGTH = 10, 2_000_000, 200


def make_genome(folder: Path, rng: np.random.Generator) -> Path:
    path = folder / "genome.fa"
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)
    with open(path, "w") as handle, open(folder / "genome.fa.fai", "w") as index:
        offset = 0
        for k in range(CONTIGS):
            name = f"chr{k + 1}"
            bases = letters[rng.integers(0, 4, CONTIG_LENGTH)].tobytes().decode()
            handle.write(f">{name}\n")
            offset += len(name) + 2
            index.write(f"{name}\t{CONTIG_LENGTH}\t{offset}\t60\t61\n")
            handle.write("".join(bases[i:i + 60] + "\n" for i in range(0, CONTIG_LENGTH, 60)))
            offset += CONTIG_LENGTH + -(-CONTIG_LENGTH // 60)
    return path


def make_vcf(folder: Path, genome: Path, n: int, rng: np.random.Generator) -> Path:
    import pyfaidx
    from Bio import bgzf

    fasta = pyfaidx.Fasta(str(genome), as_raw=True, rebuild=False)
    path = folder / f"calls_{n}.vcf.gz"
    per_contig = np.bincount(rng.integers(0, CONTIGS, n), minlength=CONTIGS)
    with bgzf.BgzfWriter(str(path), "wb") as handle:
        handle.write(("##fileformat=VCFv4.2\n" + "".join(f"##contig=<ID=chr{k + 1},length={CONTIG_LENGTH}>\n"
                                                          for k in range(CONTIGS))
                      + "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n").encode())
        for k, count in enumerate(per_contig):
            name = f"chr{k + 1}"
            sequence = fasta[name][:]
            positions = np.sort(rng.integers(200, CONTIG_LENGTH - 200, count))
            kinds = rng.random(count)
            lines = []
            for i, (pos, kind) in enumerate(zip(positions, kinds)):
                ref = sequence[pos - 1]
                others = "ACGT".replace(ref, "")
                if kind < 0.05:
                    ref_allele, alt = ref, f"{others[0]},{others[1]}"
                elif kind < 0.075:
                    ref_allele, alt = sequence[pos - 1:pos + 1 + int((kind - 0.05) * 360)], ref  # deletion of 1-9 nt
                elif kind < 0.10:
                    ref_allele, alt = ref, ref + "ACGTACGTAC"[:1 + int(kind * 90) % 10]  # insertion
                else:
                    ref_allele, alt = ref, others[i % 3]
                lines.append(f"{name}\t{pos}\tv{k}_{i}\t{ref_allele}\t{alt}\t.\tPASS\tDP={i % 50}\n")
            handle.write("".join(lines).encode())
    fasta.close()
    return path


def make_weights(folder: Path) -> Path:
    import torch

    from seqtune.models import ModelSpec, SequenceModel
    from seqtune.weights import save_model

    torch.manual_seed(0)
    model = SequenceModel(ModelSpec(length=LENGTH), 2)
    path = folder / "model.safetensors"
    save_model(model, path, {"classes": ["negative", "positive"], "length": LENGTH, "task": "binary",
                             "validation": {"best_epoch": 1}})
    return path


def run_one(weights: str, vcf: str, genome: str, output: str, threads: int) -> None:
    """In the subprocess: score, then print one JSON line with the figures."""
    from seqtune.train import configure_torch
    from seqtune.variants import score_vcf

    import seqtune.predict  # noqa: F401  (its imports, scikit-learn among them, are start-up, not scoring)

    configure_torch(threads, 0)
    started = time.perf_counter()
    summary = score_vcf(weights, vcf, genome, output, device="cpu")
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"records": summary["records"], "scored": summary["scored"], "seconds": seconds,
                      "peak_rss_mb": peak}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--one", nargs=4, metavar=("WEIGHTS", "VCF", "GENOME", "OUTPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        run_one(*args.one, args.threads)
        return
    import torch

    print(f"seqtune variant-effect benchmark: genome {CONTIGS} x {CONTIG_LENGTH:,} nt, model: default CNN at "
          f"{LENGTH} nt, {args.threads} thread(s), torch {torch.__version__}, load average "
          f"{os.getloadavg()[0]:.1f}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="seqtune-bench-vcf-") as scratch:
        folder = Path(scratch)
        rng = np.random.default_rng(1)
        genome, weights = make_genome(folder, rng), make_weights(folder)
        for n in args.sizes:
            started = time.perf_counter()
            vcf = make_vcf(folder, genome, n, rng)
            built = time.perf_counter() - started
            process = subprocess.run([sys.executable, __file__, "--threads", str(args.threads), "--one", str(weights),
                                      str(vcf), str(genome), str(folder / "effects.tsv")],
                                     capture_output=True, text=True, check=True)
            figures = json.loads(process.stdout.strip().splitlines()[-1])
            figures.update(size=n, vcf_build_seconds=built,
                           variants_per_second=figures["records"] / figures["seconds"],
                           alleles_per_second=figures["scored"] / figures["seconds"])
            rows.append(figures)
            print(f"  {n:,} variants: {figures['seconds']:.1f} s, {figures['variants_per_second']:,.0f} variants/s, "
                  f"peak RSS {figures['peak_rss_mb']:.0f} MB", flush=True)
            (folder / "effects.tsv").unlink()
            vcf.unlink()
    print(f"{'variants':>10} {'alleles':>10} {'seconds':>9} {'variants/s':>11} {'alleles/s':>10} {'peak RSS MB':>12} "
          f"{'RSS growth':>10}")
    for index, row in enumerate(rows):
        growth = f"{row['peak_rss_mb'] / rows[index - 1]['peak_rss_mb']:.2f}x" if index else "-"
        print(f"{row['records']:>10,} {row['scored']:>10,} {row['seconds']:>9.1f} {row['variants_per_second']:>11,.0f} "
              f"{row['alleles_per_second']:>10,.0f} {row['peak_rss_mb']:>12.0f} {growth:>10}")
    print(json.dumps({"threads": args.threads, "rows": rows}))


if __name__ == "__main__":
    main()
