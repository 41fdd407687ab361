"""The layer contract (Layer's bookkeeping, Sequential's two loops, check_layer's verdicts) and
the course's layers, each held to it in float64 on random shapes."""

from __future__ import annotations

import contextlib

import pytest
import torch

import coursekit
from coursekit import assert_close
from coursekit.layers import (
    BatchNorm,
    CrossEntropy,
    Flatten,
    Layer,
    Linear,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    SoftmaxCrossEntropy,
    Tanh,
    WithLabels,
    check_layer,
    forbid_layers,
)

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


# ---- the course's layers ------------------------------------------------------------------------

F64 = dict(dtype=torch.float64, device="cpu")


def random_shape(seed: int) -> tuple[int, int]:
    """A random (N, D) with N != D, from 2 to 9 each."""
    gen = coursekit.torch_generator(seed)
    n, d = (int(v) for v in torch.randint(2, 10, (2,), generator=gen))
    return n, d + (d == n)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("layer_class", [ReLU, Sigmoid, Tanh, Softmax])
def test_elementwise_and_softmax_layers_pass_check_layer(layer_class: type, seed: int) -> None:
    n, d = random_shape(seed)
    x = 2 * torch.randn(n, d, generator=coursekit.torch_generator(100 + seed), **F64)
    assert set(check_layer(layer_class(), x, seed=seed)) == {"dx"}  # it raises when wrong


def test_activations_have_the_documented_values_and_conventions() -> None:
    x = torch.tensor([[-800.0, 0.0, 2.0]], **F64)
    relu = ReLU()
    assert_close(relu.forward(x), [[0.0, 0.0, 2.0]])
    assert_close(relu.backward(torch.ones(1, 3, **F64)), [[0.0, 0.0, 1.0]], name="ReLU'(0) = 0")
    y = Sigmoid().forward(x)  # exp(800) would overflow: the stable form stays finite
    assert torch.isfinite(y).all() and y[0, 1] == 0.5
    assert_close(Tanh().forward(x), torch.tanh(x))
    soft = Softmax().forward(torch.tensor([[1000.0, 1001.0, 1002.0]], **F64))
    assert_close(soft, torch.softmax(torch.tensor([[0.0, 1.0, 2.0]], **F64), dim=1))


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_linear_passes_check_layer_and_initializes_like_he(seed: int) -> None:
    n, d_in = random_shape(seed)
    d_out = d_in + 3
    layer = Linear(d_in, d_out, generator=coursekit.torch_generator(seed), device="cpu")
    layer.b = torch.randn(d_out, generator=coursekit.torch_generator(seed + 50), **F64)
    assert layer.W.shape == (d_in, d_out) and layer.b.shape == (d_out,)
    x = torch.randn(n, d_in, generator=coursekit.torch_generator(200 + seed), **F64)
    errors = check_layer(layer, x, seed=seed)
    assert set(errors) == {"dx", "grad_W", "grad_b"}
    wide = Linear(400, 300, generator=coursekit.torch_generator(seed), device="cpu")
    assert abs(wide.W.std().item() / (2 / 400) ** 0.5 - 1) < 0.02
    assert not wide.b.any()


def test_linear_keeps_dtype_and_validates() -> None:
    layer = Linear(3, 2, generator=coursekit.torch_generator(0), dtype=torch.float32, device="cpu")
    assert layer.W.dtype == layer.b.dtype == torch.float32
    same = Linear(3, 2, generator=coursekit.torch_generator(0), std=1.0, device="cpu")
    assert_close(same.W, torch.randn(3, 2, generator=coursekit.torch_generator(0), **F64))
    with pytest.raises(ValueError, match="d_in"):
        Linear(0, 2, generator=coursekit.torch_generator(0))
    with pytest.raises(ValueError, match="standard deviation"):
        Linear(2, 2, generator=coursekit.torch_generator(0), std=-1.0)


def test_flatten_passes_check_layer_and_restores_the_shape() -> None:
    x = torch.randn(3, 2, 4, 5, generator=coursekit.torch_generator(6), **F64)
    layer = Flatten()
    assert layer.forward(x).shape == (3, 40)
    assert layer.backward(torch.ones(3, 40, **F64)).shape == (3, 2, 4, 5)
    check_layer(Flatten(), x, seed=6)


