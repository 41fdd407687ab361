"""``feedback``: per-student HTML feedback, with the source of hidden tests redacted, under a
Content-Security-Policy that runs no script of the student's (:mod:`autograder.grading.sanitize`).

nbgrader restores hidden tests into the autograded notebook, and its feedback shows them, along
with tracebacks that quote the failing hidden line. :class:`RedactHiddenTests` removes both.
The pages' math is MathML (:mod:`autograder.grading.mathml`), so they read offline, and a
notebook that never ran gets a page that says why (:func:`notice_page`).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

from autograder.config import HIDDEN_REGION, REDACTED
from autograder.grading.workspace import Workspace
from autograder.messages import TaskResult
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

    A notebook the grader could not run (:data:`NOTICE`: not a notebook, refused, or not
    submitted) has no autograded notebook for nbgrader to show: its page, at the same path,
    says why, in the grader's words from the ledger, the score, and what to do instead.
    """
    from autograder.grading.workspace import bad_ids, check_ids

    check_ids(students or [])  # an id is never a path: ../x is refused before anything is done
    api = ws.api()
    rows = _ledger_rows(ws, assignment)
    found = set(ws.students_in("autograded", assignment)) | set(rows)
    written: list[Path] = []
    for student in students or sorted(found - set(bad_ids(sorted(found)))):
        autograded = ws.path / "autograded" / student / assignment
        folder = ws.path / "feedback" / student / assignment
        if any(autograded.glob("*.ipynb")):
            run_api(ws.config(), "generate_feedback", assignment, student, api=api)
            written += _lock_down(autograded, folder)
        if student in rows:
            written += _notices(ws, rows[student], autograded, folder)
    return written


def _ledger_rows(ws: Workspace, assignment: str) -> dict[str, TaskResult]:
    from autograder.grading.ledger import FILENAME, Ledger

    if not (ws.path / FILENAME).is_file():
        return {}
    with Ledger(ws.path) as ledger:
        return ledger.rows(assignment)


def _notices(ws: Workspace, row: TaskResult, autograded: Path, folder: Path) -> list[Path]:
    """A notice page for each of the assignment's notebooks that the grader could not run."""
    from autograder.grading.sanitize import inert_page

    by_name = {nb.name: nb for nb in row.notebooks}
    written = []
    for source in sorted((ws.path / "source" / row.assignment).glob("*.ipynb")):
        result = by_name.get(source.stem)
        status, reason = (result.status, result.reason) if result else (row.status, row.reason)
        if status not in NOTICE or (autograded / source.name).is_file():
            continue
        scores = result.scores.values() if result else row.scores.values()
        score = (sum(p or 0.0 for p, _ in scores), sum(m for _, m in scores))
        page = notice_page(row.student, row.assignment, source.name, status, reason, score)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{source.stem}.html").write_text(inert_page(page), encoding="utf-8")
        written.append(folder / f"{source.stem}.html")
    return written


#: Statuses whose notebook never ran, and what each means to the student.
NOTICE = {
    "invalid_notebook": "The file you submitted as {name} is not a notebook the grader can read.",
    "refused": "Your submission was refused, so none of it was run: the grader takes plain "
    "files only.",
    "missing": "Your submission had no file named {name}.",
}
NOTICE_STYLE = "body { font-family: system-ui, sans-serif; max-width: 48rem; margin: 2rem auto; }"


def notice_page(
    student: str, assignment: str, name: str, status: str, reason: str, score: tuple[float, float]
) -> str:
    """The page of a notebook that was not graded: why (the grader's ``reason`` too), the
    score, and what to do. Everything from outside is escaped."""
    e = html.escape
    why = NOTICE.get(status, "The grader could not run {name}.").format(name=name)
    exercise = f"exercises/{assignment}/{name}"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{e(name)}: not graded</title>
<style>{NOTICE_STYLE}</style>
</head>
<body>
<h1>{e(name)} (Score: {score[0]:g} / {score[1]:g})</h1>
<p>Student: <code>{e(student)}</code>. Assignment: <code>{e(assignment)}</code>.</p>
<h2>Why it was not graded</h2>
<p class="why">{e(why)} So no test ran, and every test scores 0.</p>
<p>The grader said: <q class="reason">{e(reason or status)}</q>
(status <code>{e(status)}</code>).</p>
<h2>What to do</h2>
<p>Resubmit a valid <code>.ipynb</code> of the released notebook, <code>{e(exercise)}</code>:
open it in JupyterLab, write your answers in it, save it, and check it with
<code>python -m coursekit.validate {e(exercise)}</code>. Hand in the notebook file itself,
under its own name, <code>{e(name)}</code> (not renamed, not exported to PDF or HTML).</p>
</body>
</html>
"""


def _lock_down(autograded: Path, folder: Path) -> list[Path]:
    """Give each page nbgrader wrote a policy that runs no inline script; return the pages.

    NOTE: a post-write step, not a template or preprocessor: nbconvert's page template has no
    hook for a head element, and this way the policy holds whatever template nbgrader picks.
    nbgrader also copies the submission's other files here; one a browser would run (a student's
    own .html or .svg) is removed: the pages written here are the only active files.
    """
    from autograder.grading.mathml import render_math
    from autograder.grading.sanitize import ACTIVE_SUFFIXES, inert_page

    pages = sorted(folder / f"{nb.stem}.html" for nb in autograded.glob("*.ipynb"))
    pages = [page for page in pages if page.is_file()]
    for path in folder.rglob("*"):
        if path.suffix.lower() in ACTIVE_SUFFIXES and path not in pages and path.is_file():
            path.unlink()
    for page in pages:
        text = render_math(page.read_text(encoding="utf-8"))
        page.write_text(inert_page(text), encoding="utf-8")
    return pages
