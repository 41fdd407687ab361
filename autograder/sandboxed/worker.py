"""Inside a grading worker: rebuild, execute and score one notebook, then run its probes.

1. rebuild (:mod:`autograder.sandboxed.rebuild`): the released notebook with the student's answer
   cells in it, matched by grade id; nothing else of the submission is used;
2. execute it in a fresh kernel inside the sandbox (:mod:`autograder.sandboxed.sandbox`), with a
   deadline per cell and per notebook, output caps, and the kernel's death caught
   (:func:`autograder.sandboxed.kernel.run_notebook`);
3. score each grade cell: full points when its cell ran without an error, else zero (a warning
   or a progress bar on stderr costs nothing, unlike nbgrader's rule);
4. the probes (:mod:`autograder.probes`) run in the same kernel, one cell each after the
   notebook's last cell; the notebook's own outputs are set aside before the first of them, so
   nothing a probe call prints or displays reaches the feedback. A probe that hangs or kills the
   kernel fails alone: the probes after it run in a fresh kernel with the setup and answer cells.

The worker never sees the probes' expected results: the coordinator compares (``judge``).
A grade cell that never ran (the kernel died, the deadline passed) gets an error output saying
why, so it scores zero like any failing test; the points earned before the failure stay.
"""

from __future__ import annotations

import functools
import os
import socket
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from autograder.messages import (
    GradeTask,
    NotebookResult,
    ProbeSpec,
    TaskResult,
    TrustedNotebook,
    failed,
    worst,
)
from autograder.nbgrader_api import nbgrader_meta
from autograder.probes import BadResults, read_results
from autograder.sandboxed.kernel import QUIET, run_notebook
from autograder.sandboxed.probe_runner import runner_cell
from autograder.sandboxed.rebuild import Answers, Invalid, answers, read_submission, rebuild
from autograder.sandboxed.sandbox import Sandbox, detect

#: Where the probes' inputs and results sit in the kernel's private folder.
PROBES_IN, PROBES_OUT = "probes-in", "probes-out"


def warm_up() -> int:
    """Do the heavy imports now, once per worker process; returns the process id."""
    import nbclient  # noqa: F401
    import nbgrader.preprocessors  # noqa: F401
    import nbgrader.utils  # noqa: F401

    sandbox("auto")
    return os.getpid()


@functools.cache
def sandbox(isolation: str) -> Sandbox:
    """This worker's sandbox: the best the machine has, or less when asked ("limits": what a
    machine without bubblewrap gets; "none"), with a user of its own."""
    found = detect()
    if isolation == "none" or (isolation == "limits" and found.mode == "bwrap"):
        found = replace(found, mode=isolation)
    return found.for_worker()


def _is_grade(cell: Any) -> bool:
    return bool(nbgrader_meta(cell).get("grade"))


def _scores(nb: Any, trusted: TrustedNotebook, failed: set[int]) -> tuple[dict, dict]:
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


def _resources(task: GradeTask, trusted: TrustedNotebook, cwd: Path) -> dict[str, Any]:
    return {
        "nbgrader": {"notebook": trusted.name, "assignment": task.assignment},
        "metadata": {"path": str(cwd)},
    }


def grade_notebook(
    task: GradeTask, trusted: TrustedNotebook, cwd: Path, confined: Sandbox
) -> NotebookResult:
    """Rebuild, execute in ``confined``, score, and probe one notebook."""
    import nbformat
    from nbgrader.preprocessors import LimitOutput

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
    nb = rebuild(released, given, hidden, tests)
    statuses, reasons = ["graded"], list(given.notes)

    # The probes run in the same kernel, after the notebook's last cell (one kernel start, one
    # import of torch); those that a crash or a hang there leaves undone get a fresh kernel.
    first, left = len(nb.cells), list(trusted.probes)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="grade-") as scratch:
        private = Path(scratch) / "sandbox"
        written: dict[str, list[dict[str, Any]] | str] = {}
        nb.cells += _runner_cells([p.name for p in left], private)
        nb, execute = run_notebook(
            nb,
            _resources(task, trusted, cwd),
            task,
            confined,
            _exchange(trusted, left, written) if left else None,
            private,
            probe_from=first if left else None,
        )
    seconds = time.perf_counter() - started
    probes, left = _collect(nb, execute, first, left, written)
    nb.cells = nb.cells[:first]
    failed, timed_out, truncated = execute.failed, execute.timed_out, execute.truncated
    if execute.snapshot is not None:  # the notebook as it was before any probe ran
        for cell, outputs in zip(nb.cells, execute.snapshot.outputs, strict=True):
            if outputs is not None:
                cell.outputs = outputs
        failed, timed_out = execute.snapshot.failed, execute.snapshot.timed_out
        truncated = execute.snapshot.truncated
    if execute.stopped and (execute.stopped_at is None or execute.stopped_at < first):
        statuses.append(execute.stopped[0])
        reasons.append(execute.stopped[1])
    if timed_out:
        statuses.append("timed_out")
        reasons.append(f"interrupted {', '.join(timed_out)}")
    if truncated:
        statuses.append("output_limit")
        reasons.append(f"output truncated in {', '.join(truncated)}")

    nb, _ = LimitOutput(log=QUIET).preprocess(nb, {})
    scores, comments = _scores(nb, trusted, failed)
    started = time.perf_counter()
    if left:
        probes.update(run_probes(task, trusted, given, cwd, confined, left))
    return NotebookResult(
        name=trusted.name,
        status=worst(statuses),
        reason="; ".join(reasons),
        executed=nbformat.writes(nb),
        scores=scores,
        comments=comments,
        seconds_executing=seconds,
        probes=probes,
        seconds_probing=time.perf_counter() - started,
    )


