import copy

import numpy as np
import pytest
import torch

from seqtune.errors import SeqtuneError
from seqtune.models import ModelSpec, SequenceModel, replace_head
from seqtune.train import Dataset, Supervised, TrainSettings, apply_strategy, fit

SPEC = ModelSpec(length=60, channels=8, n_blocks=3, pool_size=2)


def toy_data(n=120, length=60, seed=0):
    """Label 1 when the sequence carries GGGGGG: learnable in a few epochs."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, size=(n, length)).astype(np.uint8)
    labels = rng.integers(0, 2, size=n)
    for i in np.flatnonzero(labels):
        start = rng.integers(0, length - 6)
        codes[i, start:start + 6] = 2
    return codes, labels


def datasets(n=120):
    codes, labels = toy_data(n)
    device = torch.device("cpu")
    cut = int(n * 0.7)
    return (Dataset.from_numpy(codes[:cut], labels[:cut], False, device),
            Dataset.from_numpy(codes[cut:], labels[cut:], False, device))


def trainable(model):
    return {name for name, p in model.named_parameters() if p.requires_grad}


def test_replace_head_keeps_backbone_and_makes_a_new_head():
    torch.manual_seed(0)
    pretrained = SequenceModel(SPEC, 8)
    model = copy.deepcopy(pretrained)
    change = replace_head(model, 2)
    assert change == {"old_outputs": 8, "new_outputs": 2, "in_features": 8}
    for (name, a), (_, b) in zip(pretrained.backbone.state_dict().items(), model.backbone.state_dict().items()):
        assert torch.equal(a, b), name
    assert model.head.weight.shape == (2, 8)
    assert torch.count_nonzero(model.head.weight) == 0
    assert model(torch.zeros(3, 4, 60)).shape == (3, 2)


@pytest.mark.parametrize("strategy, trainable_blocks", [
    ("scratch", 3), ("full", 3), ("linear_probe", 0), ("partial", 1), ("discriminative_lr", 3)])
def test_each_strategy_trains_exactly_the_blocks_it_claims(strategy, trainable_blocks):
    model = SequenceModel(SPEC, 2)
    groups = apply_strategy(model, strategy, TrainSettings(unfreeze_blocks=1))
    expected = {f"head.{n}" for n, _ in model.head.named_parameters()}
    for index in range(3 - trainable_blocks, 3):
        expected |= {f"backbone.blocks.{index}.{n}" for n, _ in model.backbone.blocks[index].named_parameters()}
    assert trainable(model) == expected
    if strategy == "discriminative_lr":
        rates = [group["lr"] for group in groups]
        assert rates == pytest.approx([1e-3, 3e-4, 9e-5, 2.7e-5])
    else:  # one learning rate, one group (one fused optimizer kernel per step), holding every parameter
        assert len(groups) == 1
        assert {id(p) for p in groups[0]["params"]} == {id(p) for p in model.parameters()}


def test_gradual_unfreeze_adds_one_block_every_few_epochs():
    model = SequenceModel(SPEC, 2)
    settings = TrainSettings(unfreeze_every=2)
    counts = []
    for epoch in range(8):
        apply_strategy(model, "gradual_unfreeze", settings, epoch=epoch)
        counts.append(sum(1 for b in model.backbone.blocks if all(p.requires_grad for p in b.parameters())))
    assert counts == [0, 0, 1, 1, 2, 2, 3, 3]


def test_linear_probe_moves_only_the_head_and_keeps_batchnorm_statistics():
    train, validation = datasets()
    torch.manual_seed(0)
    model = SequenceModel(SPEC, 2)
    before = copy.deepcopy(model.backbone.state_dict())
    history, _ = fit(model, train, validation, TrainSettings(max_epochs=3, patience=3), "linear_probe", seed=1)
    for name, tensor in model.backbone.state_dict().items():
        assert torch.equal(tensor, before[name]), f"{name} moved under linear_probe"
    assert all(row["trainable_parameters"] == 8 * 2 + 2 for row in history)


def test_fit_learns_restores_best_epoch_and_is_deterministic():
    train, validation = datasets(300)
    results = []
    for _ in range(2):
        torch.manual_seed(0)
        model = SequenceModel(ModelSpec(length=60, channels=16, n_blocks=2, pool_size=2), 2)
        history, best = fit(model, train, validation, TrainSettings(max_epochs=6, patience=6, learning_rate=5e-3),
                            "full", seed=3)
        results.append((model.state_dict(), history, best))
    (state_a, history_a, best_a), (state_b, history_b, best_b) = results
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    assert [r["val_loss"] for r in history_a] == [r["val_loss"] for r in history_b]
    assert best_a["val_loss"] == min(r["val_loss"] for r in history_a)
    assert best_a["val_auroc"] > 0.8


def test_early_stopping_restores_the_epoch_best_at_what_it_monitors():
    """30 training examples: the validation loss turns up while the AUROC still climbs (as for scratch at the
    smallest train size), so the two monitors restore different epochs, each the best at its own measure."""
    codes, labels = toy_data(400, seed=1)
    device = torch.device("cpu")
    train = Dataset.from_numpy(codes[:30], labels[:30], False, device)
    validation = Dataset.from_numpy(codes[200:], labels[200:], False, device)
    restored = {}
    for monitor in ("val_loss", "val_score"):
        torch.manual_seed(0)
        model = SequenceModel(ModelSpec(length=60, channels=16, n_blocks=2, pool_size=2), 2)
        settings = TrainSettings(max_epochs=12, patience=12, learning_rate=0.02, batch_size=16, monitor=monitor)
        history, best = fit(model, train, validation, settings, "full", seed=3)
        losses, scores = [r["val_loss"] for r in history], [r["val_auroc"] for r in history]
        expected = losses.index(min(losses)) if monitor == "val_loss" else scores.index(max(scores))
        assert best["best_epoch"] == expected + 1
        assert best["val_loss"] == losses[expected] and best["val_auroc"] == scores[expected]
        # The restored weights are that epoch's: evaluated again, they give its validation loss.
        model.eval()
        assert Supervised(False).evaluate(model, validation, 256, False)[0] == pytest.approx(losses[expected], rel=1e-5)
        restored[monitor] = best["best_epoch"]
    assert restored["val_loss"] != restored["val_score"]


def test_an_unknown_monitor_is_refused():
    with pytest.raises(SeqtuneError, match="training.monitor: 'val_auc' is not one of"):
        TrainSettings.from_dict({"monitor": "val_auc"})


def test_every_architecture_and_pooling_builds_and_runs():
    for spec in (ModelSpec(architecture="mlp", length=60, hidden=16, n_blocks=2),
                 ModelSpec(architecture="dilated_cnn", length=60, channels=8, n_blocks=3),
                 ModelSpec(architecture="transformer", length=60, channels=8, n_blocks=3, heads=2),
                 ModelSpec(architecture="transformer", length=60, channels=8, n_blocks=2, positions="learned"),
                 ModelSpec(length=60, channels=8, n_blocks=2, final_pool="flatten"),
                 ModelSpec(length=60, channels=8, n_blocks=2, final_pool="avg")):
        model = SequenceModel(spec, 3)
        assert model(torch.zeros(5, 4, 60)).shape == (5, 3)
        assert len(model.backbone.blocks) == spec.n_blocks
        masked = SequenceModel(spec, 4, head="masked")
        assert masked(torch.zeros(2, 4, 60)).shape[:2] == (2, 4)


def test_masked_nucleotide_pretraining_learns_beyond_base_frequencies():
    """On sequences with planted motifs, masked bases become predictable from their context."""
    from seqtune.simulate import simulate_presence
    from seqtune.train import MaskedNucleotide

    data = simulate_presence(1500, 96, ["MA0139.2", "MA0035.4", "MA0080.5", "MA0148.4"], 0.6, 0.41, 0.25, seed=2)
    device = torch.device("cpu")
    train = Dataset.from_numpy(data.codes[:1200], np.zeros(1200), False, device)
    validation = Dataset.from_numpy(data.codes[1200:], np.zeros(300), False, device)
    torch.manual_seed(0)
    model = SequenceModel(ModelSpec(length=96, channels=32, n_blocks=2, pool_size=2), 4, head="masked")
    assert model(torch.zeros(2, 4, 96)).shape == (2, 4, 96)
    history, best = fit(model, train, validation, TrainSettings(max_epochs=8, patience=8, learning_rate=5e-3),
                        "scratch", seed=1, objective=MaskedNucleotide(0.15))
    floor = MaskedNucleotide.background_accuracy(data.codes[1200:])
    assert best["val_masked_accuracy"] > floor + 0.02, (best, floor)
    # The pretrained backbone transfers: a classification head replaces the masked head.
    change = replace_head(model, 2)
    assert change["old_head"] == "masked" and model(torch.zeros(3, 4, 96)).shape == (3, 2)


def test_shuffled_label_control_sits_at_chance_on_a_learnable_task():
    """The same model that learns the toy task scores chance when its training labels are permuted."""
    from sklearn.metrics import roc_auc_score

    from seqtune.train import predict_proba

    codes, labels = toy_data(900, seed=4)
    device = torch.device("cpu")
    test = torch.from_numpy(codes[600:])
    scores = {}
    for shuffled in (False, True):
        aurocs = []
        for seed in range(3):
            rng = np.random.default_rng(seed)
            train_labels = rng.permutation(labels[:400]) if shuffled else labels[:400]
            val_labels = rng.permutation(labels[400:600]) if shuffled else labels[400:600]
            torch.manual_seed(seed)
            model = SequenceModel(ModelSpec(length=60, channels=16, n_blocks=2, pool_size=2), 2)
            fit(model, Dataset.from_numpy(codes[:400], train_labels, False, device),
                Dataset.from_numpy(codes[400:600], val_labels, False, device),
                TrainSettings(max_epochs=8, patience=3, learning_rate=5e-3), "scratch", seed=seed)
            aurocs.append(roc_auc_score(labels[600:], predict_proba(model, test, False)[:, 1]))
        scores[shuffled] = float(np.mean(aurocs))
    assert scores[False] > 0.9
    assert abs(scores[True] - 0.5) < 0.08, scores


def test_bf16_autocast_runs_on_the_cpu_and_keeps_the_result_format():
    """The CUDA path's bf16 autocast, run on the CPU: the model still learns, weights stay float32, and predictions
    are float probabilities of the same shape."""
    from seqtune.train import predict_proba

    train, validation = datasets(300)
    torch.manual_seed(0)
    model = SequenceModel(ModelSpec(length=60, channels=16, n_blocks=2, pool_size=2), 2)
    settings = TrainSettings(max_epochs=6, patience=6, learning_rate=5e-3, bf16=True)
    history, best = fit(model, train, validation, settings, "full", seed=3)
    assert len(history) >= 1 and best["val_auroc"] > 0.7
    assert all(p.dtype == torch.float32 for p in model.parameters())
    probabilities = predict_proba(model, validation.codes, False, batch_size=64, bf16=True)
    assert probabilities.shape == (len(validation), 2) and probabilities.dtype.kind == "f"
    assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-3)


def _conv_gradients(model, x, use_input_conv):
    """Parameter gradients of a sum of squared outputs, through _InputConv or through oneDNN's convolution only."""
    import seqtune.models as models

    saved = models._INPUT_CHANNELS
    models._INPUT_CHANNELS = saved if use_input_conv else 0
    try:
        model.zero_grad(set_to_none=True)
        model(x).pow(2).sum().backward()
    finally:
        models._INPUT_CHANNELS = saved
    return {name: p.grad.clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize("first_kernel_size", [15, 8, 1])
@pytest.mark.parametrize("architecture", ["cnn", "dilated_cnn"])
def test_input_convolution_gives_onednns_gradients(architecture, first_kernel_size):
    """The first block's weight gradient comes from one GEMM over unfolded windows (faster than oneDNN's kernel for a
    4-channel input): it must equal oneDNN's, for odd and even kernels and with a run of N (all-zero columns)."""
    torch.manual_seed(0)
    model = SequenceModel(ModelSpec(architecture=architecture, length=60, channels=8, n_blocks=2, pool_size=2,
                                    first_kernel_size=first_kernel_size, dropout=0.0), 3)
    x = torch.eye(4)[torch.randint(0, 4, (6, 60))].transpose(1, 2)
    x[2, :, 10:25] = 0
    fast = _conv_gradients(model, x, True)
    reference = _conv_gradients(model, x, False)
    assert fast.keys() == reference.keys()
    weight = "backbone.blocks.0.0.weight"
    assert torch.allclose(fast[weight], reference[weight], rtol=1e-5, atol=1e-6 * reference[weight].abs().max())
    # A convolution bias before batch norm has a zero gradient, up to rounding by either path.
    bias = "backbone.blocks.0.0.bias"
    assert fast[bias].abs().max() < 1e-4 * fast[weight].abs().max()
    assert reference[bias].abs().max() < 1e-4 * reference[weight].abs().max()
    for name in fast.keys() - {weight, bias}:  # the layers above see the same gradients, bit for bit
        assert torch.equal(fast[name], reference[name]), name


def test_input_convolution_is_used_only_where_the_input_needs_no_gradient():
    """Gradient x input (interpret.py) asks for the input's gradient: the plain convolution gives it."""
    import seqtune.models as models

    torch.manual_seed(0)
    block = SequenceModel(ModelSpec(length=40, channels=8, n_blocks=1), 2).backbone.blocks[0]
    x = torch.eye(4)[torch.randint(0, 4, (3, 40))].transpose(1, 2)
    calls = []
    original = models._InputConv.backward
    models._InputConv.backward = staticmethod(lambda ctx, grad: (calls.append(1), original(ctx, grad))[1])
    try:
        block(x).sum().backward()
        assert calls == [1]
        x_grad = x.clone().requires_grad_(True)
        block(x_grad).sum().backward()
        assert calls == [1] and x_grad.grad is not None and x_grad.grad.abs().sum() > 0
    finally:
        models._InputConv.backward = original


def test_global_max_pool_has_amaxs_gradient_including_ties():
    """The final max pooling's custom backward shares the gradient among tied maxima exactly as amax's does."""
    from seqtune.models import _GlobalMax

    torch.manual_seed(0)
    x = torch.randn(4, 6, 9).relu()  # many tied zeros
    x[0, 0, :3] = 2.5  # a tied positive maximum
    x.requires_grad_(True)
    grad = torch.randn(4, 6)
    (expected,) = torch.autograd.grad(x.amax(dim=2), x, grad)
    (got,) = torch.autograd.grad(_GlobalMax.apply(x), x, grad)
    assert torch.equal(_GlobalMax.apply(x), x.amax(dim=2))
    assert torch.equal(got, expected)
    assert got[0, 0, :3].tolist() == pytest.approx([grad[0, 0].item() / 3] * 3)


def test_a_checkpoint_resumes_under_another_checkpoint_every_but_not_under_other_settings():
    """checkpoint_every says when progress is saved, not what is trained: it is left out of what a checkpoint must
    match (as the workflow leaves it out of its rerun trigger); a changed learning rate is not."""
    from seqtune.train import Supervised, _fingerprint

    train, validation = datasets(60)
    model = SequenceModel(SPEC, 2)

    def fingerprint(**settings):
        return _fingerprint(model, train, validation, TrainSettings(**settings), "full", 1, Supervised(False))

    assert fingerprint(checkpoint_every=1) == fingerprint(checkpoint_every=5) == fingerprint(checkpoint_every=0)
    assert fingerprint(checkpoint_every=1) != fingerprint(checkpoint_every=1, learning_rate=0.01)
