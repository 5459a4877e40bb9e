"""Interpretation on toy models with known answers, and once end to end on a small trained CNN."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from seqtune.interpret import (
    filter_motif_similarity,
    gradient_x_input,
    interpret,
    ism,
    motif_recovery,
    plot_attributions,
    position_scores,
    sites_by_sequence,
)
from seqtune.motifs import Motif


class OneBase(nn.Module):
    """Two logits: class 0 is always 0, class 1 is ``weight`` x (base ``base`` at position ``position``)."""

    def __init__(self, base: int = 2, position: int = 7, weight: float = 3.0):
        super().__init__()
        self.base, self.position, self.weight = base, position, weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logit = self.weight * x[:, self.base, self.position]
        return torch.stack([torch.zeros_like(logit), logit], dim=1)


def random_codes(n: int, length: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 4, size=(n, length), dtype=np.uint8)


@pytest.fixture
def codes() -> np.ndarray:
    codes = random_codes(6, 20)
    codes[:3, 7] = 2  # G at position 7: the toy model's logit 1 is 3
    codes[3:, 7] = [0, 1, 3]  # not G: the logit is 0
    return codes


# ----------------------------------------------------------------------------------------------------- attribution
def test_ism_is_exact_on_a_one_base_model(codes):
    scores = ism(OneBase(), codes, target_class=1, batch_size=7, center_logits=False)
    assert scores.shape == (6, 4, 20) and scores.dtype == np.float32
    elsewhere = np.ones(20, dtype=bool)
    elsewhere[7] = False
    assert np.all(scores[:, :, elsewhere] == 0)
    # Reference G at 7: any other base loses the 3; reference not G: mutating to G gains it.
    np.testing.assert_array_equal(scores[:3, :, 7], np.tile([-3.0, -3.0, 0.0, -3.0], (3, 1)))
    for row, reference in zip(range(3, 6), [0, 1, 3]):
        expected = np.zeros(4)
        expected[2] = 3.0
        np.testing.assert_array_equal(scores[row, :, 7], expected)
        assert scores[row, reference, 7] == 0


def test_ism_centred_logits_halve_a_two_class_effect_and_centring_sums_to_zero(codes):
    half = ism(OneBase(), codes, 1, center_logits=True)
    np.testing.assert_allclose(half[:3, :, 7], np.tile([-1.5, -1.5, 0.0, -1.5], (3, 1)))
    centred = ism(OneBase(), codes, 1, center_logits=False, center=True)
    np.testing.assert_allclose(centred.sum(axis=1), 0, atol=1e-6)
    np.testing.assert_allclose(centred[0, :, 7], [-0.75, -0.75, 2.25, -0.75])


def test_ism_per_sequence_targets_and_n_positions():
    codes = np.full((2, 10), 4, dtype=np.uint8)  # all N: every base is a substitution
    scores = ism(OneBase(), codes, target_class=np.array([1, 0]), center_logits=False)
    np.testing.assert_array_equal(scores[0, :, 7], [0, 0, 3, 0])
    assert np.all(scores[1] == 0)  # class 0 never moves
    with pytest.raises(ValueError, match="target_class"):
        ism(OneBase(), codes, target_class=2)
    with pytest.raises(ValueError, match="codes"):
        ism(OneBase(), codes[0], target_class=1)


def test_ism_restores_training_mode(codes):
    model = nn.Sequential(nn.Conv1d(4, 2, 3), nn.Dropout(0.5), nn.AdaptiveMaxPool1d(1), nn.Flatten())
    model.train()
    first = ism(model, codes, 1)
    assert model.training and model[1].training
    np.testing.assert_array_equal(first, ism(model, codes, 1))  # eval mode inside: dropout off, deterministic


def test_gradient_x_input_is_exact_on_a_one_base_model(codes):
    scores = gradient_x_input(OneBase(), codes, 1, batch_size=4, center_logits=False)
    expected = np.zeros((6, 4, 20), dtype=np.float32)
    expected[:3, 2, 7] = 3.0  # the gradient (3 at G, position 7) survives only where G is present
    np.testing.assert_array_equal(scores, expected)


def test_position_scores(codes):
    attributions = ism(OneBase(), codes, 1, center_logits=False)
    magnitude = position_scores(attributions, codes, "max_abs")
    assert magnitude.shape == (6, 20)
    np.testing.assert_array_equal(magnitude[:, 7], 3.0)
    assert np.all(np.delete(magnitude, 7, axis=1) == 0)
    signed = position_scores(attributions, codes, "reference")
    np.testing.assert_allclose(signed[:3, 7], 2.25)  # minus the mean substitution effect x 3/4: G supports
    np.testing.assert_allclose(signed[3:, 7], -0.75)  # not-G costs the chance to be G
    smooth = position_scores(attributions, codes, "max_abs", window=3)
    np.testing.assert_allclose(smooth[0, 6:9], 1.0)
    np.testing.assert_allclose(smooth[0, [5, 9]], 0.0)
    with pytest.raises(ValueError, match="method"):
        position_scores(attributions, codes, "nonsense")


# -------------------------------------------------------------------------------------------------- motif recovery
def test_motif_recovery_perfect_random_and_precision_at_k():
    length = 100
    sites = [[(10, 20, "A")], [(40, 50, "B"), (80, 85, "C")], []]
    perfect = np.zeros((3, length))
    perfect[0, 10:20] = 1
    perfect[1, 40:50] = perfect[1, 80:85] = 1
    result = motif_recovery(perfect, sites)
    assert result["auroc"] == 1.0 and result["precision_at_k"] == 1.0 and result["n_sequences"] == 2
    assert np.isnan(result["per_sequence"]["auroc"][2])
    np.testing.assert_array_equal(result["per_sequence"]["n_site_positions"], [10, 15, 0])

    partial = perfect.copy()
    partial[0, 60:65] = 2  # five background positions outrank the site
    assert motif_recovery(partial[:1], sites[:1], k=10)["precision_at_k"] == 0.5
    assert motif_recovery(partial[:1], sites[:1], k=5)["precision_at_k"] == 0.0

    rng = np.random.default_rng(0)
    noise = motif_recovery(rng.random((200, length)), [[(30, 45, "A")]] * 200)
    assert abs(noise["auroc"] - 0.5) < 0.04
    constant = motif_recovery(np.zeros((1, length)), [[(30, 45, "A")]])
    assert constant["auroc"] == 0.5 and constant["precision_at_k"] == 0.0  # ties are not credited


def test_sites_by_sequence_filters_motifs():
    table = pd.DataFrame({"sequence_id": ["s1", "s1", "s3"], "motif_id": ["M1", "M2", "M1"],
                          "motif_name": ["one", "two", "one"], "start": [0, 10, 5], "end": [4, 14, 9],
                          "strand": ["+", "-", "+"]})
    assert sites_by_sequence(table, ["s1", "s2", "s3"]) == [[(0, 4, "one", "M1"), (10, 14, "two", "M2")], [],
                                                            [(5, 9, "one", "M1")]]
    assert sites_by_sequence(table, ["s1"], ["M2"]) == [[(10, 14, "two", "M2")]]


# --------------------------------------------------------------------------------------------------------- filters
def toy_motif(name: str, consensus: str) -> Motif:
    probabilities = np.full((len(consensus), 4), 0.05)
    probabilities[np.arange(len(consensus)), ["ACGT".index(base) for base in consensus]] = 0.85
    return Motif(f"MA_{name}", name, probabilities)


def test_filter_motif_similarity_recovers_planted_filters():
    motifs = [toy_motif("gata", "AGATAAGA"), toy_motif("ebox", "CACGTGAC"), toy_motif("other", "TTGCCAAGTT")]
    rng = np.random.default_rng(1)
    weight = rng.normal(0, 0.3, size=(4, 4, 10))
    weight[0, :, 1:9] = np.log2(motifs[0].probabilities / 0.25).T  # forward strand, offset 1
    weight[1, :, 0:8] = 5 * np.log2(motifs[1].probabilities[::-1, ::-1] / 0.25).T + 2  # reverse strand, rescaled
    table = filter_motif_similarity(torch.from_numpy(weight).float(), motifs)
    assert list(table.columns) == ["filter", "motif_id", "motif_name", "similarity", "strand", "offset",
                                   "weight_norm"]
    assert table.loc[0, "motif_name"] == "gata" and table.loc[0, "similarity"] > 0.99
    assert table.loc[0, "strand"] == "+" and table.loc[0, "offset"] == 1
    assert table.loc[1, "similarity"] > 0.99 and table.loc[1, "strand"] == "-"
    # CACGTGAC is almost its own reverse complement, so either strand may win; the motif must be right.
    assert table.loc[1, "motif_name"] == "ebox"
    assert table.loc[2:, "similarity"].max() < 0.9  # noise filters match nothing well


def test_filter_motif_similarity_with_a_real_jaspar_motif():
    from seqtune.motifs import load_motifs

    motifs = load_motifs(["MA0080.5", "MA0035.4"])  # SPI1 (20 wide), GATA1 (11 wide)
    gata = np.log2(motifs[1].probabilities / 0.25).T  # (4, 11)
    weight = np.zeros((2, 4, 15))
    weight[0, :, 2:13] = gata  # the whole GATA1 site, two positions into the filter
    weight[1] = np.log2(motifs[0].probabilities[2:17] / 0.25).T  # positions 2-16 of SPI1
    table = filter_motif_similarity(weight, motifs)
    assert table["motif_name"].tolist() == ["GATA1", "SPI1"]
    assert table["similarity"].min() > 0.99
    assert table["offset"].tolist() == [2, -2]


# -------------------------------------------------------------------------------------------------------- plotting
def test_plot_attributions_writes_a_png(tmp_path, codes):
    attributions = ism(OneBase(), codes, 1)
    sites = [[(5, 10, "GATA1")], [], [(0, 3, "CTCF"), (12, 18, "SPI1")], [], [], []]
    path = tmp_path / "plots" / "attributions.png"
    plot_attributions(codes, attributions, sites, path, [f"s{i}" for i in range(6)], max_sequences=3)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in path.parent.iterdir()] == ["attributions.png"]  # no temporary file left behind
    plot_attributions(codes, position_scores(attributions, codes), sites, path, [f"s{i}" for i in range(6)])


# -------------------------------------------------------------------------------------------------- end to end
def small_grammar(tmp_path):
    """A 100-nt task, positive when CTCF is present; GATA1 a distractor. Written as a data set folder + manifest."""
    from seqtune.data import write_dataset
    from seqtune.io import write_tsv
    from seqtune.simulate import simulate_grammar

    sim = simulate_grammar(600, 100, ["MA0139.2"], ["MA0035.4"], distractor_rate=0.3, positive_fraction=0.5,
                           label_noise=0.0, gc_content=0.41, cpg_ratio=0.25, seed=3)
    folder = tmp_path / "data"
    write_dataset(folder, sim.ids, sim.codes, sim.labels, sim.task, sim.sites)
    split = np.array(["train"] * 400 + ["validation"] * 100 + ["test"] * 100)
    write_tsv(tmp_path / "manifest.tsv", pd.DataFrame({"id": sim.ids, "split": split}))
    return sim, folder, split


def test_trained_cnn_recovers_motifs_better_than_untrained(tmp_path):
    from seqtune.models import ModelSpec, SequenceModel
    from seqtune.train import Dataset, TrainSettings, fit
    from seqtune.weights import save_model

    torch.manual_seed(0)
    sim, folder, split = small_grammar(tmp_path)
    targets = (sim.labels["label"] == "positive").to_numpy().astype(np.int64)
    spec = ModelSpec(length=100, channels=16, n_blocks=2, first_kernel_size=15, kernel_size=5, pool_size=4)
    untrained = SequenceModel(spec, 2)
    model = SequenceModel(spec, 2)
    model.load_state_dict(untrained.state_dict())
    device = torch.device("cpu")
    train = Dataset.from_numpy(sim.codes[split == "train"], targets[split == "train"], False, device)
    validation = Dataset.from_numpy(sim.codes[split == "validation"], targets[split == "validation"], False, device)
    settings = TrainSettings(learning_rate=5e-3, batch_size=32, max_epochs=6, patience=6)
    _, best = fit(model, train, validation, settings, "scratch", seed=0)
    assert best["val_auroc"] > 0.9

    test = np.flatnonzero((split == "test") & (targets == 1))[:20]
    sites = sites_by_sequence(sim.sites, [sim.ids[i] for i in test], ["MA0139.2"])
    recovery = {}
    for name, candidate in (("trained", model), ("untrained", untrained)):
        scores = position_scores(ism(candidate, sim.codes[test], 1), sim.codes[test])
        recovery[name] = motif_recovery(scores, sites)["auroc"]
    assert recovery["trained"] > 0.85
    assert recovery["trained"] > recovery["untrained"] + 0.15

    # The step: reads the folder, writes TSV, JSON and PNG.
    weights = tmp_path / "model.safetensors"
    save_model(model, weights, {"classes": ["negative", "positive"], "length": 100, "task": "binary"})
    out = tmp_path / "interpret"
    summary = interpret(str(weights), str(folder / "codes.npy"), str(tmp_path / "manifest.tsv"),
                        str(folder / "sites.tsv"), 12, str(out / "scores.tsv"), str(out / "summary.json"),
                        str(out / "tracks.png"), seed=1, n_plot=2,
                        run={"pretrained": "none", "strategy": "scratch", "train_size": 400, "seed": 1})
    table = pd.read_csv(out / "scores.tsv", sep="\t")
    assert len(table) == 12 and set(table["label"]) == {"positive"} and (table["n_relevant_sites"] > 0).all()
    assert summary["relevant_motifs"] == ["MA0139.2"]
    assert summary["recovery"]["ism"]["relevant"]["auroc"] > 0.85
    assert set(summary["filters"]["best_filter_per_motif"]) == {"MA0139.2", "MA0035.4"}
    assert len(summary["filters"]["table"]) == 16
    assert (out / "tracks.png").stat().st_size > 1000
    assert summary["run"]["strategy"] == "scratch" and summary["plot"] == str(out / "tracks.png")


# ------------------------------------------------------------------------------------------------ across runs
def fake_summary(strategy: str, pretrained: str, seed: int, ism_auroc: float, similarity: float = 0.5) -> dict:
    """The parts of an ``interpret`` JSON summary that ``summarise_interpretation`` reads."""
    def recovery(auroc):
        site = {"auroc": auroc, "precision_at_k": auroc - 0.3, "n_sequences": 10}
        return {"relevant": site, "all": {**site, "auroc": auroc - 0.1},
                "per_motif": {"M1": site, "M2": {**site, "auroc": 0.5}}}
    return {"method": "ism", "position_score": "max_abs", "window": 1, "n_sequences": 10, "target": "positive",
            "score": "centred logit", "relevant_motifs": ["M1"], "seed": 5, "n_with_relevant_sites": 10,
            "mean_probability": 0.8, "seconds": {"ism": 1.0, "gradient_x_input": 0.1},
            "recovery": {"ism": recovery(ism_auroc), "gradient_x_input": recovery(ism_auroc - 0.05)},
            "filters": {"best_filter_per_motif": {
                "M1": {"motif_name": "one", "filter": 0, "similarity": similarity, "shuffled_filters_similarity": 0.3,
                       "n_filters_best_matching": 2}}},
            "run": {"pretrained": pretrained, "strategy": strategy, "train_size": 100, "seed": seed},
            "plot": f"plots/{strategy}{seed}.png"}


def test_summarise_interpretation_means_sds_and_paired_difference_from_scratch(tmp_path):
    import json

    from seqtune.interpret import summarise_interpretation

    values = {("none", "scratch"): [0.6, 0.7, 0.65], ("motifs", "full"): [0.9, 0.95, 0.85]}
    files = []
    for (pretrained, strategy), aurocs in values.items():
        for seed, auroc in enumerate(aurocs, start=1):
            path = tmp_path / f"{strategy}{seed}.json"
            path.write_text(json.dumps(fake_summary(strategy, pretrained, seed, auroc, similarity=auroc)))
            files.append(str(path))
    result = summarise_interpretation(files, str(tmp_path / "out.tsv"), str(tmp_path / "out.json"))
    table = pd.read_csv(tmp_path / "out.tsv", sep="\t")
    assert len(table) == 2 * 2 * 2 * 2  # models x methods x site sets x measures
    full = table[(table["model"] == "full:motifs") & (table["method"] == "ism") & (table["sites"] == "relevant")
                 & (table["measure"] == "auroc")].iloc[0]
    assert full["n_seeds"] == 3 and full["mean"] == pytest.approx(0.9) and full["sd"] == pytest.approx(0.05)
    # Paired by seed: (0.9-0.6, 0.95-0.7, 0.85-0.65) = (0.3, 0.25, 0.2)
    assert full["minus_scratch_mean"] == pytest.approx(0.25) and full["minus_scratch_sd"] == pytest.approx(0.05)
    assert full["minus_scratch_ci_low"] < 0.25 < full["minus_scratch_ci_high"]
    scratch = table[(table["model"] == "scratch") & (table["method"] == "gradient_x_input")
                    & (table["sites"] == "all") & (table["measure"] == "auroc")].iloc[0]
    assert scratch["mean"] == pytest.approx(0.65 - 0.05 - 0.1) and np.isnan(scratch["minus_scratch_mean"])

    written = json.loads((tmp_path / "out.json").read_text())
    assert written["settings"]["relevant_motifs"] == ["M1"] and len(written["runs"]) == 6
    assert "full:motifs 0.900 ± 0.050" in written["sentences"][0] and "+0.250" in written["sentences"][0]
    filters = {row["model"]: row for row in written["filters"]}
    assert filters["full:motifs"]["similarity_mean"] == pytest.approx(0.9) and filters["scratch"]["relevant"]
    assert filters["scratch"]["chance_mean"] == pytest.approx(0.3)
    assert {row["motif_id"] for row in written["per_motif"]} == {"M1", "M2"}
    # One plot per model, at its first seed.
    assert sorted((plot["model"], plot["seed"]) for plot in written["plots"]) == [("full:motifs", 1), ("scratch", 1)]
    assert result["sentences"] == written["sentences"]


def test_summarise_interpretation_needs_summaries(tmp_path):
    from seqtune.errors import SeqtuneError
    from seqtune.interpret import interpretation_runs

    with pytest.raises(SeqtuneError, match="no interpretation summaries"):
        interpretation_runs([])
