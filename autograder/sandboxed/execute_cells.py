"""nbgrader's ``Execute`` with what grading adds, cell by cell.

nbgrader's ``Execute`` records a cell's error instead of raising it, and interrupts a cell that
runs too long. :class:`GradingExecute` adds the student's limits in CPU time, with the notebook's
budget shared by all its kernels (:mod:`autograder.sandboxed.clock`); the instructor's setup cells
apart, under a limit of their own, where a failure is the grader's (:class:`SetupFailed`); output
caps; the kernel's death caught (the cells it never reached score zero, with the reason in their
output); and the notebook's own outputs set aside before its first probe. Each cell's reply and
outputs are read in one loop (:class:`autograder.sandboxed.replies.OneLoop`), which also looks at
the cell's limits and interrupts it.

Imported only when a notebook is executed (:func:`autograder.sandboxed.kernel.run_notebook`):
nbgrader and nbclient are slow to import, and ``--help`` should not wait for them.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import run_sync
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute

from autograder.nbgrader_api import grade_id as nbgrader_grade_id
from autograder.sandboxed.clock import (
    Budget,
    Kernel,
    Stopwatch,
    TimeLimits,
    sandbox_processes,
)
from autograder.sandboxed.proctree import Sample
from autograder.sandboxed.replies import IOPUB_SECONDS, OneLoop

CELL_OUTPUT_BYTES = 2 * 2**20  # output one cell may produce; the rest is dropped, with a note
NOTEBOOK_OUTPUT_BYTES = 16 * 2**20  # output a whole notebook may produce


class SetupFailed(Exception):
    """The kernel failed before the student's first cell ran: it did not start, it died, or an
    instructor's setup cell ran past its limit. No fault of the submission."""


@dataclass(frozen=True)
class Snapshot:
    """The notebook's own cells' outputs and failures, as they stood when the probes began."""

    outputs: list[Any]
    timed_out: list[str]
    truncated: list[str]
    failed: set[int]


def cell_name(cell: Any, index: int) -> str:
    grade_id = nbgrader_grade_id(cell)
    return f"cell {index}" + (f" ({grade_id})" if grade_id else "")


def not_run(cell: Any, reason: str) -> None:
    """Make a cell that did not run score zero, with the reason where the student will see it."""
    if cell.cell_type != "code":
        return
    cell.setdefault("outputs", [])
    if not any(o.output_type == "error" for o in cell.outputs):
        cell.outputs.append(
            NotebookNode(
                output_type="error", ename="NotRun", evalue=reason, traceback=[f"NotRun: {reason}"]
            )
        )


def last_words(log: IO[bytes]) -> str:
    """The last line the kernel process printed (a crash message), minus its usual chatter."""
    log.flush()
    log.seek(0)
    lines = [
        line.strip()
        for line in log.read()[-4096:].decode(errors="replace").splitlines()
        if line.strip()
        and not any(chatter in line for chatter in ("without encryption", "--existing", "connect"))
    ]
    return lines[-1][:200] if lines else ""


