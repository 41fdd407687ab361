import pytest
import torch

import coursekit
from coursekit import assert_close, assert_gradient_matches, autograd_vjp, numerical_vjp


def test_assert_close_passes_within_tolerance() -> None:
    assert_close(torch.tensor([1.0, 2.0]), [1.0, 2.0 + 1e-12])
    assert_close(torch.tensor([float("nan")]), [float("nan")])


def test_assert_close_reports_shapes_first() -> None:
    with pytest.raises(AssertionError, match=r"out: expected shape \(2, 3\), got shape \(3, 2\)"):
        assert_close(torch.zeros(3, 2), torch.zeros(2, 3), name="out")


def test_assert_close_names_the_worst_element_and_tolerance() -> None:
    expected = torch.zeros(2, 3, dtype=torch.float64)
    actual = expected.clone()
    actual[0, 1] = 1e-3
    actual[1, 2] = 0.5
    with pytest.raises(AssertionError) as info:
        assert_close(actual, expected, rtol=1e-6, atol=1e-6, name="grad")
    message = str(info.value)
    assert "grad: 2 of 6 elements differ" in message
    assert "worst at index (1, 2)" in message
    assert "expected 0, got 0.5" in message
    assert "atol 1e-06" in message and "rtol 1e-06" in message


def test_assert_close_catches_nan_and_inf() -> None:
    with pytest.raises(AssertionError, match="index"):
        assert_close(torch.tensor([1.0, float("nan")]), [1.0, 2.0])
    with pytest.raises(AssertionError, match="index"):
        assert_close(torch.tensor([float("inf")]), [1.0])


def test_numerical_vjp_matches_autograd_through_a_random_dout() -> None:
    gen = coursekit.torch_generator(0)
    x = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    dout = torch.randn(3, 4, generator=gen, dtype=torch.float64)

    def f(t: torch.Tensor) -> torch.Tensor:
        return torch.tanh(t) * t.sum(dim=1, keepdim=True)

    assert_close(numerical_vjp(f, x, dout), autograd_vjp(f, x, dout), rtol=1e-6, atol=1e-8)


def test_numerical_vjp_needs_float64() -> None:
    with pytest.raises(ValueError, match="float64"):
        numerical_vjp(torch.sin, torch.zeros(2), torch.ones(2))


def test_gradient_check_passes_a_right_backward_and_fails_a_wrong_one() -> None:
    x = torch.randn(4, 3, generator=coursekit.torch_generator(1), dtype=torch.float64)

    def right(x: torch.Tensor, dout: torch.Tensor) -> torch.Tensor:
        return dout * torch.cos(x)

    def forgot_chain_rule(x: torch.Tensor, dout: torch.Tensor) -> torch.Tensor:
        return torch.cos(x)

    assert_gradient_matches(torch.sin, right, x)
    with pytest.raises(AssertionError, match="gradient"):
        assert_gradient_matches(torch.sin, forgot_chain_rule, x)


def test_relative_error() -> None:
    a = torch.tensor([1.0, 2.0])
    assert coursekit.relative_error(a, a) == 0.0
    assert coursekit.relative_error(a, a * 1.01) == pytest.approx(0.01 / 1.01)


def test_forbid_calls_catches_every_way_to_matmul() -> None:
    a, b = torch.randn(3, 4), torch.randn(4, 2)
    for product in (lambda: a @ b, lambda: a.mm(b), lambda: torch.einsum("ij,jk->ik", a, b)):
        with pytest.raises(AssertionError, match="must not call"), coursekit.forbid_calls():
            product()
    with coursekit.forbid_calls():
        (a[:, :, None] * b[None, :, :]).sum(dim=1)


def test_no_tf32_restores_the_settings() -> None:
    before = torch.backends.cuda.matmul.allow_tf32
    with coursekit.no_tf32():
        assert torch.backends.cuda.matmul.allow_tf32 is False
        assert torch.backends.cudnn.allow_tf32 is False
    assert torch.backends.cuda.matmul.allow_tf32 == before
