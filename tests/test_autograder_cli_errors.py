"""An instructor's mistake gets a message that says what to do, and a non-zero exit code.

Each case is run through the real command line on a real toy course; none of them may create a
workspace, grade anything, or end in a traceback.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from autograder.cli import main
from tests.synthetic import TOY_ASSIGNMENT, course_notebooks, toy_course, write_class


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("course")
    toy_course(root)
    return root


def _grade(course: Path, workspace: Path, submissions: Path, *more: str) -> list[str]:
    return ["--course", str(course), "grade", TOY_ASSIGNMENT, "--workspace", str(workspace),
            "--submissions", str(submissions), "--workers", "1", *more]  # fmt: skip


def _one_student(course: Path, where: Path) -> Path:
    """A correct student in the right layout, under ``where``: where/<student>/<assignment>/."""
    from autograder.config import CourseConfig

    notebooks = course_notebooks(CourseConfig(root=course), TOY_ASSIGNMENT)
    write_class(where, TOY_ASSIGNMENT, notebooks, ["correct"])
    return where


def test_a_wrong_assignment_name_lists_the_valid_ones(course: Path, tmp_path: Path, capsys) -> None:
    subs = _one_student(course, tmp_path / "subs")
    args = _grade(course, tmp_path / "ws", subs)
    args[args.index(TOY_ASSIGNMENT)] = "00_typo"
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "no assignment '00_typo'" in err and f"the assignments are: {TOY_ASSIGNMENT}" in err
    assert not (tmp_path / "ws").exists()


def test_a_missing_submissions_folder_creates_no_workspace(
    course: Path, tmp_path: Path, capsys
) -> None:
    assert main(_grade(course, tmp_path / "ws", tmp_path / "nowhere")) == 2
    assert "no submissions folder at" in capsys.readouterr().err
    assert not (tmp_path / "ws").exists()


def test_students_without_the_assignment_folder_are_a_layout_error(
    course: Path, tmp_path: Path, capsys
) -> None:
    """SUBS/<student>/nb.ipynb: the expected layout is shown beside what was found."""
    right = _one_student(course, tmp_path / "right")
    flat = tmp_path / "flat"
    for student in right.iterdir():
        (flat / student.name).mkdir(parents=True)
        for nb in (student / TOY_ASSIGNMENT).iterdir():
            shutil.copy(nb, flat / student.name / nb.name)
    assert main(_grade(course, tmp_path / "ws", flat)) == 2
    err = capsys.readouterr().err
    assert f"expected SUBMISSIONS/<student>/{TOY_ASSIGNMENT}/<notebook>.ipynb" in err
    assert "found correct_0000/" in err and "SUBMISSIONS/<student>/<notebook>.ipynb" in err
    assert not (tmp_path / "ws").exists()


def test_assignment_first_is_a_layout_error(course: Path, tmp_path: Path, capsys) -> None:
    """SUBS/<assignment>/<student>/: the message names the likely mistake."""
    right = _one_student(course, tmp_path / "right")
    swapped = tmp_path / "swapped"
    for student in right.iterdir():
        shutil.copytree(student / TOY_ASSIGNMENT, swapped / TOY_ASSIGNMENT / student.name)
    assert main(_grade(course, tmp_path / "ws", swapped)) == 2
    err = capsys.readouterr().err
    assert f"found {TOY_ASSIGNMENT}/" in err and "the student's folder comes first" in err
    assert not (tmp_path / "ws").exists()


@pytest.mark.parametrize("command", ["feedback", "report", "export"])
def test_a_missing_workspace_is_named(course: Path, tmp_path: Path, command: str, capsys) -> None:
    args = ["--course", str(course), command]
    args += [TOY_ASSIGNMENT] if command != "export" else []
    args += ["--workspace", str(tmp_path / "nowhere")]
    if command in ("report", "export"):
        args += ["--out" if command == "report" else "--to", str(tmp_path / "out")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "does not exist: it is not a grading workspace" in err and "Traceback" not in err
    assert not (tmp_path / "nowhere").exists() and not (tmp_path / "out").exists()


def test_feedback_and_report_name_the_graded_assignments(
    course: Path, tmp_path: Path, capsys
) -> None:
    subs = _one_student(course, tmp_path / "subs")
    ws = tmp_path / "ws"
    assert main(_grade(course, ws, subs)) == 0
    capsys.readouterr()
    for command in ("feedback", "report"):
        args = ["--course", str(course), command, "00_other", "--workspace", str(ws)]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert f"has not graded '00_other'; it has graded: {TOY_ASSIGNMENT}" in err


def test_student_regrades_only_that_student(course: Path, tmp_path: Path, capsys) -> None:
    """``grade --student ID`` regrades that one submission (no --force for the class); an id with
    no submission is named, and nothing is graded."""
    from autograder.config import CourseConfig

    notebooks = course_notebooks(CourseConfig(root=course), TOY_ASSIGNMENT)
    subs = tmp_path / "subs"
    first, second = write_class(subs, TOY_ASSIGNMENT, notebooks, ["correct", "partial"])
    ws = tmp_path / "ws"
    assert main(_grade(course, ws, subs)) == 0
    capsys.readouterr()
    assert main(_grade(course, ws, subs, "--student", second)) == 0
    out = capsys.readouterr().out
    listed = [
        line.split()[0] for line in out.splitlines()[1:] if line.startswith(("correct", "partial"))
    ]
    assert listed == [second], out
    assert "already graded" not in out and "1/3" in out
    assert main(_grade(course, ws, subs, "--student", "nobody")) == 2
    assert (
        f"no submission from 'nobody'; the students are: {first}, {second}"
        in capsys.readouterr().err
    )
