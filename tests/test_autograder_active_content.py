"""Nothing a student's code displays runs, in the autograded notebook or in the feedback.

One table of hostile outputs (:func:`_payloads`) drives every test here. Each payload, if it ran,
would say so: a script pushes its kind onto ``window.__owned`` (or posts it from a frame), and
anything that loads or navigates asks the test's loopback server for ``/beacon/<kind>``.

- The unit tests feed each payload to :func:`autograder.grading.sanitize.inert` directly.
- End to end, a student's answer cell displays every payload in a real kernel; the class is
  graded and its feedback written; the autograded notebook on disk holds none of them, and each
  feedback page, opened in Chromium, runs and loads nothing of the student's.
- Each defence alone holds: the feedback's Content-Security-Policy stops the scripts of a
  notebook that was never cleaned, and the cleaned notebook runs nothing in a page without it.
- The control: the same payloads in nbconvert's own page, neither cleaned nor locked, do run,
  so a test above that saw nothing could have seen something.
"""

from __future__ import annotations

import functools
import http.server
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat import NotebookNode

from autograder.cli import main
from autograder.grading.sanitize import CSP, clean_html, inert, inert_json, inert_page
from tests.synthetic import TOY_ASSIGNMENT, course_notebooks, student_notebook, toy_course

# nbconvert warns of each output type it cannot show (the JavaScript and widget payloads)
pytestmark = pytest.mark.filterwarnings("ignore:Your element with mimetype")

MATHJAX = "https://cdnjs.cloudflare.com/ajax/libs/mathjax/"  # where nbconvert loads MathJax
PNG = (  # a 1x1 PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
MARK_MD = "__owned.push('markdown_cell')"  # in a markdown cell's raw HTML
SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" onload="__owned.push(\'svg\')">'
    "<script>x()</script></svg>"
)


@dataclass(frozen=True)
class Payload:
    kind: str
    mime: str
    value: Any
    metadata: dict[str, Any] = field(default_factory=dict)
    script: bool = True  # runs a script in nbconvert's plain page (else it loads or navigates)


def _payloads(beacon: str) -> list[Payload]:
    """Every kind of active output; ``beacon`` is the URL prefix of the test's server."""
    mark = "__owned.push('{}')".format
    return [
        Payload("script", "text/html", f"<script>{mark('script')}</script>"),
        Payload("onerror", "text/html", f'<img src="missing.png" onerror="{mark("onerror")}">'),
        Payload("js_mime", "application/javascript", mark("js_mime")),
        Payload("text_js", "text/javascript", mark("text_js"), script=False),  # nbconvert skips it
        Payload(
            "js_link", "text/html", f'<a class="go" href="javascript:{mark("js_link")}">go</a>'
        ),
        Payload(
            "iframe",
            "text/html",
            "<iframe srcdoc=\"&lt;script&gt;parent.postMessage('iframe', '*')&lt;/script&gt;\">"
            "</iframe>",
        ),
        Payload(
            "isolated",
            "text/html",
            "<script>parent.postMessage('isolated', '*')</script>",
            {"text/html": {"isolated": True}},
        ),
        Payload(
            "markdown", "text/markdown", f'Look: <img src="x.png" onerror="{mark("markdown")}">'
        ),
        Payload("md_link", "text/markdown", f"[click](javascript:{mark('md_link')})"),
        Payload(
            "mathjax_config",
            "text/html",
            f'<script type="text/x-mathjax-config">{mark("mathjax_config")}</script>',
        ),
        Payload("width", "image/png", "AAAA", {"width": f"1 onerror={mark('width')}"}),
        Payload("svg", "image/svg+xml", SVG, script=False),  # nbconvert shows it as an <img>
        Payload(
            "widget",
            "application/vnd.jupyter.widget-view+json",
            {"model_id": "m", "version_major": 2, "version_minor": 0},
            script=False,
        ),
        Payload(
            "style",
            "text/html",
            f'<style>#b {{ background: url({beacon}style) }}</style><p id="b">styled</p>',
            script=False,
        ),
        Payload("base", "text/html", f'<base href="{beacon}base/"><img src="b.png">', script=False),
        Payload("img", "text/html", f'<img src="{beacon}img">', script=False),
        Payload("object", "text/html", f'<object data="{beacon}object"></object>', script=False),
        Payload(
            "meta_refresh",
            "text/html",
            f'<meta http-equiv="refresh" content="0;url={beacon}meta_refresh">',
            script=False,
        ),
    ]


# --- the unit tests: each payload, cleaned -------------------------------------------------------


def _notebook(payloads: list[Payload]) -> NotebookNode:
    cell = nbformat.v4.new_code_cell("show()", execution_count=1)
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={p.mime: p.value}, metadata=p.metadata)
        for p in payloads
    ]
    return nbformat.v4.new_notebook(cells=[cell])


