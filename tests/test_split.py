import numpy as np
import pandas as pd
import pytest

from seqtune.errors import SeqtuneError
from seqtune.split import interleaved_order, stratified_split, training_subset


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


# ------------------------------------------------------------------ classes too small to reach every split (issue)
def dataset(folder, labels, extra=None, multilabel=None):
    """A data set folder of random 20-nt sequences with these labels (or a multi-label table); returns codes.npy."""
    from seqtune.data import write_dataset

    n = len(labels) if multilabel is None else len(multilabel)
    ids = [f"s{i}" for i in range(n)]
    codes = np.random.default_rng(0).integers(0, 4, size=(n, 20)).astype(np.uint8)
    if multilabel is None:
        table = pd.DataFrame({"id": ids, "label": labels, **(extra or {})})
        info = {"type": "multiclass", "classes": sorted(set(labels))}
    else:
        table = pd.DataFrame(multilabel, columns=[f"m{j}" for j in range(multilabel.shape[1])])
        table.insert(0, "id", ids)
        info = {"type": "multilabel", "classes": list(table.columns[1:])}
    write_dataset(folder, ids, codes, table, info)
    return folder / "codes.npy"


def run_split(tmp_path, codes, **options):
    from seqtune.pipeline import split

    outputs = tmp_path / "manifest.tsv", tmp_path / "summary.json"
    split(str(codes), str(outputs[0]), str(outputs[1]), 0.15, 0.25, seed=1, **options)
    return outputs


@pytest.mark.parametrize("n_rare", [1, 2])
def test_a_class_of_one_or_two_examples_stops_the_split_and_writes_nothing(tmp_path, n_rare):
    codes = dataset(tmp_path / "data", ["a"] * 200 + ["b"] * (200 - n_rare) + ["rare"] * n_rare)
    with pytest.raises(SeqtuneError) as caught:
        run_split(tmp_path, codes)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'data' / 'labels.tsv'}: 1 of 3 classes has fewer than 3 examples")
    assert f"'rare' ({n_rare} example{'s' if n_rare > 1 else ''})" in message and "'a'" not in message
    assert "one in each of train, validation and test" in message
    assert "remove or merge the records of those classes" in message and "collect more examples" in message
    assert not (tmp_path / "manifest.tsv").exists() and not (tmp_path / "summary.json").exists()


def test_every_too_small_class_is_named_with_its_count():
    labels = pd.Series(["a"] * 50 + ["b"] * 50 + ["x"] + ["y"] * 2 + ["z"] * 3)
    with pytest.raises(SeqtuneError, match=r"2 of 5 classes have .*: 'x' \(1 example\), 'y' \(2 examples\); remove"):
        stratified_split(labels, 0.15, 0.25, seed=1, source="labels.tsv")
    # Without a validation split a class needs 2 examples (train and test).
    with pytest.raises(SeqtuneError, match=r"1 of 5 classes has fewer than 2 .* train and test.*: 'x' \(1 example\);"):
        stratified_split(labels, 0.0, 0.25, seed=1, source="labels.tsv")


def test_many_single_example_classes_point_at_the_label_column_and_write_nothing(tmp_path):
    codes = dataset(tmp_path / "data", [f"iv{i}" for i in range(60)])  # BED6 names read as labels
    with pytest.raises(SeqtuneError) as caught:
        run_split(tmp_path, codes)
    message = str(caught.value)
    assert "60 of 60 classes have fewer than 3 examples" in message
    assert "'iv0' (1 example)" in message and "and 30 more" in message
    assert "the label column holds identifiers" in message and "set label_column" in message
    assert not (tmp_path / "manifest.tsv").exists() and not (tmp_path / "summary.json").exists()


def test_three_examples_reach_every_split_even_when_rounding_took_them_all():
    labels = pd.Series(["a"] * 100 + ["rare"] * 3)
    for validation_fraction, test_fraction in ((0.15, 0.25), (0.45, 0.45), (0.2, 0.7)):
        assignment = stratified_split(labels, validation_fraction, test_fraction, seed=3)
        assert sorted(assignment[labels == "rare"]) == ["test", "train", "validation"]


def test_multilabel_strata_of_one_example_still_go_to_training(tmp_path):
    table = np.zeros((100, 3), dtype=int)
    table[:40, 0] = 1
    table[40:, 1] = 1
    table[0, 1:] = 1  # the only example with 3 labels: a stratum of one
    manifest, summary = run_split(tmp_path, dataset(tmp_path / "data", None, multilabel=table))
    assert pd.read_csv(manifest, sep="\t")["split"][0] == "train" and summary.exists()


