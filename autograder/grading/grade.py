"""``grade``: autograde a folder of submissions into the workspace's gradebook.

The pipeline, in order:

1. :func:`autograder.grading.workspace.prepare`: config, a copy of the source, gradebook
   entries (while the workers start);
2. :func:`autograder.grading.workspace.collect`: copy the submissions in;
3. :func:`autograder.grading.submission.trusted_notebooks`: the trusted cells, read once from the
   gradebook;
4. the ledger decides what to grade: a submission already graded with the same files and the same
   trusted cells is skipped, unless ``force``;
5. a backend (:mod:`autograder.grading.backends`: this process, a local pool or Dask) runs
   :func:`autograder.sandboxed.run_task` for each of the others, a fresh kernel per notebook;
6. :class:`autograder.grading.record.Recorder`, in this process only, writes each result as it
   arrives: autograded notebooks, gradebook, ledger;
7. the results, one :class:`GradeResult` per student.
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from autograder.config import CourseConfig, GradingConfig
from autograder.grading.backends import Backend
from autograder.grading.backends import backend as make_backend
from autograder.grading.judge import Judge
from autograder.grading.ledger import Ledger
from autograder.grading.progress import Progress, summary
from autograder.grading.record import Recorder
from autograder.grading.stats import AssignmentStats
from autograder.grading.submission import Submissions, trusted_notebooks
from autograder.grading.workspace import Workspace, collect, prepare
from autograder.messages import RECORDED, TaskResult
from autograder.sandboxed import detect


@dataclass(frozen=True)
class GradeResult:
    student: str
    assignment: str
    status: str  # one of autograder.messages.STATUSES
    score: float
    max_score: float
    reason: str = ""  # what went wrong, in words
    skipped: bool = False  # already graded with the same files: taken from the ledger
    seconds: float = 0.0  # the worker's time for this submission

    @staticmethod
    def of(result: TaskResult) -> GradeResult:
        return GradeResult(
            result.student,
            result.assignment,
            result.status,
            result.score,
            result.max_score,
            result.reason,
            seconds=result.seconds_total,
        )


@dataclass(frozen=True)
class GradeRun:
    results: list[GradeResult]
    stats: AssignmentStats  # folded from every result, in the order they arrived
    summary: str  # the table of counts by status
    isolation: str = ""  # how kernels were confined: see autograder.sandboxed.sandbox


def _start(
    course: CourseConfig,
    workspace: Path,
    assignment: str,
    submissions: Path | None,
    options: GradingConfig,
) -> tuple[Workspace, list[str], Backend]:
    """Prepare the workspace and collect the submissions while the workers start (and do their
    heavy imports, about a second) in the background."""
    course.notebooks(assignment)  # a clear error for an unknown assignment, before any worker
    folder = submissions or workspace / "submitted"
    found = sum(1 for d in folder.iterdir() if (d / assignment).is_dir()) if folder.is_dir() else 0
    workers = max(1, min(options.workers, found))  # no more local workers than submissions
    with ThreadPoolExecutor(1) as starter:
        starting = starter.submit(make_backend, workers, options.scheduler, options.dask_local)
        try:
            ws = prepare(course, workspace, assignment)
            students = (
                collect(ws, assignment, submissions)
                if submissions
                else ws.students_in("submitted", assignment)
            )
        except BaseException:
            starting.result().close()
            raise
        return ws, students, starting.result()


class SandboxMissing(RuntimeError):
    """A sandbox was required and this machine cannot provide one: nothing is graded."""


def _isolation(asked: str) -> str:
    """What confines the kernels on this machine, refusing or warning as ``asked`` says."""
    here = detect()
    if asked == "none":
        return "none (--no-sandbox)"
    if asked == "limits" and here.isolated:
        here = replace(here, mode="limits")
    if here.isolated:
        return here.describe()
    if asked == "bwrap":
        raise SandboxMissing(
            "--require-sandbox: bubblewrap is not installed (Debian: apt-get install bubblewrap)"
        )
    print(f"WARNING: {here.describe()}", file=sys.stderr, flush=True)
    return here.describe()


def _stats(result: TaskResult) -> AssignmentStats:
    if result.status not in RECORDED:  # the grader failed: no scores to count
        return AssignmentStats(statuses={result.status: 1})
    scores = {g: (p or 0.0, m) for nb in result.notebooks for g, (p, m) in nb.scores.items()}
    return AssignmentStats.of(result.student, result.status, scores, result.seconds_total)


def grade_run(
    course: CourseConfig,
    workspace: Path,
    assignment: str,
    submissions: Path | None = None,
    options: GradingConfig | None = None,
    progress: Progress | None = None,
) -> GradeRun:
    """Grade every submission of ``assignment``: those in ``submissions`` (copied into the
    workspace first), or those already in the workspace's ``submitted/`` folder."""
    options = options or GradingConfig()
    started = time.monotonic()
    isolation = _isolation(options.isolation)
    ws, students, runner = _start(course, workspace, assignment, submissions, options)
    results: dict[str, GradeResult] = {}
    stats = AssignmentStats.empty()
    try:
        reader = Submissions(
            ws,
            assignment,
            trusted_notebooks(ws, assignment),
            options.notebook_timeout,
            options.isolation,
        )
        judge = Judge.prepare(ws.path / "source" / assignment, reader.template)
        with Ledger(ws.path) as ledger:
            known = ledger.rows(assignment)
        progress = progress or Progress(len(students))
        todo = []
        for student in students:
            row = known.get(student)
            hashes = (reader.plan(student).submission_sha256, reader.grading_sha256)
            if (
                options.force
                or row is None
                or (row.submission_sha256, row.grading_sha256) != hashes
            ):
                todo.append(student)
                continue
            results[student] = GradeResult(
                student, assignment, row.status, row.score, row.max_score, row.reason, skipped=True
            )
            stats = stats.merge(AssignmentStats.of(student, row.status, row.scores, 0.0))
            progress.update(student, row.status, "", skipped=True)

        progress.start()
        with Recorder(ws, assignment) as recorder:
            for task, raw in runner.results(reader.task(s) for s in todo):
                result = judge.judge(raw)
                if result.status in RECORDED:
                    recorder.record(task, result)
                results[task.student] = GradeResult.of(result)
                stats = stats.merge(_stats(result))
                progress.update(
                    task.student,
                    result.status,
                    f"{result.score:g}/{result.max_score:g} in {result.seconds_total:.1f} s",
                )
    finally:
        runner.close()
        if progress is not None:
            progress.close()
    ordered = [results[s] for s in students]
    skipped = sum(r.skipped for r in ordered)
    text = summary(stats, skipped, time.monotonic() - started)
    return GradeRun(ordered, stats, f"{text}\nisolation: {isolation}", isolation)


def grade(
    course: CourseConfig,
    workspace: Path,
    assignment: str,
    submissions: Path | None = None,
    options: GradingConfig | None = None,
) -> list[GradeResult]:
    """:func:`grade_run`, returning only the results."""
    return grade_run(course, workspace, assignment, submissions, options).results
