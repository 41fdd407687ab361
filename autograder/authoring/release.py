"""``release``: generate ``exercises/`` from ``solutions/`` with nbgrader, deterministically.

Each assignment is generated into a temporary folder and then swapped in whole, so a notebook
removed from ``solutions/`` also disappears from ``exercises/`` and a failed run leaves the old
release untouched. Beside nbgrader's own steps, the release writes what
:mod:`autograder.authoring.student_files` derives for students: the points in each heading, the
self-check's visible tests (``.selfcheck.json`` beside the notebooks) and, on a release into
``exercises/``, the repository's ``nbgrader_config.py``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from autograder.config import CourseConfig, nbgrader_config
from autograder.nbgrader_api import run_api

#: The self-check's file beside the released notebooks (coursekit.selfcheck.DATA_FILE).
SELFCHECK_FILE = ".selfcheck.json"
SELFCHECK_ABOUT = (
    "The visible tests of the notebooks in this folder, for coursekit.selfcheck's check() and "
    "check_all(). Written by `python -m autograder release`; the hidden checks are not here."
)


def write_selfcheck(folder: Path) -> Path:
    """Write the self-check file for the released notebooks in ``folder``; return its path."""
    import nbformat

    from autograder.authoring.student_files import selfcheck_data

    notebooks = {
        path.name: selfcheck_data(nbformat.read(path, as_version=4))
        for path in sorted(folder.glob("*.ipynb"))
    }
    data = {"format": 1, "about": SELFCHECK_ABOUT, "notebooks": notebooks}
    path = folder / SELFCHECK_FILE
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _preprocessors() -> list[type]:
    """nbgrader's own steps, after the points are written into the headings (before nbgrader
    locks and checksums any cell)."""
    from nbgrader.converters import GenerateAssignment

    from autograder.authoring.student_files import PointsInHeadings

    return [PointsInHeadings, *GenerateAssignment().preprocessors]


def generate(course: CourseConfig, assignment: str, out_dir: Path) -> Path:
    """Write the student version of ``assignment`` to ``out_dir/<assignment>``; return that path."""
    course.notebooks(assignment)  # fail early, with a clear message, on an empty assignment
    with tempfile.TemporaryDirectory(prefix="release-") as tmp:
        config = nbgrader_config(course, Path(tmp), source=course.source.resolve())
        config.GenerateAssignment.no_database = True
        config.SaveCells.enabled = False
        config.GenerateAssignment.preprocessors = _preprocessors()
        run_api(config, "generate_assignment", assignment, force=True, create=False)
        produced = Path(tmp) / "release" / assignment
        target = out_dir / assignment
        staging = out_dir / f".{assignment}.new"
        shutil.rmtree(staging, ignore_errors=True)
        out_dir.mkdir(parents=True, exist_ok=True)
        shutil.copytree(produced, staging)
    write_selfcheck(staging)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def release(
    course: CourseConfig, assignments: list[str] | None = None, out_dir: Path | None = None
) -> list[Path]:
    """Release ``assignments`` (default: all) into ``out_dir`` (default: exercises/, and then the
    repository's nbgrader_config.py is refreshed too)."""
    out = out_dir or course.release
    released = [generate(course, a, out) for a in (assignments or course.assignments())]
    if out_dir is None:
        from autograder.authoring.student_files import student_config_text

        (course.root / "nbgrader_config.py").write_text(student_config_text(course))
    return released
