"""The zygote: a process that imports what every kernel imports, once, then forks kernels.

    python -P autograder/sandboxed/zygote.py FD        (started by :mod:`autograder.sandboxed.warm`)

Run by its path with the kernels' own environment, it imports torch, NumPy, coursekit and
ipykernel and waits on ``FD``, a ``SOCK_SEQPACKET`` socket to its grading worker. Each request
(JSON, with the kernel log's and the submission folder's descriptors passed along) makes one
kernel, in three processes, each a fork of this one:

1. the **disk guard** (:func:`autograder.sandboxed.disk_guard.watch`), in a new session and in
   new PID, network, IPC, UTS and cgroup namespaces, but on the host's file system: it caps the
   private folder, as the cold path's guard does, and its pidfd goes back to the worker;
2. the namespace's **init** (PID 1, what bubblewrap is in the cold path): in a mount namespace of
   its own it builds the kernel's root (read-only binds of the system, size-capped ``/tmp`` and
   ``/submission``, the submission's folder at ``/input``, the private folder), pivots into it
   and remounts it read-only; then it reaps, and ends as the kernel does;
3. the **kernel**: the grader's limits, an empty capability bounding set, another user, no new
   privileges, a clean environment, ``/input`` copied to ``/submission``, and only then the
   ipykernel app, on the arguments the kernel manager gave.

The zygote holds nothing secret: it is started before any submission, it is never a Jupyter
client, and a request carries paths of random temporary folders, never a student's name (the
submission's folder comes as a descriptor). A fork never returns to the zygote's code. The zygote
ends with its worker (the socket's end says it has gone); its guards then stop their
kernels, as a cold guard does when its worker ends.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import os
import platform
import resource
import shutil
import signal
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import disk_guard  # noqa: E402  stdlib only, beside this file
import zygote_imports  # noqa: E402  what the zygote imports and warms up, beside this file

sys.path.pop(0)

CLONE = {"NEWNS": 0x20000, "NEWCGROUP": 0x2000000, "NEWUTS": 0x4000000, "NEWIPC": 0x8000000,
         "NEWPID": 0x20000000, "NEWNET": 0x40000000}  # fmt: skip
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_NAME, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 15, 24, 38
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41}.get(platform.machine())
GUARD_NAME = b"disk-guard"  # the guard's /proc/<pid>/comm: clock.is_disk_guard knows it
INIT_NAME = b"sandbox-init"  # and init's: clock.SANDBOXING
LIBC = ctypes.CDLL(None, use_errno=True)


def _ok(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(src: str | None, dst: str, kind: str | None, flags: int, data: str = "") -> None:
    enc = [None if v is None else v.encode() for v in (src, dst, kind)]
    _ok(LIBC.mount(enc[0], enc[1], enc[2], flags, data.encode() or None), f"mount {dst}")


def _read_only_bind(src: str, dst: str) -> None:
    _mount(src, dst, None, MS_BIND | MS_REC)
    with open("/proc/self/mountinfo") as handle:  # the bind and its submounts, each read-only
        points = [line.split()[4] for line in handle]
    for point in points:
        if point == dst or point.startswith(dst + "/"):
            _mount(None, point, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID)


def build_root(root: str, request: dict, workdir_fd: int) -> None:
    """In a new mount namespace: the kernel's root, as ``sandbox._bwrap`` has bubblewrap build
    it (the same binds, the same caps on ``/tmp`` and ``/submission``, read-only elsewhere)."""
    tmp_bytes, private = request["limits"]["tmp_bytes"], request["private"]
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=0755")
    for folder, mode in (("/tmp", "1777"), ("/submission", "0777")):  # first: the private
        os.makedirs(root + folder)  # folder may be under /tmp
        flags = MS_NOSUID | MS_NODEV
        _mount("tmpfs", root + folder, "tmpfs", flags, f"size={tmp_bytes},mode={mode}")
    for link in request["links"]:  # sandbox.SYSTEM_LINKS
        if os.path.islink(link):
            os.symlink(os.readlink(link), root + link)
        elif os.path.isdir(link):
            os.makedirs(root + link)
            _read_only_bind(link, root + link)
    for path in request["paths"]:
        os.makedirs(root + path, exist_ok=True)
        _read_only_bind(path, root + path)
    os.makedirs(root + private, exist_ok=True)
    _mount(private, root + private, None, MS_BIND | MS_NOSUID | MS_NODEV)
    os.makedirs(root + "/input")
    # NOTE: the folder's path, read from its descriptor in this fork (the zygote never has it):
    # a descriptor opened in another mount namespace cannot be the source of a bind
    _read_only_bind(os.readlink(f"/proc/self/fd/{workdir_fd}"), root + "/input")
    os.makedirs(root + "/dev/shm")
    for node in ("null", "zero", "full", "random", "urandom", "tty"):
        open(root + "/dev/" + node, "w").close()
        _mount("/dev/" + node, root + "/dev/" + node, None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"),
                         ("core", "/proc/kcore"), ("ptmx", "pts/ptmx")):  # fmt: skip
        os.symlink(target, f"{root}/dev/{name}")
    os.makedirs(root + "/dev/pts")  # a terminal namespace of its own, as bubblewrap's --dev
    _mount(
        "devpts",
        root + "/dev/pts",
        "devpts",
        MS_NOSUID | MS_NOEXEC,
        "newinstance,ptmxmode=0666,mode=620",
    )
    os.makedirs(root + "/proc")
    os.makedirs(root + "/.old")
    _mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    _ok(LIBC.syscall(SYS_PIVOT_ROOT, root.encode(), (root + "/.old").encode()), "pivot_root")
    os.chdir("/")
    _ok(LIBC.umount2(b"/.old", 2), "umount the old root")  # 2: MNT_DETACH
    os.rmdir("/.old")
    _mount(None, "/", None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID)


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
    _ok(LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


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
    ours = ("disk_guard", "zygote_imports")
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
    _ok(LIBC.unshare(CLONE["NEWNS"]), "unshare the mount namespace")
    build_root(MOUNTPOINT[0], request, workdir)
    _ok(LIBC.sethostname(b"sandbox", 7), "sethostname")
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
    _ok(LIBC.unshare(flags), "unshare")
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
    """Answer the worker's requests until it goes; each answer passes the guard's pidfd."""
    # NOTE: no PR_SET_PDEATHSIG here: it fires when the *thread* that started the zygote ends,
    # and a Dask worker may start it from a thread of its pool; the socket's end says the
    # worker has gone (its guards then stop their kernels: their parent is gone)
    before = dict(os.environ)
    for name in zygote_imports.IMPORTS:
        __import__(name)
    # what the imports set in the environment (debugpy's PYDEVD_USE_FRAME_EVAL), as a cold
    # kernel's own imports set it: each kernel's fresh environment gets it too (not what the
    # warm-up sets, such as torch's cache folder, named after the zygote's user)
    IMPORTED_ENV.update((k, v) for k, v in os.environ.items() if before.get(k) != v)
    zygote_imports.warm_up()
    # NOTE: what the imports made is moved out of the collector's reach (gc.freeze, as its
    # documentation advises before forking): a kernel's collections then walk only the objects
    # it made itself, instead of touching, and so copying, every page of the zygote's heap
    gc.collect()
    gc.freeze()
    MOUNTPOINT.append(tempfile.mkdtemp(prefix="kernel-root-"))
    # a worker's pool or nanny that ends its group with SIGTERM ends this one cleanly too; a
    # Ctrl-C in the terminal is for the grader, whose end then ends this one
    signal.signal(signal.SIGTERM, lambda *_: _leave())
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    channel = socket.socket(fileno=fd)
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
    serve(int(sys.argv[1]))
