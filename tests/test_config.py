"""Config validation happens before any job runs, and each error names the key and the fix."""

import pytest
import yaml

from conftest import REPO, snakemake


def _dry_run(tmp_path, edit):
    config = yaml.safe_load((REPO / "tests" / "configs" / "tiny.yaml").read_text())
    edit(config)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    return snakemake(tmp_path, "--configfile", str(tmp_path / "config.yaml"), "-n", check=False)


def _set(path, value):
    def edit(config):
        node = config
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return edit


CASES = [
    ("typo in a key", lambda c: c["finetune"].__setitem__("train_size", [10]), "train_size"),
    ("no seeds", _set(["finetune", "seeds"], []), "seeds"),
    ("negative length", _set(["sequence_length"], -5), "sequence_length"),
    ("wrong type", _set(["finetune", "train_sizes"], "100"), "train_sizes"),
    ("train size of 0", _set(["finetune", "train_sizes"], [0]), "train_sizes"),
    ("train size larger than the data", _set(["finetune", "train_sizes"], [5000]), "finetune.train_sizes"),
    ("unknown strategy", _set(["finetune", "strategies"], ["scratch", "fulll"]), "fulll"),
    ("unknown JASPAR ID", _set(["datasets", "target", "required"], ["MA0139.2", "MA9999.1"]),
     "datasets.target.required: unknown JASPAR matrix ID 'MA9999.1'"),
    ("unknown target data set", _set(["finetune", "dataset"], "nope"), "finetune.dataset: 'nope'"),
    ("results outside the folder", _set(["results"], "../elsewhere"), "results"),
    ("sequences too short for the motifs", _set(["sequence_length"], 30),
     "sequence_length: 30 nt holds 1 non-overlapping sites"),
    ("a nested number given as text (as snakemake --config passes it)",
     lambda c: c.setdefault("evaluation", {}).update(bootstrap_resamples="10"), "set nested keys in a config file"),
    ("no scratch to compare with", _set(["finetune", "strategies"], ["full"]), "finetune.strategies: ['full'] leaves "
     "out scratch"),
    ("a pretrained control with no pretrained model", lambda c: c.update(
        pretrain={"models": {}}, finetune={**c["finetune"], "strategies": ["scratch"]},
        controls={"shuffled_labels": {"enabled": True, "strategy": "full"}}),
     "controls.shuffled_labels.pretrained: '' is not a key of pretrain.models (none); with no pretrained model, use "
     "strategy: scratch"),
    ("a typo in a data set's background", _set(["datasets", "corpus", "background"], {"cpg": 1.0}), "cpg"),
    ("split fractions leave no training data", lambda c: c["split"].update(validation_fraction=0.6, test_fraction=0.5),
     "split.validation_fraction (0.6) + split.test_fraction (0.5) must sum to less than 1"),
]


@pytest.mark.parametrize("name, edit, expected", CASES, ids=[case[0] for case in CASES])
def test_bad_config_is_rejected_before_any_job(tmp_path, name, edit, expected):
    process = _dry_run(tmp_path, edit)
    assert process.returncode != 0, name
    output = process.stdout + process.stderr
    assert expected in output, output[-2000:]
    assert not (tmp_path / "results").exists()


def test_the_default_config_is_valid(tmp_path):
    process = snakemake(tmp_path, "--configfile", str(REPO / "config" / "config.yaml"), "-n")
    assert "simulate" in process.stdout


def test_a_data_set_background_overrides_the_top_level_one_key_by_key(tmp_path):
    """datasets.<name>.background: the corpus gets its own CpG ratio and keeps the top-level GC content; the target
    keeps the top-level background."""
    def edit(config):
        config["background"] = {"gc_content": 0.45, "cpg_ratio": 0.25}
        config["datasets"]["corpus"]["background"] = {"cpg_ratio": 1.0}

    config = yaml.safe_load((REPO / "tests" / "configs" / "tiny.yaml").read_text())
    edit(config)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    process = snakemake(tmp_path, "--configfile", str(tmp_path / "config.yaml"), "-n", "-p",
                        "results/data/corpus/codes.npy", "results/data/target/codes.npy", check=False)
    commands = [line for line in process.stdout.splitlines() if "seqtune simulate" in line]
    by_dataset = {("corpus" if "/data/corpus" in line else "target"): line for line in commands}
    assert set(by_dataset) == {"corpus", "target"}, process.stdout[-2000:] + process.stderr[-2000:]
    assert "--gc-content=0.45" in by_dataset["corpus"] and "--cpg-ratio=1.0" in by_dataset["corpus"]
    assert "--gc-content=0.45" in by_dataset["target"] and "--cpg-ratio=0.25" in by_dataset["target"]


