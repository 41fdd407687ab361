"""Probes for chapter 05: the hidden checks, decided outside the student's kernel.

Each probe calls one of the student's functions on inputs drawn here and compares what comes back
with the reference solution's results on the same inputs (see autograder/probes.py). Besides what
each call returns, the framework checks by default that the arguments are unchanged after the call
(so a state dict or one of its tensors updated in place is caught), that returned tensors have the
reference's dtype, device and requires_grad, and that the call works with every tensor on the
``meta`` device (a constant made without ``device=`` fails there).

The step functions are pure, so a run of many steps is probed one call per step: each call gets
the parameter, the gradient and the state *before* that step of a ``torch.optim`` run made here
in float64, with a learning rate that changes at every step, and the student's single step is
compared with the reference's single step from the same state. (The reference equals
``torch.optim`` step for step: the notebook's visible tests show it.) The states carry
``step`` as a Python int, as the exercise's contract says. The inputs tell the formula variants
apart: ``eps = 1e-3`` with gradients of size 1e-6 (where the place of eps decides the step) and
1e2, the steps 1 to 3, and a step ``t = 1000`` from a state with ``step = 999``.

``lr_range_test`` gets scripted losses: a function that pops the next loss from a list, with
exactly as many losses as the reference asks for, so calling ``step_fn`` once too often raises.

``train_digits_one_cycle`` is judged on accuracy, not on equality with the reference: its probes
compare with :func:`_digits_accuracy`, which evaluates the returned parameters on the validation
part of the split here, in the trusted process. Its width is the student's choice, so its shapes
on ``meta`` need not match the reference's: those probes skip the second device.

Structural rule: the step functions and ``one_cycle`` may not use ``torch.optim``'s optimizers or
``OneCycleLR`` (the oracles). Calls made ``.under_rule(NO_TORCH_OPTIM)`` replace them by mocks
that fail, which is recorded as ``RuleBroken``.
"""

import math

import numpy as np
import torch

from autograder.probes import call, fn, generator, probe, rule, tensor


def _no_torch_optim():
    """The oracles, replaced for the call by mocks that fail (a broken rule): classes and
    functionals."""
    import contextlib
    import importlib
    from unittest import mock

    stack = contextlib.ExitStack()
    for module, names in (
        ("torch.optim", ("SGD", "RMSprop", "Adam", "AdamW")),
        ("torch.optim.sgd", ("SGD", "sgd")),
        ("torch.optim.rmsprop", ("RMSprop", "rmsprop")),
        ("torch.optim.adam", ("Adam", "adam")),
        ("torch.optim.adamw", ("AdamW", "adamw")),
        ("torch.optim.lr_scheduler", ("OneCycleLR",)),
    ):
        loaded = importlib.import_module(module)
        for name in names:
            if hasattr(loaded, name):
                oracle = AssertionError("torch.optim is the oracle: write the rule yourself")
                stack.enter_context(mock.patch.object(loaded, name, side_effect=oracle))
    return stack


NO_TORCH_OPTIM = rule(_no_torch_optim)

#: One step from a given state: tight, as only the rounding of one step separates two answers.
STEP_TOLERANCE = dict(rtol=1e-9, atol=1e-15)


def _plain_state(state):
    """A torch.optim state as the exercise's contract has it: step an int, tensors copied."""
    return {
        key: int(value) if key == "step" else tensor(value.detach().numpy().copy())
        for key, value in state.items()
        if value is not None
    }


def _trajectory(optimizer_class, hyper, *, steps, scale, shape, seed, lr_of):
    """The calls of one torch.optim run, float64 on the CPU: (p, g, state before, lr) per step."""
    rng = np.random.default_rng(seed)
    param = torch.tensor(rng.standard_normal(shape)).requires_grad_(True)
    optimizer = optimizer_class([param], lr=lr_of(0), **hyper)
    found = []
    for t in range(steps):
        grad = scale * rng.standard_normal(shape)
        lr = lr_of(t)
        found.append(
            (param.detach().numpy().copy(), grad, _plain_state(optimizer.state[param]), lr)
        )
        optimizer.param_groups[0]["lr"] = lr
        param.grad = torch.tensor(grad)
        optimizer.step()
    return found


