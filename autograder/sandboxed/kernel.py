"""Running one notebook in a fresh kernel, with nbgrader's ``Execute`` and what grading adds.

nbgrader's ``Execute`` already interrupts a cell at the per-cell timeout and records errors
instead of raising them. :func:`run_notebook` adds a deadline for the whole notebook, catches a
kernel's death (the cells it never reached score zero, with the reason in their output), keeps
the kernel's own output out of the worker's, connects over IPC sockets rather than TCP ports,
and gives a kernel that failed to start, before any cell ran, one more try.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from autograder.messages import GradeTask
from autograder.nbgrader_api import grade_id as nbgrader_grade_id
from autograder.sandboxed.sandbox import Sandbox, reap, wrap

#: The log of nbgrader's and nbclient's steps in a worker: their warnings and errors (a timeout,
#: a changed locked cell) end up in each submission's status and reason, not on the terminal.
QUIET = logging.getLogger("autograder.grading")
QUIET.setLevel(logging.CRITICAL)

STARTUP_TIMEOUT = 60  # seconds for a new kernel to answer, however short the cell timeout
CELL_OUTPUT_BYTES = 2 * 2**20  # output one cell may produce; the rest is dropped, with a note
NOTEBOOK_OUTPUT_BYTES = 16 * 2**20  # output a whole notebook may produce
MESSAGE_BYTES = 64 * 2**20  # larger messages from a kernel are refused by the socket itself


@dataclass(frozen=True)
class Snapshot:
    """The notebook's own cells' outputs and failures, as they stood when the probes began."""

    outputs: list[Any]
    timed_out: list[str]
    truncated: list[str]
    failed: set[int]


@functools.cache
def _execute_class() -> type:
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from nbclient.util import run_sync
    from nbformat import NotebookNode
    from nbgrader.preprocessors import Execute

    class DeadlineExecute(Execute):
        """nbgrader's Execute, plus a deadline for the whole notebook and a record of failures."""

        def start(
            self,
            cell_limit: int,
            budget: float,
            kernel_log: IO[bytes],
            probe_from: int | None = None,
        ) -> None:
            self.kernel_log = kernel_log  # the kernel's own stdout and stderr, not the worker's
            self.cell_limit = cell_limit  # what each cell gets, through ``timeout_func``
            self.budget = budget
            self.deadline = math.inf  # set when the first cell starts: kernel start is not counted
            self.stopped: tuple[str, str] | None = None  # (status, reason) once cells stop running
            self.stopped_at: int | None = None  # the index of the first cell that did not finish
            self.expired = False  # stopped by the notebook's deadline, between two cells
            self.timed_out: list[str] = []  # "cell 3 (grade id) after 300 s", one per interrupt
            self.last_timeout = 0  # the limit given to the cell running now
            self.timeout_func = self._cell_timeout
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

        def _cell_timeout(self, cell: Any) -> int:
            """The per-cell timeout, or less when the notebook's deadline comes sooner."""
            remaining = math.ceil(self.deadline - time.monotonic())
            self.last_timeout = max(1, min(self.cell_limit, remaining))
            return self.last_timeout

        def on_cell_executed(self, **kwargs: Any) -> None:
            super().on_cell_executed(**kwargs)
            if kwargs["execute_reply"]["content"].get("status") != "ok":
                self.failed.add(kwargs["cell_index"])
            if kwargs["execute_reply"]["content"].get("ename") == "CellTimeoutError":
                where = cell_name(kwargs["cell"], kwargs["cell_index"])
                self.timed_out.append(f"{where} after {self.last_timeout} s")

        def preprocess_cell(self, cell: Any, resources: Any, index: int) -> Any:
            if index == self.probe_from:
                self.snapshot = Snapshot(
                    outputs=copy.deepcopy([c.get("outputs") for c in self.nb.cells[:index]]),
                    timed_out=list(self.timed_out),
                    truncated=list(self.truncated),
                    failed=set(self.failed),
                )
                if self.reveal is not None:  # only now do the probes' inputs exist
                    self.reveal()
            if self.deadline == math.inf:
                self.deadline = time.monotonic() + self.budget
            if self.stopped is None and time.monotonic() >= self.deadline:
                self.stopped = ("timed_out", f"the notebook ran past its {self.budget:g} s limit")
                self.stopped_at = index
                self.expired = True  # the cell at stopped_at never started
            if self.stopped is not None:
                _not_run(cell, self.stopped[1])
                return cell, resources
            try:
                return super().preprocess_cell(cell, resources, index)
            except DeadKernelError:
                said = _last_words(self.kernel_log)
                self.stopped = (
                    "kernel_died",
                    f"the kernel died in {cell_name(cell, index)}" + (f": {said}" if said else ""),
                )
            except CellTimeoutError:  # interrupted, but the kernel did not come back
                self.stopped = (
                    "timed_out",
                    f"{cell_name(cell, index)} ran past its time limit and the kernel "
                    "did not answer the interrupt",
                )
            self.stopped_at = index
            _not_run(cell, self.stopped[1])
            return cell, resources

    return DeadlineExecute


@contextlib.contextmanager
def _autograding() -> Iterator[None]:
    """Set what nbgrader sets while it executes a submission (notebooks may read it)."""
    before = os.environ.get("NBGRADER_EXECUTION")
    os.environ["NBGRADER_EXECUTION"] = "autograde"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("NBGRADER_EXECUTION", None)
        else:
            os.environ["NBGRADER_EXECUTION"] = before


def _last_words(log: IO[bytes]) -> str:
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


