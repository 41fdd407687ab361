"""Progress: a tqdm bar on a terminal, one line per submission otherwise, a summary at the end."""

from __future__ import annotations

import io

from autograder.grading.progress import Progress, summary
from autograder.grading.stats import AssignmentStats, fold


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _run(stream: io.StringIO) -> None:
    progress = Progress(3, stream=stream)
    progress.update("ann", "graded", "", skipped=True)
    progress.start()
    progress.update("bob", "graded", "2/3 in 1.0 s")
    progress.update("cyd", "timed_out", "0/3 in 9.0 s")
    progress.close()


def test_plain_lines_when_not_a_terminal() -> None:
    stream = io.StringIO()
    _run(stream)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "1 already graded with the same files: skipped"
    assert lines[1].startswith("[2/3] bob: graded 2/3 in 1.0 s (2 graded; eta ")
    assert lines[2].startswith("[3/3] cyd: timed_out 0/3 in 9.0 s (1 timed_out, 2 graded; eta ")


def test_a_bar_with_counts_on_a_terminal() -> None:
    stream = Terminal()
    _run(stream)
    text = stream.getvalue()
    assert "3/3" in text and "1 timed_out, 2 graded" in text and "sub/s" in text
    assert "[2/3]" not in text


def test_the_summary_counts_each_status() -> None:
    stats = fold(
        [
            AssignmentStats.of("ann", "graded", {"t": (3.0, 3.0)}, 1.0),
            AssignmentStats.of("bob", "graded", {"t": (1.0, 3.0)}, 1.0),
            AssignmentStats.of("cyd", "kernel_died", {"t": (0.0, 3.0)}, 2.0),
        ]
    )
    table = summary(stats, skipped=1, seconds=4.0).splitlines()
    assert table[:3] == [
        "status             count",
        "kernel_died            1",
        "graded                 2",
    ]
    assert table[3] == "total                  3  (1 already graded, skipped)"
    assert table[4] == "mean score 1.33 of 3"
    assert table[5] == "graded 2 in 00m04s (0.50 per second)"
