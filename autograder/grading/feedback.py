"""``feedback``: per-student HTML feedback, with the source of hidden tests redacted.

nbgrader restores hidden tests into the autograded notebook, and its feedback shows them, along
with tracebacks that quote the failing hidden line. :class:`RedactHiddenTests` removes both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

from autograder.config import HIDDEN_REGION, REDACTED
from autograder.grading.workspace import Workspace
from autograder.nbgrader_api import run_api


class RedactHiddenTests(Preprocessor):
    """Replace hidden-test regions with a note, and reduce their cells' tracebacks to one line."""

    enabled = Bool(True, help="nbconvert skips preprocessors that are not enabled").tag(config=True)

    def preprocess_cell(self, cell: Any, resources: Any, index: int) -> tuple[Any, Any]:
        if cell.cell_type != "code" or not HIDDEN_REGION.search(cell.source):
            return cell, resources
        cell.source = HIDDEN_REGION.sub(REDACTED, cell.source)
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                output.traceback = [f"{output.ename}: {output.evalue}"]
        return cell, resources


def feedback(ws: Workspace, assignment: str, students: list[str] | None = None) -> list[Path]:
    """Write feedback HTML for each graded student (default: all); return the files written.

    A student with no autograded notebook (missing, or not a notebook) gets none: there is
    nothing to show, and their status and reason are in the gradebook and the report.
    """
    from autograder.grading.workspace import check_ids

    check_ids(students or [])  # an id is never a path: ../x is refused before anything is done
    api = ws.api()
    written: list[Path] = []
    for student in students or ws.students_in("autograded", assignment):
        if not any((ws.path / "autograded" / student / assignment).glob("*.ipynb")):
            continue
        run_api(ws.config(), "generate_feedback", assignment, student, api=api)
        written += sorted((ws.path / "feedback" / student / assignment).glob("*.html"))
    return written
