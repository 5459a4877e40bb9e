"""A progress bar on a terminal only: a job whose stderr is a log file (every Snakemake rule) gets the per-epoch log
lines and no bar, so logs stay clean."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator


def on_terminal(stream=None) -> bool:
    stream = sys.stderr if stream is None else stream
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def progress(iterable: Iterable, desc: str, unit: str = "epoch", stream=None) -> Iterator:
    """Yield from ``iterable``, with a tqdm bar on ``stream`` (stderr) when it is a terminal; log lines are routed
    above the bar meanwhile. Otherwise the items only, nothing printed."""
    stream = sys.stderr if stream is None else stream
    if not on_terminal(stream):
        yield from iterable
        return
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    with logging_redirect_tqdm(), tqdm(iterable, desc=desc, unit=unit, file=stream, leave=False,
                                       dynamic_ncols=True) as bar:
        yield from bar
