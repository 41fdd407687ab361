"""What a self-check found (:mod:`coursekit.selfcheck`): each test's outcome, and the table that
shows them, as HTML in JupyterLab and as text elsewhere."""

from __future__ import annotations

import html
from dataclasses import dataclass, field

HIDDEN_NOTE = "Visible tests only: hidden tests with other inputs grade your submission."
STUB_MESSAGE = "NotImplementedError: the function is still the stub"
NOT_RUN_MESSAGE = "is not defined yet: run the cell that defines it first."
#: Each result as the HTML table shows it.
LABELS = {
    "pass": "&#10003; pass",
    "FAIL": "&#10007; <b>FAIL</b>",
    "to do": "to do",
    "not run": "not run",
}
LEFT = 'style="text-align: left"'  # JupyterLab aligns the cells of an HTML table right


@dataclass(frozen=True)
class Outcome:
    """One visible test cell's outcome."""

    function: str
    test: str  # the test's aspect: the grade id after the function's prefix ("fixed", "oracle")
    grade_id: str
    points: float
    checks: str = ""  # the test's docstring: what it checks
    error: str = ""  # "ExceptionName: message" of the failure, "" when the test passed
    line: str = ""  # the test's line that failed, when the failure was raised there

    @property
    def passed(self) -> bool:
        return not self.error

    @property
    def result(self) -> str:
        """One of :data:`LABELS`: "to do" while the function is the released stub, "not run"
        while the cell that defines it has not run in this kernel."""
        if self.passed:
            return "pass"
        if self.error.startswith(STUB_MESSAGE):
            return "to do"
        return "not run" if self.error.endswith(NOT_RUN_MESSAGE) else "FAIL"


@dataclass
class Report:
    """What a self-check found: shown as a table (HTML in JupyterLab, text elsewhere)."""

    results: list[Outcome] = field(default_factory=list)
    note: str = HIDDEN_NOTE

    @property
    def points(self) -> tuple[float, float]:
        """(points whose visible tests pass, points of the tests run)."""
        return (
            sum(r.points for r in self.results if r.passed),
            sum(r.points for r in self.results),
        )

    @property
    def first_failure(self) -> Outcome | None:
        """The first failing test; when none fails, the first that did not pass."""
        failing = [r for r in self.results if r.result == "FAIL"]
        return next(iter(failing or [r for r in self.results if not r.passed]), None)

    def summary(self) -> str:
        if not self.results:
            return "Self-check: nothing was run."
        passed, total = self.points
        count = {label: sum(r.result == label for r in self.results) for label in LABELS}
        details = [f"{count['FAIL']} fail"] if count["FAIL"] else []
        details += [f"{count['to do']} wait for their function"] if count["to do"] else []
        details += (
            [f"{count['not run']} wait for their function's cell to run"]
            if count["not run"]
            else []
        )
        of = f"; of {len(self.results)} tests, " + ", ".join(details) if details else ""
        return f"Self-check: visible tests pass for {passed:g} of {total:g} points{of}."

    def __str__(self) -> str:
        lines = [self.summary(), self.note]
        if self.results:
            rows = [("function", "test", "points", "result")]
            rows += [(r.function, r.test, f"{r.points:g}", r.result) for r in self.results]
            widths = [max(len(row[i]) for row in rows) for i in range(4)]
            lines += [
                "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                for row in rows
            ]
        failure = self.first_failure
        if failure:
            lines.append(f"First failure: {failure.function}, test {failure.test}")
            if failure.line:
                lines.append(f"  at: {failure.line}")
            lines += ["  " + line for line in failure.error.splitlines()]
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        esc = html.escape
        parts = [
            '<div class="coursekit-selfcheck">',
            f"<p><strong>{esc(self.summary())}</strong> {esc(self.note)}</p>",
        ]
        if self.results:
            heads = ("function", "test", "checks", "points", "result")
            parts.append("<table><thead><tr>")
            parts += [f"<th {LEFT}>{h}</th>" for h in heads]
            parts.append("</tr></thead><tbody>")
            for r in self.results:
                cells = [f"<code>{esc(r.function)}</code>", esc(r.test), esc(r.checks)]
                cells += [f"{r.points:g}", LABELS[r.result]]
                parts.append("<tr>" + "".join(f"<td {LEFT}>{c}</td>" for c in cells) + "</tr>")
            parts.append("</tbody></table>")
        failure = self.first_failure
        if failure:
            where = f", at <code>{esc(failure.line)}</code>" if failure.line else ""
            parts.append(
                f"<p>First failure: <code>{esc(failure.function)}</code>, test "
                f"<code>{esc(failure.test)}</code>{where}:</p><pre>{esc(failure.error)}</pre>"
            )
        parts.append("</div>")
        return "".join(parts)
