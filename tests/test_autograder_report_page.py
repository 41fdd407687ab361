"""The grading report as an instructor opens it: a small real class graded with probes, its page
in a real Chromium at desktop and phone widths, and the figures it draws.

- Each histogram is titled by the function its probes call, grouped under that function, with the
  grade id in the caption; a grade id no probe names keeps its id.
- No histogram is clipped: the image sits whole inside its figure and the viewport, keeps its
  aspect ratio, nothing covers it, and the page never scrolls sideways; the y axis reaches above
  the tallest bar (and its count label), the x axis runs from 0 to the exercise's points.
- Each function's most common failure reasons come from the autograded notebooks, counted, the
  top five, cut to 200 characters and escaped (a student chooses an exception's message).
- Each student's row links their feedback page, the id escaped and URL-quoted.
"""

from __future__ import annotations

import html as html_lib
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import nbformat
import pytest

from autograder.cli import main
from autograder.grading.report import (
    REASON_CHARS,
    TOP_REASONS,
    Details,
    collect_stats,
    histogram_figure,
    render,
)
from autograder.grading.stats import AssignmentStats, fold
from tests.synthetic import (
    TOY_ASSIGNMENT,
    course_notebooks,
    student_notebook,
    toy_course,
    write_class,
)

PROBES = """
from autograder.probes import call, probe


@probe("toy_double_test", function="double")
def double_cases():
    yield call(21)
    yield call(-1.5)


@probe("toy_norm_test", function="norm")
def norm_cases():
    yield call([1.0, 1.0, 1.0, 1.0])
"""
FUNCTIONS = {"toy_double_test": "double", "toy_norm_test": "norm"}
KINDS = ["correct", "correct", "partial", "wrong", "wrong", "erroring", "missing"]
# A message of the student's choosing: markup that would run if it were not escaped, and longer
# than a reason may be.
HOSTILE = "<img src=x onerror=\"document.title='owned'\"> & <b>bold</b> " + "x" * 300
CUSTOM = {  # student id -> the body of their double
    "ada.l@uni-x": f"raise ValueError({HOSTILE!r})",
    "visible_only_0": "return 6 if x == 3 else 0",  # passes the visible test, not the hidden
}


@dataclass
class Graded:
    workspace: Path
    report: Path
    page: str
    students: list[str]


def _write_custom(subs: Path, course: Any) -> list[str]:
    ((name, (source, exercise)),) = course_notebooks(course, TOY_ASSIGNMENT).items()
    for student, body in CUSTOM.items():
        nb = student_notebook("correct", source, exercise)
        for cell in nb.cells:
            if cell.metadata.get("nbgrader", {}).get("grade_id") == "toy_double_solution":
                cell.source = f"def double(x):\n    {body}\n"
        (subs / student / TOY_ASSIGNMENT).mkdir(parents=True)
        nbformat.write(nb, subs / student / TOY_ASSIGNMENT / name)
    return list(CUSTOM)


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Graded:
    """Nine students graded with probes on both functions, their feedback, and the report,
    written in a folder of its own so that its links to the feedback are relative."""
    course = toy_course(tmp_path_factory.mktemp("course"))
    (course.source / TOY_ASSIGNMENT / "toy.probes.py").write_text(PROBES)
    subs = tmp_path_factory.mktemp("subs")
    students = write_class(subs, TOY_ASSIGNMENT, course_notebooks(course, TOY_ASSIGNMENT), KINDS)
    students += _write_custom(subs, course)
    ws = tmp_path_factory.mktemp("ws")
    common = ["--course", str(course.root), "--cell-timeout", "30"]
    main([*common, "grade", TOY_ASSIGNMENT, "--workspace", str(ws), "--submissions", str(subs)])
    assert main([*common, "feedback", TOY_ASSIGNMENT, "--workspace", str(ws)]) == 0
    out = tmp_path_factory.mktemp("out") / "reports" / "report.html"
    assert main([*common, "report", TOY_ASSIGNMENT, "--workspace", str(ws), "--out", str(out)]) == 0
    return Graded(ws, out, out.read_text(encoding="utf-8"), students)


def _section(page: str, heading: str) -> str:
    start = page.index(f"<h2>{heading}</h2>")
    end = page.find("<h2>", start + 1)
    return page[start : end if end > 0 else None]


