"""Hugging Face backbones (seqtune.hf) on tiny checkpoints built here: tokens, strategies, frozen weights, saving and
reloading, and the errors a user meets (one line naming the key or file)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")
pytest.importorskip("peft")

from hf_models import tiny_bert, tiny_convbert, tiny_esm, with_remote_code  # noqa: E402
from seqtune import pipeline  # noqa: E402
from seqtune.errors import SeqtuneError  # noqa: E402
from seqtune.hf.backbone import check_checkpoint, tokenize_codes  # noqa: E402
from seqtune.hf.steps import build_model, import_model, read_base  # noqa: E402
from seqtune.train import Dataset, TrainSettings, fit  # noqa: E402
from seqtune.weights import load_model  # noqa: E402


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf")
    return {"bert": tiny_bert(root / "bert"), "esm": tiny_esm(root / "esm"),
            "convbert": tiny_convbert(root / "convbert")}


@pytest.fixture(scope="module")
def bases(checkpoints, tmp_path_factory):
    root = tmp_path_factory.mktemp("bases")
    return {name: read_base(str(_import(path, root / f"{name}.json", 60))) for name, path in checkpoints.items()}


def _import(path, output, length):
    import_model(str(path), str(output), "pretrain.models.m", length)
    return output


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    root = tmp_path_factory.mktemp("target")
    pipeline.simulate(str(root / "data"), "motif_grammar", 300, 60, [], 3, required=["MA0139.2"], distractors=[])
    pipeline.split(str(root / "data" / "codes.npy"), str(root / "split" / "manifest.tsv"),
                   str(root / "split" / "summary.json"), 0.2, 0.3, 5)
    return root


def test_tokens_follow_each_tokenizer(bases):
    codes = np.array([[0, 1, 2, 3] * 15, [4] + [0] * 59], dtype=np.uint8)
    bert = build_model(bases["bert"], 2, "linear_probe")
    ids = tokenize_codes(bert.backbone.tokenizer, codes, bert.backbone.limit, "test")
    assert ids.shape == (2, 62)  # [CLS] + 60 bases + [SEP]
    tokens = bert.backbone.tokenizer.convert_ids_to_tokens(ids[1].tolist())
    assert tokens[:3] == ["[CLS]", "N", "A"] and tokens[-1] == "[SEP]"
    esm = build_model(bases["esm"], 2, "linear_probe")
    ids = tokenize_codes(esm.backbone.tokenizer, codes, esm.backbone.limit, "test")
    tokens = [esm.backbone.tokenizer.convert_ids_to_tokens(row.tolist()) for row in ids]
    assert tokens[0][:2] == ["<cls>", "ACGTAC"] and len([t for t in tokens[0] if t != "<pad>"]) == 11
    # an N is a token of its own and the 6-mers restart after it; the 5 bases left over are single tokens, so the
    # second sequence has more tokens and the first is padded
    assert tokens[1][:3] == ["<cls>", "N", "AAAAAA"] and tokens[1][-5:] == ["A"] * 5 and tokens[0][-1] == "<pad>"


def test_one_hot_input_gives_the_same_logits_as_token_ids(bases, target):
    from seqtune.data import read_dataset
    from seqtune.sequence import one_hot

    codes = read_dataset(str(target / "data" / "codes.npy")).codes[:20]
    torch.manual_seed(0)
    model = build_model(bases["bert"], 2, "full").eval()
    torch.nn.init.normal_(model.head.weight)
    ids = torch.from_numpy(tokenize_codes(model.backbone.tokenizer, codes, model.backbone.limit, "test"))
    with torch.no_grad():
        assert torch.equal(model(ids), model(one_hot(torch.from_numpy(np.ascontiguousarray(codes)))))


def _fit(model, strategy, target, epochs=2):
    from seqtune.data import read_dataset, read_manifest
    from seqtune.hf.steps import token_ids

    data = read_dataset(str(target / "data" / "codes.npy"))
    assignment = read_manifest(str(target / "split" / "manifest.tsv"), data)
    train, validation = (np.flatnonzero(assignment == part) for part in ("train", "validation"))
    targets = data.targets()
    device = torch.device("cpu")
    datasets = [Dataset.from_numpy(token_ids(model, data.codes[rows], "test"), targets[rows], False, device)
                for rows in (train, validation)]
    settings = TrainSettings.from_dict({"max_epochs": epochs, "patience": 5, "batch_size": 16,
                                        "learning_rate": 0.01, "monitor": "val_loss"})
    return fit(model, *datasets, settings, strategy, seed=1)


@pytest.mark.parametrize("architecture", ["bert", "convbert"])
@pytest.mark.parametrize("strategy", ["lora", "linear_probe"])
def test_base_weights_stay_bitwise_unchanged(bases, target, strategy, architecture):
    """Under lora and linear_probe only the head (and the adapters) train: every base weight is bitwise the same
    after training, and the head did move."""
    model = build_model(bases[architecture], 2, strategy, lora={"rank": 4, "alpha": 8, "dropout": 0.1})
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    rows, _ = _fit(model, strategy, target)
    after = model.state_dict()
    base = [name for name in before if not name.startswith("head.") and "lora_" not in name]
    assert base and all(torch.equal(before[name], after[name]) for name in base)
    assert not torch.equal(before["head.weight"], after["head.weight"])
    lora = [name for name in before if "lora_B" in name]
    assert (strategy == "lora") == bool(lora)
    if lora:  # the adapters trained (lora_B starts at zero)
        assert any(not torch.equal(before[name], after[name]) for name in lora)
    assert rows[0]["trainable_parameters"] < sum(p.numel() for p in model.parameters()) / 2


def test_partial_trains_the_last_layers_only(bases, target):
    model = build_model(bases["esm"], 2, "partial")
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    _fit(model, "partial", target)
    after = model.state_dict()
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert any(".layer.1." in name for name in changed)
    assert not any(".layer.0." in name or "embeddings" in name for name in changed)


@pytest.mark.parametrize("architecture", ["esm", "convbert"])
@pytest.mark.parametrize("strategy", ["linear_probe", "lora", "full", "random_init"])
def test_saved_model_reloads_to_the_same_probabilities(bases, target, tmp_path, strategy, architecture):
    """finetune writes what STORED says (the head, the adapter, or every weight); load_model rebuilds a model that
    predicts exactly what the evaluation scored."""
    run = tmp_path / strategy
    codes, manifest = str(target / "data" / "codes.npy"), str(target / "split" / "manifest.tsv")
    base_json = tmp_path / "base.json"
    base_json.write_text(json.dumps(bases[architecture]))
    pipeline.finetune(codes, manifest, str(run / "model.safetensors"), str(run / "history.tsv"),
                      str(run / "train_ids.tsv"), strategy, 60, 1, {"max_epochs": 2, "batch_size": 16},
                      pretrained=str(base_json), lora={"rank": 4, "alpha": 8, "dropout": 0.0})
    sidecar = json.loads((run / "model.json").read_text())
    from safetensors.torch import load_file

    stored = set(load_file(str(run / "model.safetensors")))
    if strategy == "linear_probe":
        assert stored == {"head.weight", "head.bias"}
    elif strategy == "lora":
        assert {"head.weight", "head.bias"} < stored and all("lora_" in n or n.startswith("head.") for n in stored)
    assert sidecar["base"]["sha256"] == bases[architecture]["sha256"] and sidecar["cost"]["total_parameters"] > 0
    pipeline.evaluate(codes, manifest, str(run / "model.safetensors"), str(run / "predictions.tsv"),
                      str(run / "metrics.json"), {"strategy": strategy})
    import pandas as pd

    evaluated = pd.read_csv(run / "predictions.tsv", sep="\t")
    fasta = run / "test.fa"
    from seqtune.data import read_dataset

    data = read_dataset(codes)
    index = {name: i for i, name in enumerate(data.ids)}
    with open(fasta, "w") as handle:
        for name in evaluated["id"]:
            handle.write(f">{name}\n{''.join('ACGTN'[c] for c in data.codes[index[name]])}\n")
    pipeline.predict(str(run / "model.safetensors"), {"source": "fasta", "path": str(fasta)}, str(run / "new.tsv"))
    predicted = pd.read_csv(run / "new.tsv", sep="\t")
    assert list(predicted["id"]) == list(evaluated["id"])
    assert np.array_equal(predicted["prob_positive"].to_numpy(), evaluated["prob_positive"].to_numpy())
    model, _ = load_model(run / "model.safetensors")
    assert type(model).__name__ == "HFSequenceModel"


def test_a_probe_reads_embeddings_computed_once(bases, target, tmp_path):
    from seqtune.hf.steps import embed

    codes, manifest = str(target / "data" / "codes.npy"), str(target / "split" / "manifest.tsv")
    base_json = tmp_path / "base.json"
    base_json.write_text(json.dumps(bases["bert"]))
    embed(str(base_json), codes, str(tmp_path / "embeddings.npy"))
    features = np.load(tmp_path / "embeddings.npy")
    assert features.shape == (300, 32) and features.dtype == np.float32
    outputs = {}
    for name, embeddings in (("cached", str(tmp_path / "embeddings.npy")), ("computed", None)):
        run = tmp_path / name
        pipeline.finetune(codes, manifest, str(run / "model.safetensors"), str(run / "history.tsv"),
                          str(run / "train_ids.tsv"), "linear_probe", 60, 1, {"max_epochs": 3, "batch_size": 16},
                          pretrained=str(base_json), embeddings=embeddings)
        outputs[name] = (run / "model.safetensors").read_bytes()
    # the same probe whether the embeddings were cached for the whole data set or computed for its rows
    assert outputs["cached"] == outputs["computed"]


# ---------------------------------------------------------------------------------------------- bad inputs
def test_missing_folder_names_the_key(tmp_path):
    with pytest.raises(SeqtuneError, match=r"pretrain\.models\.m\.path: '.*nowhere' does not exist; download it"):
        check_checkpoint(tmp_path / "nowhere", "pretrain.models.m")


def test_missing_tokenizer_names_the_folder(checkpoints, tmp_path):
    folder = shutil.copytree(checkpoints["bert"], tmp_path / "bert")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (folder / name).unlink()
    with pytest.raises(SeqtuneError, match=r"pretrain\.models\.m\.path: '.*bert' has no tokenizer files"):
        check_checkpoint(folder, "pretrain.models.m")


def test_remote_code_needs_trust_remote_code(checkpoints, tmp_path):
    folder = with_remote_code(shutil.copytree(checkpoints["bert"], tmp_path / "bert"))
    with pytest.raises(SeqtuneError, match=r"set pretrain\.models\.m\.trust_remote_code: true only if you trust it"):
        check_checkpoint(folder, "pretrain.models.m")


def test_pickled_weights_are_refused(checkpoints, tmp_path):
    folder = shutil.copytree(checkpoints["bert"], tmp_path / "bert")
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    with pytest.raises(SeqtuneError, match="only pytorch_model.bin .pickles"):
        check_checkpoint(folder, "pretrain.models.m")


def test_unknown_lora_target_lists_the_layers(bases):
    with pytest.raises(SeqtuneError, match=r"lora\.target_modules: \['qkv'\] name no layer of this model; choose "
                                           r"from .*query"):
        build_model(bases["bert"], 2, "lora", lora={"target_modules": ["qkv"]})


def test_too_long_a_sequence_names_both_numbers(checkpoints, tmp_path):
    # the tiny BERT has 128 positions: 200 nt become 202 tokens
    with pytest.raises(SeqtuneError, match="a sequence of 200 nt becomes 202 tokens, more than the model's 128 "
                                           "positions"):
        import_model(str(checkpoints["bert"]), str(tmp_path / "base.json"), "pretrain.models.m", 200)
    assert not (tmp_path / "base.json").exists()


def test_a_changed_base_checkpoint_is_refused(checkpoints, bases, tmp_path):
    folder = shutil.copytree(checkpoints["bert"], tmp_path / "bert")
    base = {**bases["bert"], "path": str(folder)}
    tiny_bert(folder, seed=1)  # other weights in the same folder
    with pytest.raises(SeqtuneError, match="changed since"):
        build_model(base, 2, "lora")


def test_a_search_trial_and_the_final_run_train_the_searched_lora_rank(bases, target, tmp_path):
    """tune-trial builds a Hugging Face model as finetune does; the rank it draws reaches the LoRA adapters, and the
    final run, given the chosen parameters, trains adapters of that rank over the configured alpha."""
    from safetensors.torch import load_file

    from seqtune.tuning import export_study, tune_trial

    codes, manifest = str(target / "data" / "codes.npy"), str(target / "split" / "manifest.tsv")
    base_json = tmp_path / "base.json"
    base_json.write_text(json.dumps(bases["bert"]))
    lora = {"rank": 8, "alpha": 8, "dropout": 0.0}
    record = tune_trial(codes, manifest, str(tmp_path / "slot0.json"), str(tmp_path / "journal.log"), 0, "lora", 60,
                        seed=1, space={"lora_rank": [2], "learning_rate": [1e-3, 1e-2]}, study_seed=3,
                        pretrained_name="bert", training={"max_epochs": 2, "batch_size": 16},
                        pretrained=str(base_json), lora=lora, startup_trials=1)
    assert record["state"] == "COMPLETE" and record["params"]["lora_rank"] == 2 and 0 <= record["value"] <= 1
    chosen = export_study([str(tmp_path / "slot0.json")], str(tmp_path / "journal.log"), str(tmp_path / "trials.tsv"),
                          str(tmp_path / "chosen.json"), budget=1)
    run = tmp_path / "final"
    pipeline.finetune(codes, manifest, str(run / "model.safetensors"), str(run / "history.tsv"),
                      str(run / "train_ids.tsv"), "lora", 60, 1, {"max_epochs": 2, "batch_size": 16},
                      pretrained=str(base_json), lora=lora, tuned=chosen)
    assert json.loads((run / "model.json").read_text())["tuning"]["params"]["lora_rank"] == 2
    adapters = {name: tensor for name, tensor in load_file(str(run / "model.safetensors")).items()
                if "lora_A" in name}
    assert adapters and all(tensor.shape[0] == 2 for tensor in adapters.values())
