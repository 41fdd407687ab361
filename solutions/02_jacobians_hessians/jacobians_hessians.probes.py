"""Probes for chapter 02: the hidden checks, decided outside the student's kernel.

Each probe calls one of the student's functions on inputs drawn here and compares what comes back
with the reference solution's results on the same inputs (see autograder/probes.py). The draws
mirror the hidden tests of the notebook beside this file, with other seeds.

The callables, generators and models that numerical_jacobian, hvp, power_iteration and
train_head_only take are fn(...) and built(...) arguments: Python written here, whose source
text is built inside the sandbox, with plain data given here.

Besides what each call returns, the framework checks by default that the arguments are unchanged
after the call (values, requires_grad and .grad), that returned tensors have the reference's
dtype, device and requires_grad, and that the call works with every tensor on the ``meta`` device.
Callables that read the very tensor passed as x or w (``ARGS[1]``: the call's own arguments)
catch an answer that perturbs or differentiates the caller's tensor instead of a copy.

Structural rules the hidden tests check (derive by hand: no autograd; never build a large matrix)
are kept by calls made ``.under_rule(...)``: the call runs inside the notebook's ``OpRecorder``,
and a rule broken is recorded as the exception ``RuleBroken``, which the reference never raises.
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from autograder.probes import (
    ARGS,
    built,
    call,
    checked,
    device,
    fn,
    from_notebook,
    generator,
    probe,
    rule,
    tensor,
)

F64 = np.float64
OpRecorder = from_notebook("OpRecorder")

#: The rule of the derived Jacobians and Hessians: no backward (autograd) op runs in the call.
NO_AUTOGRAD = rule(lambda: checked(OpRecorder(), lambda rec: not rec.backward_ops()))


def _no_autograd_smaller_than(entries):
    """No backward op runs, and no tensor the call makes has ``entries`` elements or more."""
    return rule(
        lambda: checked(OpRecorder(), lambda rec: not rec.backward_ops() and rec.largest < entries),
        entries=int(entries),
    )


def _smaller_than(entries):
    """No tensor the call makes has ``entries`` elements or more."""
    return rule(
        lambda: checked(OpRecorder(), lambda rec: rec.largest < entries), entries=int(entries)
    )


def _orthogonal(rng, dim):
    """A random (dim, dim) orthogonal matrix."""
    q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    return q


# ---- 2. tanh_jacobian ---------------------------------------------------------------------------


@probe("jacobians_hessians_tanh_jacobian_fixed", function="tanh_jacobian")
def tanh_fixed():
    yield call(tensor(np.zeros(3, dtype=F64)))
    yield call(tensor(np.array([-1.0, 0.5, 20.0])))


@probe("jacobians_hessians_tanh_jacobian_oracle", function="tanh_jacobian")
def tanh_random():
    rng = np.random.default_rng(62_831)
    yield call(tensor(rng.standard_normal(6)))
    for n in (1, 17, 64):
        yield call(tensor(3 * rng.standard_normal(n)))
    for n in (1, 17, 64):  # derived, not autograd: no backward op may run
        yield call(tensor(3 * rng.standard_normal(n))).under_rule(NO_AUTOGRAD)
    # saturated entries, n = 1, float32
    yield call(tensor(np.array([-1e3, -40.0, 0.0, 40.0, 1e3, 1e300])))
    yield call(tensor(np.array([-7.5])))
    yield call(tensor(rng.standard_normal(5).astype(np.float32)))


# ---- 3. linear_jacobian_input, linear_jacobian_weights ------------------------------------------


@probe("jacobians_hessians_linear_jacobian_input_oracle", function="linear_jacobian_input")
def linear_input_random():
    yield call(tensor(np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])))
    rng = np.random.default_rng(77_003)
    for d_in, d_out in [(1, 1), (4, 7), (9, 2), (3, 3), (1, 5), (5, 1)]:
        yield call(tensor(rng.standard_normal((d_in, d_out))))
    yield call(tensor(rng.standard_normal((2, 3)).astype(np.float32)))


@probe("jacobians_hessians_linear_jacobian_weights_fixed", function="linear_jacobian_weights")
def linear_weights_fixed():
    yield call(tensor(np.array([1.0, 2.0])), 3)


@probe("jacobians_hessians_linear_jacobian_weights_oracle", function="linear_jacobian_weights")
def linear_weights_random():
    rng = np.random.default_rng(50_929)
    for d_in, d_out in [(4, 3), (1, 1), (5, 2), (3, 8), (1, 4), (4, 1)]:
        yield call(tensor(rng.standard_normal(d_in)), d_out)
    yield call(tensor(rng.standard_normal(3).astype(np.float32)), 2)


# ---- 4. softmax_jacobian ------------------------------------------------------------------------


@probe("jacobians_hessians_softmax_jacobian_fixed", function="softmax_jacobian", atol=1e-12)
def softmax_fixed():
    z = np.array([1.0, -2.0, 0.5])
    yield call(tensor(np.zeros(4, dtype=F64)))
    yield call(tensor(z))
    yield call(tensor(z + 100.0))


@probe("jacobians_hessians_softmax_jacobian_oracle", function="softmax_jacobian", atol=1e-12)
def softmax_random():
    rng = np.random.default_rng(91_447)
    yield call(tensor(rng.standard_normal(5)))
    cases = [(1, 1.0, 0.0), (7, 1.0, 0.0), (12, 30.0, 800.0), (30, 5.0, -900.0)]
    for n, scale, offset in cases:
        yield call(tensor(scale * rng.standard_normal(n) + offset))
    for n, scale, offset in cases:  # derived, not autograd: no backward op may run
        z = tensor(scale * rng.standard_normal(n) + offset)
        yield call(z).under_rule(NO_AUTOGRAD)


@probe("jacobians_hessians_softmax_jacobian_oracle", function="softmax_jacobian", atol=1e-12)
def softmax_extremes():
    """Logit spreads of 1e3 and beyond, in both directions: finite, and the reference's values."""
    rng = np.random.default_rng(27_449)
    for z in [
        [0.0, 1000.0],
        [0.0, -1000.0],
        [1000.0] + [0.0] * 9,
        [-1000.0] + [0.0] * 9,
        [0.0] * 9 + [1500.0],
        [3.0, 1e4, -1e4, 2.0],
        [1e6, 1e6 - 0.5, -1e6],
        [-1e5, -1e5 + 1.0, -1e5 - 2.0],
        [1.5e308, -1.5e308, 0.0],
        [720.0],
    ]:
        yield call(tensor(np.array(z)))
    for scale in (1e3, 1e5):
        yield call(tensor(scale * rng.standard_normal(16)))
    yield call(tensor(np.array([0.0, 1000.0, -5.0]))).under_rule(NO_AUTOGRAD)
    yield call(tensor(np.array([0.5, -80.0, 80.0], dtype=np.float32)))  # float32 overflows at 89


