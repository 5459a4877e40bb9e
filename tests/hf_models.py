"""Tiny Hugging Face checkpoints built at test time (random init, saved with save_pretrained; no network): a 2-layer
BERT-style masked LM with a character tokenizer, a 2-layer ESM-style masked LM with a 6-mer tokenizer, and a 2-layer
ConvBERT masked LM with a character tokenizer (the architecture of config/examples/make_foundation_model.py)."""

from __future__ import annotations

import json
from pathlib import Path

from seqtune.hf.tokenizers import character_tokenizer, kmer_tokenizer


def _masked_lm(folder: Path, architecture: str, tokenizer, max_positions: int, hidden: int, layers: int, seed: int,
               **extra) -> Path:
    """A random-init masked LM of transformers' ``<architecture>Config`` / ``<architecture>ForMaskedLM``, saved with
    its tokenizer as a checkpoint folder."""
    import torch
    import transformers

    config = getattr(transformers, f"{architecture}Config")(
        vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
        intermediate_size=2 * hidden, max_position_embeddings=max_positions, pad_token_id=tokenizer.pad_token_id,
        **extra)
    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    getattr(transformers, f"{architecture}ForMaskedLM")(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_bert(folder: Path, max_positions: int = 128, hidden: int = 32, layers: int = 2, seed: int = 0) -> Path:
    return _masked_lm(folder, "Bert", character_tokenizer(), max_positions, hidden, layers, seed)


def tiny_esm(folder: Path, k: int = 6, max_positions: int = 64, hidden: int = 32, layers: int = 2,
             seed: int = 0) -> Path:
    tokenizer = kmer_tokenizer(k)
    return _masked_lm(folder, "Esm", tokenizer, max_positions, hidden, layers, seed,
                      mask_token_id=tokenizer.mask_token_id, position_embedding_type="absolute")


def tiny_convbert(folder: Path, max_positions: int = 128, hidden: int = 32, layers: int = 2, seed: int = 0) -> Path:
    return _masked_lm(folder, "ConvBert", character_tokenizer(), max_positions, hidden, layers, seed,
                      embedding_size=hidden, conv_kernel_size=9, head_ratio=2)


def with_remote_code(folder: Path) -> Path:
    """The checkpoint's config made to name custom code, as DNABERT-2's and HyenaDNA's do."""
    config_file = folder / "config.json"
    config = json.loads(config_file.read_text())
    config["auto_map"] = {"AutoModel": "modeling_custom.CustomModel"}
    config_file.write_text(json.dumps(config))
    return folder
