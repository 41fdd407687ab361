"""`check` proves each assignment both ways, and catches a test that cannot fail."""

import json
from pathlib import Path

from autograder.check import check
from autograder.cli import main
from autograder.config import CourseConfig


def test_every_assignment_is_proven_both_ways(course: CourseConfig) -> None:
    results = check(course)
    assert results, "no notebooks were checked"
    for result in results:
        assert result.problems == [], "\n".join(result.problems)
        assert len(result.solution) == len(result.stub) >= 5
        assert all(v.points == v.max_points for v in result.solution)
        assert all(v.points == 0 and v.error for v in result.stub)


def _cell(source: str, **nbgrader: object) -> dict:
    meta = {"grade": False, "locked": False, "schema_version": 3, "solution": False, "task": False}
    meta.update(nbgrader)
    return {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {"nbgrader": meta},
        "outputs": [],
        "source": source,
    }


def _write_assignment(root: Path, test_source: str) -> CourseConfig:
    cells = [
        _cell(
            "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
            grade_id="toy_double_solution",
            solution=True,
        ),
        _cell(test_source, grade_id="toy_double_test", grade=True, locked=True, points=1),
    ]
    for i, cell in enumerate(cells):
        cell["id"] = f"cell-{i}"
    nb = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    folder = root / "solutions" / "00_toy"
    folder.mkdir(parents=True)
    (folder / "toy.ipynb").write_text(json.dumps(nb))
    return CourseConfig(root=root, cell_timeout=60)


def test_a_test_the_stub_passes_is_reported(tmp_path: Path) -> None:
    course = _write_assignment(tmp_path, '"""A check that cannot fail."""\nassert True')
    (result,) = check(course)
    assert result.problems == ["toy_double_test: the released stub earns 1, it must earn 0"]


def test_a_test_the_solution_fails_is_reported(tmp_path: Path, capsys) -> None:
    course = _write_assignment(tmp_path, "assert double(2) == 5, 'wrong expectation'")
    (result,) = check(course)
    assert len(result.problems) == 1
    assert "the solution earns 0/1 (AssertionError: wrong expectation)" in result.problems[0]
    assert main(["--course", str(tmp_path), "check"]) == 1
    assert "1 problem(s)" in capsys.readouterr().out


def test_a_good_toy_assignment_passes_the_cli(tmp_path: Path, capsys) -> None:
    _write_assignment(tmp_path, "assert double(3) == 6")
    assert main(["--course", str(tmp_path), "check", "00_toy"]) == 0
    assert "solution passes all, stub fails all: ok" in capsys.readouterr().out
