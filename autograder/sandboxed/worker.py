"""Inside a grading worker: rebuild, execute and score one notebook, then run its probes.

1. rebuild (:mod:`.rebuild`): the released notebook with only the student's answer cells in it;
2. execute it in a fresh kernel in the sandbox (:mod:`autograder.sandboxed.sandbox`), with CPU
   limits per cell and per notebook for the student's cells, setup cells apart (:mod:`.clock`),
   output caps, and the kernel's death caught (:func:`autograder.sandboxed.kernel.run_notebook`);
3. score each grade cell: full points when its cell ran without an error, else zero (a warning
   or a progress bar on stderr costs nothing, unlike nbgrader's rule);
4. the probes (:mod:`autograder.sandboxed.probing`) run in the same kernel, one cell each after
   the notebook's last cell; the notebook's own outputs are set aside before the first of them,
   so nothing a probe call prints or displays reaches the feedback. A probe that hangs or kills
   the kernel fails alone: the probes after it run in a fresh kernel with the setup and answer
   cells, on what is left of the notebook's budget.

The worker never sees the probes' expected results: the coordinator compares (``judge``).
A grade cell that never ran (the kernel died, the budget ran out) gets an error output saying
why, so it scores zero like any failing test; the points earned before the failure stay. A
kernel that fails before the first answer cell is the grader's failure: the result is ``error``.
"""

from __future__ import annotations

import functools
import os
import socket
import tempfile
import time
from collections.abc import Set as AbstractSet
from dataclasses import replace
from pathlib import Path
from typing import Any

from autograder import heap
from autograder.messages import (
    GradeTask,
    NotebookResult,
    TaskResult,
    TrustedNotebook,
    executed_json,
    failed,
    worst,
)
from autograder.nbgrader_api import nbgrader_meta
from autograder.sandboxed.clock import Budget
from autograder.sandboxed.kernel import QUIET, Executed, GraderFailure
from autograder.sandboxed.probing import run_probes, run_with_probes
from autograder.sandboxed.rebuild import Answers, Invalid, answers, read_submission, rebuild
from autograder.sandboxed.sandbox import Sandbox, detect


def warm_up(shared: str | None = None) -> int:
    """Start this worker's zygote (a fork of the pool's ``shared`` one), then do the heavy
    imports, once per worker process; returns the process id."""
    start_zygote(shared=shared)  # its imports go on beside the worker's
    import nbclient  # noqa: F401
    import nbgrader.preprocessors  # noqa: F401
    import nbgrader.utils  # noqa: F401

    import autograder.sandboxed.execute_cells  # noqa: F401

    heap.settle_a_worker()  # the imports, frozen out of the garbage collector's passes
    return os.getpid()


def start_zygote(isolation: str = "auto", shared: str | None = None) -> None:
    """Start this process's zygote (a fork of ``shared``'s) for warm kernels; do not wait."""
    from autograder.sandboxed import warm

    warm.zygote(sandbox(isolation), wait=False, shared=shared)


def stop_zygote() -> None:
    """End this worker's zygote (a Dask worker plugin's teardown; it ends with the worker too)."""
    from autograder.sandboxed import warm

    warm.stop()


def how_kernels_start(isolation: str) -> str:
    """What the summary says of kernels in a run with ``isolation`` where none ran."""
    from autograder.sandboxed import warm

    return warm.describe(sandbox(isolation if isolation in ("limits", "none") else "auto"))


@functools.cache
def sandbox(isolation: str) -> Sandbox:
    """This worker's sandbox: the best the machine has, or less when asked ("limits": what a
    machine without bubblewrap gets; "none"), with a user of its own."""
    found = detect()
    if isolation == "none" or (isolation == "limits" and found.mode == "bwrap"):
        found = replace(found, mode=isolation)
    return found.for_worker()


