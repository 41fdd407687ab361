"""``export``: the gradebook as nbgrader's CSV, and as a Canvas gradebook import CSV.

nbgrader's CSV has one row per student and assignment. The Canvas file follows the layout of
Canvas's own gradebook export, which its import reads back:

- the header ``Student, ID, SIS User ID, SIS Login ID, Section``, then one column per assignment,
  named ``<assignment> (<Canvas assignment id>)`` when the id is known (``--canvas-id``), else
  just the name (Canvas then matches by name, or creates the assignment);
- a second row, ``    Points Possible`` (four leading spaces, as Canvas writes it), with each
  assignment's maximum score;
- one row per student: ``Last, First`` (or the student id when the gradebook has no names),
  nbgrader's ``lms_user_id`` as the Canvas ``ID``, the nbgrader student id as ``SIS Login ID``,
  and the score after any late penalty. A blank score (no submission) leaves Canvas's grade as is.
"""

from __future__ import annotations

import csv
from pathlib import Path

from autograder.grading.workspace import Workspace

CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
POINTS_POSSIBLE = "    Points Possible"


def _gradebook_path(ws: Workspace) -> Path:
    path = ws.path / "gradebook.db"
    if not path.is_file():
        raise FileNotFoundError(f"no gradebook in {ws.path}: run `grade` first")
    return path


#: nbgrader's CSV columns, in its order (nbgrader.plugins.CsvExportPlugin).
CSV_COLUMNS = [
    "assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email",
    "raw_score", "late_submission_penalty", "score", "max_score",
]  # fmt: skip


def export_csv(ws: Workspace, to: Path) -> Path:
    """nbgrader's CSV, one row per student and assignment, written with the csv module's quoting
    (nbgrader's own plugin joins fields with bare commas, so a comma in a name shifts columns)."""
    from nbgrader.api import Gradebook, MissingEntry

    _gradebook_path(ws)
    to.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    with Gradebook(ws.db_url, ws.config().CourseDirectory.course_id) as gb:
        for assignment in gb.assignments:
            for student in gb.students:
                row = {
                    "assignment": assignment.name,
                    "duedate": assignment.duedate,
                    "student_id": student.id,
                    "last_name": student.last_name,
                    "first_name": student.first_name,
                    "email": student.email,
                    "max_score": assignment.max_score,
                    "timestamp": "",
                    "raw_score": 0.0,
                    "late_submission_penalty": 0.0,
                    "score": 0.0,
                }
                try:
                    sub = gb.find_submission(assignment.name, student.id)
                except MissingEntry:
                    rows.append(row)
                    continue
                penalty = sub.late_submission_penalty or 0.0
                row.update(timestamp=sub.timestamp, raw_score=sub.score)
                row.update(late_submission_penalty=penalty, score=max(0.0, sub.score - penalty))
                rows.append(row)
    with open(to, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, CSV_COLUMNS)
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in r.items()} for r in rows)
    return to


def _points(value: float) -> str:
    """A score as Canvas writes one: at most two decimals, no trailing zeros."""
    return f"{round(value, 2):g}"


def export_canvas(ws: Workspace, to: Path, canvas_ids: dict[str, str] | None = None) -> Path:
    """Write the Canvas import CSV; ``canvas_ids`` maps assignment names to Canvas ids."""
    from nbgrader.api import Gradebook

    _gradebook_path(ws)
    canvas_ids = canvas_ids or {}
    to.parent.mkdir(parents=True, exist_ok=True)
    with Gradebook(ws.db_url, ws.config().CourseDirectory.course_id) as gb:
        assignments = sorted(gb.assignments, key=lambda a: (a.duedate is None, a.duedate, a.name))
        scores: dict[tuple[str, str], float] = {}
        for assignment in assignments:
            for sub in assignment.submissions:
                penalty = sub.late_submission_penalty or 0.0
                scores[assignment.name, sub.student_id] = max(0.0, sub.score - penalty)
        header = CANVAS_COLUMNS + [
            f"{a.name} ({canvas_ids[a.name]})" if a.name in canvas_ids else a.name
            for a in assignments
        ]
        rows = [header, [POINTS_POSSIBLE, "", "", "", ""]]
        rows[1] += [_points(a.max_score) for a in assignments]
        students = sorted(gb.students, key=lambda s: (s.last_name or "", s.first_name or "", s.id))
        for student in students:
            names = [n for n in (student.last_name, student.first_name) if n]
            row = [", ".join(names) or student.id, student.lms_user_id or "", "", student.id, ""]
            row += [
                _points(scores[a.name, student.id]) if (a.name, student.id) in scores else ""
                for a in assignments
            ]
            rows.append(row)
    with open(to, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return to