def _active(nb: Any) -> list[str]:
    """What in the outputs of ``nb`` could run or load: each as a short description."""
    found = []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            found += [f"type {m}" for m in data if m not in INERT_TYPES]
            page = json.dumps(data.get("text/html", "")).lower()
            found += [f"html {w}" for w in ACTIVE_WORDS if w in page]
            meta = json.dumps(out.get("metadata", {}))
            found += [f"metadata {k}" for k in ("isolated", "filenames") if k in meta]
            if not all(isinstance(v, (int, float)) for v in _sizes(out.get("metadata", {}))):
                found.append("metadata: a size that is not a number")
    return found


INERT_TYPES = {
    "text/plain",
    "text/html",
    "text/latex",
    "image/png",
    "image/jpeg",
    "application/json",
}
ACTIVE_WORDS = ("<script", "onerror", "onload", "javascript:", "<iframe", "<meta", "<base",
                "<style", "<object", "url(", "srcdoc", "127.0.0.1")  # fmt: skip


def _sizes(meta: dict) -> list[Any]:
    scopes = [meta, *(v for v in meta.values() if isinstance(v, dict))]
    return [s[k] for s in scopes for k in ("width", "height") if k in s]


def test_every_payload_is_active_before_cleaning() -> None:
    payloads = _payloads("http://127.0.0.1:9/beacon/")
    for p in payloads:
        assert _active(_notebook([p])), f"{p.kind}: the check would not see it"


@pytest.mark.parametrize("kind", [p.kind for p in _payloads("http://127.0.0.1:9/beacon/")])
def test_each_payload_is_inert_after_cleaning(kind: str) -> None:
    payload = next(p for p in _payloads("http://127.0.0.1:9/beacon/") if p.kind == kind)
    nb = inert(_notebook([payload]))
    nbformat.validate(nb)
    assert _active(nb) == []
    (out,) = nb.cells[0].outputs
    if payload.mime not in INERT_TYPES | {"text/markdown"}:
        assert payload.mime in out.data["text/plain"], "the note names what was removed"


def test_harmless_markup_survives() -> None:
    table = '<table border="1" class="dataframe"><thead><tr><th>a</th></tr></thead></table>'
    kept = clean_html(f'{table}<b>bold</b> <a href="https://example.org">x</a>'
                      f'<img src="data:image/png;base64,{PNG}" alt="dot">')  # fmt: skip
    for part in ("<table>", "<th>a</th>", "<b>bold</b>", 'href="https://example.org"',
                 f'src="data:image/png;base64,{PNG}"', 'alt="dot"'):  # fmt: skip
        assert part in kept
    nb = _notebook([Payload("png", "image/png", PNG, {"image/png": {"width": 20}})])
    nb.cells[0].outputs[0].data["text/plain"] = "<Figure>"
    assert inert(nb).cells[0].outputs == nb.cells[0].outputs  # a plot stays as it was


def test_other_urls_and_data_links_are_dropped() -> None:
    for url in ("javascript:alert(1)", " JaVaScRiPt:alert(1)", "data:text/html,<script>x</script>",
                "vbscript:x", "\x01data:text/html,x"):  # fmt: skip
        assert "href" not in clean_html(f'<a href="{url}">x</a>'), url
    assert "src" not in clean_html('<img src="https://example.org/beacon.png">')
    assert "src" not in clean_html('<img src="data:image/svg+xml;base64,PHN2Zz4=">')