# ---- 5. logistic_hessian ------------------------------------------------------------------------


@probe("jacobians_hessians_logistic_hessian_oracle", function="logistic_hessian")
def logistic_random():
    rng = np.random.default_rng(38_197)
    cases = [
        (20, 4, 1.0),
        (1, 1, 1.0),
        (50, 3, 0.5),
        (33, 12, 2.0),
        (200, 6, 4.0),
        (1, 4, 1.0),
        (6, 1, 2.0),
        (15, 3, 1e3),
        (9, 2, 1e5),
    ]  # scores in the thousands: p (1 - p) = 0
    for n, d, scale in cases:
        yield call(tensor(rng.standard_normal((n, d))), tensor(scale * rng.standard_normal(d)))
    # derived, not autograd; and where N > D, no (N, N) matrix diag(p (1 - p)): scale X's rows
    for n, d, scale in cases:
        rule = _no_autograd_smaller_than(n * n) if n > d else NO_AUTOGRAD
        X, w = tensor(rng.standard_normal((n, d))), tensor(scale * rng.standard_normal(d))
        yield call(X, w).under_rule(rule)


def _symmetric_psd_close(got, want):
    """The Hessian must be symmetric, positive semi-definite and match the reference."""
    if not isinstance(got, np.ndarray) or got.dtype.kind not in "biuf":
        return f"returned {type(got).__name__} where a numeric array was expected"
    if got.shape != want.shape:
        return "an array of the wrong shape"
    h = got.astype(np.float64)
    if not np.all(np.isfinite(h)):
        return "entries that are not finite"
    if not np.allclose(h, h.T, rtol=1e-7, atol=1e-9):
        return "H is not symmetric"
    if np.linalg.eigvalsh((h + h.T) / 2).min() < -1e-10:
        return "H is not positive semi-definite"
    if not np.allclose(h, want, rtol=1e-7, atol=1e-9):
        return "wrong values"
    return None


