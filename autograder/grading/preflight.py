"""What a command checks before it does anything: each mistake gets a message that says what to do.

Every check raises :class:`autograder.config.CourseError` (the command line prints it and exits
with 2), so that a wrong name or a wrong folder never creates a workspace, grades nothing, or
ends in a traceback.
"""

from __future__ import annotations

from pathlib import Path

from autograder.config import CourseConfig, CourseError

#: How a submissions folder is laid out, as nbgrader's ``submitted/`` is.
LAYOUT = "SUBMISSIONS/<student>/<assignment>/<notebook>.ipynb"
SHOWN = 5  # entries of a folder quoted in a message


def assignment(course: CourseConfig, name: str) -> str:
    """``name`` when the course has that assignment; else an error that lists those it has."""
    known = course.assignments()
    if name not in known:
        raise CourseError(
            f"no assignment {name!r} in {course.source}; the assignments are: {', '.join(known)}"
        )
    return name


def graded_assignment(ws: Path, name: str) -> str:
    """``name`` when workspace ``ws`` has graded it; else an error that lists those it has."""
    known = sorted(p.name for p in (ws / "source").iterdir() if p.is_dir())
    if name not in known:
        raise CourseError(
            f"{ws} has not graded {name!r}; it has graded: {', '.join(known) or 'nothing yet'}"
        )
    return name


def workspace(path: Path) -> Path:
    """``path`` when it is a grading workspace (``grade`` wrote it); else an error saying so."""
    if not (path / "gradebook.db").is_file():
        what = "does not exist" if not path.exists() else "holds no gradebook"
        raise CourseError(
            f"{path} {what}: it is not a grading workspace. "
            "Run `python -m autograder grade ASSIGNMENT --workspace PATH --submissions FOLDER` "
            "first."
        )
    return path


def _listing(folder: Path) -> str:
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
    more = f", and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return ", ".join(names[:SHOWN]) + more if names else "nothing"


def submissions(folder: Path, name: str, notebooks: list[str]) -> Path:
    """``folder`` when it is laid out as ``LAYOUT`` for assignment ``name`` (at least one student
    folder holds ``<name>/``); else an error that shows the expected layout next to what was found,
    and the likeliest mistake."""
    if not folder.is_dir():
        raise CourseError(f"no submissions folder at {folder}")
    students = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if any((p / name).is_dir() for p in students):
        return folder
    expected = LAYOUT.replace("<assignment>", name)
    hint = ""
    if (folder / name).is_dir():
        hint = f" It looks like SUBMISSIONS/{name}/<student>/: the student's folder comes first,"
        hint += f" and holds a folder named {name}."
    elif any((p / nb).is_file() for p in students for nb in notebooks):
        hint = " It looks like SUBMISSIONS/<student>/<notebook>.ipynb: put each student's "
        hint += f"notebooks in a folder named {name} inside the student's folder."
    raise CourseError(
        f"no submission of {name!r} in {folder}: expected {expected}; found {_listing(folder)}."
        + hint
    )
