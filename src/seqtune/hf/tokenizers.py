"""DNA tokenizers in the Hugging Face layout, for models you pretrain yourself (and for the tests' tiny models).

Built with the ``tokenizers`` library and saved with ``save_pretrained`` (``tokenizer.json``), so ``AutoTokenizer``
loads them like any published checkpoint's:

* ``character_tokenizer``: one token per base (``A C G T N``), ``[CLS] ... [SEP]`` around each sequence (BERT style).
* ``kmer_tokenizer``: non-overlapping k-mers from the left; an N is a token of its own and the k-mers restart after
  it; bases left over at the end are single tokens; ``<cls>`` in front (as the Nucleotide Transformer's 6-mer
  tokenizer).
"""

from __future__ import annotations

import itertools

from .backbone import require_transformers

BERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
ESM_SPECIALS = ("<pad>", "<unk>", "<cls>", "<eos>", "<mask>")


def character_tokenizer():
    """A BERT-style character tokenizer: vocabulary [PAD] [UNK] [CLS] [SEP] [MASK] A C G T N."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, processors

    transformers = require_transformers()
    vocab = {token: index for index, token in enumerate(BERT_SPECIALS + tuple("ACGTN"))}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="[PAD]", unk_token="[UNK]",
                                                cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")


def kmer_tokenizer(k: int = 6):
    """A k-mer tokenizer (ESM-style special tokens): every k-mer of ACGT, then the single bases A C G T N."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, processors

    transformers = require_transformers()
    kmers = ["".join(letters) for letters in itertools.product("ACGT", repeat=k)]
    vocab = {token: index for index, token in enumerate(ESM_SPECIALS + tuple(kmers) + tuple("ACGTN"))}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(f"[ACGT]{{{k}}}|."), behavior="isolated")
    tokenizer.post_processor = processors.TemplateProcessing(single="<cls> $A",
                                                             special_tokens=[("<cls>", vocab["<cls>"])])
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", unk_token="<unk>",
                                                cls_token="<cls>", eos_token="<eos>", mask_token="<mask>")
