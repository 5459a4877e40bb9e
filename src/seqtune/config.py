"""Checks of a workflow config that a JSON schema cannot express, run before any job starts.

Each error names the config key and the fix. ``snakemake``'s schema validation (``workflow/schemas``) runs first
and catches typos in keys, wrong types and out-of-range values.
"""

from __future__ import annotations

from .errors import SeqtuneError

DEEP_STRATEGIES = ("scratch", "full", "linear_probe", "partial", "gradual_unfreeze", "discriminative_lr")


def schema_problems(config: dict, schema_path: str) -> list[str]:
    """Every violation of the JSON schema, one short line each: the key's dotted path, what is wrong, and the fix."""
    import jsonschema
    import yaml

    with open(schema_path) as handle:
        schema = yaml.safe_load(handle)
    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for error in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path))):
        key = ".".join(map(str, error.absolute_path)) or "(top level)"
        message = error.message
        if error.validator == "additionalProperties":
            known = sorted(error.schema.get("properties", {}))
            message += f"; check the spelling. Known keys here: {', '.join(known)}" if known else ""
        elif error.validator == "enum":
            message = f"{error.instance!r} is not allowed; choose one of {', '.join(map(str, error.validator_value))}"
        elif error.validator == "type":
            message = f"{error.instance!r} should be of type {error.validator_value}"
        problems.append(f"{key}: {message}")
    return problems


def expected_train_count(dataset: dict, split: dict) -> int | None:
    """The approximate size of the training split of a simulated data set (None when it comes from files)."""
    if dataset.get("source") != "simulate":
        return None
    n = dataset["n_sequences"]
    return int(n * (1 - split["validation_fraction"] - split["test_fraction"]))


def check_config(config: dict) -> None:
    """Raise SeqtuneError for the first inconsistency found between config sections."""
    datasets = config["datasets"]
    finetune = config["finetune"]
    target = finetune["dataset"]
    if target not in datasets:
        raise SeqtuneError(f"finetune.dataset: '{target}' is not a key of datasets ({', '.join(datasets)})")
    for name, model in config["pretrain"]["models"].items():
        if model["dataset"] not in datasets:
            raise SeqtuneError(f"pretrain.models.{name}.dataset: '{model['dataset']}' is not a key of datasets "
                               f"({', '.join(datasets)})")
    if not config["pretrain"]["models"] and set(finetune["strategies"]) - {"scratch"}:
        raise SeqtuneError("finetune.strategies lists fine-tuning strategies but pretrain.models is empty; "
                           "add a pretrained model or keep only 'scratch'")
    if datasets[target].get("task") == "motif_presence":
        raise SeqtuneError(f"finetune.dataset: '{target}' is a multi-label motif_presence corpus; the target must be "
                           "single-label (use task: motif_grammar)")
    expected = expected_train_count(datasets[target], config["split"])
    if expected is not None:
        too_large = [size for size in finetune["train_sizes"] if size > expected]
        if too_large:
            raise SeqtuneError(
                f"finetune.train_sizes: {too_large} exceed the ~{expected} training examples of dataset '{target}' "
                f"(n_sequences x (1 - validation_fraction - test_fraction)); lower them or raise "
                f"datasets.{target}.n_sequences"
            )
    control = config["controls"]["shuffled_labels"]
    if control["enabled"] and control["strategy"] != "scratch" and control["pretrained"] not in config["pretrain"]["models"]:
        raise SeqtuneError(f"controls.shuffled_labels.pretrained: '{control['pretrained']}' is not a key of "
                           f"pretrain.models ({', '.join(config['pretrain']['models']) or 'none'})")
    for dataset_name, dataset in datasets.items():
        if dataset.get("source") == "simulate":
            _check_motifs(dataset_name, dataset)


def _check_motifs(name: str, dataset: dict) -> None:
    from .motifs import load_motif

    keys = ("motifs",) if dataset["task"] == "motif_presence" else ("required", "distractors")
    for key in keys:
        for jaspar_id in dataset.get(key, []):
            try:
                load_motif(jaspar_id)
            except SeqtuneError as error:
                raise SeqtuneError(f"datasets.{name}.{key}: {error}") from None
    if dataset["task"] == "motif_presence" and not dataset.get("motifs"):
        raise SeqtuneError(f"datasets.{name}.motifs: a motif_presence corpus needs at least one JASPAR ID")
    if dataset["task"] == "motif_grammar" and not dataset.get("required"):
        raise SeqtuneError(f"datasets.{name}.required: a motif_grammar task needs at least one required motif")