def _runner_cells(names: list[str], private: Path) -> list[Any]:
    import nbformat

    return [
        nbformat.v4.new_code_cell(
            runner_cell(name, str(private / PROBES_IN), str(private / PROBES_OUT))
        )
        for name in names
    ]


def _exchange(trusted: TrustedNotebook, batch: list[ProbeSpec], out: dict) -> Any:
    """What goes into the kernel's private folder and comes out of it: empty folders before the
    kernel starts (``"before"``); the probes' inputs only when the first probe cell is about to
    run, after the notebook's last cell, so that no cell of the notebook can read them
    (``"reveal"``); their results, read as untrusted data into ``out`` (``"after"``)."""

    def exchange(private: Path, phase: str) -> None:
        if phase == "before":
            (private / PROBES_IN).mkdir()
            (private / PROBES_OUT).mkdir()
            (private / PROBES_OUT).chmod(0o777)  # the sandbox's user writes here
            return
        if phase == "reveal":
            for name, data in trusted.probe_inputs:
                (private / PROBES_IN / name).write_bytes(data)
            return
        for p in batch:
            try:
                out[p.name] = read_results(private / PROBES_OUT, p.name, p.calls)
            except BadResults as err:
                out[p.name] = str(err)

    return exchange


def _collect(
    nb: Any, execute: Any, first: int, left: list[ProbeSpec], written: dict
) -> tuple[dict[str, list[dict[str, Any]] | str], list[ProbeSpec]]:
    """The verdict data of the probes whose cells (from ``first`` on) ran, and the probes that
    a stop of the kernel before their cell left undone."""
    found: dict[str, list[dict[str, Any]] | str] = {}
    stop = execute.stopped_at
    if stop is not None and stop < first:  # the kernel stopped before any probe
        return found, left
    still = []
    for index, p in enumerate(left, start=first):
        errors = [o for o in nb.cells[index].get("outputs", []) if o.output_type == "error"]
        if stop is not None and (index > stop or (index == stop and execute.expired)):
            still.append(p)  # the kernel stopped before it: a new one runs it
        elif stop == index and execute.stopped:
            found[p.name] = execute.stopped[1]
        elif errors or index in execute.failed:
            found[p.name] = f"{errors[0].get('ename', 'error')}" if errors else "it failed"
        else:
            found[p.name] = written.get(p.name, "no results were written")
    return found, still


def probe_notebook(released: Any, given: Answers, names: list[str], private: Path) -> Any:
    """The notebook that runs probes ``names``: the released notebook's setup and answer cells
    (its nbgrader cells that are not tests; demonstrations that merely call an answer are left
    out, so that a crash there cannot cost every probe), then one runner cell per probe."""
    import nbformat

    nb = rebuild(released, given)
    cells = [
        c
        for c in nb.cells
        if c.cell_type == "code" and "nbgrader" in c.get("metadata", {}) and not _is_grade(c)
    ]
    cells += _runner_cells(names, private)
    return nbformat.v4.new_notebook(cells=cells, metadata=nb.metadata)


def run_probes(
    task: GradeTask,
    trusted: TrustedNotebook,
    given: Answers,
    cwd: Path,
    confined: Sandbox,
    only: list[ProbeSpec] | None = None,
) -> dict[str, list[dict[str, Any]] | str]:
    """Each probe's records as the sandboxed kernel wrote them (checked for form, not trusted),
    or the reason it has none, from fresh kernels that run the setup and answer cells and then
    the probes (``only`` these, by default all). A probe that stops its kernel fails alone: the
    next kernel runs those after it. All share the notebook's time limit."""
    import nbformat

    released = nbformat.reads(trusted.release, as_version=4)
    found: dict[str, list[dict[str, Any]] | str] = {}
    left = list(trusted.probes if only is None else only)
    deadline = time.monotonic() + task.notebook_timeout
    while left:
        budget = int(deadline - time.monotonic())
        if budget < 1:
            found.update({p.name: "the notebook's time limit was reached" for p in left})
            break
        written: dict[str, list[dict[str, Any]] | str] = {}
        with tempfile.TemporaryDirectory(prefix="probes-") as scratch:
            private = Path(scratch) / "sandbox"
            probing = probe_notebook(released, given, [p.name for p in left], private)
            nb, execute = run_notebook(
                probing,
                _resources(task, trusted, cwd),
                replace(task, notebook_timeout=budget),
                confined,
                _exchange(trusted, left, written),
                private,
                probe_from=len(probing.cells) - len(left),
            )
        first = len(nb.cells) - len(left)
        if execute.stopped_at is not None and execute.stopped_at < first:
            # the answers themselves did not get through
            why = execute.stopped[1] if execute.stopped else "the answer cells did not run"
            found.update({p.name: f"the answer cells did not run: {why}" for p in left})
            break
        done, left = _collect(nb, execute, first, left, written)
        found.update(done)
    return found


def probe_reference(
    task: GradeTask, trusted: TrustedNotebook, text: str, cwd: Path
) -> dict[str, list[dict[str, Any]] | str]:
    """The probes' records for the reference solution ``text`` (a source notebook), run exactly
    as a submission's are, in ``task``'s sandbox: what the coordinator's judge compares against."""
    import nbformat

    given = answers(read_submission(text), nbformat.reads(trusted.release, as_version=4))
    return run_probes(task, trusted, given, cwd, sandbox(task.isolation))


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
    confined = sandbox(task.isolation)
    if task.isolation == "bwrap" and not confined.isolated:
        return failed(task, "a sandbox was required, but this worker has no bubblewrap")
    with workdir(task) as cwd:
        results = tuple(
            grade_notebook(task, trusted, Path(cwd), confined) for trusted in task.trusted
        )
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
    )
