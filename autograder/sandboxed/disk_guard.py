"""The disk guard: a small supervisor in front of a sandboxed kernel that caps what the kernel
stores in the host folders it may write.

bubblewrap gives ``/tmp`` and ``/submission`` size-capped tmpfs mounts, but the kernel's private
folder (its IPC sockets, which the client on the host connects to, and the probes' results) must
be a folder of the host's disk. So :func:`autograder.sandboxed.sandbox.wrap` starts each kernel
through this program, run as the grading user outside the sandbox:

    python -I -S disk_guard.py --report FILE --files N --watch NAME BYTES FOLDER ... -- COMMAND

It runs ``COMMAND`` (which dies with it) and, up to 20 times a second, adds up each watched
folder: the blocks its files hold (``st_blocks``: a sparse file costs what it stores, a hard link
counts once), and how many files it has; 5 times a second also the files that the kernel's
processes deleted but still hold open or mapped (found in ``/proc``). When a folder passes a cap,
or the worker that started the guard has ended, it writes why to ``FILE`` (out of the sandbox's
reach) and as one line to stderr (the kernel's last words), kills the kernel, its PID namespace
and its process group, and ends as a kernel killed by SIGKILL. Otherwise it exits as the command
did. Stdlib only, and run by its path, not with ``-m``: importing ``autograder`` would cost each
kernel start seconds; this starts in tens of milliseconds.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import time

if __package__:  # imported, as autograder.sandboxed.disk_guard
    from autograder.sandboxed import held_files as held
else:  # run by its path (with -I), or imported beside it (the zygote): its folder, for this only
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import held_files as held  # type: ignore[no-redef]

    sys.path.pop(0)

#: The first words of the line the guard writes when it stops a kernel.
MARK = "disk guard:"
INTERVAL = 0.05  # seconds between two measures: at 2 GB/s, a kernel writes 100 MB in one
PROC_INTERVAL = 0.2  # seconds between two searches of /proc for deleted files (costlier)
BUSY = 4  # pauses last 4 times as long as the measure before them: a fifth of a core at most
STRIKES = 3  # a process unreadable at this many searches in a row is hiding its files
MAX_DEPTH = 32  # folders nested deeper than this are a breach: nothing legitimate needs them
_DIR = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)  # POSIX


class Breach(Exception):
    """Why the kernel must stop, in words that follow "the kernel"."""


def command(
    report: str, files: int, watches: list[tuple[str, int, str]], namespace: bool
) -> list[str]:
    """The guard's command line, to put in front of the kernel's: ``watches`` are (name, cap
    in bytes, folder); ``namespace`` when the kernel has a PID namespace (bubblewrap)."""
    argv = [sys.executable, "-I", "-S", os.path.abspath(__file__), "--report", report]
    argv += ["--files", str(files), *(["--pid-namespace"] if namespace else [])]
    for name, cap, folder in watches:
        argv += ["--watch", name, str(cap), folder]
    return [*argv, "--"]


def report_file(private: str) -> str:
    """Where the guard says why it stopped the kernel of ``private``: beside that folder."""
    return os.path.join(os.path.dirname(private), os.path.basename(private) + ".disk-guard")


class Watch:
    """One capped folder: its name in messages, its cap, and its path as the kernel sees it."""

    def __init__(self, name: str, cap: str, folder: str) -> None:
        self.name, self.cap, self.folder = name, int(cap), folder
        self.prefixes = {folder.rstrip("/") + "/", os.path.realpath(folder) + "/"}
        self.device = os.stat(folder).st_dev

    def holds(self, path: str) -> bool:
        return any(path.startswith(prefix) for prefix in self.prefixes)


def folder_use(watch: Watch, seen: set[tuple[int, int]]) -> tuple[int, int]:
    """(bytes stored, entries) under ``watch``'s folder, walked by descriptor, never by link."""
    try:
        top = os.open(watch.folder, _DIR)
    except FileNotFoundError:  # already cleaned up
        return 0, 0
    used, entries = os.fstat(top).st_blocks * 512, 0
    stack = [(top, os.scandir(top))]
    try:
        while stack:
            fd, listing = stack[-1]
            entry = next(listing, None)
            if entry is None:
                stack.pop()[1].close()
                os.close(fd)
                continue
            entries += 1
            try:
                info = entry.stat(follow_symlinks=False)
                if (info.st_dev, info.st_ino) not in seen:
                    seen.add((info.st_dev, info.st_ino))
                    used += info.st_blocks * 512
                if entry.is_dir(follow_symlinks=False):
                    if len(stack) >= MAX_DEPTH:
                        raise Breach(f"nested folders over {MAX_DEPTH} deep in its {watch.name}")
                    inner = os.open(entry.name, _DIR, dir_fd=fd)
                    stack.append((inner, os.scandir(inner)))
            except PermissionError:
                raise Breach(f"hid part of its {watch.name} from the disk guard") from None
            except OSError:  # gone, or swapped for a link, since it was listed
                continue
    finally:
        for fd, listing in stack:
            listing.close()
            os.close(fd)
    return used, entries


