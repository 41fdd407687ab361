"""The autograde round trip, through the real nbgrader: grade, feedback, export.

For every assignment, students submit: the reference solutions (full marks), the untouched
exercise (zero), and, for each graded function, the exercise with exactly that one function
solved (exactly that function's points). The last proves the tests of one function never depend
on another, so partial credit is fair. One more submits the reference with its first mutant (a
plausible bug the author declared) applied, and is told that mutant's misconception.
"""

from __future__ import annotations

import copy
import csv
import html as html_lib
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbformat import NotebookNode

from autograder.cli import main
from autograder.config import CourseConfig
from autograder.mutants import Mutant, apply, mutants_file
from autograder.mutants import load as load_mutants
from tests.conftest import ROOT

ASSIGNMENTS = CourseConfig(root=ROOT).assignments()
SOLUTION_MARKER = re.compile(r"^ *### (BEGIN|END) SOLUTION\n?", re.M)


def _meta(cell: NotebookNode) -> dict:
    return cell.metadata.get("nbgrader", {})


def _functions(source: NotebookNode) -> dict[str, str]:
    """Solution cell grade id -> the grade-id prefix of the tests that grade it."""
    found = {}
    for cell in source.cells:
        grade_id = _meta(cell).get("grade_id", "")
        if _meta(cell).get("solution"):
            # the grade-id convention (AUTHORING.md): an answer cell's id ends in _solution
            assert grade_id.endswith("_solution"), f"answer cell {grade_id!r}: not *_solution"
            found[grade_id] = grade_id.removesuffix("solution")
    return found


def _points(source: NotebookNode, prefix: str = "") -> float:
    return sum(
        float(_meta(c)["points"])
        for c in source.cells
        if _meta(c).get("grade") and _meta(c)["grade_id"].startswith(prefix)
    )


def _mutated(source: NotebookNode, m: Mutant) -> NotebookNode:
    """The reference solution with mutant ``m``'s patch applied to its answer cell."""
    mutated = copy.deepcopy(source)
    code = [c for c in mutated.cells if c.cell_type == "code"]
    for cell, text in zip(code, apply([c.source for c in code], m), strict=True):
        cell.source = text
    return mutated


def _solve_one(exercise: NotebookNode, source: NotebookNode, grade_id: str) -> NotebookNode:
    """The exercise with the one solution cell ``grade_id`` filled in, as a student would."""
    answer = next(c for c in source.cells if _meta(c).get("grade_id") == grade_id)
    solved = copy.deepcopy(exercise)
    for cell in solved.cells:
        if _meta(cell).get("grade_id") == grade_id:
            cell.source = SOLUTION_MARKER.sub("", answer.source)
    return solved


@dataclass
class Graded:
    assignment: str
    workspace: Path
    exit_code: int
    expected: dict[str, float]  # student -> expected score
    total: float
    sources: dict[str, NotebookNode]  # notebook file name -> source notebook
    mutants: dict[str, Mutant]  # student -> the mutant of the reference they submitted


@pytest.fixture(scope="module", params=ASSIGNMENTS)
def graded(request, course: CourseConfig, tmp_path_factory: pytest.TempPathFactory) -> Graded:
    assignment = request.param
    submissions = tmp_path_factory.mktemp("submissions")
    sources = {p.name: nbformat.read(p, as_version=4) for p in course.notebooks(assignment)}
    expected: dict[str, float] = {"full": 0.0, "empty": 0.0}
    mutants: dict[str, Mutant] = {}
    for name, source in sources.items():
        exercise = nbformat.read(course.release / assignment / name, as_version=4)
        students = {"full": source, "empty": exercise}
        declared = load_mutants(mutants_file(course.source / assignment / name))
        if declared:
            mutants["mutant_" + declared[0].name] = declared[0]
            students["mutant_" + declared[0].name] = _mutated(source, declared[0])
        expected["full"] += _points(source)
        for grade_id, prefix in _functions(source).items():
            student = "only_" + grade_id.removesuffix("_solution")
            students[student] = _solve_one(exercise, source, grade_id)
            expected[student] = expected.get(student, 0.0) + _points(source, prefix)
        for student, nb in students.items():
            folder = submissions / student / assignment
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, folder / name)
    workspace = tmp_path_factory.mktemp("workspace")
    code = main(
        [
            "--course",
            str(course.root),
            "grade",
            assignment,
            "--workspace",
            str(workspace),
            "--submissions",
            str(submissions),
        ]
    )
    return Graded(assignment, workspace, code, expected, expected["full"], sources, mutants)


