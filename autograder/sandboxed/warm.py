"""Warm kernels: each one forked from its worker's zygote (:mod:`autograder.sandboxed.zygote`).

A cold kernel is a fresh interpreter that imports torch, NumPy and coursekit again, two seconds of
CPU before the student's first line runs. A warm one is a fork of a process that has imported them
once, and it enters a sandbox of its own before the ipykernel app starts (the zygote's docstring
says how; ``book/threat_model.md`` says what it keeps out).

The seam is jupyter_client's: :class:`ForkedProvisioner` is a kernel provisioner, which the
grading kernel manager (:func:`autograder.sandboxed.kernel._manager_class`) uses in place of the
local one. It writes the connection file as the local one does, then asks the zygote for a kernel
and gets back the pidfd of the kernel's first process (its disk guard): poll, wait and kill go
through it, and signals go to that process's group, as the local provisioner sends them.

:func:`zygote` gives this worker's zygote, started on first use and again if it has died, or None
where kernels stay cold; :func:`cold_because` says why (no bubblewrap, not root, no ``fork``, ...),
and the grade summary says it too. ``AUTOGRADER_KERNELS=cold`` asks for cold kernels.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import platform
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from jupyter_client.provisioning import LocalProvisioner

from autograder.sandboxed import disk_guard
from autograder.sandboxed.kernel_client import ended
from autograder.sandboxed.sandbox import (
    SYSTEM_LINKS,
    Sandbox,
    _system_paths,
    environment,
    prepare,
)

ZYGOTE = str(Path(__file__).with_name("zygote.py"))
STARTUP_SECONDS = 120  # for the zygote's imports, on a loaded machine
ANSWER_SECONDS = 60  # for a fork


def cold_because(sandbox: Sandbox) -> str | None:
    """Why kernels on this machine start cold, or None when they can be forked warm."""
    if os.environ.get("AUTOGRADER_KERNELS", "warm") == "cold":
        return "AUTOGRADER_KERNELS=cold"
    if not sys.platform.startswith("linux") or not hasattr(os, "fork"):
        return "forked kernels need Linux"
    if not hasattr(os, "pidfd_open") or not hasattr(socket, "send_fds"):
        return "forked kernels need pidfds (Linux 5.3)"
    if not sandbox.isolated:
        return "forked kernels enter the same sandbox as bubblewrap's, which is missing here"
    if os.geteuid() != 0 or sandbox.uid is None:
        return "forked kernels build their sandbox as root, and the grader is not root"
    if platform.machine() not in ("x86_64", "aarch64", "riscv64"):  # zygote_root.SYS_PIVOT_ROOT
        return "forked kernels do not know this processor's pivot_root"
    return None


def describe(sandbox: Sandbox) -> str:
    """The grade summary's line on how kernels start."""
    why = cold_because(sandbox)
    warm = "warm: each forked from its worker's zygote, then sandboxed before it starts"
    return warm if why is None else f"cold: a fresh interpreter each ({why})"


def launch(fds: list[int], stderr: Any) -> subprocess.Popen:
    """``zygote.py`` on ``fds`` (a socket; a shared one's listener too), in kernels' environment."""
    return subprocess.Popen(
        [sys.executable, "-P", ZYGOTE, *map(str, fds)],
        pass_fds=fds,
        env=environment(Path(tempfile.gettempdir())),
        cwd="/",
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )


class Zygote:
    """One worker's zygote and the socket to it: a fork of the pool's (``shared``: its socket)."""

    def __init__(self, shared: str | None = None) -> None:
        self.lock = threading.RLock()  # one fork at a time; ready() from any thread
        self.process: subprocess.Popen | None = None
        self.channel: socket.socket | None = None
        self.mountpoint, self.shared = "", shared  # mountpoint: its kernels' roots', once ready
        self.start()

    def start(self) -> None:
        """Start the zygote; its imports go on in the background until :meth:`ready`."""
        self.stop()
        if self.shared is not None:
            channel = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                channel.connect(self.shared)
                self.channel, self.pid = channel, None
                return
            except OSError:  # the pool's has gone: this worker starts its own
                channel.close()
                self.shared = None
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.said = tempfile.TemporaryFile()  # noqa: SIM115  what it says, should it fail to start
        self.process = launch([theirs.fileno()], self.said)
        theirs.close()
        self.channel, self.pid = mine, None

    def ready(self) -> None:
        """Wait for the zygote's imports; raise OSError, with what it said, if it failed."""
        with self.lock:
            if self.pid is not None:
                return
            assert self.channel is not None
            self.channel.settimeout(STARTUP_SECONDS)
            try:
                hello = self.channel.recv(4096)
            except OSError:
                hello = b""
            if not hello and self.shared is not None:  # the pool's did not fork: start one
                self.shared = None
                self.start()
                return self.ready()
            if not hello:
                self.said.seek(0)
                words = self.said.read()[-400:].decode(errors="replace").strip()
                self.stop()
                raise OSError(f"the zygote did not start: {words or 'it said nothing'}")
            said = json.loads(hello)
            self.pid, self.cpu = said["ready"], said["cpu"]  # cpu: what its start cost, once
            self.mountpoint = said["mountpoint"]  # where its kernels' roots are mounted
            self.channel.settimeout(ANSWER_SECONDS)

    def fork(self, request: dict, fds: list[int]) -> tuple[int, int]:
        """A new kernel: (its first process's pid, a pidfd for it). Restarts a dead zygote once."""
        with self.lock:
            for attempt in (1, 2):
                try:
                    self.ready()
                    assert self.channel is not None
                    socket.send_fds(self.channel, [json.dumps(request).encode()], fds)
                    message, got, _, _ = socket.recv_fds(self.channel, 1 << 16, 1)
                    if message:
                        break
                    raise ConnectionError("the zygote ended")
                except (OSError, AssertionError) as err:
                    if attempt == 2:
                        raise OSError(f"the zygote failed twice: {err}") from err
                    self.start()
        answer = json.loads(message)
        if "error" in answer:
            raise OSError(f"the zygote could not fork a kernel: {answer['error']}")
        return answer["pid"], got[0]

    def stop(self) -> None:
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.process is not None:
            try:  # the closed socket ends it, once it serves (it removes its mountpoint then)
                self.process.wait(timeout=1)
            except subprocess.TimeoutExpired:  # still importing, or stuck
                with contextlib.suppress(OSError):
                    self.process.kill()
            self.process.wait()
            self.process = None
            self.said.close()


