"""A real browser over the built book: Playwright drives Debian's Chromium, headless."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from collections.abc import Iterator

import pytest

from tests.conftest import BookBuild

pytestmark = pytest.mark.xdist_group("book")

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
        lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
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