def _scores(workspace: Path) -> dict[str, tuple[float, float]]:
    out = workspace / "grades.csv"
    assert main(["export", "--workspace", str(workspace), "--to", str(out)]) == 0
    with open(out, newline="") as handle:
        return {
            row["student_id"]: (float(row["score"]), float(row["max_score"]))
            for row in csv.DictReader(handle)
        }


def test_full_zero_and_exactly_one_function(graded: Graded) -> None:
    assert graded.exit_code == 0
    assert len(graded.expected) >= 4, "expected at least two graded functions"
    scores = {s: v for s, v in _scores(graded.workspace).items() if s not in graded.mutants}
    assert scores == {s: (points, graded.total) for s, points in graded.expected.items()}
    assert scores["full"][0] == graded.total > 0 and scores["empty"][0] == 0


def test_workspace_is_a_standard_nbgrader_course(graded: Graded) -> None:
    ws = graded.workspace
    for name in graded.sources:
        for stage in ("source", "release", "autograded/full"):
            assert (ws / stage / graded.assignment / name).is_file(), f"{stage}/{name}"
    assert (ws / "nbgrader_config.py").is_file() and (ws / "gradebook.db").is_file()
    # nbgrader's own tools read the workspace through the config file written there
    listing = subprocess.run(
        [str(Path(sys.executable).parent / "nbgrader"), "db", "student", "list"],
        cwd=ws,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listing.returncode == 0, listing.stderr
    assert "full" in listing.stdout and "empty" in listing.stdout


def _probe_secrets(course: CourseConfig, assignment: str, sources: dict) -> list[str]:
    """Lines of the probes files (the hidden checks) that the notebooks do not also hold."""
    visible = "\n".join(c.source for nb in sources.values() for c in nb.cells)
    lines = [
        line.strip()
        for name in sources
        for line in (course.source / assignment / name)
        .with_suffix(".probes.py")
        .read_text()
        .splitlines()
    ]
    return [line for line in lines if len(line) >= 16 and line not in visible]


def test_feedback_shows_no_hidden_check(graded: Graded, course: CourseConfig) -> None:
    """Feedback names the hidden checks that failed, never their source or inputs."""
    ws = graded.workspace
    args = ["--course", str(course.root), "feedback", graded.assignment, "--workspace", str(ws)]
    assert main([*args, "--student", "full", "--student", "empty"]) == 0
    secret = _probe_secrets(course, graded.assignment, graded.sources)
    assert len(secret) > 5
    for student in ("full", "empty"):
        pages = sorted((ws / "feedback" / student / graded.assignment).glob("*.html"))
        assert len(pages) == len(graded.sources)
        for page in pages:
            html = page.read_text()
            assert "HIDDEN TESTS" not in html and "autograder.probes" not in html
            text = html_lib.unescape(re.sub(r"<[^>]+>", "", html))
            leaked = [line for line in secret if line in text]
            assert not leaked, f"{student}'s feedback shows the probes' source: {leaked[:3]}"
            if student == "empty":
                assert "HiddenChecksFailed" in text


def test_regrading_gives_the_same_scores(graded: Graded, course: CourseConfig) -> None:
    before = _scores(graded.workspace)
    args = ["--course", str(course.root), "grade", graded.assignment]
    assert main([*args, "--workspace", str(graded.workspace)]) == 0
    assert _scores(graded.workspace) == before


def test_unknown_assignment_is_a_clear_error(course: CourseConfig, tmp_path: Path, capsys) -> None:
    code = main(["--course", str(course.root), "grade", "99_nothing", "--workspace", str(tmp_path)])
    assert code == 2
    assert "99_nothing" in capsys.readouterr().err


def test_invalid_student_folders_are_named_and_the_others_graded(
    course, tmp_path: Path, capsys
) -> None:
    """One rule for ids: bad folder names are named in a warning; the valid student is graded;
    the CSV export reads back with the csv module; a bad id on the command line is refused
    before anything is written or deleted."""
    import shutil

    assignment = ASSIGNMENTS[0]
    hostile = ["evil name", "a,b", "x" * 250, ".hidden", "caf\u00e9"]
    for student in [*hostile, "ok_student"]:
        (tmp_path / "subs" / student / assignment).mkdir(parents=True)
    for nb in course.notebooks(assignment):
        shutil.copy(
            course.release / assignment / nb.name, tmp_path / "subs" / "ok_student" / assignment
        )
    ws = tmp_path / "ws"
    args = ["--course", str(course.root), "grade", assignment, "--workspace", str(ws)]
    code = main([*args, "--submissions", str(tmp_path / "subs")])
    err = capsys.readouterr().err
    assert code == 0, err  # the one valid student was graded
    assert "not valid student ids" in err and "'a,b'" in err and "'evil name'" in err
    assert sorted(p.name for p in (ws / "submitted").iterdir()) == ["ok_student"]
    out = tmp_path / "grades.csv"
    assert main(["export", "--workspace", str(ws), "--to", str(out)]) == 0
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["student_id"] for r in rows] == ["ok_student"] and rows[0]["score"] == "0.0"
    victim = tmp_path / "x"
    victim.mkdir()
    (victim / "keep.txt").write_text("keep")
    fb = ["--course", str(course.root), "feedback", assignment, "--workspace", str(ws)]
    assert main([*fb, "--student", "../x"]) == 2
    assert "not valid student ids: '../x'" in capsys.readouterr().err
    assert (victim / "keep.txt").read_text() == "keep"


