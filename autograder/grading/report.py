"""``report``: one self-contained HTML page about an assignment's grading, for the instructor.

Statuses; score histograms (matplotlib, embedded as PNG) of the assignment and of each exercise
under the function it grades (from the probes); each function's most common failure reasons
(first error lines in the autograded notebooks, which a student's code can choose: escaped);
each student's status, score and feedback page; the slowest submissions. Scores come from the
ledger, folded with :mod:`autograder.grading.stats`.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from autograder import probes
from autograder.grading.ledger import Ledger
from autograder.grading.stats import BINS, AssignmentStats, Folded, Summary, fold_results
from autograder.messages import STATUSES, TaskResult
from autograder.nbgrader_api import grade_id as cell_grade_id

FIGSIZE = (4.0, 2.4)  # inches; at CSS_DPI this is the image's natural size on the page
CSS_DPI = 100  # CSS pixels per inch of the figure
PIXEL_RATIO = 2  # the PNG has this many pixels per CSS pixel, sharp on high-density screens
TOP_REASONS = 5  # failure reasons shown per function
REASON_CHARS = 200  # a reason is cut to this many characters

STYLE = """
*, *::before, *::after { box-sizing: border-box; }
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; line-height: 1.4; }
table { border-collapse: collapse; margin: 1rem 0; } td:first-child { min-width: 10ch; }
th, td { padding: 0.25rem 0.75rem; border-bottom: 1px solid #ddd; text-align: right;
         vertical-align: top; white-space: nowrap; }
th:first-child, td:first-child, .text { text-align: left; }
td:first-child, td.text { white-space: normal; overflow-wrap: anywhere; }
tr.lead td { border-bottom: none; } td.why { padding-top: 0; padding-left: 1.5rem; }
@media (max-width: 40rem) { th, td { padding: 0.25rem 0.4rem; } }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 26rem), 1fr));
        gap: 1.5rem; }
.grid > section, figure { min-width: 0; } figure { margin: 0 0 1rem; }
figure img { display: block; max-width: 100%; height: auto; } figcaption { font-size: 0.9rem; }
h3 { margin: 0 0 0.5rem; font-family: ui-monospace, monospace; }
.gid, small { font-size: 0.8rem; color: #555; } .warning { background: #fff3cd; padding: 0.5rem; }
"""


@dataclass(frozen=True)
class Details:
    """What the report shows beyond the scores: read from the probes and the workspace."""

    functions: dict[str, str] = field(default_factory=dict)  # grade id -> its graded function
    reasons: dict[str, Counter[str]] = field(default_factory=dict)  # heading -> reason -> count
    students: tuple[TaskResult, ...] = ()  # the ledger's rows
    feedback: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # see _feedback


def collect_stats(workspace: Path, assignment: str) -> Folded:
    """The assignment's statistics, folded from every result the ledger holds, the grade ids
    in notebook order, and how many submissions each kind of isolation confined."""
    with Ledger(workspace) as ledger:
        return fold_results(ledger.rows(assignment).values())


def graded_functions(workspace: Path, assignment: str) -> dict[str, str]:
    """Grade id -> the function its probes call (joined with " / " when several do), from the
    probes files of the workspace's copy of the solutions. A grade id no probe names is absent."""
    names: dict[str, list[str]] = {}
    for notebook in sorted((workspace / "source" / assignment).glob("*.ipynb")):
        for probe in probes.load(probes.probes_file(notebook)):
            for grade_id in probe.grade_ids:
                names.setdefault(grade_id, []).append(probe.function)
    return {g: " / ".join(dict.fromkeys(fs)) for g, fs in names.items()}


def _first_error(cell: Any) -> str | None:
    """The first line of the cell's first error output, as ``ename: evalue``, cut short."""
    outputs = cell.get("outputs")
    for output in outputs if isinstance(outputs, list) else []:
        if isinstance(output, dict) and output.get("output_type") == "error":
            name, value = str(output.get("ename", "")), str(output.get("evalue", ""))
            line = (f"{name}: {value}" if value else name).strip().split("\n", 1)[0]
            return line if len(line) <= REASON_CHARS else line[: REASON_CHARS - 1] + "…"
    return None


def cell_errors(path: Path) -> dict[str, str]:
    """Grade id -> the first error line of that grade cell, in one autograded notebook."""
    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError, AttributeError):
        return {}
    cells = cells if isinstance(cells, list) else []
    found = {cell_grade_id(c): _first_error(c) for c in cells if cell_grade_id(c)}
    return {g: error for g, error in found.items() if g and error}


