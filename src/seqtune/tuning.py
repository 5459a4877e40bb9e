"""Hyperparameter search per model and train size (Optuna), inside the validation split.

A *study* is one model (a deep strategy from a pretrained model or from scratch, or a logistic-regression baseline)
at one train size. Its trials are kept in an Optuna journal file, so that trials can run as separate jobs (a
Snakemake job or Slurm array task each) and a killed search resumes. Each job owns one *slot* (0, 1, ...): it asks
the study for parameters, trains on the training subset, scores the validation split, and tells the study. A slot
whose trial already finished in the journal is returned as it is, without training, so a rerun repeats no finished
trial. The test split is never read: a trial gets the training and validation rows of the data set and nothing else
(:func:`trial_rows`).

The sampler is TPE seeded per (study, slot) from the config's seed; the pruner is Optuna's median pruner on the
per-epoch validation score, which ``train.fit`` reports through its ``on_epoch`` callback. Run one slot after the
other and the same config gives the same parameters; run them concurrently (``tuning.parallel_trials``) and TPE sees
a history that depends on which trial finished first.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import SeqtuneError
from .io import write_json, write_tsv
from .seeds import derive_seed

log = logging.getLogger("seqtune")

BASELINE_KINDS = ("kmer_logreg", "onehot_logreg")
# Where each searchable parameter goes in a run. Paths: training.<key> (TrainSettings), model.dropout (the
# architecture, set on a loaded pretrained model too), lora.<key> (LoRA settings, for the strategy lora only),
# baseline.C (the logistic regressions' inverse regularisation strength).
TARGETS = {
    "learning_rate": "training.learning_rate",
    "weight_decay": "training.weight_decay",
    "batch_size": "training.batch_size",
    "dropout": "model.dropout",
    "lora_rank": "lora.rank",
    "C": "baseline.C",
}
LOG_SCALE = {"learning_rate", "weight_decay", "C"}  # sampled log-uniform; dropout uniform; the rest categorical
CATEGORICAL = {"batch_size", "lora_rank"}


def model_space(space: dict, strategy: str) -> dict:
    """The parameters searched for one model, from ``tuning.space``: C for a baseline; learning rate, weight decay,
    dropout, batch size for a deep strategy, and the LoRA rank for ``lora`` only. A parameter set to null is not
    searched (the run keeps its configured value)."""
    baseline = strategy in BASELINE_KINDS
    chosen = {}
    for name, values in space.items():
        if values is None:
            continue
        if name not in TARGETS:
            raise SeqtuneError(f"tuning.space.{name}: not a searchable parameter; choose among {', '.join(TARGETS)}")
        if (name == "C") != baseline or (name == "lora_rank" and strategy != "lora"):
            continue
        if name not in CATEGORICAL:
            low, high = values
            if not 0 <= low < high or (name in LOG_SCALE and low <= 0):
                raise SeqtuneError(f"tuning.space.{name}: [{low}, {high}] must be [low, high] with 0 "
                                   f"{'<' if name in LOG_SCALE else '<='} low < high")
        chosen[name] = list(values)
    return chosen


def suggest(trial, space: dict) -> dict:
    """Draw one value per parameter of ``space`` (see :func:`model_space`) from an Optuna trial."""
    params = {}
    for name, values in space.items():
        if name in CATEGORICAL:
            params[name] = trial.suggest_categorical(name, values)
        else:
            params[name] = trial.suggest_float(name, float(values[0]), float(values[1]), log=name in LOG_SCALE)
    return params


def apply_params(params: dict, training: dict, model_spec: dict | None = None) -> tuple[dict, dict, dict, dict]:
    """Split chosen parameters by their target (``TARGETS``): (training settings, model settings, LoRA settings,
    baseline settings), each the given settings with the parameters written over them."""
    parts = {"training": dict(training), "model": dict(model_spec or {}), "lora": {}, "baseline": {}}
    for name, value in params.items():
        section, key = TARGETS[name].split(".", 1)
        parts[section][key] = value
    return parts["training"], parts["model"], parts["lora"], parts["baseline"]


def study_name(pretrained: str, strategy: str, train_size: int, fingerprint: dict) -> str:
    """The study's name in its journal: the model, the size, and a hash of what its trials depend on (space, base
    settings, seed; not the budget, so a larger budget extends the same study)."""
    digest = hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return f"{pretrained}/{strategy}/n{train_size}/{digest}"


def open_study(journal: str, name: str, sampler_seed: int, startup_trials: int, pruning: dict):
    """The study ``name`` in the journal file ``journal`` (created if new), with a seeded TPE sampler and the median
    pruner (``pruning``: enabled, startup_trials, warmup_epochs)."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    Path(journal).parent.mkdir(parents=True, exist_ok=True)
    storage = JournalStorage(JournalFileBackend(str(journal)))
    sampler = optuna.samplers.TPESampler(seed=sampler_seed, n_startup_trials=startup_trials)
    if pruning.get("enabled", True):
        pruner = optuna.pruners.MedianPruner(n_startup_trials=pruning.get("startup_trials", 3),
                                             n_warmup_steps=pruning.get("warmup_epochs", 2))
    else:
        pruner = optuna.pruners.NopPruner()
    return optuna.create_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner,
                               direction="maximize", load_if_exists=True)


