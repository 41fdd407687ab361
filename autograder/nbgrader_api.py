"""The one door into nbgrader: run an NbGraderAPI call under our config, fail loudly."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any

from traitlets.config import Config

from autograder.config import CourseError


def nbgrader_meta(cell: Any) -> dict[str, Any]:
    """A cell's nbgrader metadata, or {} when it has none or it is not a mapping (a hostile
    submission's cell may hold anything there)."""
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    found = meta.get("nbgrader") if isinstance(meta, dict) else None
    return found if isinstance(found, dict) else {}


def grade_id(cell: Any) -> str | None:
    """A cell's nbgrader grade id, or None when it has no string one."""
    found = nbgrader_meta(cell).get("grade_id")
    return found if isinstance(found, str) else None


class NbgraderError(CourseError):
    """nbgrader reported a failure; the message carries its log."""


def _put_our_scripts_on_path() -> None:
    """nbgrader runs the ``alembic`` script by name: make the one beside our interpreter findable,
    even when the venv is used without being activated (``.venv/bin/python -m autograder``)."""
    scripts = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if scripts not in path.split(os.pathsep):
        os.environ["PATH"] = scripts + os.pathsep + path


def make_api(config: Config) -> Any:
    _put_our_scripts_on_path()
    from nbgrader.apps import NbGraderAPI  # imported late: nbgrader's import is slow
    from nbgrader.coursedir import CourseDirectory

    # NOTE: nbgrader 0.9's gradebook adds objects to relationships before they are in the
    # session, and SQLAlchemy 2 warns ("... not in session ...") on every grade, feedback and
    # export. The warning is about nbgrader's code, not ours, and changes nothing it writes, so it
    # is filtered here, where nbgrader is first imported, and for nbgrader's module only.
    warnings.filterwarnings("ignore", message=".*not in session.*", module="nbgrader")
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    api.log.setLevel(logging.WARNING)
    return api


def run_api(config: Config, method: str, *args: Any, api: Any = None, **kwargs: Any) -> dict:
    """Call ``NbGraderAPI.<method>(*args, **kwargs)``; raise :class:`NbgraderError` on failure."""
    api = api or make_api(config)
    result: dict = getattr(api, method)(*args, **kwargs)
    if not result.get("success"):
        detail = (result.get("error") or "") + "\n" + (result.get("log") or "")
        raise NbgraderError(f"nbgrader {method}{args} failed:\n{detail.strip()}")
    return result