def _wavy(base, seed):
    """A learning rate that changes at every step, between 0.1 and 1.9 times base."""
    return lambda t: base * (1.0 + 0.9 * math.sin(1.3 * t + seed))


def _cycle(base):
    """A 1cycle-like learning rate over 60 steps: from base / 25 up to base and back down."""
    return lambda t: base * (0.04 + 0.96 * math.sin(math.pi * min(t, 59) / 59) ** 2) + 1e-6


def _steps(
    optimizer_class,
    hyper,
    mine=None,
    *,
    steps=50,
    scale=1.0,
    shape=(3, 4),
    seed=0,
    lr_of=None,
    rule_every=0,
):
    """One call of the student's step per step of a torch.optim run (see the module docstring)."""
    run = _trajectory(
        optimizer_class,
        hyper,
        steps=steps,
        scale=scale,
        shape=shape,
        seed=seed,
        lr_of=lr_of or _wavy(0.05, seed),
    )
    for t, (p, g, state, lr) in enumerate(run):
        made = call(tensor(p), tensor(g), state, lr=lr, **(mine if mine is not None else hyper))
        yield made.under_rule(NO_TORCH_OPTIM) if rule_every and t % rule_every == 1 else made


def _float32(calls):
    """The same calls with every tensor in float32 (the state included)."""
    for c in calls:
        p, g, state = c.args
        state32 = {
            k: v if isinstance(v, int) else tensor(v.array.astype(np.float32))
            for k, v in state.items()
        }
        yield call(
            tensor(p.array.astype(np.float32)),
            tensor(g.array.astype(np.float32)),
            state32,
            **c.kwargs,
        )


# ---- 1. ema --------------------------------------------------------------------------------------


@probe("optimizers_ema_fixed", function="ema")
def ema_fixed():
    values = np.array([1.0, 2.0, 4.0])
    yield call(tensor(values), 0.5, debias=False)
    yield call(tensor(values), 0.5)
    yield call(tensor(values), 0.0)
    yield call(tensor(np.array([7.5])), 0.98)
    yield call(tensor(np.array([7.5])), 0.98, debias=False)
    yield call(tensor(values), 1.0)  # ValueError
    yield call(tensor(values), -0.1)  # ValueError


@probe("optimizers_ema_oracle", function="ema", rtol=1e-10, atol=1e-12)
def ema_random():
    rng = np.random.default_rng(50_101)
    for length, beta in [
        (1, 0.5),
        (2, 0.9),
        (7, 0.3),
        (50, 0.9),
        (300, 0.98),
        (40, 0.0),
        (25, 0.999),
        (3, 0.999999),
    ]:
        values = rng.standard_normal(length) * 3.0 + 1.0
        yield call(tensor(values), beta)
        yield call(tensor(values), beta, debias=False)
    # float32 stays float32 (compared loosely: float32 rounds each average)
    yield call(tensor((rng.standard_normal(20) + 2.0).astype(np.float32)), 0.9)


# ---- 2. sgd_step ---------------------------------------------------------------------------------


@probe("optimizers_sgd_step_fixed", function="sgd_step", **STEP_TOLERANCE)
def sgd_fixed():
    p, g = tensor(np.array([1.0, 2.0])), tensor(np.array([1.0, -1.0]))
    yield call(p, g, {}, lr=0.1, momentum=0.9, dampening=0.5)
    state = {"momentum_buffer": tensor(np.array([1.0, -1.0]))}
    yield call(
        tensor(np.array([0.9, 2.1])),
        tensor(np.array([1.0, 1.0])),
        state,
        lr=0.1,
        momentum=0.9,
        dampening=0.5,
    )
    yield call(p, g, {}, lr=0.1, momentum=0.9, nesterov=True)
    yield call(p, g, {}, lr=0.1, weight_decay=0.5)