def _failures(
    workspace: Path, assignment: str, rows: dict[str, TaskResult], functions: dict[str, str]
) -> dict[str, Counter[str]]:
    """Heading (function, else grade id) -> why its grade cells lost points -> how often."""
    reasons: dict[str, Counter[str]] = {}
    for row in rows.values():
        folder = workspace / "autograded" / row.student / assignment
        for nb in row.notebooks:
            path = folder / f"{nb.name}.ipynb"
            if not path.is_file():  # nothing ran: the status table and the students say why
                continue
            errors = cell_errors(path)
            for grade_id, (points, most) in nb.scores.items():
                if (points or 0.0) < most:
                    heading = functions.get(grade_id, grade_id)
                    reasons.setdefault(heading, Counter())[errors.get(grade_id, "(none)")] += 1
    return reasons


def _feedback(
    workspace: Path, assignment: str, rows: dict[str, TaskResult], here: Path
) -> dict[str, list[tuple[str, str]]]:
    """Student -> (notebook, URL relative to ``here``) of each feedback page that exists."""
    links: dict[str, list[tuple[str, str]]] = {}
    for row in rows.values():
        for nb in row.notebooks:
            page = workspace / "feedback" / row.student / assignment / f"{nb.name}.html"
            if page.is_file():
                href = quote(Path(os.path.relpath(page, here)).as_posix())
                links.setdefault(row.student, []).append((nb.name, href))
    return links


def collect_details(
    workspace: Path, assignment: str, rows: dict[str, TaskResult], here: Path
) -> Details:
    """Functions, failure reasons and students of ``rows``, links relative to ``here``."""
    functions = graded_functions(workspace, assignment)
    failures = _failures(workspace, assignment, rows, functions)
    links = _feedback(workspace.resolve(), assignment, rows, here.resolve())
    return Details(functions, failures, tuple(rows.values()), links)


