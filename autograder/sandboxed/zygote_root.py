"""The root a warm kernel's init builds (:mod:`zygote`), as ``sandbox._bwrap`` has bubblewrap
build it; and the system calls the zygote's forks make. Imported by the zygote by its path,
beside it (stdlib only: the zygote imports nothing of ``autograder``).
"""

from __future__ import annotations

import ctypes
import os
import platform

CLONE = {"NEWNS": 0x20000, "NEWCGROUP": 0x2000000, "NEWUTS": 0x4000000, "NEWIPC": 0x8000000,
         "NEWPID": 0x20000000, "NEWNET": 0x40000000}  # fmt: skip
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_NAME, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 15, 24, 38
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41}.get(platform.machine())
GUARD_NAME = b"disk-guard"  # the guard's /proc/<pid>/comm: clock.is_disk_guard knows it
INIT_NAME = b"sandbox-init"  # and init's: clock.SANDBOXING
LIBC = ctypes.CDLL(None, use_errno=True)


def ok(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(src: str | None, dst: str, kind: str | None, flags: int, data: str = "") -> None:
    enc = [None if v is None else v.encode() for v in (src, dst, kind)]
    ok(LIBC.mount(enc[0], enc[1], enc[2], flags, data.encode() or None), f"mount {dst}")


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
    ok(LIBC.syscall(SYS_PIVOT_ROOT, root.encode(), (root + "/.old").encode()), "pivot_root")
    os.chdir("/")
    ok(LIBC.umount2(b"/.old", 2), "umount the old root")  # 2: MNT_DETACH
    os.rmdir("/.old")
    _mount(None, "/", None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID)
