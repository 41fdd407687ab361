"""From the workspace to :class:`~autograder.messages.GradeTask`: trusted cells, files, hashes.

Only the coordinator reads the gradebook and the workspace; workers get everything inside the task.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, replace
from pathlib import Path

from autograder.config import IGNORE
from autograder.grading.workspace import Workspace
from autograder.messages import (
    GradeTask,
    ProbeSpec,
    TrustedCell,
    TrustedNotebook,
    grading_digest,
    submission_digest,
)
from autograder.nbgrader_api import grade_id

#: What nbgrader never copies from a submission (its ``CourseDirectory.ignore``).
IGNORED = IGNORE


def trusted_notebooks(ws: Workspace, assignment: str) -> tuple[TrustedNotebook, ...]:
    """Every notebook of ``assignment`` as the gradebook holds it, cells in source order."""
    from nbgrader.api import Gradebook

    with Gradebook(ws.db_url, ws.config().CourseDirectory.course_id) as gb:
        found = []
        for nb in sorted(gb.find_assignment(assignment).notebooks, key=lambda n: n.name):
            points = {c.name: float(c.max_score) for c in nb.grade_cells}
            order = _source_order(ws.path / "source" / assignment / f"{nb.name}.ipynb")
            cells = sorted(nb.source_cells, key=lambda c: (order.get(c.name, len(order)), c.name))
            released = ws.path / "release" / assignment / f"{nb.name}.ipynb"
            probes, inputs = _probe_inputs(ws.path / "source" / assignment / f"{nb.name}.ipynb")
            found.append(
                TrustedNotebook(
                    name=nb.name,
                    kernelspec=nb.kernelspec,
                    release=released.read_text(),
                    probes=probes,
                    probe_inputs=inputs,
                    cells=tuple(
                        TrustedCell(
                            grade_id=c.name,
                            cell_type=c.cell_type,
                            locked=bool(c.locked),
                            checksum=c.checksum or "",
                            source=c.source or "",
                            max_score=points.get(c.name),
                        )
                        for c in cells
                    ),
                )
            )
    return tuple(found)


def _probe_inputs(
    notebook: Path,
) -> tuple[tuple[ProbeSpec, ...], tuple[tuple[str, bytes], ...]]:
    """The probes declared for ``notebook`` and their inputs, as files for the sandbox."""
    import tempfile

    from autograder import probes

    declared = probes.load(probes.probes_file(notebook))
    with tempfile.TemporaryDirectory(prefix="probe-inputs-") as tmp:
        counts = probes.encode_inputs(declared, Path(tmp))
        files = tuple((p.name, p.read_bytes()) for p in sorted(Path(tmp).iterdir()))
    return tuple(ProbeSpec(p.name, p.function, counts[p.name]) for p in declared), files


def _source_order(path: Path) -> dict[str, int]:
    """grade id -> position in the source notebook, so reports list exercises in book order."""
    if not path.is_file():
        return {}
    cells = json.loads(path.read_text()).get("cells", [])
    ids = [grade_id(c) for c in cells]
    return {grade_id: i for i, grade_id in enumerate(ids) if grade_id}


class Refused(Exception):
    """A submission that holds something other than plain files: the message says what."""


def _files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` but those nbgrader ignores, by relative POSIX path.

    Only plain files are read, and no link is ever followed: a symbolic link (dangling or not),
    a device, a fifo or a socket anywhere in the folder, or a file over the size cap, raises
    :class:`Refused`, and nothing of the submission is graded.
    """
    import os
    import stat

    from autograder.grading.workspace import MAX_SUBMITTED_FILE_BYTES, REFUSED_MARK

    if not folder.is_dir() or folder.is_symlink():
        if folder.is_symlink():
            raise Refused(f"{folder.name}/ is a symbolic link; only plain files are graded")
        return {}
    found = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if any(fnmatch.fnmatch(part, pattern) for part in rel.parts for pattern in IGNORED):
            continue
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            target = os.readlink(path)
            what = target[len(REFUSED_MARK) : -1] if target.startswith(REFUSED_MARK) else ""
            what = what or "a symbolic link"
            raise Refused(f"{rel.as_posix()} is {what}; only plain files are graded")
        if stat.S_ISDIR(info.st_mode):
            continue
        if not stat.S_ISREG(info.st_mode):
            raise Refused(f"{rel.as_posix()} is not a plain file; only plain files are graded")
        if info.st_size > MAX_SUBMITTED_FILE_BYTES:
            raise Refused(f"{rel.as_posix()} is over {MAX_SUBMITTED_FILE_BYTES // 2**20} MiB")
        found[rel.as_posix()] = path.read_bytes()
    return found


@dataclass(frozen=True)
class Planned:
    """A submission found in the workspace, with the hashes that decide whether to grade it."""

    student: str
    submission_sha256: str


class Submissions:
    """Reads submissions of one assignment from the workspace's ``submitted/`` folder."""

    def __init__(
        self,
        ws: Workspace,
        assignment: str,
        trusted: tuple[TrustedNotebook, ...],
        notebook_timeout: int,
        isolation: str = "auto",
    ) -> None:
        self.ws, self.assignment, self.trusted = ws, assignment, trusted
        source = _files(ws.path / "source" / assignment)
        self.support = {n: d for n, d in source.items() if not n.endswith(".ipynb")}
        template = GradeTask(
            student="",
            assignment=assignment,
            notebooks={},
            files=self.support,
            trusted=trusted,
            kernel_name=ws.course.kernel_name,
            cell_timeout=ws.course.cell_timeout,
            notebook_timeout=notebook_timeout,
            isolation=isolation,
        )
        self.template = replace(template, grading_sha256=grading_digest(template))

    @property
    def grading_sha256(self) -> str:
        return self.template.grading_sha256

    def folder(self, student: str) -> Path:
        return self.ws.path / "submitted" / student / self.assignment

    def plan(self, student: str) -> Planned:
        try:
            return Planned(student, submission_digest(_files(self.folder(student))))
        except Refused as why:
            return Planned(student, submission_digest({"refused": str(why).encode()}))

    def task(self, student: str) -> GradeTask:
        """The task for one student, read from disk now (so only tasks in flight sit in memory)."""
        try:
            submitted = _files(self.folder(student))
        except Refused as why:
            digest = submission_digest({"refused": str(why).encode()})
            return replace(
                self.template, student=student, submission_sha256=digest, refused=str(why)
            )
        expected = {f"{nb.name}.ipynb" for nb in self.trusted}
        notebooks = {
            name: data.decode("utf-8", errors="replace")
            for name, data in submitted.items()
            if name in expected
        }
        others = {n: d for n, d in submitted.items() if not n.endswith(".ipynb")}
        return replace(
            self.template,
            student=student,
            notebooks=notebooks,
            files={**others, **self.support},  # the source's files win, as in nbgrader
            submission_sha256=submission_digest(submitted),
        )