@probe(
    "jacobians_hessians_logistic_hessian_properties",
    function="logistic_hessian",
    compare=_symmetric_psd_close,
)
def logistic_properties():
    yield call(tensor(np.array([[1.0, 2.0, -1.0]])), tensor(np.zeros(3, dtype=F64)))
    rng = np.random.default_rng(84_613)
    yield call(tensor(rng.standard_normal((30, 5))), tensor(3 * rng.standard_normal(5)))
    for n, d in [(8, 10), (40, 6)]:  # singular H: more features than examples, a repeated column
        X = rng.standard_normal((n, d))
        X[:, -1] = X[:, 0]
        yield call(tensor(X), tensor(5 * rng.standard_normal(d)))
    for n, d, scale in [(12, 3, 1e3), (7, 2, 1e6)]:  # saturated: H stays finite (and small)
        yield call(tensor(rng.standard_normal((n, d))), tensor(scale * rng.standard_normal(d)))


# ---- 8. max_stable_lr ---------------------------------------------------------------------------


def _same_rate(got, want):
    """A float (or a one-element array, which float() accepts) within 1e-6 of the reference."""
    if isinstance(got, np.ndarray) and got.size == 1 and got.dtype.kind in "iuf":
        got = float(got.reshape(-1)[0])
    if isinstance(got, bool) or not isinstance(got, int | float):
        return f"returned {type(got).__name__} where a float was expected"
    if not np.isfinite(got) or abs(got - want) > 1e-6 * abs(want):
        return "wrong learning rate"
    return None


# No second run on the meta device: the rate is a float read from a tensor (.item()), which meta
# tensors cannot give, so the reference would run every power-iteration step there, slowly, for
# a result that is never compared.
@probe(
    "jacobians_hessians_max_stable_lr_gd",
    function="max_stable_lr",
    compare=_same_rate,
    second_device=False,
)
def max_lr_random():
    yield call(tensor(np.array([[3.0, 1.0], [1.0, 2.0]])))
    yield call(tensor(np.array([[4.0]])))  # D = 1
    rng = np.random.default_rng(19_937)
    for dim, scale in [(3, 1.0), (12, 50.0), (40, 0.01), (25, 3.0)]:
        q = _orthogonal(rng, dim)
        spectrum = scale * (0.1 + 0.8 * rng.random(dim))
        spectrum[int(rng.integers(dim))] = scale  # the gap to the next eigenvalue is >= 10 %
        yield call(tensor((q * spectrum) @ q.T))
    # the top two eigenvalues within 1 % or less: the num_iters given decides
    for dim, second, num_iters in [(6, 0.99, 3000), (20, 0.995, 6000)]:
        q = _orthogonal(rng, dim)
        spectrum = 0.5 * rng.random(dim)
        spectrum[:2] = 1.0, second
        yield call(tensor((q * spectrum) @ q.T), num_iters)
    q = _orthogonal(rng, 8)  # a gap of 10 % again, num_iters as a keyword
    spectrum = 3.0 * (0.1 + 0.8 * rng.random(8))
    spectrum[0] = 3.0
    yield call(tensor((q * spectrum) @ q.T), num_iters=800)


# ---- 1. numerical_jacobian ----------------------------------------------------------------------
# A callable argument is an fn(...), made inside the sandbox. Where the arguments are recorded
# after the call (to see that x is left unchanged) the callable is wrapped in a parameterless
# nn.Module, which the runner records as plain data (a bare function it cannot record).


def _recordable(function):
    """The callable ``function`` (an fn(...) or built(...)) as a parameterless nn.Module."""
    return built(
        lambda: type("Fn", (nn.Module,), {"forward": staticmethod(function)})(), function=function
    )


_SIN = built(lambda: torch.sin)
_NUMPY_SIN = fn(lambda t: torch.from_numpy(np.sin(t.detach().cpu().numpy())).to(t.device))


