"""Optimizer steps, ours against torch.optim's, as ratios against foreach=False in the same run.

    python benchmarks/optimizers.py [--repeat 5] [--steps 10] [--quick] [--device cpu] [--clock cpu]

Times one step over every tensor of a small CNN's parameters (conv 8x1x3x3 and its bias, conv
16x8x3x3 and its bias, linear 10x256 and its bias: 3,818 numbers in 6 tensors, float32) for the
course's reference answers ``adam_step``, ``sgd_step`` (momentum 0.9) and ``rmsprop_step`` (from
``solutions/05_optimizers/optimizers.ipynb``: functional, ``(p, g, state) -> (new_p, new_state)``)
and for ``torch.optim``'s Adam, SGD(momentum=0.9) and RMSprop: with ``foreach=False`` (the anchor:
a Python loop over the tensors, like ours), with the default, with ``foreach=True`` and, where
torch has it, ``fused=True``. The goal is ours within 1.5x of foreach=False. Each variant's aten
operators per step are counted too (a dispatch mode sees every one), which names the gap. Every
step is first checked against torch.optim in float64. The variants are timed in turns (best of
``--repeat`` turns of ``coursekit.timing.best_time``); ``--clock cpu`` counts CPU seconds on one
thread instead, for a machine busy with other work. Absolute times vary with the machine and its
load; the ratios are what to compare.
"""

from __future__ import annotations

import argparse
import textwrap
from collections import Counter
from collections.abc import Callable
from typing import Any

import torch
from _common import CLOCKS, load_reference, ratio, timed_in_turns, use_clock
from torch.utils._python_dispatch import TorchDispatchMode

import coursekit

GOAL = 1.5  # ours at most this many times torch.optim with foreach=False
SHAPES = [(8, 1, 3, 3), (8,), (16, 8, 3, 3), (16,), (10, 256), (10,)]
# name -> (our step function, torch.optim class, hyperparameters both take)
OPTIMIZERS: dict[str, tuple[str, type[torch.optim.Optimizer], dict[str, float]]] = {
    "Adam": ("adam_step", torch.optim.Adam, {"lr": 1e-3}),
    "SGD": ("sgd_step", torch.optim.SGD, {"lr": 1e-2, "momentum": 0.9}),
    "RMSprop": ("rmsprop_step", torch.optim.RMSprop, {"lr": 1e-2}),
}
VARIANTS: dict[str, dict[str, bool | None]] = {
    "foreach=False": {"foreach": False},
    "default": {},
    "foreach=True": {"foreach": True},
    "fused=True": {"fused": True},
}


class OpCounter(TorchDispatchMode):
    """Counts the aten operators run inside it: all, and those that allocate a new tensor."""

    def __init__(self) -> None:
        super().__init__()
        self.ops = self.allocating = 0
        self.foreach = False
        self.names: Counter[str] = Counter()  # e.g. "mul", "addcdiv_"

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        name = str(func)
        if name.startswith("aten."):
            self.ops += 1
            self.names[name.split(".")[1]] += 1
            self.foreach |= "_foreach_" in name or "_fused_" in name
            scalar = "_local_scalar_dense" in name  # .item(): reads a number, makes no tensor
            if not (func._schema.is_mutable or func.is_view or scalar):
                self.allocating += 1
        return func(*args, **(kwargs or {}))


def tensors(dtype: torch.dtype, dev: torch.device) -> tuple[list[torch.Tensor], ...]:
    gen = coursekit.torch_generator(5)
    params = [torch.randn(s, generator=gen, dtype=torch.float64).to(dev, dtype) for s in SHAPES]
    grads = [torch.randn(s, generator=gen, dtype=torch.float64).to(dev, dtype) for s in SHAPES]
    return params, grads


def ours(fn: Callable, hyper: dict[str, float], params: list, grads: list) -> Callable[[], list]:
    """A step over all tensors with the functional ``fn``; returns the current parameters."""
    current = [p.clone() for p in params]
    states: list[dict[str, Any]] = [{} for _ in params]

    def step() -> list:
        for i, grad in enumerate(grads):
            current[i], states[i] = fn(current[i], grad, states[i], **hyper)
        return current

    return step


def _build(
    cls: type[torch.optim.Optimizer], hyper: dict, variant: dict, params: list, grads: list
) -> tuple[torch.optim.Optimizer, list[torch.Tensor]]:
    leaves = [p.clone().requires_grad_(True) for p in params]
    for leaf, grad in zip(leaves, grads, strict=True):
        leaf.grad = grad.clone()
    return cls(leaves, **hyper, **variant), leaves


def torch_optim(
    cls: type[torch.optim.Optimizer], hyper: dict, variant: dict, params: list, grads: list
) -> Callable[[], list] | None:
    """A step of ``cls(**hyper, **variant)``; None when torch has no such variant here."""
    try:  # on copies: the steps timed start, like ours, from the same parameters and no state
        _build(cls, hyper, variant, params, grads)[0].step()
    except (TypeError, RuntimeError):  # e.g. RMSprop has no fused=, or not on this device
        return None
    optimizer, leaves = _build(cls, hyper, variant, params, grads)

    def step() -> list:
        optimizer.step()
        return leaves

    return step


