"""Inside a grading worker: sanitize, execute and score one notebook, with nbgrader's own parts.

The steps are nbgrader's autograde steps, in its order, minus the database:

1. sanitize: ``ClearOutput``, ``DeduplicateIds``, the kernelspec and ``OverwriteCells`` (locked
   cells restored from the trusted copy that came with the task), ``CheckCellMetadata``;
2. execute: nbgrader's ``Execute`` in a fresh kernel that nothing else ever uses, with a total
   deadline on top of the per-cell timeout, and the kernel's death caught;
3. ``LimitOutput``, then each grade cell scored by ``nbgrader.utils.determine_grade``.

A grade cell that never ran (the kernel died, the deadline passed) gets an error output saying
why, so it scores zero like any failing test; the points earned before the failure stay.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from autograder.kernel import QUIET, run_notebook
from autograder.tasks import GradeTask, NotebookResult, TrustedCell, TrustedNotebook, worst


class _Invalid(Exception):
    """The submitted notebook cannot be graded as a notebook; the message says why."""


def warm_up() -> int:
    """Do the heavy imports now, once per worker process; returns the process id."""
    import nbclient  # noqa: F401
    import nbgrader.preprocessors  # noqa: F401
    import nbgrader.utils  # noqa: F401

    return os.getpid()


class _TrustedCells:
    """The two gradebook lookups of ``OverwriteCells``, answered from the task's trusted cells."""

    def __init__(self, trusted: TrustedNotebook) -> None:
        self.cells = {c.grade_id: c for c in trusted.cells}

    def find_source_cell(self, grade_id: str, notebook: str, assignment: str) -> TrustedCell:
        from nbgrader.api import MissingEntry

        if grade_id not in self.cells:
            raise MissingEntry()
        return self.cells[grade_id]

    def find_graded_cell(self, grade_id: str, notebook: str, assignment: str) -> TrustedCell:
        from nbgrader.api import MissingEntry

        cell = self.find_source_cell(grade_id, notebook, assignment)
        if cell.max_score is None:
            raise MissingEntry()
        return cell


def _sanitizers(trusted: TrustedNotebook) -> list[Any]:
    from nbgrader.preprocessors import (
        CheckCellMetadata,
        ClearOutput,
        DeduplicateIds,
        OverwriteCells,
    )
    from nbgrader.preprocessors.base import NbGraderPreprocessor

    class TrustedOverwriteCells(OverwriteCells):
        def preprocess(self, nb: Any, resources: Any) -> Any:
            self.notebook_id, self.assignment_id = trusted.name, resources["nbgrader"]["assignment"]
            self.gradebook = _TrustedCells(trusted)  # instead of opening the sqlite gradebook
            return NbGraderPreprocessor.preprocess(self, nb, resources)

    class TrustedKernelspec(NbGraderPreprocessor):
        def preprocess(self, nb: Any, resources: Any) -> Any:
            if trusted.kernelspec:
                nb.metadata["kernelspec"] = json.loads(trusted.kernelspec)
            return nb, resources

    return [
        ClearOutput(log=QUIET),
        DeduplicateIds(log=QUIET),
        TrustedKernelspec(log=QUIET),
        TrustedOverwriteCells(log=QUIET),
        CheckCellMetadata(log=QUIET),
    ]


