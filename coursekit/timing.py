"""Timing that is fair on either device: warm-up, synchronization, best of several repeats."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from coursekit.device import synchronize


def best_time(
    fn: Callable[[], object],
    *,
    repeat: int = 5,
    min_time: float = 0.05,
    device: torch.device | None = None,
) -> float:
    """Seconds per call of ``fn``: the best of ``repeat`` rounds, each at least ``min_time`` long.

    The minimum, not the mean, estimates the cost of the code itself: anything else the machine
    was doing only ever adds time. CUDA work is synchronized before the clock is read.
    """
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat}")
    fn()  # warm-up: first calls pay for allocation, kernel selection and caches
    synchronize(device)
    number = 1
    while True:  # grow the inner loop until one round is long enough to time
        start = time.perf_counter()
        for _ in range(number):
            fn()
        synchronize(device)
        elapsed = time.perf_counter() - start
        if elapsed >= min_time or number >= 1 << 20:
            break
        number *= 2
    best = elapsed / number
    for _ in range(repeat - 1):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        synchronize(device)
        best = min(best, (time.perf_counter() - start) / number)
    return best


def matmul_flops(n: int, k: int, m: int) -> int:
    """Floating-point operations of an (n, k) @ (k, m) product: one multiply and one add each."""
    return 2 * n * k * m