def test_markdown_answers_and_attachments_are_cleaned() -> None:
    answer = nbformat.v4.new_markdown_cell(
        "We have $a < b$.\n\n<script>alert(1)</script>\n\n```\nx\n\n[c](javascript:alert(1))\n```",
        metadata={"nbgrader": {"solution": True, "grade": True, "grade_id": "why", "points": 1}},
    )
    given = nbformat.v4.new_markdown_cell("<b>The instructor's</b> own text")
    given.attachments = {"a.svg": {"image/svg+xml": SVG}, "b.png": {"image/png": PNG}}
    nb = inert(nbformat.v4.new_notebook(cells=[answer, given]))
    assert "<script" not in nb.cells[0].source and "\n" not in nb.cells[0].source
    assert "$a &lt; b$" in nb.cells[0].source, "the answer reads as before"
    from nbconvert.filters import markdown2html

    rendered = markdown2html(nb.cells[0].source)
    assert "javascript" not in rendered.split("<code>")[0] and "<a" not in rendered
    assert nb.cells[1].source == given.source
    assert nb.cells[1].attachments == {"a.svg": {}, "b.png": {"image/png": PNG}}


def test_no_trust_marks_and_no_forged_counts() -> None:
    nb = _notebook([])
    nb.metadata.update(signature="sha256:x", trusted=True, widgets={"state": {}})
    nb.cells[0].metadata["trusted"] = True
    nb.cells[0].outputs = [{"output_type": "execute_result", "execution_count": "<script>",
                            "data": {"text/plain": "1"}, "metadata": {}},  # fmt: skip
                           {"output_type": "unknown", "text": "<script>"}]  # fmt: skip
    nb.cells[0].execution_count = "<script>x()</script>"
    clean = inert(nb)
    assert clean.metadata == {} and "trusted" not in clean.cells[0].metadata
    assert clean.cells[0].execution_count is None
    assert [o.output_type for o in clean.cells[0].outputs] == ["execute_result"]
    assert clean.cells[0].outputs[0].execution_count is None


def test_the_json_form_and_bad_json() -> None:
    nb = _notebook(_payloads("http://127.0.0.1:9/beacon/"))
    assert _active(json.loads(inert_json(nbformat.writes(nb)))) == []
    deep = json.loads(nbformat.writes(_notebook([])))
    deep["cells"][0]["outputs"] = [{"output_type": "display_data", "metadata": {}, "data": {
        "application/json": "@"}}]  # fmt: skip
    deep = json.dumps(deep).replace('"@"', "[" * 950 + "]" * 950)  # json reads it, deepcopy can't
    for bad in ("{", "[]", '{"cells": 3}', '{"cells": []}', "[" * 100_000, deep):
        with pytest.raises(ValueError, match="not a notebook"):
            inert_json(bad)


def test_the_page_policy_comes_first_and_the_templates_scripts_go() -> None:
    page = (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8" />\n'
        f'<script src="{MATHJAX}2.7.7/latest.js?config=TeX-AMS_CHTML-full,Safe"> </script>\n'
        '<script type="text/x-mathjax-config">\ninit_mathjax();\n</script>\n</head>\n'
        '<body><script type="text/x-mathjax-config">student()</script></body></html>'
    )
    locked = inert_page(page)
    head = locked[: locked.index("</head>")]
    assert head.index('<meta charset="utf-8" />') < head.index("Content-Security-Policy")
    assert "<script" not in head and MATHJAX not in head, "math is MathML: no MathJax loads"
    assert "student()" in locked, "the body is the sanitizer's, not the page policy's"
    for directive in ("default-src 'none'", "base-uri 'none'", "form-action 'none'"):
        assert directive in CSP
    assert "script-src 'none'" in CSP and "unsafe-eval" not in CSP and "https:" not in CSP
    with pytest.raises(ValueError, match="<head>"):
        inert_page("<p>no head</p>")


# --- end to end: a real kernel, real nbgrader feedback, real Chromium ---------------------------


class _Beacons(http.server.SimpleHTTPRequestHandler):
    """Serves the test's folder; records every request for ``/beacon/...``."""

    hits: list[str]

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        if self.path.startswith("/beacon/"):
            self.hits.append(self.path)
            self.send_response(204)  # no content: a page sent here stays where it was
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@dataclass
class Site:
    root: Path
    url: str
    hits: list[str]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("active")
    hits: list[str] = []
    handler = type("Handler", (_Beacons,), {"hits": hits})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(root))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield Site(root, f"http://127.0.0.1:{server.server_address[1]}", hits)
    server.shutdown()
    server.server_close()


