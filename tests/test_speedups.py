"""The measured speed-ups of bench/README.md change no result they claim not to change: the conv block's
channels-last form computes the plain Conv1d block, chunked background sampling draws the same codes, the factorized
stratified split assigns the same splits, and the optimiser is AdamW, fused."""

import numpy as np
import pandas as pd
import torch
from torch import nn

from seqtune.models import ConvBlock, ModelSpec, SequenceModel
from seqtune.simulate import markov_transitions, sample_background
from seqtune.split import stratified_split
from seqtune.train import adamw


def _plain_block(block: ConvBlock) -> nn.Module:
    """The block as it was: Conv1d, BatchNorm1d, ReLU, MaxPool1d, Dropout, sharing the block's modules."""
    return nn.Sequential(block[0], block[1], nn.ReLU(), nn.MaxPool1d(block.pool_size), block[4])


def test_conv_block_matches_the_plain_conv1d_block_in_output_gradient_and_statistics():
    torch.manual_seed(0)
    block = ConvBlock(4, 16, 7, 4, 0.0)
    reference = ConvBlock(4, 16, 7, 4, 0.0)
    reference.load_state_dict(block.state_dict())
    assert list(block.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                                        "1.running_var", "1.num_batches_tracked"]
    x = torch.randn(8, 4, 64)
    for mode in (True, False):
        block.train(mode), reference.train(mode)
        a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
        out, expected = block(a), _plain_block(reference)(b)
        assert out.shape == expected.shape == (8, 16, 16)
        assert torch.allclose(out, expected, atol=1e-5)
        out.square().sum().backward(), expected.square().sum().backward()
        assert torch.allclose(a.grad, b.grad, atol=1e-4)
        assert torch.allclose(block[0].weight.grad, reference[0].weight.grad, rtol=1e-4, atol=1e-4)
    for name, tensor in reference.state_dict().items():
        assert torch.allclose(block.state_dict()[name].float(), tensor.float(), atol=1e-6), name
    model = SequenceModel(ModelSpec(length=64, channels=8, n_blocks=2, pool_size=1), 2)  # no pooling
    assert model(torch.zeros(3, 4, 64)).shape == (3, 2)


def _sample_background_reference(n, length, transitions, rng):
    """The original sampler: one (n, length) draw of uniforms, a gather of (n, 4) thresholds per position."""
    stationary = np.linalg.matrix_power(transitions, 64)[0]
    codes = np.empty((n, length), dtype=np.uint8)
    cumulative = np.cumsum(transitions, axis=1)
    cumulative[:, -1] = 1.0
    codes[:, 0] = np.searchsorted(np.cumsum(stationary), rng.random(n), side="right").clip(max=3)
    uniforms = rng.random((n, length))
    for position in range(1, length):
        codes[:, position] = (uniforms[:, position, None] >= cumulative[codes[:, position - 1]]).sum(axis=1)
    return codes


def test_chunked_background_sampling_draws_the_same_codes_and_leaves_the_stream_in_place():
    transitions = markov_transitions(0.41, 0.25)
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    chunked = sample_background(1000, 50, transitions, a, chunk=96)
    assert np.array_equal(chunked, _sample_background_reference(1000, 50, transitions, b))
    assert a.random() == b.random()


def test_factorized_stratified_split_matches_the_per_class_comparison():
    def reference(values, validation_fraction, test_fraction, seed):
        rng = np.random.default_rng(seed)
        assignment = np.empty(len(values), dtype=object)
        classes, counts = np.unique(values, return_counts=True)
        for label, count in zip(classes, counts):
            members = np.flatnonzero(values == label)
            members = members[rng.permutation(members.size)]
            n_test, n_validation = int(round(count * test_fraction)), int(round(count * validation_fraction))
            n_test, n_validation = max(n_test, 1), max(n_validation, 1)
            assignment[members[:n_test]] = "test"
            assignment[members[n_test:n_test + n_validation]] = "validation"
            assignment[members[n_test + n_validation:]] = "train"
        return assignment

    labels = pd.Series(np.random.default_rng(1).choice(["b", "a", "c10", "c2"], size=997, p=[0.5, 0.3, 0.15, 0.05]))
    assert (stratified_split(labels, 0.15, 0.25, 7) == reference(labels.to_numpy(), 0.15, 0.25, 7)).all()


def test_the_optimiser_is_fused_adamw_on_the_cpu():
    model = SequenceModel(ModelSpec(architecture="mlp", length=20, hidden=8), 2)
    optimizer = adamw([{"params": list(model.parameters())}], 1e-4, torch.device("cpu"))
    assert isinstance(optimizer, torch.optim.AdamW) and optimizer.defaults["fused"]
