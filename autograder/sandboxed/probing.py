"""The probes inside a worker: their cells, their files, and what came of them.

The probes (:mod:`autograder.probes`) run in the notebook's own kernel, one cell each after its
last cell (:func:`runner_cells`). Their inputs reach the kernel's private folder only when the
first of them starts, and their results are read there as untrusted data (:func:`exchange`). A
probe that hangs or kills the kernel fails alone: :func:`run_probes` runs those after it in fresh
kernels with the setup and answer cells, on what is left of the notebook's one budget.

Why a probe has no results is always said in the grader's words: no exception name or message
that the student's code chose reaches a verdict.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from autograder.messages import GradeTask, ProbeSpec, TrustedNotebook
from autograder.nbgrader_api import nbgrader_meta
from autograder.results import BadResults, read_results
from autograder.sandboxed import nodes
from autograder.sandboxed.clock import Budget, TimeLimits
from autograder.sandboxed.kernel import Executed, run_notebook
from autograder.sandboxed.probe_runner import runner_cell
from autograder.sandboxed.rebuild import Answers, rebuild
from autograder.sandboxed.sandbox import Sandbox

#: Where the probes' inputs and results sit in the kernel's private folder.
PROBES_IN, PROBES_OUT = "probes-in", "probes-out"

#: Probe name -> its records as the kernel wrote them (checked for form), or why there are none.
Found = dict[str, list[dict[str, Any]] | str]


def limits(task: GradeTask) -> TimeLimits:
    return TimeLimits.of(task.cell_timeout, task.notebook_timeout)


def resources(task: GradeTask, trusted: TrustedNotebook, cwd: Path) -> dict[str, Any]:
    return {
        "nbgrader": {"notebook": trusted.name, "assignment": task.assignment},
        "metadata": {"path": str(cwd)},
    }


def first_answer(nb: Any) -> int:
    """The index of the first answer (solution) cell: the cells before it are the instructor's
    setup, which import and define before any of the student's code has run."""
    return next(
        (i for i, c in enumerate(nb.cells) if nbgrader_meta(c).get("solution")), len(nb.cells)
    )


def runner_cells(names: list[str], private: Path) -> list[Any]:
    import nbformat

    nodes.install()
    return [
        nbformat.v4.new_code_cell(
            runner_cell(name, str(private / PROBES_IN), str(private / PROBES_OUT))
        )
        for name in names
    ]


def exchange(
    trusted: TrustedNotebook, batch: list[ProbeSpec], out: Found
) -> Callable[[Path, str], None]:
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


def collect(
    run: Executed, first: int, left: list[ProbeSpec], written: Found, reference: bool = False
) -> tuple[Found, list[ProbeSpec]]:
    """The verdict data of the probes whose cells (from ``first`` on) ran, and the probes that
    a stop of the kernel before their cell left undone. For the ``reference`` solution (the
    course's own code, so trusted) an exception is named with its message: a module missing
    from the grading environment is then named in the error the instructor sees."""
    found: Found = {}
    stop = run.stopped_at
    if stop is not None and stop < first:  # the kernel stopped before any probe
        return found, left
    still = []
    for index, p in enumerate(left, start=first):
        errors = [o for o in run.nb.cells[index].get("outputs", []) if o.output_type == "error"]
        if stop is not None and (index > stop or (index == stop and run.expired)):
            still.append(p)  # the kernel stopped before it: a new one runs it
        elif stop == index and run.stopped:
            found[p.name] = run.stopped[1]  # the grader's words; the kernel's are in run.said
        elif errors and errors[0].get("ename") == "NotRun":
            found[p.name] = "it did not run"
        elif any(t.startswith(f"cell {index} ") for t in run.timed_out):
            found[p.name] = "it ran past its time limit"
        elif reference and errors:
            error = errors[0]
            found[p.name] = f"it raised {error.get('ename')}: {error.get('evalue')}"[:300]
        elif errors or index in run.failed:
            # NOTE: not the exception's name or message: the student chooses those
            found[p.name] = "it raised an exception"
        else:
            found[p.name] = written.get(p.name, "no results were written")
    return found, still


