"""The sandbox every submission's kernel runs in: bubblewrap when it is installed, limits always.

With bubblewrap (Debian package ``bubblewrap``), a kernel gets:

- new network, PID, IPC and UTS namespaces: no network at all (not even the host's loopback), and
  when the kernel ends, the namespace's init dies and takes every process in it along, daemons
  included;
- a read-only view of the system: ``/usr``, ``/etc``, the Python installation and the course's
  ``coursekit`` package, and nothing else of the host. The course's ``solutions/``, the grading
  workspace (gradebook, ledger, other students' work) and the probes' expected results are simply
  not there;
- a private, size-capped ``/tmp`` and a size-capped ``/submission`` (its working folder)
  holding a copy of this submission's files only; the rest of its view is read-only;
- an unprivileged user of its own (the grader being root), no capabilities, no new privileges;
- limits on address space, processes, file size, open files and CPU time (``prlimit``);
- a cap on the disk its private folder uses on the host, kept by the disk guard
  (:mod:`autograder.sandboxed.disk_guard`), which stops the kernel when it passes the cap.

Without bubblewrap only the limits, the user change and the disk guard (of the private folder and
of the working folder, which is then the host's) apply; :func:`detect` says which, the grader
warns, the report says isolation was reduced, and ``--require-sandbox`` refuses to run.

Time limits and output caps are the kernel runner's (:mod:`autograder.sandboxed.kernel`), no stdin
is the client's; a warm kernel enters the same sandbox another way (:mod:`.zygote`).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import site
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from autograder.results import MAX_RESULT_BYTES
from autograder.sandboxed import disk_guard

MiB = 2**20
SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")  # bound, or linked
#: Where a submission's copy lives inside the sandbox, and its kernel's working folder.
INSIDE = "/submission"


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed kernel (``setrlimit`` limits, and caps on its disk)."""

    memory_bytes: int = 4096 * MiB  # address space; torch alone maps about 1.5 GiB
    processes: int = 256  # processes and threads of the sandbox's user
    file_bytes: int = MAX_RESULT_BYTES  # largest file it may write: a probe's results file
    open_files: int = 1024
    cpu_seconds: int = 3600  # CPU time of the kernel process (wall time is the runner's)
    tmp_bytes: int = 512 * MiB  # size of the private /tmp and of /submission (tmpfs)
    private_bytes: int = 96 * MiB  # disk its private folder may use on the host (the guard's)
    private_files: int = 10_000  # files and folders it may make there (each costs an inode)


@dataclass(frozen=True)
class Sandbox:
    """How kernels are confined on this machine; see :func:`detect`."""

    mode: str  # "bwrap": full isolation; "limits": resource limits only; "none": nothing
    limits: Limits = Limits()
    uid: int | None = None  # the unprivileged user kernels run as, when the grader is root

    @property
    def isolated(self) -> bool:
        return self.mode == "bwrap"

    def describe(self) -> str:
        if self.isolated:
            return "bubblewrap: no network, read-only system, private /tmp, own PID namespace"
        return (
            "REDUCED ISOLATION: no bubblewrap sandbox (Debian package 'bubblewrap'), so "
            "submissions can read what the grading user can read and open network connections; "
            f"only {'resource limits' if self.mode == 'limits' else 'time and disk limits'}"
            f"{' and a separate user' if self.uid is not None else ''} apply"
        )

    def for_worker(self) -> Sandbox:
        """This sandbox with a user of its own for this worker process, so that one
        submission's fork bomb cannot use up the process limit of another's."""
        if os.geteuid() != 0 or (not self.isolated and not _open_to_others(_system_paths())):
            # NOTE: without bubblewrap another user must reach Python itself on the host; where
            # it lives under a private folder (say /root/.pyenv) kernels keep the grader's user.
            return replace(self, uid=None)
        return replace(self, uid=200_000 + os.getpid() % 100_000)


