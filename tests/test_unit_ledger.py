"""The ledger stores a TaskResult and reads one back: per notebook, and from the old flat rows."""

from __future__ import annotations

import json
import pickle
from dataclasses import replace
from pathlib import Path

from autograder.grading.ledger import Ledger
from autograder.messages import NotebookResult, TaskResult

SCORES: dict[str, tuple[float | None, float]] = {"toy_double": (1.0, 1.0), "toy_norm": (None, 2.0)}


def _result(student: str) -> TaskResult:
    notebook = NotebookResult(
        name="toy",
        status="timed_out",
        reason="interrupted cell 3",
        executed='{"cells": []}',
        scores=SCORES,
        comments={"toy_norm_solution": None},
        seconds_executing=1.5,
        probes={"norm": "the probe did not run"},
        costs={"kernel start": 1.75, "cells": 0.25, "worker": 0.5},
    )
    extra = NotebookResult("other", "graded", "", "{}", {"other_a": (2.0, 2.0)}, {})
    return TaskResult(
        student,
        "toy_assignment",
        submission_sha256="s" * 64,
        grading_sha256="g" * 64,
        status="timed_out",
        reason="toy.ipynb: interrupted cell 3",
        notebooks=(notebook, extra),
        seconds_executing=1.5,
        seconds_total=2.5,
        worker="host:123",
        isolation="bwrap",
    )


def test_a_recorded_result_reads_back_as_itself_without_its_executed_notebooks(
    tmp_path: Path,
) -> None:
    result = _result("ada")
    with Ledger(tmp_path) as ledger:
        ledger.record(result)
        (row,) = ledger.rows("toy_assignment").values()
    assert row.graded_at, "the ledger stamps when it recorded the result"
    # Per notebook, only the name, status, reason, scores and costs are kept.
    kept = [replace(nb, executed=None, comments={}, probes={}) for nb in result.notebooks]
    notebooks = tuple(replace(nb, seconds_executing=0.0) for nb in kept)
    assert row == replace(result, notebooks=notebooks, graded_at=row.graded_at)
    assert (row.score, row.max_score) == (3.0, 5.0)
    assert row.scores == {"toy_double": (1.0, 1.0), "toy_norm": (0.0, 2.0), "other_a": (2.0, 2.0)}
    assert not row.skipped


def test_a_row_in_the_old_flat_format_is_read_as_one_notebook(tmp_path: Path) -> None:
    flat = {"toy_double": [1.0, 1.0], "toy_norm": [0.0, 2.0]}
    with Ledger(tmp_path) as ledger:
        ledger.db.execute(
            "INSERT INTO autograder_results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ("bo", "toy_assignment", "s", "g", "graded", "", 1.0, 3.0, json.dumps(flat))
            + (0.5, 0.75, "host:9", "2024-01-01T00:00:00+00:00", ""),
        )
        row = ledger.rows("toy_assignment")["bo"]
    assert row.scores == {"toy_double": (1.0, 1.0), "toy_norm": (0.0, 2.0)}
    assert (row.score, row.max_score, row.status) == (1.0, 3.0, "graded")
    assert (row.seconds_total, row.graded_at) == (0.75, "2024-01-01T00:00:00+00:00")


def test_a_result_is_plain_data_and_stripping_drops_only_the_bulk() -> None:
    result = _result("cy")
    assert pickle.loads(pickle.dumps(result)) == result  # Dask ships it
    light = result.stripped()
    assert all(nb.executed is None and nb.probes == {} for nb in light.notebooks)
    assert (light.scores, light.status, light.reason) == (
        result.scores,
        result.status,
        result.reason,
    )
    assert light.notebooks[0].comments == result.notebooks[0].comments
