"""The zygote: a process that imports what every kernel imports, once, then forks kernels.

    python -P autograder/sandboxed/zygote.py FD [LISTENER]   (started by :mod:`.warm`)

Run by its path with the kernels' own environment, it imports (:mod:`zygote_imports`) and waits
on ``FD``, a ``SOCK_SEQPACKET`` socket to its grading worker. With ``LISTENER`` too, it is the one
zygote of a local pool (:mod:`autograder.sandboxed.shared_zygote`): ``FD`` goes to the
coordinator, whose end closing ends it, and each worker that connects to ``LISTENER`` gets a fork
of it, which serves that worker as an unshared zygote would (:func:`serve_many`): the imports are
paid once for the pool, not once for each worker. Each request (JSON, with the kernel log's and
the submission folder's descriptors) makes one kernel, in three forks of this one:

1. the **disk guard** (:func:`autograder.sandboxed.disk_guard.watch`), in a new session and new
   PID, network, IPC, UTS and cgroup namespaces, on the host's file system; its pidfd goes back;
2. the namespace's **init** (PID 1, as bubblewrap is in the cold path): in a mount namespace of
   its own it builds the kernel's root (read-only system binds, size-capped ``/tmp`` and
   ``/submission``, the submission at ``/input``, the private folder), pivots into it, reaps;
3. the **kernel**: the grader's limits, no capabilities, another user, no new privileges, a
   clean environment, ``/input`` copied to ``/submission``, then the ipykernel app.

The zygote holds nothing secret: it starts before any submission, is never a Jupyter client, and
a request carries only random temporary paths (the submission's folder comes as a descriptor). A
fork never returns to the zygote's code. It ends with its worker; its guards then stop their
kernels, as a cold guard does when its worker ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import select
import shutil
import signal
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import disk_guard  # noqa: E402  stdlib only, beside this file
import zygote_imports  # noqa: E402  what the zygote imports and warms up, beside this file
from zygote_root import (  # noqa: E402  the kernel's root, beside this file
    CLONE,
    GUARD_NAME,
    INIT_NAME,
    LIBC,
    PR_CAPBSET_DROP,
    PR_SET_NAME,
    PR_SET_NO_NEW_PRIVS,
    PR_SET_PDEATHSIG,
    build_root,
    ok,
)

sys.path.pop(0)


def confine(limits: dict, uid: int) -> None:
    """The kernel's limits (what ``prlimit`` sets in the cold path) and its user (``setpriv``)."""
    names = {"AS": "memory_bytes", "NPROC": "processes", "FSIZE": "file_bytes",
             "NOFILE": "open_files", "CPU": "cpu_seconds"}  # fmt: skip
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for name, key in names.items():
        resource.setrlimit(getattr(resource, f"RLIMIT_{name}"), (limits[key], limits[key]))
    for cap in range(64):  # empty the bounding set while this process may still do so
        if LIBC.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            break
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)  # from root to another user: every capability is gone
    ok(LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def _defaults() -> None:
    """Signals as a freshly started Python has them (the zygote's own are not the kernel's)."""
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # what Python's start-up sets


def kernel(request: dict, log: int) -> None:
    """PID 2 of the namespace: become the sandboxed kernel; never returns."""
    LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # ends with init, and so with the guard
    LIBC.prctl(PR_SET_NAME, os.path.basename(sys.executable)[:15].encode(), 0, 0, 0)  # a cold
    # kernel's name (init's, inherited, would count its CPU as the sandbox's: clock.SANDBOXING)
    null = os.open("/dev/null", os.O_RDWR)
    for fd, to in ((0, null), (1, log), (2, log)):
        os.dup2(to, fd)
    os.closerange(3, 1 << 20)  # every other descriptor, before the limit on them is set
    confine(request["limits"], request["uid"])
    os.environ.clear()
    os.environ.update(request["env"], PWD="/submission")  # PWD: what the cold path's shell sets
    os.environ.update(IMPORTED_ENV)
    for entry in os.scandir("/input"):  # what the cold path's `cp -R /input/. /submission/` does
        with contextlib.suppress(OSError):
            if entry.is_dir(follow_symlinks=False):
                shutil.copytree(entry.path, f"/submission/{entry.name}", symlinks=True)
            else:
                shutil.copy(entry.path, f"/submission/{entry.name}", follow_symlinks=False)
    os.chdir("/submission")
    ours = ("disk_guard", "held_files", "zygote_imports", "zygote_root")
    for name in [m for m in sys.modules if m in ours or m.startswith("autograder")]:
        del sys.modules[name]  # as in a cold kernel, the grader's modules are not there
    from ipykernel import kernelapp

    sys.argv = [os.path.join(os.path.dirname(kernelapp.__file__), "..", "ipykernel_launcher.py")]
    sys.argv += request["argv"]
    kernelapp.IPKernelApp.launch_instance(argv=request["argv"])


def init(request: dict, log: int, workdir: int) -> None:
    """PID 1 of the namespace: build the root, start the kernel, reap; never returns."""
    LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    LIBC.prctl(PR_SET_NAME, INIT_NAME, 0, 0, 0)
    ok(LIBC.unshare(CLONE["NEWNS"]), "unshare the mount namespace")
    build_root(MOUNTPOINT[0], request, workdir)
    ok(LIBC.sethostname(b"sandbox", 7), "sethostname")
    child = os.fork()
    if child == 0:
        os.close(workdir)
        kernel(request, log)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the group's SIGINT is for the kernel
    os.closerange(0, 3)
    os.close(workdir)
    os.close(log)
    while True:  # reap what the kernel leaves behind; end as the kernel does
        pid, status = os.waitpid(-1, 0)
        if pid == child:
            disk_guard.exit_as(status)


def guard(request: dict, log: int, workdir: int, zygote: int) -> None:
    """A kernel's first process: the disk guard, outside the namespace's view; never returns."""
    os.setsid()  # the kernel manager signals this group, as it does a cold kernel's
    LIBC.prctl(PR_SET_NAME, GUARD_NAME, 0, 0, 0)
    null = os.open("/dev/null", os.O_RDWR)
    for fd, to in ((0, null), (1, null), (2, log)):  # its last words go to the kernel's log
        os.dup2(to, fd)
    os.close(null)
    flags = sum(CLONE[k] for k in ("NEWPID", "NEWNET", "NEWIPC", "NEWUTS", "NEWCGROUP"))
    ok(LIBC.unshare(flags), "unshare")
    spec = request["guard"]
    watches = [disk_guard.Watch(name, str(cap), folder) for name, cap, folder in spec["watches"]]
    if os.path.exists(spec["report"]):
        os.unlink(spec["report"])
    first = os.fork()
    if first == 0:
        init(request, log, workdir)
    os.close(workdir)
    signal.signal(signal.SIGINT, lambda *_: None)  # the group's SIGINT is for the kernel
    for forwarded in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(forwarded, lambda sig, _: os.kill(first, sig))
    found = {"grader": zygote, "guard": os.getpid(), "init": first}
    try:
        disk_guard.watch(first, spec["files"], True, watches, found)
    except Exception as err:  # a breach, or the guard cannot measure: nothing runs unmeasured
        why = str(err) if isinstance(err, disk_guard.Breach) else "could not be measured"
        disk_guard.stop(first, spec["report"], why, first)


def _fork(request: dict, fds: list[int], channel: socket.socket) -> int:
    """Fork one kernel's guard; return its pid (the child never returns)."""
    log, workdir = fds
    zygote = os.getpid()
    pid = os.fork()
    if pid == 0:
        try:
            channel.close()
            _defaults()
            guard(request, log, workdir, zygote)
        except BaseException:  # noqa: BLE001  said in the kernel's log, which the worker reads
            import traceback

            os.write(log, traceback.format_exc().encode(errors="replace"))
        finally:
            os._exit(1)
    for fd in fds:
        os.close(fd)
    return pid


#: What the zygote's imports added to its environment (see :func:`serve`).
IMPORTED_ENV: dict[str, str] = {}
#: The empty folder on which every kernel's init mounts its root, each in its own mount
#: namespace: one for the zygote's life, not one per kernel left behind in ``/tmp``.
MOUNTPOINT: list[str] = []


def _leave() -> None:
    """End the zygote (its worker has gone), removing its mountpoint."""
    for folder in MOUNTPOINT:
        with contextlib.suppress(OSError):
            os.rmdir(folder)
    os._exit(0)


def serve(fd: int) -> None:
    """Import, then answer the worker's requests until it goes (:func:`_serve`)."""
    # NOTE: no PR_SET_PDEATHSIG here: it fires when the *thread* that started the zygote ends,
    # and a Dask worker may start it from a thread of its pool; the socket's end says the
    # worker has gone (its guards then stop their kernels: their parent is gone)
    IMPORTED_ENV.update(zygote_imports.load())
    _serve(socket.socket(fileno=fd))


def serve_many(fd: int, listener_fd: int) -> None:
    """A local pool's zygote: import once, then fork a zygote for each worker that connects to
    ``listener_fd`` (each serves its worker, :func:`_serve`); end when the coordinator's end of
    ``fd`` closes (the zygotes already forked end with their workers)."""
    IMPORTED_ENV.update(zygote_imports.load())
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as in _serve: a Ctrl-C is for the grader
    grader = socket.socket(fileno=fd)
    listener = socket.socket(fileno=listener_fd)
    while True:
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0]:  # the workers' zygotes that have ended
                pass
        readable, _, _ = select.select([grader, listener], [], [], 1.0)
        if grader in readable:  # the coordinator closed its end, or went
            os._exit(0)
        if listener not in readable:
            continue
        try:
            worker, _ = listener.accept()
        except OSError:
            continue
        if os.fork() == 0:  # one thread (the imports started none): the fork has it
            grader.close()
            listener.close()
            _serve(worker)
        worker.close()