def check(ref: dict[str, Any], dev: torch.device) -> None:
    """Three of our steps give torch.optim's (foreach=False) parameters, in float64."""
    params, grads = tensors(torch.float64, dev)
    for name, (fn, cls, hyper) in OPTIMIZERS.items():
        mine = ours(ref[fn], hyper, params, grads)
        theirs = torch_optim(cls, hyper, VARIANTS["foreach=False"], params, grads)
        assert theirs is not None
        for _ in range(3):
            got, want = mine(), theirs()
        for have, expected in zip(got, want, strict=True):
            if not torch.allclose(have, expected.detach(), rtol=1e-10, atol=1e-12):
                raise SystemExit(f"{fn} does not take torch.optim.{name}'s steps")


def repeated(step: Callable[[], object], steps: int) -> Callable[[], None]:
    """``step`` taken ``steps`` times: one timed call."""

    def run() -> None:
        for _ in range(steps):
            step()

    return run


def count_ops(step: Callable[[], object]) -> OpCounter:
    step()  # first steps build the state: count a step like those timed
    with OpCounter() as counter:
        step()
    return counter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--steps", type=int, help="steps per timed call (10; 2 with --quick)")
    parser.add_argument("--quick", action="store_true", help="few steps (the smoke test)")
    parser.add_argument("--device", type=torch.device, default=coursekit.device())
    parser.add_argument(
        "--clock",
        choices=CLOCKS,
        default="wall",
        help="cpu: CPU seconds on one thread, for a machine busy with other work (CPU only)",
    )
    args = parser.parse_args()
    steps = args.steps or (2 if args.quick else 10)
    min_time = 0.005 if args.quick else 0.02
    clock = use_clock(args.clock, args.device)
    ref = load_reference("05_optimizers", "optimizers", [fn for fn, _, _ in OPTIMIZERS.values()])
    check(ref, args.device)
    params, grads = tensors(torch.float32, args.device)

    print(
        f"device: {coursekit.device_name(args.device)}; torch {torch.__version__}; float32; "
        f"{clock}, best of {args.repeat} turns; {steps} steps per timed call"
    )
    print(f"parameters: {len(SHAPES)} tensors {SHAPES}, {sum(p.numel() for p in params):,} numbers")
    print("ours take torch.optim's steps (float64, 3 steps, 1e-10); s/step: over all tensors")
    print(
        f"{'optimizer':<9} {'variant':<14} {'s/step':>10} {'x anchor':>9} {'aten ops':>9} "
        f"{'allocating':>11}  goal"
    )
    gaps, zeros = [], []
    for name, (fn, cls, hyper) in OPTIMIZERS.items():
        runs: dict[str, Callable[[], list]] = {}
        for variant, flags in VARIANTS.items():
            run = torch_optim(cls, hyper, flags, params, grads)
            if run is not None:
                runs[variant] = run
        runs["ours"] = ours(ref[fn], hyper, params, grads)
        counts = {variant: count_ops(run) for variant, run in runs.items()}

        seconds = timed_in_turns(
            {v: repeated(run, steps) for v, run in runs.items()},
            rounds=args.repeat,
            min_time=min_time,
            device=args.device,
            clock=args.clock,
        )
        anchor = seconds["foreach=False"]
        for variant, total in seconds.items():
            label = variant
            if variant == "default":
                label += "(foreach)" if counts[variant].foreach else "(loop)"
            goal = ""
            if variant == "ours":
                goal = f"<= {GOAL:g}x: {'met' if total / anchor <= GOAL else 'not met'}"
            print(
                f"{name:<9} {label:<14} {total / steps:>10.3e} {ratio(total / anchor):>9} "
                f"{counts[variant].ops:>9} {counts[variant].allocating:>11}  {goal}"
            )
        mine, loop = counts["ours"], counts["foreach=False"]
        if mine.names["zeros_like"]:
            zeros.append(fn)
        gaps.append(
            f"{name} {mine.ops} ops ({mine.allocating} allocating) against {loop.ops} "
            f"({loop.allocating})"
        )
    print("aten ops, allocating: operators per step over all tensors, and those making a tensor")
    numbers = sum(p.numel() for p in params)
    gap = (
        f"the gap: ours against foreach=False, per step over the {len(SHAPES)} tensors: "
        f"{'; '.join(gaps)}. A functional step returns a new parameter and a new state, so "
        "each of its operators makes a fresh tensor"
        + (f" ({' and '.join(zeros)} also run zeros_like every step)" if zeros else "")
        + ", where torch.optim updates in place with fused elementwise operators (lerp_, "
        f"addcmul_, addcdiv_). With {numbers:,} numbers an operator costs its dispatch and "
        "allocation more than its arithmetic, so the operator count and our Python per tensor "
        "(argument checks, dict lookups) set the time. foreach=True and fused=True go further: "
        "one operator over all tensors at once."
    )
    print(textwrap.fill(gap, width=100, subsequent_indent="  "))


if __name__ == "__main__":
    main()
