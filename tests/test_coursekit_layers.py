"""The layer contract: Layer's bookkeeping, Sequential's two loops, and check_layer's verdicts."""

from __future__ import annotations

import pytest
import torch

import coursekit
from coursekit import assert_close
from coursekit.layers import Layer, Sequential, check_layer

Tensor = torch.Tensor


class Scale(Layer):
    """out = x * s + t, one scale and one shift per feature: x (N, D), s (D,), t (D,)."""

    param_names = ("s", "t")

    def __init__(self, s: Tensor, t: Tensor) -> None:
        self.s, self.t = s, t

    def forward(self, x: Tensor) -> Tensor:
        self.x = x
        return x * self.s + self.t

    def backward(self, dout: Tensor) -> Tensor:
        self.grad_s = (dout * self.x).sum(dim=0)
        self.grad_t = dout.sum(dim=0)
        return dout * self.s


class Square(Layer):
    """out = x ** 2, elementwise, no parameters."""

    def forward(self, x: Tensor) -> Tensor:
        self.x = x
        return x**2

    def backward(self, dout: Tensor) -> Tensor:
        return 2 * self.x * dout


class MeanScale(Scale):
    """A classic bug: the layer averages its parameter gradient over the batch itself."""

    def backward(self, dout: Tensor) -> Tensor:
        dx = super().backward(dout)
        self.grad_s = self.grad_s / len(dout)
        return dx


class WrongDx(Scale):
    """A wrong input gradient: forgets the scale."""

    def backward(self, dout: Tensor) -> Tensor:
        super().backward(dout)
        return dout


class ForgetsShift(Scale):
    """Never sets grad_t."""

    def backward(self, dout: Tensor) -> Tensor:
        self.grad_s = (dout * self.x).sum(dim=0)
        return dout * self.s


class RightOnlyForOnes(Layer):
    """Right when dout is all ones, wrong otherwise: dx = 2x * sum(dout) / numel."""

    def forward(self, x: Tensor) -> Tensor:
        self.x = x
        return x**2

    def backward(self, dout: Tensor) -> Tensor:
        return 2 * self.x * dout.mean()


def scale_layer(seed: int = 0, dim: int = 4) -> Scale:
    gen = coursekit.torch_generator(seed)
    return Scale(
        torch.randn(dim, generator=gen, dtype=torch.float64),
        torch.randn(dim, generator=gen, dtype=torch.float64),
    )


def batch(seed: int = 1, n: int = 5, dim: int = 4) -> Tensor:
    return torch.randn(n, dim, generator=coursekit.torch_generator(seed), dtype=torch.float64)


def test_check_layer_accepts_a_right_layer_and_reports_small_errors() -> None:
    errors = check_layer(scale_layer(), batch())
    assert set(errors) == {"dx", "grad_s", "grad_t"}
    assert all(e < 1e-7 for e in errors.values()), errors


def test_check_layer_rejects_a_layer_that_averages_over_the_batch() -> None:
    with pytest.raises(AssertionError, match="grad_s vs central differences"):
        check_layer(MeanScale(*scale_layer().params().values()), batch())


def test_check_layer_rejects_a_wrong_input_gradient() -> None:
    with pytest.raises(AssertionError, match="dx vs central differences"):
        check_layer(WrongDx(*scale_layer().params().values()), batch())


def test_check_layer_rejects_a_forgotten_parameter_gradient() -> None:
    with pytest.raises(AssertionError, match="grad_t"):
        check_layer(ForgetsShift(*scale_layer().params().values()), batch())


def test_check_layer_draws_a_random_dout() -> None:
    with pytest.raises(AssertionError, match="dx vs central differences"):
        check_layer(RightOnlyForOnes(), batch())


def test_check_layer_compares_with_autograd_too() -> None:
    class Detached(Square):
        def forward(self, x: Tensor) -> Tensor:
            return super().forward(x).detach()

    check_layer(Detached(), batch(), autograd=False)
    with pytest.raises(AssertionError, match="cut the autograd graph"):
        check_layer(Detached(), batch())


def test_check_layer_needs_float64_and_leaves_the_layer_alone() -> None:
    with pytest.raises(ValueError, match="float64"):
        check_layer(Square(), batch().float())
    layer = scale_layer()
    before = {k: v.clone() for k, v in layer.params().items()}
    check_layer(layer, batch())
    for name, value in layer.params().items():
        assert_close(value, before[name], rtol=0, atol=0, name=name)
        assert not value.requires_grad
    assert not hasattr(layer, "grad_s")


def test_params_grads_and_zero_grad() -> None:
    layer = scale_layer()
    assert list(layer.params()) == ["s", "t"]
    assert layer.params()["s"] is layer.s
    with pytest.raises(AttributeError, match="grad_s"):
        layer.grads()
    layer.zero_grad()
    assert_close(layer.grads()["s"], torch.zeros(4, dtype=torch.float64))
    layer.forward(batch())
    layer.backward(torch.ones(5, 4, dtype=torch.float64))
    assert_close(layer.grads()["t"], torch.full((4,), 5.0, dtype=torch.float64))
    assert repr(layer) == "Scale(s=(4,), t=(4,))"


def test_sequential_chains_forward_and_backward_in_reverse() -> None:
    first, second = scale_layer(0), scale_layer(2)
    model = Sequential(first, Square(), second)
    assert len(model) == 3 and list(model)[1].params() == {}
    x = batch()
    out = model.forward(x)
    assert_close(out, ((x * first.s + first.t) ** 2) * second.s + second.t)
    assert list(model.params()) == ["0.s", "0.t", "2.s", "2.t"]
    errors = check_layer(model, x, seed=3)
    assert set(errors) == {"dx", "grad_0.s", "grad_0.t", "grad_2.s", "grad_2.t"}
    model.zero_grad()
    assert set(model.grads()) == set(model.params())


def test_sequential_switches_modes_and_rejects_non_layers() -> None:
    model = Sequential(Square(), scale_layer())
    assert model.training and all(layer.training for layer in model)
    assert model.eval() is model
    assert not model.training and not any(layer.training for layer in model)
    model.train()
    assert all(layer.training for layer in model)
    with pytest.raises(TypeError, match="layer 1"):
        Sequential(Square(), torch.nn.ReLU())  # type: ignore[arg-type]


def test_base_layer_methods_say_what_is_missing() -> None:
    with pytest.raises(NotImplementedError, match="forward"):
        Layer()(batch())
    with pytest.raises(NotImplementedError, match="backward"):
        Layer().backward(batch())
