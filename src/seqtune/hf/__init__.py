"""Foundation models: a Hugging Face checkpoint on the user's disk as a seqtune backbone.

``backbone``: checking and loading a checkpoint offline, tokenising uint8 codes with the checkpoint's own tokenizer,
the model (backbone + linear head on pooled embeddings) and LoRA through peft. ``steps``: the pipeline steps
(``import-model``, ``embed``, fine-tuning, saving and loading a fine-tuned model). ``tokenizers``: small DNA
tokenizers (character, k-mer) for models you pretrain yourself.

``transformers`` and ``peft`` are optional (``pip install -e '.[hf]'``); nothing here is imported by seqtune's other
modules until a Hugging Face model is used.
"""

HF_BASE_FORMAT = "seqtune-hf-base/1"
HF_MODEL_FORMAT = "seqtune-hf-model/1"
# Strategies on a Hugging Face backbone; random_init trains the same architecture from random weights (the
# reference that separates what pretraining adds from what the architecture adds).
HF_STRATEGIES = ("linear_probe", "full", "partial", "lora", "random_init")
POOLINGS = ("mean", "cls")