def _parent(pid: int) -> int | None:
    """The parent's pid of process ``pid``, or None when it has ended."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    return int(stat[stat.rindex(b")") + 2 :].split()[1])  # the field after the state


def processes(child: int, namespace: bool, found: dict[str, int]) -> list[str]:
    """The /proc folders of the kernel's processes: with a PID namespace, all in it (through
    its own /proc, seen from its first process); without, the kernel's."""
    if not namespace:
        return [f"/proc/{child}"]
    if "init" not in found:  # bubblewrap's first process in the namespace: its child
        for name in filter(str.isdigit, os.listdir("/proc")):
            if _parent(int(name)) == child:
                found["init"] = int(name)
        if "init" not in found:
            return []
    base = f"/proc/{found['init']}/root/proc"
    try:
        return [f"{base}/{name}" for name in os.listdir(base) if name.isdigit()]
    except OSError:
        return []


def deleted_use(procs: list[str], watches: list[Watch], strikes: dict[str, int]) -> dict[str, int]:
    """Bytes each watched folder holds in files that ``procs`` deleted but hold or map."""
    used = {w.name: 0 for w in watches}
    devices = {w.device for w in watches}
    seen: set[tuple[int, int]] = set()
    for proc in procs:
        try:
            found = [*held.open_deleted(proc, devices), *held.mapped_deleted(proc, devices)]
            strikes.pop(proc, None)
        except PermissionError:  # not dumpable: for a moment while it changes users, or on purpose
            strikes[proc] = strikes.get(proc, 0) + 1
            if strikes[proc] >= STRIKES:
                raise Breach("hid its open files from the disk guard") from None
            continue
        except OSError:  # the process has ended
            continue
        for path, key, size in found:
            owner = next((w for w in watches if w.holds(path)), None)
            if owner is not None and key not in seen:
                seen.add(key)
                used[owner.name] += size
    return used


def measure(watches: list[Watch], files: int, hidden: dict[str, int]) -> None:
    """Raise :class:`Breach` if a folder, plus the ``hidden`` bytes of its own, is over a cap."""
    seen: set[tuple[int, int]] = set()
    for watch in watches:
        used, entries = folder_use(watch, seen)
        if used + hidden.get(watch.name, 0) > watch.cap:
            raise Breach(f"wrote more than {watch.cap // 2**20} MiB to disk in its {watch.name}")
        if entries > files:
            raise Breach(f"made more than {files} files in its {watch.name}")