@probe("optimizers_sgd_step_oracle", function="sgd_step", **STEP_TOLERANCE)
def sgd_trajectories():
    """50-60 steps each, the lr new at every step, from torch.optim.SGD's own states."""
    yield from _steps(torch.optim.SGD, dict(momentum=0.9), seed=1, rule_every=17)
    yield from _steps(torch.optim.SGD, dict(momentum=0.9, dampening=0.3), seed=2, shape=(5,))
    yield from _steps(
        torch.optim.SGD,
        dict(momentum=0.8, nesterov=True, weight_decay=0.01),
        seed=3,
        shape=(2, 3, 2),
        rule_every=25,
    )
    yield from _steps(
        torch.optim.SGD, dict(momentum=0.95, weight_decay=0.1), seed=4, steps=60, lr_of=_cycle(0.1)
    )
    yield from _steps(torch.optim.SGD, dict(), seed=5, steps=10, shape=(1,))
    yield from _steps(
        torch.optim.SGD,
        dict(momentum=0.5, dampening=0.9, weight_decay=1e-3),
        seed=6,
        steps=10,
        scale=1e2,
    )


@probe("optimizers_sgd_step_oracle", function="sgd_step", rtol=1e-5, atol=1e-6)
def sgd_float32():
    yield from _float32(_steps(torch.optim.SGD, dict(momentum=0.9, nesterov=True), seed=7, steps=4))


@probe("optimizers_sgd_step_contract", function="sgd_step", **STEP_TOLERANCE)
def sgd_contract():
    """Single steps: dampening at the first step, momentum 0, lr 0, inputs kept, errors."""
    rng = np.random.default_rng(50_201)

    def pg(*shape):
        return tensor(rng.standard_normal(shape)), tensor(rng.standard_normal(shape))

    yield call(*pg(4, 3), {}, lr=0.1, momentum=0.9, dampening=0.7)  # step 1: undamped buffer
    yield call(*pg(2, 5), {}, lr=0.3, momentum=0.9, dampening=0.7, weight_decay=0.2)
    yield call(
        *pg(
            3,
        ),
        {},
        lr=0.1,
        momentum=0.7,
        nesterov=True,
    )
    yield call(
        *pg(
            3,
        ),
        {},
        lr=0.1,
        momentum=0.7,
        nesterov=True,
        weight_decay=0.5,
    )
    yield call(*pg(2, 2), {}, lr=0.05)  # no momentum: state {}
    yield call(*pg(2, 2), {}, lr=0.0, momentum=0.9)  # lr = 0: p unchanged, buffer set
    p, g = pg(3, 2)
    yield call(
        p,
        g,
        {"momentum_buffer": tensor(rng.standard_normal((3, 2)))},
        lr=0.2,
        momentum=0.9,
        weight_decay=0.1,
    )
    yield call(
        p,
        g,
        {"momentum_buffer": tensor(rng.standard_normal((3, 2)))},
        lr=0.2,
        momentum=0.6,
        nesterov=True,
    )
    for bad in [
        dict(lr=-0.1),
        dict(lr=0.1, momentum=-0.5),
        dict(lr=0.1, weight_decay=-1e-4),
        dict(lr=0.1, momentum=0.9, dampening=-0.1),
        dict(lr=0.1, nesterov=True),
        dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
        dict(lr=0.1, momentum=-0.9, nesterov=True),
    ]:
        yield call(
            *pg(
                2,
            ),
            {},
            **bad,
        )


# ---- 3. rmsprop_step -----------------------------------------------------------------------------


@probe("optimizers_rmsprop_step_fixed", function="rmsprop_step", **STEP_TOLERANCE)
def rmsprop_fixed():
    p, g = tensor(np.array([1.0, -1.0])), tensor(np.array([2.0, 1e-6]))
    yield call(p, g, {}, lr=0.01, alpha=0.99, eps=1e-3)
    yield call(p, g, {}, lr=0.01, alpha=0.99, eps=1e-3, centered=True, momentum=0.9)


