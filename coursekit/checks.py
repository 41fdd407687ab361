"""Checks shared by students, solution notebooks and tests.

Every failure says what was expected, what came, and where to look: shapes first, then the worst
element, its index and the tolerance. Gradient checks run in float64 through a random upstream
gradient ``dout``, so a bug that only shows for some directions cannot hide behind ``dout = 1``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

Tensor = torch.Tensor

#: Every torch entry point that multiplies matrices: what "no matmul" forbids.
MATMUL_CALLS = frozenset(
    {
        "matmul",
        "mm",
        "bmm",
        "mv",
        "dot",
        "vdot",
        "inner",
        "einsum",
        "tensordot",
        "linear",
        "addmm",
        "addbmm",
        "baddbmm",
        "addmv",
        "chain_matmul",
        "multi_dot",
        "matrix_power",
        "__matmul__",
        "__rmatmul__",
        "__imatmul__",
    }
)


def _as_tensor(value: Any, like: Tensor | None = None) -> Tensor:
    if isinstance(value, Tensor):
        return value.detach()
    tensor = torch.as_tensor(value)
    if like is not None and tensor.is_floating_point() and like.is_floating_point():
        tensor = tensor.to(like.dtype)
    return tensor


def assert_close(
    actual: Any,
    expected: Any,
    *,
    rtol: float = 1e-7,
    atol: float = 1e-9,
    name: str = "result",
) -> None:
    """Raise ``AssertionError`` unless ``|actual - expected| <= atol + rtol * |expected|``.

    ``actual`` and ``expected`` may be tensors, arrays or numbers; they are compared on the CPU in
    float64 so the verdict does not depend on the device. The message names ``name``, both shapes,
    the worst element with its index, and the tolerance.
    """
    exp = _as_tensor(expected)
    act = _as_tensor(actual, like=exp)
    if tuple(act.shape) != tuple(exp.shape):
        raise AssertionError(
            f"{name}: expected shape {tuple(exp.shape)}, got shape {tuple(act.shape)}"
        )
    if act.dtype == torch.bool or exp.dtype == torch.bool:
        act_cmp, exp_cmp = act.cpu().to(torch.int64), exp.cpu().to(torch.int64)
    else:
        act_cmp, exp_cmp = act.cpu().to(torch.float64), exp.cpu().to(torch.float64)
    if act_cmp.numel() == 0:
        return
    finite_mismatch = torch.isfinite(act_cmp) != torch.isfinite(exp_cmp)
    error = (act_cmp - exp_cmp).abs()
    allowed = atol + rtol * exp_cmp.abs()
    bad = finite_mismatch | ~(error <= allowed)
    both_nan = torch.isnan(act_cmp) & torch.isnan(exp_cmp)
    bad &= ~both_nan
    if not bool(bad.any()):
        return
    excess = torch.where(bad, torch.nan_to_num(error - allowed, nan=float("inf")), -1.0)
    flat = int(torch.argmax(excess.reshape(-1)))
    index = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), exp_cmp.shape))
    count = int(bad.sum())
    raise AssertionError(
        f"{name}: {count} of {exp_cmp.numel()} elements differ (shape {tuple(exp.shape)}); "
        f"worst at index {index}: expected {exp_cmp[index].item():.10g}, "
        f"got {act_cmp[index].item():.10g} "
        f"(|error| {error[index].item():.3g} > atol {atol:g} + rtol {rtol:g} * |expected|)"
    )


def relative_error(a: Tensor, b: Tensor, eps: float = 1e-12) -> float:
    """``max |a - b| / max(|a|, |b|)``, elementwise, then the maximum: the gradient-check figure.

    Below about 1e-7 in float64 the two agree; around 1e-4 look closer; above 1e-2 something is
    wrong (unless a kink such as ReLU at 0 sits inside the finite-difference step).
    """
    a64, b64 = a.detach().cpu().to(torch.float64), b.detach().cpu().to(torch.float64)
    scale = torch.maximum(a64.abs(), b64.abs()).clamp_min(eps)
    return float(((a64 - b64).abs() / scale).max()) if a64.numel() else 0.0


def numerical_vjp(
    f: Callable[[Tensor], Tensor], x: Tensor, dout: Tensor, eps: float = 1e-6
) -> Tensor:
    """Central-difference estimate of ``d(sum(f(x) * dout)) / dx``: the vector-Jacobian product.

    ``x`` is not modified. Use float64: in float32 the step ``eps`` drowns in rounding error.
    """
    if x.dtype != torch.float64:
        raise ValueError(f"numerical_vjp needs float64 input, got {x.dtype}")
    x = x.detach().clone()
    grad = torch.zeros_like(x)
    flat_x, flat_grad = x.view(-1), grad.view(-1)
    for i in range(flat_x.numel()):
        original = flat_x[i].item()
        flat_x[i] = original + eps
        plus = (f(x) * dout).sum()
        flat_x[i] = original - eps
        minus = (f(x) * dout).sum()
        flat_x[i] = original
        flat_grad[i] = (plus - minus) / (2 * eps)
    return grad


def autograd_vjp(f: Callable[[Tensor], Tensor], x: Tensor, dout: Tensor) -> Tensor:
    """``d(sum(f(x) * dout)) / dx`` computed by PyTorch's autograd: the oracle for backward code."""
    x = x.detach().clone().requires_grad_(True)
    out = f(x)
    (grad,) = torch.autograd.grad(out, x, grad_outputs=dout)
    return grad


def assert_gradient_matches(
    f: Callable[[Tensor], Tensor],
    backward: Callable[[Tensor, Tensor], Tensor],
    x: Tensor,
    *,
    seed: int = 0,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-7,
    name: str = "gradient",
) -> None:
    """Check ``backward(x, dout)`` against a central-difference vector-Jacobian product.

    ``dout`` is drawn from a seeded generator with the shape of ``f(x)``; everything runs in
    float64 on the CPU.
    """
    x = x.detach().to("cpu", torch.float64)
    out_shape = f(x).shape
    dout = torch.randn(
        out_shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
    )
    expected = numerical_vjp(f, x, dout, eps=eps)
    assert_close(backward(x, dout), expected, rtol=rtol, atol=atol, name=name)


@contextlib.contextmanager
def no_tf32() -> Iterator[None]:
    """Turn TensorFloat-32 off for matmuls and convolutions inside the block.

    On Ampere and newer GPUs TF32 keeps about 10 mantissa bits, enough to fail a float32 check
    against a CPU result; checks need full precision.
    """
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = matmul
        torch.backends.cudnn.allow_tf32 = cudnn


class _CallRecorder(TorchFunctionMode):
    """Records the name of every torch function and tensor method called while it is active."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.names.add(getattr(func, "__name__", repr(func)))
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def forbid_calls(
    forbidden: frozenset[str] | set[str] = MATMUL_CALLS, *, what: str = "code"
) -> Iterator[None]:
    """Fail with ``AssertionError`` if the block calls any torch function named in ``forbidden``.

    Used to check that an exercise is solved the way it asks (by broadcasting, say) rather than
    by calling the library routine it re-implements.
    """
    recorder = _CallRecorder()
    with recorder:
        yield
    used = sorted(recorder.names & set(forbidden))
    if used:
        raise AssertionError(f"{what} must not call {', '.join(used)}")
