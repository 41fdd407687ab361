"""Probes for chapter 03: the hidden checks, decided outside the student's kernel.

Each probe calls one of the student's functions on inputs drawn here and compares what comes back
with the reference solution's results on the same inputs (see autograder/probes.py). The draws
mirror the hidden tests of the notebook beside this file, with other seeds.

Caches are built here in NumPy (``linear_backward`` gets ``(x, W, b)``; ``batchnorm_backward``
gets ``(x_hat, gamma, inv_std)`` as ``batchnorm_forward`` computes them), and so are softmax
outputs: student and reference receive the very same tensors.

``train_digits`` is judged on accuracy, not on equality with the reference: its probes compare
with :func:`_digits_accuracy`, which evaluates the returned parameters on the validation part of
the split here, in the trusted process. A ``torch.Generator`` is not plain data, so these calls
pass ``generator=None`` (torch then draws from its default generator, which the reference
accepts too).

Structural rules the hidden tests check are kept by calls made ``.under_rule(...)``: cross_entropy
may not call the library's cross-entropy (``coursekit.forbid_calls``), and mlp_loss_and_grads and
batchnorm_backward must work under ``torch.no_grad()`` (computed by hand, not by autograd). A rule
broken is recorded as an exception (``RuleBroken``, or autograd's own error), which the reference
never raises.
"""

import math

import numpy as np
import torch

from autograder.probes import call, probe, tensor

EPS = 1e-5  # batchnorm_forward's default

#: cross_entropy by hand: the names the hidden test forbids (the library's own routines).
NO_LIBRARY_CROSS_ENTROPY = (
    'coursekit.forbid_calls(frozenset({"cross_entropy", "log_softmax", "logsumexp", "nll_loss"}),'
    ' what="cross_entropy")'
)
#: Gradients by hand: with autograd switched off, nothing changes.
NO_GRAD = "torch.no_grad()"


def _normal(rng, *shape, scale=1.0, shift=0.0):
    return scale * rng.standard_normal(shape) + shift


def _softmax(x):
    z = np.exp(x - x.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def _batchnorm_cache(x, gamma, eps=EPS):
    """The cache batchnorm_forward returns: (x_hat, gamma, inv_std), as tensors."""
    mean = x.mean(axis=0)
    inv_std = 1.0 / np.sqrt(((x - mean) ** 2).mean(axis=0) + eps)
    return (tensor((x - mean) * inv_std), tensor(gamma), tensor(inv_std))


# ---- linear_forward ------------------------------------------------------------------------------


@probe("backprop_linear_forward_fixed", function="linear_forward")
def linear_forward_fixed():
    x = np.array([[1.0, 2.0], [3.0, 4.0], [0.0, -1.0]])
    w = np.array([[1.0, 0.0, -1.0], [0.0, 1.0, 1.0]])
    yield call(tensor(x), tensor(w), tensor(np.array([0.5, 0.0, -2.0])))


@probe("backprop_linear_forward_oracle", function="linear_forward")
def linear_forward_random():
    rng = np.random.default_rng(52_017)
    for n, d_in, d_out in [(5, 4, 3), (1, 1, 1), (7, 3, 3), (2, 9, 5), (16, 12, 16)]:
        x, w, b = _normal(rng, n, d_in), _normal(rng, d_in, d_out), _normal(rng, d_out)
        yield call(tensor(x), tensor(w), tensor(b))


# ---- linear_backward -----------------------------------------------------------------------------


@probe("backprop_linear_backward_fixed", function="linear_backward")
def linear_backward_fixed():
    x = np.array([[1.0, 2.0], [3.0, 4.0], [0.0, -1.0]])
    w = np.array([[1.0, 0.0, -1.0], [0.0, 1.0, 1.0]])
    dout = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 2.0]])
    yield call(tensor(dout), (tensor(x), tensor(w), tensor(np.zeros(3))))


