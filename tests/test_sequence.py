import numpy as np
import pytest
import torch

from seqtune.errors import SeqtuneError
from seqtune.sequence import decode, encode, one_hot, reverse_complement


def test_encode_decode_roundtrip_and_soft_masking():
    codes = encode(["ACGTN", "acgtr"])
    assert codes.dtype == np.uint8 and codes.shape == (2, 5)
    assert codes.tolist() == [[0, 1, 2, 3, 4], [0, 1, 2, 3, 4]]
    assert decode(codes) == ["ACGTN", "ACGTN"]


def test_unknown_letter_names_record_and_position():
    with pytest.raises(SeqtuneError, match=r"in.fa, record 'b', position 3: letter 'X'"):
        encode(["ACGT", "ACXT"], source="in.fa", ids=["a", "b"])


def test_strict_policy_rejects_ambiguity_codes():
    with pytest.raises(SeqtuneError, match="strict policy"):
        encode(["ACNT"], ambiguous="error", ids=["r1"])


def test_mixed_lengths_name_the_record():
    with pytest.raises(SeqtuneError, match="record 'b': length 3 differs from 4"):
        encode(["ACGT", "ACG"], ids=["a", "b"])


def test_one_hot_layout_and_n_as_zero_column():
    x = one_hot(torch.from_numpy(encode(["ACGTN"])))
    assert x.shape == (1, 4, 5)
    assert torch.equal(x[0, :, :4], torch.eye(4))
    assert x[0, :, 4].sum() == 0


def test_reverse_complement():
    assert decode(reverse_complement(encode(["AACGN"]))) == ["NCGTT"]