@probe(
    "jacobians_hessians_numerical_jacobian_fixed",
    function="numerical_jacobian",
    rtol=1e-6,
    atol=1e-8,
)
def numerical_jacobian_fixed():
    A = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    x = np.array([0.5, -1.0, 2.0])
    yield call(fn(lambda t: A @ t, A=tensor(A)), tensor(x))
    yield call(fn(lambda t: t**2), tensor(x))
    yield call(fn(lambda t: t**3), tensor(np.array([1.0])), eps=0.1)  # 3 + eps**2 = 3.01
    yield call(fn(lambda t: (t**2).sum()), tensor(np.array([[1.0, 2.0], [3.0, 4.0]])))
    yield call(_recordable(_SIN), tensor(x)).recording_args()  # x is left unchanged
    yield call(_recordable(_SIN), tensor(x), 1e-3).recording_args()


@probe(
    "jacobians_hessians_numerical_jacobian_oracle",
    function="numerical_jacobian",
    rtol=1e-6,
    atol=1e-8,
)
def numerical_jacobian_random():
    rng = np.random.default_rng(70_717)
    M, x = rng.standard_normal((3, 5)), rng.standard_normal(5)
    yield call(fn(lambda t: torch.tanh(M @ t) * t[:3], M=tensor(M)), tensor(x))
    yield call(_NUMPY_SIN, tensor(x))  # autograd cannot see into it
    shapes = [
        ((1,), (1,)),
        ((4,), ()),
        ((2, 3), (5,)),
        ((2, 1, 3), (2, 2)),
        ((7,), (3, 2)),
        ((3, 4), (2, 3)),
    ]
    for in_shape, out_shape in shapes:
        M = rng.standard_normal((int(np.prod(in_shape)), int(np.prod(out_shape))))
        x = rng.standard_normal(in_shape)
        yield call(_mixed(M, out_shape), tensor(x))
        yield call(_recordable(_NUMPY_SIN), tensor(x)).recording_args()  # x is left unchanged
    yield call(fn(lambda t: t**3), tensor(np.array([2.0])), eps=0.05)  # 12 + eps**2
    yield call(fn(lambda t: t**3), tensor(np.array([-1.5, 0.5])), eps=0.2)


def _mixed(M, out_shape):
    return fn(
        lambda t: torch.sin(t.reshape(-1) @ M).reshape(out_shape) + (t**2).sum() / 3,
        M=tensor(M),
        out_shape=out_shape,
    )


@probe(
    [
        "jacobians_hessians_numerical_jacobian_fixed",
        "jacobians_hessians_numerical_jacobian_oracle",
    ],
    function="numerical_jacobian",
    rtol=1e-6,
    atol=1e-8,
)
def numerical_jacobian_closure():
    """f reads the caller's x (ARGS[1]) besides its argument: x must never move, even briefly."""
    rng = np.random.default_rng(31_013)
    # each f is bound to an M of its own, drawn for the shape of x (one f reads it)
    reads_x = [
        ((4,), lambda M: fn(lambda t: torch.tanh(t) * ARGS[1].sum(), M=M)),
        ((3,), lambda M: fn(lambda t: torch.sin(t - ARGS[1]) + ARGS[1] ** 2, M=M)),
        ((3, 2), lambda M: fn(lambda t: (t * ARGS[1]).sum(dim=-1), M=M)),
        ((2, 1, 2), lambda M: fn(lambda t: (t.reshape(-1) @ M) * ARGS[1].reshape(-1)[0], M=M)),
        ((1,), lambda M: fn(lambda t: (t**2).sum() + ARGS[1].prod(), M=M)),
    ]
    for shape, bound_to in reads_x:
        f = bound_to(tensor(rng.standard_normal((int(np.prod(shape)), 3))))
        yield call(f, tensor(rng.standard_normal(shape)))
        yield call(f, tensor(rng.standard_normal(shape)), 1e-3)
    yield call(fn(lambda t: t * ARGS[1]), tensor(np.array([1.5, -2.0])), eps=0.25)


# ---- 6. hvp -------------------------------------------------------------------------------------
# Each loss is made from the data it reads, bound by name.


def _quartic(X, y):
    return fn(
        lambda u: F.binary_cross_entropy_with_logits(X @ u, y) + 0.1 * (u**4).sum(),
        X=tensor(X),
        y=tensor(y),
    )


def _cross_entropy_cubic(X, labels):
    return fn(
        lambda U: F.cross_entropy(X @ U, labels) + 0.05 * (U**3).sum(),
        X=tensor(X),
        labels=tensor(labels),
    )


def _reads_w(X):
    """A loss that reads the caller's w (ARGS[1]) as a constant: differentiate at a new leaf."""
    return fn(
        lambda u: (
            (torch.tanh(X @ u) ** 2).mean()
            + 0.3 * (u * ARGS[1]).sum() ** 2
            + (u**3 * ARGS[1]).sum()
        ),
        X=tensor(X),
    )