def _linear_backward_case(rng, n, d_in, d_out):
    x, w, b = _normal(rng, n, d_in), _normal(rng, d_in, d_out), _normal(rng, d_out)
    return call(tensor(_normal(rng, n, d_out)), (tensor(x), tensor(w), tensor(b)))


@probe("backprop_linear_backward_numerical", function="linear_backward")
def linear_backward_small():
    rng = np.random.default_rng(63_401)
    for n, d_in, d_out in [(4, 3, 2), (3, 3, 3), (5, 2, 5), (1, 4, 6), (6, 6, 2)]:
        yield _linear_backward_case(rng, n, d_in, d_out)


@probe("backprop_linear_backward_oracle", function="linear_backward")
def linear_backward_random():
    rng = np.random.default_rng(63_502)
    shapes = [(8, 5, 3), (4, 4, 4), (7, 3, 7), (2, 10, 1), (33, 17, 9), (5, 9, 5)]
    for n, d_in, d_out in shapes:
        yield _linear_backward_case(rng, n, d_in, d_out)


# ---- softmax_backward ----------------------------------------------------------------------------


@probe("backprop_softmax_backward_fixed", function="softmax_backward")
def softmax_backward_fixed():
    y = np.array([[0.2, 0.3, 0.5], [0.5, 0.5, 0.0]])
    yield call(tensor(np.array([[1.0, 2.0, 3.0], [1.0, 0.0, 4.0]])), tensor(y))
    yield call(tensor(np.full((2, 3), 5.0)), tensor(y))


def _softmax_backward_case(rng, n, c, scale=1.0):
    x = _normal(rng, n, c, scale=scale)
    return call(tensor(_normal(rng, n, c)), tensor(_softmax(x)))


@probe("backprop_softmax_backward_numerical", function="softmax_backward")
def softmax_backward_small():
    rng = np.random.default_rng(74_113)
    for n, c, scale in [(3, 4, 1.0), (4, 4, 1.0), (1, 6, 3.0), (6, 2, 1.0), (5, 5, 0.1)]:
        yield _softmax_backward_case(rng, n, c, scale)


@probe("backprop_softmax_backward_oracle", function="softmax_backward")
def softmax_backward_random():
    rng = np.random.default_rng(74_224)
    for n, c in [(6, 10), (7, 7), (1, 3), (40, 10), (3, 100), (10, 2)]:
        yield _softmax_backward_case(rng, n, c)


# ---- cross_entropy -------------------------------------------------------------------------------


def _labels(rng, n, c):
    return tensor(rng.integers(0, c, size=n).astype(np.int64))


@probe("backprop_cross_entropy_fixed", function="cross_entropy")
def cross_entropy_fixed():
    yield call(tensor(np.zeros((2, 4))), tensor(np.array([0, 3], dtype=np.int64)))
    yield call(tensor(np.array([[0.0, math.log(3.0)]])), tensor(np.array([1], dtype=np.int64)))


@probe("backprop_cross_entropy_numerical", function="cross_entropy")
def cross_entropy_small():
    rng = np.random.default_rng(85_301)
    for n, c in [(4, 3), (1, 5), (6, 6), (9, 2)]:
        yield call(tensor(_normal(rng, n, c, scale=2.0)), _labels(rng, n, c))


@probe("backprop_cross_entropy_oracle", function="cross_entropy")
def cross_entropy_random():
    rng = np.random.default_rng(85_412)
    for n, c, scale in [(16, 10, 3.0), (10, 10, 3.0), (1, 2, 1.0), (50, 7, 10.0), (3, 30, 0.5)]:
        yield call(tensor(_normal(rng, n, c, scale=scale)), _labels(rng, n, c))