def test_predict_model_must_be_a_trained_run():
    """predict.model.strategy must be one the study trains from that model (it used to plan an extra, never
    evaluated fine-tuning run), and its default follows the trained strategies."""
    from seqtune.config import check_config, predict_model
    from seqtune.errors import SeqtuneError

    config = yaml.safe_load((REPO / "tests" / "configs" / "tiny.yaml").read_text())
    for key, value in {"validation_fraction": 0.15, "test_fraction": 0.2, "method": "stratified"}.items():
        config.setdefault("split", {}).setdefault(key, value)
    config.setdefault("controls", {"shuffled_labels": {"enabled": False, "strategy": "scratch",
                                                       "pretrained": "motifs"}})
    pretrained = next(iter(config["pretrain"]["models"]))
    config["finetune"]["strategies"] = ["scratch", "linear_probe"]
    assert predict_model(config)["strategy"] == "linear_probe"  # full is not trained here
    config["predict"] = {"model": {"pretrained": pretrained, "strategy": "full"}}
    with pytest.raises(SeqtuneError, match="predict.model.strategy: 'full' is not trained from pretrained"):
        check_config(config)
    config["predict"]["model"]["strategy"] = "linear_probe"
    check_config(config)


def test_settings_ranges_equal_the_schema_and_apply_on_the_command_line():
    """TrainSettings and ModelSpec check the schema's ranges themselves, so a step run alone (seqtune finetune
    --training '{"learning_rate": -1}') is refused as a config would be; the two lists of ranges stay equal."""
    from seqtune.errors import SeqtuneError
    from seqtune.models import ModelSpec
    from seqtune.train import TrainSettings

    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    bounds = ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum")

    def ranges(properties):
        found = {name: {k: v for k, v in spec.items() if k in bounds} for name, spec in properties.items()}
        return {name: limits for name, limits in found.items() if limits}

    assert ranges(schema["$defs"]["training_properties"]) == TrainSettings.LIMITS
    model_limits = {k: v for k, v in ModelSpec.LIMITS.items() if k != "length"}  # length: sequence_length
    assert ranges(schema["properties"]["model"]["properties"]) == model_limits
    with pytest.raises(SeqtuneError, match=r"training\.learning_rate: -1 is out of range; set it to more than 0"):
        TrainSettings.from_dict({"learning_rate": -1})
    with pytest.raises(SeqtuneError, match=r"model\.dropout: 0\.95 is out of range; set it to at most 0\.9"):
        ModelSpec.from_dict({"dropout": 0.95})
    assert TrainSettings.from_dict({"lr_decay": 1, "checkpoint_every": 0}).lr_decay == 1


def test_the_controls_pretrained_model_defaults_to_the_first_one(tmp_path):
    """Left out, controls.shuffled_labels.pretrained is the first of pretrain.models, whatever its name (it was
    'motifs', the default study's name, so any other study with a pretrained control had to set it)."""
    def edit(config):
        config["pretrain"]["models"] = {"corpus_model": config["pretrain"]["models"].pop("motifs")}
        config["controls"] = {"shuffled_labels": {"enabled": True, "strategy": "full"}}
        config["predict"] = {"model": {"pretrained": "corpus_model"}}
    process = _dry_run(tmp_path, edit)
    assert process.returncode == 0, process.stderr[-2000:]
    assert "results/evaluate/corpus_model/shuffled_labels/" in process.stdout


def test_a_data_set_without_labels_serves_masked_pretraining_only():
    from seqtune.config import check_config
    from seqtune.errors import SeqtuneError

    config = yaml.safe_load((REPO / "tests" / "configs" / "tiny.yaml").read_text())
    config.setdefault("split", {}).update(method="stratified", validation_chroms=[], test_chroms=[])
    config["datasets"]["genomic"] = {"source": "fasta", "path": "regions.fa", "labelled": False}
    config["pretrain"]["models"]["genomic"] = {"dataset": "genomic", "objective": "supervised"}
    with pytest.raises(SeqtuneError, match="pretrain.models.genomic: data set 'genomic' has no labels .*objective: "
                                           "masked"):
        check_config(config)
    config["pretrain"]["models"]["genomic"]["objective"] = "masked"
    check_config(config)
    config["finetune"]["dataset"] = "genomic"
    with pytest.raises(SeqtuneError, match="finetune.dataset: 'genomic' has labelled: false; the target task needs"):
        check_config(config)
