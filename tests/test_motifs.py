"""Motif similarity and the choice of a negative-control corpus's motifs."""

import numpy as np
import pytest
import yaml

from seqtune.cli import main
from seqtune.errors import SeqtuneError
from seqtune.motifs import Motif, load_motif, load_motifs, motif_similarity, unrelated_motifs
from seqtune.sequence import reverse_complement

TARGET = ["MA0139.2", "MA0035.4", "MA0080.5", "MA0148.4"]  # the transfer study's target task: required + distractors


def _reverse_complement(motif: Motif) -> Motif:
    return Motif(motif.jaspar_id + "-rc", motif.name, motif.probabilities[::-1, ::-1].copy())


def test_similarity_is_one_for_a_motif_itself_its_reverse_complement_and_a_shifted_core():
    ctcf = load_motif("MA0139.2")
    assert motif_similarity(ctcf, ctcf) == pytest.approx(1.0)
    assert motif_similarity(ctcf, _reverse_complement(ctcf)) == pytest.approx(1.0)
    core = Motif("core", "core", ctcf.probabilities[3:12])
    assert motif_similarity(ctcf, core) == pytest.approx(1.0)
    # The ACGT-order reverse complement of a one-hot consensus is the consensus of the reverse complement.
    consensus = ctcf.probabilities.argmax(axis=1)
    assert np.array_equal(_reverse_complement(ctcf).probabilities.argmax(axis=1), reverse_complement(consensus))


def test_similarity_ranks_a_paralogue_above_an_unrelated_motif():
    gata1, gata2, ctcf = load_motifs(["MA0035.4", "MA0036.4", "MA0139.2"])
    assert motif_similarity(gata1, gata2) > 0.8
    assert motif_similarity(gata1, ctcf) < 0.5


def test_unrelated_motifs_are_unlike_the_references_and_each_other():
    candidates = load_motifs(["MA0036.4", "MA0079.5", "MA2328.1", "MA0733.2", "MA0472.2", "MA0821.2"])
    chosen = unrelated_motifs(TARGET, 2, candidates=candidates, max_similarity=0.4, max_mutual_similarity=0.6)
    references = load_motifs(TARGET)
    ids = [motif.jaspar_id for motif, _ in chosen]
    # GATA2 (like GATA1) and SP1 (like CTCF) are never chosen; EGR2 is EGR4's paralogue, so not both.
    assert "MA0036.4" not in ids and "MA0079.5" not in ids and not {"MA0733.2", "MA0472.2"} <= set(ids)
    for motif, similarity in chosen:
        assert similarity == pytest.approx(max(motif_similarity(motif, ref) for ref in references))
        assert similarity <= 0.4
    assert [s for _, s in chosen] == sorted(s for _, s in chosen)  # least similar first
    assert motif_similarity(chosen[0][0], chosen[1][0]) <= 0.6
    with pytest.raises(SeqtuneError, match="only 0 motifs"):
        unrelated_motifs(TARGET, 1, candidates=load_motifs(["MA0036.4"]), max_similarity=0.4)


def test_the_transfer_studys_negative_control_shares_no_motif_with_its_target(repo):
    config = yaml.safe_load((repo / "config" / "transfer_study.yaml").read_text())
    target = config["datasets"]["target"]
    target_motifs = load_motifs(target["required"] + target["distractors"])
    control = load_motifs(config["datasets"]["unrelated_corpus"]["motifs"])
    highest = max(motif_similarity(c, t) for c in control for t in target_motifs)
    assert highest <= 0.4, highest
    # The pretraining corpus of the positive comparison does carry the target's motifs.
    corpus = set(config["datasets"]["corpus"]["motifs"])
    assert set(target["required"]) <= corpus


def test_unrelated_motifs_command_writes_a_tsv(tmp_path, capsys):
    out = tmp_path / "unrelated.tsv"
    assert main(["unrelated-motifs", "--to", ",".join(TARGET[:2]), "--n", "3", "--output", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0].split("\t") == ["jaspar_id", "name", "width", "max_similarity_to_target"]
    assert len(lines) == 4 and all(float(line.split("\t")[3]) <= 0.4 for line in lines[1:])
    assert main(["unrelated-motifs", "--to", "MA0139.2", "--n", "2000"]) == 2
    assert "ask for fewer or raise max_similarity" in capsys.readouterr().err