def _answer(payloads: list[Payload]) -> str:
    """The hostile student's answer: a correct ``double``, then every payload displayed."""
    shown = [(p.mime, p.value, p.metadata) for p in payloads]
    return (
        'def double(x):\n    """Twice x."""\n    return 2 * x\n\n\n'
        "from IPython.display import HTML, Javascript, display\n\n"
        f"for mime, value, metadata in {shown!r}:\n"
        "    display({mime: value}, metadata=metadata, raw=True)\n"
        "display(HTML('<b>bold</b>'), Javascript(\"__owned.push('Javascript')\"))\n"
    )


@dataclass
class Graded:
    course: Path
    workspace: Path
    payloads: list[Payload]


@pytest.fixture(scope="module")
def graded(site: Site) -> Graded:
    """A class of two, graded by the real pipeline: ``hostile`` shows every payload."""
    course = toy_course(site.root / "course")
    payloads = _payloads(f"{site.url}/beacon/")
    subs, workspace = site.root / "subs", site.root / "ws"
    for student in ("hostile", "bystander"):
        for name, (source, exercise) in course_notebooks(course, TOY_ASSIGNMENT).items():
            nb = student_notebook("correct", source, exercise)
            if student == "hostile":
                cell = next(c for c in nb.cells if c.metadata["nbgrader"]["grade_id"] ==
                            "toy_double_solution")  # fmt: skip
                cell.source = _answer(payloads)
            (subs / student / TOY_ASSIGNMENT).mkdir(parents=True)
            nbformat.write(nb, subs / student / TOY_ASSIGNMENT / name)
    (subs / "hostile" / TOY_ASSIGNMENT / "extra.html").write_text("<script>x()</script>")
    args = ["--course", str(course.root), "--cell-timeout", "30"]
    assert main([*args, "grade", TOY_ASSIGNMENT, "--workspace", str(workspace),
                 "--submissions", str(subs)]) == 0  # fmt: skip
    return Graded(course.root, workspace, payloads)


@dataclass
class Visit:
    owned: list[str]
    hits: list[str]
    dialogs: list[str]
    mathjax: Any  # what the template's MathJax saw when it loaded (a stub stands in for the CDN)


MATHJAX_STUB = """
window.__mathjax = {config: JSON.stringify(window.MathJax || null)};
// as MathJax 2 does once the page is parsed: run each configuration block it holds
document.addEventListener('DOMContentLoaded', function () {
  document.querySelectorAll('script[type="text/x-mathjax-config"]').forEach(function (s) {
    try { (0, eval)(s.textContent); } catch (e) { window.__mathjax.blocked = String(e); }
  });
});
"""
OTHER_CDN_STUB = (
    "window.$ = window.jQuery = function () { return {}; }; window.require = function () {};"
)
CLICK_SCRIPT_LINKS = """document.querySelectorAll('a').forEach(function (a) {
  if (a.href.toLowerCase().startsWith('javascript:')) a.click();
});"""
INIT = """window.__owned = [];
addEventListener('message', function (e) { __owned.push(String(e.data)); });"""


def _visit(browser: Any, site: Site, page_path: Path, expect: int = 0) -> Visit:
    """Open one page as a reader would, click its javascript: links, and see what ran; wait
    longer (up to 30 s) while fewer than ``expect`` payloads have shown themselves."""
    site.hits.clear()
    context = browser.new_context()
    page = context.new_page()
    page.add_init_script(INIT)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    cdn = lambda route: route.fulfill(  # noqa: E731
        status=200, content_type="application/javascript",
        body=MATHJAX_STUB if route.request.url.startswith(MATHJAX) else OTHER_CDN_STUB,
    )  # fmt: skip
    page.route(lambda url: url.startswith("https://"), cdn)  # the CDNs
    url = f"{site.url}/{page_path.relative_to(site.root).as_posix()}"
    page.goto(url, wait_until="load")
    page.evaluate(CLICK_SCRIPT_LINKS)
    page.wait_for_timeout(1500)  # a 0 s refresh and queued tasks settle; no payload waits longer
    seen = lambda: len(page.evaluate("window.__owned")) + len(set(site.hits))  # noqa: E731
    deadline = time.monotonic() + 30
    while seen() < expect and time.monotonic() < deadline:
        page.wait_for_timeout(250)
    visit = Visit(
        owned=page.evaluate("window.__owned || []"),
        hits=sorted({hit.split("/")[2] for hit in site.hits}),  # /beacon/<kind>...
        dialogs=dialogs,
        mathjax=page.evaluate("window.__mathjax || null"),
    )
    context.close()
    return visit


