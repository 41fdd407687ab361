"""Synthetic classes for tests and benchmarks: students made from a solution and its exercise.

Each student is one kind of submission, the kind in the student id (``partial_0007``):

- ``correct``: every solution cell solved, as a student who copied the solutions would have it;
- ``partial``: the first half of the solution cells solved, the rest left as the stub;
- ``wrong``: every function returns a wrong value (``None``);
- ``erroring``: every function raises;
- ``empty``: the exercise exactly as released;
- ``timeout``: every solution cell solved, and the last one then never ends
  (``while True: pass``): interrupted at the cell timeout, the tests after it still run;
- ``kernel_death``: every solution cell solved, and the last one then kills its kernel
  (``os._exit(1)``): the tests before it keep their points, the ones after it score zero;
- ``invalid``: a notebook file that is not JSON;
- ``missing``: a student folder without the notebook.

:func:`toy_course` writes a course of one small assignment with visible and hidden tests, which
runs in a fraction of a second: the 1,000-submission benchmark and the tests use it.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

from autograder.config import CourseConfig

KINDS = (
    "correct",
    "partial",
    "wrong",
    "erroring",
    "empty",
    "timeout",
    "kernel_death",
    "invalid",
    "missing",
)
REGION = re.compile(r"^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION[^\n]*", re.M | re.S)
MARKER = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[^\n]*\n?", re.M)


def _meta(cell: NotebookNode) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _solutions(nb: NotebookNode) -> list[str]:
    return [_meta(c)["grade_id"] for c in nb.cells if _meta(c).get("solution")]


def _with_body(source_cell: str, body: str) -> str:
    """The solution cell with its solution region replaced by ``body``, indented to match."""
    return REGION.sub(
        lambda m: "\n".join(m.group(1) + line for line in body.splitlines()), source_cell
    )


def student_notebook(kind: str, source: NotebookNode, exercise: NotebookNode) -> NotebookNode:
    """One student's version of ``exercise``; ``source`` holds the reference solutions."""
    answers = {_meta(c)["grade_id"]: c.source for c in source.cells if _meta(c).get("solution")}
    order = _solutions(source)
    solved = {
        "correct": set(answers),
        "partial": set(order[: len(answers) // 2]),
        "timeout": set(answers),
        "kernel_death": set(answers),
    }.get(kind, set())
    nb = copy.deepcopy(exercise)
    for cell in nb.cells:
        grade_id = _meta(cell).get("grade_id")
        if not _meta(cell).get("solution") or grade_id not in answers:
            continue
        if grade_id in solved:
            cell.source = MARKER.sub("", answers[grade_id])
        elif kind == "wrong":
            cell.source = _with_body(answers[grade_id], "return None")
        elif kind == "erroring":
            cell.source = _with_body(answers[grade_id], 'raise RuntimeError("a bug")')
        if grade_id == order[-1] and kind == "timeout":
            cell.source += "\n\nwhile True:  # never ends\n    pass\n"
        elif grade_id == order[-1] and kind == "kernel_death":
            cell.source += "\n\nimport os\n\nos._exit(1)  # takes the kernel down\n"
    return nb


def write_class(
    submissions: Path,
    assignment: str,
    notebooks: dict[str, tuple[NotebookNode, NotebookNode]],
    kinds: list[str],
) -> list[str]:
    """Write one student per entry of ``kinds`` into ``submissions``; return the student ids.

    ``notebooks`` maps each notebook's file name to its (source, exercise) pair.
    """
    students = []
    for i, kind in enumerate(kinds):
        student = f"{kind}_{i:04d}"
        folder = submissions / student / assignment
        folder.mkdir(parents=True, exist_ok=True)
        for name, (source, exercise) in notebooks.items():
            if kind == "missing":
                (folder / "README.txt").write_text("I forgot to upload the notebook.\n")
            elif kind == "invalid":
                (folder / name).write_text('{"cells": [{"cell_type": "code", "source": ')
            else:
                nbformat.write(student_notebook(kind, source, exercise), folder / name)
        students.append(student)
    return students


def course_notebooks(
    course: CourseConfig, assignment: str
) -> dict[str, tuple[NotebookNode, NotebookNode]]:
    """(source, exercise) for each notebook of an assignment whose exercise is released."""
    return {
        path.name: (
            nbformat.read(path, as_version=4),
            nbformat.read(course.release / assignment / path.name, as_version=4),
        )
        for path in course.notebooks(assignment)
    }


TOY_ASSIGNMENT = "00_toy"

_TOY_CELLS: list[tuple[str, dict[str, Any], str]] = [
    ("toy_setup", dict(locked=True), "import math"),
    (
        "toy_double_solution",
        dict(solution=True),
        'def double(x):\n    """Twice x."""\n    ### BEGIN SOLUTION\n    return 2 * x\n'
        "    ### END SOLUTION",
    ),
    (
        "toy_double_test",
        dict(grade=True, locked=True, points=1),
        '"""Check double on a few numbers."""\nassert double(3) == 6, "double(3)"\n'
        "### BEGIN HIDDEN TESTS\n"
        'assert double(-1.5) == -3.0, "the secret negative case of double"\n'
        "### END HIDDEN TESTS",
    ),
    (
        "toy_norm_solution",
        dict(solution=True),
        'def norm(v):\n    """The Euclidean length of the list v."""\n    ### BEGIN SOLUTION\n'
        "    return math.sqrt(sum(x * x for x in v))\n    ### END SOLUTION",
    ),
    (
        "toy_norm_test",
        dict(grade=True, locked=True, points=2),
        '"""Check norm on a 3-4-5 triangle."""\nassert norm([3, 4]) == 5, "norm([3, 4])"\n'
        "### BEGIN HIDDEN TESTS\n"
        'assert abs(norm([1, 1, 1, 1]) - 2) < 1e-12, "the secret four-vector of norm"\n'
        "### END HIDDEN TESTS",
    ),
]


def write_source_notebook(path: Path, cells: list[tuple[str, dict[str, Any], str]]) -> Path:
    """Write an nbgrader source notebook of code cells given as (grade_id, flags, source)."""
    nb_cells: list[dict[str, Any]] = []
    for i, (grade_id, flags, source) in enumerate(cells):
        meta: dict[str, Any] = {"grade": False, "locked": False, "schema_version": 3}
        meta.update({"solution": False, "task": False, "grade_id": grade_id, **flags})
        nb_cells.append(
            {
                "cell_type": "code",
                "execution_count": None,
                "id": f"cell-{i}",
                "metadata": {"nbgrader": meta},
                "outputs": [],
                "source": source,
            }
        )
    nb = {
        "cells": nb_cells,
        "metadata": {
            "kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1))
    return path


def toy_course(root: Path) -> CourseConfig:
    """Write a course at ``root`` with one small assignment (``00_toy``), released."""
    from autograder.authoring.release import release

    write_source_notebook(root / "solutions" / TOY_ASSIGNMENT / "toy.ipynb", _TOY_CELLS)
    (root / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    course = CourseConfig(root=root, cell_timeout=30)
    release(course, [TOY_ASSIGNMENT])
    return course
