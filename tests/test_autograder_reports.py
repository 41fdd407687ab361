"""What the instructor takes away: nbgrader's CSV, the Canvas CSV, the HTML report, feedback."""

from __future__ import annotations

import csv
import html as html_lib
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from autograder.cli import main
from autograder.grading.export import CANVAS_COLUMNS, POINTS_POSSIBLE
from tests.synthetic import TOY_ASSIGNMENT, course_notebooks, toy_course, write_class

KINDS = ["correct", "partial", "wrong", "kernel_death", "invalid", "missing"]
SCORES = {"correct": 3.0, "partial": 1.0, "wrong": 0.0, "kernel_death": 1.0}
HIDDEN = ["the secret negative case of double", "the secret four-vector of norm"]


@dataclass
class Graded:
    course: Path
    workspace: Path
    students: list[str]
    exit_code: int


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Graded:
    course = toy_course(tmp_path_factory.mktemp("course"))
    subs = tmp_path_factory.mktemp("subs")
    students = write_class(subs, TOY_ASSIGNMENT, course_notebooks(course, TOY_ASSIGNMENT), KINDS)
    workspace = tmp_path_factory.mktemp("ws")
    args = ["--course", str(course.root), "--cell-timeout", "30", "grade", TOY_ASSIGNMENT]
    code = main([*args, "--workspace", str(workspace), "--submissions", str(subs)])
    return Graded(course.root, workspace, students, code)


def _kind(student: str) -> str:
    return student.rsplit("_", 1)[0]


def test_the_exit_code_flags_submissions_that_need_a_look(graded: Graded) -> None:
    assert graded.exit_code == 1  # a kernel died, a notebook is invalid, one is missing


def test_nbgraders_csv_parses(graded: Graded, tmp_path: Path) -> None:
    out = tmp_path / "grades.csv"
    assert main(["--course", str(graded.course), "export", "--workspace", str(graded.workspace),
                 "--to", str(out)]) == 0  # fmt: skip
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["student_id"] for r in rows) == sorted(graded.students)
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert frame.to_dict("records") == rows
    for row in rows:
        assert float(row["score"]) == SCORES.get(_kind(row["student_id"]), 0.0)
        assert float(row["max_score"]) == 3.0 and row["assignment"] == TOY_ASSIGNMENT


def test_the_canvas_csv_follows_canvas_conventions(graded: Graded, tmp_path: Path) -> None:
    out = tmp_path / "canvas.csv"
    args = ["--course", str(graded.course), "export", "--workspace", str(graded.workspace)]
    args += ["--to", str(tmp_path / "grades.csv"), "--canvas", str(out)]
    assert main([*args, "--canvas-id", f"{TOY_ASSIGNMENT}=4242"]) == 0
    with open(out, newline="", encoding="utf-8") as handle:
        table = list(csv.reader(handle))
    header, points, *students = table
    assert header == [*CANVAS_COLUMNS, f"{TOY_ASSIGNMENT} (4242)"]
    assert header[:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert points == [POINTS_POSSIBLE, "", "", "", "", "3"] and points[0] == "    Points Possible"
    assert sorted(row[3] for row in students) == sorted(graded.students)  # SIS Login ID
    for row in students:
        assert len(row) == len(header)
        assert float(row[5]) == SCORES.get(_kind(row[3]), 0.0)
    # pandas reads the same table (Canvas's own import is a CSV reader too)
    frame = pd.read_csv(out, dtype=str, keep_default_na=False, encoding="utf-8")
    assert list(frame.columns) == header
    assert frame.values.tolist() == [points, *students]

    assert main(args) == 0  # without an id the column is the assignment's name
    with open(out, newline="", encoding="utf-8") as handle:
        assert next(csv.reader(handle))[5] == TOY_ASSIGNMENT


def test_the_html_report_shows_statuses_histograms_and_the_slowest(
    graded: Graded, tmp_path: Path
) -> None:
    out = tmp_path / "report.html"
    args = ["--course", str(graded.course), "report", TOY_ASSIGNMENT]
    assert main([*args, "--workspace", str(graded.workspace), "--out", str(out)]) == 0
    page = out.read_text()
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 3, "the total and one histogram per test cell"
    for status in ("graded", "kernel_died", "invalid_notebook", "missing"):
        assert f"<td>{status}</td>" in page
    assert "toy_double_test" in page and "toy_norm_test" in page
    assert "Slowest submissions" in page
    table = page[page.index("Slowest submissions") :]
    slowest = re.findall(r"<tr><td>([a-z_0-9]+)</td><td>[0-9.]+</td></tr>", table)
    assert sorted(slowest) == sorted(graded.students)


def test_feedback_never_shows_hidden_tests(graded: Graded) -> None:
    args = ["--course", str(graded.course), "feedback", TOY_ASSIGNMENT]
    assert main([*args, "--workspace", str(graded.workspace)]) == 0
    pages = sorted((graded.workspace / "feedback").glob(f"*/{TOY_ASSIGNMENT}/toy.html"))
    with_notebook = {s for s in graded.students if _kind(s) not in ("invalid", "missing")}
    assert {p.parts[-3] for p in pages} == set(graded.students), "a notebook never run: a notice"
    for page in pages:
        text = html_lib.unescape(re.sub(r"<[^>]+>", "", page.read_text()))
        if page.parts[-3] in with_notebook:
            assert "hidden tests: not shown" in text
        else:
            assert "Resubmit a valid .ipynb" in text and "Score: 0 / 3" in text
        leaked = [line for line in HIDDEN if line in text]
        assert not leaked, f"{page}: hidden tests in the feedback: {leaked}"
    dead = next(p for p in pages if _kind(p.parts[-3]) == "kernel_death").read_text()
    assert "NotRun: the kernel died in cell 3 (toy_norm_solution)" in html_lib.unescape(dead)