def run_trial(journal: str, name: str, slot: int, space: dict, seed: int, objective, startup_trials: int = 5,
              pruning: dict | None = None) -> dict:
    """One trial of a study, in the slot ``slot``; returns its record (see :func:`trial_record`).

    If the journal already holds a finished trial (complete or pruned) of this slot, it is returned without
    training. A trial of this slot still marked running (its job was killed) is marked failed and the slot is asked
    again. ``objective(params, report)`` trains and returns the validation score to maximise; it calls
    ``report(epoch, score)`` per epoch, which raises ``optuna.TrialPruned`` when the median pruner stops the trial.
    The sampler's seed derives from ``seed`` and the slot: each job builds its sampler anew, so the same history
    gives the same parameters.
    """
    import optuna
    from optuna.trial import TrialState

    study = open_study(journal, name, derive_seed(seed, "tuning", name, "slot", slot), startup_trials,
                       pruning or {})
    mine = [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("slot") == slot]
    for trial in mine:
        if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
            log.info("slot %d: trial %d already %s in %s; not repeated", slot, trial.number, trial.state.name,
                     journal)
            return trial_record(trial, name, reused=True)
    for trial in mine:
        if trial.state == TrialState.RUNNING:  # its job was killed mid-way
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
            log.info("slot %d: trial %d was left running by a killed job; marked failed", slot, trial.number)
    trial = study.ask()
    trial.set_user_attr("slot", slot)
    params = suggest(trial, space)
    log.info("slot %d: trial %d with %s", slot, trial.number, params)

    def report(epoch: int, score: float) -> None:
        if np.isfinite(score):
            trial.report(float(score), epoch)
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {epoch} (validation score {score:.4f})")

    started = time.perf_counter()
    try:
        value = objective(params, report)
    except optuna.TrialPruned as pruned:
        log.info("slot %d: %s", slot, pruned)
        study.tell(trial, state=TrialState.PRUNED)
    except BaseException:
        study.tell(trial, state=TrialState.FAIL)
        raise
    else:
        if not np.isfinite(value):
            study.tell(trial, state=TrialState.FAIL)
            raise SeqtuneError(f"trial {trial.number} of {name}: validation score {value}; nothing to maximise")
        study.tell(trial, float(value))
    log.info("slot %d finished in %.1f s", slot, time.perf_counter() - started)
    finished = study.get_trials(deepcopy=False)[trial.number]
    return trial_record(finished, name, reused=False)


