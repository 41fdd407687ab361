"""The course's hand-written layers and losses, derived in chapter 3 and reused by later chapters.

Import them from :mod:`coursekit.layers`, which documents the contract they follow. Every layer
uses plain tensor operations, so autograd can follow it (``check_layer`` relies on that), and
stores in ``forward`` what its ``backward`` needs. Losses are not layers: they take labels and
return a scalar, with ``forward(scores, labels) -> loss`` and ``backward() -> dscores``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import torch
import torch.nn.functional as F

from coursekit.contract import Layer
from coursekit.device import device as course_device

Tensor = torch.Tensor
DeviceLike = torch.device | str | None


def _on(device: DeviceLike) -> torch.device:
    return course_device() if device is None else torch.device(device)


class Linear(Layer):
    r"""``x @ W + b``: x (N, D_in) -> (N, D_out), with W (D_in, D_out) and b (D_out,).

    ``W`` is drawn on the CPU from ``generator`` with standard deviation ``std``, by default
    :math:`\sqrt{2 / D_\text{in}}` (He initialization, which keeps ReLU activations at scale),
    then moved to ``device`` (default :func:`coursekit.device`); ``b`` starts at 0. Backward:
    ``grad_W = x.T @ dout``, ``grad_b = dout.sum(0)``, ``dx = dout @ W.T``.
    """

    param_names = ("W", "b")

    def __init__(
        self,
        d_in: int,
        d_out: int,
        *,
        generator: torch.Generator,
        std: float | None = None,
        dtype: torch.dtype = torch.float64,
        device: DeviceLike = None,
    ) -> None:
        if d_in < 1 or d_out < 1:
            raise ValueError(f"Linear needs d_in, d_out >= 1, got {d_in}, {d_out}")
        std = math.sqrt(2.0 / d_in) if std is None else std  # He initialization by default
        if std < 0:
            raise ValueError(f"the weights' standard deviation must be >= 0, got {std}")
        draw = torch.randn(d_in, d_out, generator=generator, dtype=dtype)  # on the CPU
        self.W = (std * draw).to(_on(device))
        self.b = torch.zeros(d_out, dtype=dtype, device=_on(device))

    def forward(self, x: Tensor) -> Tensor:
        self.x = x  # grad_W needs the input
        return x @ self.W + self.b

    def backward(self, dout: Tensor) -> Tensor:
        self.grad_W = self.x.T @ dout  # (D_in, N) @ (N, D_out)
        self.grad_b = dout.sum(dim=0)  # the bias was broadcast over the rows
        return dout @ self.W.T  # (N, D_out) @ (D_out, D_in)


class ReLU(Layer):
    """max(x, 0), elementwise: x (N, ...) -> (N, ...); the derivative at exactly 0 is 0."""

    def forward(self, x: Tensor) -> Tensor:
        # NOTE: the derivative at exactly 0 is taken as 0 (a valid subgradient), as in PyTorch
        self.mask = x > 0
        return x * self.mask

    def backward(self, dout: Tensor) -> Tensor:
        return dout * self.mask


class Sigmoid(Layer):
    """1 / (1 + exp(-x)), elementwise: x (N, ...) -> (N, ...); stores the output y."""

    def forward(self, x: Tensor) -> Tensor:
        # NOTE: exp(-x) overflows for x << 0; exp(-|x|) <= 1 never does
        small = torch.exp(-x.abs())
        self.y = torch.where(x >= 0, 1 / (1 + small), small / (1 + small))
        return self.y

    def backward(self, dout: Tensor) -> Tensor:
        return dout * self.y * (1 - self.y)


class Tanh(Layer):
    """tanh(x), elementwise: x (N, ...) -> (N, ...); stores the output y."""

    def forward(self, x: Tensor) -> Tensor:
        self.y = torch.tanh(x)
        return self.y

    def backward(self, dout: Tensor) -> Tensor:
        return dout * (1 - self.y**2)


class Softmax(Layer):
    """Row-wise softmax: x (N, C) -> y (N, C), each row positive and summing to 1."""

    def forward(self, x: Tensor) -> Tensor:
        # NOTE: shifting each row by its maximum keeps exp from overflowing
        e = torch.exp(x - x.max(dim=1, keepdim=True).values)  # (N, C), entries in (0, 1]
        self.y = e / e.sum(dim=1, keepdim=True)
        return self.y

    def backward(self, dout: Tensor) -> Tensor:
        row_dots = torch.einsum("nc,nc->n", dout, self.y)  # (N,): g . y for each row
        return self.y * (dout - row_dots[:, None])


class Flatten(Layer):
    """Every axis after the batch axis into one: x (N, d1, d2, ...) -> (N, d1 * d2 * ...)."""

    def forward(self, x: Tensor) -> Tensor:
        self.shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dout: Tensor) -> Tensor:
        return dout.reshape(self.shape)


class BatchNorm(Layer):
    """Batch normalization over the batch axis: x (N, D) -> (N, D); gamma, beta (D,).

    Train mode normalizes each feature with the batch's mean and biased variance and updates the
    running statistics with ``momentum`` (the running variance averages the unbiased estimate,
    as in PyTorch); evaluation mode uses the running statistics as constants. ``backward`` uses
    the simplified formula (:meth:`backward_analytic`), or the step-by-step pass
    (:meth:`backward_staged`) when ``staged`` is true.
    """

    param_names = ("gamma", "beta")

    def __init__(
        self,
        dim: int,
        *,
        momentum: float = 0.1,
        eps: float = 1e-5,
        staged: bool = False,
        dtype: torch.dtype = torch.float64,
        device: DeviceLike = None,
    ) -> None:
        if not 0.0 <= momentum <= 1.0 or eps <= 0:
            raise ValueError(f"need 0 <= momentum <= 1 and eps > 0, got {momentum}, {eps}")
        on = _on(device)
        self.gamma = torch.ones(dim, dtype=dtype, device=on)
        self.beta = torch.zeros(dim, dtype=dtype, device=on)
        self.running_mean = torch.zeros(dim, dtype=dtype, device=on)
        self.running_var = torch.ones(dim, dtype=dtype, device=on)
        self.momentum, self.eps, self.staged = momentum, eps, staged

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:  # evaluation: the running statistics, constants here
            self.inv_std = 1 / torch.sqrt(self.running_var + self.eps)
            self.x_hat = (x - self.running_mean) * self.inv_std
            return self.gamma * self.x_hat + self.beta
        n, mean = x.shape[0], x.mean(dim=0)  # step 1
        if n < 2:
            raise ValueError("BatchNorm in train mode needs a batch of at least 2 examples")
        self.centred = x - mean  # step 2
        var = (self.centred**2).mean(dim=0)  # step 3, the biased variance
        self.std = torch.sqrt(var + self.eps)  # step 4
        self.inv_std = 1 / self.std  # step 5
        self.x_hat = self.centred * self.inv_std  # step 6
        m = self.momentum  # running statistics: no gradient flows into them
        self.running_mean = (1 - m) * self.running_mean + m * mean.detach()
        self.running_var = (1 - m) * self.running_var + m * (var * n / (n - 1)).detach()
        return self.gamma * self.x_hat + self.beta  # step 7

    def backward(self, dout: Tensor) -> Tensor:
        if self.staged and self.training:
            return self.backward_staged(dout)
        return self.backward_analytic(dout)

    def backward_staged(self, dout: Tensor) -> Tensor:
        """Steps 7 to 1 of the chapter's table, one local derivative at a time (train mode)."""
        n = dout.shape[0]
        self.grad_beta = dout.sum(dim=0)  # step 7
        self.grad_gamma = (dout * self.x_hat).sum(dim=0)
        d_x_hat = dout * self.gamma
        d_centred = d_x_hat * self.inv_std  # step 6, first use of the centred values
        d_inv_std = (d_x_hat * self.centred).sum(dim=0)
        d_std = -d_inv_std / self.std**2  # step 5
        d_var = d_std / (2 * self.std)  # step 4
        d_centred = d_centred + (2 / n) * self.centred * d_var  # step 3, second use
        d_mean = -d_centred.sum(dim=0)  # step 2
        return d_centred + d_mean / n  # step 1 adds the path through the mean

    def backward_analytic(self, dout: Tensor) -> Tensor:
        """The simplified formula; in evaluation mode the statistics are constants."""
        self.grad_beta = dout.sum(dim=0)
        self.grad_gamma = (self.x_hat * dout).sum(dim=0)
        if not self.training:
            return dout * self.gamma * self.inv_std
        n = dout.shape[0]
        correction = self.grad_beta + self.x_hat * self.grad_gamma  # (N, D)
        return self.gamma * self.inv_std * (dout - correction / n)


