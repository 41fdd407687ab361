"""Explicit random generators: passed down, never global state.

``torch.manual_seed`` and ``np.random.seed`` change state that every library shares, so a cell
that draws one extra number changes every figure after it. A generator handed to the code that
needs it keeps each draw local and each result reproducible.
"""

from __future__ import annotations

import numpy as np
import torch


def torch_generator(seed: int, device: torch.device | str | None = None) -> torch.Generator:
    """A ``torch.Generator`` seeded with ``seed``, on ``device`` (default: the CPU).

    Draw on the CPU and move the tensor when the numbers must be identical on every device:
    CPU and CUDA generators produce different streams from the same seed.
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return torch.Generator(device="cpu" if device is None else device).manual_seed(seed)


def numpy_rng(seed: int) -> np.random.Generator:
    """A NumPy ``Generator`` (PCG64) seeded with ``seed``."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return np.random.default_rng(seed)