def _scores(nb: Any, trusted: TrustedNotebook, failed: AbstractSet[int]) -> tuple[dict, dict]:
    """Each grade cell's points: all when it ran without an error, none otherwise."""
    from nbgrader import utils

    scores: dict[str, tuple[float | None, float]] = {
        c.grade_id: (None, float(c.max_score)) for c in trusted.cells if c.max_score is not None
    }
    comments: dict[str, str | None] = {}
    for index, cell in enumerate(nb.cells):
        meta = nbgrader_meta(cell)
        grade_id = meta.get("grade_id")
        if grade_id is None:
            continue
        if grade_id in scores and utils.is_grade(cell) and cell.cell_type == "code":
            erred = index in failed or any(o.output_type == "error" for o in cell.outputs)
            scores[grade_id] = (0.0 if erred else scores[grade_id][1], scores[grade_id][1])
        if utils.is_solution(cell) or utils.is_task(cell):
            unchanged = meta.get("checksum") == utils.compute_checksum(cell)
            comments[grade_id] = "No response." if unchanged and not utils.is_task(cell) else None
    return scores, comments


def _zero(trusted: TrustedNotebook, status: str, reason: str) -> NotebookResult:
    """The result of a notebook that could not run at all: every test scores zero."""
    scores: dict[str, tuple[float | None, float]] = {
        c.grade_id: (0.0, float(c.max_score)) for c in trusted.cells if c.max_score is not None
    }
    return NotebookResult(trusted.name, status, reason, None, scores, {})


def refused(trusted: TrustedNotebook, reason: str) -> NotebookResult:
    """A notebook of a refused submission (see ``GradeTask.refused``): every test scores zero."""
    return _zero(trusted, "refused", reason)


def _prepare(task: GradeTask, trusted: TrustedNotebook) -> tuple[Any, Answers] | NotebookResult:
    """The notebook to run, rebuilt from the released one and the student's answers, and the
    answers; or the result of a submission that cannot run at all."""
    import nbformat

    filename = f"{trusted.name}.ipynb"
    text = task.notebooks.get(filename)
    if text is None:
        return _zero(trusted, "missing", f"{filename} was not submitted")
    released = nbformat.reads(trusted.release, as_version=4)
    try:
        given = answers(read_submission(text), released)
    except Invalid as err:
        return _zero(trusted, "invalid_notebook", str(err))
    if not given.sources:
        return _zero(
            trusted,
            "invalid_notebook",
            "no answer cell was found (were the cells' nbgrader metadata removed?)",
        )
    hidden = frozenset(c.grade_id for c in trusted.cells if "BEGIN HIDDEN TESTS" in c.source)
    # NOTE: without probes, nothing stands in for the hidden tests: they run in the student's
    # kernel, as in nbgrader, where tampering can fool them (`check` warns about such notebooks).
    tests = None if trusted.probes else {c.grade_id: c.source for c in trusted.cells if c.locked}
    return rebuild(released, given, hidden, tests), given


def grade_notebook(
    task: GradeTask, trusted: TrustedNotebook, cwd: Path, confined: Sandbox
) -> NotebookResult:
    """Rebuild, execute in ``confined``, score, and probe one notebook.

    Raises :class:`GraderFailure` when its kernel failed twice before the first answer cell."""
    from nbgrader.preprocessors import LimitOutput

    ours = time.process_time()
    prepared = _prepare(task, trusted)
    if isinstance(prepared, NotebookResult):
        return prepared
    nb, given = prepared
    budget = Budget(task.notebook_timeout)  # the notebook's and all its probes' kernels'
    first, started = len(nb.cells), time.perf_counter()
    run, probes, left = run_with_probes(task, trusted, nb, cwd, confined, budget)
    seconds = time.perf_counter() - started
    nb = run.nb
    nb.cells = nb.cells[:first]
    if run.snapshot is not None:  # the notebook as it was before any probe ran
        for cell, outputs in zip(nb.cells, run.snapshot.outputs, strict=True):
            if outputs is not None:
                cell.outputs = outputs
    statuses, reasons = _statuses(run, first, given)
    nb, _ = LimitOutput(log=QUIET).preprocess(nb, {})
    failures = run.snapshot.failed if run.snapshot is not None else run.failed
    scores, comments = _scores(nb, trusted, failures)
    started = time.perf_counter()
    if left:
        probes.update(run_probes(task, trusted, given, cwd, confined, budget, left))
    return NotebookResult(
        name=trusted.name,
        status=worst(statuses),
        reason="; ".join(reasons),
        executed=executed_json(nb),
        scores=scores,
        comments=comments,
        seconds_executing=seconds,
        probes=probes,
        seconds_probing=time.perf_counter() - started,
        costs={**budget.costs, "worker": time.process_time() - ours},
    )


