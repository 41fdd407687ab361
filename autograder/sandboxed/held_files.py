"""The files that a kernel's processes deleted but still hold, open or mapped shared, for the disk
guard (:mod:`autograder.sandboxed.disk_guard`): their writes still fill the disk, though no
folder lists them. Stdlib only, like the guard, which imports it by its path.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os


def open_deleted(proc: str, devices: set[int]) -> list[tuple[str, tuple[int, int], int]]:
    """(path, inode, bytes) of each deleted file on ``devices`` that ``proc`` holds open."""
    found = []
    for entry in os.scandir(f"{proc}/fd"):
        try:
            info = os.stat(entry.path)  # the open file itself, through the descriptor's link
            if info.st_nlink == 0 and info.st_dev in devices:
                key = (info.st_dev, info.st_ino)
                found.append((os.readlink(entry.path), key, info.st_blocks * 512))
        except OSError:  # closed since it was listed, or on a file system that refuses stat
            continue
    return found


class _Query(ctypes.Structure):
    """Linux's ``struct procmap_query`` (``linux/fs.h``, since 6.11)."""

    _fields_ = [
        *((name, ctypes.c_uint64) for name in (
            "size", "query_flags", "query_addr", "vma_start", "vma_end", "vma_flags",
            "vma_page_size", "vma_offset", "inode",
        )),
        *((name, ctypes.c_uint32) for name in (
            "dev_major", "dev_minor", "vma_name_size", "build_id_size",
        )),
        ("vma_name_addr", ctypes.c_uint64),
        ("build_id_addr", ctypes.c_uint64),
    ]  # fmt: skip


#: ``PROCMAP_QUERY``, ``_IOWR('f', 17, struct procmap_query)``, and its query flags: the next
#: mapping from an address on that is shared and backed by a file.
_PROCMAP_QUERY = (3 << 30) | (ctypes.sizeof(_Query) << 16) | (ord("f") << 8) | 17
_SHARED, _COVERING_OR_NEXT, _FILE_BACKED = 0x08, 0x10, 0x20


def _queried(maps: int, devices: set[int]) -> list[tuple[str, tuple[int, int], int]] | None:
    """What :func:`mapped_deleted` finds, asked of ``maps`` (an open ``/proc/<pid>/maps``) by
    ``PROCMAP_QUERY``: the kernel hands over only the shared mappings of files, where the text
    of ``maps`` lists every mapping: a kernel with torch has about a thousand, and writing them
    out was half the guard's CPU time (measured here: 1.27 ms for one such process, against
    0.08 by query). None where the query fails: on a kernel without it, or for a path too long
    for its buffer; the text of ``maps`` then says."""
    name = ctypes.create_string_buffer(4096)
    query, address = _Query(), 0
    found: list[tuple[str, tuple[int, int], int]] = []
    while True:
        ctypes.memset(ctypes.addressof(query), 0, ctypes.sizeof(query))
        query.size, query.query_addr = ctypes.sizeof(query), address
        query.query_flags = _SHARED | _COVERING_OR_NEXT | _FILE_BACKED
        query.vma_name_addr, query.vma_name_size = ctypes.addressof(name), len(name)
        try:
            fcntl.ioctl(maps, _PROCMAP_QUERY, query)
        except OSError as err:  # ENOENT: no mapping after ``address``
            return found if err.errno == errno.ENOENT else None
        path = name.value.decode(errors="replace")
        device = os.makedev(query.dev_major, query.dev_minor)
        if path.endswith(" (deleted)") and device in devices:  # as the text of maps has it
            found.append((path, (device, query.inode), query.vma_end - query.vma_start))
        address = query.vma_end


def mapped_deleted(proc: str, devices: set[int]) -> list[tuple[str, tuple[int, int], int]]:
    """(path, inode, bytes) of each deleted file on ``devices`` that process ``proc`` maps
    shared (its writes reach the disk); the mapping's length stands for the bytes. Asked by
    ``PROCMAP_QUERY`` (:func:`_queried`) where the kernel has it, else read from the text of
    ``/proc/<pid>/maps``."""
    with open(f"{proc}/maps", "rb") as handle:  # refused when the process is not dumpable
        found = _queried(handle.fileno(), devices)
        return found if found is not None else _listed(handle.read(), devices)


def _listed(maps: bytes, devices: set[int]) -> list[tuple[str, tuple[int, int], int]]:
    """What :func:`mapped_deleted` finds, read from the text of ``/proc/<pid>/maps``."""
    if b" (deleted)\n" not in maps:  # the common case: nothing to parse
        return []
    found = []
    for line in maps.decode(errors="replace").splitlines():
        if line.endswith(" (deleted)"):
            span, perms, _, dev, inode, path = line.split(maxsplit=5)
            major, minor = (int(part, 16) for part in dev.split(":"))
            start, end = (int(part, 16) for part in span.split("-"))
            device = os.makedev(major, minor)
            if perms[3] == "s" and device in devices:
                found.append((path, (device, int(inode)), end - start))
    return found
