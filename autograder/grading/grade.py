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
   meanwhile a thread of this process prepares the judge (the reference's probes, in a kernel
   of a local pool's or a local Dask cluster's worker, or else of this process's zygote,
   started with the workers);
6. :class:`autograder.grading.record.Recorder`, in this process only, judges and writes each
   result as it arrives, once the judge is ready: autograded notebooks, gradebook, ledger;
7. the results, one :class:`autograder.messages.TaskResult` per student (without the executed
   notebooks).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from autograder import heap
from autograder.config import CourseConfig, CourseError, GradingConfig
from autograder.grading.backends import Backend, Dask, Pool, Serial
from autograder.grading.backends import backend as make_backend
from autograder.grading.judge import Judge
from autograder.grading.ledger import Ledger
from autograder.grading.progress import Progress, summary
from autograder.grading.record import Recorder
from autograder.grading.stats import AssignmentStats
from autograder.grading.submission import Submissions, trusted_notebooks
from autograder.grading.workspace import Workspace, collect, prepare
from autograder.messages import RECORDED, GradeTask, TaskResult
from autograder.sandboxed import detect, start_zygote


@dataclass(frozen=True)
class GradeRun:
    results: list[TaskResult]  # stripped of the executed notebooks
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
    if options.scheduler or (workers <= 1 and not options.dask_local):  # else a local worker's
        start_zygote(options.isolation)  # this process's, for the reference's kernel
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


class SandboxMissing(CourseError):
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
    seconds = 0.0 if result.skipped else result.seconds_total  # only this run's time
    return AssignmentStats.of(result.student, result.status, result.scores, seconds)


def _only(students: list[str], wanted: tuple[str, ...]) -> list[str]:
    """``students``, or only the ``wanted`` ones among them (``--student``): an id that is not
    among them is an error that names it, before anything is graded."""
    if not wanted:
        return students
    unknown = sorted(set(wanted) - set(students))
    if unknown:
        raise CourseError(
            f"no submission from {', '.join(map(repr, unknown))}; "
            f"the students are: {', '.join(students[:20])}" + (" ..." if len(students) > 20 else "")
        )
    return [s for s in students if s in wanted]


def _known(
    ws: Workspace, reader: Submissions, students: list[str], force: bool
) -> dict[str, TaskResult]:
    """Student -> the ledger's result, for each submission already graded with the same files
    and the same trusted cells (none when ``force``): these are skipped."""
    with Ledger(ws.path) as ledger:
        known = ledger.rows(reader.assignment)
    found = {}
    for student in students:
        row = known.get(student)
        hashes = (reader.plan(student).submission_sha256, reader.grading_sha256)
        if not force and row is not None and (row.submission_sha256, row.grading_sha256) == hashes:
            found[student] = replace(row, skipped=True)
    return found


def _grade_each(
    ws: Workspace,
    reader: Submissions,
    judging: Future[Judge],
    runner: Backend,
    todo: list[str],
    progress: Progress,
) -> list[TaskResult]:
    """Grade the ``todo`` students' submissions, recording each result as it arrives, once the
    judge is ready (the workers grade meanwhile); the results in the order they arrived. A
    judge that fails (a reference that fails its probes) stops the run at the next result."""
    done: list[TaskResult] = []
    waiting: list[tuple[GradeTask, TaskResult]] = []  # arrived before the judge was ready
    progress.start()
    with Recorder(ws, reader.assignment) as recorder:

        def record(task: GradeTask, raw: TaskResult) -> None:
            result = judging.result().judge(raw)
            if result.status in RECORDED:
                recorder.record(task, result)
            progress.update(
                task.student,
                result.status,
                f"{result.score:g}/{result.max_score:g} in {result.seconds_total:.1f} s",
            )
            done.append(result.stripped())

        for arrived in runner.results(reader.task(s) for s in todo):
            waiting.append(arrived)
            if judging.done():
                for task, raw in waiting:
                    record(task, raw)
                waiting.clear()
        for task, raw in waiting:
            record(task, raw)
    judging.result()  # with nothing to grade, a reference that fails its probes still says so
    return done


def _judge(source: Path, template: GradeTask, runner: Backend) -> Future[Judge]:
    """The judge, prepared in a thread of this process while the workers grade (a pool's or
    Dask's), with the reference's probes run by a local pool's or local cluster's worker, or
    else here; with no other worker than this process, before it grades."""
    if isinstance(runner, Serial):
        ready: Future[Judge] = Future()
        ready.set_result(_prepared(source, template))
        return ready
    probe = runner.reference if isinstance(runner, (Pool, Dask)) else None
    preparing = ThreadPoolExecutor(1, thread_name_prefix="judge")
    judging = preparing.submit(_prepared, source, template, probe)
    preparing.shutdown(wait=False)
    return judging


def _prepared(source: Path, template: GradeTask, probe: Callable[..., Any] | None = None) -> Judge:
    """:meth:`Judge.prepare`; then what this process holds (the imports, the reference's
    records) is kept out of the collector's passes until the run ends (:mod:`autograder.heap`)."""
    judge = Judge.prepare(source, template, probe)
    heap.settle()
    return judge


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
    stats = AssignmentStats.empty()
    try:
        students = _only(students, options.students)
        trusted = trusted_notebooks(ws, assignment)
        reader = Submissions(ws, assignment, trusted, options.notebook_timeout, options.isolation)
        judging = _judge(ws.path / "source" / assignment, reader.template, runner)
        results = _known(ws, reader, students, options.force or bool(options.students))
        progress = progress or Progress(len(students))
        for result in results.values():
            stats = stats.merge(_stats(result))
            progress.update(result.student, result.status, "", skipped=True)
        todo = [s for s in students if s not in results]
        for result in _grade_each(ws, reader, judging, runner, todo, progress):
            results[result.student] = result
            stats = stats.merge(_stats(result))
    finally:
        runner.close()
        if progress is not None:
            progress.close()
        heap.unsettle()  # what this run froze is the collector's again
    ordered = [results[s] for s in students]
    skipped = sum(r.skipped for r in ordered)
    text = summary(stats, skipped, time.monotonic() - started)
    text += f"\nisolation: {isolation}\nkernels: {_kernels(ordered, options.isolation)}"
    return GradeRun(ordered, stats, text, isolation)


def _kernels(results: list[TaskResult], asked: str) -> str:
    """How this run's kernels started, as the workers said: warm (forked from each worker's
    zygote) or cold, and why; where none ran, what this machine would do."""
    said: dict[str, int] = {}
    for result in results:
        if result.kernels and not result.skipped:
            said[result.kernels] = said.get(result.kernels, 0) + 1
    if not said:
        from autograder.sandboxed import how_kernels_start

        return how_kernels_start(asked)
    named = {"warm": "warm, each forked from its worker's zygote and sandboxed before it starts"}
    return "; ".join(f"{named.get(k, k)}: {n} submission(s)" for k, n in sorted(said.items()))


def grade(
    course: CourseConfig,
    workspace: Path,
    assignment: str,
    submissions: Path | None = None,
    options: GradingConfig | None = None,
) -> list[TaskResult]:
    """:func:`grade_run`, returning only the results."""
    return grade_run(course, workspace, assignment, submissions, options).results
