"""What a student's code may use and has used: the kernel's CPU time, with a wall-clock backstop.

A loaded machine stretches wall-clock time, not CPU time, so the student's limits are CPU seconds,
and the same submission gets the same grade however busy the machine is. They are the CPU seconds
of the kernel's whole process tree: the process the kernel manager started (bubblewrap's, in the
sandbox) and all its descendants, the ended ones they waited for included, read from Linux's
``/proc``. A cell that sleeps or waits uses no CPU, so each limit has a generous wall-clock
backstop too (:func:`backstop`). Where ``/proc`` says nothing, CPU time is taken to be wall time.

What each limit covers (:class:`TimeLimits`):

- each of the student's cells (from the first answer cell on, and each probe) may use ``cell``
  CPU seconds, and ``backstop(cell)`` seconds of wall-clock time;
- all the student's cells of one notebook together, in every kernel the notebook takes (the fresh
  kernels of its probes included), share one :class:`Budget`: ``notebook`` CPU seconds and
  ``backstop(notebook)`` seconds of wall-clock time; past it, the cells left are not run;
- the instructor's setup cells (those before the first answer cell, which import and define
  before any student code runs) and kernel start-ups count against neither: each setup cell has
  ``setup`` seconds of wall-clock time of its own, and running past them is the grader's failure,
  never the student's (:class:`autograder.sandboxed.kernel.GraderFailure`).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field

from autograder.sandboxed import disk_guard
from autograder.sandboxed.proctree import Sample, sample

POLL = 0.2  # seconds between two looks at a running cell's CPU time
SETUP_SECONDS = 120  # wall-clock seconds for each setup cell (imports of torch under load)


def backstop(limit: float) -> float:
    """The wall-clock seconds that a CPU limit of ``limit`` seconds allows: room for a machine
    three times as busy as a quiet one, and then some, for code that sleeps or waits."""
    return 3 * limit + 10


@dataclass(frozen=True)
class TimeLimits:
    """How long the student's code may run (CPU seconds), and the instructor's setup cells."""

    cell: int  # CPU seconds per student cell; past them the cell is interrupted and scores zero
    notebook: int  # CPU seconds for all the student cells of a notebook, its probes included
    setup: int = SETUP_SECONDS  # wall seconds per setup cell; past them the grader has failed

    @classmethod
    def of(cls, cell: int, notebook: int) -> TimeLimits:
        """The limits for ``cell`` and ``notebook``, with setup cells given at least what a
        student cell may take."""
        return cls(cell, notebook, max(SETUP_SECONDS, math.ceil(backstop(cell))))


@dataclass
class Budget:
    """What the student's cells of one notebook may still use, in all its kernels together."""

    limit: int  # the notebook's CPU seconds, as set
    cpu: float = field(init=False)  # CPU seconds left
    wall: float = field(init=False)  # wall-clock seconds left (the backstop)
    # what its kernels used, by phase (see PHASES), in CPU seconds: what grading it cost
    costs: dict[str, float] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.cpu, self.wall = float(self.limit), backstop(self.limit)

    @property
    def spent(self) -> bool:
        return self.cpu <= 0 or self.wall <= 0

    def cell_limits(self, cell: int) -> tuple[int, int]:
        """(CPU, wall) seconds for the next cell: its own limits, or less when the notebook's
        budget ends sooner (whole seconds, at least one, as a limit is shown to the student)."""
        cpu = max(1, min(cell, math.ceil(self.cpu)))
        return cpu, max(1, min(math.ceil(backstop(cell)), math.ceil(self.wall)))

    def charge(self, cpu: float, wall: float) -> None:
        self.cpu -= cpu
        self.wall -= wall

    def spend(self, phase: str, cpu: float) -> None:
        """Record ``cpu`` seconds used in ``phase`` (charged or not)."""
        self.costs[phase] = self.costs.get(phase, 0.0) + max(0.0, cpu)


#: The phases of grading a notebook whose CPU time each kernel records (``Budget.costs``), for
#: ``benchmarks/grading.py``: the sandbox's processes (bubblewrap and the disk guard, from start
#: to end); the kernel's start-up (Python, ipykernel, and coursekit with torch, which the kernel
#: imports before its first cell to seed the global generators: kernel.SEED_BEFORE_FIRST_CELL),
#: and what its processes used between cells; the instructor's setup cells; the student's
#: cells, wherever they run; the probes' cells.
PHASES = ("sandbox", "kernel start", "setup cells", "cells", "probes")