def run_with_probes(
    task: GradeTask,
    trusted: TrustedNotebook,
    nb: Any,
    cwd: Path,
    confined: Sandbox,
    budget: Budget,
) -> tuple[Executed, Found, list[ProbeSpec]]:
    """Run the notebook, then its probes in the same kernel, after its last cell (one kernel
    start, one import of torch); return the run, the probes' results, and the probes that a
    crash or a hang there left undone (they get a fresh kernel)."""
    first, left = len(nb.cells), list(trusted.probes)
    with tempfile.TemporaryDirectory(prefix="grade-") as scratch:
        private = Path(scratch) / "sandbox"
        written: Found = {}
        nb.cells += runner_cells([p.name for p in left], private)
        run = run_notebook(
            nb,
            resources(task, trusted, cwd),
            task.kernel_name,
            limits(task),
            confined,
            budget=budget,
            exchange=exchange(trusted, left, written) if left else None,
            private=private,
            student_from=first_answer(nb),
            probe_from=first if left else None,
        )
    probes, left = collect(run, first, left, written)
    return run, probes, left


def probe_notebook(released: Any, given: Answers, names: list[str], private: Path) -> Any:
    """The notebook that runs probes ``names``: the released notebook's setup and answer cells
    (its nbgrader cells that are not tests; demonstrations that merely call an answer are left
    out, so that a crash there cannot cost every probe), then one runner cell per probe."""
    import nbformat

    nb = rebuild(released, given)
    cells = [
        c
        for c in nb.cells
        if c.cell_type == "code"
        and "nbgrader" in c.get("metadata", {})
        and not nbgrader_meta(c).get("grade")
    ]
    cells += runner_cells(names, private)
    return nbformat.v4.new_notebook(cells=cells, metadata=nb.metadata)


def run_probes(
    task: GradeTask,
    trusted: TrustedNotebook,
    given: Answers,
    cwd: Path,
    confined: Sandbox,
    budget: Budget,
    only: list[ProbeSpec] | None = None,
    reference: bool = False,
) -> Found:
    """Each probe's records as the sandboxed kernel wrote them (checked for form, not trusted),
    or the reason it has none, from fresh kernels that run the setup and answer cells and then
    the probes (``only`` these, by default all). A probe that stops its kernel fails alone: the
    next kernel runs those after it. All draw on ``budget``, the notebook's.

    Raises :class:`autograder.sandboxed.kernel.GraderFailure` when a kernel fails before the
    answer cells, twice. ``reference``: see :func:`collect`."""
    import nbformat

    released = nbformat.reads(trusted.release, as_version=4)
    found: Found = {}
    left = list(trusted.probes if only is None else only)
    while left:
        if budget.spent:
            found.update({p.name: "the notebook's time limit was reached" for p in left})
            break
        written: Found = {}
        with tempfile.TemporaryDirectory(prefix="probes-") as scratch:
            private = Path(scratch) / "sandbox"
            probing = probe_notebook(released, given, [p.name for p in left], private)
            first = len(probing.cells) - len(left)
            run = run_notebook(
                probing,
                resources(task, trusted, cwd),
                task.kernel_name,
                limits(task),
                confined,
                budget=budget,
                exchange=exchange(trusted, left, written),
                private=private,
                student_from=first_answer(probing),
                probe_from=first,
            )
        if run.stopped_at is not None and run.stopped_at < first:
            # the answers themselves did not get through
            why = run.stopped[1] if run.stopped else "the answer cells did not run"
            found.update({p.name: f"the answer cells did not run: {why}" for p in left})
            break
        done, left = collect(run, first, left, written, reference)
        found.update(done)
    return found
