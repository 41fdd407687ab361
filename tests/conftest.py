"""Shared fixtures: the course root, and one fresh build of the book per test session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from autograder.config import CourseConfig

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def course() -> CourseConfig:
    return CourseConfig(root=ROOT)


@dataclass(frozen=True)
class BookBuild:
    html: Path  # the built site: index.html and friends
    log: str  # everything jupyter-book printed
    returncode: int


@pytest.fixture(scope="session")
def book_build(tmp_path_factory: pytest.TempPathFactory) -> BookBuild:
    """Build the book once, into a fresh folder and so with a fresh execution cache.

    The cache does not notice changes to imported modules such as coursekit, so a cached build
    could pass on stale outputs.
    """
    out = tmp_path_factory.mktemp("book")
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.run(
        [
            str(BIN / "jupyter-book"),
            "build",
            str(ROOT),
            "-n",
            "-W",
            "--keep-going",
            "--path-output",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    return BookBuild(out / "_build" / "html", proc.stdout + proc.stderr, proc.returncode)


#: Debian's Chromium, which Playwright drives (no browser download is possible here).
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def chromium(args: list[str]) -> Iterator[Any]:
    """Yield a headless Chromium launched with ``args``; skip without one (fail on CI)."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"CI needs Chromium at {CHROMIUM} (apt-get install chromium)")
        pytest.skip("Debian's chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium for one test module (tests/test_book.py has its own, for the site)."""
    args = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
    yield from chromium(args)
