"""What travels between the coordinator and a grading worker: plain data, and the one task function.

A :class:`GradeTask` carries everything a worker needs to grade one submission, the trusted cells
included, so a worker on another machine needs no shared filesystem and no gradebook. A
:class:`TaskResult` carries back the executed notebooks, the auto score of every grade cell and a
status with a reason. It is the one record of a graded result: the judge marks it, the recorder
writes it, the ledger stores and reads it back (without the executed notebooks), and ``grade``
returns it. Both sides import this module, and it imports nothing of either: the worker's one entry
point, :func:`autograder.sandboxed.worker.run_task`, lives with the worker.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any

#: Every outcome, worst first. All but the last describe the submission and are recorded;
#: ``refused`` means the submission held something that is not a plain file (a symbolic link, a
#: device, a fifo) or a file over the size cap, so none of it was graded; ``error`` means the
#: grader itself failed (a worker process died twice, a bug): nothing is recorded, so a rerun
#: tries again.
STATUSES = (
    "kernel_died",
    "timed_out",
    "output_limit",
    "refused",
    "invalid_notebook",
    "missing",
    "graded",
    "error",
)
RECORDED = frozenset(STATUSES) - {"error"}


@dataclass(frozen=True)
class TrustedCell:
    """The instructor's version of one nbgrader cell, as the gradebook holds it."""

    grade_id: str
    cell_type: str  # "code" or "markdown"
    locked: bool  # a locked cell's source is restored from here whatever the student did
    checksum: str  # nbgrader's checksum of the source version
    source: str
    max_score: float | None  # the points of a grade cell; None for cells that are not graded


@dataclass(frozen=True)
class ProbeSpec:
    """What a worker needs of one probe (see :mod:`autograder.probes`): never the expected data."""

    name: str
    function: str
    calls: int


@dataclass(frozen=True)
class TrustedNotebook:
    name: str  # the notebook's file name without .ipynb, as nbgrader names notebooks
    kernelspec: str | None  # the source notebook's kernelspec (JSON), which overrides the student's
    cells: tuple[TrustedCell, ...]
    release: str = ""  # the released notebook (JSON): the graded notebook is rebuilt from it
    probes: tuple[ProbeSpec, ...] = ()
    probe_inputs: tuple[tuple[str, bytes], ...] = ()  # file name -> contents, for the sandbox

    @property
    def grade_ids(self) -> list[str]:
        return [c.grade_id for c in self.cells if c.max_score is not None]


@dataclass(frozen=True)
class GradeTask:
    """One student's submission of one assignment, and how to grade it."""

    student: str
    assignment: str
    notebooks: dict[str, str]  # file name -> the notebook's text exactly as submitted
    files: dict[str, bytes]  # other files the notebooks may open, by relative path
    trusted: tuple[TrustedNotebook, ...]  # every notebook the assignment expects
    kernel_name: str
    cell_timeout: int  # CPU seconds a student cell may use before it is interrupted (zero)
    notebook_timeout: int  # CPU seconds for a notebook's student cells; later cells are not run
    isolation: str = "auto"  # "auto": the best sandbox here; "bwrap": that or refuse; "none"
    submission_sha256: str = ""  # of the submitted files: see :func:`submission_digest`
    grading_sha256: str = ""  # of everything else that decides the result: trusted cells, limits
    refused: str = ""  # why the submission is not graded at all (not plain files), or ""


@dataclass(frozen=True)
class NotebookResult:
    name: str
    status: str
    reason: str  # in words, for the instructor; "" when graded
    executed: str | None  # the autograded notebook (JSON); None when nothing could run
    scores: dict[str, tuple[float | None, float]]  # grade id -> (auto score, max points)
    comments: dict[str, str | None]  # solution cell grade id -> nbgrader's automatic comment
    seconds_executing: float = 0.0  # kernel start to kernel exit
    # probe name -> its decoded records (untrusted data, checked for form), or why there are none
    probes: dict[str, list[dict[str, Any]] | str] = field(default_factory=dict)
    seconds_probing: float = 0.0
    # CPU seconds grading it used, by phase: autograder.sandboxed.clock.PHASES, and "worker"
    # (the grading worker's own, for this notebook); what benchmarks/grading.py adds up
    costs: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskResult:
    student: str
    assignment: str
    submission_sha256: str
    grading_sha256: str
    status: str
    reason: str
    notebooks: tuple[NotebookResult, ...] = ()
    seconds_executing: float = 0.0  # summed over the notebooks: the kernels' own time
    seconds_total: float = 0.0  # the whole task inside the worker
    worker: str = ""  # host:pid that ran it
    isolation: str = ""  # how the kernels were confined: autograder.sandboxed.sandbox.Sandbox.mode
    kernels: str = ""  # how they started: "warm" (forked) or "cold (why)"; not in the ledger
    graded_at: str = ""  # when the ledger recorded it (ISO 8601, UTC); "" until then
    skipped: bool = False  # already graded with the same files: taken from the ledger, not run

    @property
    def score(self) -> float:
        return sum(s or 0.0 for nb in self.notebooks for s, _ in nb.scores.values())

    @property
    def max_score(self) -> float:
        return sum(m for nb in self.notebooks for _, m in nb.scores.values())

    @property
    def scores(self) -> dict[str, tuple[float, float]]:
        """Grade id -> (points earned, max points), over every notebook in order."""
        return {g: (p or 0.0, m) for nb in self.notebooks for g, (p, m) in nb.scores.items()}

    def stripped(self) -> TaskResult:
        """This result without the executed notebooks and the probes' records, the bulk of it:
        what ``grade`` holds for every submission of a class once the result is recorded."""
        notebooks = tuple(replace(nb, executed=None, probes={}) for nb in self.notebooks)
        return replace(self, notebooks=notebooks)


def worst(statuses: list[str]) -> str:
    """The status that describes a submission made of notebooks with these statuses."""
    return min(statuses, key=STATUSES.index, default="missing")


def submission_digest(files: dict[str, bytes]) -> str:
    """sha256 over the submitted files' relative paths and contents, independent of order."""
    digest = hashlib.sha256()
    for name in sorted(files):
        data = files[name]
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def grading_digest(task: GradeTask) -> str:
    """sha256 of what, besides the submission, decides the result: a change regrades the class."""
    trusted = [
        [
            nb.name,
            nb.kernelspec,
            [list(vars(c).values()) for c in nb.cells],
            hashlib.sha256(nb.release.encode()).hexdigest(),
            [list(vars(p).values()) for p in nb.probes],
            [[n, hashlib.sha256(d).hexdigest()] for n, d in nb.probe_inputs],
        ]
        for nb in task.trusted
    ]
    support = {name: hashlib.sha256(data).hexdigest() for name, data in sorted(task.files.items())}
    settings = [task.kernel_name, task.cell_timeout, task.notebook_timeout]
    payload = json.dumps([trusted, support, settings], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def failed(task: GradeTask, reason: str) -> TaskResult:
    """The result of a task the grader itself could not run (not recorded: a rerun retries)."""
    return TaskResult(
        task.student,
        task.assignment,
        task.submission_sha256,
        task.grading_sha256,
        status="error",
        reason=reason,
    )


def executed_json(nb: Any) -> str:
    """An executed notebook as it travels to the coordinator (``NotebookResult.executed``): its
    JSON, compact and unvalidated. NOTE: the coordinator parses it, and the notebook it keeps is
    written by nbformat (:func:`autograder.grading.sanitize.inert_json`); nbformat's ``writes``
    in the worker would validate, copy and indent it once more, for nothing."""
    return json.dumps(nb, ensure_ascii=False)
