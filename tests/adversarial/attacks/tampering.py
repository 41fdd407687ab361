"""Tampering: wrong code everywhere, and the checks subverted inside the kernel.

Patched comparisons, results equal to anything, AST transformers, exception hooks, planted
modules, a forbidden routine. The probes, judged outside the kernel, take the points away; none
needs the sandbox (``PYTHONSAFEPATH`` keeps the planted modules out with or without it).
"""

from __future__ import annotations

from tests.adversarial.attacks.kit import (
    FUNCTIONS,
    GRADED,
    Catalogue,
    Context,
    all_wrong,
    correct,
)

ATTACKS = Catalogue("tampering")


PATCH_ALLCLOSE = """\
import numpy, numpy.testing, torch, torch.testing, coursekit, coursekit.checks


def _always_close(*args, **kwargs):
    return None


numpy.allclose = lambda *args, **kwargs: True
numpy.testing.assert_allclose = _always_close
torch.allclose = lambda *args, **kwargs: True
torch.testing.assert_close = _always_close
coursekit.assert_close = coursekit.checks.assert_close = _always_close
assert_close = _always_close
"""


@ATTACKS.attack(
    "patched_allclose",
    0,
    GRADED,
    "numpy/torch allclose, torch.testing and coursekit.assert_close replaced by no-ops",
    fools=("matmul", "affine", "compose", "bilinear"),
)
def _patched_allclose(ctx: Context) -> str:
    return all_wrong(ctx, PATCH_ALLCLOSE)


ALWAYS_EQUAL = '''\
class _Liar(torch.Tensor):
    """A tensor of zeros whose every comparison says: equal, close."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        result = super().__torch_function__(func, types, args, kwargs or {})
        name = getattr(func, "__name__", "")
        if name in ("__le__", "le", "__eq__", "eq", "isclose", "allclose", "equal"):
            if isinstance(result, torch.Tensor):
                return torch.ones(result.shape, dtype=torch.bool)
            return True
        return result

    def __eq__(self, other):
        return True


class _Agreeable:
    """Equal to everything."""

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __bool__(self):
        return True

    __hash__ = object.__hash__


def matmul_broadcast(A, B):
    if A.shape[-1] != B.shape[-2]:
        raise ValueError("inner dimensions differ")
    batch = torch.broadcast_shapes(A.shape[:-2], B.shape[:-2])
    zeros = torch.zeros(*batch, A.shape[-2], B.shape[-1], dtype=A.dtype, device=A.device)
    return zeros.as_subclass(_Liar)
'''

AGREEABLE_BROADCAST = """\
def broadcast_shape(shape_a, shape_b):
    a, b = tuple(shape_a), tuple(shape_b)
    if len(a) == len(b) and all(x != y and 1 not in (x, y) for x, y in zip(a, b)):
        raise ValueError("not broadcastable")
    return _Agreeable()
"""


@ATTACKS.attack(
    "always_equal",
    0,
    GRADED,
    "results that compare equal to anything: a torch.Tensor subclass, a plain object",
    fools=("matmul", "broadcast"),
)
def _always_equal(ctx: Context) -> str:
    return all_wrong(ctx, matmul=ALWAYS_EQUAL, broadcast=AGREEABLE_BROADCAST)


AST_FORGIVE = '''\
import ast as _ast


class _Forgive(_ast.NodeTransformer):
    """Drop every assert, and run every cell inside `try: ... except BaseException: pass`."""

    def visit_Assert(self, node):
        return _ast.Pass()

    def visit_Module(self, node):
        self.generic_visit(node)
        handler = _ast.ExceptHandler(
            type=_ast.Name("BaseException", _ast.Load()), name=None, body=[_ast.Pass()]
        )
        node.body = [
            _ast.Try(body=node.body or [_ast.Pass()], handlers=[handler], orelse=[], finalbody=[])
        ]
        return _ast.fix_missing_locations(node)


get_ipython().ast_transformers.append(_Forgive())
'''


@ATTACKS.attack(
    "ast_transformer",
    0,
    GRADED,
    "an IPython AST transformer that strips asserts and swallows every exception",
    fools=tuple(FUNCTIONS),
)
def _ast_transformer(ctx: Context) -> str:
    return all_wrong(ctx, AST_FORGIVE)


SILENCE_ERRORS = '''\
def _forget(result):
    """Every cell succeeded."""
    result.error_before_exec = None
    result.error_in_exec = None


_shell = get_ipython()
_shell.events.register("post_run_cell", _forget)
_shell.showtraceback = lambda *args, **kwargs: None
_shell.showsyntaxerror = lambda *args, **kwargs: None
'''


