"""The autograde round trip, through the real nbgrader: grade, feedback, export.

Three students: one submits the reference solution, one the untouched exercise, and one solves
exactly one function. Their scores must be full marks, zero, and exactly that function's points.
"""

from __future__ import annotations

import copy
import csv
import html as html_lib
import re
from pathlib import Path

import nbformat
import pytest

from autograder.cli import main
from autograder.config import CourseConfig

ASSIGNMENT = "01_linear_algebra"
NOTEBOOK = "linear_algebra.ipynb"
SOLVED_ALONE = "broadcast_shape"  # the one function the third student gets right


def _nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def _points_for(source, function: str) -> float:
    prefix = f"linear_algebra_{function}_"
    return sum(
        float(_nbgrader(c)["points"])
        for c in source.cells
        if _nbgrader(c).get("grade") and _nbgrader(c)["grade_id"].startswith(prefix)
    )


HIDDEN_REGION = r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS"


def _hidden_test_lines(source) -> list[str]:
    """Lines only the hidden tests contain (text that also stands outside them is no secret)."""
    visible = "\n".join(re.sub(HIDDEN_REGION, "", c.source, flags=re.S) for c in source.cells)
    return [
        line.strip()
        for cell in source.cells
        for region in re.findall(HIDDEN_REGION, cell.source, re.S)
        for line in region.splitlines()
        if len(line.strip()) >= 12 and line.strip() not in visible
    ]


@pytest.fixture(scope="module")
def graded(course: CourseConfig, tmp_path_factory: pytest.TempPathFactory):
    source = nbformat.read(course.source / ASSIGNMENT / NOTEBOOK, as_version=4)
    exercise = nbformat.read(course.release / ASSIGNMENT / NOTEBOOK, as_version=4)
    one_right = copy.deepcopy(exercise)
    wanted = f"linear_algebra_{SOLVED_ALONE}_solution"
    solution_cell = next(c for c in source.cells if _nbgrader(c).get("grade_id") == wanted)
    for cell in one_right.cells:
        if _nbgrader(cell).get("grade_id") == wanted:
            cell.source = re.sub(
                r"^ *### (BEGIN|END) SOLUTION\n?", "", solution_cell.source, flags=re.M
            )
    submissions = tmp_path_factory.mktemp("submissions")
    for student, nb in {"ada": source, "blaise": exercise, "carl": one_right}.items():
        folder = submissions / student / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / NOTEBOOK)
    workspace = tmp_path_factory.mktemp("workspace")
    args = ["--course", str(course.root)]
    code = main(
        [
            *args,
            "grade",
            ASSIGNMENT,
            "--workspace",
            str(workspace),
            "--submissions",
            str(submissions),
        ]
    )
    return {"code": code, "workspace": workspace, "source": source, "args": args}


def _scores(workspace: Path) -> dict[str, tuple[float, float]]:
    out = workspace / "grades.csv"
    assert main(["export", "--workspace", str(workspace), "--to", str(out)]) == 0
    with open(out, newline="") as handle:
        return {
            row["student_id"]: (float(row["score"]), float(row["max_score"]))
            for row in csv.DictReader(handle)
        }


def test_scores_are_full_zero_and_exactly_one_function(graded) -> None:
    assert graded["code"] == 0
    total = sum(
        float(_nbgrader(c)["points"]) for c in graded["source"].cells if _nbgrader(c).get("grade")
    )
    expected_one = _points_for(graded["source"], SOLVED_ALONE)
    assert 0 < expected_one < total
    assert _scores(graded["workspace"]) == {
        "ada": (total, total),
        "blaise": (0.0, total),
        "carl": (expected_one, total),
    }


def test_workspace_is_a_standard_nbgrader_course(graded) -> None:
    ws = graded["workspace"]
    for name in (
        "nbgrader_config.py",
        "gradebook.db",
        f"source/{ASSIGNMENT}/{NOTEBOOK}",
        f"release/{ASSIGNMENT}/{NOTEBOOK}",
        f"autograded/ada/{ASSIGNMENT}/{NOTEBOOK}",
    ):
        assert (ws / name).exists(), name


def test_feedback_redacts_hidden_tests(graded) -> None:
    ws = graded["workspace"]
    assert main([*graded["args"], "feedback", ASSIGNMENT, "--workspace", str(ws)]) == 0
    hidden = _hidden_test_lines(graded["source"])
    assert len(hidden) > 10
    for student in ("ada", "blaise", "carl"):
        (page,) = (ws / "feedback" / student / ASSIGNMENT).glob("*.html")
        html = page.read_text()
        assert "hidden tests: not shown" in html
        assert "HIDDEN TESTS" not in html, f"{student}'s feedback shows hidden-test markers"
        text = html_lib.unescape(re.sub(r"<[^>]+>", "", html))
        leaked = [line for line in hidden if line in text]
        assert not leaked, f"{student}'s feedback shows hidden-test source: {leaked[:3]}"


def test_regrading_gives_the_same_scores(graded, course: CourseConfig) -> None:
    ws = graded["workspace"]
    before = _scores(ws)
    assert main([*graded["args"], "grade", ASSIGNMENT, "--workspace", str(ws)]) == 0
    assert _scores(ws) == before


def test_unknown_assignment_is_a_clear_error(course: CourseConfig, tmp_path: Path, capsys) -> None:
    code = main(["--course", str(course.root), "grade", "99_nothing", "--workspace", str(tmp_path)])
    assert code == 2
    assert "99_nothing" in capsys.readouterr().err
