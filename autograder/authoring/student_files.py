"""What ``release`` adds for students, all derived from the source notebook so nothing can drift.

- :class:`PointsInHeadings`: each markdown heading says how many points the tests under it are
  worth, from their nbgrader metadata (``## 1. Matrix products (3 points)``); a part with more
  than one graded function also names each one's points; the title gives the notebook's total.
- :func:`selfcheck_data`: the visible tests of a *released* notebook, by the function they grade,
  for :mod:`coursekit.selfcheck` (written beside it as ``coursekit.selfcheck.DATA_FILE``). They
  are copied from the released cells, so they hold nothing a student does not already have.
- :func:`student_config_text`: the repository's ``nbgrader_config.py``, so ``nbgrader validate``
  and JupyterLab's Validate button run a notebook with the course's settings.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any

from nbgrader.preprocessors.base import NbGraderPreprocessor
from traitlets.config import Config

from autograder.config import CourseConfig, CourseError, config_file_text, nbgrader_config
from autograder.nbgrader_api import grade_id, nbgrader_meta

HEADING = re.compile(r"^(#{1,6})[ \t]+(.*?)[ \t]*$", re.M)
POINTS_SUFFIX = re.compile(r"\s*\(\d+(\.\d+)? points?\)$")
#: nbgrader settings a student's run of a notebook needs; the course directory is the grading
#: workspace's business (``grade`` writes its own nbgrader_config.py there).
STUDENT_SECTIONS = ("Execute", "ExecutePreprocessor")


@dataclass(frozen=True)
class Function:
    """A graded function: its name, and the grade-id prefix of the tests that grade it."""

    name: str
    prefix: str


def _points(cell: Any) -> float:
    return float(nbgrader_meta(cell).get("points") or 0)


def is_test(cell: Any) -> bool:
    meta = nbgrader_meta(cell)
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def functions(cells: list[Any]) -> list[Function]:
    """The graded functions, in notebook order: each answer cell's first ``def``, and its id
    without ``solution`` as the prefix of its tests' ids (AUTHORING.md's convention)."""
    found = []
    for cell in cells:
        answer_id = grade_id(cell)
        if not (nbgrader_meta(cell).get("solution") and cell.get("cell_type") == "code"):
            continue
        name = re.search(r"^def (\w+)\(", cell.get("source", ""), re.M)
        if answer_id and name:
            found.append(Function(name.group(1), answer_id.removesuffix("solution")))
    return found


def function_of(test_id: str, graded: list[Function]) -> Function | None:
    """The function a test's grade id belongs to: the longest matching prefix."""
    matching = [f for f in graded if test_id.startswith(f.prefix)]
    return max(matching, key=lambda f: len(f.prefix), default=None)


def _with_points(text: str, points: float) -> str:
    """``text`` (a heading's words) ending in "(N points)", whatever it ended in before."""
    unit = "point" if points == 1 else "points"
    return f"{POINTS_SUFFIX.sub('', text)} ({points:g} {unit})"


def _headed(cells: list[Any]) -> list[tuple[int, list[Any]]]:
    """Each markdown cell that opens with a heading, with the test cells up to the next one."""
    parts: list[tuple[int, list[Any]]] = []
    for index, cell in enumerate(cells):
        if cell.cell_type == "markdown" and HEADING.match(cell.source.lstrip()):
            parts.append((index, []))
        elif parts and is_test(cell):
            parts[-1][1].append(cell)
    return parts


def write_points(nb: Any) -> Any:
    """``nb`` with the points of each part in its heading (in place); see the module's doc."""
    graded = functions(nb.cells)
    total = sum(_points(c) for c in nb.cells if is_test(c))
    for index, tests in _headed(nb.cells):
        cell = nb.cells[index]
        source = cell.source.lstrip()
        heading = HEADING.match(source)
        assert heading is not None
        level, words = heading.groups()
        points = total if level == "#" else sum(_points(t) for t in tests)
        if not points:
            continue
        rest = source[heading.end() :]
        per_function: dict[str, float] = {}
        for test in tests:
            owner = function_of(grade_id(test) or "", graded)
            name = owner.name if owner else grade_id(test) or "?"
            per_function[name] = per_function.get(name, 0.0) + _points(test)
        if level != "#" and len(per_function) > 1:
            shares = ", ".join(f"`{name}` {p:g}" for name, p in per_function.items())
            rest = rest.rstrip() + f"\n\nPoints: {shares}."
        cell.source = f"{level} {_with_points(words, points)}{rest}"
    return nb


class PointsInHeadings(NbGraderPreprocessor):
    """:func:`write_points` as an nbgrader preprocessor, run before nbgrader locks and
    checksums the cells, so a locked heading keeps a valid checksum."""

    def preprocess(self, nb: Any, resources: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        return write_points(nb), resources


def _checks(source: str) -> str:
    """A test cell's docstring, on one line: what it checks."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return ""
    return " ".join((ast.get_docstring(tree) or "").split())


def selfcheck_data(nb: Any) -> dict[str, Any]:
    """The visible tests of the released notebook ``nb``, by function, with their points."""
    graded = functions(nb.cells)
    by_name: dict[str, dict[str, Any]] = {}
    for cell in nb.cells:
        test_id = grade_id(cell)
        if not (is_test(cell) and test_id):
            continue
        if "HIDDEN TESTS" in cell.source:  # nbgrader's release removed them; never pass one on
            raise CourseError(f"{test_id}: a hidden test region in a released test cell")
        owner = function_of(test_id, graded) or Function(test_id, test_id)
        entry = by_name.setdefault(owner.name, {"name": owner.name, "tests": []})
        entry["tests"].append(
            {
                "grade_id": test_id,
                "test": test_id.removeprefix(owner.prefix) or test_id,
                "points": _points(cell),
                "checks": _checks(cell.source),
                "source": cell.source,
            }
        )
    points = sum(t["points"] for f in by_name.values() for t in f["tests"])
    return {"points": points, "functions": list(by_name.values())}


def student_config_text(course: CourseConfig) -> str:
    """The repository's ``nbgrader_config.py``: the course's settings for running a notebook."""
    full = nbgrader_config(course, course.root)
    kept = Config({section: full[section] for section in STUDENT_SECTIONS})
    # NOTE: config_file_text's first line says `grade` wrote the file; this one release writes.
    body = config_file_text(kept).split("\n", 1)[1]
    return (
        "# The course's nbgrader settings for a student's commands in this repository: `nbgrader\n"
        "# validate`, JupyterLab's Validate button, `python -m coursekit.validate`. Written by\n"
        "# `python -m autograder release` from autograder.config.nbgrader_config: do not edit.\n"
        + body
    )