class Loss(Protocol):
    """What a loss offers: ``forward(scores, labels) -> loss ()`` and ``backward() -> dscores``."""

    def forward(self, scores: Tensor, labels: Tensor) -> Tensor: ...

    def backward(self) -> Tensor: ...


class CrossEntropy:
    """Mean cross-entropy of probabilities (N, C) against labels (N,); not fused, not stable."""

    def forward(self, probs: Tensor, labels: Tensor) -> Tensor:
        self.probs, self.labels = probs, labels
        picked = probs.gather(1, labels[:, None])  # (N, 1): P[i, y_i]
        return -torch.log(picked).mean()

    def backward(self) -> Tensor:
        onehot = F.one_hot(self.labels, self.probs.shape[1]).to(self.probs.dtype)
        return -onehot / (len(self.labels) * self.probs)  # (N, C)


class SoftmaxCrossEntropy:
    """Mean cross-entropy of logits (N, C) against labels (N,), through the log-softmax.

    Stable for logits of any size: the log-probabilities come from the log-sum-exp, never from
    the logarithm of a probability that may have underflowed. Backward: ``(P - Y) / N``.
    """

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        # NOTE: torch.logsumexp takes the row maximum out before exponentiating, so it is finite
        log_probs = logits - torch.logsumexp(logits, dim=1, keepdim=True)  # (N, C), entries <= 0
        self.probs, self.labels = torch.exp(log_probs), labels
        return -log_probs.gather(1, labels[:, None]).mean()

    def backward(self) -> Tensor:
        onehot = F.one_hot(self.labels, self.probs.shape[1]).to(self.probs.dtype)
        return (self.probs - onehot) / len(self.labels)  # (N, C): the 1/N enters here


