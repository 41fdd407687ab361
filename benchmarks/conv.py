"""Convolution three ways, as ratios against F.conv2d measured in the same run.

    python benchmarks/conv.py [--repeat 5] [--quick] [--device cpu] [--dtype float32] [--clock cpu]

Times the course's reference answers (``conv2d_forward`` and ``conv2d_backward`` from
``solutions/04_convolution/convolution.ipynb``: im2col and one matrix product) against
``F.conv2d`` forward plus its autograd backward, on three shapes: the digits (N=64, C=1, 8x8,
F=8, 3x3, pad 1), a 32x32 layer with 16 channels (N=16, C=16, F=16, 3x3, pad 1) and a stride-2
stem (N=8, C=3, 32x32, F=16, 7x7, stride 2, pad 3). The goal is im2col within 3x of F.conv2d,
forward plus backward, on the CPU. Then a convolution written as Python loops over the output
positions (one tensor dot product per position) against im2col, on the digits shape; and how
much memory im2col's ``cols`` takes against the input's (kh * kw * Ho * Wo / (H * W) of it).
Timing is in float32 unless ``--dtype float64``; every method is first checked against F.conv2d
in float64. Each method is timed in turns with the others (best of ``--repeat`` turns of
``coursekit.timing.best_time``); ``--clock cpu`` counts CPU seconds on one thread instead, for a
machine busy with other work. Absolute times vary with the machine and its load; the ratios are
what to compare.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from _common import CLOCKS, load_reference, ratio, timed_in_turns, use_clock

import coursekit

GOAL = 3.0  # im2col's forward + backward, at most this many times F.conv2d's, on the CPU

MODES = ("fwd", "f+b")  # forward only; forward and backward
Tensors = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class Shape:
    name: str
    n: int
    c: int
    h: int
    w: int
    f: int
    k: int
    stride: int
    padding: int

    def out_size(self) -> tuple[int, int]:
        span = self.k - 1
        return (
            (self.h + 2 * self.padding - span - 1) // self.stride + 1,
            (self.w + 2 * self.padding - span - 1) // self.stride + 1,
        )

    def describe(self) -> str:
        return (
            f"{self.name} = N{self.n} C{self.c} {self.h}x{self.w}, F{self.f} {self.k}x{self.k}, "
            f"stride {self.stride}, pad {self.padding}"
        )


SHAPES = [
    Shape("digits", n=64, c=1, h=8, w=8, f=8, k=3, stride=1, padding=1),
    Shape("c16", n=16, c=16, h=32, w=32, f=16, k=3, stride=1, padding=1),
    Shape("stem", n=8, c=3, h=32, w=32, f=16, k=7, stride=2, padding=3),
]
QUICK_SHAPES = [
    Shape("digits", n=4, c=1, h=8, w=8, f=4, k=3, stride=1, padding=1),
    Shape("c16", n=2, c=4, h=8, w=8, f=4, k=3, stride=1, padding=1),
    Shape("stem", n=2, c=3, h=16, w=16, f=4, k=7, stride=2, padding=3),
]


def loops_forward(
    x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, stride: int, padding: int
) -> torch.Tensor:
    """Convolution by a Python loop over output positions: one tensordot per (i, j)."""
    n, _, h, wd = x.shape
    f, _, kh, kw = w.shape
    ho, wo = (h + 2 * padding - kh) // stride + 1, (wd + 2 * padding - kw) // stride + 1
    padded = F.pad(x, (padding, padding, padding, padding))
    out = torch.empty(n, f, ho, wo, dtype=x.dtype, device=x.device)
    for i in range(ho):
        for j in range(wo):
            patch = padded[:, :, i * stride : i * stride + kh, j * stride : j * stride + kw]
            out[:, :, i, j] = torch.tensordot(patch, w, dims=([1, 2, 3], [1, 2, 3])) + b
    return out


def loops_backward(
    dout: torch.Tensor, x: torch.Tensor, w: torch.Tensor, stride: int, padding: int
) -> Tensors:
    """The gradients of loops_forward, by the same loop: each position adds its share."""
    _, _, h, wd = x.shape
    _, _, kh, kw = w.shape
    _, _, ho, wo = dout.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    dpadded = torch.zeros_like(padded)
    dw = torch.zeros_like(w)
    for i in range(ho):
        for j in range(wo):
            rows, cols = slice(i * stride, i * stride + kh), slice(j * stride, j * stride + kw)
            grad = dout[:, :, i, j]  # (N, F)
            dw += torch.tensordot(grad, padded[:, :, rows, cols], dims=([0], [0]))
            dpadded[:, :, rows, cols] += torch.tensordot(grad, w, dims=([1], [0]))
    dx = dpadded[:, :, padding : padding + h, padding : padding + wd]
    return dx, dw, dout.sum(dim=(0, 2, 3))


def inputs(shape: Shape, dtype: torch.dtype, dev: torch.device) -> dict[str, torch.Tensor]:
    gen = coursekit.torch_generator(shape.n * 1000 + shape.c * 10 + shape.k)
    ho, wo = shape.out_size()
    draws = {
        "x": (shape.n, shape.c, shape.h, shape.w),
        "w": (shape.f, shape.c, shape.k, shape.k),
        "b": (shape.f,),
        "dout": (shape.n, shape.f, ho, wo),
    }
    return {
        name: torch.randn(*size, generator=gen, dtype=torch.float64).to(dev, dtype)
        for name, size in draws.items()
    }


def methods(
    ref: dict[str, Any], shape: Shape, data: dict[str, torch.Tensor]
) -> dict[str, tuple[Callable[[], Any], Callable[[], Any]]]:
    """Method -> (forward, forward and backward -> (dx, dw, db)), on ``data``'s tensors."""
    s, p = shape.stride, shape.padding
    x, w, b, dout = data["x"], data["w"], data["b"], data["dout"]
    # leaves made once, outside the clock; autograd.grad returns the gradients, accumulates none
    xl, wl, bl = (t.detach().requires_grad_(True) for t in (x, w, b))

    def torch_both() -> Any:
        with torch.enable_grad():
            out = F.conv2d(xl, wl, bl, stride=s, padding=p)
            return torch.autograd.grad(out, (xl, wl, bl), dout)

    def im2col_both() -> Any:
        _, cache = ref["conv2d_forward"](x, w, b, s, p)
        return ref["conv2d_backward"](dout, cache)

    def loops_both() -> Any:
        loops_forward(x, w, b, s, p)
        return loops_backward(dout, x, w, s, p)

    return {
        "F.conv2d": (lambda: F.conv2d(x, w, b, stride=s, padding=p), torch_both),
        "im2col": (lambda: ref["conv2d_forward"](x, w, b, s, p)[0], im2col_both),
        "loops": (lambda: loops_forward(x, w, b, s, p), loops_both),
    }


