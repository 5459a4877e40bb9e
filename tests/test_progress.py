"""The progress bar shows on a terminal only; a log file gets the items and nothing else."""

import io
import logging

from seqtune.progress import on_terminal, progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_bar_when_not_a_terminal():
    stream = io.StringIO()
    assert not on_terminal(stream)
    assert list(progress(range(5), "training", stream=stream)) == [0, 1, 2, 3, 4]
    assert stream.getvalue() == ""


def test_bar_on_a_terminal_and_items_unchanged():
    stream = Terminal()
    assert on_terminal(stream)
    items = []
    for item in progress(range(3), "training", stream=stream):
        logging.getLogger("seqtune").info("epoch %d", item)
        items.append(item)
    assert items == [0, 1, 2]
    assert "training" in stream.getvalue() and "/3 " in stream.getvalue()  # a drawn bar: "training: ... 0/3 [..."


def test_a_closed_stream_is_not_a_terminal():
    stream = io.StringIO()
    stream.close()
    assert not on_terminal(stream)