def _softplus_ridge(X):
    return fn(lambda u: F.softplus(X @ u).mean() + 0.5 * (u**2).sum(), X=tensor(X))


def _log_cosh(X):
    return fn(lambda u: torch.log(torch.cosh(X @ u)).mean(), X=tensor(X))


@probe("jacobians_hessians_hvp_oracle", function="hvp")
def hvp_random():
    rng = np.random.default_rng(60_221)
    X, y = rng.standard_normal((12, 5)), rng.integers(0, 2, 12).astype(F64)
    for _ in range(2):
        w, v = rng.standard_normal(5), rng.standard_normal(5)
        yield call(_quartic(X, y), tensor(w), tensor(v))
    for n, d, c in [(10, 3, 2), (25, 6, 4), (7, 4, 3)]:  # a matrix of weights: softmax regression
        X, labels = rng.standard_normal((n, d)), rng.integers(0, c, n)
        W, V = rng.standard_normal((d, c)), rng.standard_normal((d, c))
        loss_fn = _recordable(_cross_entropy_cubic(X, labels))
        yield call(loss_fn, tensor(W), tensor(V)).recording_args()  # w and v are left unchanged
    # loss_fn reads the caller's w (ARGS[1]) as a constant: differentiate at a new leaf
    X = rng.standard_normal((9, 4))
    for _ in range(2):
        w, v = rng.standard_normal(4), rng.standard_normal(4)
        yield call(_reads_w(X), tensor(w), tensor(v))
    W, V = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    yield call(fn(lambda U: ((U * ARGS[1]) ** 2).sum() + (U**4).sum()), tensor(W), tensor(V))
    # w is a parameter that requires grad: its flag stays on and its .grad stays None
    X, y = rng.standard_normal((12, 5)), rng.integers(0, 2, 12).astype(F64)
    w, v = rng.standard_normal(5), rng.standard_normal(5)
    yield call(_quartic(X, y), tensor(w, requires_grad=True), tensor(v))
    yield call(_reads_w(X[:9, :4]), tensor(w[:4], requires_grad=True), tensor(v[:4]))
    # one parameter; float32 stays float32
    yield call(fn(lambda u: (u**4).sum() + torch.cosh(u).sum()), tensor([0.7]), tensor([2.0]))
    X32 = rng.standard_normal((6, 3)).astype(np.float32)
    yield call(
        fn(lambda u: F.softplus(X @ u).mean(), X=tensor(X32)),
        tensor(rng.standard_normal(3).astype(np.float32)),
        tensor(rng.standard_normal(3).astype(np.float32)),
    )


