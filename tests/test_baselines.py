import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from seqtune.baselines import fit_logistic, kmer_counts, onehot_features
from seqtune.errors import SeqtuneError
from seqtune.sequence import encode


def test_kmer_counts_sum_both_strands_and_skip_n():
    counts = kmer_counts(encode(["AACNT"]), 2)
    index = {"AA": 0, "AC": 1, "GT": 11, "TT": 15}
    # AA, AC on the forward strand (CN, NT skipped); reverse complement ANGTT gives GT, TT.
    assert counts[0, index["AA"]] == 1 and counts[0, index["AC"]] == 1
    assert counts[0, index["GT"]] == 1 and counts[0, index["TT"]] == 1
    assert counts.sum() == 4


def test_onehot_features_are_position_aware():
    features = onehot_features(encode(["ACGN"]))
    assert features.shape == (1, 16)
    assert features.reshape(4, 4).tolist() == [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]


def test_fit_logistic_reproduces_scikit_learn_by_hand():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(80, 5)), rng.integers(0, 2, 80)
    xv, yv = rng.normal(size=(40, 5)), rng.integers(0, 2, 40)
    model, c, scores = fit_logistic(x, y, xv, yv, seed=1)
    by_hand = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000, random_state=1)).fit(x, y)
    assert np.allclose(model.predict_proba(xv), by_hand.predict_proba(xv))
    assert scores[c] == min(scores.values())


def test_gc_content_task_is_solved_by_the_kmer_baseline():
    rng = np.random.default_rng(3)
    n, length = 600, 100
    gc = rng.random(n) < 0.5
    probabilities = np.where(gc[:, None], [0.2, 0.3, 0.3, 0.2], [0.3, 0.2, 0.2, 0.3])
    codes = np.array([rng.choice(4, size=length, p=p) for p in probabilities], dtype=np.uint8)
    x = kmer_counts(codes, 3)
    model, _, _ = fit_logistic(x[:300], gc[:300], x[300:400], gc[300:400], seed=0)
    assert roc_auc_score(gc[400:], model.predict_proba(x[400:])[:, 1]) > 0.95


# ------------------------------------------------------------------------- a class with one training example (issue)
def test_a_validation_class_missing_from_training_is_a_clear_error():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 5)), np.arange(40) % 2
    with pytest.raises(SeqtuneError, match=r"subset of 100: class\(es\) \['rare'\] of the validation split have no "
                                           "training example; the baseline cannot score classes it never saw"):
        fit_logistic(x, y, x[:3], np.array([0, 1, 2]), seed=1, source="subset of 100", names=["a", "b", "rare"])
    with pytest.raises(SeqtuneError, match=r"only class\(es\) \['0'\] in training"):
        fit_logistic(x, np.zeros(40, dtype=int), x[:3], np.zeros(3, dtype=int), seed=1)


@pytest.fixture
def tiny_class(tmp_path):
    """400 random 20-nt sequences, classes a, b and 'rare' (3 examples: one per split), split stratified."""
    from seqtune.data import write_dataset
    from seqtune.pipeline import split

    labels = ["a"] * 200 + ["b"] * 197 + ["rare"] * 3
    ids = [f"s{i}" for i in range(len(labels))]
    codes = np.random.default_rng(1).integers(0, 4, size=(len(labels), 20)).astype(np.uint8)
    write_dataset(tmp_path / "data", ids, codes, pd.DataFrame({"id": ids, "label": labels}),
                  {"type": "multiclass", "classes": ["a", "b", "rare"]})
    split(str(tmp_path / "data" / "codes.npy"), str(tmp_path / "manifest.tsv"), str(tmp_path / "summary.json"),
          0.15, 0.25, seed=1)
    return tmp_path


def run_baseline(folder, train_size, manifest="manifest.tsv"):
    from seqtune.pipeline import baseline

    outputs = folder / "predictions.tsv", folder / "metrics.json"
    baseline(str(folder / "data" / "codes.npy"), str(folder / manifest), str(outputs[0]), str(outputs[1]),
             "kmer_logreg", train_size, seed=2, run={"strategy": "kmer_logreg", "train_size": train_size, "seed": 2},
             k=2)  # seed 2: the subset of 100 drawn before every class was kept had no 'rare' example
    return outputs


def test_the_baseline_trains_on_a_class_with_one_training_example(tiny_class):
    manifest = pd.read_csv(tiny_class / "manifest.tsv", sep="\t")
    assert sorted(manifest["split"][-3:]) == ["test", "train", "validation"]  # 'rare': one example per split
    predictions, metrics = run_baseline(tiny_class, 100)  # the subset of 100 used to drop 'rare': sklearn traceback
    assert "prob_rare" in pd.read_csv(predictions, sep="\t").columns and metrics.exists()


def test_a_train_size_below_the_number_of_classes_stops_the_baseline_and_writes_nothing(tiny_class):
    with pytest.raises(SeqtuneError, match="train size 2 is smaller than the 3 classes of the training split of "):
        run_baseline(tiny_class, 2)
    assert not (tiny_class / "predictions.tsv").exists() and not (tiny_class / "metrics.json").exists()


def test_a_manifest_without_a_validation_example_of_a_class_stops_the_baseline(tiny_class):
    manifest = pd.read_csv(tiny_class / "manifest.tsv", sep="\t")
    manifest.loc[manifest["stratum"] == "rare", "split"] = ["train", "train", "test"]
    manifest.to_csv(tiny_class / "edited.tsv", sep="\t", index=False)
    with pytest.raises(SeqtuneError) as caught:
        run_baseline(tiny_class, 100, manifest="edited.tsv")
    message = str(caught.value)
    assert message.startswith(f"{tiny_class / 'edited.tsv'}: class(es) ['rare'] have no example in the validation")
    assert "'rare' 2/0/1" in message and "remove or merge the records of those classes" in message
    assert not (tiny_class / "predictions.tsv").exists() and not (tiny_class / "metrics.json").exists()
