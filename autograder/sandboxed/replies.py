"""A cell's reply and its outputs, read in one loop instead of nbclient's three tasks a cell.

For each cell, nbclient starts three asyncio tasks: one waits for the reply on the shell channel,
one reads the outputs on IOPub, and one checks every second that the kernel is alive. Each message
then passes through a zmq future, a poller and a timer of the event loop. Measured in a worker,
that machinery cost about 2 ms of CPU per cell, so about 80 ms for each chapter 01 submission,
which is more than its cells themselves take in the kernel.

:class:`OneLoop` waits for the same things in one loop. A zmq poller watches both sockets, which
are plain sockets shadowing the async client's own (``zmq.Socket.shadow``: the same sockets, read
without futures). Between messages, at least every :data:`~autograder.sandboxed.clock.POLL`
seconds, it checks that the kernel is alive and looks at the cell's limits. It keeps nbclient's
rules:

- the outputs are processed by nbclient's own ``process_message``, and those of other requests
  are dropped;
- after the reply, the outputs are awaited up to the cell's IDLE status for ``iopub_timeout``
  seconds, and past it nbclient's error is raised;
- a dead kernel raises nbclient's ``DeadKernelError``;
- an interrupted cell gets nbclient's error reply (``error_on_timeout``).

It adds one rule of its own. A kernel that goes on using CPU after its interrupt
(:data:`ANSWER_CPU_SECONDS`) is ignoring it: it gets no ``iopub_timeout``, so nbclient raises
``CellTimeoutError`` at once.
"""

from __future__ import annotations

import hmac
import math
import time
from typing import Any

import zmq
from jupyter_client.adapter import adapt
from nbclient.client import NotebookClient, timestamp
from nbclient.exceptions import CellExecutionComplete, CellTimeoutError

from autograder.sandboxed.clock import POLL, Kernel, Stopwatch

ALIVE_SECONDS = 1.0  # between two checks that the kernel lives, while a cell's outputs drain
ANSWER_CPU_SECONDS = 1  # CPU time a kernel may go on using after an interrupt: it ignores it
IOPUB_SECONDS = 30  # wall-clock seconds an interrupted kernel has to answer, as for last outputs


def read(session: Any, frames: list[bytes]) -> dict[str, Any]:
    """A kernel's message, from its frames, as jupyter_client's ``Session.deserialize`` reads it
    (the signature checked, replays refused), less its search of the headers for dates: a
    regular expression on each of their strings, a third of its time, for dates nothing here
    reads."""
    _, frames = session.feed_identities(frames)
    if len(frames) < 5:
        raise TypeError("malformed message, must have at least 5 elements")
    if session.auth is not None:
        signature = frames[0]
        if not signature:
            raise ValueError("Unsigned Message")
        if signature in session.digest_history:
            raise ValueError(f"Duplicate Signature: {signature!r}")
        session._add_digest(signature)  # noqa: SLF001  as deserialize keeps them, culled
        if not hmac.compare_digest(signature, session.sign(frames[1:5])):
            raise ValueError(f"Invalid Signature: {signature!r}")
    header = session.unpack(frames[1])
    message = {
        "header": header,
        "msg_id": header["msg_id"],
        "msg_type": header["msg_type"],
        "parent_header": session.unpack(frames[2]),
        "metadata": session.unpack(frames[3]),
        "content": session.unpack(frames[4]),
        "buffers": [memoryview(b) for b in frames[5:]],
    }
    return adapt(message)