def _feedback_pages(graded: Graded, student: str) -> list[Path]:
    args = ["--course", str(graded.course), "feedback", TOY_ASSIGNMENT]
    assert main([*args, "--workspace", str(graded.workspace), "--student", student]) == 0
    return sorted((graded.workspace / "feedback" / student / TOY_ASSIGNMENT).glob("*.html"))


def test_the_autograded_notebook_on_disk_holds_nothing_active(graded: Graded) -> None:
    path = graded.workspace / "autograded" / "hostile" / TOY_ASSIGNMENT / "toy.ipynb"
    nb = nbformat.read(path, as_version=4)
    shown = [o for c in nb.cells for o in c.get("outputs", []) if "data" in o]
    assert len(shown) >= len(graded.payloads), "the payloads were displayed"
    assert _active(nb) == []
    assert "<b>bold</b>" in json.dumps(nb), "harmless markup stays"


def test_no_student_script_runs_in_the_feedback(graded: Graded, site: Site, browser: Any) -> None:
    pages = _feedback_pages(graded, "hostile")
    assert [p.name for p in pages] == ["toy.html"], "the student's own extra.html is not passed on"
    for page in pages:
        visit = _visit(browser, site, page)
        assert visit.owned == [] and visit.dialogs == [], f"{page}: student scripts ran"
        assert visit.hits == [], f"{page}: student content loaded"
        assert visit.mathjax is None, "no MathJax: math is MathML, nothing loads from a CDN"
        text = page.read_text()
        assert MATHJAX not in text and "<script" not in text.split("</head>")[0]
        assert "Content-Security-Policy" in text and "Score: 3.0 / 3.0" in text
        assert "<b>bold</b>" in text, "harmless markup is shown"


def test_the_page_policy_alone_stops_the_scripts(graded: Graded, site: Site, browser: Any) -> None:
    """The bystander's autograded notebook gets every payload, never cleaned, then feedback."""
    path = graded.workspace / "autograded" / "bystander" / TOY_ASSIGNMENT / "toy.ipynb"
    nb = nbformat.read(path, as_version=4)
    live = [p for p in graded.payloads if p.kind != "meta_refresh"]  # navigation: not a script
    answer = next(
        c for c in nb.cells if c.metadata["nbgrader"]["grade_id"] == "toy_double_solution"
    )
    answer.outputs = _notebook(live).cells[0].outputs
    nb.cells.append(nbformat.v4.new_markdown_cell(f'<img src="y.png" onerror="{MARK_MD}">'))
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nbformat.write(nb, path)
    (page,) = _feedback_pages(graded, "bystander")
    visit = _visit(browser, site, page)
    assert visit.owned == [] and visit.dialogs == [] and visit.hits == []
    assert visit.mathjax is None, "not even the template's MathJax runs"


def _plain_page(site: Site, nb: NotebookNode, name: str) -> Path:
    """``nb`` as nbconvert's own HTML exporter writes it: no cleaning, no policy."""
    from nbconvert import HTMLExporter

    path = site.root / "plain" / f"{name}.html"
    path.parent.mkdir(exist_ok=True)
    path.write_text(HTMLExporter().from_notebook_node(nb)[0])
    return path


def _hostile(payloads: list[Payload]) -> NotebookNode:
    nb = _notebook(payloads)
    nb.cells.append(nbformat.v4.new_markdown_cell(
        f'<img src="y.png" onerror="{MARK_MD}">',
        metadata={"nbgrader": {"solution": True, "grade": True, "grade_id": "w", "points": 1}},
    ))  # fmt: skip
    return nb


def test_the_cleaned_notebook_alone_runs_nothing(graded: Graded, site: Site, browser: Any) -> None:
    page = _plain_page(site, inert(_hostile(graded.payloads)), "cleaned")
    visit = _visit(browser, site, page)
    assert visit.owned == [] and visit.dialogs == [] and visit.hits == []


def test_control_the_payloads_run_where_nothing_guards(
    graded: Graded, site: Site, browser: Any
) -> None:
    scripts = [p.kind for p in graded.payloads if p.script]
    page = _plain_page(site, _hostile(graded.payloads), "raw")
    visit = _visit(browser, site, page, expect=len(scripts) + 1 + 5)
    assert sorted(visit.owned) == sorted([*scripts, "markdown_cell"])
    assert visit.hits == ["base", "img", "meta_refresh", "object", "style"]