def check(ref: dict[str, Any], shape: Shape, dev: torch.device, names: list[str]) -> None:
    """Every method gives F.conv2d's output and gradients, in float64, before any timing."""
    table = methods(ref, shape, inputs(shape, torch.float64, dev))
    want = [table["F.conv2d"][0](), *table["F.conv2d"][1]()]
    for name in names:
        forward, both = table[name]
        with torch.no_grad():
            got = [forward(), *both()]
        for label, have, expected in zip(["out", "dx", "dw", "db"], got, want, strict=True):
            if not torch.allclose(have, expected, rtol=1e-9, atol=1e-9):
                worst = (have - expected).abs().max().item()
                raise SystemExit(f"{name} on {shape.name}: {label} is off by {worst:.2e}")


def measure(
    ref: dict[str, Any], shape: Shape, names: list[str], args: argparse.Namespace
) -> dict[str, tuple[float, float]]:
    """Method -> (seconds per forward, seconds per forward + backward)."""
    table = methods(ref, shape, inputs(shape, args.dtype, args.device))
    fns = {f"{name} {mode}": table[name][i] for name in names for i, mode in enumerate(MODES)}
    with torch.no_grad():  # the hand-written passes need no graph; F.conv2d's turns it back on
        seconds = timed_in_turns(
            fns, rounds=args.repeat, min_time=args.min_time, device=args.device, clock=args.clock
        )
    return {name: (seconds[f"{name} fwd"], seconds[f"{name} f+b"]) for name in names}