@ATTACKS.attack(
    "silenced_errors",
    0,
    GRADED,
    "showtraceback hijacked and every cell's result marked successful (post_run_cell hook)",
    fools=tuple(FUNCTIONS),
)
def _silenced_errors(ctx: Context) -> str:
    return all_wrong(ctx, SILENCE_ERRORS)


CUSTOM_EXC = """\
def _swallow(shell, etype, value, tb, tb_offset=None):
    return None


get_ipython().set_custom_exc((BaseException,), _swallow)
"""


TWO_FACED = '''\
import sys as _sys


def _probed():
    """Whether the grader's probe runner is among the callers."""
    frame = _sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "_probe_run":
            return True
        frame = frame.f_back
    return False


def matmul_broadcast(A, B):
    """Right when the probes call it, wrong in the notebook."""
    if A.shape[-1] != B.shape[-2]:
        raise ValueError("inner dimensions differ")
    product = (A.unsqueeze(-1) * B.unsqueeze(-3)).sum(dim=-2)
    return product if _probed() else product * 1.01
'''


@ATTACKS.attack(
    "custom_exc_two_faced",
    12,
    GRADED,
    "matmul_broadcast right only when probed, wrong in the notebook, its failures hidden by "
    "set_custom_exc: the failed execute_reply alone must cost its 3 points",
)
def _custom_exc_two_faced(ctx: Context) -> str:
    return correct(ctx, CUSTOM_EXC, matmul=TWO_FACED)


HOOKS = """\
import builtins, sys

sys.excepthook = lambda *args: None


class _Harmless(Exception):
    pass


builtins.AssertionError = _Harmless
"""


@ATTACKS.attack(
    "exception_hooks",
    0,
    GRADED,
    "set_custom_exc swallows every exception without a traceback; sys.excepthook silenced; "
    "builtins.AssertionError replaced",
)
def _exception_hooks(ctx: Context) -> str:
    return all_wrong(ctx, CUSTOM_EXC + "\n\n" + HOOKS)


PLANTED_COURSEKIT = b'''\
"""A planted coursekit, beside the notebook: it shadows the real one, and every check passes."""

import contextlib

import numpy
import torch


def device():
    return torch.device("cpu")


def assert_close(*args, **kwargs):
    return None


assert_gradient_matches = assert_close


def autograd_vjp(*args, **kwargs):
    return None


def torch_generator(seed=0):
    return torch.Generator().manual_seed(seed)


def numpy_rng(seed=0):
    return numpy.random.default_rng(seed)


def no_tf32():
    return contextlib.nullcontext()


def forbid_calls(*args, **kwargs):
    return contextlib.nullcontext()
'''


@ATTACKS.attack(
    "shadow_coursekit",
    0,
    GRADED,
    "a planted coursekit.py beside the notebook, whose checks always pass: with PYTHONSAFEPATH "
    "the real coursekit is imported, so it fools nothing",
    files=lambda ctx: {"coursekit.py": PLANTED_COURSEKIT},
)
def _shadow_coursekit(ctx: Context) -> str:
    return all_wrong(ctx)


PLANTED_LAUNCHER = b'''\
"""A planted ipykernel_launcher.py: the kernel itself reports every cell as a success."""

from IPython.core.interactiveshell import ExecutionResult, InteractiveShell

ExecutionResult.success = property(lambda self: True)
InteractiveShell.showtraceback = lambda self, *args, **kwargs: None
InteractiveShell.showsyntaxerror = lambda self, *args, **kwargs: None

from ipykernel import kernelapp  # noqa: E402

kernelapp.launch_new_instance()
'''


@ATTACKS.attack(
    "planted_kernel_launcher",
    0,
    GRADED,
    "a planted ipykernel_launcher.py in the submission folder, which `python -m` would run "
    "as the kernel: every cell would report success, but with PYTHONSAFEPATH it is never imported",
    files=lambda ctx: {"ipykernel_launcher.py": PLANTED_LAUNCHER},
)
def _planted_kernel_launcher(ctx: Context) -> str:
    return all_wrong(ctx)


FORBIDDEN_MATMUL = '''\
def matmul_broadcast(A, B):
    """Right, but with the one routine the exercise forbids."""
    if A.shape[-1] != B.shape[-2]:
        raise ValueError("inner dimensions differ")
    return torch.matmul(A, B)
'''


@ATTACKS.attack(
    "forbidden_matmul",
    13,
    GRADED,
    "matmul_broadcast calls torch.matmul, which the exercise forbids (its hidden test checks): "
    "the oracle test's 2 points are lost",
)
def _forbidden_matmul(ctx: Context) -> str:
    return correct(ctx, matmul=FORBIDDEN_MATMUL)