@probe("backprop_cross_entropy_stable", function="cross_entropy")
def cross_entropy_huge():
    """Logits of size 1e4 in float64 (an unstable softmax overflows to inf, then NaN)."""
    rng = np.random.default_rng(85_523)
    for n, c in [(8, 5), (20, 12)]:
        yield call(tensor(_normal(rng, n, c, scale=1e4)), _labels(rng, n, c))
    yield call(tensor(np.full((2, 4), 2e4)), tensor(np.array([1, 2], dtype=np.int64)))
    yield call(
        tensor(np.array([[1e4, -1e4, 0.0], [-3e4, -3e4 + 1.0, -3e4 - 2.0]])),
        tensor(np.array([1, 0], dtype=np.int64)),
    )
    # by hand: none of the library's cross-entropy routines may run
    for n, c, scale in [(3, 4, 1.0), (8, 5, 1e4), (16, 10, 3.0)]:
        logits = tensor(_normal(rng, n, c, scale=scale))
        yield call(logits, _labels(rng, n, c)).under_rule(NO_LIBRARY_CROSS_ENTROPY)


@probe("backprop_cross_entropy_stable", function="cross_entropy", rtol=1e-5, atol=1e-6)
def cross_entropy_huge_float32():
    """The same in float32, where exp already overflows past about 88. (No ties here: with
    equal logits near 1e4, float32 itself loses the loss to about 1e-4.)"""
    rng = np.random.default_rng(85_634)
    for n, c in [(8, 5), (12, 4)]:
        yield call(tensor(_normal(rng, n, c, scale=1e4).astype(np.float32)), _labels(rng, n, c))


# ---- mlp_loss_and_grads --------------------------------------------------------------------------


@probe("backprop_mlp_loss_and_grads_fixed", function="mlp_loss_and_grads")
def mlp_fixed():
    params = {
        "W1": tensor(np.eye(2)),
        "b1": tensor(np.zeros(2)),
        "W2": tensor(np.zeros((2, 2))),
        "b2": tensor(np.zeros(2)),
    }
    x = np.array([[1.0, -1.0], [2.0, 0.0]])
    yield call(params, tensor(x), tensor(np.array([0, 1], dtype=np.int64)))


def _mlp_case(rng, n, d, h, c):
    shapes = {"W1": (d, h), "b1": (h,), "W2": (h, c), "b2": (c,)}
    params = {k: tensor(_normal(rng, *s)) for k, s in shapes.items()}
    return call(params, tensor(_normal(rng, n, d)), _labels(rng, n, c))


@probe("backprop_mlp_loss_and_grads_numerical", function="mlp_loss_and_grads")
def mlp_small():
    rng = np.random.default_rng(96_101)
    for n, d, h, c in [(5, 4, 6, 3), (4, 4, 4, 4), (2, 3, 5, 2), (7, 6, 3, 5)]:
        yield _mlp_case(rng, n, d, h, c)


@probe("backprop_mlp_loss_and_grads_oracle", function="mlp_loss_and_grads")
def mlp_random():
    rng = np.random.default_rng(96_202)
    shapes = [
        (16, 8, 12, 5),
        (10, 10, 10, 10),
        (1, 3, 4, 2),
        (64, 64, 32, 10),
        (6, 5, 6, 6),
        (9, 4, 7, 3),
    ]
    for n, d, h, c in shapes:
        yield _mlp_case(rng, n, d, h, c)
    for n, d, h, c in [(9, 4, 7, 3), (12, 6, 5, 4)]:  # by hand: autograd switched off
        yield _mlp_case(rng, n, d, h, c).under_rule(NO_GRAD)


# ---- sgd_step ------------------------------------------------------------------------------------


@probe("backprop_sgd_step_fixed", function="sgd_step")
def sgd_fixed():
    params = {"w": tensor(np.array([1.0, 2.0, 3.0])), "b": tensor(np.array([[0.5]]))}
    grads = {"w": tensor(np.array([10.0, -10.0, 0.0])), "b": tensor(np.array([[1.0]]))}
    yield call(params, grads, 0.1).recording_args()


