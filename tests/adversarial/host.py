"""What the adversarial tests watch on the host: a server nobody may reach, and processes."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path


class Listener:
    """A TCP and UDP server on every IPv4 address of the host, recording whatever reaches it."""

    def __init__(self) -> None:
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind(("0.0.0.0", 0))
        self.tcp.listen(16)
        self.port = self.tcp.getsockname()[1]
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("0.0.0.0", self.port))
        self.received: list[tuple[str, str, bytes]] = []  # (kind, peer, data)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self.stopping.is_set():
            ready, _, _ = select.select([self.tcp, self.udp], [], [], 0.2)
            for sock in ready:
                if sock is self.tcp:
                    conn, peer = self.tcp.accept()
                    conn.settimeout(2)
                    try:
                        data = conn.recv(4096)
                    except OSError:
                        data = b""
                    conn.close()
                    self.received.append(("tcp", str(peer), data))
                else:
                    data, peer = self.udp.recvfrom(4096)
                    self.received.append(("udp", str(peer), data))

    def __enter__(self) -> Listener:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.5)  # what is on its way still arrives
        self.stopping.set()
        self.thread.join(timeout=5)
        self.tcp.close()
        self.udp.close()


def host_addresses() -> tuple[str, ...]:
    """The host's IPv4 addresses: loopback, its name's, and the one of its default route."""
    found = ["127.0.0.1"]
    with contextlib.suppress(OSError):
        named = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
        found += [str(a[4][0]) for a in named]
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
            found.append(probe.getsockname()[0])
    except OSError:
        pass
    return tuple(dict.fromkeys(found))


@dataclass(frozen=True)
class Process:
    pid: int
    uid: int
    cmdline: str


def processes() -> list[Process]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            found.append(Process(int(entry.name), entry.stat().st_uid, cmdline))
        except OSError:
            continue
    return found
