"""What the benchmarks share: the course's reference answers, and timing that takes turns.

    from _common import load_reference, timed_in_turns, use_clock
    ns = load_reference("04_convolution", "convolution", ["im2col", "conv2d_forward"])
    use_clock("wall", device)  # or "cpu"
    seconds = timed_in_turns({"ours": lambda: ..., "torch": lambda: ...}, rounds=5, clock="wall")

``load_reference`` reads ``solutions/<chapter>/<slug>.ipynb`` with nbformat and runs, in one fresh
namespace and in notebook order, its setup cell (grade id ending in ``_setup``) and every answer
cell (nbgrader ``solution: true``), with the ``### BEGIN SOLUTION`` / ``### END SOLUTION`` marker
lines removed. Test cells are not run. A benchmark thus times the answers the course grades with.

``timed_in_turns`` runs ``coursekit.timing.best_time`` on each method in turn, ``rounds`` times, and
keeps each method's best: on a shared machine the others' load then falls on every method alike,
instead of on whichever happened to be timed while it peaked. With ``clock="cpu"`` it counts the
process's CPU seconds instead of the wall clock's (the same best-of-rounds rule): time the process
spends waiting for a core then counts for nothing, which on a machine busy with other work is
most of the wall time. Use it with ``torch.set_num_threads(1)`` (see ``use_clock``), or a method
that runs on two threads would count double.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import nbformat
import torch

from coursekit.timing import best_time

ROOT = Path(__file__).resolve().parent.parent
MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


def _strip_markers(source: str) -> str:
    return "\n".join(ln for ln in source.splitlines() if ln.strip() not in MARKERS)


def reference_cells(notebook: Path) -> list[str]:
    """The sources, markers stripped, of the notebook's setup cell and answer cells, in order."""
    cells = []
    for cell in nbformat.read(notebook, as_version=4).cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        is_setup = str(meta.get("grade_id", "")).endswith("_setup")
        if cell.cell_type == "code" and (is_setup or meta.get("solution", False)):
            cells.append(_strip_markers(cell.source))
    return cells


def load_reference(chapter: str, slug: str, names: Iterable[str]) -> dict[str, Any]:
    """Namespace of ``solutions/<chapter>/<slug>.ipynb``'s setup and answer cells.

    Raises SystemExit, naming what is missing, when the notebook or one of ``names`` is absent.
    """
    notebook = ROOT / "solutions" / chapter / f"{slug}.ipynb"
    if not notebook.exists():
        raise SystemExit(f"{notebook.relative_to(ROOT)} not found")
    if str(ROOT) not in sys.path:  # the setup cell imports coursekit
        sys.path.insert(0, str(ROOT))
    namespace: dict[str, Any] = {"__name__": f"reference_{slug}"}
    for index, source in enumerate(reference_cells(notebook)):
        code = compile(source, f"{notebook.name}[reference cell {index}]", "exec")
        exec(code, namespace)
    missing = [name for name in names if not callable(namespace.get(name))]
    if missing:
        raise SystemExit(f"{notebook.relative_to(ROOT)} defines no {', '.join(missing)}")
    return namespace


CLOCKS = ("wall", "cpu")


def use_clock(clock: str, device: torch.device) -> str:
    """Prepare ``clock`` for timing on ``device``; returns a phrase naming it for the table."""
    if clock not in CLOCKS:
        raise SystemExit(f"--clock must be one of {CLOCKS}, got {clock!r}")
    if clock == "wall":
        return "wall-clock seconds"
    if device.type != "cpu":
        raise SystemExit("--clock cpu times the CPU only: the GPU's work is not the process's")
    torch.set_num_threads(1)  # one thread: its CPU seconds are the seconds an idle core would take
    return "CPU seconds of one thread"


def best_cpu_time(fn: Callable[[], object], *, repeat: int = 5, min_time: float = 0.05) -> float:
    """``coursekit.timing.best_time``'s rule with the process's CPU clock: seconds per call."""
    fn()  # warm-up
    number = 1
    while True:  # grow the inner loop until one round is long enough to time
        start = time.process_time()
        for _ in range(number):
            fn()
        elapsed = time.process_time() - start
        if elapsed >= min_time or number >= 1 << 20:
            break
        number *= 2
    best = elapsed / number
    for _ in range(repeat - 1):
        start = time.process_time()
        for _ in range(number):
            fn()
        best = min(best, (time.process_time() - start) / number)
    return best


def timed_in_turns(
    fns: Mapping[str, Callable[[], object]],
    *,
    rounds: int = 5,
    min_time: float = 0.02,
    device: torch.device | None = None,
    clock: str = "wall",
) -> dict[str, float]:
    """Seconds per call of each of ``fns``: the best of ``rounds`` turns of ``best_time`` each."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(rounds):
        for name, fn in fns.items():
            if clock == "cpu":
                seconds = best_cpu_time(fn, repeat=2, min_time=min_time)
            else:
                seconds = best_time(fn, repeat=2, min_time=min_time, device=device)
            best[name] = min(best[name], seconds)
    return best


def ratio(value: float) -> str:
    """A ratio for a table: two decimals (the anchor prints 1.00), two digits when below 0.1."""
    return f"{value:.2f}" if value >= 0.1 else f"{value:.2g}"
