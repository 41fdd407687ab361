"""``grade``: autograde a folder of submissions into the workspace's gradebook.

The pipeline, in order:

1. :func:`autograder.workspace.prepare`: config, a copy of the source, gradebook entries;
2. :func:`autograder.workspace.collect`: copy the submissions in;
3. :func:`grade_submission` for each student: the one grading step, which later backends
   (parallel, distributed, sandboxed) wrap;
4. the results, one :class:`GradeResult` per student.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder.config import CourseConfig
from autograder.workspace import Workspace, collect, prepare


@dataclass(frozen=True)
class GradeResult:
    student: str
    assignment: str
    status: str  # "graded", or "failed" when nbgrader could not grade the submission
    score: float
    max_score: float
    reason: str = ""  # why it failed, in words


def grade_submission(ws: Workspace, assignment: str, student: str, api: Any = None) -> GradeResult:
    """Autograde one student's submission (fresh kernel) and read its score from the gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    api = api or ws.api()
    outcome = api.autograde(assignment, student, force=True, create=True)
    with Gradebook(ws.db_url, ws.config().CourseDirectory.course_id) as gb:
        try:
            submission = gb.find_submission(assignment, student)
            score, max_score = float(submission.score), float(submission.max_score)
        except MissingEntry:
            score, max_score = 0.0, float(gb.find_assignment(assignment).max_score)
    if outcome.get("success"):
        return GradeResult(student, assignment, "graded", score, max_score)
    lines = (outcome.get("error") or outcome.get("log") or "unknown error").strip().splitlines()
    return GradeResult(student, assignment, "failed", score, max_score, lines[-1] if lines else "")


def grade(
    course: CourseConfig, workspace: Path, assignment: str, submissions: Path | None = None
) -> list[GradeResult]:
    """Grade every submission of ``assignment``: those in ``submissions`` (copied into the
    workspace first), or those already in the workspace's ``submitted/`` folder."""
    ws = prepare(course, workspace, assignment)
    students = (
        collect(ws, assignment, submissions)
        if submissions
        else ws.students_in("submitted", assignment)
    )
    api = ws.api()
    return [grade_submission(ws, assignment, student, api) for student in students]
