"""``report``: one self-contained HTML page about an assignment's grading, for the instructor.

Status counts, the score distribution of the assignment and of each exercise (grade id) as
histograms drawn by matplotlib and embedded as PNG, and the slowest submissions. Everything comes
from the ledger, folded with :mod:`autograder.grading.stats`.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from autograder.grading.ledger import Ledger
from autograder.grading.stats import BINS, AssignmentStats, Summary, fold
from autograder.messages import STATUSES

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { padding: 0.25rem 0.75rem; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(18rem, 1fr)); gap: 1rem; }
figure { margin: 0; } figcaption { font-size: 0.9rem; }
"""


def collect_stats(
    workspace: Path, assignment: str
) -> tuple[AssignmentStats, list[str], dict[str, int]]:
    """The assignment's statistics, folded from every result the ledger holds, the grade ids
    in notebook order, and how many submissions each kind of isolation confined."""
    with Ledger(workspace) as ledger:
        rows = ledger.rows(assignment)
    order = list(dict.fromkeys(g for r in rows.values() for g in r.scores))
    stats = fold(
        AssignmentStats.of(r.student, r.status, r.scores, r.seconds_total) for r in rows.values()
    )
    isolation: dict[str, int] = {}
    for r in rows.values():
        isolation[r.isolation or "unknown"] = isolation.get(r.isolation or "unknown", 0) + 1
    return stats, order, isolation


def _histogram_png(summary: Summary, out_of: float, title: str) -> str:
    """The summary's histogram as a base64 PNG (bins in points, from 0 to ``out_of``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 2.4), dpi=100)
    width = out_of / BINS if out_of > 0 else 1.0 / BINS
    ax.bar([i * width for i in range(BINS)], summary.histogram, width=width, align="edge")
    ax.set_xlim(0, width * BINS)
    ax.set_xlabel("points")
    ax.set_ylabel("submissions")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _figure(summary: Summary, out_of: float, title: str) -> str:
    png = _histogram_png(summary, out_of, title)
    caption = (
        f"{html.escape(title)}: mean {summary.mean:.2f} of {out_of:g}, "
        f"min {summary.minimum:g}, max {summary.maximum:g}, n = {summary.count}"
    )
    return (
        f'<figure><img alt="score histogram of {html.escape(title)}" '
        f'src="data:image/png;base64,{png}"><figcaption>{caption}</figcaption></figure>'
    )


def render(
    assignment: str,
    stats: AssignmentStats,
    order: list[str] | None = None,
    isolation: dict[str, int] | None = None,
) -> str:
    """The report page as HTML text; exercises in ``order`` (default: by grade id)."""
    title = f"Grading report: {html.escape(assignment)}"
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>"]
    parts.append(f"<style>{STYLE}</style></head><body><h1>{title}</h1>")
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
    parts.append("<h2>Per exercise</h2><div class='grid'>")
    for grade_id in order or sorted(stats.exercises):
        parts.append(_figure(stats.exercises[grade_id], stats.max_points[grade_id], grade_id))
    parts.append("</div>")

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
    out.write_text(render(assignment, *collect_stats(workspace, assignment)))
    return out
