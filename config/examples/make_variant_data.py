"""Make the variant-effect example's genome and VCF under config/examples/data/ (run from the repository root;
deterministic).

    python config/examples/make_variant_data.py

The genome's loci are sequences of the default target task, simulated by ``seqtune.simulate.simulate_grammar`` (the
same settings as ``datasets.target`` of config/examples/variant_effects.yaml: 100 nt, CTCF and GATA1 required,
SPI1 and FOXA1 as distractors, GC 0.41, CpG depleted), so a model fine-tuned on that target applies to them. Only
positives are kept, and only those whose CTCF and GATA1 sites both fit in the 100-nt window centred on the base a
variant changes. Loci are separated by 60 nt of the same Markov background without motifs, so that a window centred
anywhere in a locus holds no other locus's sites. Writes:

* ``variant_genome.fa`` (+ ``.fai``): three contigs of loci and spacers;
* ``variant_sites.bed``: every planted site (contig, start, end, motif name, locus, strand; 0-based half-open);
* ``variants.vcf.gz`` (bgzip): ``KIND=disrupting`` SNVs at the most informative base of a planted CTCF site (the
  planted base is the motif's most likely one there; ALT its least likely one; some records multi-allelic, with the
  two least likely bases), a few ``KIND=disrupting`` deletions of the CTCF site's core, ``KIND=neutral`` SNVs and
  a short insertion at least 8 nt from any planted site in other positive loci (window still holding both sites),
  and ``KIND=unscored`` records that the step skips and counts: a symbolic allele, a breakend, a missing ALT and a
  spanning deletion.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from Bio import bgzf

from seqtune.motifs import load_motif
from seqtune.simulate import markov_transitions, sample_background, simulate_grammar

OUT = Path(__file__).resolve().parent / "data"
BASES = np.array(list("ACGT"))
CTCF, GATA1, SPI1, FOXA1 = "MA0139.2", "MA0035.4", "MA0080.5", "MA0148.4"
LENGTH, SPACER, HALF = 100, 60, 50
N_DISRUPTING, N_NEUTRAL = 40, 40
CONTIGS = ("chr1", "chr2", "chr3")


def informative_position(site_codes: np.ndarray, probabilities: np.ndarray) -> int | None:
    """The motif position (0-based, motif orientation) of highest information content whose planted base is the
    motif's most likely one; None when there is none."""
    information = 2 + (probabilities * np.log2(probabilities)).sum(axis=1)
    candidates = [j for j in np.argsort(-information) if site_codes[j] == probabilities[j].argmax()]
    return int(candidates[0]) if candidates else None