def _serve(channel: socket.socket) -> None:
    """Answer the worker's requests until it goes; each answer passes the guard's pidfd."""
    MOUNTPOINT.append(tempfile.mkdtemp(prefix="kernel-root-"))
    # a worker's pool or nanny that ends its group with SIGTERM ends this one cleanly too; a
    # Ctrl-C in the terminal is for the grader, whose end then ends this one
    signal.signal(signal.SIGTERM, lambda *_: _leave())
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threads = len(os.listdir("/proc/self/task"))  # one: a fork copies only the thread calling it
    cpu = time.process_time()  # its start's cost, paid once per worker
    # the worker may have gone while this one imported (a pool closed before any work)
    answer(
        channel, {"ready": os.getpid(), "threads": threads, "cpu": cpu, "mountpoint": MOUNTPOINT[0]}
    )
    while True:
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0]:  # the guards that have ended
                pass
        try:
            message, fds, _, _ = socket.recv_fds(channel, 1 << 20, 2)
        except OSError:
            _leave()
        if not message:  # the worker closed its end
            _leave()
        try:
            pid = _fork(json.loads(message), fds, channel)
            pidfd = os.pidfd_open(pid)
        except OSError as err:
            answer(channel, {"error": f"{type(err).__name__}: {err}"})
            continue
        answer(channel, {"pid": pid}, pidfd)
        os.close(pidfd)


def answer(channel: socket.socket, said: dict, pidfd: int | None = None) -> None:
    """Send the worker ``said`` (with ``pidfd``); a worker that has gone ends the zygote."""
    try:
        socket.send_fds(channel, [json.dumps(said).encode()], [] if pidfd is None else [pidfd])
    except OSError:
        _leave()


if __name__ == "__main__":
    if len(sys.argv) > 2:
        serve_many(int(sys.argv[1]), int(sys.argv[2]))
    serve(int(sys.argv[1]))
