"""Checks of a workflow config that a JSON schema cannot express, run before any job starts.

Each error names the config key and the fix. ``snakemake``'s schema validation (``workflow/schemas``) runs first
and catches typos in keys, wrong types and out-of-range values.
"""

from __future__ import annotations

import operator
import os

from .errors import SeqtuneError

DEEP_STRATEGIES = ("scratch", "full", "linear_probe", "partial", "gradual_unfreeze", "discriminative_lr")
# Strategies on a Hugging Face backbone (seqtune.hf) and their default for a model that lists none.
HF_STRATEGIES = ("linear_probe", "full", "partial", "lora", "random_init")
HF_DEFAULT_STRATEGIES = ["linear_probe", "lora", "full", "random_init"]


def is_huggingface(model: dict) -> bool:
    """A ``pretrain.models`` entry that names a local Hugging Face checkpoint instead of a seqtune pretraining."""
    return model.get("source", "seqtune") == "huggingface"
FILE_SOURCES = ("fasta", "tsv", "bed")
DECISION_RULES = ("validation", "argmax")  # evaluation.decision_threshold (seqtune.metrics.decision_rule)


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
            kinds = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
            wanted = " or ".join(_TYPE_WORDS.get(kind, kind) for kind in kinds)
            message = f"{error.instance!r} has the wrong type; write {wanted}"
            if isinstance(error.instance, str) and _yaml_text_number(error.instance) and "number" in kinds:
                message += (f" (YAML reads {error.instance} as text: it needs a dot and a signed exponent, "
                            f"write {float(error.instance):.10g} or {float(error.instance):.1e})")
            elif isinstance(error.instance, str) and len(error.absolute_path) > 1 and \
                    set(kinds) & {"number", "integer", "boolean"}:
                message += (" (snakemake --config passes values inside a nested mapping as text; set nested keys "
                            "in a config file given with --configfile)")
        elif error.validator in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
            message = f"{error.instance!r} is out of range; set it to {_BOUNDS[error.validator][1]} " \
                      f"{error.validator_value}"
        elif error.validator in ("pattern", "not"):
            message = f"{error.instance!r} is not allowed here"
        elif error.validator == "uniqueItems":
            message = f"{error.instance!r} lists a value more than once; list each value once"
        elif error.validator == "propertyNames":
            message = f"the name {error.instance!r} is not allowed; use letters, digits and _, starting with a letter"
        description = error.schema.get("description") if isinstance(error.schema, dict) else None
        if description and error.validator != "additionalProperties":
            message += f"; expected: {description}"
        elif error.validator == "pattern":
            message += f"; it must match the pattern {error.validator_value}"
        problems.append(f"{key}: {message}")
    return problems


def _yaml_text_number(text: str) -> bool:
    """A number in scientific notation that YAML 1.1 (PyYAML, Snakemake's config loader) reads as text: 5e-3."""
    try:
        float(text)
    except ValueError:
        return False
    return "e" in text.lower()


# JSON-schema range keywords: the comparison a value must pass, and the words of the fix.
_BOUNDS = {"minimum": (operator.ge, "at least"), "exclusiveMinimum": (operator.gt, "more than"),
           "maximum": (operator.le, "at most"), "exclusiveMaximum": (operator.lt, "less than")}


_TYPE_WORDS = {"array": "a list, e.g. [a, b]", "number": "a number", "integer": "a whole number",
               "string": "a text value", "boolean": "true or false", "object": "a mapping of keys to values",
               "null": "null"}