class WithLabels(Layer):
    """A loss with its labels fixed, as a layer: scores (N, C) -> loss (), for check_layer."""

    def __init__(self, loss: Loss, labels: Tensor) -> None:
        self.loss, self.labels = loss, labels

    def forward(self, x: Tensor) -> Tensor:
        return self.loss.forward(x, self.labels)

    def backward(self, dout: Tensor) -> Tensor:
        return dout * self.loss.backward()  # dout is a scalar: the loss is one number


#: The classes above, in the order the chapter derives them.
LAYERS: tuple[type, ...] = (
    Linear, ReLU, Sigmoid, Tanh, Softmax, Flatten, BatchNorm,
    CrossEntropy, SoftmaxCrossEntropy, WithLabels,
)  # fmt: skip


@contextmanager
def forbid_layers(what: str = "code", layers: tuple[type, ...] = LAYERS) -> Iterator[None]:
    """Fail with ``AssertionError`` if the block uses any of ``layers`` (constructs one, or calls
    one of its methods), even if the block catches the error that the use raises.

    An exercise that asks for a layer these classes already implement uses it to check that the
    answer computes the layer rather than borrowing it.
    """
    used: list[str] = []
    saved: list[tuple[type, str, Any]] = []

    def refusing(cls: type, name: str) -> Any:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            used.append(f"{cls.__name__}.{name}")
            raise AssertionError(f"{what} must not use coursekit's {cls.__name__}.{name}")

        return refuse

    for cls in layers:
        for name, value in list(vars(cls).items()):
            if callable(value) and (name == "__init__" or not name.startswith("_")):
                saved.append((cls, name, value))
                setattr(cls, name, refusing(cls, name))
    try:
        yield
    finally:
        for cls, name, value in saved:
            setattr(cls, name, value)
    if used:
        raise AssertionError(f"{what} must not use {', '.join(sorted(set(used)))}")
