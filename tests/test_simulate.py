import numpy as np
import pytest

from seqtune.errors import SeqtuneError
from seqtune.motifs import load_motif
from seqtune.sequence import decode, reverse_complement
from seqtune.simulate import markov_transitions, sample_background, simulate_grammar, simulate_presence

MOTIFS = ["MA0139.2", "MA0035.4", "MA0080.5"]


def test_planted_sites_are_in_the_sequences_and_do_not_overlap():
    data = simulate_presence(300, 120, MOTIFS, 0.5, 0.41, 0.25, seed=3)
    assert len(data.sites) > 0
    sequences = dict(zip(data.ids, decode(data.codes)))
    for sequence_id, group in data.sites.groupby("sequence_id"):
        spans = sorted(zip(group["start"], group["end"]))
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:]))
        assert spans[0][0] >= 0 and spans[-1][1] <= 120
    # Each site matches its motif better on its own strand than a random background window.
    motif = load_motif("MA0139.2")
    log_odds = np.log(motif.probabilities / 0.25)
    sites = data.sites[data.sites["motif_id"] == "MA0139.2"]
    scores = []
    for row in sites.itertuples():
        codes = data.codes[data.ids.index(row.sequence_id), row.start:row.end]
        if row.strand == "-":
            codes = reverse_complement(codes)
        scores.append(log_odds[np.arange(motif.width), codes].sum())
    background = data.codes[:, :motif.width]
    background_scores = log_odds[np.arange(motif.width), background].sum(axis=1)
    assert np.mean(scores) > np.percentile(background_scores, 99)
    # Sampled from the matrix, not a fixed consensus: the planted sites are not all identical.
    assert len({tuple(data.codes[data.ids.index(r.sequence_id), r.start:r.end]) for r in sites.itertuples()}) > 10
    assert set(data.sites["strand"]) == {"+", "-"}


def test_presence_labels_follow_the_sites():
    data = simulate_presence(200, 120, MOTIFS, 0.4, 0.41, 0.25, seed=1)
    for motif_id in MOTIFS:
        carriers = set(data.sites.loc[data.sites["motif_id"] == motif_id, "sequence_id"])
        labelled = set(data.labels.loc[data.labels[motif_id] == 1, "id"])
        assert carriers == labelled


def test_grammar_label_is_all_required_motifs_present():
    data = simulate_grammar(400, 150, ["MA0139.2", "MA0035.4"], ["MA0080.5"], 0.3, 0.5, 0.0, 0.41, 0.25, seed=2)
    present = data.sites.groupby("sequence_id")["motif_id"].apply(set)
    for record_id, label in zip(data.labels["id"], data.labels["label"]):
        motifs = present.get(record_id, set())
        assert (label == "positive") == ({"MA0139.2", "MA0035.4"} <= motifs)
    # Hard negatives exist: negatives carrying exactly one of the required motifs.
    negatives = data.labels.loc[data.labels["label"] == "negative", "id"]
    single = [present.get(i, set()) & {"MA0139.2", "MA0035.4"} for i in negatives]
    assert sum(len(s) == 1 for s in single) > 50


def test_label_noise_flips_labels_and_keeps_the_truth():
    data = simulate_grammar(1000, 100, ["MA0139.2"], [], 0.0, 0.5, 0.2, 0.41, 0.25, seed=4)
    flipped = (data.labels["label"] != data.labels["true_label"]).mean()
    assert 0.15 < flipped < 0.25


@pytest.mark.parametrize("gc_content, cpg_ratio", [(0.41, 0.25), (0.41, 0.6), (0.55, 0.1), (0.41, 1.0)])
def test_background_has_the_gc_content_and_cpg_observed_expected_ratio_asked_for(gc_content, cpg_ratio):
    """cpg_ratio is the CpG observed/expected ratio, P(CG) / (P(C) P(G)), not a factor on the C -> G transition."""
    rng = np.random.default_rng(0)
    codes = sample_background(4000, 250, markov_transitions(gc_content, cpg_ratio), rng)
    assert abs(np.isin(codes, [1, 2]).mean() - gc_content) < 0.005
    cg = ((codes[:, :-1] == 1) & (codes[:, 1:] == 2)).mean()
    expected = (codes == 1).mean() * (codes == 2).mean()
    assert cg / expected == pytest.approx(cpg_ratio, abs=0.02)


def test_cpg_ratio_outside_zero_to_one_is_refused():
    with pytest.raises(SeqtuneError, match="cpg_ratio must lie between 0 and 1"):
        markov_transitions(0.41, 1.5)


def test_same_seed_same_data_and_unknown_motif_error():
    a = simulate_presence(50, 100, MOTIFS, 0.3, 0.41, 0.25, seed=9)
    b = simulate_presence(50, 100, MOTIFS, 0.3, 0.41, 0.25, seed=9)
    assert np.array_equal(a.codes, b.codes) and a.sites.equals(b.sites)
    with pytest.raises(SeqtuneError, match="unknown JASPAR matrix ID 'MA9999.1'"):
        simulate_presence(10, 100, ["MA9999.1"], 0.3, 0.41, 0.25, seed=1)