def trial_record(trial, name: str, reused: bool) -> dict:
    """What a trial's job writes: its slot, number, state, value, parameters, duration (and whether this job found
    it finished already)."""
    duration = trial.duration.total_seconds() if trial.duration is not None else None
    return {"study": name, "slot": trial.user_attrs.get("slot"), "number": trial.number, "state": trial.state.name,
            "value": trial.value, "params": dict(trial.params), "duration_seconds": duration,
            "epochs": len(trial.intermediate_values), **{k: v for k, v in trial.user_attrs.items() if k != "slot"},
            "reused": reused}


# -------------------------------------------------------------------------------------------------------- the data
def trial_rows(codes: str, manifest: str, train_size: int, seed: int):
    """The rows a trial may read: its training subset (the nested subset of ``train_size`` for run seed ``seed``,
    as ``finetune`` draws it) and the validation split; never a test record. Returns (train positions, validation
    positions, class index per position as a dict, the data set). The codes are memory-mapped, so test rows are not
    even read from disk; labels are mapped to classes for these rows only."""
    from .data import read_dataset, read_manifest
    from .split import training_subset

    data = read_dataset(codes)
    if data.multilabel:
        raise SeqtuneError(f"{codes}: fine-tuning targets must be single-label (binary or multi-class)")
    assignment = read_manifest(manifest, data)
    train = np.flatnonzero(assignment == "train")
    validation = np.flatnonzero(assignment == "validation")
    if validation.size == 0:
        raise SeqtuneError("the split has no validation examples; the search scores trials on them "
                           "(split.validation_fraction)")
    index = {label: i for i, label in enumerate(data.classes)}
    labels = data.labels["label"].astype(str).to_numpy()

    def classes_of(positions):
        values = pd.Series(labels[positions]).map(index)
        if values.isna().any():
            raise SeqtuneError(f"{codes}: labels outside the data set's classes {data.classes}")
        return values.to_numpy(dtype=np.int64).copy()  # writable: torch.from_numpy warns otherwise

    subset = training_subset(train, classes_of(train), train_size, derive_seed(seed, "subset"),
                             source=f"training split of {manifest}")
    return subset, validation, classes_of(subset), classes_of(validation), data


def _ids_digest(ids) -> str:
    return hashlib.sha256("\n".join(map(str, ids)).encode()).hexdigest()


def deep_objective(codes: str, manifest: str, strategy: str, train_size: int, seed: int, training: dict,
                   model_spec: dict | None = None, pretrained: str | None = None, threads: int = 1,
                   record: dict | None = None, gpus: int = 0, embeddings: str | None = None,
                   lora: dict | None = None, gradient_checkpointing: bool = False):
    """The objective of a deep model's trial: train ``strategy`` (from ``pretrained``, a seqtune model's weights or
    a Hugging Face checkpoint's base.json, or from scratch with ``model_spec``) on the training subset with the
    trial's parameters over ``training`` (and over ``lora``, for the strategy lora), stop early on the validation
    split, and return the restored epoch's validation AUROC. The model is built as the final run builds it
    (:func:`seqtune.runmodel.build_run_model`). ``record`` (a dict) receives what the trial read: counts and SHA-256
    of the training and validation ids."""
    from .runmodel import build_run_model
    from .train import Dataset, TrainSettings, configure_torch, fit, select_device

    subset, validation, y_train, y_validation, data = trial_rows(codes, manifest, train_size, seed)
    if record is not None:
        record.update({"n_train": int(subset.size), "n_validation": int(validation.size),
                       "train_ids_sha256": _ids_digest(data.ids[subset]),
                       "validation_ids_sha256": _ids_digest(data.ids[validation])})

    def objective(params: dict, report) -> float:
        settings_dict, spec_dict, lora_params, _ = apply_params(params, {"monitor": "val_score", **training},
                                                                model_spec)
        if lora_params and strategy != "lora":
            raise SeqtuneError(f"tuning.space.lora_rank applies to the strategy lora, which '{strategy}' is not")
        configure_torch(threads, seed)
        device = select_device(gpus)
        settings = TrainSettings.from_dict(settings_dict)
        built = build_run_model(data.codes, len(data.classes), strategy, subset, validation, device,
                                pretrained=pretrained, model_spec=spec_dict, embeddings=embeddings,
                                lora={**(lora or {}), **lora_params} if strategy == "lora" else None,
                                gradient_checkpointing=gradient_checkpointing,
                                dropout=params.get("dropout"), source=codes)
        train = Dataset.from_numpy(np.asarray(built.train_inputs), y_train, False, device)
        valid = Dataset.from_numpy(np.asarray(built.validation_inputs), y_validation, False, device)
        key = "val_auroc"
        _, best = fit(built.fit_model, train, valid, settings, strategy, seed,
                      on_epoch=lambda epoch, row: report(epoch, row[key]))
        return float(best[key])

    return objective