def test_export_quotes_hostile_names(tmp_path: Path) -> None:
    """A comma or a quote in a gradebook name stays in its own column."""
    from nbgrader.api import Gradebook

    from autograder.config import CourseConfig as Course
    from autograder.grading.export import CSV_COLUMNS, export_csv
    from autograder.grading.workspace import Workspace

    ws = Workspace(tmp_path, Course(root=ROOT))
    with Gradebook(ws.db_url, ws.config().CourseDirectory.course_id) as gb:
        gb.add_assignment("a1")
        gb.add_student("s1", last_name='Doe, "Jr"', first_name="Ann,\nMarie")
        gb.add_student("s2", last_name="Roe")
    with open(export_csv(ws, tmp_path / "g.csv"), newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == CSV_COLUMNS
    assert [(r["student_id"], r["last_name"]) for r in rows] == [("s1", 'Doe, "Jr"'), ("s2", "Roe")]
    assert rows[0]["first_name"] == "Ann,\nMarie"
    # pandas, as a spreadsheet-minded instructor reads it, sees the same table
    table = pd.read_csv(tmp_path / "g.csv", dtype=str, keep_default_na=False)
    assert list(table.columns) == CSV_COLUMNS
    assert table.to_dict("records") == rows


def test_a_submitted_mutant_is_told_its_misconception(graded: Graded) -> None:
    """The reference with a mutant's bug loses points, and its feedback names the mutant's
    misconception in the author's sentence, next to the hidden checks that failed."""
    assert graded.mutants, f"{graded.assignment} declares no mutants"
    scores = _scores(graded.workspace)
    for student, m in graded.mutants.items():
        assert scores[student][0] < graded.total, f"{m.name} kept full marks"
        said = [
            o["evalue"]
            for path in (graded.workspace / "autograded" / student / graded.assignment).glob(
                "*.ipynb"
            )
            for cell in nbformat.read(path, as_version=4).cells
            for o in cell.get("outputs", [])
            if o.get("ename") == "HiddenChecksFailed"
        ]
        assert any(m.why in text and "common mistake" in text for text in said), (m.name, said)
    full = graded.workspace / "autograded" / "full" / graded.assignment
    assert "common mistake" not in "".join(p.read_text() for p in full.glob("*.ipynb"))
