"""The statistics are a monoid: identity, associativity and commutativity, checked by hypothesis."""

from __future__ import annotations

import math
import tempfile
from fractions import Fraction
from functools import reduce
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from autograder.grading.stats import BINS, TOP, AssignmentStats, Summary, fold

# Nothing written into the repository (no example database, hypothesis's caches in the temporary
# folder), and no deadline: the CI machine is shared and slow.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "hypothesis-autograder")
laws = settings(database=None, deadline=None)

values = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
keys = st.text(alphabet="abcxyz_0123", min_size=1, max_size=6)
singles = st.builds(
    Summary.of, values, keys, st.floats(min_value=0.5, max_value=100, allow_nan=False)
)
summaries = st.lists(singles, max_size=2 * TOP).map(
    lambda parts: reduce(Summary.merge, parts, Summary.empty())
)
grade_ids = st.sampled_from(["a_test", "b_test", "c_test"])
scores = st.dictionaries(
    grade_ids, st.tuples(st.sampled_from([0.0, 0.5, 1.0, 2.0]), st.just(2.0)), max_size=3
)
one_submission = st.builds(
    AssignmentStats.of,
    keys,
    st.sampled_from(["graded", "timed_out", "missing"]),
    scores,
    st.floats(min_value=0, max_value=500, allow_nan=False),
)
assignment_stats = st.lists(one_submission, max_size=6).map(fold)


@laws
@given(summaries)
def test_summary_identity(a: Summary) -> None:
    assert a.merge(Summary.empty()) == a == Summary.empty().merge(a)


@laws
@given(summaries, summaries, summaries)
def test_summary_associativity(a: Summary, b: Summary, c: Summary) -> None:
    assert a.merge(b).merge(c) == a.merge(b.merge(c))


@laws
@given(summaries, summaries)
def test_summary_commutativity(a: Summary, b: Summary) -> None:
    assert a.merge(b) == b.merge(a)


@laws
@given(st.lists(st.tuples(values, keys), min_size=1, max_size=40))
def test_a_summary_describes_its_values(pairs: list[tuple[float, str]]) -> None:
    summary = reduce(Summary.merge, (Summary.of(v, k, 1.0) for v, k in pairs))
    numbers = [v for v, _ in pairs]
    assert summary.count == len(pairs) == sum(summary.histogram)
    assert summary.total == sum(Fraction(v) for v in numbers)  # exact, in any order
    assert (summary.minimum, summary.maximum) == (min(numbers), max(numbers))
    assert list(summary.top) == sorted(pairs, key=lambda p: (-p[0], p[1]))[:TOP]
    assert math.isclose(summary.mean, math.fsum(numbers) / len(numbers), abs_tol=1e-6)


def test_the_histogram_bins_fractions_of_the_maximum() -> None:
    assert Summary.of(0.0, out_of=2.0).histogram[0] == 1
    assert Summary.of(1.0, out_of=2.0).histogram[BINS // 2] == 1
    assert Summary.of(2.0, out_of=2.0).histogram[-1] == 1  # full marks: the last, closed bin
    assert Summary.empty().count == 0 and math.isnan(Summary.empty().mean)


@laws
@given(assignment_stats)
def test_assignment_stats_identity(a: AssignmentStats) -> None:
    assert a.merge(AssignmentStats.empty()) == a == AssignmentStats.empty().merge(a)


@laws
@given(assignment_stats, assignment_stats, assignment_stats)
def test_assignment_stats_associativity(
    a: AssignmentStats, b: AssignmentStats, c: AssignmentStats
) -> None:
    assert a.merge(b).merge(c) == a.merge(b.merge(c))


@laws
@given(st.lists(one_submission, max_size=8), st.randoms(use_true_random=False))
def test_results_merge_to_the_same_stats_in_any_order(parts: list, rng) -> None:
    shuffled = list(parts)
    rng.shuffle(shuffled)
    assert fold(parts) == fold(shuffled)
    assert sum(fold(parts).statuses.values()) == len(parts)
