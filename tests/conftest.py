"""Shared fixtures: the course root, and one fresh build of the book per test session."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Spread the suite over xdist's workers (``--dist loadgroup``, see dev.py) as finely as the
    tests allow: each test on its own, except those that share a module-scoped fixture (graded
    once per worker that runs them: together, per fixture parameter) and nbval's cells of one
    notebook (they share its kernel: together). NOTE: ``loadscope`` kept whole modules together,
    so one module of six chapters' heavy checks ran on one worker while the other sat idle."""
    for item in items:
        if not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(_group(item)))


def _group(item: pytest.Item) -> str:
    module = item.nodeid.split("::")[0]
    if not isinstance(item, pytest.Function):  # an nbval cell
        return module
    defs = item._fixtureinfo.name2fixturedefs  # noqa: SLF001 (pytest has no public accessor)
    shared = [n for n in item.fixturenames if n in defs and defs[n][-1].scope != "function"]
    shared = [n for n in shared if defs[n][-1].scope != "session"]  # once per worker anyway
    if not shared:
        return item.nodeid
    params = getattr(getattr(item, "callspec", None), "params", {})
    keyed = [f"{n}={params[n]}" for n in sorted(shared) if n in params]
    return "::".join([module, *keyed])
