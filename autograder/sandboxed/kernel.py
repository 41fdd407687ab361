"""Running one notebook in a fresh kernel inside the sandbox: :func:`run_notebook`.

The cells run through nbgrader's ``Execute``, subclassed in
:mod:`autograder.sandboxed.execute_cells`: the student's limits are CPU time
(:mod:`autograder.sandboxed.clock`), output is capped, and a kernel's death is caught. Here the
kernel is set up: it launches inside the sandbox, connects over IPC sockets rather than TCP
ports, keeps its own output out of the worker's, and seeds the global generators before the
first cell. A kernel that fails before the student's first cell (it does not start, it dies in
a setup cell, or a setup cell runs past its limit) gets one more try in another fresh kernel;
failing again, it is the grader's failure (:class:`GraderFailure`), never the student's.
"""

from __future__ import annotations

import copy
import functools
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from autograder.sandboxed.clock import Budget, TimeLimits
from autograder.sandboxed.kernelspecs import kernel_arguments, kernel_spec
from autograder.sandboxed.sandbox import Sandbox, reap, wrap

if TYPE_CHECKING:
    from autograder.sandboxed.execute_cells import GradingExecute, SetupFailed, Snapshot

#: The log of nbgrader's and nbclient's steps in a worker: their warnings and errors (a timeout,
#: a changed locked cell) end up in each submission's status and reason, not on the terminal.
QUIET = logging.getLogger("autograder.grading")
QUIET.setLevel(logging.CRITICAL)

STARTUP_TIMEOUT = 60  # seconds for a new kernel to answer, however short the cell timeout
MESSAGE_BYTES = 64 * 2**20  # larger messages from a kernel are refused by the socket itself

#: Reruns agree: an answer that draws from a global generator gets the same draws every time
#: it is graded, because each kernel seeds them just before its first cell (coursekit.reruns).
SEED_BEFORE_FIRST_CELL = (
    "--IPKernelApp.exec_lines="
    "import coursekit.reruns as _r; _r.seed_before_first_cell(get_ipython()); del _r"
)


class GraderFailure(Exception):
    """The notebook could not be graded, twice, for no fault of the submission: a kernel that did
    not start, or died or ran out of time in the instructor's setup cells. The worker's result is
    then ``error`` (not recorded; a rerun tries again)."""


@dataclass(frozen=True)
class Executed:
    """What running one notebook gave: the executed notebook, and what went wrong in it."""

    nb: Any  # the executed notebook (an nbformat NotebookNode)
    stopped: tuple[str, str] | None  # (status, reason) once cells stopped running
    stopped_at: int | None  # the index of the first cell that did not finish
    expired: bool  # stopped by the notebook's budget between two cells: stopped_at never started
    said: str  # the kernel's last printed line when it died (the student's words, not ours)
    failed: frozenset[int]  # cells whose reply said "error"
    timed_out: tuple[str, ...]  # "cell 3 (grade id) after 10 s of CPU time", one per interrupt
    truncated: tuple[str, ...]  # cells whose output was cut at the caps
    snapshot: Snapshot | None  # the notebook's own outputs when the first probe began


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


def _manager_class(sandbox: Sandbox, private: Path, workdir: Path) -> type:
    """nbclient's kernel manager, launching the kernel inside ``sandbox``."""
    import zmq
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import Type

    from autograder.sandboxed import warm

    class SandboxedKernelManager(AsyncKernelManager):
        forked: tuple | None = None  # (zygote, sandbox, private, workdir) for a warm kernel
        client_factory = Type(klass="autograder.sandboxed.kernel_client.ReadyClient")

        def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
            kernel = [*super().format_kernel_cmd(extra_arguments), SEED_BEFORE_FIRST_CELL]
            return kernel if self.forked else wrap(sandbox, kernel, private, workdir)

        async def _async_pre_start_kernel(self, **kw: Any) -> tuple[list[str], dict[str, Any]]:
            # NOTE: an IPython kernel is forked warm from the worker's zygote where this machine
            # allows it (autograder.sandboxed.warm); any other kernel starts cold, in bubblewrap
            spec = self.kernel_spec
            found = warm.zygote(sandbox) if spec and _is_ipykernel(spec.argv) else None
            if found is not None and self.provisioner is None:
                self.kernel_id = self.kernel_id or kw.pop("kernel_id", str(uuid.uuid4()))
                self.forked = (found, sandbox, private, workdir)
                self.provisioner = warm.ForkedProvisioner(
                    kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self
                )
            return await super()._async_pre_start_kernel(**kw)

        @property
        def kernel_spec(self) -> Any:
            # NOTE: a kernel's spec, read once per worker and kernel name (jupyter_client reads
            # the kernel.json files and checks the provisioner's entry point each time: about
            # 5 ms, for each of a submission's kernels); each manager gets a copy of its own
            if self._kernel_spec is None and self.kernel_name:
                self._kernel_spec = kernel_spec(self.kernel_spec_manager, self.kernel_name)
            return self._kernel_spec

        def _context_default(self) -> Any:
            context = zmq.asyncio.Context()
            context.setsockopt(zmq.MAXMSGSIZE, MESSAGE_BYTES)  # an output bomb in one message
            return context

    return SandboxedKernelManager


def _is_ipykernel(argv: list[str]) -> bool:
    """Whether a kernelspec's command is the IPython kernel of this interpreter."""
    import sys

    return argv[1:3] == ["-m", "ipykernel_launcher"] and argv[0] in (
        "python",
        "python3",
        sys.executable,
    )


