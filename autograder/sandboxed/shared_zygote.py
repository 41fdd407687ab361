"""A local pool's one zygote, shared by its workers (:mod:`autograder.sandboxed.warm`).

Each worker's zygote is then a fork of this one (``zygote.py FD LISTENER``), so torch, NumPy,
coursekit and ipykernel are imported once for the pool, not once for each worker.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile

from autograder.sandboxed.warm import cold_because, launch


class SharedZygote:
    """A local pool's one zygote, which its workers share: each worker that connects to
    :attr:`path` gets a fork of it as its own zygote, so the imports are paid once for the pool.

    Started by the coordinator before the pool's workers (:class:`autograder.grading.backends.
    Pool`); it ends when :meth:`stop` closes the coordinator's end. The socket lives in a folder
    only root can enter, on the host's ``/tmp``, which no kernel sees (each has its own ``/tmp``
    and network namespace). A worker that cannot reach it starts a zygote of its own.
    """

    def __init__(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="zygote-")  # 0700
        self.path = os.path.join(self.folder, "socket")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            listener.bind(self.path)
            listener.listen(64)
            # stderr: a worker whose fork fails starts its own zygote, and that one says why
            self.process = launch([theirs.fileno(), listener.fileno()], subprocess.DEVNULL)
        finally:
            theirs.close()
            listener.close()  # the zygote's is the only one: if it dies, connecting fails
        self.channel = mine

    def stop(self) -> None:
        """End it (the workers' forks of it end with their workers)."""
        self.channel.close()
        try:
            self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:  # still importing, or stuck
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def shared_zygote() -> SharedZygote | None:
    """A zygote for a local pool's workers to share (its ``path`` goes to each worker's
    :func:`~autograder.sandboxed.worker.warm_up`), or None where kernels start cold."""
    from autograder.sandboxed.worker import sandbox

    return SharedZygote() if cold_because(sandbox("auto")) is None else None
