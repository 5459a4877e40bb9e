"""Pretrain a small DNA language model (masked-nucleotide objective) on a simulated corpus, on the CPU in minutes,
and save it in the Hugging Face layout, the way a published checkpoint arrives on disk: the preparation step of
config/examples/foundation_model.yaml.

    python config/examples/make_foundation_model.py --out models/dna_lm_small

The corpus: 20,000 sequences of 200 nt on the default background (GC 0.41, CpG o/e 0.25) carrying the default
corpus's 8 JASPAR motifs, each present with probability 0.8: dense in binding sites, as a language model's corpus of
regulatory regions would be (at the supervised corpus's 0.3, most bases are background whose only predictable part is
composition). The model never sees a label: 15% of the bases are hidden (80% [MASK], 10% a random base, 10% kept, as
BERT) and predicted from the rest. It learns what makes the bases predictable, which includes the motifs' internal
structure; whether that helps the target task is what the study measures.

The architecture: ConvBERT (transformers' ``ConvBertForMaskedLM``, loaded by ``AutoModel`` without remote code), a
BERT whose layers add a span-based convolution (kernel 9) beside self-attention. On this corpus a plain 2 x 64 BERT
with absolute positions (``--architecture bert``) learned little beyond base composition in 2,500 steps
(docs/foundation_models.md): attention has to learn "look at the next bases" from position embeddings, which a
convolution has from the start.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from seqtune import pipeline
from seqtune.data import read_dataset
from seqtune.hf.steps import tokenize_codes
from seqtune.hf.tokenizers import character_tokenizer

MOTIFS = ["MA0139.2", "MA0035.4", "MA0080.5", "MA0102.4", "MA0148.4", "MA0114.4", "MA0106.3", "MA0143.4"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="models/dna_lm_small", help="output folder (Hugging Face layout)")
    parser.add_argument("--architecture", choices=["convbert", "bert"], default="convbert")
    parser.add_argument("--n-sequences", type=int, default=20000)
    parser.add_argument("--length", type=int, default=200)
    parser.add_argument("--presence-rate", type=float, default=0.8, help="probability of each motif per sequence")
    parser.add_argument("--steps", type=int, default=5000, help="optimiser steps")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    import transformers

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as folder:
        pipeline.simulate(folder, "motif_presence", args.n_sequences, args.length, MOTIFS, args.seed + 1,
                          presence_rate=args.presence_rate)
        codes = read_dataset(Path(folder) / "codes.npy").codes
    tokenizer = character_tokenizer()
    ids = torch.from_numpy(tokenize_codes(tokenizer, codes, None, "corpus"))
    held_out, ids = ids[:500], ids[500:]
    shape = dict(vocab_size=len(tokenizer), hidden_size=args.hidden, num_hidden_layers=args.layers,
                 num_attention_heads=4, intermediate_size=2 * args.hidden, max_position_embeddings=args.length + 56,
                 pad_token_id=tokenizer.pad_token_id)
    if args.architecture == "convbert":
        config = transformers.ConvBertConfig(**shape, embedding_size=args.hidden, conv_kernel_size=9, head_ratio=2)
        model = transformers.ConvBertForMaskedLM(config)
    else:
        config = transformers.BertConfig(**shape)
        model = transformers.BertForMaskedLM(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=2e-3, total_steps=args.steps, pct_start=0.1)
    bases = torch.tensor(tokenizer.convert_tokens_to_ids(list("ACGT")))
    special = torch.tensor(tokenizer.all_special_ids)

    def masked(batch: torch.Tensor, generator: torch.Generator):
        chosen = (torch.rand(batch.shape, generator=generator) < 0.15) & ~torch.isin(batch, special)
        labels = torch.where(chosen, batch, torch.full_like(batch, -100))
        roll = torch.rand(batch.shape, generator=generator)
        inputs = batch.clone()
        inputs[chosen & (roll < 0.8)] = tokenizer.mask_token_id
        swap = chosen & (roll >= 0.8) & (roll < 0.9)
        inputs[swap] = bases[torch.randint(0, 4, (int(swap.sum()),), generator=generator)]
        return inputs, labels

    generator = torch.Generator().manual_seed(args.seed)
    started = time.perf_counter()
    model.train()
    for step in range(args.steps):
        rows = torch.from_numpy(rng.integers(0, ids.shape[0], args.batch_size))
        inputs, labels = masked(ids[rows], generator)
        loss = model(input_ids=inputs, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if (step + 1) % 500 == 0 or step + 1 == args.steps:
            model.eval()
            with torch.no_grad():
                inputs, labels = masked(held_out, torch.Generator().manual_seed(0))
                logits = model(input_ids=inputs).logits
                keep = labels != -100
                accuracy = (logits.argmax(-1)[keep] == labels[keep]).float().mean().item()
            model.train()
            print(f"step {step + 1}: loss {loss.item():.4f}, held-out masked-base accuracy {accuracy:.4f} "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)
    out = Path(args.out)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "pretraining.json").write_text(json.dumps({
        "objective": "masked nucleotide (BERT 80/10/10)", "architecture": args.architecture,
        "corpus": {"n_sequences": args.n_sequences, "length": args.length, "motifs": MOTIFS,
                   "presence_rate": args.presence_rate},
        "steps": args.steps, "batch_size": args.batch_size, "seed": args.seed,
        "held_out_masked_accuracy": accuracy, "seconds": time.perf_counter() - started}, indent=1))
    print(f"saved to {out} in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
