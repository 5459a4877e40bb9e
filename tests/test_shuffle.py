"""Dinucleotide shuffle: 2-mer counts, first and last base kept exactly; the order changes; seeded."""

import numpy as np

from seqtune.shuffle import dinucleotide_shuffle, shuffle_codes


def _dimers(codes):
    return np.bincount(codes[:-1].astype(int) * 5 + codes[1:], minlength=25)


def test_two_mer_counts_are_kept_and_the_order_changes():
    rng = np.random.default_rng(0)
    for length in (3, 10, 60, 200):
        for _ in range(50):
            codes = rng.integers(0, 5 if length == 60 else 4, size=length).astype(np.uint8)
            shuffled = dinucleotide_shuffle(codes, rng)
            assert np.array_equal(_dimers(codes), _dimers(shuffled))
            assert shuffled[0] == codes[0] and shuffled[-1] == codes[-1]
    codes = np.random.default_rng(1).integers(0, 4, size=(100, 200)).astype(np.uint8)
    shuffled = shuffle_codes(codes, seed=5)
    assert (shuffled != codes).any(axis=1).all()
    assert (shuffled != codes).mean() > 0.5  # order destroyed, not a few swaps
    assert np.array_equal(shuffled, shuffle_codes(codes, seed=5))


def test_a_planted_motif_is_broken_up():
    motif = np.array([2, 2, 0, 3, 0, 0, 1, 1, 2, 3, 1, 0, 2, 2], dtype=np.uint8)
    codes = np.concatenate([np.random.default_rng(2).integers(0, 4, 93).astype(np.uint8), motif,
                            np.random.default_rng(3).integers(0, 4, 93).astype(np.uint8)])
    found = 0
    rng = np.random.default_rng(4)
    for _ in range(200):
        shuffled = dinucleotide_shuffle(codes, rng)
        windows = np.lib.stride_tricks.sliding_window_view(shuffled, motif.size)
        found += (windows == motif).all(axis=1).any()
    assert found < 10
