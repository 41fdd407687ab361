"""Resources: loops, exits, crashes, bombs, floods, daemons and stdin.

The CPU-time limits (and their wall-clock backstop), the output caps and stdin are the kernel
runner's; memory is ``prlimit``'s, which a machine without bubblewrap keeps. The fork bomb and
the daemon need bubblewrap: its PID namespace ends them with the kernel.
"""

from __future__ import annotations

from tests.adversarial.attacks.kit import (
    GRADED,
    KERNEL_DIED,
    OUTPUT_LIMIT,
    TIMED_OUT,
    WRONG,
    Catalogue,
    Context,
    all_wrong,
    correct,
    fill,
)

ATTACKS = Catalogue("resources")


@ATTACKS.attack(
    "infinite_loop",
    12,
    TIMED_OUT,
    "`while True: pass` in matmul_broadcast: interrupted, the other functions still score",
)
def _infinite_loop(ctx: Context) -> str:
    return correct(ctx, matmul="def matmul_broadcast(A, B):\n    while True:\n        pass\n")


@ATTACKS.attack(
    "sigint_ignored",
    11,
    TIMED_OUT,
    "bilinear_sample (the last function) ignores SIGINT and loops: the points before it stay",
)
def _sigint_ignored(ctx: Context) -> str:
    loop = """\
def bilinear_sample(image, x, y):
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        pass
"""
    return correct(ctx, bilinear=loop)


@ATTACKS.attack(
    "sys_exit",
    12,
    GRADED,
    "sys.exit() inside compose_affine: an exception like any other",
)
def _sys_exit(ctx: Context) -> str:
    body = 'def compose_affine(*matrices):\n    import sys\n\n    sys.exit("giving up")\n'
    return correct(ctx, compose=body)


@ATTACKS.attack(
    "os_exit",
    6,
    KERNEL_DIED,
    "os._exit(0) inside affine_apply: the kernel dies at its first test; the cells after score 0",
)
def _os_exit(ctx: Context) -> str:
    return correct(ctx, affine="def affine_apply(M, points):\n    import os\n\n    os._exit(0)\n")


@ATTACKS.attack(
    "sigkill_self",
    8,
    KERNEL_DIED,
    "os.kill(os.getpid(), SIGKILL) inside compose_affine",
)
def _sigkill_self(ctx: Context) -> str:
    body = (
        "def compose_affine(*matrices):\n    import os, signal\n\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    return correct(ctx, compose=body)


@ATTACKS.attack(
    "segfault",
    11,
    KERNEL_DIED,
    "ctypes.string_at(0) inside bilinear_sample (the last function): a segmentation fault; "
    "the points before it stay",
)
def _segfault(ctx: Context) -> str:
    body = "def bilinear_sample(image, x, y):\n    import ctypes\n\n    ctypes.string_at(0)\n"
    return correct(ctx, bilinear=body)


@ATTACKS.attack(
    "memory_bomb",
    12,
    GRADED,
    "bytearray(64 GiB) inside broadcast_shape: MemoryError under the address-space limit",
)
def _memory_bomb(ctx: Context) -> str:
    body = (
        "def broadcast_shape(shape_a, shape_b):\n"
        "    hoard = bytearray(64 * 2**30)\n"
        "    return tuple(hoard[:0])\n"
    )
    return correct(ctx, broadcast=body)


@ATTACKS.attack(
    "fork_bomb",
    0,
    (GRADED, TIMED_OUT),
    "a shell fork bomb started from bilinear_sample (wrong code everywhere, so the score does "
    "not hang on how slow the bomb makes the probes): the process limit holds it, it dies with "
    "the sandbox, the other submissions grade as usual",
    sandbox=True,
)
def _fork_bomb(ctx: Context) -> str:
    body = WRONG["bilinear"].replace(
        '"""Nearest neighbour instead of bilinear: no gradient to x and y."""',
        f'import os\n\n    os.system("f(){{ f|f& }}; f  # {ctx.token}-forkbomb")',
    )
    return all_wrong(ctx, bilinear=body)


@ATTACKS.attack(
    "output_one_line",
    15,
    OUTPUT_LIMIT,
    "one 20 MB line printed by the first answer cell (correct code)",
)
def _output_one_line(ctx: Context) -> str:
    return correct(ctx, 'print("x" * 20_000_000)\n')


@ATTACKS.attack(
    "output_many_lines",
    15,
    OUTPUT_LIMIT,
    "a million short lines printed by the first answer cell (correct code)",
)
def _output_many_lines(ctx: Context) -> str:
    return correct(ctx, 'for _chunk in range(1000):\n    print("\\n".join(["spam"] * 1000))\n')


DAEMON = """\
import os as _os
import shutil as _shutil

_sleep = _shutil.which("sleep")
_child = _os.fork()
if _child == 0:
    try:
        _os.setsid()
        if _os.fork() == 0:
            _os.execv(_sleep, [__ARGV0__, "86400"])
    finally:
        _os._exit(0)
_os.waitpid(_child, 0)
print("daemon started")
"""


@ATTACKS.attack(
    "daemon",
    15,
    GRADED,
    "a daemon (double fork, setsid) sleeping forever with a marker in its argv (correct code)",
    sandbox=True,
)
def _daemon(ctx: Context) -> str:
    return correct(ctx, fill(DAEMON, argv0=f"{ctx.token}-daemon"))


@ATTACKS.attack(
    "stdin_input",
    12,
    GRADED,
    "input() inside broadcast_shape: fails at once (no stdin), not at the timeout",
)
def _stdin_input(ctx: Context) -> str:
    body = (
        "def broadcast_shape(shape_a, shape_b):\n"
        '    answer = input("broadcast shape? ")\n'
        "    return tuple(int(v) for v in answer.split())\n"
    )
    return correct(ctx, broadcast=body)