class OneLoop(NotebookClient):
    """nbclient's wait for a cell's reply and outputs, in one loop: a base of the grading
    executor, after nbgrader's ``Execute`` and before nbclient's client in its method order.
    The executor sets ``watch``, ``kernel`` and ``cell_index`` for each cell."""

    watch: Stopwatch | None = None  # the limits of the cell running now
    kernel: Kernel | None = None  # the kernel's processes, for their CPU time
    _answer: tuple[Stopwatch, dict[str, Any]] | None = None  # once interrupted
    _idle = False  # whether the cell's IDLE status has come
    cell_index = 0  # the cell being run (nbclient's reply wait is not told it)
    interrupted: str | None = None  # why the cell running now was interrupted
    _sockets: tuple[Any, zmq.Poller, zmq.Poller, zmq.Socket, zmq.Socket] | None = None

    async def _async_poll_output_msg(self, *args: Any) -> None:
        return None  # the outputs are read with the reply (_async_poll_for_reply)

    async def _async_poll_kernel_alive(self) -> None:
        return None  # checked between messages (_async_poll_for_reply)

    async def _async_poll_for_reply(
        self, msg_id: str, cell: Any, timeout: int | None, *tasks: Any
    ) -> dict[str, Any]:
        """The cell's reply, once its outputs have come (up to its IDLE status)."""
        self._idle, self._answer = False, None
        reply, look = None, time.monotonic() + POLL
        while reply is None:
            reply = self._read(msg_id, cell, max(0.0, look - time.monotonic()), shell=True)
            if reply is not None and self._answer is not None:
                reply = self._answer[1]  # interrupted: nbclient's error reply, as nbclient has it
            if reply is None and time.monotonic() >= look:
                await self._async_check_alive()
                reply = await self._look(cell, timeout)
                look = time.monotonic() + POLL
        reply.setdefault("parent_header", {"msg_id": msg_id})
        if self.record_timing:
            cell["metadata"]["execution"]["shell.execute_reply"] = timestamp(reply)
        await self._outputs(msg_id, cell)
        return reply

    async def _outputs(self, msg_id: str, cell: Any) -> None:
        """Read the cell's outputs up to its IDLE status, for ``iopub_timeout`` seconds."""
        now = time.monotonic()
        deadline, alive = now + (self.iopub_timeout or 0), now + ALIVE_SECONDS
        while not self._idle:
            self._read(msg_id, cell, max(0.0, min(deadline, alive) - now), shell=False)
            now = time.monotonic()
            if self._idle:
                return
            if now >= deadline:
                if self.raise_on_iopub_timeout:
                    raise CellTimeoutError.error_from_timeout_and_cell(
                        "Timeout waiting for IOPub output", self.iopub_timeout, cell
                    )
                self.log.warning("Timeout waiting for IOPub output")
                return
            if now >= alive:
                await self._async_check_alive()
                alive = now + ALIVE_SECONDS

    def _read(self, msg_id: str, cell: Any, wait: float, shell: bool) -> dict[str, Any] | None:
        """Wait up to ``wait`` seconds for a message, then process every output that has come;
        with ``shell``, the reply to ``msg_id`` if it has come too."""
        both, outputs, shell_socket, iopub = self._channels()
        ready = dict((both if shell else outputs).poll(math.ceil(wait * 1000)))
        assert self.kc is not None
        session = self.kc.session
        if iopub in ready:
            while not self._idle and (frames := _take(iopub)) is not None:
                msg = read(session, frames)
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue  # another request's (nbclient drops them too)
                try:
                    self.process_message(msg, cell, self.cell_index)
                except CellExecutionComplete:
                    self._idle = True
        if shell and shell_socket in ready:
            while (frames := _take(shell_socket)) is not None:
                msg = read(session, frames)
                if msg["parent_header"].get("msg_id") == msg_id:
                    return msg
        return None

    async def _look(self, cell: Any, timeout: int | None) -> dict[str, Any] | None:
        """Interrupt the cell once it is past its limits, as nbclient interrupts at its timeout;
        once interrupted, nbclient's error reply if the kernel goes on using CPU (it ignores
        the interrupt), else None (the loop waits for the kernel's own reply)."""
        if self._answer is None:
            why = self.watch.over() if self.watch is not None else "past its time limit"
            if why is None:
                return None
            self.interrupted = why
            error = await self._async_handle_timeout(timeout or 0, cell)  # nbclient's interrupt
            # NOTE: nbclient would then wait ``iopub_timeout`` (wall clock) for the kernel to
            # finish the cell. Whether it will is decided here, from what it does: it answers
            # when its reply comes; it ignores the interrupt when it goes on using CPU.
            fallback = {"content": {"status": "error", "ename": "CellTimeoutError", "evalue": ""}}
            watch = Stopwatch(self.kernel, ANSWER_CPU_SECONDS, IOPUB_SECONDS)
            self._answer = (watch, error or fallback)
            return None
        watch, error = self._answer
        if watch.over() is None:
            return None
        self.iopub_timeout = 0  # nbclient gives up on its outputs at once
        return error

    def _channels(self) -> tuple[zmq.Poller, zmq.Poller, zmq.Socket, zmq.Socket]:
        """A poller of both sockets, one of IOPub alone, and the shell and IOPub sockets,
        shadowing the client's (made once per client)."""
        assert self.kc is not None
        if self._sockets is None or self._sockets[0] is not self.kc:
            shell: zmq.Socket = zmq.Socket.shadow(self.kc.shell_channel.socket.underlying)
            iopub: zmq.Socket = zmq.Socket.shadow(self.kc.iopub_channel.socket.underlying)
            both, outputs = zmq.Poller(), zmq.Poller()
            both.register(shell, zmq.POLLIN)
            both.register(iopub, zmq.POLLIN)
            outputs.register(iopub, zmq.POLLIN)
            self._sockets = (self.kc, both, outputs, shell, iopub)
        return self._sockets[1:]


def _take(socket: zmq.Socket) -> list[bytes] | None:
    """The next message's frames on ``socket`` if one has come, without waiting."""
    try:
        return socket.recv_multipart(zmq.NOBLOCK)
    except zmq.Again:
        return None