@probe("optimizers_rmsprop_step_oracle", function="rmsprop_step", **STEP_TOLERANCE)
def rmsprop_trajectories():
    for scale, seed in [(1e-6, 11), (1e2, 12), (1.0, 13)]:
        yield from _steps(
            torch.optim.RMSprop, dict(eps=1e-3), seed=seed, scale=scale, rule_every=23
        )
        yield from _steps(
            torch.optim.RMSprop,
            dict(eps=1e-3, centered=True),
            seed=seed + 10,
            scale=scale,
            shape=(7,),
            steps=30,
        )
        yield from _steps(
            torch.optim.RMSprop,
            dict(eps=1e-3, momentum=0.9, weight_decay=0.01),
            seed=seed + 20,
            scale=scale,
            steps=20,
        )
        yield from _steps(
            torch.optim.RMSprop,
            dict(eps=1e-3, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.1),
            seed=seed + 30,
            scale=scale,
            steps=20,
            shape=(2, 3),
        )
    yield from _steps(
        torch.optim.RMSprop,
        dict(momentum=0.9, centered=True),
        seed=41,
        steps=60,
        lr_of=_cycle(0.01),
    )


@probe("optimizers_rmsprop_step_oracle", function="rmsprop_step", rtol=1e-5, atol=1e-6)
def rmsprop_float32():
    yield from _float32(
        _steps(torch.optim.RMSprop, dict(eps=1e-3, momentum=0.9, centered=True), seed=42, steps=4)
    )


@probe("optimizers_rmsprop_step_oracle", function="rmsprop_step", **STEP_TOLERANCE)
def rmsprop_contract():
    rng = np.random.default_rng(50_301)

    def pg(*shape, scale=1.0):
        return tensor(rng.standard_normal(shape)), tensor(scale * rng.standard_normal(shape))

    yield call(*pg(3, 2), {}, lr=0.01)  # the defaults: alpha 0.99, eps 1e-8
    yield call(*pg(4, scale=1e-6), {}, lr=0.01, eps=1e-3, momentum=0.9, centered=True)
    yield call(*pg(2, 2), {}, lr=0.0, momentum=0.5)
    for bad in [
        dict(lr=-0.1),
        dict(lr=0.1, alpha=-0.9),
        dict(lr=0.1, eps=-1e-8),
        dict(lr=0.1, momentum=-0.1),
        dict(lr=0.1, weight_decay=-0.1),
    ]:
        yield call(
            *pg(
                2,
            ),
            {},
            **bad,
        )


# ---- 4. adam_step --------------------------------------------------------------------------------


@probe("optimizers_adam_step_fixed", function="adam_step", **STEP_TOLERANCE)
def adam_fixed():
    p, g = tensor(np.zeros(3)), tensor(np.array([100.0, -1e-6, 3.0]))
    yield call(p, g, {}, lr=0.01, eps=1e-8)
    yield call(p, g, {}, lr=0.01, eps=1e-3)
    # steps 1 to 3 of one run, each from the state torch.optim.Adam had before it
    yield from _steps(torch.optim.Adam, dict(eps=1e-3), seed=51, steps=3, scale=1e-6)
    yield from _steps(torch.optim.Adam, dict(eps=1e-3), seed=52, steps=3, scale=1e2)


def _late_state(rng, shape, scale, step=999):
    """A plausible Adam state after `step` steps: moments of gradients of size `scale`."""
    exp_avg = 0.3 * scale * rng.standard_normal(shape)
    exp_avg_sq = exp_avg**2 + scale**2 * (0.5 + rng.random(shape))
    return {"step": step, "exp_avg": tensor(exp_avg), "exp_avg_sq": tensor(exp_avg_sq)}


