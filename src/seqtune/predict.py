"""Prediction on new data: a FASTA, TSV/CSV or BED + genome input through a saved model, streamed chunk by chunk."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time

import numpy as np
import pandas as pd

from .errors import SeqtuneError
from .inputs import CHUNK_SIZE, InputSpec, encoded_chunks, iter_records, open_genome, table_separator
from .io import PROBABILITY_FORMAT, atomic_open, read_json
from .metrics import decide

log = logging.getLogger("seqtune")


def _choose_device(device):
    import torch

    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def check_fine_tuned(weights, sidecar: dict) -> None:
    """Refuse a masked-nucleotide pretrained model: its outputs are the bases at each position, not a class of the
    sequence, so its "predictions" would look like probabilities and mean nothing. A supervised pretrained model
    predicts its own pretraining task's classes (its output columns name them), which is a legitimate use."""
    if sidecar.get("role") != "pretrained":
        return
    if sidecar.get("objective") == "masked" or sidecar.get("task") == "masked_nucleotide":
        raise SeqtuneError(f"{weights}: is a masked-nucleotide pretrained model (role: pretrained, objective: masked; "
                           "its outputs are bases, not classes of a sequence); give the weights of a fine-tuned "
                           "model (results/finetune/<pretrained>/<strategy>/n<size>/seed<seed>/model.safetensors)")
    log.warning("%s is a pretrained model: these are predictions of its pretraining task's classes (%s), not of a "
                "fine-tuned target", weights, ", ".join(map(str, sidecar.get("classes", [])[:4])))


def prediction_rows(ids: list[str], probabilities: np.ndarray, classes: list[str], multilabel: bool,
                    threshold: float | None = None) -> pd.DataFrame:
    """The output table of one chunk: ``id``, ``predicted_label``, ``prob_<class>`` per class.

    ``predicted_label`` is the most probable class (for a binary model with a ``threshold``: the second class where
    its probability is at least the threshold, see :func:`seqtune.metrics.decide`), or for multi-label models the
    classes with probability >= 0.5 joined by ``;`` (empty when none is).

    Parameters
    ----------
    probabilities : numpy.ndarray, shape (n, K), K = len(classes)
    """
    class_names = np.asarray(classes, dtype=object)
    if multilabel:  # "a;c": each class at >= 0.5 followed by ";", built column by column, the last ";" dropped
        joined = np.full(len(probabilities), "", dtype=object)
        for index, name in enumerate(class_names):
            joined = joined + np.where(probabilities[:, index] >= 0.5, f"{name};", "").astype(object)
        predicted = pd.Series(joined, dtype=object).str[:-1].to_numpy(dtype=object)
    else:
        predicted = class_names[decide(probabilities, threshold)]
    frame = pd.DataFrame({"id": ids, "predicted_label": predicted})
    for index, name in enumerate(classes):
        frame[f"prob_{name}"] = probabilities[:, index]
    return frame


