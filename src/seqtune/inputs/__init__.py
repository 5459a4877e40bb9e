"""Real data in: FASTA, TSV/CSV or BED intervals on a genome, read into a data set folder (see ``seqtune.data``).

One entry point, :func:`import_dataset`, driven by a small ``spec`` dict (the ``datasets.<name>`` entry of the
config). Records are read one at a time and encoded in chunks of uint8 codes, so a large input is never held as Python
strings; :mod:`seqtune.predict` reuses the same readers (:func:`encoded_chunks`) for prediction. Every check runs
before the first output file is written, so a failed import leaves no data set folder behind.

Modules by concern: ``spec`` (the input spec, records), ``fasta``, ``tables`` (TSV/CSV), ``bed`` (intervals on a
genome), ``encoding`` (records to codes), ``checks`` (labels, splits, classes) and ``dataset`` (the import). The
names below are the public ones, importable from ``seqtune.inputs`` as before.
"""

import os  # noqa: F401  (tests patch seqtune.inputs.os.access)

from .bed import Genome, iter_bed, open_genome
from .checks import class_order
from .dataset import import_dataset
from .encoding import EncodedChunk, encode_records, encoded_chunks, fit_length, iter_records
from .fasta import iter_fasta
from .spec import (AMBIGUITY_POLICIES, BED_STRANDS, CHUNK_SIZE, LENGTH_POLICIES, MISSING_LABELS, SOURCES, SPLIT_NAMES,
                   InputSpec, Record)
from .tables import iter_table, read_label_table, table_separator

__all__ = ["AMBIGUITY_POLICIES", "BED_STRANDS", "CHUNK_SIZE", "LENGTH_POLICIES", "MISSING_LABELS", "SOURCES",
           "SPLIT_NAMES", "EncodedChunk", "Genome", "InputSpec", "Record", "class_order", "encode_records",
           "encoded_chunks", "fit_length", "import_dataset", "iter_bed", "iter_fasta", "iter_records", "iter_table",
           "open_genome", "read_label_table", "table_separator"]