@probe("optimizers_adam_step_oracle", function="adam_step", **STEP_TOLERANCE)
def adam_trajectories():
    for scale, seed in [(1e-6, 61), (1e2, 62), (1.0, 63)]:
        yield from _steps(torch.optim.Adam, dict(eps=1e-3), seed=seed, scale=scale, rule_every=19)
        yield from _steps(
            torch.optim.Adam,
            dict(eps=1e-3, betas=(0.8, 0.99), weight_decay=0.1),
            seed=seed + 10,
            scale=scale,
            steps=30,
            shape=(6,),
        )
    yield from _steps(torch.optim.Adam, dict(), seed=71, steps=60, lr_of=_cycle(1e-2))
    # t = 1000: the bias corrections are nearly 1, but not exactly
    rng = np.random.default_rng(50_401)
    for scale in (1e-6, 1e2, 1.0):
        for hyper in [
            dict(lr=1e-3, eps=1e-3),
            dict(lr=3e-3, eps=1e-3, betas=(0.95, 0.9)),
            dict(lr=1e-3, eps=1e-3, weight_decay=0.05),
        ]:
            shape = (3, 2)
            yield call(
                tensor(rng.standard_normal(shape)),
                tensor(scale * rng.standard_normal(shape)),
                _late_state(rng, shape, scale),
                **hyper,
            )
    for bad in [
        dict(lr=-0.1),
        dict(lr=0.1, eps=-1e-8),
        dict(lr=0.1, weight_decay=-0.1),
        dict(lr=0.1, betas=(1.0, 0.999)),
        dict(lr=0.1, betas=(0.9, 1.0)),
        dict(lr=0.1, betas=(-0.1, 0.999)),
        dict(lr=0.1, decoupled=True, weight_decay=-1.0),
    ]:
        yield call(tensor(np.ones(2)), tensor(np.ones(2)), {}, **bad)


@probe("optimizers_adam_step_oracle", function="adam_step", rtol=1e-5, atol=1e-6)
def adam_float32():
    yield from _float32(
        _steps(torch.optim.Adam, dict(eps=1e-3, weight_decay=0.1), seed=72, steps=4)
    )


@probe("optimizers_adam_step_adamw", function="adam_step", **STEP_TOLERANCE)
def adamw_trajectories():
    for scale, seed in [(1e-6, 81), (1e2, 82), (1.0, 83)]:
        hyper = dict(eps=1e-3, weight_decay=0.1)
        yield from _steps(
            torch.optim.AdamW,
            hyper,
            dict(hyper, decoupled=True),
            seed=seed,
            scale=scale,
            rule_every=21,
        )
    hyper = dict(eps=1e-8, weight_decay=0.3, betas=(0.85, 0.995))
    yield from _steps(
        torch.optim.AdamW, hyper, dict(hyper, decoupled=True), seed=84, steps=60, lr_of=_cycle(3e-2)
    )
    # decoupled with no decay is Adam; the first step with decay; t = 1000
    yield from _steps(
        torch.optim.Adam, dict(eps=1e-3), dict(eps=1e-3, decoupled=True), seed=85, steps=5
    )
    p, g = tensor(np.array([2.0, -3.0])), tensor(np.array([0.5, 1e-6]))
    yield call(p, g, {}, lr=0.1, weight_decay=0.5, decoupled=True)
    yield call(p, g, {}, lr=0.1, weight_decay=0.5, decoupled=True, eps=1e-3)
    rng = np.random.default_rng(50_501)
    for scale in (1e-6, 1.0):
        yield call(
            tensor(rng.standard_normal(4)),
            tensor(scale * rng.standard_normal(4)),
            _late_state(rng, (4,), scale),
            lr=1e-3,
            eps=1e-3,
            weight_decay=0.1,
            decoupled=True,
        )


# ---- 5. heavy_ball_rate --------------------------------------------------------------------------


@probe("optimizers_heavy_ball_rate_fixed", function="heavy_ball_rate", rtol=1e-6, atol=1e-9)
def heavy_ball_fixed():
    for args in [
        (0.1, 0.0, 5.0),
        (0.5, 0.0, 5.0),
        (0.25, 0.25, 1.0),
        (1.0, 0.81, 1.0),
        (3.0, 0.5, 1.0),
        (0.1, 0.5, 0.0),
        (0.0, 0.9, 3.0),
        (0.5, 0.0, 2.0),
    ]:
        yield call(*args)


@probe("optimizers_heavy_ball_rate_oracle", function="heavy_ball_rate", rtol=1e-6, atol=1e-9)
def heavy_ball_random():
    rng = np.random.default_rng(50_601)
    for _ in range(30):
        yield call(float(rng.random()), float(0.99 * rng.random()), float(5.0 * rng.random()))
    # real roots of either sign, past the edge of stability, and the chapter's optimum
    for args in [
        (0.4, 0.1, 8.0),
        (1.5, 0.3, 2.0),
        (0.9, 0.2, 0.1),
        (2.0, 0.9, 2.0),
        (4.0 / (10.0 + 1.0) ** 2, ((10.0 - 1.0) / (10.0 + 1.0)) ** 2, 100.0),
        (4.0 / (10.0 + 1.0) ** 2, ((10.0 - 1.0) / (10.0 + 1.0)) ** 2, 1.0),
        (1.0, 0.49, 0.09),
    ]:
        yield call(*args)