def set_dropout(model, p: float) -> None:
    """Set the rate of every dropout layer of ``model`` (a loaded pretrained model keeps its architecture's rate
    otherwise), and its spec's ``dropout``, so that the sidecar records the rate it trained with."""
    from dataclasses import is_dataclass, replace

    from torch import nn

    spec = getattr(model, "spec", None)
    if is_dataclass(spec) and hasattr(spec, "dropout"):
        model.spec = replace(spec, dropout=float(p))

    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = float(p)
    for module in model.modules():  # transformer layers keep a float copy of their rate
        if hasattr(module, "dropout") and isinstance(getattr(module, "dropout"), float):
            module.dropout = float(p)


def baseline_objective(codes: str, manifest: str, kind: str, train_size: int, seed: int, k: int = 3,
                       record: dict | None = None):
    """The objective of a baseline's trial: logistic regression at the trial's C on the training subset's features,
    scored by validation AUROC."""
    from .baselines import features, fit_logistic
    from .metrics import classification_metrics

    subset, validation, y_train, y_validation, data = trial_rows(codes, manifest, train_size, seed)
    if record is not None:
        record.update({"n_train": int(subset.size), "n_validation": int(validation.size),
                       "train_ids_sha256": _ids_digest(data.ids[subset]),
                       "validation_ids_sha256": _ids_digest(data.ids[validation])})
    x_train = features(kind, np.asarray(data.codes[subset]), k)
    x_validation = features(kind, np.asarray(data.codes[validation]), k)

    def objective(params: dict, report) -> float:
        model, _, _ = fit_logistic(x_train, y_train, x_validation, y_validation, seed, c_grid=(params["C"],),
                                   source=f"training subset of {train_size} from {manifest}", names=data.classes)
        probabilities = np.zeros((validation.size, len(data.classes)))
        probabilities[:, model.classes_] = model.predict_proba(x_validation)
        return float(classification_metrics(y_validation, probabilities, len(data.classes))["auroc"])

    return objective


# ------------------------------------------------------------------------------------------------- the pipeline step
def tune_trial(codes: str, manifest: str, output: str, journal: str, slot: int, strategy: str, train_size: int,
               seed: int, space: dict, study_seed: int, pretrained_name: str = "none", training: dict | None = None,
               model_spec: dict | None = None, pretrained: str | None = None, k: int = 3, startup_trials: int = 5,
               pruning: dict | None = None, threads: int = 1, gpus: int = 0, embeddings: str | None = None,
               lora: dict | None = None, gradient_checkpointing: bool = False) -> dict:
    """One trial slot of the study (``pretrained_name``, ``strategy``, ``train_size``): run it (or find it finished
    in ``journal``) and write its record to ``output`` (JSON). ``seed``: the run seed whose training subset the search
    uses; ``study_seed``: the config's seed, from which the sampler seeds derive."""
    searched = model_space(space, strategy)
    if not searched:
        raise SeqtuneError(f"tuning.space leaves nothing to search for {strategy}; set at least one parameter")
    name = study_name(pretrained_name, strategy, train_size,
                      {"space": searched, "training": training or {}, "model": model_spec or {}, "seed": seed,
                       "study_seed": study_seed, "k": k if strategy == "kmer_logreg" else None,
                       "pruning": pruning or {}, "startup_trials": startup_trials,
                       **({"lora": lora} if lora else {})})
    read: dict = {}
    if strategy in BASELINE_KINDS:
        objective = baseline_objective(codes, manifest, strategy, train_size, seed, k, record=read)
    else:
        objective = deep_objective(codes, manifest, strategy, train_size, seed, training or {}, model_spec,
                                   pretrained, threads, record=read, gpus=gpus, embeddings=embeddings, lora=lora,
                                   gradient_checkpointing=gradient_checkpointing)
    record = run_trial(journal, name, slot, searched, study_seed, objective, startup_trials, pruning)
    record.update({"space": searched, "read": {**read, "splits": ["train", "validation"]}})
    write_json(output, record)
    return record


