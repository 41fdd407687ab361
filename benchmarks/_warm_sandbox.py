"""The warm benchmark's sandbox: a kernel forked from a zygote enters namespaces of its own.

Used by ``benchmarks/warm_kernel.py`` (see its docstring): as root, the child unshares the mount,
PID, network, IPC, UTS and cgroup namespaces, builds a root of read-only binds with size-capped
``/tmp`` and ``/submission``, pivots into it, sets the grader's limits and becomes another user
with no capabilities and no new privileges before the ipykernel app starts.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import shutil
import tempfile
from pathlib import Path

CLONE = {"NEWNS": 0x20000, "NEWCGROUP": 0x2000000, "NEWUTS": 0x4000000, "NEWIPC": 0x8000000,
         "NEWPID": 0x20000000, "NEWNET": 0x40000000}  # fmt: skip
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 24, 38
SYS_PIVOT_ROOT = 155  # x86_64


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _ok(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(src: str | None, dst: str, kind: str | None, flags: int, data: str = "") -> None:
    enc = [None if v is None else v.encode() for v in (src, dst, kind)]
    _ok(_libc().mount(enc[0], enc[1], enc[2], flags, data.encode() or None), f"mount {dst}")


def _read_only_bind(src: str, dst: str) -> None:
    _mount(src, dst, None, MS_BIND | MS_REC)
    for line in Path("/proc/self/mountinfo").read_text().splitlines():  # the bind, submounts
        point = line.split()[4]
        if point == dst or point.startswith(dst + "/"):
            _mount(None, point, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID)


def _build_root(root: str, private: str, workdir: str, tmp_bytes: int) -> None:
    """In a new mount namespace: the kernel's root, as bubblewrap builds it in ``wrap``."""
    from autograder.sandboxed.sandbox import _system_paths

    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=0755")
    for folder, mode in (("/tmp", "1777"), ("/submission", "0777")):  # first: the private
        os.makedirs(root + folder)  # folder may be under /tmp
        _mount(
            "tmpfs", root + folder, "tmpfs", MS_NOSUID | MS_NODEV, f"size={tmp_bytes},mode={mode}"
        )
    for link in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(link):
            os.symlink(os.readlink(link), root + link)
        elif os.path.isdir(link):
            os.makedirs(root + link)
            _read_only_bind(link, root + link)
    for path in map(str, _system_paths()):
        os.makedirs(root + path, exist_ok=True)
        _read_only_bind(path, root + path)
    os.makedirs(root + private, exist_ok=True)
    _mount(private, root + private, None, MS_BIND)
    os.makedirs(root + "/input")
    _read_only_bind(workdir, root + "/input")
    os.makedirs(root + "/dev")
    for node in ("null", "zero", "full", "random", "urandom", "tty"):
        open(root + "/dev/" + node, "w").close()
        _mount("/dev/" + node, root + "/dev/" + node, None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):  # fmt: skip
        os.symlink(target, f"{root}/dev/{name}")
    os.makedirs(root + "/proc")
    os.makedirs(root + "/.old")


def _enter_root(root: str, uid: int, limits: object) -> None:
    """As the first process of the new PID namespace: its /proc, the pivot, limits, the user."""
    libc = _libc()
    _mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    _ok(libc.syscall(SYS_PIVOT_ROOT, root.encode(), (root + "/.old").encode()), "pivot_root")
    os.chdir("/")
    _ok(libc.umount2(b"/.old", 2), "umount the old root")  # 2: MNT_DETACH
    os.rmdir("/.old")
    _mount(None, "/", None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID)
    _ok(libc.sethostname(b"sandbox", 7), "sethostname")
    for kind, value in (
        (resource.RLIMIT_AS, limits.memory_bytes), (resource.RLIMIT_NPROC, limits.processes),  # type: ignore[attr-defined]
        (resource.RLIMIT_FSIZE, limits.file_bytes), (resource.RLIMIT_NOFILE, limits.open_files),  # type: ignore[attr-defined]
        (resource.RLIMIT_CPU, limits.cpu_seconds), (resource.RLIMIT_CORE, 0),  # type: ignore[attr-defined]
    ):  # fmt: skip
        resource.setrlimit(kind, (value, value))
    for cap in range(64):  # empty the bounding set while this process may still do so
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            break
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)  # from root to another user: every capability is gone
    _ok(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def fork_kernel(argv: list[str], private: str, workdir: str, uid: int) -> int:
    """Fork a kernel into a sandbox of its own; the pid returned ends when the kernel does."""
    from autograder.sandboxed.sandbox import INSIDE, Limits, environment

    limits = Limits()
    root = tempfile.mkdtemp(prefix="warm-root-")
    first = os.fork()
    if first:
        return first
    try:  # never returns to the zygote's code
        _ok(_libc().unshare(sum(CLONE.values())), "unshare")
        _build_root(root, private, workdir, limits.tmp_bytes)
        kernel = os.fork()
        if kernel:
            _, status = os.waitpid(kernel, 0)
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
        _libc().prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)
        _enter_root(root, uid, limits)
        null = os.open("/dev/null", os.O_RDWR)
        log = os.open(f"{private}/kernel.log", os.O_WRONLY | os.O_CREAT, 0o600)
        for fd, to in ((0, null), (1, log), (2, log)):
            os.dup2(to, fd)
        os.closerange(3, 65536)
        os.environ.clear()
        os.environ.update(environment(Path(private)))
        for entry in os.scandir("/input"):  # what wrap's `cp -R /input/. /submission/` does
            copy = shutil.copytree if entry.is_dir(follow_symlinks=False) else shutil.copy
            with contextlib.suppress(OSError):
                copy(entry.path, f"{INSIDE}/{entry.name}")
        os.chdir(INSIDE)
        from ipykernel.kernelapp import IPKernelApp

        IPKernelApp.launch_instance(argv=argv)
    except BaseException:
        import traceback

        traceback.print_exc()  # before the kernel's stderr is /dev/null: to the zygote's
    finally:
        os._exit(1)
