"""``export``: the gradebook as nbgrader's CSV (one row per student and assignment)."""

from __future__ import annotations

from pathlib import Path

from autograder.workspace import Workspace


def export_csv(ws: Workspace, to: Path) -> Path:
    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin

    if not (ws.path / "gradebook.db").is_file():
        raise FileNotFoundError(f"no gradebook in {ws.path}: run `grade` first")
    to.parent.mkdir(parents=True, exist_ok=True)
    with Gradebook(ws.db_url, ws.config().CourseDirectory.course_id) as gb:
        CsvExportPlugin(to=str(to)).export(gb)
    return to
