"""The layer contract every from-scratch chapter builds on, and the check that holds layers to it.

A layer is an object with two methods::

    out = layer.forward(x)      # x: (N, ...) -> out: (N, ...); stores what backward needs
    dx = layer.backward(dout)   # dout: the shape of out -> dx: the shape of x

``backward`` receives ``dout``, the gradient of the loss with respect to the layer's last output,
returns ``dx``, the gradient with respect to its last input, and sets one attribute
``grad_<name>`` per parameter, with the parameter's shape (``grad_W`` for ``W``). Chapter 3 derives
the contract; the convolution and autoencoder chapters reuse it unchanged.

The graded layers themselves (linear, softmax, batch normalization, ...) are not here: students
write them. This module holds only the contract (:class:`Layer`), the container that chains layers
(:class:`Sequential`) and the gradient check (:func:`check_layer`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator

import torch

from coursekit.checks import assert_close, numerical_vjp, relative_error

Tensor = torch.Tensor


class Layer:
    """Base class of the course's hand-written layers: forward stores, backward fills gradients.

    **The contract.** For a batch ``x: (N, ...)``:

    - ``forward(x) -> out``, ``out: (N, ...)``, keeps on ``self`` whatever ``backward`` will need
      (the input, a mask, the normalized values...);
    - ``backward(dout) -> dx``, with ``dout`` the shape of ``out`` and ``dx`` the shape of ``x``,
      uses what the last ``forward`` stored. It *sets* (does not accumulate) ``grad_<name>`` for
      every name in ``param_names``, each with the shape of its parameter.

    **The batch mean.** The loss is the mean over the batch, so its gradient already carries the
    factor ``1/N`` when it reaches a layer (see the notation page). A layer never divides by ``N``
    to average its gradients: ``grad_W = x.T @ dout`` is already a mean. (A layer whose *forward*
    takes a mean over the batch, such as batch normalization, differentiates that mean like any
    other operation.)

    **Parameters** are tensors stored as attributes under the names listed in ``param_names``;
    :meth:`params` and :meth:`grads` return them as dicts, name -> tensor. Layers use plain tensor
    operations and never switch autograd off themselves: the caller runs them under
    ``torch.no_grad()`` when autograd should record nothing, and :func:`check_layer` runs them
    with autograd on, to compare against it.

    **Modes.** ``training`` is ``True`` after construction; :meth:`eval` and :meth:`train` switch
    it, for layers such as batch normalization that behave differently at evaluation.
    """

    #: Names of the parameter attributes, in a fixed order: ``("W", "b")`` for a linear layer.
    param_names: tuple[str, ...] = ()
    #: Train mode (batch statistics, ...) when ``True``; evaluation mode when ``False``.
    training: bool = True

    def forward(self, x: Tensor) -> Tensor:
        """``x: (N, ...) -> out: (N, ...)``; store what :meth:`backward` needs."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward")

    def backward(self, dout: Tensor) -> Tensor:
        """``dout`` (the shape of ``out``) -> ``dx`` (the shape of ``x``); set ``grad_<name>``."""
        raise NotImplementedError(f"{type(self).__name__} does not define backward")

    def __call__(self, x: Tensor) -> Tensor:
        return self.forward(x)

    def params(self) -> dict[str, Tensor]:
        """The parameters, name -> tensor (the tensors themselves, not copies)."""
        return {name: getattr(self, name) for name in self.param_names}

    def grads(self) -> dict[str, Tensor]:
        """The gradients the last :meth:`backward` set, name -> tensor; same keys as params()."""
        found = {}
        for name in self.param_names:
            grad = getattr(self, f"grad_{name}", None)
            if grad is None:
                raise AttributeError(
                    f"{type(self).__name__} has no grad_{name}: call backward (or zero_grad) first"
                )
            found[name] = grad
        return found

    def zero_grad(self) -> None:
        """Set every ``grad_<name>`` to zeros of its parameter's shape, dtype and device."""
        for name, param in self.params().items():
            setattr(self, f"grad_{name}", torch.zeros_like(param))

    def train(self, mode: bool = True) -> Layer:
        """Switch to train mode (``mode=True``) or evaluation mode; returns the layer."""
        self.training = mode
        return self

    def eval(self) -> Layer:
        """Switch to evaluation mode; returns the layer."""
        return self.train(False)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}={tuple(v.shape)}" for k, v in self.params().items())
        return f"{type(self).__name__}({shapes})"


class Sequential(Layer):
    """Layers applied one after another: forward in order, backward in reverse order.

    ``params()`` and ``grads()`` name each tensor ``"<index>.<name>"``, such as ``"0.W"`` for the
    ``W`` of the first layer, so one optimizer loop updates them all.
    """

    def __init__(self, *layers: Layer) -> None:
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layer {i} is a {type(layer).__name__}, not a coursekit Layer")
        self.layers: list[Layer] = list(layers)

    def forward(self, x: Tensor) -> Tensor:
        """``x: (N, ...)`` through every layer in order; each stores its own cache."""
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dout: Tensor) -> Tensor:
        """The chain rule: each layer turns d(its output) into d(its input), last layer first."""
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout

    def params(self) -> dict[str, Tensor]:
        return {f"{i}.{k}": v for i, layer in self._indexed() for k, v in layer.params().items()}

    def grads(self) -> dict[str, Tensor]:
        return {f"{i}.{k}": v for i, layer in self._indexed() for k, v in layer.grads().items()}

    def zero_grad(self) -> None:
        for layer in self.layers:
            layer.zero_grad()

    def train(self, mode: bool = True) -> Sequential:
        self.training = mode
        for layer in self.layers:
            layer.train(mode)
        return self

    def _indexed(self) -> Iterator[tuple[int, Layer]]:
        return iter(enumerate(self.layers))

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __repr__(self) -> str:
        inner = ",\n".join(f"  {layer!r}" for layer in self.layers)
        return f"Sequential(\n{inner}\n)"


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