def export_study(trial_files: list[str], journal: str, trials_tsv: str, chosen_json: str, budget: int) -> dict:
    """Every trial of the study the ``trial_files`` (one JSON per slot, of :func:`tune_trial`) belong to, from the
    journal, as a TSV (number, slot, state, value, duration, one column per parameter), and the best complete trial's
    parameters as JSON with the budget, the counts per state and the space."""
    import optuna

    records = [json.loads(Path(path).read_text()) for path in trial_files]
    if not records:
        raise SeqtuneError("tune-export needs the trial records of one study; none given")
    names = {record["study"] for record in records}
    if len(names) != 1:
        raise SeqtuneError(f"the trial records belong to several studies ({sorted(names)}); export one at a time")
    name = names.pop()
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    study = optuna.load_study(study_name=name, storage=JournalStorage(JournalFileBackend(str(journal))))
    slots = {record["slot"] for record in records}
    trials = [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("slot") in slots]
    rows = []
    for trial in trials:
        duration = trial.duration.total_seconds() if trial.duration is not None else None
        rows.append({"number": trial.number, "slot": trial.user_attrs.get("slot"), "state": trial.state.name,
                     "value": trial.value, "duration_seconds": duration, "epochs": len(trial.intermediate_values),
                     **{f"param_{key}": value for key, value in trial.params.items()}})
    frame = pd.DataFrame(rows).sort_values("number")
    write_tsv(trials_tsv, frame)
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    if not complete:
        raise SeqtuneError(f"study {name}: no trial completed (states: {sorted(set(frame['state']))}); see the "
                           "tune_trial logs")
    best = max(complete, key=lambda t: (t.value, -t.number))
    counts = frame["state"].value_counts()
    chosen = {"study": name, "params": dict(best.params), "value": best.value, "trial": best.number,
              "slot": best.user_attrs.get("slot"), "budget": int(budget), "space": records[0].get("space"),
              "trials": {state.lower(): int(counts.get(state, 0)) for state in ("COMPLETE", "PRUNED", "FAIL")},
              "score": "validation auroc", "sampler": "TPE", "pruner": "median"}
    write_json(chosen_json, chosen)
    log.info("study %s: best trial %d, validation AUROC %.4f, %s", name, best.number, best.value, best.params)
    return chosen


def read_chosen(path: str | None) -> dict | None:
    """The chosen-parameters JSON of a study (``export_study``), or None without one."""
    if not path:
        return None
    try:
        chosen = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise SeqtuneError(f"{path}: cannot read the chosen parameters ({error}); rerun tune-export") from None
    if "params" not in chosen:
        raise SeqtuneError(f"{path}: no 'params' in it; it is not a tune-export output")
    return chosen


def tuning_record(chosen: dict) -> dict:
    """What a final run's sidecar and model card say of its search."""
    return {"params": chosen["params"], "budget": chosen["budget"], "study": chosen["study"],
            "trials": chosen.get("trials"), "validation_score": chosen.get("value")}


