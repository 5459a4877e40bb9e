"""The training.compile option: torch.compile in fit and predict_proba, and a one-line error where it cannot run."""

import numpy as np
import pytest
import torch

from seqtune.errors import SeqtuneError
from seqtune.models import ModelSpec, SequenceModel
from seqtune.train import Dataset, TrainSettings, compile_model, fit, predict_proba
from test_models import toy_data


def test_compile_is_a_training_setting_and_off_by_default():
    assert TrainSettings().compile is False
    assert TrainSettings.from_dict({"compile": True}).to_dict()["compile"] is True


def test_compile_unavailable_is_one_line_naming_the_setting(monkeypatch):
    monkeypatch.delattr(torch, "compile")
    with pytest.raises(SeqtuneError, match="training.compile: .*set compile: false"):
        compile_model(torch.nn.Linear(2, 2))


# Slow: inductor compiles the training, evaluation and prediction graphs (and recompiles for the last, smaller
# batch): measured 119 s on 2 shared, heavily loaded cores.
@pytest.mark.slow
def test_compiled_training_and_prediction_give_the_same_result_format():
    codes, labels = toy_data(n=160, length=40)
    device = torch.device("cpu")
    train = Dataset.from_numpy(codes[:120], labels[:120], False, device)
    validation = Dataset.from_numpy(codes[120:], labels[120:], False, device)
    spec = ModelSpec(length=40, channels=8, n_blocks=2, pool_size=2)
    results = {}
    for compiled in (False, True):
        torch.manual_seed(0)
        model = SequenceModel(spec, 2)
        settings = TrainSettings(max_epochs=2, patience=2, batch_size=32, learning_rate=5e-3, compile=compiled)
        history, best = fit(model, train, validation, settings, "scratch", seed=1)
        network = compile_model(model) if compiled else model
        probabilities = predict_proba(network, torch.from_numpy(codes[120:]), False, batch_size=16)
        results[compiled] = (history, best, probabilities, model)
    (eager_history, eager_best, eager_p, eager_model), (history, best, p, model) = results[False], results[True]
    assert [list(row) for row in history] == [list(row) for row in eager_history]
    assert set(best) == set(eager_best) and np.isfinite(best["val_loss"])
    assert p.shape == eager_p.shape == (40, 2) and np.allclose(p.sum(axis=1), 1, atol=1e-5)
    assert set(model.state_dict()) == set(eager_model.state_dict())  # the plain model trained: weights save as usual


@pytest.mark.slow
def test_prediction_from_a_compiled_run_compiles_once_across_chunks(tmp_path, monkeypatch):
    import pandas as pd

    import seqtune.train
    from seqtune.predict import predict_file
    from seqtune.weights import save_model

    torch.manual_seed(0)
    model = SequenceModel(ModelSpec(length=40, channels=8, n_blocks=1, first_kernel_size=5), 2)
    weights = tmp_path / "model.safetensors"
    save_model(model, weights, {"classes": ["a", "b"], "length": 40, "task": "multiclass",
                                "training": {"compile": True}, "validation": {"best_epoch": 1}})
    codes, _ = toy_data(n=23, length=40)
    fasta = tmp_path / "in.fa"
    fasta.write_text("".join(f">r{i}\n{''.join('ACGT'[c] for c in row)}\n" for i, row in enumerate(codes)))
    calls = []
    real = seqtune.train.compile_model
    monkeypatch.setattr(seqtune.train, "compile_model", lambda module: calls.append(1) or real(module))
    output = tmp_path / "predictions.tsv"
    spec = {"source": "fasta", "path": str(fasta)}
    assert predict_file(weights, spec, output, batch_size=4, chunk_size=5, device="cpu") == 23
    assert calls == [1]  # 5 chunks, one compilation
    compiled = pd.read_csv(output, sep="\t")[["prob_a", "prob_b"]].to_numpy()
    weights.with_suffix(".json").write_text(weights.with_suffix(".json").read_text().replace('"compile": true',
                                                                                            '"compile": false'))
    predict_file(weights, spec, output, batch_size=4, chunk_size=5, device="cpu")
    assert calls == [1] and np.allclose(pd.read_csv(output, sep="\t")[["prob_a", "prob_b"]].to_numpy(), compiled,
                                        atol=1e-5)
