"""What the zygote (:mod:`autograder.sandboxed.zygote`) does once so that no kernel does it again:
the imports of the released setup cells, and the first uses that cost tenths of a second each.

Imported by the zygote by its path, beside it (the zygote imports nothing of ``autograder``).
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys

#: What the released setup cells import, once here instead of in every kernel.
#: Then what a kernel's start imports (ipykernel's debugger, with debugpy, is a tenth of a second).
IMPORTS = (
    "torch", "torch.nn.functional", "torch.func", "numpy", "coursekit", "coursekit.reruns",
    "ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell", "ipykernel.debugger",
    "IPython.core.completerlib", "IPython.core.debugger", "sqlite3", "tornado.queues",
    # and what ipykernel's app imports as it starts (measured: about 10 ms of each kernel's CPU)
    "IPython.core.logger", "IPython.core.oinspect", "IPython.extensions.storemagic",
    "IPython.utils.wildcard", "faulthandler", "tornado.platform.asyncio",
)  # fmt: skip


def warm_up() -> None:
    """First uses that would cost every kernel again, done once here: the probes call each
    function on the ``meta`` device too, whose first uses import hundreds of modules (a second
    of CPU); torch's first error costs half a second (its C++ unwinding tables are read then).
    So: a few common operations, with autograd, in both float types and on ``meta``, and one
    error. Deterministic (no generator is drawn from), and still one thread after it (``serve``
    reports the count), so that a fork copies all there is."""
    import torch
    import torch.nn.functional as F

    with contextlib.suppress(RuntimeError):
        torch.broadcast_shapes((2,), (3,))
    from IPython.core import ultratb  # a failing cell's traceback: its formatter's first use

    try:
        raise AssertionError("warm-up")
    except AssertionError:
        # in the kernels' mode (kernelspecs.IPYTHON_ARGUMENTS)
        ultratb.AutoFormattedTB(mode="Plain").structured_traceback(*sys.exc_info())
    for device, dtype in (("cpu", torch.float32), ("cpu", torch.float64), ("meta", torch.float64)):
        x = torch.ones(2, 2, 3, 4, dtype=dtype, device=device).requires_grad_(device == "cpu")
        w, flat = torch.ones(2, 2, 2, 2, dtype=dtype, device=device), x.flatten(1)
        grid = torch.zeros(2, 2, 2, 2, dtype=dtype, device=device)
        outputs = [
            flat @ flat.T, torch.einsum("bchw,bchw->b", x, x), F.conv2d(x, w, padding=1),
            F.conv_transpose2d(x, w), F.conv1d(flat[:, None], w[:1, :1, 0]), F.unfold(x, 2),
            F.grid_sample(x, grid, align_corners=False), F.max_pool2d(x, 2), F.avg_pool2d(x, 2),
            F.softmax(x, -1), F.log_softmax(x, -1), torch.tanh(x), torch.sigmoid(x), F.relu(x),
            F.linear(flat, flat), F.batch_norm(x, None, None, training=True),
            F.layer_norm(x, (4,)), F.mse_loss(x, x), F.binary_cross_entropy(torch.sigmoid(x), x),
            F.cross_entropy(flat, torch.zeros(2, dtype=torch.long, device=device)),
            torch.linalg.norm(flat, dim=1), torch.cumsum(x, 0), torch.where(x > 0, x, -x),
            torch.exp(x), torch.log1p(x.abs()), x.sum(dim=(1, 2)), x.mean(), x.var(), x.max(),
        ]  # fmt: skip
        if device == "cpu":
            sum(out.sum() for out in outputs).backward()


def load() -> dict[str, str]:
    """Import :data:`IMPORTS`, warm up, freeze the heap and put it in huge pages; return what
    the imports set in the environment (debugpy's ``PYDEVD_USE_FRAME_EVAL``), which a cold
    kernel's own imports set too, so each kernel's fresh environment gets it (not what the
    warm-up sets, such as torch's cache folder, named after the zygote's user)."""
    before = dict(os.environ)
    for name in IMPORTS:
        __import__(name)
    imported = {k: v for k, v in os.environ.items() if before.get(k) != v}
    warm_up()
    # NOTE: what the imports made is moved out of the collector's reach (gc.freeze, as its
    # documentation advises before forking): a kernel's collections then walk only the objects
    # it made itself, instead of touching, and so copying, every page of the zygote's heap
    gc.collect()
    gc.freeze()
    huge_pages()
    return imported


MADV_COLLAPSE = 25  # madvise(2): Linux 6.1 and later; elsewhere the call fails, and that is all
HUGE_PAGE = 2 << 20  # bytes in a transparent huge page on x86-64 and arm64 (4 KiB pages)


def huge_pages() -> int:
    """Put this process's private anonymous memory (the heap that the imports filled) in huge
    pages, where the kernel can (``MADV_COLLAPSE``); return how many mappings it took.

    NOTE: each of a kernel's three forks (guard, init, kernel) copies the zygote's page tables,
    and each of them frees its copy when it ends: about 9 ms of CPU for the fork and 11 ms for
    the end, on 4 KiB pages, 2.5 ms and 4.6 ms on huge pages (measured with 230 MB of it). A
    kernel that writes to a huge page it shares splits it first, which costs it a few ms more
    over its life; the guard and init, which write almost nothing, gain most. Best effort: where
    the kernel says no (an old kernel, THP turned off), the pages stay as they were."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    try:
        with open("/proc/self/maps") as maps:
            lines = maps.read().splitlines()
    except OSError:
        return 0
    done = 0
    for line in lines:
        fields = line.split()
        private_rw = fields[1][:2] == "rw" and fields[1][3] == "p"
        if not private_rw or fields[5:] not in ([], ["[heap]"]):  # anonymous, or the heap
            continue
        low, high = (int(x, 16) for x in fields[0].split("-"))
        start, end = -(-low // HUGE_PAGE) * HUGE_PAGE, high // HUGE_PAGE * HUGE_PAGE
        if end > start and libc.madvise(start, end - start, MADV_COLLAPSE) == 0:
            done += 1
    return done
