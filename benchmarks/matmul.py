"""Matrix multiplication three ways, as ratios against torch.matmul measured in the same run.

    python benchmarks/matmul.py [--sizes 32 64 128] [--repeat 5]

Prints, per size, the seconds of Python loops, broadcasting and torch.matmul, their GFLOP/s, and
how many times slower each is than torch.matmul (the anchor). Absolute times vary with the
machine and its load; the ratios are what to compare.
"""

from __future__ import annotations

import argparse

import torch

import coursekit
from coursekit.timing import best_time, matmul_flops


def loops(a: list[list[float]], b: list[list[float]]) -> list[list[float]]:
    n, k, m = len(a), len(b), len(b[0])
    out = [[0.0] * m for _ in range(n)]
    for i in range(n):
        for j in range(m):
            total = 0.0
            for p in range(k):
                total += a[i][p] * b[p][j]
            out[i][j] = total
    return out


def broadcasting(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a[:, :, None] * b[None, :, :]).sum(dim=1)  # (n, k, m) summed over k


def measure(n: int, repeat: int, with_loops: bool, dev: torch.device) -> dict[str, float]:
    """Seconds per (n, n) @ (n, n) product for each method, on ``dev``."""
    gen = coursekit.torch_generator(n)
    a = torch.randn(n, n, generator=gen).to(dev)
    b = torch.randn(n, n, generator=gen).to(dev)
    timings = {
        "torch.matmul": best_time(lambda: torch.matmul(a, b), repeat=repeat, device=dev),
        "broadcasting": best_time(lambda: broadcasting(a, b), repeat=repeat, device=dev),
    }
    if with_loops:
        a_list, b_list = a.cpu().tolist(), b.cpu().tolist()
        timings["python loops"] = best_time(
            lambda: loops(a_list, b_list), repeat=max(1, repeat // 2), min_time=0.0
        )
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--loop-limit", type=int, default=128, help="largest size for loops")
    args = parser.parse_args()
    dev = coursekit.device()
    print(f"device: {coursekit.device_name(dev)}; torch {torch.__version__}")
    print(f"{'n':>5} {'method':<13} {'seconds':>11} {'GFLOP/s':>9} {'x anchor':>9}")
    for n in args.sizes:
        timings = measure(n, args.repeat, n <= args.loop_limit, dev)
        anchor, flops = timings["torch.matmul"], matmul_flops(n, n, n)
        for method, seconds in timings.items():
            print(
                f"{n:>5} {method:<13} {seconds:>11.3e} {flops / seconds / 1e9:>9.3f} "
                f"{seconds / anchor:>9.1f}"
            )


if __name__ == "__main__":
    main()
