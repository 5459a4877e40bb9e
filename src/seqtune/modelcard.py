"""Model cards: what a fine-tuned model is, what it was trained and tested on, how well it did, and what not to use it
for; one JSON (for programs) and one Markdown file (for people) beside its weights."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from .io import atomic_open, finite_json, read_json, sha256_file, write_json

log = logging.getLogger("seqtune")

FORMAT = "seqtune-model-card/1"
HEADLINE_METRICS = ("auroc", "auprc", "accuracy", "balanced_accuracy", "f1_macro", "mcc")
SMALL_TRAINING_SET = 1000  # fewer training examples than this is a "small n" caveat

# What training.monitor watches, in words (a classifier's validation score is its AUROC on the validation split).
MONITOR_WORDS = {"val_loss": "the validation loss", "val_score": "the validation AUROC"}


def model_id(pretrained: str, strategy: str) -> str:
    """The model's name in metrics.tsv: ``stats.run_label``, repeated here because importing ``stats`` (scipy,
    scikit-learn) would triple the start-up of this step, which runs once per trained model."""
    return strategy if pretrained in ("none", "", None) else f"{strategy}:{pretrained}"




def _over_seeds(metrics: dict, model: str, train_size: int) -> dict | None:
    """The aggregate row of ``model`` at ``train_size`` from metrics.json: n seeds, then mean, sd and 95% CI per
    metric."""
    for row in metrics.get("summary", []):
        if row.get("model") == model and int(row.get("train_size", -1)) == train_size:
            return {"n_seeds": row.get("n_seeds"),
                    **{metric: {key: row.get(f"{metric}_{key}") for key in ("mean", "sd", "ci_low", "ci_high")}
                       for metric in HEADLINE_METRICS if f"{metric}_mean" in row}}
    return None


def _gain(metrics: dict, model: str, train_size: int) -> dict | None:
    for row in metrics.get("transfer_gain", []):
        if row.get("model") == model and int(row.get("train_size", -1)) == train_size and \
                row.get("reference", "scratch") == "scratch" and row.get("eval_subset", "all") == "all":
            return {key: row.get(key) for key in ("reference", "metric", "n_seeds", "mean_gain", "sd_gain", "ci_low",
                                                  "ci_high", "p_value")}
    return None


def _limitations(data: dict, split: dict, sidecar: dict, pretraining: dict | None) -> list[str]:
    limits = []
    if data.get("source") == "simulate":
        rule = ", ".join(data.get("rule", {}).get("all_of", []))
        limits.append("Trained and tested on simulated sequences (a Markov background with JASPAR motifs planted"
                      + (f"; positive when all of {rule} are present" if rule else "")
                      + "): it has learnt a synthetic grammar, not the biology of any genome. Its scores say nothing "
                        "about real regulatory sequences.")
    else:
        limits.append(f"Trained on one {data.get('source')} data set; expect lower accuracy on sequences from other "
                      "assays, cell types, species or sequence lengths.")
    train_size = int(sidecar.get("train_size", 0))
    if train_size < SMALL_TRAINING_SET:
        limits.append(f"Small training set ({train_size} examples): test metrics vary between seeds (see the spread "
                      "over seeds); do not read a single run's number as the model's performance.")
    if split.get("method") in ("stratified", None):
        limits.append("The test split is a random (stratified) draw from the same data: it measures in-distribution "
                      "performance only; homologous sequences may sit on both sides of the split.")
    limits.append(f"Input: exactly {sidecar.get('length')} nt of A, C, G, T (N allowed as an all-zero column); "
                  "other lengths must be cropped or padded the same way as the training data.")
    if pretraining and pretraining.get("corpus", {}).get("source") == "simulate":
        limits.append("Pretrained on a simulated corpus as well; transfer to real sequences is not tested.")
    limits.append("Probabilities were not recalibrated; check calibration (the report's reliability diagram) before "
                  "using them as probabilities.")
    return limits


def _intended_use(sidecar: dict, data: dict) -> list[str]:
    if sidecar.get("shuffle_labels"):
        return ["A negative control, trained on permuted labels: it must score at chance. Do not use it to predict."]
    classes = ", ".join(map(str, data.get("classes", [])))
    return [f"Research use: classifying {sidecar.get('length')}-nt DNA sequences into {classes}, like those of the "
            f"training data, and comparing fine-tuning with training from scratch (seqtune's question).",
            "Not for clinical, diagnostic or any decision about people; not validated outside its test split."]


def build_card(sidecar: dict, run_metrics: dict, metrics: dict, data: dict, split: dict,
               pretrained_sidecar: dict | None = None, pretrained_data: dict | None = None,
               interpretation: dict | None = None, names: dict | None = None) -> dict:
    """The model card as a dict, from the run's files (already read).

    Parameters
    ----------
    sidecar : dict
        The fine-tuned model's ``model.json``.
    run_metrics : dict
        This run's ``evaluate/.../metrics.json`` (its identity and test metrics).
    metrics : dict
        The aggregate ``metrics.json`` (summary over seeds, gains over scratch).
    data, split : dict
        The target's ``dataset.json`` and ``split/<target>/summary.json``.
    pretrained_sidecar, pretrained_data : dict, optional
        The pretrained model's ``model.json`` and its corpus's ``dataset.json`` (none for scratch).
    interpretation : dict, optional
        This run's interpretation summary (``interpret/.../interpretation.json``), when it was interpreted.
    names : dict, optional
        Paths to record: ``weights``, ``data``, ``pretrained_data``.
    """
    from . import __version__

    names = names or {}
    pretrained_name, strategy = str(run_metrics.get("pretrained", "none")), str(run_metrics.get("strategy"))
    train_size = int(run_metrics.get("train_size", sidecar.get("train_size", 0)))
    model = model_id(pretrained_name, strategy)
    pretraining = None
    if pretrained_sidecar is not None and pretrained_sidecar.get("format") == "seqtune-hf-base/1":
        pretraining = {"name": pretrained_name, "weights": sidecar.get("pretrained"), "huggingface": {
            key: pretrained_sidecar.get(key) for key in ("path", "sha256", "model_type", "architectures",
                                                         "num_hidden_layers", "hidden_size", "pooling",
                                                         "tokenizer", "tokens_per_sequence", "trust_remote_code")},
            "stored": sidecar.get("stored")}
    elif pretrained_sidecar is not None:
        corpus = pretrained_data or {}
        pretraining = {
            "name": pretrained_name, "weights": sidecar.get("pretrained"),
            "objective": pretrained_sidecar.get("objective"), "mask_fraction": pretrained_sidecar.get("mask_fraction"),
            "task": pretrained_sidecar.get("task"), "outputs": pretrained_sidecar.get("classes"),
            "n_train": pretrained_sidecar.get("n_train"), "training": pretrained_sidecar.get("training"),
            "validation": pretrained_sidecar.get("validation"),
            "corpus": {"path": names.get("pretrained_data", pretrained_sidecar.get("data")),
                       "source": corpus.get("source"), "type": corpus.get("type"),
                       "n_sequences": corpus.get("n_sequences"), "length": corpus.get("length"),
                       "classes": corpus.get("classes"), "class_names": corpus.get("class_names")}}
    test = {metric: run_metrics.get(metric) for metric in HEADLINE_METRICS if metric in run_metrics}
    card = {
        "format": FORMAT,
        "name": f"{model}, {train_size} training examples, seed {run_metrics.get('seed')}",
        "model": {"id": model, "weights": names.get("weights"), "weights_sha256": names.get("weights_sha256"),
                  "architecture": sidecar.get("model"), "n_outputs": sidecar.get("n_outputs"),
                  "classes": sidecar.get("classes"), "alphabet": sidecar.get("alphabet"),
                  "length": sidecar.get("length"), "trained_with_seqtune": sidecar.get("seqtune_version"),
                  "card_written_by_seqtune": __version__},
        "run": {"pretrained": pretrained_name, "strategy": strategy, "train_size": train_size,
                "seed": run_metrics.get("seed"), "training_seed": sidecar.get("seed"),
                "shuffled_labels": bool(sidecar.get("shuffle_labels"))},
        "data": {"path": names.get("data"), "source": data.get("source"), "type": data.get("type"),
                 "n_sequences": data.get("n_sequences"), "length": data.get("length"), "classes": data.get("classes"),
                 "class_counts": data.get("class_counts"), "rule": data.get("rule"),
                 "distractors": data.get("distractors"), "label_noise": data.get("label_noise"),
                 "simulation": data.get("simulation")},
        "split": {key: split.get(key) for key in ("method", "totals", "counts", "validation_fraction",
                                                  "test_fraction", "validation_chroms", "test_chroms",
                                                  "similarity_k", "similarity_threshold") if key in split},
        "pretraining": pretraining,
        "training": {"strategy": sidecar.get("strategy"), "settings": sidecar.get("training"),
                     "train_size": sidecar.get("train_size"), "head_replaced": sidecar.get("head_replaced"),
                     "validation": sidecar.get("validation"),
                     # the hyperparameter search behind the settings (tuning.enabled): parameters, budget, study
                     **({"tuning": sidecar["tuning"]} if sidecar.get("tuning") else {})},
        "evaluation": {"split": "test", "n_test": run_metrics.get("n_test"),
                       "primary_metric": metrics.get("primary_metric"), "this_run": test,
                       "confusion_matrix": run_metrics.get("confusion_matrix"),
                       "decision": run_metrics.get("decision"),
                       "same_model_and_size_over_seeds": _over_seeds(metrics, model, train_size),
                       "gain_over_scratch": _gain(metrics, model, train_size)},
        "interpretation": None if interpretation is None else {
            "relevant_motifs": interpretation.get("relevant_motifs"), "n_sequences": interpretation.get("n_sequences"),
            "position_score": interpretation.get("position_score"),
            "motif_recovery": {method: {site_set: {key: value for key, value in result.items()}
                                        for site_set, result in recovery.items() if site_set != "per_motif"}
                               for method, recovery in interpretation.get("recovery", {}).items()}},
        "intended_use": _intended_use(sidecar, data),
        "limitations": _limitations(data, split, sidecar, pretraining),
    }
    return finite_json(card)


def _number(value, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _mean_sd(entry: dict | None) -> str:
    if not entry or entry.get("mean") is None:
        return "n/a"
    return _number(entry["mean"]) + (f" ± {_number(entry['sd'])}" if entry.get("sd") is not None else "")


def render_markdown(card: dict) -> str:
    """The card as Markdown."""
    data, split, run, training = card["data"], card["split"], card["run"], card["training"]
    evaluation, pretraining = card["evaluation"], card["pretraining"]
    architecture = card["model"]["architecture"] or {}
    lines = [f"# Model card: {card['name']}", ""]
    lines += ["## Model", "",
              f"* Weights: `{card['model']['weights']}` (sha256 `{card['model']['weights_sha256']}`)",
              f"* Architecture: {architecture.get('architecture')} "
              + ", ".join(f"{key} {value}" for key, value in sorted(architecture.items()) if key != "architecture"),
              f"* Outputs: {', '.join(map(str, card['model']['classes'] or []))}; input {card['model']['length']} nt "
              f"({card['model']['alphabet']}, one-hot)",
              f"* Trained with seqtune {card['model']['trained_with_seqtune']}", ""]
    counts = ", ".join(f"{label}: {count}" for label, count in (data.get("class_counts") or {}).items())
    lines += ["## Data", "",
              f"* Data set `{data['path']}`: source {data['source']}, {data['type']}, {data['n_sequences']} sequences "
              f"of {data['length']} nt; classes {counts or ', '.join(map(str, data.get('classes') or []))}"]
    if data.get("rule"):
        lines.append(f"* Simulated grammar: positive when all of {', '.join(data['rule'].get('all_of', []))} are "
                     f"present; distractors {', '.join(data.get('distractors') or []) or 'none'}; label noise "
                     f"{data.get('label_noise')}")
    totals = ", ".join(f"{name} {count}" for name, count in (split.get("totals") or {}).items())
    lines += [f"* Split: {split.get('method')} ({totals})", ""]
    lines += ["## Pretraining", ""]
    if pretraining and "huggingface" in pretraining:
        base = pretraining["huggingface"]
        lines += [f"* Hugging Face checkpoint `{base['path']}` ({base['model_type']}, {base['num_hidden_layers']} "
                  f"layers of {base['hidden_size']}), pretrained elsewhere; weight files "
                  + ", ".join(f"`{name}` sha256 `{digest}`" for name, digest in (base["sha256"] or {}).items()),
                  f"* Input: {base['tokens_per_sequence']} tokens per sequence from the checkpoint's tokenizer "
                  f"({base['tokenizer']}), {base['pooling']} pooling; this file stores {pretraining['stored']} "
                  "(the rest is read from the checkpoint, which must keep these checksums)", ""]
    elif pretraining:
        corpus = pretraining["corpus"]
        lines += [f"* Pretrained model `{pretraining['name']}` (`{pretraining['weights']}`), objective "
                  f"{pretraining['objective']}, trained on {pretraining['n_train']} sequences of corpus "
                  f"`{corpus['path']}` (source {corpus['source']}, {corpus['type']}, {corpus['n_sequences']} "
                  f"sequences of {corpus['length']} nt)", ""]
    else:
        lines += ["* None: trained from random weights (scratch).", ""]
    settings = training.get("settings") or {}
    head = training.get("head_replaced")
    lines += ["## Training", "",
              f"* Strategy {run['strategy']}" + (" (labels shuffled: a negative control)" if run["shuffled_labels"]
                                                 else ""),
              f"* {run['train_size']} training examples, run seed {run['seed']}",
              "* Settings: " + ", ".join(f"{key} {value}" for key, value in sorted(settings.items())),
              *([f"* Hyperparameters chosen by a search of {training['tuning']['budget']} trials on the validation "
                 "split (the same budget for every model): " + ", ".join(
                     f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}"
                     for key, value in sorted(training["tuning"]["params"].items()))]
                if training.get("tuning") else []),
              "* Head: " + (f"replaced, {head['old_outputs']} -> {head['new_outputs']} outputs" if head
                            else "new (scratch)"),
              f"* Best epoch {(training.get('validation') or {}).get('best_epoch')} of "
              f"{(training.get('validation') or {}).get('epochs_run')} (early stopping on "
              f"{MONITOR_WORDS.get(settings.get('monitor', 'val_loss'), settings.get('monitor'))})", ""]
    over = evaluation.get("same_model_and_size_over_seeds") or {}
    lines += ["## Evaluation (test split)", "",
              f"{evaluation['n_test']} test sequences. Over seeds: the same model and train size, "
              f"{over.get('n_seeds', 'n/a')} seeds.", "",
              "| metric | this run | mean ± sd over seeds |", "|---|---|---|"]
    for metric, value in evaluation["this_run"].items():
        lines.append(f"| {metric} | {_number(value)} | {_mean_sd(over.get(metric))} |")
    decision = evaluation.get("decision") or {}
    if decision.get("threshold") is not None:
        cut = _number(decision["threshold"])
        lines += ["", f"Accuracy, balanced accuracy, F1 and MCC at a probability cut of {cut} "
                      f"for '{card['model']['classes'][1]}', chosen on the validation split (balanced accuracy "
                      f"{_number(decision.get('validation_balanced_accuracy'))} there, against "
                      f"{_number(decision.get('validation_balanced_accuracy_at_0.5'))} at 0.5); `seqtune predict "
                      "--decision-from` applies the same cut."]
    gain = evaluation.get("gain_over_scratch")
    if gain and gain.get("mean_gain") is not None:
        lines += ["", f"Gain over scratch in {gain['metric']} (paired by seed): {_number(gain['mean_gain'])} (95% CI "
                      f"{_number(gain['ci_low'])} to {_number(gain['ci_high'])}, {gain['n_seeds']} seeds)."]
    lines.append("")
    if card.get("interpretation"):
        lines += ["## Interpretation", "",
                  f"Motif recovery on {card['interpretation']['n_sequences']} test sequences (planted sites of "
                  f"{', '.join(card['interpretation']['relevant_motifs'] or [])} as ground truth):", "",
                  "| method | AUROC | precision at k |", "|---|---|---|"]
        for method, recovery in card["interpretation"]["motif_recovery"].items():
            relevant = recovery.get("relevant", {})
            lines.append(f"| {method} | {_number(relevant.get('auroc'))} | {_number(relevant.get('precision_at_k'))} |")
        lines.append("")
    lines += ["## Intended use", ""] + [f"* {item}" for item in card["intended_use"]] + [""]
    lines += ["## Limitations", ""] + [f"* {item}" for item in card["limitations"]] + [""]
    return "\n".join(lines)


def model_card(weights: str | os.PathLike, sidecar: str, run_metrics: str, metrics_json: str, dataset_json: str,
               split_summary: str, out_json: str, out_md: str, pretrained_sidecar: str | None = None,
               pretrained_dataset: str | None = None, interpretation: str | None = None) -> dict:
    """Write a fine-tuned model's card as JSON and Markdown (atomically); returns the card.

    ``weights`` is the model's .safetensors (named and hashed in the card) and ``sidecar`` its ``.json``;
    ``run_metrics`` the run's test ``metrics.json``; ``metrics_json`` the aggregate over runs; ``dataset_json`` and
    ``split_summary`` describe the target data and its split; ``pretrained_sidecar`` and ``pretrained_dataset`` the
    pretrained model and its corpus (none for scratch); ``interpretation`` the run's interpretation summary when it
    was interpreted.
    """
    card = build_card(
        read_json(sidecar), read_json(run_metrics), read_json(metrics_json), read_json(dataset_json),
        read_json(split_summary),
        read_json(pretrained_sidecar) if pretrained_sidecar else None,
        read_json(pretrained_dataset) if pretrained_dataset else None,
        read_json(interpretation) if interpretation else None,
        names={"weights": str(weights), "weights_sha256": sha256_file(weights), "data": str(Path(dataset_json).parent),
               "pretrained_data": str(Path(pretrained_dataset).parent) if pretrained_dataset else None})
    write_json(out_json, card)
    with atomic_open(out_md) as handle:
        handle.write(render_markdown(card))
    log.info("wrote model card %s", out_md)
    return card
