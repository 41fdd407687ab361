"""What a command costs in core-seconds: every process under it, orphans included.

    from benchmarks._cost import adopt_orphans, core_seconds
    adopt_orphans()  # once, at the start
    wall, cores = core_seconds(["nbgrader", "autograde", "a1"], cwd, env)

``getrusage(RUSAGE_CHILDREN)`` counts only the processes that their parents waited for, and a
kernel whose supervisor was killed first is never waited for. So each command runs in a control
group of its own where one can be made (cgroup v1's ``cpuacct``, or v2's ``cpu.stat``; root, on
Linux), which counts every process in it. Elsewhere it falls back to ``getrusage``, with this
process as the reaper of its descendants' orphans (Linux's child subreaper), which counts them
once they end.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36  # prctl(2)


def _children_cpu() -> float:
    """CPU seconds of every process this one has waited for, and theirs, so far."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def adopt_orphans() -> None:
    """Make this process the one that reaps its descendants' orphans (Linux's child subreaper):
    a kernel whose parent was killed first is counted in ``getrusage`` all the same."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _reap(seconds: float = 10.0) -> None:
    """Wait for the orphans adopted meanwhile, until none is left or ``seconds`` have passed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.05)


#: Where a control group counts the CPU time of its processes: (folder, file, units a second).
CGROUPS = (
    (Path("/sys/fs/cgroup/cpuacct"), "cpuacct.usage", 1e9),  # cgroup v1
    (Path("/sys/fs/cgroup"), "cpu.stat", 1e6),  # cgroup v2: its usage_usec line
)


def _cgroup() -> tuple[Path, str, float] | None:
    """A new, empty control group that counts CPU time, or None where none can be made."""
    for base, name, units in CGROUPS:
        if (base / name).exists() or (base / "cgroup.controllers").exists():
            folder = base / f"grading-bench-{os.getpid()}-{time.monotonic_ns()}"
            try:
                folder.mkdir()
            except OSError:
                continue
            if (folder / name).exists():
                return folder, name, units
            folder.rmdir()
    return None


def _usage(group: tuple[Path, str, float]) -> float:
    folder, name, units = group
    text = (folder / name).read_text()
    if name == "cpu.stat":
        text = next(ln.split()[1] for ln in text.splitlines() if ln.startswith("usage_usec"))
    return float(text) / units


def core_seconds(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, core-seconds) of ``cmd`` and every process under it: from a control group
    of its own where one can be made (a process whose parent died first is counted too), or
    else from ``getrusage`` with this process as the orphans' reaper."""
    group = _cgroup()

    def join() -> None:
        if group is not None:
            (group[0] / "cgroup.procs").write_text(str(os.getpid()))

    started, cpu = time.perf_counter(), _children_cpu()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, preexec_fn=join)
    seconds = time.perf_counter() - started
    _reap()
    used = _children_cpu() - cpu
    if group is not None:
        used = _usage(group)
        with contextlib.suppress(OSError):
            group[0].rmdir()
    if proc.returncode not in (0, 1):  # 1: some submission did not earn a "graded" status
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return seconds, used