# ---- 6. lr_range_test ----------------------------------------------------------------------------


def _scripted(losses):
    """A step_fn that returns the scripted losses L in turn (an IndexError once they run out)."""
    L = [float(v) for v in losses]
    return fn(lambda lr: L.pop(0), L=L)


def _geometric(start, end, n):
    return [start * (end / start) ** (i / (n - 1)) for i in range(n)]


@probe("optimizers_lr_range_test_fixed", function="lr_range_test", rtol=1e-12, atol=1e-15)
def range_test_fixed():
    lrs = [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0]
    # beta = 0: equal to the bound goes on, above it stops; exactly the losses asked for
    yield call(_scripted([3.0, 2.0, 1.0, 4.0, 4.5]), lrs, beta=0.0)
    yield call(_scripted([3.0, 2.0, 1.0, 4.0, 4.0, 4.0]), lrs, beta=0.0)
    yield call(_scripted([100.0, 1.0, 2.5]), lrs[:4], beta=0.0, div_factor=2.0)
    yield call(_scripted([1.0, 2.0, 2.0000001]), lrs[:3], beta=0.0, div_factor=2.0)
    yield call(_scripted([1.0, 2.0, 4.0]), lrs[:3], beta=0.5)
    yield call(_scripted([5.0]), [0.1])
    yield call(_scripted([]), [])
    for bad in [dict(beta=1.0), dict(beta=-0.5), dict(div_factor=0.0), dict(div_factor=-4.0)]:
        yield call(_scripted([1.0]), [0.1], **bad)


@probe("optimizers_lr_range_test_smoothing", function="lr_range_test", rtol=1e-10, atol=1e-12)
def range_test_smoothing():
    """Smoothed stops: a spike the average absorbs, a raw loss past the bound that the smoothed
    loss is not, a loss that depends on the lr given, other betas and div_factors."""
    lrs = _geometric(1e-6, 10.0, 100)
    curve = [(math.log10(lr) + 2.0) ** 2 + 0.5 for lr in lrs]
    # the reference stops at index 90 with beta 0.9: 91 losses, no more
    yield call(_scripted(curve[:91]), lrs, beta=0.9)
    # a lone spike of 10x the best raw loss early on: the raw rule would stop, the smoothed not
    spiky = [2.0, 1.5, 1.2, 1.0, 12.0, 0.9, 0.8, 0.7, 0.6, 0.5]
    yield call(_scripted(spiky), _geometric(1e-3, 1.0, 10), beta=0.9)
    yield call(_scripted(spiky[:5]), _geometric(1e-3, 1.0, 10), beta=0.0)
    # the loss is a function of the lr passed in, with a deterministic wiggle
    wiggle = fn(
        lambda lr: float((np.log10(lr) + 2.0) ** 2 + 0.5 + 0.3 * np.sin(37.0 * np.log10(lr)))
    )
    for beta, div in [(0.98, 4.0), (0.9, 2.0), (0.5, 10.0), (0.0, 4.0)]:
        yield call(wiggle, _geometric(1e-5, 100.0, 120), beta=beta, div_factor=div)
    # default beta 0.98 on a curve that explodes; the first point never stops the test
    rng = np.random.default_rng(50_701)
    noisy = [2.3 * math.exp(-i / 20) + 0.1 + 0.05 * rng.random() for i in range(60)]
    noisy += [noisy[-1] * 1.5**k for k in range(1, 41)]
    yield call(_scripted(noisy), _geometric(1e-7, 10.0, 100))
    yield call(_scripted([50.0, 1.0, 1.0, 1.0]), [1e-3, 1e-2, 1e-1, 1.0], beta=0.5)


# ---- 7. suggest_lr -------------------------------------------------------------------------------