def _executor(
    nb: Any, resources: dict, kernel: str, limits: TimeLimits, sandbox: Sandbox, folder: Path
) -> GradingExecute:
    from autograder.sandboxed.execute_cells import GradingExecute

    # NOTE: nbgrader's Execute (untyped to mypy) takes its notebook at preprocess, not here
    return GradingExecute(  # type: ignore[call-arg]
        config=_kernel_config(folder),
        kernel_manager_class=_manager_class(sandbox, folder, Path(resources["metadata"]["path"])),
        log=QUIET,
        # NOTE: ``timeout`` bounds the wait for a new kernel's first reply; the cells' limits are
        # the clock's (``GradingExecute.start``), so it stays generous.
        timeout=max(limits.cell, STARTUP_TIMEOUT),
        kernel_name=kernel,
        shutdown_kernel="immediate",  # the kernel is thrown away: no need to wait for it
        extra_arguments=kernel_arguments(nb),
    )


def run_notebook(
    nb: Any,
    resources: dict,
    kernel: str,
    limits: TimeLimits,
    sandbox: Sandbox,
    *,
    budget: Budget | None = None,
    exchange: Callable[[Path, str], None] | None = None,
    private: Path | None = None,
    student_from: int = 0,
    probe_from: int | None = None,
) -> Executed:
    """Execute ``nb`` in a fresh kernel (``kernel``, a kernelspec name) in ``sandbox``.

    Cells from ``student_from`` on (the first answer cell) are the student's: each gets
    ``limits.cell``, and together they draw on ``budget`` (by default a fresh one of
    ``limits.notebook``; pass one to share it between kernels). The cells before are the
    instructor's setup, each with ``limits.setup`` of its own.

    ``private`` (a path that does not exist yet; a new temporary one by default) becomes the
    kernel's private folder: its connection file and sockets, and the one host folder the sandbox
    may write. ``exchange(private, phase)``, when given, is called with ``"before"`` before the
    kernel starts, ``"reveal"`` just before cell ``probe_from`` (the first probe) is sent to the
    kernel, and ``"after"`` once it has ended and every process of the sandbox is gone: to put
    files in, to hand the probes their inputs only when no notebook cell can read them any more,
    and to take results out.

    Raises :class:`GraderFailure` when the kernel failed twice before the student's first cell.
    """
    from autograder.sandboxed import nodes
    from autograder.sandboxed.execute_cells import SetupFailed
    from autograder.sandboxed.kernel_client import own_loop

    nodes.install()  # each output made from a kernel's message is checked the faster way
    if budget is None:
        budget = Budget(limits.notebook)
    for attempt in (1, 2):
        try:
            with own_loop():
                return _attempt(
                    nb, resources, kernel, limits, sandbox, budget, exchange, private,
                    student_from, probe_from,
                )  # fmt: skip
        except SetupFailed as err:
            if attempt == 2:
                raise GraderFailure(f"{err} (twice, each time in a fresh kernel)") from err
    raise AssertionError("unreachable: the second attempt returns or raises")


def _attempt(
    nb: Any,
    resources: dict,
    kernel: str,
    limits: TimeLimits,
    sandbox: Sandbox,
    budget: Budget,
    exchange: Callable[[Path, str], None] | None,
    private: Path | None,
    student_from: int,
    probe_from: int | None,
) -> Executed:
    from nbgrader.utils import setenv

    run = copy.deepcopy(nb)
    failure: SetupFailed | None = None
    # NOTE: nbgrader's setenv restores nothing when an exception passes through it, so none does
    with (
        tempfile.TemporaryDirectory(prefix="kernel-") as scratch,
        open(Path(scratch) / "kernel.log", "w+b") as kernel_log,
        setenv(NBGRADER_EXECUTION="autograde"),  # what nbgrader sets while it executes
    ):
        folder = private or Path(scratch) / "sandbox"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        if exchange is not None:
            exchange(folder, "before")
        execute = _executor(nb, resources, kernel, limits, sandbox, folder)
        execute.start(limits, budget, kernel_log, student_from, probe_from)
        if exchange is not None:
            execute.reveal = functools.partial(exchange, folder, "reveal")
        try:
            run, _ = execute.preprocess(run, resources)
        except Exception as err:  # the kernel could not start, or died outside a cell
            failure = _failed(execute, run, err, kernel_log)
        finally:
            reap(sandbox.uid)  # whatever the sandbox left running (none, with bubblewrap)
            execute.account()
        if exchange is not None and failure is None:
            exchange(folder, "after")
        if private is not None:
            shutil.rmtree(folder, ignore_errors=True)
    if failure is not None:
        raise failure
    return Executed(
        nb=run,
        stopped=execute.stopped,
        stopped_at=execute.stopped_at,
        expired=execute.expired,
        said=execute.said,
        failed=frozenset(execute.failed),
        timed_out=tuple(execute.timed_out),
        truncated=tuple(execute.truncated),
        snapshot=execute.snapshot,
    )


def _failed(
    execute: GradingExecute, run: Any, err: Exception, kernel_log: IO[bytes]
) -> SetupFailed | None:
    """After an error outside a cell: before the student's first cell, the grader's failure
    (returned); after it, the kernel died, and the cells it did not reach score zero."""
    from autograder.sandboxed.execute_cells import SetupFailed, last_words, not_run

    if isinstance(err, SetupFailed):
        return err
    said = last_words(kernel_log)
    if not execute.started:
        return SetupFailed(
            f"the kernel failed before the first answer cell: {type(err).__name__}: {err}"
            + (f"; {said}" if said else "")
        )
    execute.said = execute.said or said
    execute.stopped = execute.stopped or (
        "kernel_died",
        f"the kernel failed: {type(err).__name__}: {err}",
    )
    for cell in run.cells:
        if not cell.get("outputs"):
            not_run(cell, execute.stopped[1])
    return None