def _kernel_arguments(nb: Any) -> list[str]:
    """For IPython kernels: history in memory, so that concurrent kernels never contend for the
    one history.sqlite file (what nbgrader's ``Execute.extra_arguments`` help recommends)."""
    language = nb.metadata.get("kernelspec", {}).get("language", "")
    return ["--HistoryManager.hist_file=:memory:"] if language == "python" else []


def cell_name(cell: Any, index: int) -> str:
    grade_id = nbgrader_grade_id(cell)
    return f"cell {index}" + (f" ({grade_id})" if grade_id else "")


def _not_run(cell: Any, reason: str) -> None:
    """Make a cell that did not run score zero, with the reason where the student will see it."""
    from nbformat import NotebookNode

    if cell.cell_type != "code":
        return
    cell.setdefault("outputs", [])
    if not any(o.output_type == "error" for o in cell.outputs):
        cell.outputs.append(
            NotebookNode(
                output_type="error", ename="NotRun", evalue=reason, traceback=[f"NotRun: {reason}"]
            )
        )


def _kernel_config(private: Path) -> Any:
    from traitlets.config import Config

    config = Config()
    if os.name != "nt":
        # NOTE: IPC sockets in a private folder instead of TCP ports: kernels that start at the
        # same moment (other workers, other users' Jupyter) cannot race for a port, and a
        # sandboxed kernel, which has no network at all, still reaches its client.
        config.KernelManager.transport = "ipc"
        config.KernelManager.ip = str(private / "kernel")
        config.KernelManager.connection_file = str(private / "kernel.json")
    return config


#: Reruns agree: an answer that draws from a global generator gets the same draws every time
#: it is graded, because each kernel seeds them just before its first cell (coursekit.reruns).
SEED_BEFORE_FIRST_CELL = (
    "--IPKernelApp.exec_lines="
    "import coursekit.reruns as _r; _r.seed_before_first_cell(get_ipython()); del _r"
)


def _manager_class(sandbox: Sandbox, private: Path, workdir: Path) -> type:
    """nbclient's kernel manager, launching the kernel inside ``sandbox``."""
    import zmq
    from jupyter_client.manager import AsyncKernelManager

    class SandboxedKernelManager(AsyncKernelManager):
        def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
            kernel = [*super().format_kernel_cmd(extra_arguments), SEED_BEFORE_FIRST_CELL]
            return wrap(sandbox, kernel, private, workdir)

        def _context_default(self) -> Any:
            context = zmq.asyncio.Context()
            context.setsockopt(zmq.MAXMSGSIZE, MESSAGE_BYTES)  # an output bomb in one message
            return context

    return SandboxedKernelManager


def run_notebook(
    nb: Any,
    resources: dict,
    task: GradeTask,
    sandbox: Sandbox,
    exchange: Callable[[Path, str], None] | None = None,
    private: Path | None = None,
    probe_from: int | None = None,
) -> tuple[Any, Any]:
    """Execute ``nb`` in a fresh kernel in ``sandbox``; return the executed notebook and the
    executor.

    ``private`` (a path that does not exist yet; a new temporary one by default) becomes the
    kernel's private folder: its connection file and sockets, and the one host folder the sandbox
    may write. ``exchange(private, phase)``, when given, is called with ``"before"`` before the
    kernel starts, ``"reveal"`` just before cell ``probe_from`` (the first probe) is sent to the
    kernel, and ``"after"`` once it has ended and every process of the sandbox is gone: to put
    files in, to hand the probes their inputs only when no notebook cell can read them any more,
    and to take results out.

    A kernel that fails before running a single cell is no fault of the submission: it gets one
    more try, with another fresh kernel.
    """
    for attempt in (1, 2):
        run = copy.deepcopy(nb)
        with (
            tempfile.TemporaryDirectory(prefix="kernel-") as scratch,
            open(Path(scratch) / "kernel.log", "w+b") as kernel_log,
            _autograding(),
        ):
            folder = private or Path(scratch) / "sandbox"
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            if exchange is not None:
                exchange(folder, "before")
            execute = _execute_class()(
                config=_kernel_config(folder),
                kernel_manager_class=_manager_class(
                    sandbox, folder, Path(resources["metadata"]["path"])
                ),
                log=QUIET,
                # NOTE: ``timeout`` also bounds the wait for a new kernel's first reply, so it
                # stays generous however short the cell limit (given in ``start``) is.
                timeout=max(task.cell_timeout, STARTUP_TIMEOUT),
                kernel_name=task.kernel_name,
                shutdown_kernel="immediate",  # the kernel is thrown away: no need to wait for it
                extra_arguments=_kernel_arguments(nb),
            )
            execute.start(task.cell_timeout, task.notebook_timeout, kernel_log, probe_from)
            if exchange is not None:
                execute.reveal = functools.partial(exchange, folder, "reveal")
            try:
                run, _ = execute.preprocess(run, resources)
            except Exception as err:  # the kernel could not start, or died outside a cell
                if attempt == 1 and execute.code_cells_executed == 0:
                    reap(sandbox.uid)
                    continue
                said = _last_words(kernel_log)
                execute.stopped = execute.stopped or (
                    "kernel_died",
                    f"the kernel failed: {type(err).__name__}: {err}"
                    + (f"; {said}" if said else ""),
                )
                for cell in run.cells:
                    if not cell.get("outputs"):
                        _not_run(cell, execute.stopped[1])
            finally:
                reap(sandbox.uid)  # whatever the sandbox left running (none, with bubblewrap)
            if exchange is not None:
                exchange(folder, "after")
            if private is not None:
                shutil.rmtree(folder, ignore_errors=True)
        return run, execute
    raise AssertionError("unreachable: the second attempt always returns")
