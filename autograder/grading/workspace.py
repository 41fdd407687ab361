"""The grading workspace: a standard nbgrader course folder the instructor chooses.

workspace/
  nbgrader_config.py   written here, so `nbgrader formgrader` works in this folder
  gradebook.db         nbgrader's gradebook (sqlite), written only by the coordinator
  autograder_results.db  the ledger: each submission's hashes and result (autograder.grading.ledger)
  source/<assignment>/ a copy of the course's solutions/<assignment>/
  release/<assignment>/
  submitted/<student>/<assignment>/*.ipynb
  autograded/...  feedback/...
"""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from traitlets.config import Config

from autograder.config import CourseConfig, config_file_text, nbgrader_config
from autograder.nbgrader_api import make_api, run_api

#: The largest file a submission may hold; a larger one refuses the submission.
MAX_SUBMITTED_FILE_BYTES = 64 * 2**20
#: What a refused entry becomes in the workspace: a link that points nowhere, saying why.
REFUSED_MARK = "<refused: "


def _kind(mode: int) -> str:
    import stat

    kinds = {
        stat.S_ISFIFO: "a fifo",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISSOCK: "a socket",
    }
    return next((name for test, name in kinds.items() if test(mode)), "not a plain file")


def copy_plain(src: str, dst: str) -> None:
    """Copy one submitted entry that is not a folder or a link (``shutil.copytree`` hands
    links over as links: they are never followed). A device, fifo or socket, or a file over
    :data:`MAX_SUBMITTED_FILE_BYTES`, is not read at all: a dangling link takes its place and
    says why, and the grader refuses the submission."""
    import os
    import stat

    info = os.lstat(src)
    if not stat.S_ISREG(info.st_mode):
        os.symlink(f"{REFUSED_MARK}{_kind(info.st_mode)}>", dst)
    elif info.st_size > MAX_SUBMITTED_FILE_BYTES:
        os.symlink(f"{REFUSED_MARK}a file of {info.st_size // 2**20} MiB>", dst)
    else:
        shutil.copy2(src, dst, follow_symlinks=False)


#: Student ids become folder names, gradebook keys and CSV cells: one rule for them everywhere
#: (``grade``, ``feedback``, ``export``, ``report``), from folders and from the command line.
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$")
ID_RULE = (
    "a student id is 1 to 128 characters: ASCII letters, digits and _ . @ -, "
    "starting with a letter or digit"
)


def bad_ids(ids: list[str]) -> list[str]:
    """The ids of ``ids`` that break :data:`ID_RULE` (so never a path: no / and no leading .)."""
    return [i for i in ids if not STUDENT_ID.match(i)]


def check_ids(ids: list[str]) -> None:
    """Refuse ids given on the command line that break the rule, naming each one."""
    bad = bad_ids(ids)
    if bad:
        raise ValueError(f"not valid student ids: {', '.join(map(repr, bad))} ({ID_RULE})")


def _skip_bad(ids: list[str], where: Path) -> list[str]:
    """``ids`` without those that break the rule, each named in a warning (the rest go on)."""
    import sys

    bad = bad_ids(ids)
    if bad:
        shown = ", ".join(repr(i[:60] + ("..." if len(i) > 60 else "")) for i in bad)
        print(
            f"WARNING: skipped folders in {where} that are not valid student ids: {shown}"
            f" ({ID_RULE})",
            file=sys.stderr,
            flush=True,
        )
    return [i for i in ids if i not in bad]


@dataclass(frozen=True)
class Workspace:
    path: Path
    course: CourseConfig

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.path / 'gradebook.db'}"

    def config(self) -> Config:
        return nbgrader_config(self.course, self.path, feedback=True)

    def write_config(self) -> None:
        """``nbgrader_config.py`` here, so that formgrader and nbgrader's commands work in it."""
        (self.path / "nbgrader_config.py").write_text(config_file_text(self.config()))

    def api(self) -> Any:
        return make_api(self.config())

    def students_in(self, stage: str, assignment: str) -> list[str]:
        """Student ids with ``assignment`` in ``stage`` ("submitted", "autograded"), sorted."""
        root = self.path / stage
        if not root.is_dir():
            return []
        return _skip_bad(sorted(d.name for d in root.iterdir() if (d / assignment).is_dir()), root)


def _source_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and not any(part.startswith(".") for part in rel.parts):
            digest.update(f"{rel.as_posix()}\0".encode() + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _has_assignment(ws: Workspace, assignment: str) -> bool:
    from nbgrader.api import Gradebook, MissingEntry

    if not (ws.path / "gradebook.db").is_file() or not (ws.path / "release" / assignment).is_dir():
        return False
    with Gradebook(ws.db_url, ws.config().CourseDirectory.course_id) as gb:
        try:
            return bool(gb.find_assignment(assignment).notebooks)
        except MissingEntry:
            return False


def prepare(course: CourseConfig, path: Path, assignment: str) -> Workspace:
    """Create or refresh the workspace for ``assignment``: config, source, gradebook entries.

    nbgrader's generate_assignment runs only when the course's source differs from the one last
    generated here (a stamp file records it), so grading again starts at once.
    """
    course.notebooks(assignment)  # a clear error for an unknown assignment
    ws = Workspace(path.resolve(), course)
    ws.path.mkdir(parents=True, exist_ok=True)
    ws.write_config()
    stamp = ws.path / f".autograder-{assignment}.source-sha256"
    digest = _source_digest(course.source / assignment)
    if stamp.is_file() and stamp.read_text() == digest and _has_assignment(ws, assignment):
        return ws
    stamp.unlink(missing_ok=True)
    source = ws.path / "source" / assignment
    shutil.rmtree(source, ignore_errors=True)
    shutil.copytree(course.source / assignment, source, ignore=shutil.ignore_patterns(".*"))
    run_api(ws.config(), "generate_assignment", assignment, force=True, create=True)
    stamp.write_text(digest)
    return ws


def collect(ws: Workspace, assignment: str, submissions: Path) -> list[str]:
    """Copy ``submissions/<student>/<assignment>/`` into the workspace; return the student ids.

    A folder whose name is not a valid student id (:data:`ID_RULE`) is named in a warning and
    skipped; the others are collected.
    """
    if not submissions.is_dir():
        raise FileNotFoundError(f"no submissions folder at {submissions}")
    found = sorted(d.name for d in submissions.iterdir() if (d / assignment).is_dir())
    students = _skip_bad(found, submissions)
    for student in students:
        target = ws.path / "submitted" / student / assignment
        shutil.rmtree(target, ignore_errors=True)
        given = submissions / student / assignment
        if given.is_symlink() or given.parent.is_symlink():  # a linked folder is not followed
            target.mkdir(parents=True)
            (target / "folder").symlink_to(f"{REFUSED_MARK}a folder given as a symbolic link>")
            continue
        # links are copied as links, never followed (they refuse the submission when graded)
        shutil.copytree(given, target, symlinks=True, copy_function=copy_plain)
        for path in target.rglob("*"):  # and no live link is left in the workspace either
            if path.is_symlink() and not str(path.readlink()).startswith(REFUSED_MARK):
                path.unlink()
                path.symlink_to(f"{REFUSED_MARK}a symbolic link>")
    return students