def detect(limits: Limits | None = None) -> Sandbox:
    """The best sandbox this machine offers."""
    limits = limits or Limits()
    if os.name != "posix" or not shutil.which("prlimit"):
        return Sandbox("none", limits)
    if shutil.which("bwrap") and shutil.which("setpriv"):
        return Sandbox("bwrap", limits)
    return Sandbox("limits", limits)


def _prlimit(limits: Limits) -> list[str]:
    return [
        "prlimit",
        f"--as={limits.memory_bytes}",
        f"--nproc={limits.processes}",
        f"--fsize={limits.file_bytes}",
        f"--nofile={limits.open_files}",
        f"--cpu={limits.cpu_seconds}",
        "--core=0",
        "--",
    ]


def _drop_user(uid: int | None) -> list[str]:
    if uid is None:
        return []
    return [
        "setpriv",
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--",
    ]


def _open_to_others(paths: list[Path]) -> bool:
    """Whether any user may reach ``paths``: every folder on the way searchable by others."""
    for path in paths:
        for folder in [path, *path.parents]:
            if not folder.stat().st_mode & 0o001:
                return False
    return True


def _system_paths() -> list[Path]:
    """What a kernel must read: the OS's programs and libraries, Python, and coursekit."""
    found = [Path(p) for p in ("/usr", "/etc", "/opt") if Path(p).is_dir()]
    python = [sys.base_prefix, sys.prefix, *site.getsitepackages()]
    found += [Path(p).resolve() for p in python if Path(p).is_dir()]
    found.append(Path(os.path.realpath(sys.executable)).parent)
    kit = importlib.util.find_spec("coursekit")  # found, not imported: it imports torch
    found.append(Path(str(kit and kit.origin)).resolve().parent)
    unique = sorted(set(found), key=lambda p: (len(p.parts), str(p)))
    # a path inside another one already bound needs no bind of its own
    return [p for p in unique if not any(q != p and q in p.parents for q in unique)]


def _bwrap(paths: list[Path], private: Path, workdir: Path, limits: Limits) -> list[str]:
    argv = [
        "bwrap",
        "--unshare-net",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--cap-add",
        "CAP_SETUID",
        "--cap-add",
        "CAP_SETGID",
        "--hostname",
        "sandbox",
    ]
    for link in SYSTEM_LINKS:
        if os.path.islink(link):
            argv += ["--symlink", os.readlink(link), link]
        elif os.path.isdir(link):
            argv += ["--ro-bind", link, link]
    # the tmpfs first: the private folder may well live under the host's /tmp
    argv += ["--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp"]
    made: set[str] = set()
    for path in [*paths, private]:
        for parent in reversed(path.parents[:-1]):
            covered = any(p in parent.parents or p == parent for p in paths)
            if str(parent) not in made and not covered and str(parent) != "/tmp":
                argv += ["--perms", "0755", "--dir", str(parent)]
                made.add(str(parent))
        argv += ["--bind" if path == private else "--ro-bind", str(path), str(path)]
    argv += [
        "--ro-bind", str(workdir), "/input",
        "--dev", "/dev",
        "--proc", "/proc",
        "--perms", "0777", "--size", str(limits.tmp_bytes), "--tmpfs", INSIDE,
        "--chdir", INSIDE,
        # the rest of the view (the root's and /dev's tmpfs, the folders made for the binds)
        # is read-only: every writable place is a capped one
        "--remount-ro", "/dev",
        "--remount-ro", "/",
    ]  # fmt: skip
    return argv


#: What a kernel's environment sets that its results depend on (in_process sets it too).
KERNEL_ENV = {"COURSEKIT_DEVICE": "cpu", "NBGRADER_EXECUTION": "autograde"}


def environment(private: Path) -> dict[str, str]:
    """The kernel's whole environment: nothing of the grader's leaks in."""
    return {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp",
        "LANG": "C.UTF-8",
        "MPLCONFIGDIR": "/tmp/matplotlib",
        "MPLBACKEND": "agg",
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONSAFEPATH": "1",  # a planted ipykernel_launcher.py in /submission is not imported
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        **KERNEL_ENV,
        "OMP_NUM_THREADS": "1",  # one core per kernel: the workers already use them all
        "JUPYTER_RUNTIME_DIR": str(private),
    }


