"""Checks over all records of an import: labels, splits, the classes and their order."""

from __future__ import annotations

import logging

import pandas as pd

from ..errors import SeqtuneError
from .spec import MISSING_LABELS, SPLIT_NAMES, InputSpec, Record

log = logging.getLogger("seqtune")


def class_order(labels: pd.Series, positive_class: str | None, inputs: str) -> list[str]:
    """The classes in model-output order: the sorted label strings, with ``positive_class`` (two classes only) moved
    last, so that output 1 is the positive class. ``inputs`` names the files in errors."""
    classes = sorted(labels.unique().tolist())
    if len(classes) < 2:
        raise SeqtuneError(f"{inputs}: every record has the label '{classes[0]}'; a classifier needs at least two "
                           "classes. Check the label column/tokens, or add records of the other class(es)")
    if positive_class is None:
        return classes
    if positive_class not in classes:
        raise SeqtuneError(f"{inputs}: positive_class '{positive_class}' is not a label of this data; its labels are "
                           f"{classes}. Set positive_class to one of them (the case counts)")
    if len(classes) != 2:
        raise SeqtuneError(f"{inputs}: positive_class applies to two classes; this data has {len(classes)} "
                           f"({classes}). Remove positive_class")
    return [label for label in classes if label != positive_class] + [positive_class]


def _apply_side_table(records: list[Record], side_labels: dict[str, str], side_splits: dict[str, str] | None,
                      table_path: str) -> None:
    for record in records:
        if record.id not in side_labels:
            raise SeqtuneError(f"{record.where()}: no label for this id in {table_path}; add a row for it there or "
                               "remove the record")
        record.label = side_labels[record.id]
        if side_splits is not None:
            record.split = side_splits[record.id]
    unused = len(side_labels) - len(records)
    if unused > 0:
        log.warning("%s: %d id(s) have a label but no sequence; they are ignored", table_path, unused)


def _check_labels(records: list[Record], spec: InputSpec, where) -> None:
    """Every record has a label that is a class name (not empty, not a missing-value marker, not quoted); labels
    that differ only in case get a warning. ``where(record)`` says where to fix a record."""
    for record in records:
        missing = record.label is None or record.label == ""
        if not missing and not record.label.isprintable():
            raise SeqtuneError(f"{where(record)}: label {record.label!r} holds a tab, line break or control "
                               "character; write the class name on one line (spaces are fine in a table)")
        if missing or record.label in MISSING_LABELS or record.label[:1] in "\"'":
            fix = {"fasta": f"fill in its '{spec.label_column}' cell" if spec.labels else
                   f"add '{spec.label_column}=<class>' to its header or give a labels table",
                   "tsv": f"fill in column '{spec.label_column}'",
                   "bed": f"fill in column {spec.label_column}"}[spec.source]
            if missing:
                problem = "missing label"
            elif record.label in MISSING_LABELS:
                problem, fix = (f"label '{record.label}' is how spreadsheets and R write a missing value",
                                fix + " with a class name")
            else:
                problem, fix = (f"label {record.label} starts with a quote", "a header token ends at the first "
                                f"space, so write e.g. {spec.label_column}=open_chromatin (no quotes, no spaces), or "
                                "give a labels table")
            raise SeqtuneError(f"{where(record)}: {problem}; {fix}")
    by_number: dict[float, list[str]] = {}
    for record in records:
        try:
            value = float(record.label)
        except ValueError:
            continue
        variants = by_number.setdefault(value, [])
        if record.label not in variants:
            variants.append(record.label)
            if len(variants) > 1:
                raise SeqtuneError(f"{where(record)}: label '{record.label}' is the same number as label "
                                   f"'{variants[0]}', written another way (as spreadsheets do), and would be a "
                                   "class of its own; write each class one way throughout")
    by_case: dict[str, set[str]] = {}
    for label in {record.label for record in records}:
        by_case.setdefault(label.casefold(), set()).add(label)
    for variants in by_case.values():
        if len(variants) > 1:
            log.warning("%s: labels %s differ only in case and are different classes; make them one if they are "
                        "meant to be", spec.path or spec.files()[0][1], ", ".join(f"'{v}'" for v in sorted(variants)))


def _labels_table(records: list[Record], spec: InputSpec) -> pd.DataFrame:
    """``id``, ``label`` [, ``chrom``, ``start``, ``end``, ``strand``] [, ``split``], after checking every record has
    a label and a valid split."""
    # A FASTA's labels (and splits) may come from a side table: then the table is where to fix them.
    def where(record: Record) -> str:
        return f"{spec.labels}, id '{record.id}'" if spec.labels else record.where()

    columns = {"id": [record.id for record in records]}
    if spec.labelled:
        _check_labels(records, spec, where)
        columns["label"] = [record.label for record in records]
    if spec.source == "bed":
        columns.update(chrom=[record.chrom for record in records], start=[record.start for record in records],
                       end=[record.end for record in records], strand=[record.strand for record in records])
    splits = [record.split for record in records]
    if spec.split_column_required and all(split is None for split in splits):
        raise SeqtuneError(f"{spec.path}: split_column '{spec.split_column}' is set but no record has a split; add "
                           f"'{spec.split_column}=train|validation|test' to the headers, or remove split_column")
    if any(split is not None for split in splits):
        for record in records:
            if record.split not in SPLIT_NAMES:
                raise SeqtuneError(f"{where(record)}: split '{record.split or ''}' is not one of "
                                   f"{', '.join(SPLIT_NAMES)}; give every record one of them, or drop the split "
                                   "column to let seqtune split")
        columns["split"] = splits
    return pd.DataFrame(columns)