def _read(text: str) -> Any:
    """Parse a submitted notebook, or raise :class:`_Invalid` saying what is wrong with it."""
    import nbformat

    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise _Invalid(f"not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise _Invalid("not a notebook: the JSON is not an object")
    if data.get("nbformat") != 4:
        raise _Invalid(f"nbformat {data.get('nbformat')!r}; only version 4 notebooks are graded")
    cells = data.get("cells")
    if not isinstance(cells, list) or not all(isinstance(c, dict) for c in cells):
        raise _Invalid("the notebook has no list of cells")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return nbformat.reads(text, as_version=4)
    except Exception as err:  # nbformat's errors vary by what is broken
        raise _Invalid(f"unreadable notebook ({type(err).__name__}: {err})") from None


def _scores(nb: Any, trusted: TrustedNotebook) -> tuple[dict, dict]:
    from nbgrader import utils

    scores: dict[str, tuple[float | None, float]] = {
        c.grade_id: (None, float(c.max_score)) for c in trusted.cells if c.max_score is not None
    }
    comments: dict[str, str | None] = {}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        grade_id = meta.get("grade_id")
        if grade_id is None:
            continue
        if utils.is_grade(cell) and grade_id in scores:
            auto, max_points = utils.determine_grade(cell)
            scores[grade_id] = (None if auto is None else float(auto), float(max_points))
        if utils.is_solution(cell) or utils.is_task(cell):
            unchanged = meta.get("checksum") == utils.compute_checksum(cell)
            comments[grade_id] = "No response." if unchanged and not utils.is_task(cell) else None
    return scores, comments


def _zero(trusted: TrustedNotebook, status: str, reason: str) -> NotebookResult:
    """The result of a notebook that could not run at all: every test scores zero."""
    scores: dict[str, tuple[float | None, float]] = {
        c.grade_id: (0.0, float(c.max_score)) for c in trusted.cells if c.max_score is not None
    }
    return NotebookResult(trusted.name, status, reason, None, scores, {})


def grade_notebook(task: GradeTask, trusted: TrustedNotebook, cwd: Path) -> NotebookResult:
    """Sanitize, execute in a fresh kernel started in ``cwd``, and score one notebook."""
    import nbformat
    from nbgrader.preprocessors import LimitOutput

    filename = f"{trusted.name}.ipynb"
    text = task.notebooks.get(filename)
    if text is None:
        return _zero(trusted, "missing", f"{filename} was not submitted")
    resources: dict[str, Any] = {
        "nbgrader": {"notebook": trusted.name, "assignment": task.assignment},
        "metadata": {"path": str(cwd)},
    }
    try:
        nb = _read(text)
        for step in _sanitizers(trusted):
            nb, resources = step.preprocess(nb, resources)
    except _Invalid as err:
        return _zero(trusted, "invalid_notebook", str(err))
    except Exception as err:  # nbgrader's metadata checks raise several kinds
        return _zero(trusted, "invalid_notebook", f"{type(err).__name__}: {err}")

    present = {
        c.metadata.nbgrader.get("grade_id") for c in nb.cells if "nbgrader" in c.get("metadata", {})
    }
    absent = [g for g in trusted.grade_ids if g not in present]
    statuses, reasons = ["graded"], []
    if absent:
        statuses.append("invalid_notebook")
        reasons.append(f"test cells deleted, scored zero: {', '.join(absent)}")

    started = time.perf_counter()
    nb, execute = run_notebook(nb, resources, task)
    seconds = time.perf_counter() - started
    if execute.stopped:
        statuses.append(execute.stopped[0])
        reasons.append(execute.stopped[1])
    if execute.timed_out:
        statuses.append("timed_out")
        reasons.append(f"interrupted {', '.join(execute.timed_out)}")

    # nbgrader checks the metadata again here; execution cannot change it, so once is enough.
    nb, resources = LimitOutput(log=QUIET).preprocess(nb, resources)
    scores, comments = _scores(nb, trusted)
    return NotebookResult(
        name=trusted.name,
        status=worst(statuses),
        reason="; ".join(reasons),
        executed=nbformat.writes(nb),
        scores=scores,
        comments=comments,
        seconds_executing=seconds,
    )


def workdir(task: GradeTask) -> tempfile.TemporaryDirectory:
    """A private folder holding the task's other files, where the kernels start."""
    folder = tempfile.TemporaryDirectory(prefix=f"grade-{task.student}-")
    root = Path(folder.name).resolve()
    for name, data in task.files.items():
        target = (root / name).resolve()
        if root not in target.parents:  # a path that climbs out of the folder is not written
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return folder
