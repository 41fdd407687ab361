"""``release``: generate ``exercises/`` from ``solutions/`` with nbgrader, deterministically.

Each assignment is generated into a temporary folder and then swapped in whole, so a notebook
removed from ``solutions/`` also disappears from ``exercises/`` and a failed run leaves the old
release untouched.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from autograder.config import CourseConfig, nbgrader_config
from autograder.nbgrader_api import run_api


def generate(course: CourseConfig, assignment: str, out_dir: Path) -> Path:
    """Write the student version of ``assignment`` to ``out_dir/<assignment>``; return that path."""
    course.notebooks(assignment)  # fail early, with a clear message, on an empty assignment
    with tempfile.TemporaryDirectory(prefix="release-") as tmp:
        config = nbgrader_config(course, Path(tmp), source=course.source.resolve())
        config.GenerateAssignment.no_database = True
        config.SaveCells.enabled = False
        run_api(config, "generate_assignment", assignment, force=True, create=False)
        produced = Path(tmp) / "release" / assignment
        target = out_dir / assignment
        staging = out_dir / f".{assignment}.new"
        shutil.rmtree(staging, ignore_errors=True)
        out_dir.mkdir(parents=True, exist_ok=True)
        shutil.copytree(produced, staging)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def release(
    course: CourseConfig, assignments: list[str] | None = None, out_dir: Path | None = None
) -> list[Path]:
    """Release ``assignments`` (default: all) into ``out_dir`` (default: exercises/)."""
    out = out_dir or course.release
    return [generate(course, a, out) for a in (assignments or course.assignments())]
