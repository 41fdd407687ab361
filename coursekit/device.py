"""The one place that decides where tensors live.

Notebooks and chapters call :func:`device` and never ``.cuda()``: the same code then runs on a
laptop, in CI and on a GPU machine.
"""

from __future__ import annotations

import os

import torch

#: Environment variable that forces a device: ``cpu`` or ``cuda`` (also ``cuda:1`` and so on).
DEVICE_ENV = "COURSEKIT_DEVICE"


def device() -> torch.device:
    """Return the device the course computes on.

    CUDA when it is available, the CPU otherwise. Set ``COURSEKIT_DEVICE=cpu`` (or ``cuda``) to
    force one; forcing CUDA on a machine without it raises instead of silently using the CPU.
    """
    forced = os.environ.get(DEVICE_ENV, "").strip().lower()
    if not forced:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(forced)
    except RuntimeError as err:
        raise ValueError(f"{DEVICE_ENV}={forced!r} is not a device; use 'cpu' or 'cuda'") from err
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"{DEVICE_ENV}={forced!r} but this machine has no usable CUDA device")
    if chosen.type not in ("cpu", "cuda"):
        raise ValueError(f"{DEVICE_ENV}={forced!r}: the course supports 'cpu' and 'cuda' only")
    return chosen


def device_name(dev: torch.device | None = None) -> str:
    """A human-readable name for ``dev`` (default: :func:`device`), e.g. for a timing table."""
    dev = device() if dev is None else dev
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return f"CPU ({torch.get_num_threads()} threads)"


def synchronize(dev: torch.device | None = None) -> None:
    """Wait for queued kernels on ``dev``, so a timer measures work rather than its launch."""
    dev = device() if dev is None else dev
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