@probe("backprop_sgd_step_contract", function="sgd_step", rtol=1e-12, atol=1e-15)
def sgd_contract():
    """The update, grads left alone, a negative lr rejected, leaves that require grad, lr = 0."""
    rng = np.random.default_rng(17_203)

    def dicts(shape, keys, requires_grad=False):
        params = {k: tensor(_normal(rng, *shape), requires_grad=requires_grad) for k in keys}
        return params, {k: tensor(_normal(rng, *shape)) for k in keys}

    yield call(*dicts((3, 2), "ab"), 0.25).recording_args()
    yield call(*dicts((2, 4), ["W1", "b1", "W2"]), 1.5).recording_args()
    yield call(*dicts((3, 2), "ab"), -0.1).recording_args()  # ValueError
    yield call(*dicts((4, 5), ["W"], requires_grad=True), 0.5).recording_args()
    yield call(*dicts((2, 3), ["W", "b"], requires_grad=True), 0.75).recording_args()
    yield call({"W": tensor(np.ones(2))}, {"W": tensor(np.ones(2))}, 0.0).recording_args()


# ---- batchnorm_backward --------------------------------------------------------------------------


@probe("backprop_batchnorm_backward_fixed", function="batchnorm_backward", atol=1e-12)
def batchnorm_fixed():
    x = np.array([[1.0, 0.0], [2.0, 4.0], [6.0, -1.0], [3.0, 1.0]])
    cache = _batchnorm_cache(x, np.array([2.0, -0.5]))
    yield call(tensor(np.tile([[3.0, -1.0]], (4, 1))), cache)


@probe("backprop_batchnorm_backward_numerical", function="batchnorm_backward")
def batchnorm_small():
    rng = np.random.default_rng(28_601)
    for n, d in [(5, 3), (4, 4), (2, 3), (9, 1), (3, 7)]:
        x, gamma = _normal(rng, n, d, scale=2.0, shift=1.0), _normal(rng, d)
        yield call(tensor(_normal(rng, n, d)), _batchnorm_cache(x, gamma))


@probe("backprop_batchnorm_backward_oracle", function="batchnorm_backward")
def batchnorm_random():
    rng = np.random.default_rng(28_702)
    for n, d in [(32, 6), (8, 8), (2, 5), (100, 3), (16, 64)]:
        x, gamma = _normal(rng, n, d, scale=3.0, shift=-1.0), _normal(rng, d, scale=3.0, shift=-1.0)
        yield call(tensor(_normal(rng, n, d, scale=3.0, shift=-1.0)), _batchnorm_cache(x, gamma))
    x = _normal(rng, 6, 3)  # gamma = 1 (beta = 0): the plain normalization
    yield call(tensor(_normal(rng, 6, 3)), _batchnorm_cache(x, np.ones(3)))
    # the formula needs no autograd: it gives the same under torch.no_grad()
    x = _normal(rng, 6, 3)
    yield call(tensor(_normal(rng, 6, 3)), _batchnorm_cache(x, np.ones(3))).under_rule(NO_GRAD)
    x, gamma = _normal(rng, 10, 4, scale=3.0, shift=-1.0), _normal(rng, 4, scale=3.0, shift=-1.0)
    cache = _batchnorm_cache(x, gamma)
    yield call(tensor(_normal(rng, 10, 4, scale=3.0, shift=-1.0)), cache).under_rule(NO_GRAD)


# ---- train_digits --------------------------------------------------------------------------------

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
            return f"validation accuracy {100 * below:.0f}% or more without training (steps=0)"
        return None

    return compare


def _train_call(split_seed, steps):
    data = _digits(split_seed)
    x, y = data.x_train.numpy(), data.y_train.numpy()
    return call(tensor(x), tensor(y), steps=steps, generator=None)


@probe(
    "backprop_train_digits_accuracy",
    function="train_digits",
    compare=_digits_accuracy(17, at_least=0.94),
)
def train_digits_split_a():
    yield _train_call(17, 150)


@probe(
    "backprop_train_digits_accuracy",
    function="train_digits",
    compare=_digits_accuracy(28, at_least=0.94),
)
def train_digits_split_b():
    yield _train_call(28, 150)


@probe(
    "backprop_train_digits_accuracy",
    function="train_digits",
    compare=_digits_accuracy(39, below=0.5),
)
def train_digits_untrained():
    yield _train_call(39, 0)