@probe("optimizers_suggest_lr_fixed", function="suggest_lr", rtol=1e-12, atol=0.0)
def suggest_fixed():
    lrs = [1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0]
    losses = [1.0, 2.0, 1.8, 1.5, 1.0, 0.8, 0.7, 3.0]
    for method in ("minimum", "steep", "valley"):
        yield call(lrs, losses, method)
    # ties: first arg-min (minimum), first steepest slope (steep), first longest valley (valley)
    for method in ("minimum", "steep", "valley"):
        yield call([1.0, 2.0, 4.0, 8.0, 16.0, 32.0], [1.0, 0.5, 0.5, 0.0, 1.0, 0.5], method)
        yield call([1.0, 2.0, 4.0, 8.0, 16.0], [1.0, 0.5, 0.7, 0.5, 2.0], method)
    # uneven spacing: d loss / d ln(lr), not d loss / d lr
    yield call([1.0, 2.0, 10.0, 11.0], [1.0, 0.5, 0.0, -0.1], "steep")
    yield call([1.0, 1.5, 10.0, 100.0], [1.0, 0.8, 0.0, -0.5], "steep")
    # valley: its start can be -1 (clamped to 0), a single point, a rise only, two valleys
    yield call([0.1, 1.0], [2.0, 1.0], "valley")
    yield call([0.1, 1.0, 10.0], [3.0, 2.0, 1.0], "valley")
    yield call([0.1, 1.0, 10.0], [1.0, 2.0, 3.0], "valley")
    yield call([0.1, 1.0], [1.0, 1.0], "valley")
    two = [5.0, 4.0, 3.0, 6.0, 5.5, 5.0, 4.5, 4.0, 3.5, 9.0]
    yield call(_geometric(1e-4, 1e1, 10), two, "valley")
    yield call(_geometric(1e-4, 1e1, 10), two, "minimum")
    yield call(_geometric(1e-4, 1e1, 10), two, "steep")
    for args in [
        (lrs, losses, "slide"),
        (lrs, losses, "Minimum"),
        (lrs, losses[:-1], "minimum"),
        ([1.0], [1.0], "steep"),
        ([1.0], [1.0], "minimum"),
        ([], [], "valley"),
    ]:
        yield call(*args)


@probe("optimizers_suggest_lr_fixed", function="suggest_lr", rtol=1e-12, atol=0.0)
def suggest_curves():
    """Range-test curves: smooth, noisy, with a plateau, of lengths 2 to 120."""
    rng = np.random.default_rng(50_801)
    for n in (2, 3, 5, 17, 60, 120):
        lrs = _geometric(1e-6, 10.0, n)
        base = [(math.log10(lr) + 2.0) ** 2 / 10.0 + 0.3 for lr in lrs]
        noisy = [b + 0.05 * rng.standard_normal() for b in base]
        for losses in (base, noisy):
            for method in ("minimum", "steep", "valley"):
                yield call(lrs, losses, method)
    plateau = (
        [2.0] * 10 + [2.0 - 0.1 * k for k in range(15)] + [0.6] * 5 + [0.6 + k for k in range(5)]
    )
    for method in ("minimum", "steep", "valley"):
        yield call(_geometric(1e-5, 1.0, len(plateau)), plateau, method)


# ---- 8. one_cycle --------------------------------------------------------------------------------

_CYCLES = [
    (100, dict(max_lr=1.0)),
    (100, dict(max_lr=1.0, three_phase=True, anneal="linear")),
    (37, dict(max_lr=2.0, pct_start=0.25, div_factor=10.0, final_div_factor=100.0)),
    (57, dict(max_lr=0.3, pct_start=0.4, three_phase=True)),
    (23, dict(max_lr=0.05, pct_start=0.5, three_phase=True, anneal="linear", div_factor=5.0)),
    (120, dict(max_lr=0.1, anneal="linear", base_momentum=0.8, max_momentum=0.99)),
    (7, dict(max_lr=1.0, pct_start=0.3)),  # the peak at 1.1: between two steps
    (69, dict(max_lr=0.02, pct_start=0.3, final_div_factor=1e5)),
]