@pytest.mark.parametrize("staged", [False, True])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_batchnorm_passes_check_layer_in_both_modes(staged: bool, mode: str) -> None:
    n, d = random_shape(7)
    gen = coursekit.torch_generator(7)
    layer = BatchNorm(d, staged=staged, device="cpu")
    layer.gamma = torch.randn(d, generator=gen, **F64)
    layer.beta = torch.randn(d, generator=gen, **F64)
    layer.running_mean = torch.linspace(-1, 1, d, **F64)
    layer.running_var = torch.linspace(0.5, 2, d, **F64)
    layer.train(mode == "train")
    x = 3 * torch.randn(n, d, generator=gen, **F64) + 1
    errors = check_layer(layer, x, seed=8)
    assert set(errors) == {"dx", "grad_gamma", "grad_beta"}


def test_batchnorm_matches_torch_with_running_statistics() -> None:
    gen = coursekit.torch_generator(9)
    ours, mean, var = BatchNorm(4, device="cpu"), torch.zeros(4, **F64), torch.ones(4, **F64)
    for step in range(3):
        x = torch.randn(6, 4, generator=gen, **F64) * (step + 1)
        want = torch.nn.functional.batch_norm(x, mean, var, ours.gamma, ours.beta, training=True)
        assert_close(ours.train().forward(x), want, name=f"step {step}")
    assert_close(ours.running_mean, mean, name="running mean")
    assert_close(ours.running_var, var, name="running variance")
    with pytest.raises(ValueError, match="at least 2"):
        ours.train().forward(torch.ones(1, 4, **F64))
    with pytest.raises(ValueError, match="momentum"):
        BatchNorm(3, momentum=2.0)


@pytest.mark.parametrize("seed", [10, 11])
def test_losses_match_torch_and_pass_check_layer(seed: int) -> None:
    n, c = random_shape(seed)
    gen = coursekit.torch_generator(seed)
    logits = 2 * torch.randn(n, c, generator=gen, **F64)
    labels = torch.randint(0, c, (n,), generator=gen)
    fused = SoftmaxCrossEntropy()
    assert_close(fused.forward(logits, labels), torch.nn.functional.cross_entropy(logits, labels))
    probs = torch.softmax(logits, dim=1)
    assert_close(CrossEntropy().forward(probs, labels), fused.forward(logits, labels))
    check_layer(WithLabels(SoftmaxCrossEntropy(), labels), logits, seed=seed)
    check_layer(WithLabels(CrossEntropy(), labels), probs, seed=seed)


def test_fused_loss_is_stable_for_a_confident_wrong_answer() -> None:
    fused = SoftmaxCrossEntropy()
    loss = fused.forward(torch.tensor([[0.0, 800.0]], **F64), torch.tensor([0]))
    assert_close(loss, torch.tensor(800.0, **F64))
    assert_close(fused.backward(), [[-1.0, 1.0]])


def test_a_network_of_course_layers_passes_check_layer() -> None:
    gen = coursekit.torch_generator(12)
    model = Sequential(
        Linear(5, 7, generator=gen, device="cpu"), BatchNorm(7, device="cpu"), Tanh(),
        Linear(7, 3, generator=gen, device="cpu"), Sigmoid(),
    )  # fmt: skip
    x = torch.randn(6, 5, generator=gen, **F64)
    errors = check_layer(model, x, seed=12)
    assert set(errors) == {"dx", *(f"grad_{k}" for k in model.params())}


def test_forbid_layers_catches_any_use_even_a_caught_one() -> None:
    x = torch.ones(2, 3, **F64)
    relu = ReLU()
    with forbid_layers():  # plain tensor code is fine
        torch.relu(x)
    with pytest.raises(AssertionError, match="ReLU.forward"), forbid_layers(what="my_relu"):
        relu.forward(x)
    caught = contextlib.suppress(AssertionError)  # a use that the block catches still counts
    with pytest.raises(AssertionError, match="BatchNorm"), forbid_layers(), caught:
        BatchNorm(3)
    assert_close(relu.forward(x), x, name="the methods are restored afterwards")
