"""Statistics as a monoid: summaries that merge in any order, from any number of workers.

A :class:`Summary` of a set of values (count, exact sum, minimum, maximum, a fixed-bin histogram
and the largest few) has an identity, :meth:`Summary.empty`, and an associative, commutative
:meth:`Summary.merge`. So a class's statistics can be folded from results as they arrive, in
completion order, or per worker and then combined, and always come out the same:

    merge(empty(), a) == a == merge(a, empty())
    merge(merge(a, b), c) == merge(a, merge(b, c))
    merge(a, b) == merge(b, a)

The sum is a :class:`fractions.Fraction`: float addition is not associative, exact sums are.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from functools import reduce

from autograder.messages import TaskResult

BINS = 10  # the histogram: value / out_of in ten equal bins over [0, 1], the last one closed
SECONDS_SCALE = 60.0  # grading times go into the histogram as fractions of a minute
TOP = 10  # how many of the largest values a summary keeps, with their keys


def _top(entries: Iterable[tuple[float, str]]) -> tuple[tuple[float, str], ...]:
    """The TOP largest (value, key) pairs, largest first; equal values in key order."""
    return tuple(sorted(entries, key=lambda e: (-e[0], e[1]))[:TOP])


@dataclass(frozen=True)
class Summary:
    count: int = 0
    total: Fraction = Fraction(0)
    minimum: float = math.inf
    maximum: float = -math.inf
    histogram: tuple[int, ...] = (0,) * BINS
    top: tuple[tuple[float, str], ...] = ()  # see _top

    @staticmethod
    def empty() -> Summary:
        return Summary()

    @staticmethod
    def of(value: float, key: str = "", out_of: float = 1.0) -> Summary:
        """The summary of one value; ``out_of`` scales it into the histogram's [0, 1]."""
        if math.isnan(value):
            raise ValueError(f"cannot summarize NaN (key {key!r})")
        fraction = value / out_of if out_of > 0 else 1.0
        slot = min(BINS - 1, max(0, math.floor(fraction * BINS)))
        histogram = tuple(int(i == slot) for i in range(BINS))
        return Summary(1, Fraction(value), value, value, histogram, ((value, key),))

    def merge(self, other: Summary) -> Summary:
        return Summary(
            count=self.count + other.count,
            total=self.total + other.total,
            minimum=min(self.minimum, other.minimum),
            maximum=max(self.maximum, other.maximum),
            histogram=tuple(a + b for a, b in zip(self.histogram, other.histogram, strict=True)),
            top=_top(self.top + other.top),
        )

    @property
    def mean(self) -> float:
        return float(self.total / self.count) if self.count else math.nan


def _merge_maps(a: Mapping[str, Summary], b: Mapping[str, Summary]) -> dict[str, Summary]:
    return {k: a.get(k, Summary()).merge(b.get(k, Summary())) for k in sorted({*a, *b})}


@dataclass(frozen=True)
class AssignmentStats:
    """Per exercise (grade id) and per assignment, plus seconds and statuses: also a monoid."""

    exercises: dict[str, Summary] = field(default_factory=dict)  # grade id -> points earned
    max_points: dict[str, float] = field(default_factory=dict)  # grade id -> its points
    total: Summary = Summary()  # a submission's score
    seconds: Summary = Summary()  # a submission's grading time: top holds the slowest
    statuses: dict[str, int] = field(default_factory=dict)

    @staticmethod
    def empty() -> AssignmentStats:
        return AssignmentStats()

    @staticmethod
    def of(
        student: str, status: str, scores: Mapping[str, tuple[float, float]], seconds: float
    ) -> AssignmentStats:
        """One submission: ``scores`` maps grade id -> (points earned, max points)."""
        earned = sum(points for points, _ in scores.values())
        possible = sum(max_points for _, max_points in scores.values())
        return AssignmentStats(
            exercises={g: Summary.of(p, student, m) for g, (p, m) in scores.items()},
            max_points={g: m for g, (_, m) in scores.items()},
            total=Summary.of(earned, student, possible),
            seconds=Summary.of(seconds, student, out_of=SECONDS_SCALE),
            statuses={status: 1},
        )

    def merge(self, other: AssignmentStats) -> AssignmentStats:
        return AssignmentStats(
            exercises=_merge_maps(self.exercises, other.exercises),
            max_points={
                g: max(self.max_points.get(g, 0.0), other.max_points.get(g, 0.0))
                for g in sorted({*self.max_points, *other.max_points})
            },
            total=self.total.merge(other.total),
            seconds=self.seconds.merge(other.seconds),
            statuses={
                s: self.statuses.get(s, 0) + other.statuses.get(s, 0)
                for s in sorted({*self.statuses, *other.statuses})
            },
        )


def fold(parts: Iterable[AssignmentStats]) -> AssignmentStats:
    return reduce(AssignmentStats.merge, parts, AssignmentStats.empty())


#: A class's statistics, its grade ids in notebook order, and submissions per kind of isolation.
Folded = tuple[AssignmentStats, list[str], dict[str, int]]


def fold_results(results: Iterable[TaskResult]) -> Folded:
    """The statistics of the ledger's ``results``, their grade ids in notebook order, and how
    many submissions each kind of isolation confined."""
    rows = list(results)
    order = list(dict.fromkeys(g for r in rows for g in r.scores))
    stats = fold(AssignmentStats.of(r.student, r.status, r.scores, r.seconds_total) for r in rows)
    isolation = dict(Counter(r.isolation or "unknown" for r in rows))
    return stats, order, isolation