@probe("jacobians_hessians_hvp_no_hessian", function="hvp")
def hvp_large():
    rng = np.random.default_rng(83_219)
    n, d = 30, 2000
    X = rng.standard_normal((n, d))
    w, v = 0.05 * rng.standard_normal(d), rng.standard_normal(d)
    yield call(_softplus_ridge(X), tensor(w), tensor(v))
    n, d = 17, 3000
    X = rng.standard_normal((n, d))
    w, v = 0.1 * rng.standard_normal(d), rng.standard_normal(d)
    yield call(_log_cosh(X), tensor(w), tensor(v))
    # H is never formed: no tensor the call makes has d * d / 4 entries or more
    for n, d, loss in [(30, 2000, _softplus_ridge), (17, 3000, _log_cosh)]:
        X = rng.standard_normal((n, d))
        w, v = 0.1 * rng.standard_normal(d), rng.standard_normal(d)
        yield call(loss(X), tensor(w), tensor(v)).under_rule(_smaller_than(d * d // 4))


# ---- 7. power_iteration -------------------------------------------------------------------------


def _counted_matvec(A, limit):
    """matvec(v) = A v, as an nn.Module whose buffer too_many records whether it was called more
    than limit = num_iters times (the runner records it after the call)."""

    class Counted(nn.Module):
        n = 0
        too_many: torch.Tensor  # a buffer, registered below

        def forward(self, v):
            self.n += 1
            self.too_many.fill_(self.n > limit)
            return A @ v

    counted = Counted()
    counted.register_buffer("too_many", torch.zeros((), dtype=torch.bool))
    return counted


def _top_eigenvalue(got, want):
    """A float (or a one-element array, which float() accepts) within 1e-8 of the reference."""
    if isinstance(got, np.ndarray) and got.size == 1 and got.dtype.kind in "iuf":
        got = float(got.reshape(-1)[0])
    if isinstance(got, bool) or not isinstance(got, int | float):
        return f"returned {type(got).__name__} where a float was expected"
    if not np.isfinite(got) or abs(got - want) >= 1e-8 * abs(want):
        return "wrong estimate of the largest eigenvalue"
    return None


def _power_call(A, num_iters, seed):
    """power_iteration on matvec(v) = A v, counting the calls; the generator and the device go
    as keywords (they are not plain data, so they cannot be recorded)."""
    matvec = built(_counted_matvec, A=tensor(A), limit=num_iters)
    return call(
        matvec,
        A.shape[0],
        num_iters,
        generator=generator(seed),
        device=built(lambda: device),
    ).recording_args()


@probe(
    "jacobians_hessians_power_iteration_oracle",
    function="power_iteration",
    compare=_top_eigenvalue,
)
def power_iteration_random():
    yield _power_call(np.diag([1.0, 2.0, 5.0]), 100, 3)
    rng = np.random.default_rng(11_939)
    q = _orthogonal(rng, 10)
    yield _power_call((q * np.linspace(0.1, 4.0, 10)) @ q.T, 200, 4)
    for dim, top, num_iters in [
        (1, 3.0, 100),
        (50, 0.02, 100),
        (150, 7.0, 100),
        (300, 1e3, 100),
        (80, 2.5, 150),
    ]:
        q = _orthogonal(rng, dim)
        rest = 0.8 * top * rng.random(dim)  # the ratio to the top eigenvalue is <= 0.8
        rest[int(rng.integers(dim))] = top
        yield _power_call((q * rest) @ q.T, num_iters, int(rng.integers(1_000)))
    # the smallest num_iters: the estimate is lambda_T exactly as the text defines it
    for dim, num_iters in [(3, 1), (6, 1), (6, 2), (1, 1), (40, 3), (9, 5)]:
        q = _orthogonal(rng, dim)
        yield _power_call((q * (0.1 + rng.random(dim))) @ q.T, num_iters, int(rng.integers(1_000)))
    yield _power_call(np.diag([1.0, 2.0, 5.0]), 1, 3)


# ---- 9. train_head_only -------------------------------------------------------------------------
# The model is built in the sandbox with weights drawn here, and recorded after the call: its
# parameters, requires_grad flags and which .grad are None. A state_dict hook, run as the runner
# records it, first brings to a fixed state what the grade cell does not check, so that a correct
# answer agrees with the reference whichever way it trains.


def _sequential(widths, act):
    """An nn.Sequential of Linear layers of these widths with act between, float64 on the device."""
    pairs = zip(widths, widths[1:], strict=False)
    layers = [layer for a, b in pairs for layer in (nn.Linear(a, b), getattr(nn, act)())]
    return nn.Sequential(*layers[:-1]).double().to(device)


def _head_grads_unchecked(model, state, frozen_bias):
    """oracle: the head's .grad (left set by optimizer.step, or None after zero_grad) is not
    checked; with frozen_bias, the first layer's bias is frozen (requires_grad False) before the
    call: it stays so."""
    model.load_state_dict(state)
    if frozen_bias:
        model[0].bias.requires_grad_(False)

    def forget_head_grads(module, prefix, keep_vars):
        for p in module[-1].parameters():
            p.grad = None

    model.register_state_dict_pre_hook(forget_head_grads)
    return model


def _body_and_head_changed(model, state):
    """frozen: only that the body is unchanged and the head changed (recorded as True) is
    checked."""
    model.load_state_dict(state)
    head = {f"{len(model) - 1}.{k}": v.clone() for k, v in model[-1].state_dict().items()}

    def forget_grads_and_flags(module, prefix, keep_vars):
        for p in module.parameters():
            p.grad = None
            p.requires_grad_(True)

    def head_changed(module, state_dict, prefix, local_metadata):
        state_dict.update(
            {k: torch.tensor(not torch.equal(state_dict[k], v)) for k, v in head.items()}
        )

    model.register_state_dict_pre_hook(forget_grads_and_flags)
    model.register_state_dict_post_hook(head_changed)
    return model


def _model(rng, widths, act, make, scale=None, **options):
    """``make`` (model, state, **options) on an nn.Sequential of Linear layers of these widths
    with act between, float64 on the device; each parameter drawn from rng, times scale
    (default 1 / sqrt(its last size))."""
    state = {}
    for i, (d_in, d_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        for name, shape in (("weight", (d_out, d_in)), ("bias", (d_out,))):
            s = 1 / np.sqrt(shape[-1]) if scale is None else scale
            state[f"{2 * i}.{name}"] = tensor(s * rng.standard_normal(shape))
    model = built(_sequential, widths=list(widths), act=act)
    return built(make, model=model, state=state, **options)


def _losses_fell(got, want):
    """A list of len(want) floats, the last below the first (the grade cell's checks)."""
    if not isinstance(got, list | tuple) or len(got) != len(want):
        return f"return a list of {len(want)} floats, one loss per step"
    if not all(type(v) is float for v in got):
        return f"return a list of {len(want)} floats, one loss per step"
    if not got[-1] < got[0]:
        return "the loss did not go down"
    return None


def _same_losses(got, want):
    """One loss per step (numbers, or one-element arrays), within 1e-7 of the reference."""
    if isinstance(got, np.ndarray) and got.dtype.kind in "iuf":
        got = list(got.reshape(-1)) if got.ndim == 1 else got
    if not isinstance(got, list | tuple):
        return f"returned {type(got).__name__} where a list of losses was expected"
    values = []
    for v in got:
        if isinstance(v, np.ndarray) and v.size == 1 and v.dtype.kind in "iuf":
            v = float(v.reshape(-1)[0])
        if isinstance(v, bool) or not isinstance(v, int | float | np.floating):
            return f"a loss is a {type(v).__name__}, not a number"
        values.append(float(v))
    if len(values) != len(want):
        return f"{len(values)} losses for {len(want)} steps"
    if not np.allclose(values, want, rtol=1e-7, atol=1e-9):
        return "wrong losses"
    return None


@probe(
    "jacobians_hessians_train_head_only_frozen",
    function="train_head_only",
    compare=_losses_fell,
)
def train_head_only_fixed():
    rng = np.random.default_rng(29_303)
    for widths, steps, lr in [([4, 16, 16, 3], 25, 0.5), ([6, 10, 4], 8, 0.3)]:
        model = _model(rng, widths, "ReLU", _body_and_head_changed, scale=0.5)
        X, y = rng.standard_normal((64, widths[0])), rng.integers(0, widths[-1], 64)
        yield call(model, tensor(X), tensor(y), steps, lr).recording_args()


@probe(
    "jacobians_hessians_train_head_only_oracle",
    function="train_head_only",
    compare=_same_losses,
)
def train_head_only_random():
    rng = np.random.default_rng(52_673)
    model = _model(rng, [3, 8, 2], "Tanh", _head_grads_unchecked, scale=0.5, frozen_bias=False)
    X, y = rng.standard_normal((20, 3)), rng.integers(0, 2, 20)
    yield call(model, tensor(X), tensor(y), 3, 0.1).recording_args()
    for widths, steps, lr in [
        ([5, 7, 4], 10, 0.3),
        ([6, 12, 12, 9, 5], 15, 0.2),
        ([4, 6, 3], 1, 0.5),
    ]:
        model = _model(rng, widths, "ReLU", _head_grads_unchecked, frozen_bias=False)
        X, y = rng.standard_normal((50, widths[0])), rng.integers(0, widths[-1], 50)
        yield call(model, tensor(X), tensor(y), steps, lr).recording_args()
    # the smallest cases: a model that is only a head, one example, one step
    for widths, n, steps in [([4, 3], 30, 6), ([5, 6, 3], 1, 4), ([3, 2], 1, 1)]:
        model = _model(rng, widths, "Tanh", _head_grads_unchecked, frozen_bias=False)
        X, y = rng.standard_normal((n, widths[0])), rng.integers(0, widths[-1], n)
        yield call(model, tensor(X), tensor(y), steps, 0.4)
    # a body parameter frozen before the call stays frozen
    for widths, steps in [([4, 6, 3], 5), ([3, 5, 5, 2], 3)]:
        model = _model(rng, widths, "ReLU", _head_grads_unchecked, frozen_bias=True)
        X, y = rng.standard_normal((25, widths[0])), rng.integers(0, widths[-1], 25)
        yield call(model, tensor(X), tensor(y), steps, 0.3)
