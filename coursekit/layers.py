"""The course's layers in one home: the contract, the layers chapter 3 derives, and the check.

A layer is an object with two methods::

    out = layer.forward(x)      # x: (N, ...) -> out: (N, ...); stores what backward needs
    dx = layer.backward(dout)   # dout: the shape of out -> dx: the shape of x

``backward`` receives ``dout``, the gradient of the loss with respect to the layer's last output,
returns ``dx``, the gradient with respect to its last input, and sets one attribute
``grad_<name>`` per parameter, with the parameter's shape (``grad_W`` for ``W``). Chapter 3 derives
the contract and every layer here; the convolution and autoencoder chapters reuse them unchanged.

- the contract: :class:`Layer` and :class:`Sequential` (defined in :mod:`coursekit.contract`);
- the layers (defined in :mod:`coursekit.nn`): :class:`Linear`, :class:`ReLU`, :class:`Sigmoid`,
  :class:`Tanh`, :class:`Softmax`, :class:`Flatten` and :class:`BatchNorm`;
- the losses, ``forward(scores, labels) -> loss`` and ``backward() -> dscores``:
  :class:`CrossEntropy` (of probabilities, the unstable way), :class:`SoftmaxCrossEntropy` (of
  logits, fused and stable), and :class:`WithLabels`, which makes a loss a layer for the check;
- the gradient check :func:`check_layer`, and :func:`forbid_layers`, with which an exercise checks
  that an answer does not borrow these classes.

Chapter 3's exercise grades the layers that come *next* (layer normalization, log-softmax, GELU,
dropout, a residual block), so none of its answers is here.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

import torch

from coursekit.checks import assert_close, numerical_vjp, relative_error
from coursekit.contract import Layer, Sequential
from coursekit.nn import (
    LAYERS,
    BatchNorm,
    CrossEntropy,
    Flatten,
    Linear,
    Loss,
    ReLU,
    Sigmoid,
    Softmax,
    SoftmaxCrossEntropy,
    Tanh,
    WithLabels,
    forbid_layers,
)

__all__ = [
    "LAYERS",
    "BatchNorm",
    "CrossEntropy",
    "Flatten",
    "Layer",
    "Linear",
    "Loss",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "SoftmaxCrossEntropy",
    "Tanh",
    "WithLabels",
    "check_layer",
    "forbid_layers",
]

Tensor = torch.Tensor


def _require_float64(named: Iterable[tuple[str, Tensor]]) -> None:
    for name, tensor in named:
        if tensor.dtype != torch.float64:
            raise ValueError(
                f"check_layer runs in float64, but {name} is {tensor.dtype}: build the layer and "
                f"its input in float64 (central differences drown in float32 rounding)"
            )


def _autograd_oracle(layer: Layer, x: Tensor, dout: Tensor) -> dict[str, Tensor]:
    """dL/dx and dL/d(param) by autograd, for ``L = sum(layer.forward(x) * dout)``."""
    x = x.detach().clone().requires_grad_(True)
    params = layer.params()
    for param in params.values():
        param.requires_grad_(True)
    try:
        with torch.enable_grad():
            out = layer.forward(x)
            if not out.requires_grad:
                raise AssertionError(
                    f"{type(layer).__name__}.forward cut the autograd graph (no gradient reaches "
                    "its output): use tensor operations, not .item(), NumPy or torch.no_grad()"
                )
            found = torch.autograd.grad(out, [x, *params.values()], dout, allow_unused=True)
    finally:
        for param in params.values():
            param.requires_grad_(False)
    names = ["dx", *(f"grad_{k}" for k in params)]
    tensors = [x, *params.values()]
    return {
        n: torch.zeros_like(t) if g is None else g
        for n, t, g in zip(names, tensors, found, strict=True)
    }


def _numerical(layer: Layer, x: Tensor, dout: Tensor, eps: float) -> dict[str, Tensor]:
    """The same gradients by central differences, one entry at a time."""
    with torch.no_grad():
        found = {"dx": numerical_vjp(layer.forward, x, dout, eps=eps)}
        for name, param in layer.params().items():
            original = param.clone()

            def f(value: Tensor, param: Tensor = param) -> Tensor:
                param.copy_(value)  # in place: the layer keeps the same tensor object
                return layer.forward(x)

            found[f"grad_{name}"] = numerical_vjp(f, original, dout, eps=eps)
            param.copy_(original)
    return found


def check_layer(
    layer: Layer,
    x: Tensor,
    *,
    seed: int = 0,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-7,
    autograd: bool = True,
) -> dict[str, float]:
    """Check ``layer.backward`` (``dx`` and every ``grad_<name>``) in float64; raise if wrong.

    A random upstream gradient ``dout`` (seeded by ``seed``, the shape of ``layer.forward(x)``)
    defines the scalar ``L = sum(forward(x) * dout)``. Its gradients from ``backward(dout)`` are
    compared with central differences of step ``eps`` (tolerance ``rtol``, ``atol``) and, when
    ``autograd`` is true, with PyTorch's autograd through the same ``forward`` (tolerance 1e-8
    relative, 1e-10 absolute: the two should agree to rounding). A random ``dout`` rather than
    ones catches backward passes that are right only along one direction.

    ``x`` (N, ...) and every parameter must be float64, on any one device, and ``forward`` must be
    deterministic. The layer is not modified: the checks run on copies. Returns the relative error
    (:func:`coursekit.relative_error`) of each gradient against central differences, keyed
    ``"dx"`` and ``"grad_<name>"``: about 1e-7 or below is right; 1e-4 is suspicious; 1e-2 or
    more is wrong, unless a kink (ReLU at 0) lies within ``eps`` of an input.
    """
    _require_float64([("x", x), *layer.params().items()])
    x = x.detach()
    with torch.no_grad():
        out = copy.deepcopy(layer).forward(x)
    gen = torch.Generator().manual_seed(seed)
    dout = torch.randn(out.shape, generator=gen, dtype=torch.float64).to(x.device)

    ours_layer = copy.deepcopy(layer)
    with torch.no_grad():
        ours_layer.forward(x)
        for name in ours_layer.param_names:  # a backward that forgets a gradient must not pass
            setattr(ours_layer, f"grad_{name}", None)
        dx = ours_layer.backward(dout)
        try:
            grads = ours_layer.grads()
        except AttributeError as err:
            raise AssertionError(f"backward did not set every gradient: {err}") from None
        ours = {"dx": dx, **{f"grad_{k}": v for k, v in grads.items()}}

    title = type(layer).__name__
    numerical = _numerical(copy.deepcopy(layer), x, dout, eps)
    for name, expected in numerical.items():
        assert_close(
            ours[name],
            expected,
            rtol=rtol,
            atol=atol,
            name=f"{title} {name} vs central differences",
        )
    if autograd:
        oracle = _autograd_oracle(copy.deepcopy(layer), x, dout)
        for name, expected in oracle.items():
            assert_close(
                ours[name], expected, rtol=1e-8, atol=1e-10, name=f"{title} {name} vs autograd"
            )
    return {name: relative_error(ours[name], numerical[name]) for name in numerical}
