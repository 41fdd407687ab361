"""``feedback``: per-student HTML feedback, with the source of hidden tests redacted, under a
Content-Security-Policy that runs no script of the student's (:mod:`autograder.grading.sanitize`).

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
        folder = ws.path / "feedback" / student / assignment
        written += _lock_down(ws.path / "autograded" / student / assignment, folder)
    return written


def _lock_down(autograded: Path, folder: Path) -> list[Path]:
    """Give each page nbgrader wrote a policy that runs no inline script; return the pages.

    NOTE: a post-write step, not a template or preprocessor: nbconvert's page template has no
    hook for a head element, and this way the policy holds whatever template nbgrader picks.
    nbgrader also copies the submission's other files here; one a browser would run (a student's
    own .html or .svg) is removed: the pages written here are the only active files.
    """
    from autograder.grading.sanitize import ACTIVE_SUFFIXES, inert_page

    pages = sorted(folder / f"{nb.stem}.html" for nb in autograded.glob("*.ipynb"))
    pages = [page for page in pages if page.is_file()]
    for path in folder.rglob("*"):
        if path.suffix.lower() in ACTIVE_SUFFIXES and path not in pages and path.is_file():
            path.unlink()
    for page in pages:
        page.write_text(inert_page(page.read_text(encoding="utf-8")), encoding="utf-8")
    return pages