def _reason_rows(page: str) -> dict[str, list[tuple[str, int]]]:
    """Function -> its (reason, count) rows, as the page shows them (unescaped)."""
    rows: dict[str, list[tuple[str, int]]] = {}
    table = _section(page, "Why points were lost")
    for head, body in re.findall(r"<th colspan='2'[^>]*><code>(.*?)</code></th></tr>"
                                 r"((?:<tr><td>.*?</td><td>\d+</td></tr>)*)", table):  # fmt: skip
        cells = re.findall(r"<tr><td>(.*?)</td><td>(\d+)</td></tr>", body)
        rows[html_lib.unescape(head)] = [(html_lib.unescape(r), int(n)) for r, n in cells]
    return rows


def test_failure_reasons_are_counted_per_function_and_escaped(graded: Graded) -> None:
    rows = _reason_rows(graded.page)
    assert list(rows) == ["double", "norm"]
    double = dict(rows["double"])
    hostile = f"ValueError: {HOSTILE}"[: REASON_CHARS - 1] + "…"
    assert double.pop("AssertionError: double(3)") == 2  # the two wrong students
    assert double.pop("RuntimeError: a bug") == 1
    assert double.pop(hostile) == 1, "the student's message, cut to 200 characters"
    ((hidden, count),) = double.items()  # visible_only passes the visible test only
    assert hidden.startswith("HiddenChecksFailed: ") and "double" in hidden and count == 1
    assert rows["norm"] == [  # most common first, then in order
        ("AssertionError: norm([3, 4])", 2),
        ("NotImplementedError", 1),  # partial left norm as the stub
        ("RuntimeError: a bug", 1),
    ]
    assert all(len(why) <= REASON_CHARS for reasons in rows.values() for why, _ in reasons)
    assert "<img src=x" not in graded.page and "<b>bold</b>" not in graded.page
    assert html_lib.escape(hostile[:50]) in graded.page


def test_each_student_links_their_feedback_page(graded: Graded) -> None:
    table = _section(graded.page, "Students")
    rows = re.findall(r"<tr[^>]*><td>([^<]*)</td><td class='text'>(.*?)</td><td>([^<]*)</td>"
                      r"<td class='text'>(.*?)</td></tr>", table)  # fmt: skip
    assert sorted(html_lib.unescape(r[0]) for r in rows) == sorted(graded.students)
    for student, status, score, links in rows:
        student = html_lib.unescape(student)
        page = graded.workspace / "feedback" / student / TOY_ASSIGNMENT / "toy.html"
        hrefs = re.findall(r'<a href="([^"]*)">toy</a>', links)
        assert bool(hrefs) == page.is_file(), student
        for href in hrefs:
            assert "@" not in href and not href.startswith("/"), "quoted, and relative"
            target = Path(os.path.normpath(graded.report.parent / unquote(html_lib.unescape(href))))
            assert target == page.resolve()
        assert re.fullmatch(r"[0-9.]+ / 3", score)
        if student.startswith("correct"):
            assert (status, score) == ("graded", "3 / 3")
    assert "ada.l%40uni-x" in table


def test_histograms_are_titled_by_function_and_grouped() -> None:
    """Grade ids of one function share its heading; a grade id no probe names keeps its id."""
    scores = {"a_f_test": (1.0, 1.0), "a_f_edge": (0.0, 2.0), "a_g_test": (1.0, 1.0)}
    stats = fold([AssignmentStats.of("s", "graded", scores, 1.0)])
    details = Details(functions={"a_f_test": "f", "a_f_edge": "f"})
    page = render("a", stats, list(scores), details=details)
    sections = re.findall(r"<section><h3>([^<]*)</h3>(.*?)</section>", page)
    assert [h for h, _ in sections] == ["f", "a_g_test"]
    assert re.findall(r'alt="([^"]*)"', sections[0][1]) == [
        "score histogram of f (a_f_test)",
        "score histogram of f (a_f_edge)",
    ]
    assert "<span class='gid'>a_f_edge</span>" in sections[0][1]
    assert re.findall(r'alt="([^"]*)"', sections[1][1]) == ["score histogram of a_g_test"]


def test_only_the_five_most_common_reasons_are_shown() -> None:
    stats = fold([AssignmentStats.of("s", "graded", {"a_f_test": (0.0, 1.0)}, 1.0)])
    reasons = Counter({f"E{i}: reason {i}": 10 - i for i in range(8)})
    page = render("a", stats, ["a_f_test"], details=Details({"a_f_test": "f"}, {"f": reasons}))
    shown = _reason_rows(page)["f"]
    assert shown == [(f"E{i}: reason {i}", 10 - i) for i in range(TOP_REASONS)]