def stop(child: int, report: str, reason: str, init: int | None) -> None:
    """Say why, then kill the kernel, its PID namespace (first process ``init``) and its group,
    this process last: once it has ended, no process of the kernel's holds a deleted file."""
    with open(report + ".tmp", "w", encoding="utf-8") as handle:
        handle.write(f"the kernel {reason}\n")
    os.replace(report + ".tmp", report)
    sys.stderr.write(f"{MARK} the kernel {reason}; it was stopped\n")
    sys.stderr.flush()
    try:
        namespace = os.pidfd_open(init) if init is not None else -1
        if namespace >= 0 and _parent(init or 0) == child:  # still it, not a reused pid
            signal.pidfd_send_signal(namespace, signal.SIGKILL)
            select.select([namespace], [], [], 5)  # its end ends every process in it
    except OSError:  # already gone
        pass
    os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)
    if os.getpgrp() == os.getpid():  # the group is the kernel's alone (jupyter_client's way)
        os.killpg(os.getpid(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


def exit_as(status: int) -> None:
    """Exit as the child did: with its exit code, or killed by the same signal."""
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        if -code not in (signal.SIGKILL, signal.SIGSTOP):  # those two keep their default
            signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        code = 128 - code
    os._exit(code)


def main(argv: list[str]) -> None:
    # the options :func:`command` writes (no argparse: it would add to every kernel start)
    options, argv = argv[: argv.index("--")], argv[argv.index("--") + 1 :]
    value = {option: options[i + 1] for i, option in enumerate(options[:-1])}
    watches = [Watch(*options[i + 1 : i + 4]) for i, o in enumerate(options) if o == "--watch"]
    report, files = value["--report"], int(value["--files"])
    if os.path.exists(report):  # from an earlier kernel in the same place
        os.unlink(report)
    # NOTE: the command shares this process group, so jupyter_client's group signals (SIGINT to
    # interrupt, SIGKILL to shut down) reach the kernel directly; forwarding SIGINT too would
    # interrupt it twice. SIGTERM and SIGHUP are forwarded, for whoever signals this one alone.
    signal.signal(signal.SIGINT, lambda *_: None)  # caught here, so the default in the child
    found = {"grader": os.getppid(), "guard": os.getpid()}  # and "init", once seen
    child = os.fork()
    if child == 0:  # the kernel ends with the guard, even one it kills itself (PR_SET_PDEATHSIG)
        __import__("ctypes").CDLL(None).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
        if os.getppid() == found["guard"]:  # else the guard ended before the line above
            with contextlib.suppress(OSError):
                os.execvpe(argv[0], argv, os.environ)
        os._exit(127)
    for forwarded in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(forwarded, lambda sig, _: os.kill(child, sig))
    try:
        watch(child, files, "--pid-namespace" in options, watches, found)
    except Exception as err:  # a breach, or the guard cannot measure: nothing runs unmeasured
        why = str(err) if isinstance(err, Breach) else "could not be measured by the disk guard"
        stop(child, report, why, found.get("init"))


def watch(
    child: int, files: int, namespace: bool, watches: list[Watch], found: dict[str, int]
) -> None:
    """Measure until the child ends (then exit as it did), or raise :class:`Breach`; also when
    the process that started the guard (``found["grader"]``, a worker) has ended: nothing else
    would stop the kernel of a worker that was killed."""
    pidfd = os.pidfd_open(child) if hasattr(os, "pidfd_open") else None
    hidden: dict[str, int] = {}
    strikes: dict[str, int] = {}
    search = 0.0  # when to search /proc next
    while True:
        done, status = os.waitpid(child, os.WNOHANG)
        if done:
            exit_as(status)
        if os.getppid() != found["grader"]:
            raise Breach("outlived the grader that started it")
        started = time.monotonic()
        if started >= search:
            hidden = deleted_use(processes(child, namespace, found), watches, strikes)
            search = started + PROC_INTERVAL
        measure(watches, files, hidden)
        pause = max(INTERVAL, BUSY * (time.monotonic() - started))  # a crowded folder: slower
        if pidfd is None:
            time.sleep(pause)
        else:
            select.select([pidfd], [], [], pause)  # wakes at once when the child ends


if __name__ == "__main__":
    main(sys.argv[1:])
