"""Run a notebook in a fresh kernel and read off the verdict of each graded test cell."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from autograder.nbgrader_api import nbgrader_meta


@dataclass(frozen=True)
class CellVerdict:
    """What one autograded test cell earned in one run."""

    grade_id: str
    points: float
    max_points: float
    error: str  # "ExceptionName: message" of the first error output, or "" when it passed


def is_test_cell(cell: NotebookNode) -> bool:
    """An autograded test cell: graded, not a solution (nbgrader's "autograder tests")."""
    meta = nbgrader_meta(cell)
    return bool(meta.get("grade")) and not meta.get("solution") and cell.cell_type == "code"


def execute(nb: NotebookNode, cwd: Path, *, timeout: int, kernel_name: str) -> NotebookNode:
    """Execute ``nb`` in a new kernel started in ``cwd``; errors are recorded, not raised."""
    import tempfile

    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync
    from nbclient import NotebookClient  # imported late: it pulls in jupyter_client and zmq

    # NOTE: over IPC sockets in a private folder, as grading kernels are: the default (TCP on
    # loopback) is reachable by any local user, and ipykernel warns about it at every start
    with tempfile.TemporaryDirectory(prefix="kernel-") as sockets:
        km = AsyncKernelManager(
            kernel_name=kernel_name,
            transport="ipc",
            ip=str(Path(sockets) / "kernel"),
            connection_file=str(Path(sockets) / "kernel.json"),
        )
        client = NotebookClient(
            nb,
            km=km,
            timeout=timeout,
            kernel_name=kernel_name,
            allow_errors=True,
            record_timing=False,  # timestamps in cell metadata would make every run a diff
            resources={"metadata": {"path": str(cwd)}},
        )
        client.log.setLevel(logging.ERROR)
        try:
            client.execute()
        finally:  # a kernel manager handed in is the caller's to shut down
            if km.has_kernel:
                run_sync(km.shutdown_kernel)(now=True)
    return nb


def verdicts(nb: NotebookNode) -> list[CellVerdict]:
    """Score each test cell exactly as nbgrader does (an error or any stderr scores zero)."""
    from nbgrader.utils import determine_grade

    found = []
    for cell in nb.cells:
        if not is_test_cell(cell):
            continue
        points, max_points = determine_grade(cell)
        error = next(
            (f"{o.ename}: {o.evalue}" for o in cell.get("outputs", []) if o.output_type == "error"),
            "",
        )
        if not error and any(
            o.output_type == "stream" and o.name == "stderr" for o in cell.get("outputs", [])
        ):
            error = "the cell wrote to stderr, which nbgrader scores as a failure"
        found.append(
            CellVerdict(cell.metadata.nbgrader["grade_id"], float(points or 0), max_points, error)
        )
    return found


def read(path: Path) -> NotebookNode:
    return nbformat.read(path, as_version=4)


def refresh_outputs(path: Path, *, timeout: int, kernel_name: str) -> list[str]:
    """Re-execute a source notebook in place, so its committed outputs are current for nbval.

    Returns the grade ids of test cells that failed (the notebook is written either way).
    """
    nb = read(path)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    execute(nb, path.parent, timeout=timeout, kernel_name=kernel_name)
    nbformat.write(nb, path)
    return [v.grade_id for v in verdicts(nb) if v.points != v.max_points]