_ZYGOTE: dict[str, Zygote] = {}
_FAILED: dict[str, str] = {}  # why this worker's zygote could not start
_STARTING = threading.Lock()


def zygote(sandbox: Sandbox, wait: bool = True, shared: str | None = None) -> Zygote | None:
    """This worker's zygote, started on first use (``shared``: see :class:`Zygote`), or None
    where kernels start cold (:func:`cold_because`, or a zygote that could not start:
    :func:`kernels` says why). With ``wait``, once its imports are done; else at once."""
    if cold_because(sandbox) is not None or "it" in _FAILED:
        return None
    try:
        with _STARTING:  # one zygote, whichever thread asks first
            found = _ZYGOTE.get("it") or _ZYGOTE.setdefault("it", Zygote(shared))
        if wait:
            found.ready()
    except OSError as err:
        _FAILED["it"] = str(err)
        _ZYGOTE.pop("it", None)
        return None
    return found


def kernels(sandbox: Sandbox) -> str:
    """How this worker's kernels start in ``sandbox``: "warm", or "cold (why)"."""
    why = None if zygote(sandbox) is not None else cold_because(sandbox) or _FAILED.get("it", "")
    return "warm" if why is None else f"cold ({why})"


def stop() -> None:
    """End this worker's zygote (a worker plugin's teardown; it also dies with the worker)."""
    found = _ZYGOTE.pop("it", None)
    if found is not None:
        found.stop()


class ForkedProvisioner(LocalProvisioner):
    """A kernel provisioner whose kernels are forks of the worker's zygote, each in its sandbox.

    Set on the kernel manager by the grader (it is not registered by name): the manager's
    ``forked`` attribute holds (zygote, sandbox, private folder, submission folder).
    """

    pidfd: int | None = None

    @property
    def has_process(self) -> bool:
        return self.pidfd is not None

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        assert self.parent is not None
        found, sandbox, private, workdir = self.parent.forked
        start = cmd.index("ipykernel_launcher") + 1  # checked by the manager
        prepare(sandbox, private, workdir)
        limits = dataclasses.asdict(sandbox.limits)
        watches = [("private folder", sandbox.limits.private_bytes, str(private))]
        request = {
            "argv": cmd[start:],
            "env": environment(private),
            "private": str(private),
            "uid": sandbox.uid,
            "limits": limits,
            "paths": [str(p) for p in _system_paths()],
            "links": list(SYSTEM_LINKS),
            "guard": {
                "report": disk_guard.report_file(str(private)),
                "files": sandbox.limits.private_files,
                "watches": watches,
            },
        }
        log = kwargs.get("stdout")
        log_fd = log.fileno() if log is not None else os.open(os.devnull, os.O_WRONLY)
        folder = os.open(workdir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            self.pid, self.pidfd = await asyncio.to_thread(found.fork, request, [log_fd, folder])
        finally:
            os.close(folder)
            if log is None:
                os.close(log_fd)
        self.pgid = self.pid  # the guard starts a session of its own
        self.cwd = kwargs.get("cwd")
        return self.connection_info

    def _ended(self) -> bool:
        return self.pidfd is None or bool(select.select([self.pidfd], [], [], 0)[0])

    async def poll(self) -> int | None:
        return None if not self._ended() else (0 if self.pidfd is None else -signal.SIGKILL)

    async def wait(self) -> int | None:
        while self.pidfd is not None and not await ended(self.pidfd, 1.0):
            pass
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
        return 0

    async def send_signal(self, signum: int) -> None:
        if self._ended() or self.pidfd is None or self.pid is None:
            return
        with contextlib.suppress(OSError):
            os.killpg(self.pid, signum)  # the guard's group: the kernel and whatever it started
            return
        with contextlib.suppress(OSError):
            signal.pidfd_send_signal(self.pidfd, signum)

    async def kill(self, restart: bool = False) -> None:
        await self.send_signal(signal.SIGKILL)
        if not self._ended() and self.pidfd is not None:
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            await ended(self.pidfd, 1.0)  # gone before the manager looks (else it sleeps 0.1 s)

    async def terminate(self, restart: bool = False) -> None:
        await self.send_signal(signal.SIGTERM)

    async def cleanup(self, restart: bool = False) -> None:
        if self.pidfd is not None:  # a kernel manager that never waited
            os.close(self.pidfd)
            self.pidfd = None
        await super().cleanup(restart)