#: The names (``/proc/<pid>/comm``) of the sandbox's own processes: bubblewrap, and a warm
#: kernel's init (its disk guard is named too; see :func:`is_disk_guard`).
SANDBOXING = (b"bwrap", b"sandbox-init")
GUARD_NAME = b"disk-guard"


def sandbox_processes(pid: int) -> frozenset[int]:
    """The processes of the tree under ``pid`` that are the sandbox's, not the kernel's:
    bubblewrap's and the disk guard's (found when the kernel has started)."""
    found = sample(pid)
    if found is None:
        return frozenset()
    return frozenset(p for p in found.cpus if is_disk_guard(p) or _command(p) in SANDBOXING)


def _command(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/comm", "rb") as handle:
            return handle.read().strip()
    except OSError:
        return b""


def is_disk_guard(pid: int) -> bool:
    """Whether process ``pid`` is the disk guard (:mod:`autograder.sandboxed.disk_guard`), which
    :func:`autograder.sandboxed.sandbox.wrap` puts in front of the kernel, or a warm kernel's
    (a fork of the zygote, named so: :mod:`autograder.sandboxed.zygote`)."""
    if _command(pid) == GUARD_NAME:
        return True
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = handle.read().split(b"\0")
    except OSError:
        return False
    return os.fsencode(os.path.abspath(disk_guard.__file__)) in argv


@dataclass(frozen=True)
class Kernel:
    """The processes whose CPU time is the kernel's: those under ``pid`` (the process the kernel
    manager started), and ``pid`` itself unless it is the disk guard."""

    pid: int
    count_root: bool

    @staticmethod
    def of(pid: int | None) -> Kernel | None:
        return None if pid is None else Kernel(pid, not is_disk_guard(pid))

    def sample(self) -> Sample | None:
        return sample(self.pid, count_root=self.count_root)


class Stopwatch:
    """One cell's CPU time and wall-clock time since it started, against its limits.

    NOTE: the wall-clock time leaves out what the kernel spent waiting for a CPU (the longest
    such wait of any of its processes, its threads' waits added up, from ``schedstat``; never
    more than the time that passed): a backstop of three times the CPU limit would otherwise
    still cut off a busy cell on a machine loaded past three times its cores, while a cell that
    sleeps waits for no CPU and meets the backstop as before.
    """

    def __init__(
        self,
        kernel: Kernel | None,
        cpu_limit: float | None,
        wall_limit: float,
        start: Sample | None = None,
    ) -> None:
        """``start``: a sample of the kernel taken just now (the last cell's end), if there is
        one; each sample reads all of ``/proc``, and a cell costs one of them, not three."""
        self.kernel, self.cpu_limit, self.wall_limit = kernel, cpu_limit, wall_limit
        self.started = self.looked = time.monotonic()
        self.start = start or (kernel.sample() if kernel is not None else None)
        self.now = self.start  # the last sample taken
        self.cpu = 0.0  # the most seen: a child that ends moves its time to its parent
        self.longest = 0.0  # the longest wait for a CPU seen so far (of one process)
        self.waited = 0.0  # what of it is left out of the wall-clock time

    def used(self) -> tuple[float, float]:
        """(CPU, wall) seconds so far; CPU is wall time where ``/proc`` did not say."""
        step, self.looked = time.monotonic() - self.looked, time.monotonic()
        wall = self.looked - self.started
        now = self.kernel.sample() if self.kernel is not None else None
        self.now = now or self.now
        if self.start is None or now is None:
            return (wall if self.start is None else self.cpu), wall - self.waited
        self.cpu = max(self.cpu, now.cpu - self.start.cpu)
        before = self.start.waits
        waits = [  # a process there at the start, but unreadable then, has no baseline
            w - (before.get(pid) or 0.0)
            for pid, w in now.waits.items()
            if w is not None and not (pid in before and before[pid] is None)
        ]
        # NOTE: what is left out grows by no more than the time since the last look: threads
        # that wait side by side add up to more than the wall-clock time, and a cell must not
        # bank their waits to sleep on past its backstop
        longest = max([self.longest, *waits])
        self.waited += min(longest - self.longest, max(0.0, step))
        self.longest = longest
        return self.cpu, max(0.0, wall - self.waited)

    def over(self) -> str | None:
        """Past which limit the cell is ("after 10 s of CPU time"), or None."""
        cpu, wall = self.used()
        if self.cpu_limit is not None and cpu >= self.cpu_limit:
            kind = "of CPU time" if self.start is not None else "(wall clock)"
            return f"after {self.cpu_limit:g} s {kind}"
        if wall >= self.wall_limit:
            return f"after {self.wall_limit:g} s (wall clock)"
        return None
