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
