"""What a process and its descendants have used so far, from ``/proc``: CPU seconds, and the
time their threads waited for a CPU. :mod:`autograder.sandboxed.clock` reads a kernel's tree at
every cell's start and end (and while a cell runs), so this stays cheap.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

THREADS = 256  # threads of one process whose waits are read (a kernel has about ten)
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class Sample:
    """What a process tree has used so far."""

    cpu: float  # CPU seconds, user and system, the ended descendants waited for included
    waits: dict[int, float | None]  # pid -> seconds its threads waited for a CPU (runnable)
    cpus: dict[int, float]  # pid -> its CPU seconds (the root's too), as ``cpu`` counts them


def _contents(path: str) -> bytes | None:
    """The bytes of a small ``/proc`` file, or None when it is gone. NOTE: by ``os.open`` and
    ``os.read``, half the cost of ``open()``'s buffered file: a sample makes about 30 reads."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def _waited(pid: int, tasks: list[str] | None = None) -> float | None:
    """Seconds the live threads of ``pid`` have spent runnable but waiting for a CPU, added up
    (the second field of each ``/proc/<pid>/task/<tid>/schedstat``; at most :data:`THREADS` of
    them, from ``tasks`` when the caller has listed them), or None where the kernel does not say.

    NOTE: all the threads, not the main thread alone: a kernel's main thread that flushes its
    output sleeps until the kernel's I/O thread has sent it, and on a busy machine it is that
    thread that waits for a CPU (measured: 600 such flushes beside 16 busy processes, 0.23 s of
    the main thread's wait and 0.37 s of all the threads', in 0.42 s of wall-clock time).
    """
    if tasks is None:
        try:
            tasks = sorted(os.listdir(f"/proc/{pid}/task"))
        except OSError:
            return None
    total, seen = 0.0, False
    for tid in tasks[:THREADS]:
        found = _contents(f"/proc/{pid}/task/{tid}/schedstat")
        if found is None:  # ended meanwhile
            continue
        try:
            total += int(found.split()[1]) / 1e9
            seen = True
        except (IndexError, ValueError):
            continue
    return total if seen else None


def _stat(pid: int | str) -> tuple[int, float] | None:
    """(parent pid, CPU seconds of ``pid`` and of the children it has waited for, user and
    system), from ``/proc/<pid>/stat``; None when it has ended or is hidden."""
    stat = _contents(f"/proc/{pid}/stat")
    if not stat:
        return None
    # the command name (field 2) may hold spaces and parentheses: count from the last ")"
    fields = stat[stat.rfind(b")") + 2 :].split()
    return int(fields[1]), sum(int(v) for v in fields[11:15]) / _TICKS  # utime stime cutime cstime


def _cpu(pid: int) -> float | None:
    found = _stat(pid)
    return None if found is None else found[1]


#: Whether this kernel lists each thread's children (``CONFIG_PROC_CHILDREN``, on in the
#: usual distributions' kernels); where it does not, :func:`sample` searches all of ``/proc``.
_CHILDREN_FILES = os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children")


def _children(pid: int, tasks: list[str]) -> list[int]:
    """The children of every thread of ``pid`` (``/proc/<pid>/task/<tid>/children``: a child
    belongs to the thread that started it)."""
    found: list[int] = []
    for tid in tasks:
        listed = _contents(f"/proc/{pid}/task/{tid}/children") or b""  # none: ended meanwhile
        found += [int(child) for child in listed.split() if child.isdigit()]
    return found


def sample(root: int, *, count_root: bool = True) -> Sample | None:
    """What process ``root`` and its descendants have used; None where ``/proc`` does not say.
    ``count_root=False`` leaves out ``root``'s own CPU time (the disk guard's: the grader's).

    NOTE: it is called at every cell's start and end, so it reads only the tree itself: from
    ``root`` down through each thread's ``children`` file, a few dozen small reads for a kernel
    (about 0.2 ms), where a pass over every ``/proc/<pid>/stat`` costs a millisecond or more,
    growing with every process on the machine. Where the kernel has no ``children`` files, it
    makes that pass (:func:`_sample_by_search`).
    """
    if not _CHILDREN_FILES:
        return _sample_by_search(root, count_root=count_root)
    return _walk(root, count_root, _cpu, _children)


def _walk(
    root: int,
    count_root: bool,
    cpu_of: Callable[[int], float | None],
    children_of: Callable[[int, list[str]], list[int]],
) -> Sample | None:
    """The tree under ``root``, each process's CPU time from ``cpu_of`` and its children from
    ``children_of(pid, its thread ids)``."""
    total, todo = 0.0, [root]
    waits: dict[int, float | None] = {}
    cpus: dict[int, float] = {}
    while todo:
        pid = todo.pop()
        if pid in waits:
            continue
        used = cpu_of(pid)
        if used is None:
            if pid == root:
                return None
            continue  # ended meanwhile: its time is in its parent's, once reaped
        try:
            tasks = sorted(os.listdir(f"/proc/{pid}/task"))
        except OSError:
            tasks = []
        waits[pid], cpus[pid] = _waited(pid, tasks), used
        total += used if pid != root or count_root else 0.0
        todo += children_of(pid, tasks)
    return Sample(total, waits, cpus)


def _sample_by_search(root: int, *, count_root: bool = True) -> Sample | None:
    """:func:`sample` by one pass over ``/proc/<pid>/stat``, which reads every process's parent
    and times together, for kernels without ``children`` files."""
    children: dict[int, list[int]] = {}
    used: dict[int, float] = {}
    try:
        entries = list(os.scandir("/proc"))
    except OSError:
        return None
    for entry in entries:
        found = _stat(entry.name) if entry.name.isdigit() else None
        if found is not None:  # else ended meanwhile, or hidden
            children.setdefault(found[0], []).append(int(entry.name))
            used[int(entry.name)] = found[1]
    return _walk(root, count_root, used.get, lambda pid, _: children.get(pid, []))