def main() -> None:
    rng = np.random.default_rng(22)
    transitions = markov_transitions(0.41, 0.25)
    ctcf = load_motif(CTCF)
    data = simulate_grammar(1200, LENGTH, [CTCF, GATA1], [SPI1, FOXA1], 0.3, 0.5, 0.0, 0.41, 0.25, seed=22)
    sites = data.sites.groupby("sequence_id")
    loci = []  # (row, sites of the locus, variant plan)
    for row, (identifier, label) in enumerate(zip(data.ids, data.labels["label"])):
        if label != "positive" or len(loci) == N_DISRUPTING + N_NEUTRAL:
            continue
        locus_sites = sites.get_group(identifier)
        ctcf_site = locus_sites[locus_sites["motif_id"] == CTCF].iloc[0]
        gata1_site = locus_sites[locus_sites["motif_id"] == GATA1].iloc[0]
        low = min(ctcf_site["start"], gata1_site["start"])
        high = max(ctcf_site["end"], gata1_site["end"])

        def window_holds_both(position: int) -> bool:
            return position - HALF <= low and high <= position + HALF

        if len(loci) < N_DISRUPTING:
            start, end, minus = int(ctcf_site["start"]), int(ctcf_site["end"]), ctcf_site["strand"] == "-"
            site = data.codes[row, start:end]
            oriented = (3 - site)[::-1] if minus else site
            j = informative_position(oriented, ctcf.probabilities)
            if j is None:
                continue
            position = end - 1 - j if minus else start + j
            if not window_holds_both(position):
                continue
            worst = np.argsort(ctcf.probabilities[j])  # least likely first
            alts = [3 - b if minus else b for b in worst[:2 if len(loci) % 5 == 0 else 1]]
            loci.append((row, locus_sites, ("disrupting", position, alts, (start, end))))
        else:
            taken = np.zeros(LENGTH + 2 * 8, dtype=bool)
            for _, s in locus_sites.iterrows():
                taken[s["start"]:s["end"] + 16] = True  # within 8 nt of a site (shifted by 8)
            free = [p for p in range(LENGTH) if not taken[p + 8] and window_holds_both(p)]
            if not free:
                continue
            position = int(rng.choice(free))
            alts = [int(rng.choice([b for b in range(4) if b != data.codes[row, position]]))]
            loci.append((row, locus_sites, ("neutral", position, alts, None)))

    genome = {name: [sample_background(1, SPACER, transitions, rng)[0]] for name in CONTIGS}
    offsets = {name: SPACER for name in CONTIGS}
    records, bed = [], []
    for k, (row, locus_sites, (kind, position, alts, site)) in enumerate(loci):
        contig = CONTIGS[k % len(CONTIGS)]
        offset = offsets[contig]
        codes = data.codes[row]
        genome[contig] += [codes, sample_background(1, SPACER, transitions, rng)[0]]
        offsets[contig] += LENGTH + SPACER
        for _, s in locus_sites.iterrows():
            bed.append((contig, offset + s["start"], offset + s["end"], s["motif_name"], data.ids[row], s["strand"]))
        ref = BASES[codes[position]]
        info = f"KIND={kind};LOCUS={data.ids[row]}"
        records.append((contig, offset + position + 1, f"{kind[:3]}{k:03d}", ref, ",".join(BASES[alts]), info))
        if kind == "disrupting" and k % 8 == 1:  # delete 6 nt of the site's core, after an anchor base
            middle = (site[0] + site[1]) // 2 - 3
            ref = "".join(BASES[codes[middle - 1:middle + 6]])
            records.append((contig, offset + middle, f"del{k:03d}", ref, ref[0], info))
        if kind == "neutral" and k % 13 == 0:  # a 3-nt insertion in the same neutral position's neighbourhood
            records.append((contig, offset + position + 2, f"ins{k:03d}", BASES[codes[position + 1]],
                            BASES[codes[position + 1]] + "GTA", info))
    # Records the step skips and counts, in the spacer before the first locus of chr2.
    for j, alt in enumerate(["<DEL>", "{}[chr3:100[", ".", "*"]):
        ref = BASES[genome["chr2"][0][9 + 5 * j]]
        records.append(("chr2", 10 + 5 * j, f"skip{j}", ref, alt.format(ref), "KIND=unscored"))
    sequences = {name: np.concatenate(parts) for name, parts in genome.items()}

    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "variant_genome.fa", "w", encoding="ascii", newline="\n") as handle:
        for name, codes in sequences.items():
            text = "".join(BASES[codes])
            handle.write(f">{name}\n" + "".join(text[i:i + 60] + "\n" for i in range(0, len(text), 60)))
    with open(OUT / "variant_genome.fa.fai", "w", encoding="ascii", newline="\n") as handle:
        offset = 0
        for name, codes in sequences.items():
            offset += len(name) + 2
            handle.write(f"{name}\t{len(codes)}\t{offset}\t60\t61\n")
            offset += len(codes) + -(-len(codes) // 60)
    with open(OUT / "variant_sites.bed", "w", encoding="ascii", newline="\n") as handle:
        handle.write("".join("\t".join(map(str, row)) + "\n" for row in sorted(bed, key=lambda r: (r[0], r[1]))))
    header = ["##fileformat=VCFv4.2", "##source=config/examples/make_variant_data.py",
              "##reference=variant_genome.fa",
              *[f"##contig=<ID={name},length={len(codes)}>" for name, codes in sequences.items()],
              '##INFO=<ID=KIND,Number=1,Type=String,Description="disrupting (a planted CTCF site), neutral (at '
              'least 8 nt from any planted site) or unscored (skipped by the step)">',
              '##INFO=<ID=LOCUS,Number=1,Type=String,Description="The simulated sequence the locus comes from">',
              "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    lines = [f"{c}\t{p}\t{i}\t{r}\t{a}\t.\tPASS\t{info}" for c, p, i, r, a, info in
             sorted(records, key=lambda r: (CONTIGS.index(r[0]), r[1]))]
    with bgzf.BgzfWriter(str(OUT / "variants.vcf.gz"), "wb") as handle:
        handle.write(("\n".join(header + lines) + "\n").encode("ascii"))
    for name in ("variant_genome.fa", "variant_genome.fa.fai", "variant_sites.bed", "variants.vcf.gz"):
        print(f"config/examples/data/{name}\t{(OUT / name).stat().st_size} bytes")


if __name__ == "__main__":
    main()