def wrap(sandbox: Sandbox, argv: list[str], private: Path, workdir: Path) -> list[str]:
    """The command that runs ``argv`` (a kernel) in ``sandbox``, behind the disk guard.

    ``private`` (the kernel's connection file and IPC sockets) is the only host folder it may
    write; ``workdir`` holds the submission's files, copied into ``/submission`` at start.
    """
    if not sandbox.isolated:
        # the same settings as inside the sandbox (one thread per kernel, the CPU, ...), so that
        # the modes differ only in what confines the kernel
        settings = {**environment(private), "HOME": str(private), "MPLCONFIGDIR": str(private)}
        settings["PATH"] = os.environ.get("PATH", settings["PATH"])
        argv = ["env", *(f"{k}={v}" for k, v in settings.items()), *argv]
    guard = _guard(sandbox, private, workdir) if os.name == "posix" else []
    if sandbox.mode == "none":
        return [*guard, *argv]
    _share(private, workdir, sandbox.uid, own_workdir=not sandbox.isolated)
    inner = [*_prlimit(sandbox.limits), *_drop_user(sandbox.uid)]
    if not sandbox.isolated:
        return [*guard, *inner, *argv]
    env: list[str] = ["--clearenv"]
    for key, value in environment(private).items():
        env += ["--setenv", key, value]
    copy_in = ["/bin/sh", "-c", f'cp -R /input/. {INSIDE}/ 2>/dev/null; exec "$@"', "sh"]
    outer = _bwrap(_system_paths(), private, workdir, sandbox.limits)
    # NOTE: bwrap's own process dies of SIGINT, taking the sandbox with it, but the kernel is
    # interrupted with SIGINT sent to the whole process group. bwrap must ignore it; the kernel
    # installs its own handler while it runs a cell.
    ignore_sigint = ["/bin/sh", "-c", 'trap "" INT; exec "$@"', "sh"]
    return [*guard, *ignore_sigint, *outer, *env, "--", *inner, *copy_in, *argv]


def _guard(sandbox: Sandbox, private: Path, workdir: Path) -> list[str]:
    """The disk guard's command: it caps the private folder and, without bubblewrap, the working
    folder too (the kernel then works in ``workdir`` on the host, with /submission's cap)."""
    limits = sandbox.limits
    watches = [("private folder", limits.private_bytes, str(private))]
    if not sandbox.isolated:
        watches.append(("working folder", limits.tmp_bytes, str(workdir)))
    report = disk_guard.report_file(str(private))
    return disk_guard.command(report, limits.private_files, watches, namespace=sandbox.isolated)


def prepare(sandbox: Sandbox, private: Path, workdir: Path) -> None:
    """:func:`wrap`'s changes to the folders' owners and modes, for a warm kernel (``warm``)."""
    _share(private, workdir, sandbox.uid, own_workdir=False)


def _share(private: Path, workdir: Path, uid: int | None, own_workdir: bool) -> None:
    """The kernel's private folder becomes its user's own; the submission's files, readable."""
    private.parent.chmod(0o711)
    for path in [private, *private.rglob("*")]:
        if uid is not None:
            os.chown(path, uid, uid, follow_symlinks=False)
    workdir.chmod(0o755)
    for path in workdir.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    if uid is not None and own_workdir:
        # without bubblewrap the kernel works in ``workdir`` itself, as its user
        for path in [workdir, *workdir.rglob("*")]:
            os.chown(path, uid, uid, follow_symlinks=False)


def reap(uid: int | None) -> int:
    """Kill every process still running as the sandbox's user; return how many.

    Inside bubblewrap the PID namespace already ends them all; this also covers a daemon that a
    submission left behind when bubblewrap is missing.
    """
    if uid is None or os.geteuid() != 0:
        return 0
    killed = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid == uid:
                os.kill(int(entry.name), signal.SIGKILL)
                killed += 1
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return killed