# ---------------------------------------------------------------------------------------------- verdict and report
def read_studies(paths: list[str]) -> list[dict]:
    """The chosen-parameter records of every study, each with its trials table (``trials.tsv`` beside it)."""
    studies = []
    for path in paths:
        chosen = read_chosen(path)
        trials = Path(path).with_name("trials.tsv")
        chosen["trials_table"] = pd.read_csv(trials, sep="\t") if trials.exists() else pd.DataFrame()
        pretrained, strategy, size = chosen["study"].split("/")[:3]
        chosen.update({"pretrained": pretrained, "strategy": strategy, "train_size": int(size.lstrip("n"))})
        studies.append(chosen)
    return studies


def budget_sentence(studies: list[dict]) -> str:
    """The verdict's statement of the search: the budget every model had, or which differed."""
    if not studies:
        return ""
    budgets = sorted({study["budget"] for study in studies})
    models = sorted({f"{s['strategy']}" + ("" if s["pretrained"] == "none" else f":{s['pretrained']}")
                     for s in studies})
    if len(budgets) == 1:
        return (f"Every model ({', '.join(models)}) had its hyperparameters searched with the same budget of "
                f"{budgets[0]} trials per train size (Optuna TPE, median pruning), scored on the validation split "
                "only; the final runs use each model's chosen parameters.")
    return (f"The models' search budgets DIFFER ({budgets} trials): the comparison is not on equal terms; give "
            "every study the same tuning.n_trials.")


def tuning_section(paths: list[str], image) -> str:
    """The report's section: per model and train size, the chosen values, the best validation AUROC and the trial
    counts, and a figure of each study's history (validation AUROC per trial, best so far as a line).
    ``image(figure, alt)``: the report's embedding of a matplotlib figure."""
    import html

    import matplotlib.pyplot as plt

    studies = read_studies(paths)
    if not studies:
        return ""
    rows = []
    for s in studies:
        counts = s.get("trials") or {}
        rows.append({"model": s["strategy"] + ("" if s["pretrained"] == "none" else f":{s['pretrained']}"),
                     "train_size": s["train_size"], "budget": s["budget"], "complete": counts.get("complete"),
                     "pruned": counts.get("pruned"), "failed": counts.get("fail"),
                     "best validation AUROC": round(s["value"], 4),
                     **{name: (f"{value:.3g}" if isinstance(value, float) else value)
                        for name, value in s["params"].items()}})
    table = pd.DataFrame(rows).sort_values(["model", "train_size"])
    sizes = sorted({s["train_size"] for s in studies})
    figure, axes = plt.subplots(1, len(sizes), figsize=(4.2 * len(sizes), 3.2), squeeze=False)
    for axis, size in zip(axes[0], sizes):
        for s in sorted((s for s in studies if s["train_size"] == size), key=lambda s: s["study"]):
            trials = s["trials_table"]
            if trials.empty:
                continue
            trials = trials.sort_values("number")
            label = s["strategy"] + ("" if s["pretrained"] == "none" else f":{s['pretrained']}")
            done = trials["state"].isin(["COMPLETE", "PRUNED"])
            line = axis.plot(np.arange(len(trials))[done.to_numpy()], trials.loc[done, "value"], "o", ms=3,
                             alpha=0.6)[0]
            best = trials["value"].where(trials["state"] == "COMPLETE").cummax()
            axis.plot(np.arange(len(trials)), best, "-", color=line.get_color(), label=label)
        axis.set_title(f"{size} training examples")
        axis.set_xlabel("trial")
        axis.set_ylabel("validation AUROC")
    axes[0][0].legend(fontsize=7)
    figure.tight_layout()
    picture = image(figure, "search history")
    plt.close(figure)
    return (f"<h2 id=\"tuning\">Hyperparameter search</h2><p>{html.escape(budget_sentence(studies))} Each study "
            "searched on the training subset of one seed and its validation split (never the test split); dots are "
            "trials (pruned ones at their last reported epoch), lines the best complete trial so far.</p>"
            + picture + table.to_html(index=False, border=0, na_rep=""))
