"""Crashes: a coordinator killed mid-run resumes; a worker killed by a submission is survived."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from autograder.config import GradingConfig
from autograder.grading.grade import grade
from autograder.grading.ledger import FILENAME, Ledger
from tests.synthetic import TOY_ASSIGNMENT, course_notebooks, toy_course, write_class

STUDENTS = 16


def _recorded(workspace: Path) -> int:
    """Rows in the ledger, read the way any other process may read it while grading runs."""
    path = workspace / FILENAME
    if not path.is_file():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM autograder_results").fetchone()[0]
    except sqlite3.OperationalError:  # the table is not created yet
        return 0


def _count(workspace: Path, sql: str) -> int:
    with sqlite3.connect(workspace / "gradebook.db") as db:
        return db.execute(sql).fetchone()[0]


def test_a_killed_run_resumes_and_grades_each_submission_once(tmp_path: Path) -> None:
    course = toy_course(tmp_path / "course")
    kinds = ["correct", "wrong"] * (STUDENTS // 2)
    students = write_class(
        tmp_path / "subs", TOY_ASSIGNMENT, course_notebooks(course, TOY_ASSIGNMENT), kinds
    )
    workspace = tmp_path / "ws"
    cmd = [sys.executable, "-m", "autograder", "--course", str(course.root)]
    cmd += ["--cell-timeout", str(course.cell_timeout)]  # the same limits: the same grading hash
    cmd += ["grade", TOY_ASSIGNMENT, "--workspace", str(workspace)]
    cmd += ["--submissions", str(tmp_path / "subs"), "--workers", "2"]
    # Its own session, so that the workers it leaves orphaned can be cleaned up by group id.
    run = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 240
        while _recorded(workspace) < 3 and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert run.poll() is None, "the run ended before it could be killed: grade more students"
        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGKILL)  # the orphaned workers of the killed coordinator
    killed_at = _recorded(workspace)
    assert 3 <= killed_at < STUDENTS, f"killed after {killed_at} of {STUDENTS}"

    results = grade(course, workspace, TOY_ASSIGNMENT, None, GradingConfig(workers=2))

    assert [r.student for r in results] == sorted(students)
    assert sum(r.skipped for r in results) >= killed_at, "what was recorded is not graded again"
    expected = {s: 3.0 if s.startswith("correct") else 0.0 for s in students}
    assert {r.student: r.score for r in results} == expected
    assert all(r.status == "graded" for r in results)

    # Exactly once: one ledger row, one gradebook submission, one grade per test cell, each.
    with Ledger(workspace) as ledger:
        rows = ledger.rows(TOY_ASSIGNMENT)
    assert sorted(rows) == sorted(students)
    assert {s: r.score for s, r in rows.items()} == expected
    assert _count(workspace, "SELECT COUNT(*) FROM submitted_assignment") == STUDENTS
    assert _count(workspace, "SELECT COUNT(DISTINCT student_id) FROM submitted_assignment") == (
        STUDENTS
    )
    assert _count(workspace, "SELECT COUNT(*) FROM grade") == 2 * STUDENTS
    assert _count(workspace, "SELECT COUNT(*) FROM grade WHERE auto_score IS NULL") == 0


#: Kills the kernel's nearest ancestor that is not the disk guard (whose kernel dies with it):
#: the worker, without a sandbox; in a PID namespace it finds none.
KILLER = """

import os, signal

_pid = os.getpid()
while _pid > 1:
    with open(f"/proc/{_pid}/stat") as _stat:
        _pid = int(_stat.read().rsplit(")", 1)[1].split()[1])
    with open(f"/proc/{_pid}/cmdline", "rb") as _argv:
        if _pid > 1 and b"disk_guard" not in _argv.read():
            os.kill(_pid, signal.SIGKILL)
            break
"""


def test_a_submission_that_kills_its_worker_is_an_error_and_the_rest_are_graded(
    tmp_path: Path,
) -> None:
    import nbformat

    from tests.synthetic import student_notebook

    course = toy_course(tmp_path / "course")
    notebooks = course_notebooks(course, TOY_ASSIGNMENT)
    students = write_class(tmp_path / "subs", TOY_ASSIGNMENT, notebooks, ["correct"] * 3)
    nb = student_notebook("correct", *notebooks["toy.ipynb"])
    nb.cells[1].source += KILLER
    (tmp_path / "subs" / "killer" / TOY_ASSIGNMENT).mkdir(parents=True)
    nbformat.write(nb, tmp_path / "subs" / "killer" / TOY_ASSIGNMENT / "toy.ipynb")

    # Unsandboxed, the kernel is the worker's child and can kill it: the grader's own failure.
    options = GradingConfig(workers=2, isolation="none")
    results = grade(course, tmp_path / "ws", TOY_ASSIGNMENT, tmp_path / "subs", options)
    outcome = {r.student: (r.status, r.score) for r in results}
    assert outcome == {**{s: ("graded", 3.0) for s in students}, "killer": ("error", 0.0)}
    with Ledger(tmp_path / "ws") as ledger:
        assert sorted(ledger.rows(TOY_ASSIGNMENT)) == sorted(students)  # errors: not recorded

    if shutil.which("bwrap"):  # in its sandbox, its own PID namespace, it reaches no worker
        options = GradingConfig(workers=2, force=True)
        results = grade(course, tmp_path / "ws", TOY_ASSIGNMENT, None, options)
        assert {r.student: (r.status, r.score) for r in results}["killer"] == ("graded", 3.0)