@probe("optimizers_one_cycle_fixed", function="one_cycle", rtol=1e-9, atol=1e-15)
def one_cycle_fixed():
    yield call(0, 100, max_lr=1.0)
    yield call(29, 100, max_lr=1.0)
    yield call(99, 100, max_lr=1.0)
    yield call(10, 50, max_lr=1.0, pct_start=0.42)
    yield call(58, 100, max_lr=1.0, three_phase=True, anneal="linear")
    yield call(14, 100, max_lr=1.0, three_phase=True, anneal="linear", pct_start=0.29)
    for step, total, settings in [
        (100, 100, {}),
        (-1, 100, {}),
        (0, 100, dict(anneal="exp")),
        (0, 100, dict(pct_start=0.0)),
        (0, 100, dict(pct_start=1.0)),
        (0, 3, dict(pct_start=0.3)),
        (0, 10, dict(pct_start=0.1)),
        (0, 0, {}),
    ]:
        yield call(step, total, max_lr=1.0, **settings)


@probe("optimizers_one_cycle_oracle", function="one_cycle", rtol=1e-9, atol=1e-15)
def one_cycle_every_step():
    for total, settings in _CYCLES:
        for step in range(total):
            made = call(step, total, **settings)
            yield made.under_rule(NO_TORCH_OPTIM) if step == total // 2 else made


# ---- 9. train_digits_one_cycle -------------------------------------------------------------------

SHAPES = {"W1": (64, None), "b1": (None,), "W2": (None, 10), "b2": (10,)}


def _digits(split_seed):
    from coursekit.data import load_digits_split  # imports scikit-learn: only when needed

    return load_digits_split(seed=split_seed, device="cpu", dtype=torch.float32)


def _digits_accuracy(split_seed, *, at_least=None, below=None):
    """A comparator: the returned parameters' accuracy on the split's validation data, computed
    here from the parameters alone, must be >= at_least (or < below)."""

    def compare(got, want):
        if not isinstance(got, dict) or not set(SHAPES) <= set(got):
            return "must return a dict with the keys W1, b1, W2, b2"
        params = {}
        for name in SHAPES:
            value = got[name]
            if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
                return f"{name} is not a numeric array"
            params[name] = value.astype(np.float64)
        width = params["W1"].shape[1] if params["W1"].ndim == 2 else -1
        for name, shape in SHAPES.items():
            if params[name].shape != tuple(width if s is None else s for s in shape):
                return f"{name} has the wrong shape"
        if width > 256:
            return "the hidden width is over the budget of 256"
        if not all(np.isfinite(p).all() for p in params.values()):
            return "the parameters have non-finite entries"
        data = _digits(split_seed)
        x_val, y_val = data.x_val.double().numpy(), data.y_val.numpy()
        hidden = np.maximum(x_val @ params["W1"] + params["b1"], 0.0)
        accuracy = float(((hidden @ params["W2"] + params["b2"]).argmax(axis=1) == y_val).mean())
        if at_least is not None and not accuracy >= at_least:
            return f"validation accuracy below {100 * at_least:.0f}% on another split"
        if below is not None and not accuracy < below:
            return f"validation accuracy {100 * below:.0f}% or more without training (epochs=0)"
        return None

    return compare


def _train_call(split_seed, epochs, seed):
    data = _digits(split_seed)
    x, y = data.x_train.numpy(), data.y_train.numpy()
    return call(tensor(x), tensor(y), epochs=epochs, generator=generator(seed))


@probe(
    "optimizers_train_digits_one_cycle_accuracy",
    function="train_digits_one_cycle",
    compare=_digits_accuracy(17, at_least=0.94),
    second_device=False,
)
def train_split_a():
    yield _train_call(17, 3, 1_701)


@probe(
    "optimizers_train_digits_one_cycle_accuracy",
    function="train_digits_one_cycle",
    compare=_digits_accuracy(28, at_least=0.94),
    second_device=False,
)
def train_split_b():
    yield _train_call(28, 3, 2_802)


@probe(
    "optimizers_train_digits_one_cycle_accuracy",
    function="train_digits_one_cycle",
    compare=_digits_accuracy(39, below=0.5),
    second_device=False,
)
def train_untrained():
    yield _train_call(39, 0, 3_903)