def print_rows(shape: Shape, timings: dict[str, tuple[float, float]], anchor: str) -> None:
    fwd0, both0 = timings[anchor]
    for name, (fwd, both) in timings.items():
        goal = ""
        if name == "im2col" and anchor == "F.conv2d":
            goal = f"<= {GOAL:g}x: {'met' if both / both0 <= GOAL else 'not met'}"
        print(
            f"{shape.name:<7} {name:<9} {fwd:>10.3e} {ratio(fwd / fwd0):>7} "
            f"{both:>10.3e} {ratio(both / both0):>9}  {goal}"
        )


def header() -> None:
    print(f"{'shape':<7} {'method':<9} {'fwd s':>10} {'fwd x':>7} {'f+b s':>10} {'f+b x':>9}  goal")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="tiny shapes (the smoke test)")
    parser.add_argument("--device", type=torch.device, default=coursekit.device())
    parser.add_argument(
        "--clock",
        choices=CLOCKS,
        default="wall",
        help="cpu: CPU seconds on one thread, for a machine busy with other work (CPU only)",
    )
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    args = parser.parse_args()
    args.dtype = getattr(torch, args.dtype)
    args.min_time = 0.005 if args.quick else 0.02
    clock = use_clock(args.clock, args.device)
    shapes = QUICK_SHAPES if args.quick else SHAPES
    ref = load_reference("04_convolution", "convolution", ["conv2d_forward", "conv2d_backward"])
    for shape in shapes:
        check(ref, shape, args.device, ["im2col"] + (["loops"] if shape is shapes[0] else []))

    print(
        f"device: {coursekit.device_name(args.device)}; torch {torch.__version__}; timed in "
        f"{str(args.dtype).removeprefix('torch.')}; {clock}, best of {args.repeat} turns"
    )
    print("shapes: " + "; ".join(s.describe() for s in shapes))
    print("all methods agree with F.conv2d (float64, 1e-9) on output and gradients")
    print("fwd: forward only; f+b: forward + backward (dx, dw, db); x: times the anchor's seconds")
    print()
    print(
        "1. im2col (ours: conv2d_forward + conv2d_backward) against F.conv2d + autograd; "
        f"goal: f+b within {GOAL:g}x on the CPU"
    )
    header()
    for shape in shapes:
        print_rows(shape, measure(ref, shape, ["F.conv2d", "im2col"], args), "F.conv2d")

    smallest = shapes[0]
    print()
    print(f"2. Python loops over the {smallest.out_size()} output positions against im2col")
    header()
    print_rows(smallest, measure(ref, smallest, ["im2col", "loops"], args), "im2col")

    print()
    print("3. memory: im2col's cols (N, C*kh*kw, Ho*Wo) against the input x (N, C, H, W)")
    print("   bytes = numel x element size; expected = kh*kw*Ho*Wo / (H*W)")
    print(f"{'shape':<7} {'x bytes':>10} {'cols bytes':>11} {'cols/x':>8} {'expected':>9}")
    for shape in shapes:
        x = inputs(shape, args.dtype, args.device)["x"]
        cols = ref["im2col"](x, shape.k, shape.k, shape.stride, shape.padding)
        x_bytes, cols_bytes = x.numel() * x.element_size(), cols.numel() * cols.element_size()
        ho, wo = shape.out_size()
        expected = shape.k * shape.k * ho * wo / (shape.h * shape.w)
        print(
            f"{shape.name:<7} {x_bytes:>10} {cols_bytes:>11} {cols_bytes / x_bytes:>7.2f}x "
            f"{expected:>8.2f}x"
        )


if __name__ == "__main__":
    main()