def _statuses(run: Executed, first: int, given: Answers) -> tuple[list[str], list[str]]:
    """The notebook's statuses and their reasons (what the probes did aside)."""
    timed_out, truncated = run.timed_out, run.truncated
    if run.snapshot is not None:
        timed_out, truncated = tuple(run.snapshot.timed_out), tuple(run.snapshot.truncated)
    statuses, reasons = ["graded"], list(given.notes)
    if run.stopped and (run.stopped_at is None or run.stopped_at < first):
        statuses.append(run.stopped[0])
        reasons.append(run.stopped[1] + (f": {run.said}" if run.said else ""))
    if timed_out:
        statuses.append("timed_out")
        reasons.append(f"interrupted {', '.join(timed_out)}")
    if truncated:
        statuses.append("output_limit")
        reasons.append(f"output truncated in {', '.join(truncated)}")
    return statuses, reasons


def probe_reference(
    task: GradeTask, trusted: TrustedNotebook, text: str
) -> dict[str, list[dict[str, Any]] | str]:
    """The probes' records for the reference solution ``text`` (a source notebook), run exactly
    as a submission's are, in ``task``'s sandbox: what the coordinator's judge compares against.
    Run in the coordinator, or in a worker of its local pool (a process of its own, on its
    machine), never on a cluster's."""
    import nbformat

    given = answers(read_submission(text), nbformat.reads(trusted.release, as_version=4))
    budget = Budget(task.notebook_timeout)
    try:
        with tempfile.TemporaryDirectory(prefix="reference-") as cwd:
            confined = sandbox(task.isolation)
            return run_probes(task, trusted, given, Path(cwd), confined, budget, reference=True)
    except GraderFailure as err:
        return {p.name: f"the grader failed: {err}" for p in trusted.probes}


def workdir(task: GradeTask) -> tempfile.TemporaryDirectory:
    """A private folder holding the task's other files, copied into the sandbox at start."""
    folder = tempfile.TemporaryDirectory(prefix=f"grade-{task.student}-")
    root = Path(folder.name).resolve()
    for name, data in task.files.items():
        target = (root / name).resolve()
        if root not in target.parents:  # a path that climbs out of the folder is not written
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return folder


def run_task(task: GradeTask) -> TaskResult:
    """Grade one submission in fresh kernels (one per notebook); never raises for a bad submission.

    A kernel that failed twice before the first answer cell (see :class:`GraderFailure`) makes
    the whole result ``error``, the grader's failure: it is not recorded, and a rerun retries.

    Runs in a worker process (or, with one worker, in the coordinator). The heavy imports happen
    on the first call in each process and stay.
    """
    started = time.perf_counter()
    if task.refused:  # nothing of it reaches a kernel: every test scores zero
        return TaskResult(
            task.student,
            task.assignment,
            task.submission_sha256,
            task.grading_sha256,
            status="refused",
            reason=task.refused,
            notebooks=tuple(refused(t, task.refused) for t in task.trusted),
        )
    warm_up()
    from autograder.sandboxed import warm

    confined = sandbox(task.isolation)
    if task.isolation == "bwrap" and not confined.isolated:
        return failed(task, "a sandbox was required, but this worker has no bubblewrap")
    graded: list[NotebookResult] = []
    with workdir(task) as cwd:
        for trusted in task.trusted:
            try:
                graded.append(grade_notebook(task, trusted, Path(cwd), confined))
            except GraderFailure as err:  # no fault of the submission: not recorded, retried
                return failed(task, f"{trusted.name}.ipynb: {err}")
    results = tuple(graded)
    problems = [f"{r.name}.ipynb: {r.reason}" for r in results if r.status != "graded"]
    return TaskResult(
        student=task.student,
        assignment=task.assignment,
        submission_sha256=task.submission_sha256,
        grading_sha256=task.grading_sha256,
        status=worst([r.status for r in results]),
        reason="; ".join(problems),
        notebooks=results,
        seconds_executing=sum(r.seconds_executing for r in results),
        seconds_total=time.perf_counter() - started,
        worker=f"{socket.gethostname()}:{os.getpid()}",
        isolation=confined.mode,
        kernels=warm.kernels(confined),
    )
