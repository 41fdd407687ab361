"""Two waits of jupyter_client's that cost a kernel's start and end wall-clock time, and no CPU.

A warm kernel answers in a tenth of a second; jupyter_client then waits twice for nothing:

- :meth:`ReadyClient.wait_for_ready` is ready once the kernel has answered ``kernel_info`` and
  its IOPub channel has said something (ipykernel's ``iopub_welcome``, sent when the client's
  subscription arrives, or a status message): the channel is connected. jupyter_client's own wait
  then drains IOPub until it has been quiet for 0.2 s, which every kernel pays in full. Here only
  what is already queued is drained (nbclient ignores any message that is not a reply to its own
  requests anyway).
- :func:`ended`: a killed kernel is gone within milliseconds, but jupyter_client checks whether
  it is alive every 0.1 s, and the first check comes too soon. The forked provisioner's ``kill``
  waits on the kernel's pidfd instead, so that the first check finds it gone.

Both are wall-clock time that a worker spends idle, once per kernel: about 0.3 s a submission.

And one loop that jupyter_client leaves open: :func:`own_loop` closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Iterator
from queue import Empty
from typing import Any

from jupyter_client.asynchronous import AsyncKernelClient

IOPUB_SECONDS = 0.2  # for the IOPub channel's first message, after kernel_info's reply


class ReadyClient(AsyncKernelClient):
    """jupyter_client's asynchronous client, ready as soon as its kernel is."""

    async def wait_for_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (math.inf if timeout is None else timeout)
        while True:
            self.kernel_info()
            reply = await _get(self.shell_channel, 1)
            answered = reply is not None and reply["msg_type"] == "kernel_info_reply"
            # and a message on IOPub: the channel is connected (else, ask again)
            if answered and await _get(self.iopub_channel, IOPUB_SECONDS) is not None:
                self._handle_kernel_info_reply(reply)  # type: ignore[arg-type]
                break
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")
        while await self.iopub_channel.msg_ready():  # what is queued now, without waiting more
            await self.iopub_channel.get_msg(timeout=0)


async def _get(channel: Any, timeout: float) -> dict[str, Any] | None:
    try:
        return await channel.get_msg(timeout=timeout)
    except Empty:
        return None


async def ended(pidfd: int, within: float) -> bool:
    """Whether the process of ``pidfd`` has ended, waiting up to ``within`` seconds for it."""
    loop = asyncio.get_running_loop()
    gone: asyncio.Future[None] = loop.create_future()

    def done() -> None:
        if not gone.done():
            gone.set_result(None)

    loop.add_reader(pidfd, done)
    try:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(gone, within)
    finally:
        loop.remove_reader(pidfd)
    return gone.done() and not gone.cancelled()


@contextlib.contextmanager
def own_loop() -> Iterator[None]:
    """The event loop that nbclient runs a kernel on (jupyter_core's, for this thread and
    context; it makes a new one once the last is closed), shut down and closed afterwards, with
    the threads it started.

    NOTE: jupyter_core keeps one loop per context and never closes it, and a Dask worker runs
    each task in a fresh copy of its context: every submission left a loop, its executor's thread
    and its sockets behind, and the garbage collector closed the loops later, from wherever it
    ran. On CPython 3.11 one such close, inside Dask's profiler (``sys._current_frames``), waits
    for the GIL while holding the interpreter's thread lock: the worker deadlocked.
    """
    from jupyter_core.utils import ensure_event_loop

    loop = ensure_event_loop()
    try:
        yield
    finally:
        if not loop.is_closed() and not loop.is_running():
            with contextlib.suppress(RuntimeError):
                loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()
