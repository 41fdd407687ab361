"""The built book: it builds clean with -n -W from a fresh cache, never shows solution code, and
works in a real browser (Playwright driving Debian's Chromium, headless).

All of it lives in one module so that `--dist loadscope` runs it on one xdist worker, which builds
the book once.
"""

from __future__ import annotations

import functools
import html
import http.server
import os
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from autograder.config import CourseConfig
from tests.conftest import BookBuild

SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)
TEXT_SUFFIXES = {".html", ".txt", ".md", ".ipynb", ".js", ".json", ".py"}


def solution_lines(course: CourseConfig) -> list[str]:
    """Every non-trivial line of solution code in solutions/, whitespace-normalized."""
    import nbformat

    lines = []
    for assignment in course.assignments():
        for path in course.notebooks(assignment):
            for cell in nbformat.read(path, as_version=4).cells:
                for region in SOLUTION.findall(cell.source):
                    for line in region.splitlines():
                        norm = " ".join(line.split())
                        if len(norm) >= 10 and not norm.startswith("#"):
                            lines.append(norm)
    return lines


def site_text(site: Path) -> dict[Path, str]:
    """Each text file of the built site, tags stripped, entities decoded, whitespace collapsed.

    ``_static/`` holds the theme's and MathJax's own assets, never course content.
    """
    texts = {}
    for path in site.rglob("*"):
        if path.is_file() and path.suffix in TEXT_SUFFIXES and "_static" not in path.parts:
            raw = path.read_text(errors="replace")
            if path.suffix == ".html":
                raw = html.unescape(re.sub(r"<[^>]+>", "", raw))
            texts[path] = " ".join(raw.split())
    return texts


def test_book_builds_without_warnings(book_build: BookBuild) -> None:
    assert book_build.returncode == 0, book_build.log[-5000:]
    # Sphinx reports "path: WARNING: ..."; kernels' own "[IPKernelApp] WARNING |" log lines
    # (TCP on loopback without encryption) are not build warnings.
    warnings = [ln for ln in book_build.log.splitlines() if re.search(r"(WARNING|ERROR):", ln)]
    assert not warnings, "\n".join(warnings)
    for page in (
        "index.html",
        "book/intro.html",
        "book/notation.html",
        "book/01_linear_algebra.html",
        "exercises/01_linear_algebra/linear_algebra.html",
    ):
        assert (book_build.html / page).is_file(), f"{page} was not built"


def _runs(lines: list[str], length: int = 3) -> list[str]:
    """Every run of ``length`` consecutive solution lines, joined as the site text joins them."""
    return [" ".join(lines[i : i + length]) for i in range(len(lines) - length + 1)]


def test_no_solution_code_reaches_the_book(course: CourseConfig, book_build: BookBuild) -> None:
    """No three consecutive lines of a reference answer stand in the built book. (Single lines
    are common idioms, `loss.backward()`; whether the book *answers* an exercise is judged by
    behaviour, in tests/test_book_answers.py.)"""
    lines = solution_lines(course)
    assert len(lines) >= 20, "too few solution lines found: is the marker format right?"
    texts = site_text(book_build.html)
    assert len(texts) > 10
    leaks = [
        (run, str(p.relative_to(book_build.html)))
        for p, text in texts.items()
        for run in _runs(lines)
        if run in text
    ]
    assert not leaks, f"solution code in the built book: {leaks[:5]}"
    assert not [p for p in book_build.html.rglob("*") if "solutions" in p.parts]
    for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS"):
        assert not [p for p, t in texts.items() if marker in t], f"{marker} in the book"


def test_leak_check_would_catch_a_leak(course: CourseConfig, tmp_path: Path) -> None:
    run = "\n".join(solution_lines(course)[3:6])
    (tmp_path / "page.html").write_text(f"<pre><span>{html.escape(run)}</span></pre>")
    assert any(_runs(solution_lines(course))[3] in text for text in site_text(tmp_path).values())


def test_chapter_links_to_its_rendered_unexecuted_exercise(book_build: BookBuild) -> None:
    chapter = (book_build.html / "book/01_linear_algebra.html").read_text()
    assert "../exercises/01_linear_algebra/linear_algebra.html" in chapter
    exercise = (book_build.html / "exercises/01_linear_algebra/linear_algebra.html").read_text()
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", "", exercise)).split())
    assert "raise NotImplementedError()" in text and "def matmul_broadcast(A, B):" in text
    executed = '<div class="cell_output' in exercise
    assert not executed, "the exercise page was executed; it must only render"


def test_math_is_served_locally_and_launch_buttons_exist(book_build: BookBuild) -> None:
    chapter = (book_build.html / "book/01_linear_algebra.html").read_text()
    assert "_static/mathjax/tex-chtml.js" in chapter
    assert (book_build.html / "_static/mathjax/tex-chtml.js").is_file()
    assert "cdn.jsdelivr" not in chapter
    exercise = (book_build.html / "exercises/01_linear_algebra/linear_algebra.html").read_text()
    for launcher in ("mybinder.org", "colab.research.google.com", "hub.example.edu"):
        assert launcher in exercise, f"no {launcher} launch button"
    assert "search.html" in chapter


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def site(book_build: BookBuild) -> Iterator[str]:
    """Serve the built book on loopback, as a reader's web server would."""
    assert book_build.returncode == 0, "the book did not build"
    handler = functools.partial(_QuietHandler, directory=str(book_build.html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"CI needs Chromium at {CHROMIUM} (apt-get install chromium)")
        pytest.skip("Debian's chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def test_reader_reaches_chapter_01_with_math_and_figures(site: str, browser) -> None:
    page = browser.new_page()
    problems: list[str] = []
    page.on(
        "console",
        lambda m: (
            problems.append(f"console {m.type}: {m.text} ({m.location.get('url')})")
            if m.type == "error"
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on(
        "requestfailed",
        # NOTE: the browser cancels its own favicon fetch when the page navigates away first
        # (net::ERR_ABORTED, seen under load); the icon is served, as the HTTP check shows.
        lambda r: (
            None
            if "favicon" in r.url and "ERR_ABORTED" in (r.failure or "")
            else problems.append(f"request failed: {r.url} ({r.failure})")
        ),
    )
    page.on(
        "response",
        lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None,
    )

    page.goto(f"{site}/index.html")
    link = page.locator("nav a[href*='01_linear_algebra']").first
    link.click()
    page.wait_for_url("**/book/01_linear_algebra.html")
    # MathJax has typeset the math once its containers exist.
    page.wait_for_selector("mjx-container", state="attached", timeout=30_000)
    assert page.locator("mjx-container").count() > 10
    page.wait_for_load_state("load")
    loaded = page.evaluate(
        "Array.from(document.querySelectorAll('main img'))"
        ".filter(i => i.complete && i.naturalWidth > 0).length"
    )
    assert loaded >= 1, "no figure loaded on chapter 01"
    assert problems == [], problems
    page.close()


def test_search_finds_chapter_01(site: str, browser) -> None:
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{site}/search.html?q=broadcasting")
    hit = page.locator("#search-results a[href*='01_linear_algebra']").first
    hit.wait_for(timeout=30_000)
    assert errors == [], errors
    page.close()
