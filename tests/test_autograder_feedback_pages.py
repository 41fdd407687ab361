"""Feedback pages read offline: math drawn as MathML, and a page for a notebook never graded.

A class of three is graded by the real pipeline: ``correct`` submits the solved toy notebook, whose
instructor text holds inline, display and ``align`` math; ``invalid`` a file that is not JSON;
``missing`` no notebook at all. ``feedback`` then writes their pages, and Chromium opens them from
disk with every request that is not a file answered by an abort (and recorded): the math is
MathML, no ``$`` of the notebook's math is left, nothing left the machine, and the students whose
notebook never ran read why, their score of 0 and what to do.
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest

from autograder.cli import main
from autograder.grading.feedback import notice_page
from autograder.grading.ledger import Ledger
from autograder.grading.mathml import render_math, to_mathml
from autograder.grading.sanitize import CSP, inert
from tests.synthetic import TOY_ASSIGNMENT, course_notebooks, toy_course, write_class

#: The instructor's text in the toy notebook: each kind of math nbconvert's renderer leaves as TeX.
MATH_CELL = (
    "# Doubling and norms\n\n"
    "Twice $x$ is $2x$, and the length of $v$ is $\\lVert v \\rVert = \\sqrt{\\sum_i v_i^2}$.\n\n"
    "$$\n\\frac{d}{dx}\\, 2x = 2\n$$\n\n"
    "\\begin{align}\na &= 2x \\\\\nb &= \\lVert v \\rVert\n\\end{align}\n\n"
    "Code is not math: `echo $HOME$`.\n"
)
MATH_COUNT = 6  # $x$, $2x$, $v$, the norm, the display and the align block
KINDS = ["correct", "invalid", "missing"]


@dataclass
class Graded:
    course: Path
    workspace: Path
    students: dict[str, str]  # kind -> student id
    pages: list[Path]  # what feedback wrote


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Graded:
    from autograder.authoring.release import release

    course = toy_course(tmp_path_factory.mktemp("course"))
    source = course.source / TOY_ASSIGNMENT / "toy.ipynb"
    nb = nbformat.read(source, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(MATH_CELL))
    nbformat.write(nb, source)
    release(course, [TOY_ASSIGNMENT])  # the released notebook carries the math too
    subs, ws = tmp_path_factory.mktemp("subs"), tmp_path_factory.mktemp("ws")
    ids = write_class(subs, TOY_ASSIGNMENT, course_notebooks(course, TOY_ASSIGNMENT), KINDS)
    args = ["--course", str(course.root), "--cell-timeout", "30"]
    main([*args, "grade", TOY_ASSIGNMENT, "--workspace", str(ws), "--submissions", str(subs)])
    assert main([*args, "feedback", TOY_ASSIGNMENT, "--workspace", str(ws)]) == 0
    pages = sorted((ws / "feedback").glob(f"*/{TOY_ASSIGNMENT}/*.html"))
    return Graded(course.root, ws, dict(zip(KINDS, ids, strict=True)), pages)


@dataclass
class Opened:
    requests: list[str]  # every request that was not for a file: each one aborted
    scripts: int
    math: list[dict[str, str]]  # each <math>: its namespace, CSS display and display attribute
    markdown: str  # the text of the markdown cells, code elements left out
    text: str  # the whole page's text


READ_PAGE = """() => {
  const cells = [...document.querySelectorAll('.text_cell_render')].map(cell => {
    const copy = cell.cloneNode(true);
    copy.querySelectorAll('code, math').forEach(e => e.remove());
    return copy.textContent;
  });
  return {
    scripts: document.scripts.length,
    math: [...document.querySelectorAll('math')].map(m => ({
      ns: m.namespaceURI, css: getComputedStyle(m).display, display: m.getAttribute('display'),
      width: m.getBoundingClientRect().width,
    })),
    markdown: cells.join('\\n'),
    text: document.body.innerText,
  };
}"""


def _open(browser: Any, path: Path) -> Opened:
    """Open ``path`` from disk with the network cut off; what the page shows and asked for."""
    context = browser.new_context()
    requests: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith("file:"):
            r.continue_()
        else:
            requests.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("request", lambda r: None if r.url.startswith("file:") else requests.append(r.url))
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_timeout(300)  # anything queued (a font, a lazy image) asks by now
    seen = page.evaluate(READ_PAGE)
    context.close()
    return Opened(sorted(set(requests)), seen["scripts"], seen["math"], seen["markdown"],
                  seen["text"])  # fmt: skip


def _page(graded: Graded, kind: str) -> Path:
    return graded.workspace / "feedback" / graded.students[kind] / TOY_ASSIGNMENT / "toy.html"


def test_math_is_mathml_offline(graded: Graded, browser: Any) -> None:
    page = _page(graded, "correct")
    assert page in graded.pages
    opened = _open(browser, page)
    assert opened.requests == [], f"requests left the page: {opened.requests}"
    assert opened.scripts == 0
    assert len(opened.math) >= MATH_COUNT, opened.math
    for math in opened.math:
        assert math["ns"] == "http://www.w3.org/1998/Math/MathML", math
        assert "math" in math["css"] and math["width"] > 0, f"not laid out as MathML: {math}"
    assert [m["display"] for m in opened.math].count("block") >= 2  # the $$ and the align
    assert "$" not in opened.markdown and "\\begin" not in opened.markdown, opened.markdown
    assert "Doubling and norms" in opened.markdown and "Twice" in opened.markdown
    assert "echo $HOME$" in opened.text, "code stays as it was"
    assert "Score: 3.0 / 3.0" in opened.text
    source = page.read_text()
    assert "mathjax" not in source.lower(), "no MathJax, and no CDN to load it from"
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*https?:|url\(\s*["']?https?:""", source)
    assert f'content="{CSP}"' in source