def predict_file(weights: str | os.PathLike, input_spec: dict, output_tsv: str | os.PathLike, batch_size: int = 512,
                 rc_average: bool = False, device=None, chunk_size: int = CHUNK_SIZE,
                 decision_from: str | os.PathLike | None = None) -> int:
    """Predict every record of an input file with a saved model, writing one TSV row per record in input order.

    The input is read record by record and encoded ``chunk_size`` records at a time into uint8 codes (n, L) (never
    all sequences as strings), predicted with ``seqtune.train.predict_proba`` and appended to a temporary file that
    replaces ``output_tsv`` only when every record has been predicted.

    Parameters
    ----------
    weights : path
        A ``.safetensors`` file with its JSON sidecar (``classes``, ``length``, ``task``), as written by
        ``seqtune.weights.save_model``.
    input_spec : dict
        As for ``seqtune.inputs.import_dataset`` (see ``seqtune.inputs.InputSpec``): ``source``, ``path`` /
        ``paths``, ``genome``, ``id_column``, ``sequence_column``, ``length_policy``, ``ambiguous``; label and
        split keys are accepted and ignored. Sequences are fitted to the model's length by ``length_policy``.
    output_tsv : path
        Columns ``id``, ``predicted_label``, ``prob_<class>`` for each class in the model's order; gzipped when the
        name ends in ``.gz``; ``-`` writes to standard output.
    batch_size : int
        Sequences per forward pass.
    rc_average : bool
        Average the model's outputs over both strands.
    device : str or torch.device, optional
        ``None`` chooses CUDA when available, else the CPU.
    decision_from : path, optional
        The ``metrics.json`` of this model's evaluation: its ``decision`` (the threshold chosen on the validation
        split) gives ``predicted_label``. Without it, the most probable class.

    Returns
    -------
    int
        The number of records predicted.
    """
    import torch

    from .train import prediction_module, predict_proba
    from .weights import load_model

    started = time.perf_counter()
    model, sidecar = load_model(weights)
    check_fine_tuned(weights, sidecar)
    classes = [str(name) for name in sidecar.get("classes", [])]
    length = sidecar.get("length")
    if not classes or not isinstance(length, int):
        raise SeqtuneError(f"{weights}: the sidecar lacks 'classes' or 'length'; it was not written by a seqtune "
                           "training step, retrain or pair the weights with their own sidecar")
    if len(classes) != model.n_outputs:
        raise SeqtuneError(f"{weights}: the sidecar lists {len(classes)} classes but the model has "
                           f"{model.n_outputs} outputs; the sidecar belongs to another model")
    multilabel = sidecar.get("task") == "multilabel"
    threshold = decision_threshold(decision_from, classes) if decision_from else None
    spec = InputSpec.from_dict(input_spec, need_labels=False, where="prediction input")
    device = _choose_device(device)
    model.to(device)
    model = prediction_module(model, sidecar.get("training", {}))
    n_records = 0
    genome_context = open_genome(spec.genome) if spec.source == "bed" else contextlib.nullcontext()
    # "-": standard output, for pipes (nothing to replace atomically there)
    output = contextlib.nullcontext(sys.stdout) if str(output_tsv) == "-" else atomic_open(output_tsv)
    separator = table_separator(output_tsv)  # a name ending in .csv or .csv.gz: comma-separated, as it says
    with genome_context as genome, output as handle:
        records = iter_records(spec, genome, length, need_labels=False)
        for chunk in encoded_chunks(records, length, spec.length_policy, spec.ambiguous, chunk_size):
            codes = torch.from_numpy(chunk.codes).to(device)
            probabilities = predict_proba(model, codes, multilabel, batch_size=batch_size, rc_average=rc_average)
            frame = prediction_rows([record.id for record in chunk.records], probabilities, classes, multilabel,
                                    threshold)
            frame.to_csv(handle, sep=separator, index=False, header=n_records == 0, float_format=PROBABILITY_FORMAT,
                         lineterminator="\n")
            n_records += len(frame)
    log.info("predicted %d records from %s with %s in %.1f s", n_records, spec.path or spec.paths, weights,
             time.perf_counter() - started)
    return n_records


def decision_threshold(metrics_json: str | os.PathLike, classes: list[str]) -> float | None:
    """The decision threshold an evaluation chose (``decision.threshold`` of its metrics.json; ``None``: the most
    probable class), checked against the model's classes."""
    metrics = read_json(metrics_json)
    decision = metrics.get("decision")
    if not isinstance(decision, dict) or "threshold" not in decision:
        raise SeqtuneError(f"{metrics_json}: no 'decision' entry; it was written by an older seqtune, rerun "
                           "seqtune evaluate for this model")
    if [str(name) for name in metrics.get("classes", [])] != classes:
        raise SeqtuneError(f"{metrics_json}: its classes {metrics.get('classes')} are not the model's {classes}; "
                           "pass the metrics.json of this model's own evaluation")
    return decision["threshold"]


class Predictor:
    """Probabilities of batches of sequences from saved weights: the one call other steps score through
    (``seqtune.variants``), so that a model taking another input (token ids) can be switched in here.

    ``predictor(codes)``: uint8 codes (n, length) to probabilities (n, K) as float32, K = ``len(classes)``, in
    batches of ``batch_size`` on the model's device, averaged over both strands when ``rc_average``.
    """

    def __init__(self, weights: str | os.PathLike, device=None, batch_size: int = 512, rc_average: bool = False):
        from .train import prediction_module
        from .weights import load_model

        model, sidecar = load_model(weights)
        check_fine_tuned(weights, sidecar)
        self.classes = [str(name) for name in sidecar.get("classes", [])]
        self.length = sidecar.get("length")
        if not self.classes or not isinstance(self.length, int):
            raise SeqtuneError(f"{weights}: the sidecar lacks 'classes' or 'length'; it was not written by a seqtune "
                               "training step, retrain or pair the weights with their own sidecar")
        if len(self.classes) != model.n_outputs:
            raise SeqtuneError(f"{weights}: the sidecar lists {len(self.classes)} classes but the model has "
                               f"{model.n_outputs} outputs; the sidecar belongs to another model")
        self.multilabel = sidecar.get("task") == "multilabel"
        self.device = _choose_device(device)
        self.batch_size, self.rc_average = batch_size, rc_average
        self.module = prediction_module(model.to(self.device), sidecar.get("training", {}))

    def __call__(self, codes: np.ndarray) -> np.ndarray:
        import torch

        from .train import predict_proba

        tensor = torch.from_numpy(np.ascontiguousarray(codes)).to(self.device)
        return predict_proba(self.module, tensor, self.multilabel, batch_size=self.batch_size,
                             rc_average=self.rc_average)


def load_predictor(weights: str | os.PathLike, device=None, batch_size: int = 512,
                   rc_average: bool = False) -> Predictor:
    """A :class:`Predictor` for ``weights`` (checked: a sidecar with classes and length that fit the model)."""
    return Predictor(weights, device, batch_size, rc_average)