@pytest.mark.parametrize("method", ["column", "chromosome"])
def test_a_class_missing_from_validation_or_test_stops_other_split_methods(tmp_path, method):
    labels = ["a", "b"] * 30 + ["rare"] * 2
    splits = ["train", "validation", "test"] * 20 + ["train", "test"]
    chroms = {"train": "chr1", "validation": "chr2", "test": "chr3"}
    extra = {"split": splits} if method == "column" else {"chrom": [chroms[s] for s in splits]}
    options = {"method": method}
    if method == "chromosome":
        options.update(validation_chroms=["chr2"], test_chroms=["chr3"])
    with pytest.raises(SeqtuneError) as caught:
        run_split(tmp_path, dataset(tmp_path / "data", labels, extra), **options)
    message = str(caught.value)
    assert f"labels.tsv: with split.method {method}, class(es) ['rare'] have no example in the validation split" \
        in message
    assert "(examples in train/validation/test: 'rare' 1/0/1)" in message and "change the split settings" in message
    assert not (tmp_path / "manifest.tsv").exists()


def test_a_class_absent_from_training_is_named_with_its_split(tmp_path):
    labels = ["a", "b"] * 30 + ["rare"] * 3
    splits = ["train", "validation", "test"] * 20 + ["validation", "test", "test"]
    with pytest.raises(SeqtuneError) as caught:
        run_split(tmp_path, dataset(tmp_path / "data", labels, {"split": splits}), method="column")
    message = str(caught.value)
    assert "class(es) ['rare'] occur in the validation split but not in training" in message
    assert "class(es) ['rare'] occur in the test split but not in training" in message
    assert "'rare' 0/1/2" in message and not (tmp_path / "manifest.tsv").exists()


def test_training_subsets_keep_every_class_and_stay_nested():
    labels = np.array([0] * 150 + [1] * 97 + [2])  # 'rare' (2): one training example, as in a 1/1/1 split
    positions = np.arange(1000, 1248)
    subsets = [set(training_subset(positions, labels, size, seed=1)) for size in (3, 10, 100, 200, 248)]
    for subset in subsets:
        assert 1247 in subset  # the rare class's example
        assert set(labels[np.asarray(sorted(subset)) - 1000]) == {0, 1, 2}
    assert all(small <= large for small, large in zip(subsets, subsets[1:]))
    before = interleaved_order(labels, 1)
    assert 247 not in before[:100]  # the old draw left the rare class out of the subset of 100


def test_training_subsets_of_well_represented_classes_are_unchanged():
    """interleaved_order is nested_order as it was before it moved each class's first example to the front."""
    rng = np.random.default_rng(2)
    for seed in range(30):
        labels = rng.choice(3, size=300, p=[0.6, 0.3, 0.1])
        for size in (10, 60, 120, 300):
            before = np.sort(np.arange(300)[interleaved_order(labels, seed)[:size]])
            if len(np.unique(labels[before])) == 3:
                assert (training_subset(np.arange(300), labels, size, seed) == before).all()


def test_train_size_below_the_number_of_classes_is_an_error():
    with pytest.raises(SeqtuneError, match="train size 2 is smaller than the 3 classes of the training split of m.tsv; "
                                           "a training subset needs at least one example of every class: raise "
                                           "finetune.train_sizes to at least 3"):
        training_subset(np.arange(30), np.arange(30) % 3, 2, seed=1, source="training split of m.tsv")


def test_read_manifest_follows_the_data_sets_order_and_refuses_a_manifest_that_misses_ids(tmp_path):
    """Each example's split comes from the manifest by id, whatever the manifest's row order; a manifest that misses
    an id (or has one too many, or twice) is refused, naming the fix."""
    from seqtune.data import LabelledData, read_manifest

    ids = np.array([f"seq{i}" for i in range(6)], dtype=object)
    data = LabelledData(ids, np.zeros((6, 4), np.uint8), pd.DataFrame({"id": ids}), {"type": "binary"})
    splits = ["train", "test", "train", "validation", "train", "test"]
    manifest = tmp_path / "manifest.tsv"
    pd.DataFrame({"id": ids, "split": splits}).iloc[::-1].to_csv(manifest, sep="\t", index=False)
    assert list(read_manifest(manifest, data)) == splits
    bad = pd.DataFrame({"id": [*ids[:5], "other"], "split": splits})
    for frame in (bad, pd.DataFrame({"id": [*ids[:5], ids[0]], "split": splits}), bad.iloc[:5]):
        frame.to_csv(manifest, sep="\t", index=False)
        with pytest.raises(SeqtuneError, match="does not cover the data set's ids.*rerun the split step"):
            read_manifest(manifest, data)
