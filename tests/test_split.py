import numpy as np
import pandas as pd
import pytest

from seqtune.errors import SeqtuneError
from seqtune.split import stratified_split, training_subset


def test_stratified_split_keeps_class_balance_and_is_seeded():
    labels = pd.Series(["a"] * 700 + ["b"] * 300)
    first = stratified_split(labels, 0.15, 0.25, seed=1)
    second = stratified_split(labels, 0.15, 0.25, seed=1)
    assert (first == second).all()
    for split, fraction in (("train", 0.6), ("validation", 0.15), ("test", 0.25)):
        chosen = labels[first == split]
        assert abs(len(chosen) - 1000 * fraction) <= 2
        assert abs((chosen == "b").mean() - 0.3) < 0.01
    assert not (stratified_split(labels, 0.15, 0.25, seed=2) == first).all()


def test_one_class_only_is_an_error():
    with pytest.raises(SeqtuneError, match="only one class"):
        stratified_split(pd.Series(["a"] * 20), 0.2, 0.2, seed=1, source="labels.tsv")


def test_nested_training_subsets_are_stratified():
    rng = np.random.default_rng(0)
    positions = np.arange(1000)
    labels = (rng.random(1000) < 0.3).astype(int)
    small = training_subset(positions, labels, 100, seed=5)
    large = training_subset(positions, labels, 300, seed=5)
    assert set(small) <= set(large)
    assert len(small) == 100 and len(large) == 300
    assert abs(labels[small].mean() - labels.mean()) < 0.03
    other_seed = training_subset(positions, labels, 100, seed=6)
    assert set(other_seed) != set(small)


def test_train_size_larger_than_data_is_an_error():
    with pytest.raises(SeqtuneError, match="train size 50 is larger than the 10 examples"):
        training_subset(np.arange(10), np.zeros(10, dtype=int), 50, seed=1)