def check_settings(cls, values: dict, section: str) -> None:
    """Check the keys and values given for a settings dataclass (``TrainSettings``, ``ModelSpec``): unknown keys, and
    values of the wrong type, so that a typo or a wrong type given on the command line is one clear error instead of
    a failure deep inside torch."""
    import dataclasses

    known = {field.name for field in dataclasses.fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise SeqtuneError(f"unknown {section} setting(s) {sorted(unknown)}; known: {sorted(known)}")
    words = {kind: _TYPE_WORDS[name] for kind, name in
             (("int", "integer"), ("float", "number"), ("bool", "boolean"), ("str", "string"))}
    for field in dataclasses.fields(cls):
        if field.name not in values:
            continue
        value, kinds = values[field.name], [part.strip() for part in str(field.type).split("|")]
        if value is None and "None" in kinds:
            continue
        kind = kinds[0]
        matches = {"int": isinstance(value, int) and not isinstance(value, bool),
                   "float": isinstance(value, (int, float)) and not isinstance(value, bool),
                   "bool": isinstance(value, bool), "str": isinstance(value, str)}
        checked = [option for option in kinds if option in matches]  # "None" was handled above
        ok = any(matches[option] for option in checked) if checked else True
        if not ok:
            raise SeqtuneError(f"{section}.{field.name}: {value!r} has the wrong type; write {words[kind]} "
                               f"(default {field.default!r})")
        limits = getattr(cls, "LIMITS", {}).get(field.name, {})
        for keyword, bound in limits.items():
            passes, words = _BOUNDS[keyword]
            if not passes(value, bound):
                raise SeqtuneError(f"{section}.{field.name}: {value!r} is out of range; set it to "
                                   f"{words} {bound} (default {field.default!r})")


def expected_train_count(dataset: dict, split: dict) -> int | None:
    """The approximate size of the training split of a simulated data set (None when it comes from files)."""
    if dataset.get("source") != "simulate":
        return None
    n = dataset["n_sequences"]
    return int(n * (1 - split["validation_fraction"] - split["test_fraction"]))


def check_results_folder(results) -> None:
    """``results`` must be a relative folder without '..' parts, so that no rule can write outside the working
    directory (the schema checks the same; this is the rule's one definition for code that bypasses it)."""
    from pathlib import PurePosixPath, PureWindowsPath

    text = str(results) if isinstance(results, str) else ""
    path = PurePosixPath(text.replace("\\", "/"))
    if (not text.strip() or path.is_absolute() or PureWindowsPath(text).is_absolute() or PureWindowsPath(text).drive
            or ".." in path.parts or text.startswith("~")):
        raise SeqtuneError(f"results: {results!r} is not allowed; write a relative folder inside the working "
                           "directory, such as results or results/study2 (not absolute, no '..' part, no '~'), so "
                           "that no rule writes outside it")


def check_config(config: dict) -> None:
    """Raise SeqtuneError for the first inconsistency found between config sections."""
    check_results_folder(config.get("results", "results"))
    datasets = config["datasets"]
    finetune = config["finetune"]
    target = finetune["dataset"]
    if target not in datasets:
        raise SeqtuneError(f"finetune.dataset: '{target}' is not a key of datasets ({', '.join(datasets)})")
    for name, dataset in datasets.items():
        labels = [label for label in (dataset.get("paths") or {}) if label is None or isinstance(label, bool)]
        if labels:
            raise SeqtuneError(f"datasets.{name}.paths: a label key reads as {labels[0]} (YAML reads yes, no, on, "
                               "off, true, false unquoted as true/false, and ~ or null as null; two such keys can "
                               "even merge into one), so the class would not be the word you wrote; quote each "
                               "label: 'yes': pos.bed")
    if datasets[target].get("labelled") is False:
        raise SeqtuneError(f"finetune.dataset: '{target}' has labelled: false; the target task needs labels (a data "
                           "set without labels serves masked pretraining only)")
    for name, model in config["pretrain"]["models"].items():
        if is_huggingface(model):
            _check_huggingface_model(name, model)
            continue
        if not model.get("dataset"):
            raise SeqtuneError(f"pretrain.models.{name}.dataset: missing; name the data set under datasets it "
                               "pretrains on (or set source: huggingface and path: for a checkpoint on disk)")
        unknown = sorted(set(model.get("strategies", [])) - set(DEEP_STRATEGIES))
        if unknown:
            raise SeqtuneError(f"pretrain.models.{name}.strategies: {unknown} apply to Hugging Face models only; "
                               f"choose from {', '.join(s for s in DEEP_STRATEGIES if s != 'scratch')}")
        if model["dataset"] not in datasets:
            raise SeqtuneError(f"pretrain.models.{name}.dataset: '{model['dataset']}' is not a key of datasets "
                               f"({', '.join(datasets)})")
        if datasets[model["dataset"]].get("labelled") is False and model.get("objective", "supervised") != "masked":
            raise SeqtuneError(f"pretrain.models.{name}: data set '{model['dataset']}' has no labels (labelled: "
                               "false); set objective: masked, or give the data set labels")
    if not config["pretrain"]["models"] and set(finetune["strategies"]) - {"scratch"}:
        raise SeqtuneError("finetune.strategies lists fine-tuning strategies but pretrain.models is empty; "
                           "add a pretrained model or keep only 'scratch'")
    if "scratch" not in finetune["strategies"]:
        raise SeqtuneError(f"finetune.strategies: {finetune['strategies']} leaves out scratch; every transfer gain "
                           "and the verdict compare a strategy with the same architecture trained from scratch, so "
                           "add scratch")
    if datasets[target].get("task") == "motif_presence":
        raise SeqtuneError(f"finetune.dataset: '{target}' is a multi-label motif_presence corpus; the target must be "
                           "single-label (use task: motif_grammar)")
    split = config["split"]
    if split["validation_fraction"] + split["test_fraction"] >= 1:
        raise SeqtuneError(f"split.validation_fraction ({split['validation_fraction']}) + split.test_fraction "
                           f"({split['test_fraction']}) must sum to less than 1, leaving examples for training; "
                           "lower them (e.g. 0.15 and 0.2)")
    expected = expected_train_count(datasets[target], split)
    if expected is not None:
        too_large = [size for size in finetune["train_sizes"] if size > expected]
        if too_large:
            raise SeqtuneError(
                f"finetune.train_sizes: {too_large} exceed the ~{expected} training examples of dataset '{target}' "
                f"(n_sequences x (1 - validation_fraction - test_fraction)); lower them or raise "
                f"datasets.{target}.n_sequences"
            )
    _check_split(config)
    _check_predict(config)
    _check_variant_effects(config)
    models, source = config["pretrain"]["models"], shuffled_control_source(config)
    if config["controls"]["shuffled_labels"]["enabled"] and source not in {"none", *models}:
        raise SeqtuneError(
            f"controls.shuffled_labels.pretrained: '{source}' is not a key of "
            f"pretrain.models ({', '.join(models) or 'none'})"
            + ("" if models else "; with no pretrained model, use strategy: scratch"))
    for dataset_name, dataset in datasets.items():
        if dataset.get("source") == "simulate":
            _check_motifs(dataset_name, dataset, config["sequence_length"])


def _check_huggingface_model(name: str, model: dict) -> None:
    key = f"pretrain.models.{name}"
    if not model.get("path"):
        raise SeqtuneError(f"{key}.path: missing; name the folder of the checkpoint (config.json, *.safetensors, "
                           "tokenizer files), downloaded beforehand (docs/foundation_models.md)")
    if model.get("dataset"):
        raise SeqtuneError(f"{key}.dataset: a Hugging Face model was pretrained elsewhere and reads no data set "
                           "here; remove the key")
    unknown = sorted(set(model.get("strategies", HF_DEFAULT_STRATEGIES)) - set(HF_STRATEGIES))
    if unknown:
        raise SeqtuneError(f"{key}.strategies: {unknown} do not apply to a Hugging Face model; choose from "
                           f"{', '.join(HF_STRATEGIES)}")


def _check_motifs(name: str, dataset: dict, length: int) -> None:
    from .motifs import load_motif

    keys = ("motifs",) if dataset["task"] == "motif_presence" else ("required", "distractors")
    widths = []
    for key in keys:
        for jaspar_id in dataset.get(key, []):
            try:
                widths.append(load_motif(jaspar_id).width)
            except SeqtuneError as error:
                raise SeqtuneError(f"datasets.{name}.{key}: {error}") from None
    # The simulator plants every motif of a sequence in its own bin as wide as the widest motif (simulate.plant), and
    # one sequence may carry them all.
    if widths and length // max(widths) < len(widths):
        raise SeqtuneError(f"sequence_length: {length} nt holds {length // max(widths)} non-overlapping sites of "
                           f"{max(widths)} nt, but datasets.{name} may plant {len(widths)} motifs in one sequence; "
                           f"set sequence_length to at least {len(widths) * max(widths)}")
    if dataset["task"] == "motif_presence" and not dataset.get("motifs"):
        raise SeqtuneError(f"datasets.{name}.motifs: a motif_presence corpus needs at least one JASPAR ID")
    if dataset["task"] == "motif_grammar" and not dataset.get("required"):
        raise SeqtuneError(f"datasets.{name}.required: a motif_grammar task needs at least one required motif")


def _check_split(config: dict) -> None:
    split = config["split"]
    target = config["finetune"]["dataset"]
    source = config["datasets"][target]["source"]
    method = split["method"]
    if method == "chromosome":
        if source != "bed":
            raise SeqtuneError(f"split.method: chromosome needs the target data set to come from BED intervals (a "
                               f"'chrom' column), but datasets.{target}.source is {source}; use source: bed, or "
                               "split.method stratified or similarity")
        for key in ("validation_chroms", "test_chroms"):
            if not split[key]:
                raise SeqtuneError(f"split.{key}: split.method chromosome needs at least one chromosome here "
                                   "(e.g. [chr2]); list the chromosomes held out")
        both = sorted(set(split["validation_chroms"]) & set(split["test_chroms"]))
        if both:
            raise SeqtuneError(f"split.validation_chroms and split.test_chroms both list {', '.join(both)}; give "
                               "each chromosome to one split")
    if method == "column" and source not in ("fasta", "tsv"):
        raise SeqtuneError(f"split.method: column uses the data set's own split column, which only fasta and tsv "
                           f"data sets can have (datasets.{target}.source is {source}); use another split.method")


def _check_predict(config: dict) -> None:
    choice = predict_model(config)
    models = config["pretrain"]["models"]
    if choice["pretrained"] != "none" and choice["pretrained"] not in models:
        raise SeqtuneError(f"predict.model.pretrained: '{choice['pretrained']}' is not a key of pretrain.models "
                           f"({', '.join(models) or 'none'}) nor 'none' (scratch)")
    if (choice["pretrained"] == "none") != (choice["strategy"] == "scratch"):
        raise SeqtuneError(f"predict.model: strategy '{choice['strategy']}' with pretrained '{choice['pretrained']}'"
                           "; scratch goes with pretrained: none, every other strategy with a pretrained model")
    trained = trained_strategies(config, choice["pretrained"])
    if choice["strategy"] not in trained:
        raise SeqtuneError(f"predict.model.strategy: '{choice['strategy']}' is not trained from pretrained "
                           f"'{choice['pretrained']}' in this study (trained: {', '.join(trained) or 'none'}); "
                           "choose one of them")
    if choice["train_size"] not in config["finetune"]["train_sizes"]:
        raise SeqtuneError(f"predict.model.train_size: {choice['train_size']} is not one of finetune.train_sizes "
                           f"{config['finetune']['train_sizes']}; choose a trained size")
    if choice["seed"] not in config["finetune"]["seeds"]:
        raise SeqtuneError(f"predict.model.seed: {choice['seed']} is not one of finetune.seeds "
                           f"{config['finetune']['seeds']}; choose a trained seed")


def variant_effects_model(config: dict) -> dict:
    """The fine-tuned run ``variant_effect`` applies: ``variant_effects.model``, its null entries as ``predict.model``
    resolves them (see :func:`predict_model`)."""
    chosen = {key: value for key, value in config.get("variant_effects", {}).get("model", {}).items()
              if value is not None}
    predict = config.get("predict", {})
    return predict_model({**config, "predict": {**predict, "model": {**predict.get("model", {}), **chosen}}})


def _check_variant_effects(config: dict) -> None:
    """``variant_effects.model`` names a run the study trains (as ``predict.model`` must)."""
    if not config.get("variant_effects", {}).get("inputs"):
        return
    predict = config.get("predict", {})
    try:
        _check_predict({**config, "predict": {**predict, "model": variant_effects_model(config)}})
    except SeqtuneError as error:
        raise SeqtuneError(str(error).replace("predict.model", "variant_effects.model")) from None


def trained_strategies(config: dict, pretrained: str) -> list[str]:
    """The deep strategies a study fine-tunes from ``pretrained`` (``none``: scratch, when it is in the sweep): the
    model's own ``strategies``, by default the non-scratch ones of ``finetune.strategies``."""
    strategies = config["finetune"]["strategies"]
    if pretrained == "none":
        return ["scratch"] if "scratch" in strategies else []
    model = config["pretrain"]["models"].get(pretrained, {})
    if "strategies" in model:
        return list(model["strategies"])
    if is_huggingface(model):
        return list(HF_DEFAULT_STRATEGIES)
    return [s for s in strategies if s != "scratch"]


def shuffled_control_source(config: dict) -> str:
    """The model the shuffled-label control starts from: ``none`` for scratch, else ``controls.shuffled_labels.
    pretrained``, by default the first of ``pretrain.models`` (``""`` when there is none: an error in check_config)."""
    control = config["controls"]["shuffled_labels"]
    if control["strategy"] == "scratch":
        return "none"
    return control.get("pretrained") or next(iter(config["pretrain"]["models"]), "")


def predict_model(config: dict) -> dict:
    """The fine-tuned run ``predict`` applies: ``predict.model`` with its null entries resolved.

    Defaults: the first pretrained model (``none`` when there is none); strategy ``full`` when that model is
    fine-tuned with it, else its first trained strategy (``scratch`` for ``none``); the largest of
    ``finetune.train_sizes``; the first of ``finetune.seeds``.
    """
    chosen = dict(config.get("predict", {}).get("model", {}))
    pretrained = chosen.get("pretrained")
    if pretrained is None:
        pretrained = next(iter(config["pretrain"]["models"]), "none")
    strategy = chosen.get("strategy")
    if strategy is None:
        trained = trained_strategies(config, pretrained)
        strategy = "scratch" if pretrained == "none" else "full" if "full" in trained or not trained else trained[0]
    train_size = chosen.get("train_size")
    if train_size is None:
        train_size = max(config["finetune"]["train_sizes"])
    seed = chosen.get("seed")
    if seed is None:
        seed = config["finetune"]["seeds"][0]
    return {"pretrained": pretrained, "strategy": strategy, "train_size": train_size, "seed": seed}


def input_spec(entry: dict, user_entry: dict | None = None, labels: bool = True) -> dict:
    """The ``seqtune.inputs`` spec of a file data set (or prediction input) from its config entry.

    ``entry`` has the schema's defaults filled in; ``user_entry`` is the entry as written, before defaults: a
    ``split_column`` the user did not write is dropped (an explicit one makes the split column required). Keys set to
    null are dropped; ``labels=False`` drops the label keys (prediction).
    """
    spec = {key: value for key, value in entry.items() if value is not None}
    if user_entry is not None and "split_column" not in user_entry:
        spec.pop("split_column", None)
    if not labels:
        for key in ("labels", "label_column", "split_column"):
            spec.pop(key, None)
    return spec


def missing_input_files(config: dict) -> list[str]:
    """One line per input file named in the config (data sets, prediction inputs) that does not exist, relative to
    the working directory."""
    entries = [(f"datasets.{name}", entry) for name, entry in config["datasets"].items()]
    predict_inputs = config.get("predict", {}).get("inputs", {})
    entries += [(f"predict.inputs.{name}", entry) for name, entry in predict_inputs.items()]
    variant_inputs = config.get("variant_effects", {}).get("inputs", {})
    entries += [(f"variant_effects.inputs.{name}", entry) for name, entry in variant_inputs.items()]
    missing = []
    for where, entry in entries:
        for role, paths in input_files(entry).items():
            for path in paths if isinstance(paths, list) else [paths]:
                if not os.path.isfile(path):
                    missing.append(f"{where}.{role}: '{path}' " + ("is a folder, not a file" if os.path.isdir(path)
                                                                 else "does not exist"))
    return missing


def input_files(entry: dict) -> dict:
    """The input files of a file data set or prediction input, by role (for rule inputs)."""
    files = {}
    if entry.get("path"):
        files["path"] = entry["path"]
    if entry.get("paths"):
        files["paths"] = list(entry["paths"].values())
    if entry.get("vcf"):
        files["vcf"] = entry["vcf"]
    for key in ("labels", "genome"):
        if entry.get(key):
            files[key] = entry[key]
    return files
