"""The one writer: each finished result goes to the autograded folder, the gradebook, the ledger.

Only the coordinator process runs this, so nbgrader's sqlite gradebook never sees two writers.
The order makes a crash harmless: the autograded notebooks are replaced atomically, the gradebook
commits the scores (on the submission's rows, created first if new), and only then does the
ledger record the result. A result lost to a crash is simply graded again by the next run, and
lands on the same rows.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from autograder.grading.ledger import Ledger
from autograder.grading.sanitize import inert_json
from autograder.grading.workspace import Workspace
from autograder.messages import GradeTask, TaskResult


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Recorder:
    """Writes results of one assignment; use as a context manager (one gradebook session)."""

    def __init__(self, ws: Workspace, assignment: str) -> None:
        from nbgrader.api import Gradebook

        self.ws, self.assignment = ws, assignment
        self.gradebook = Gradebook(ws.db_url, ws.config().CourseDirectory.course_id)
        # NOTE: this process is the gradebook's one writer while it grades, so what it has read
        # of the assignment (its notebooks and cells) stays true from one commit to the next:
        # kept, rather than expired and read again for every submission (which took half the
        # time a submission's scores took to write)
        self.gradebook.db().expire_on_commit = False
        self._held = self._cells(assignment)  # held: the session keeps only what is referenced
        self.ledger = Ledger(ws.path)

    def _cells(self, assignment: str) -> Any:
        """The assignment, its notebooks and their cells loaded, and so held in the session."""
        from nbgrader.api import MissingEntry

        try:
            found = self.gradebook.find_assignment(assignment)
        except MissingEntry:  # nothing to hold: grading says why it cannot go on
            return None
        for notebook in found.notebooks:
            _ = notebook.grade_cells, notebook.solution_cells, notebook.task_cells
        return found

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.gradebook.close()
        self.ledger.close()

    def record(self, task: GradeTask, result: TaskResult) -> None:
        self._write_autograded(task, result)
        self._write_gradebook(result)
        self.ledger.record(result)

    def _write_autograded(self, task: GradeTask, result: TaskResult) -> None:
        """What nbgrader leaves in autograded/: the executed notebooks and the other files."""
        folder = self.ws.path / "autograded" / result.student / self.assignment
        for name, data in task.files.items():
            _write_atomic(folder / name, data)
        for nb in result.notebooks:
            path = folder / f"{nb.name}.ipynb"
            if nb.executed is None:
                path.unlink(missing_ok=True)  # no stale notebook from an earlier round
            else:
                try:  # what the student's code displayed stays data: nothing in it runs
                    _write_atomic(path, inert_json(nb.executed).encode())
                except ValueError:  # unreadable (nested too deep): none, rather than a live one
                    path.unlink(missing_ok=True)

    def _write_gradebook(self, result: TaskResult) -> None:
        """Scores and automatic comments, as nbgrader's SaveAutoGrades writes them."""
        from nbgrader.api import MissingEntry

        gb = self.gradebook
        timestamp = self._timestamp(result.student)
        try:
            gb.find_student(result.student)
        except MissingEntry:
            gb.add_student(result.student)
        extra: dict[str, Any] = {"timestamp": timestamp} if timestamp else {}
        submission = gb.update_or_create_submission(self.assignment, result.student, **extra)
        by_name = {nb.name: nb for nb in result.notebooks}
        for notebook in submission.notebooks:
            graded = by_name.get(notebook.name)
            if graded is None:
                continue
            for grade in notebook.grades:
                if grade.name not in graded.scores:  # a task cell: graded by hand
                    continue
                grade.auto_score = graded.scores[grade.name][0]
                grade.needs_manual_grade = (
                    grade.manual_score is not None or grade.auto_score is None
                )
            for comment in notebook.comments:
                if comment.name in graded.comments:
                    comment.auto_comment = graded.comments[comment.name]
        gb.db.commit()

    def _timestamp(self, student: str) -> datetime | None:
        """When the student submitted, from nbgrader's timestamp.txt (none, or unreadable: None)."""
        from nbgrader.utils import parse_utc

        path = self.ws.path / "submitted" / student / self.assignment / "timestamp.txt"
        try:
            return parse_utc(path.read_text().strip()) if path.is_file() else None
        except (ValueError, OverflowError):
            return None
