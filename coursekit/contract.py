"""The layer contract: :class:`Layer`, the base class of every hand-written layer, and
:class:`Sequential`, which chains layers. Import both from :mod:`coursekit.layers`, which
documents the contract and holds the layers themselves."""

from __future__ import annotations

from collections.abc import Iterator

import torch

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
