"""The graded notebook, rebuilt from trusted parts: the released notebook, the student's answers.

Every cell comes from the notebook the students were given (``release/``), in its order, with its
metadata and kernelspec. Only the *answer* cells (nbgrader solution cells) take the student's
source, matched by grade id. So a test cell edited to ``pass``, turned into markdown, deleted or
duplicated, changed points or grade ids, extra cells and another kernelspec change nothing.

An answer the submission lacks keeps the released stub (it raises ``NotImplementedError``), so its
tests score zero, and the reason says which answer was missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from autograder.nbgrader_api import grade_id as nbgrader_grade_id
from autograder.nbgrader_api import nbgrader_meta

#: Larger submissions are not graded (a notebook of the course is well under 1 MB without outputs).
MAX_NOTEBOOK_BYTES = 32 * 2**20


class Invalid(Exception):
    """The submission cannot be read as a notebook; the message says why."""


@dataclass
class Answers:
    """The student's answer sources by grade id, and what was wrong with the submission."""

    sources: dict[str, str]
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _source(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(line, str) for line in value):
        return "".join(value)
    return None


def read_submission(text: str) -> list[dict[str, Any]]:
    """The cells of a submitted notebook, or :class:`Invalid` saying what is wrong with it."""
    if len(text.encode("utf-8", errors="replace")) > MAX_NOTEBOOK_BYTES:
        raise Invalid(f"larger than {MAX_NOTEBOOK_BYTES // 2**20} MB")
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as err:
        raise Invalid(f"not valid JSON ({str(err)[:120]})") from None
    if not isinstance(data, dict):
        raise Invalid("not a notebook: the JSON is not an object")
    if data.get("nbformat") != 4:
        raise Invalid(
            f"nbformat {data.get('nbformat')!r}; only version 4 notebooks are graded "
            "(open and save it in JupyterLab)"
        )
    cells = data.get("cells")
    if not isinstance(cells, list):
        raise Invalid("the notebook has no list of cells")
    return [c for c in cells if isinstance(c, dict)]


def answers(cells: list[dict[str, Any]], released: Any) -> Answers:
    """The student's source for each answer cell of ``released``, by grade id."""
    wanted = {
        c.metadata.nbgrader.grade_id: c.cell_type
        for c in released.cells
        if nbgrader_meta(c).get("solution")
    }
    found = Answers({})
    duplicated = set()
    for cell in cells:
        grade_id = nbgrader_grade_id(cell)
        if grade_id is None or grade_id not in wanted:
            continue
        if grade_id in found.sources:
            duplicated.add(grade_id)
            continue  # as nbgrader's DeduplicateIds: the first cell with an id is the one
        source = _source(cell.get("source"))
        if cell.get("cell_type") != wanted[grade_id] or source is None:
            continue
        found.sources[grade_id] = source
    found.missing = [g for g in wanted if g not in found.sources]
    if found.missing:
        found.notes.append(f"answer cells missing, scored zero: {', '.join(found.missing)}")
    if duplicated:
        found.notes.append(f"answer cells given twice, the first was graded: {sorted(duplicated)}")
    return found


def rebuild(
    released: Any,
    given: Answers,
    hidden: frozenset[str] = frozenset(),
    tests: dict[str, str] | None = None,
) -> Any:
    """A copy of ``released`` (a NotebookNode) with the student's answers in their cells; the
    test cells in ``hidden`` (those with hidden tests) end with a comment that says so.

    ``tests`` (grade id -> source), when given, replaces the test cells' sources: the whole
    tests, hidden ones included, for a notebook that has no probes to stand in for them.
    """
    import copy

    from autograder.config import REDACTED

    nb = copy.deepcopy(released)
    for cell in nb.cells:
        grade_id = nbgrader_grade_id(cell)
        if grade_id in given.sources:
            cell.source = given.sources[grade_id]
        elif tests is not None and grade_id in tests:
            cell.source = tests[grade_id]
        elif grade_id in hidden:
            cell.source = cell.source.rstrip("\n") + "\n" + REDACTED
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb
