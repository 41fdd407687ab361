"""An instructor's mistake gets a message that says what to do, and a non-zero exit code.

Each case is run through the real command line on a real toy course; none of them may create a
workspace, grade anything, or end in a traceback.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
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


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The command line as an instructor runs it: its own interpreter, no warning filters of
    pytest's, no PYTHONWARNINGS."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    return subprocess.run(
        [sys.executable, "-m", "autograder", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_a_normal_run_prints_no_warnings(course: Path, tmp_path: Path) -> None:
    """grade, feedback, export and report, as an instructor runs them, print no warning:
    neither nbgrader's SQLAlchemy ``SAWarning``s nor ipykernel's "running over TCP without
    encryption" (the kernels talk over IPC). Progress goes to stderr, the tables to stdout."""
    subs = _one_student(course, tmp_path / "subs")
    ws = str(tmp_path / "ws")
    runs = [
        ("--course", str(course), "grade", TOY_ASSIGNMENT, "--workspace", ws,
         "--submissions", str(subs), "--workers", "1"),
        ("--course", str(course), "feedback", TOY_ASSIGNMENT, "--workspace", ws),
        ("--course", str(course), "export", "--workspace", ws, "--to", str(tmp_path / "g.csv")),
        ("--course", str(course), "report", TOY_ASSIGNMENT, "--workspace", ws,
         "--out", str(tmp_path / "r.html")),
    ]  # fmt: skip
    for args in runs:
        done = _cli(*args, cwd=tmp_path)
        said = done.stdout + done.stderr
        assert done.returncode == 0, said
        for noise in ("Warning", "WARNING", "without encryption", "Traceback"):
            assert noise not in said, f"{args[2]} printed {noise!r}:\n{said}"


def test_help_imports_nothing_heavy(tmp_path: Path) -> None:
    """``--help`` (and each command's) answers from the parser alone: torch, NumPy, nbgrader,
    SQLAlchemy, Dask and the Jupyter stack wait until a command needs them. (How fast that is,
    is the closing note's figure; this is what makes it fast.)"""
    heavy = ("torch", "numpy", "nbgrader", "sqlalchemy", "dask", "distributed", "nbformat",
             "nbclient", "jupyter_client", "ipykernel", "pandas", "matplotlib")  # fmt: skip
    probe = (
        "import runpy, sys\n"
        "sys.argv = ['autograder', *sys.argv[1:]]\n"
        "try:\n    runpy.run_module('autograder', run_name='__main__')\n"
        "except SystemExit as e:\n    assert e.code == 0, e.code\n"
        f"print('HEAVY', [m for m in {heavy!r} if m in sys.modules])\n"
    )
    for args in ([], ["grade"], ["check"], ["report"]):
        done = subprocess.run(
            [sys.executable, "-c", probe, *args, "--help"],
            cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "usage:" in done.stdout and "HEAVY []" in done.stdout, (args, done.stdout[-300:])


def test_every_nbgrader_command_the_docs_name_exists() -> None:
    """A command the README or the book tells an instructor to type is one nbgrader 0.9 has
    (``nbgrader formgrader`` is not: the formgrader is a JupyterLab panel)."""
    root = Path(__file__).resolve().parents[1]
    texts = [root / "README.md", root / "AUTHORING.md", *sorted((root / "book").glob("*.md"))]
    named = set()
    for path in texts:
        text = path.read_text()
        # code only: fenced blocks, and inline code (which may wrap across a line)
        code = re.findall(r"```.*?```", text, re.S)
        code += re.findall(r"`([^`]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
        for span in code:
            # a command: at the start of a line of code, or after && or a prompt
            named.update(re.findall(r"(?:^|&&|\$)\s*nbgrader\s+([a-z_]+)\b", span, re.M))
    assert "formgrader" not in named, "nbgrader 0.9 has no formgrader command"
    nbgrader = Path(sys.executable).parent / "nbgrader"
    for command in sorted(named):
        done = subprocess.run([str(nbgrader), command, "--help"], capture_output=True, text=True)
        assert done.returncode == 0 and "No command given" not in done.stdout, command