def test_a_notebook_never_graded_gets_a_page_that_says_why(graded: Graded, browser: Any) -> None:
    with Ledger(graded.workspace) as ledger:
        rows = ledger.rows(TOY_ASSIGNMENT)
    for kind, status in (("invalid", "invalid_notebook"), ("missing", "missing")):
        page = _page(graded, kind)
        assert page in graded.pages, f"no page for the {kind} notebook"
        row = rows[graded.students[kind]]
        (notebook,) = row.notebooks
        assert (row.status, notebook.status, row.score) == (status, status, 0.0)
        assert notebook.reason and notebook.reason in row.reason
        opened = _open(browser, page)
        assert opened.requests == [] and opened.scripts == 0
        text = " ".join(opened.text.split())
        assert notebook.reason in text, f"the grader's reason is not on the page: {row.reason}"
        assert "Score: 0 / 3" in text and "Resubmit a valid .ipynb" in text
        assert f"exercises/{TOY_ASSIGNMENT}/toy.ipynb" in text
        assert graded.students[kind] in text
        assert f'content="{CSP}"' in page.read_text()
    invalid = " ".join(_open(browser, _page(graded, "invalid")).text.split())
    assert "is not a notebook the grader can read" in invalid
    assert sorted(p.parent.parent.name for p in graded.pages) == sorted(graded.students.values())


def test_the_notice_escapes_what_it_is_given() -> None:
    page = notice_page("<b>x</b>", "00_<i>", "t<s>.ipynb", "refused", "a <script>", (0, 3))
    assert "<script" not in page and "<b>" not in page and "<i>" not in page and "<s>" not in page
    assert "&lt;script&gt;" in page and "&lt;b&gt;x&lt;/b&gt;" in page


def test_math_the_converter_cannot_read_stays_tex() -> None:
    assert to_mathml("\\unknowncommand{q}", False) is None
    assert to_mathml("\\text{<b>}", False) is None, "not well-formed: stays TeX"
    assert to_mathml("\\text{<b>bold</b>}", False) is None, "not MathML: stays TeX"
    assert to_mathml("{" * 5000, False) is None
    assert to_mathml("\\Big\\lfloor x \\Big\\rfloor", True) is not None, "sizing is dropped"
    cell = '<div class="text_cell_render rendered_html"><p>{}</p></div>'.format
    page = cell("$\\unknowncommand{q}$ and $a &lt; b$ and <code>$y$</code>")
    out = render_math(page)
    assert "$\\unknowncommand{q}$ and <math" in out and "<code>$y$</code>" in out
    assert "<mo>&lt;</mo>" in out
    assert render_math('<div class="output_html"><p>$x$</p></div>') == (
        '<div class="output_html"><p>$x$</p></div>'
    ), "only markdown and text/latex are math"


def test_converted_math_is_cleaned() -> None:
    """latex2mathml writes ``\\href`` and ``\\style`` as attributes: neither reaches the page."""
    found = to_mathml("\\href{javascript:alert(1)}{x} \\style{color:red}{y} \\color{red}{z}", False)
    assert found is not None and found.startswith("<math")
    assert "href=" not in found and " style=" not in found and "javascript" not in found
    assert 'mathcolor="red"' in found


def test_a_students_written_answer_renders_its_math() -> None:
    """Answer cells reach the page already rendered by the cleaning (one HTML block each)."""
    answer = nbformat.v4.new_markdown_cell(
        "We have $a < b$ and $$\\sum_i x_i$$.",
        metadata={"nbgrader": {"solution": True, "grade": True, "grade_id": "why", "points": 1}},
    )
    source = inert(nbformat.v4.new_notebook(cells=[answer])).cells[0].source
    page = render_math(f'<div class="text_cell_render">{source}</div>')
    text = html_lib.unescape(re.sub(r"<math.*?</math>|<[^>]+>", "", page))
    assert page.count("<math") == 2 and "$" not in text, page