class GradingExecute(Execute, OneLoop):
    """nbgrader's Execute, plus the student's limits, output caps and a record of failures."""

    def start(
        self,
        limits: TimeLimits,
        budget: Budget,
        kernel_log: IO[bytes],
        student_from: int = 0,
        probe_from: int | None = None,
    ) -> None:
        self.limits, self.budget = limits, budget
        # NOTE: a kernel's start-up is no one's code, and on a loaded machine it may take longer
        # than nbclient's 60 s; it gets what a setup cell gets (a kernel that never answers is
        # retried once, then the grader's failure, never the student's)
        self.startup_timeout = max(int(getattr(self, "startup_timeout", 60)), limits.setup)
        self.kernel_log = kernel_log  # the kernel's own stdout and stderr, not the worker's
        self.student_from = student_from  # the first answer cell; the cells before it are setup
        self.started = False  # whether a cell of the student's has started
        self.stopped: tuple[str, str] | None = None  # (status, reason) once cells stop running
        self.said = ""  # what the kernel printed last before it died
        self.stopped_at: int | None = None  # the index of the first cell that did not finish
        self.expired = False  # stopped by the notebook's budget, between two cells
        self.timed_out: list[str] = []  # "cell 3 (grade id) after 10 s of CPU time"
        self.kernel = None
        self.sandboxing: frozenset[int] = frozenset()  # those of them that are the sandbox's
        self.last: Sample | None = None  # the kernel's processes after the last cell ran
        self.in_cells = 0.0  # the CPU seconds its cells used, setup included
        self.watch = None
        self.failed: set[int] = set()  # cells whose execute_reply said "error"
        self.notebook_bytes = 0
        self.cell_bytes: dict[int, int] = {}
        self.truncated: list[str] = []
        # The first probe cell, if the notebook ends with probes; when it starts, what the
        # notebook's own cells produced is set aside (``snapshot``), so that nothing a probe
        # call displays (an update_display of an earlier output, say) can reach the feedback.
        self.probe_from = probe_from
        self.snapshot: Snapshot | None = None
        self.reveal: Callable[[], None] | None = None  # hands the probes their inputs

    def output(self, outs: Any, msg: Any, display_id: Any, cell_index: int) -> Any:
        """Keep output up to the caps; past them, drop it and say so once per cell."""
        size = len(json.dumps(msg.get("content", {}), default=str))
        used = self.cell_bytes.get(cell_index, 0)
        self.cell_bytes[cell_index] = used + size
        self.notebook_bytes += size
        if used + size <= CELL_OUTPUT_BYTES and self.notebook_bytes <= NOTEBOOK_OUTPUT_BYTES:
            return super().output(outs, msg, display_id, cell_index)
        if used <= CELL_OUTPUT_BYTES:
            self.cell_bytes[cell_index] = CELL_OUTPUT_BYTES + 1
            self.truncated.append(f"cell {cell_index}")
            note = (
                f"[output truncated: past {CELL_OUTPUT_BYTES // 2**20} MB for this cell or "
                f"{NOTEBOOK_OUTPUT_BYTES // 2**20} MB for the notebook]\n"
            )
            outs.append(NotebookNode(output_type="stream", name="stdout", text=note))
        return None

    async def async_start_new_kernel(self, **kwargs: Any) -> None:
        kwargs.setdefault("stdout", self.kernel_log)
        kwargs.setdefault("stderr", self.kernel_log)
        await super().async_start_new_kernel(**kwargs)

    start_new_kernel = run_sync(async_start_new_kernel)

    def on_cell_executed(self, **kwargs: Any) -> None:
        super().on_cell_executed(**kwargs)
        index, content = kwargs["cell_index"], kwargs["execute_reply"]["content"]
        if content.get("status") != "ok":
            self.failed.add(index)
        if self.interrupted and index >= self.student_from:
            self.timed_out.append(f"{cell_name(kwargs['cell'], index)} {self.interrupted}")

    def preprocess_cell(self, cell: Any, resources: Any, index: int) -> Any:
        if index == self.probe_from:
            self._set_aside(index)
        setup = index < self.student_from
        if not setup and self.stopped is None and self.budget.spent:
            self.stopped = ("timed_out", f"the notebook ran past its {self.budget.limit:g} s limit")
            self.stopped_at = index
            self.expired = True  # the cell at stopped_at never started
        if self.stopped is not None:
            not_run(cell, self.stopped[1])
            return cell, resources
        if cell.cell_type != "code" or not cell.source.strip():
            return super().preprocess_cell(cell, resources, index)
        self.started = self.started or not setup
        watch = self.watch = self._stopwatch(setup)
        self.interrupted, self.iopub_timeout = None, IOPUB_SECONDS
        try:
            return self._run(cell, resources, index, setup)
        finally:
            cpu, wall = watch.used()
            if not setup:
                self.budget.charge(cpu, wall)
            probe = self.probe_from is not None and index >= self.probe_from
            self.budget.spend("setup cells" if setup else "probes" if probe else "cells", cpu)
            self.in_cells += cpu
            self.last = watch.now or self.last

    def account(self) -> None:
        """Once the kernel has ended: record what its sandbox and its start-up used."""
        if self.last is None:
            return
        sandbox = sum(self.last.cpus.get(pid, 0.0) for pid in self.sandboxing)
        kernel = sum(self.last.cpus.values()) - sandbox
        self.budget.spend("sandbox", sandbox)
        self.budget.spend("kernel start", kernel - self.in_cells)

    def _stopwatch(self, setup: bool) -> Stopwatch:
        if self.kernel is None:  # found once per kernel, at its first cell
            self.kernel = Kernel.of(getattr(getattr(self.km, "provisioner", None), "pid", None))
            self.sandboxing = sandbox_processes(self.kernel.pid) if self.kernel else frozenset()
        if setup:
            return Stopwatch(self.kernel, None, self.limits.setup, self.last)
        return Stopwatch(self.kernel, *self.budget.cell_limits(self.limits.cell), self.last)

    def _run(self, cell: Any, resources: Any, index: int, setup: bool) -> Any:
        name, self.cell_index = cell_name(cell, index), index
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self.said = last_words(self.kernel_log)
            self._stop(cell, index, setup, ("kernel_died", f"the kernel died in {name}"))
        except CellTimeoutError:  # interrupted, but the kernel did not come back
            why = f"{name} ran past its time limit and the kernel did not answer the interrupt"
            self._stop(cell, index, setup, ("timed_out", why))
        else:
            if setup and self.interrupted:
                raise SetupFailed(f"{name}, a setup cell, ran past its {self.limits.setup} s limit")
        return cell, resources

    def _stop(self, cell: Any, index: int, setup: bool, stopped: tuple[str, str]) -> None:
        if setup:
            said = f": {self.said}" if self.said else ""
            raise SetupFailed(f"{stopped[1]}, a setup cell{said}")
        self.stopped, self.stopped_at = stopped, index
        not_run(cell, stopped[1])

    def _set_aside(self, index: int) -> None:
        self.snapshot = Snapshot(
            outputs=copy.deepcopy([c.get("outputs") for c in self.nb.cells[:index]]),
            timed_out=list(self.timed_out),
            truncated=list(self.truncated),
            failed=set(self.failed),
        )
        if self.reveal is not None:  # only now do the probes' inputs exist
            self.reveal()