def histogram_figure(summary: Summary, out_of: float, title: str) -> Figure:
    """The summary's histogram: bins in points from 0 to ``out_of``, the last one ending at full
    marks, each bar's count above it, and the y axis reaching above the tallest bar."""
    fig = Figure(figsize=FIGSIZE, dpi=CSS_DPI, layout="constrained")
    ax = fig.add_subplot()
    span = out_of if out_of > 0 else 1.0
    width = span / BINS
    counts = list(summary.histogram)
    bars = ax.bar([i * width for i in range(BINS)], counts, width=width, align="edge")
    ax.bar_label(bars, labels=[str(n) if n else "" for n in counts], fontsize=8, padding=1)
    # NOTE: headroom for the count labels; an empty histogram still gets a visible axis
    ax.set_ylim(0, max(counts, default=0) * 1.25 + 0.5)
    ax.set_xlim(0, span)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
    ax.set_xlabel(f"points (of {out_of:g})", fontsize=8)
    ax.set_ylabel("submissions", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.set_title(title, fontsize=9)
    return fig


def _figure(summary: Summary, out_of: float, title: str, grade_id: str = "") -> str:
    buffer = io.BytesIO()
    histogram_figure(summary, out_of, title).savefig(buffer, dpi=CSS_DPI * PIXEL_RATIO)
    png = base64.b64encode(buffer.getvalue()).decode()
    width, height = (round(inches * CSS_DPI) for inches in FIGSIZE)
    name, shown = html.escape(title), html.escape(grade_id) if grade_id != title else ""
    gid = f" <span class='gid'>{shown}</span>" if shown else ""
    alt = f"score histogram of {name}" + (f" ({shown})" if shown else "")
    caption = (
        f"<strong>{name}</strong>{gid}<br>mean {summary.mean:.2f} of {out_of:g}, "
        f"min {summary.minimum:g}, max {summary.maximum:g}, n = {summary.count}"
    )
    return (
        f'<figure><img alt="{alt}" width="{width}" height="{height}" '
        f'src="data:image/png;base64,{png}"><figcaption>{caption}</figcaption></figure>'
    )


def _exercises(stats: AssignmentStats, order: list[str], functions: dict[str, str]) -> list[str]:
    """One section per graded function (else grade id), its grade ids' histograms inside."""
    groups: dict[str, list[str]] = {}
    for grade_id in order:
        groups.setdefault(functions.get(grade_id, grade_id), []).append(grade_id)
    parts = ["<h2>Per function</h2><div class='grid'>"]
    for heading, ids in groups.items():
        parts.append(f"<section><h3>{html.escape(heading)}</h3>")
        parts += [_figure(stats.exercises[g], stats.max_points[g], heading, g) for g in ids]
        parts.append("</section>")
    return [*parts, "</div>"]


def _reasons(reasons: dict[str, Counter[str]], headings: list[str]) -> list[str]:
    parts = ["<h2>Why points were lost</h2>"]
    parts.append(
        f"<p>The {TOP_REASONS} most common first error lines of each function's grade cells, "
        "over the submissions that lost points there.</p><table><tr><th>function: reason</th>"
        "<th>submissions</th></tr>"
    )
    for heading in [h for h in headings if h in reasons] + sorted(set(reasons) - set(headings)):
        top = sorted(reasons[heading].items(), key=lambda item: (-item[1], item[0]))
        parts.append(
            f"<tr><th colspan='2' class='text'><code>{html.escape(heading)}</code></th></tr>"
        )
        for why, count in top[:TOP_REASONS]:
            parts.append(f"<tr><td>{html.escape(why)}</td><td>{count}</td></tr>")
    return [*parts, "</table>"]


def _student_table(details: Details) -> list[str]:
    parts = ["<h2>Students</h2><table><tr><th>student</th><th class='text'>status</th>"]
    parts.append("<th>score</th><th class='text'>feedback</th></tr>")
    for s in details.students:
        links = ", ".join(
            f'<a href="{html.escape(href)}">{html.escape(name)}</a>'
            for name, href in details.feedback.get(s.student, [])
        )
        status = html.escape(s.status).replace("_", "_<wbr>")  # NOTE: breaks there on a phone
        parts.append(
            f"<tr class='{'lead' if s.reason else ''}'><td>{html.escape(s.student)}</td>"
            f"<td class='text'>{status}</td><td>{s.score:g} / {s.max_score:g}</td>"
            f"<td class='text'>{links or '-'}</td></tr>"
        )
        if s.reason:
            why = html.escape(s.reason[:REASON_CHARS])
            parts.append(f"<tr><td colspan='4' class='why'><small>{why}</small></td></tr>")
    return [*parts, "</table>"]


def render(
    assignment: str,
    stats: AssignmentStats,
    order: list[str] | None = None,
    isolation: dict[str, int] | None = None,
    details: Details | None = None,
) -> str:
    """The report page as HTML text; exercises in ``order`` (default: by grade id)."""
    details = details or Details()
    title = f"Grading report: {html.escape(assignment)}"
    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"]
    parts.append("<meta name='viewport' content='width=device-width, initial-scale=1'>")
    parts.append(f"<title>{title}</title><style>{STYLE}</style></head><body><h1>{title}</h1>")
    if not stats.total.count:
        parts.append("<p>No graded submissions in the ledger yet: run <code>grade</code>.</p>")
        return "".join(parts) + "</body></html>"

    reduced = {k: n for k, n in (isolation or {}).items() if k != "bwrap"}
    if reduced:
        counts = ", ".join(f"{n} with {html.escape(k)}" for k, n in sorted(reduced.items()))
        parts.append(
            "<p class='warning'><strong>Isolation was reduced</strong> for some submissions "
            f"({counts}): they were graded without the bubblewrap sandbox, so they could read "
            "what the grading user can read and reach the network. See the threat model.</p>"
        )
    parts.append("<h2>Status</h2><table><tr><th>status</th><th>submissions</th></tr>")
    for status in STATUSES:
        if stats.statuses.get(status):
            parts.append(f"<tr><td>{status}</td><td>{stats.statuses[status]}</td></tr>")
    parts.append(f"<tr><th>total</th><th>{stats.total.count}</th></tr></table>")

    possible = sum(stats.max_points.values())
    parts.append("<h2>Scores</h2>")
    parts.append(_figure(stats.total, possible, f"{assignment} (total)"))
    order = order or sorted(stats.exercises)
    parts += _exercises(stats, order, details.functions)
    headings = list(dict.fromkeys(details.functions.get(g, g) for g in order))
    if details.reasons:
        parts += _reasons(details.reasons, headings)
    if details.students:
        parts += _student_table(details)

    parts.append("<h2>Slowest submissions</h2><table><tr><th>student</th><th>seconds</th></tr>")
    for seconds, student in stats.seconds.top:
        parts.append(f"<tr><td>{html.escape(student)}</td><td>{seconds:.1f}</td></tr>")
    parts.append(
        f"</table><p>Mean grading time {stats.seconds.mean:.1f} s per submission "
        f"(kernel start, cells and scoring, in the worker).</p></body></html>"
    )
    return "".join(parts)


def write_report(workspace: Path, assignment: str, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    with Ledger(workspace) as ledger:
        rows = ledger.rows(assignment)
    details = collect_details(workspace, assignment, rows, out.parent)
    out.write_text(render(assignment, *fold_results(rows.values()), details), encoding="utf-8")
    return out
