import pytest
import torch

import coursekit
from coursekit.device import DEVICE_ENV


def test_default_device_is_cuda_when_available_else_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DEVICE_ENV, raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert coursekit.device().type == expected


def test_environment_forces_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DEVICE_ENV, "CPU")
    assert coursekit.device() == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_forcing_cuda_without_cuda_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DEVICE_ENV, "cuda")
    with pytest.raises(RuntimeError, match="no usable CUDA"):
        coursekit.device()


@pytest.mark.parametrize("value", ["gpu", "mps"])
def test_unknown_device_names_are_rejected(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(DEVICE_ENV, value)
    with pytest.raises(ValueError, match=DEVICE_ENV):
        coursekit.device()


def test_device_name_is_readable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DEVICE_ENV, "cpu")
    assert coursekit.device_name().startswith("CPU (")


def test_generators_are_explicit_and_reproducible() -> None:
    a = torch.randn(5, generator=coursekit.torch_generator(3))
    torch.randn(100)  # global state must not matter
    b = torch.randn(5, generator=coursekit.torch_generator(3))
    assert torch.equal(a, b)
    assert coursekit.numpy_rng(3).integers(0, 1000, 5).tolist() == (
        coursekit.numpy_rng(3).integers(0, 1000, 5).tolist()
    )
    with pytest.raises(ValueError):
        coursekit.torch_generator(-1)
    with pytest.raises(ValueError):
        coursekit.numpy_rng(1.5)  # type: ignore[arg-type]