def test_each_histogram_reaches_above_its_tallest_bar(graded: Graded) -> None:
    """The figures the report draws: y above the tallest bar and its count label, x from 0 to
    the points with the last bar (full marks) inside."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    stats, order, _ = collect_stats(graded.workspace, TOY_ASSIGNMENT)
    figures = [(stats.total, sum(stats.max_points.values()), "total")]
    figures += [(stats.exercises[g], stats.max_points[g], FUNCTIONS[g]) for g in order]
    for summary, out_of, title in figures:
        fig = histogram_figure(summary, out_of, title)
        FigureCanvasAgg(fig).draw()
        (ax,) = fig.axes
        heights = [bar.get_height() for bar in ax.patches]
        assert heights == list(summary.histogram) and max(heights) > 0
        bottom, top = ax.get_ylim()
        assert bottom == 0 and top >= 1.2 * max(heights), f"{title}: no room above the bars"
        assert ax.get_xlim() == (0, out_of), title
        right = max(bar.get_x() + bar.get_width() for bar in ax.patches)
        assert right == pytest.approx(out_of) and min(bar.get_x() for bar in ax.patches) == 0
        box = ax.get_window_extent()
        for label in ax.texts:  # the count above each bar
            assert label.get_window_extent().y1 <= box.y1 + 0.5, f"{title}: a label is clipped"
    full_marks = sum(1 for s in graded.students if s.startswith("correct"))
    assert stats.exercises["toy_norm_test"].histogram[-1] == full_marks + 2  # + the custom two


# Each histogram: loaded, whole inside its figure and the viewport, at its natural size or scaled
# down whole, and on top at its centre and corners (no neighbour hides it); the page: no sideways
# scroll. Returns the problems found, and every figure's alt and caption.
CHECK = """() => {
  const problems = [], figures = [], vw = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth > vw) problems.push('the page scrolls sideways');
  if (document.title.includes('owned')) problems.push('a student message ran');
  for (const img of document.querySelectorAll('img')) {
    const fig = img.closest('figure');
    if (!fig) { problems.push('outside a figure: ' + img.outerHTML.slice(0, 80)); continue; }
    img.scrollIntoView({block: 'center'});
    const r = img.getBoundingClientRect(), f = fig.getBoundingClientRect(), alt = img.alt;
    figures.push([alt, fig.querySelector('figcaption').textContent]);
    if (!img.complete || !img.naturalWidth) problems.push(alt + ': not loaded');
    if (r.left < f.left - 0.5 || r.right > f.right + 0.5 || r.top < f.top - 0.5
        || r.bottom > f.bottom + 0.5) problems.push(alt + ': sticks out of its figure');
    if (r.left < 0 || r.right > vw + 0.5) problems.push(alt + ': sticks out of the viewport');
    const natural = Number(img.getAttribute('width'));
    if (Math.abs(r.width - Math.min(natural, f.width)) > 1) problems.push(alt + ': resized');
    if (Math.abs(r.width / r.height - img.naturalWidth / img.naturalHeight) > 0.02)
      problems.push(alt + ': squashed');
    for (const [x, y] of [[0.5, 0.5], [0.02, 0.02], [0.98, 0.02], [0.02, 0.98], [0.98, 0.98]]) {
      const hit = document.elementFromPoint(r.left + x * r.width, r.top + y * r.height);
      if (hit !== img) problems.push(alt + ': covered at ' + x + ',' + y);
    }
  }
  return {problems, figures};
}"""


@pytest.mark.parametrize("width", [1400, 390])
def test_the_page_shows_every_histogram_whole(
    graded: Graded, browser: Any, tmp_path: Path, width: int
) -> None:
    page = browser.new_page(viewport={"width": width, "height": 900})
    try:
        page.goto(graded.report.as_uri())
        page.screenshot(path=str(tmp_path / f"report_{width}.png"), full_page=True)
        found = page.evaluate(CHECK)
    finally:
        page.close()
    assert not found["problems"], found["problems"]
    alts = [alt for alt, _ in found["figures"]]
    assert alts == [
        f"score histogram of {TOY_ASSIGNMENT} (total)",
        "score histogram of double (toy_double_test)",
        "score histogram of norm (toy_norm_test)",
    ]
    for (_, caption), grade_id in zip(found["figures"][1:], FUNCTIONS, strict=True):
        assert caption.startswith(f"{FUNCTIONS[grade_id]} {grade_id}"), caption
