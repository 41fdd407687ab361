"""Progress while grading: a tqdm bar on a terminal, one plain line per submission otherwise.

Both show counts by status and an ETA; :func:`summary` is the table printed at the end.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import IO, Any

from autograder.grading.stats import AssignmentStats
from autograder.messages import STATUSES


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    return (f"{hours}h" if hours else "") + f"{rest // 60:02d}m{rest % 60:02d}s"


class Progress:
    """Counts finished submissions; draws a bar when ``stream`` is a terminal, else logs lines.

    Submissions found already graded are counted before :meth:`start`; the bar starts past them
    and the ETA counts only what is graded in this run.
    """

    def __init__(self, total: int, stream: IO[str] | None = None, bar: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.total = total
        self.use_bar = self.stream.isatty() if bar is None else bar
        self.counts: Counter[str] = Counter()
        self.skipped = 0
        self.started = time.monotonic()
        self.bar: Any = None

    def start(self) -> None:
        """Grading begins now: the bar appears, the ETA counts from here."""
        self.started = time.monotonic()
        if self.use_bar and self.total:
            from tqdm import tqdm

            self.bar = tqdm(
                total=self.total,
                initial=self.done,
                file=self.stream,
                unit="sub",
                dynamic_ncols=True,
            )
        elif self.skipped:
            print(f"{self.skipped} already graded with the same files: skipped", file=self.stream)

    @property
    def done(self) -> int:
        return sum(self.counts.values())

    def _counts(self) -> str:
        return ", ".join(f"{self.counts[s]} {s}" for s in STATUSES if self.counts[s])

    def _eta(self) -> str:
        graded_here = self.done - self.skipped
        if not graded_here:
            return "?"
        rate = graded_here / max(time.monotonic() - self.started, 1e-9)
        return _duration((self.total - self.done) / rate)

    def update(self, student: str, status: str, line: str, *, skipped: bool = False) -> None:
        """One submission finished (or was found already graded, when ``skipped``)."""
        self.counts[status] += 1
        self.skipped += skipped
        if self.bar is not None:
            self.bar.set_postfix_str(self._counts(), refresh=False)
            self.bar.update(1)
        elif not skipped:
            width = len(str(self.total))
            print(
                f"[{self.done:>{width}}/{self.total}] {student}: {status} {line} "
                f"({self._counts()}; eta {self._eta()})",
                file=self.stream,
                flush=True,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def summary(stats: AssignmentStats, skipped: int, seconds: float) -> str:
    """The final table: how many submissions ended in each status, and the mean score."""
    total = sum(stats.statuses.values())
    lines = [f"{'status':<17}{'count':>7}"]
    lines += [f"{s:<17}{stats.statuses[s]:>7}" for s in STATUSES if stats.statuses.get(s)]
    note = f"  ({skipped} already graded, skipped)" if skipped else ""
    lines.append(f"{'total':<17}{total:>7}{note}")
    if stats.total.count:
        possible = sum(stats.max_points.values())
        lines.append(f"mean score {stats.total.mean:.2f} of {possible:g}")
    rate = (total - skipped) / seconds if seconds > 0 else 0.0
    lines.append(f"graded {total - skipped} in {_duration(seconds)} ({rate:.2f} per second)")
    return "\n".join(lines)
