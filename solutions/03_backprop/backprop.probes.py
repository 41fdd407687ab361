"""Probes for chapter 03: the hidden checks, decided outside the student's kernel.

Each probe calls one of the student's functions on inputs drawn here and compares what comes back
(result and cache, with their dtypes) with the reference solution's results on the same inputs
(see autograder/probes.py). Caches are built here in NumPy, in the exact form each docstring
gives, so student and reference receive the very same tensors.

The edges of each contract: non-square shapes, a batch of one, one feature or one class, float32
inputs (which must stay float32), constant rows for layer normalization and a common offset of
1e6, scores 1e3 apart in both directions and offsets of 1e4 for the log-softmax, |x| up to 1e4 for
the GELU, masks all kept or all dropped and p at 0, near 1 and out of range for dropout, and
pre-activations exactly at the ReLU's kink with a gradient above them for the residual block.

The exercise's structural rules are checked by calls made ``.under_rule(...)``: backward passes
under ``torch.no_grad()`` and with autograd's entry points forbidden (gradients by hand), each
function without the library routine it re-implements (``coursekit.forbid_calls``), and every
function without coursekit's layer classes (``coursekit.layers.forbid_layers``). A rule broken is
recorded as an exception (``RuleBroken``, or autograd's own error), which the reference never
raises.

``train_digits`` is judged on accuracy, not on equality with the reference: its probes compare
with :func:`_digits_accuracy`, which evaluates the returned parameters on the validation part of
the split here, in the trusted process.
"""

import math

import numpy as np
import torch

import coursekit
from autograder.probes import call, generator, probe, rule, tensor

EPS = 1e-5  # layernorm_forward's default
F32 = dict(rtol=1e-4, atol=1e-5)  # float32 results: student and reference round differently

NO_GRAD = rule(lambda: torch.no_grad())


def _forbid(names, function):
    return rule(
        lambda: coursekit.forbid_calls(names, what=function),
        names=frozenset(names),
        function=function,
    )


def _forbid_layers(function):
    """None of coursekit's layer classes is used in ``function``."""
    import coursekit.layers

    return coursekit.layers.forbid_layers(what=function)


def _no_layers(function):
    return rule(_forbid_layers, function=function)


AUTOGRAD = {"grad", "backward", "requires_grad_", "vjp", "jacrev", "jacfwd"}
NORMS = {"layer_norm", "batch_norm", "group_norm", "instance_norm", "native_layer_norm"}
LOG_SOFTMAX = {
    "log_softmax", "special_log_softmax", "softmax", "special_softmax", "logsumexp",
    "special_logsumexp", "cross_entropy", "nll_loss",
}  # fmt: skip
GELU = {"gelu"}
DROPOUT = {"dropout", "native_dropout", "alpha_dropout", "feature_alpha_dropout", "dropout1d"}


def _rules(c, function, library=frozenset(), backward=False):
    """``c`` under each rule in turn: the library routines, the layers, and autograd."""
    yield c.under_rule(_forbid(set(library) | (AUTOGRAD if backward else set()), function))
    yield c.under_rule(_no_layers(function))
    if backward:
        yield c.under_rule(NO_GRAD)


def _normal(rng, *shape, scale=1.0, shift=0.0):
    return scale * rng.standard_normal(shape) + shift


# ---- layer normalization -------------------------------------------------------------------------


def _ln_cache(x, gamma, eps=EPS):
    """The cache layernorm_forward returns: (x_hat, gamma, inv_std (N, 1)), as tensors."""
    centred = x - x.mean(axis=1, keepdims=True)
    inv_std = 1.0 / np.sqrt((centred**2).mean(axis=1, keepdims=True) + eps)
    return (tensor(centred * inv_std), tensor(gamma), tensor(inv_std))


@probe("backprop_layernorm_forward_fixed", function="layernorm_forward")
def layernorm_forward_fixed():
    x = np.array([[1.0, 3.0], [2.0, -2.0], [5.0, 5.0]])
    yield call(tensor(x), tensor(np.array([2.0, -1.0])), tensor(np.array([0.5, 0.0])), EPS)
    yield call(tensor(x), tensor(np.ones(2)), tensor(np.zeros(2)))  # eps by default
    yield call(tensor(np.array([[4.0], [-2.0]])), tensor(np.array([3.0])), tensor(np.array([1.0])))


@probe("backprop_layernorm_forward_oracle", function="layernorm_forward")
def layernorm_forward_random():
    rng = np.random.default_rng(31_101)
    for n, d in [(5, 4), (1, 7), (7, 1), (3, 9), (16, 12), (2, 2)]:
        x, g, b = _normal(rng, n, d, scale=3.0), _normal(rng, d), _normal(rng, d)
        yield call(tensor(x), tensor(g), tensor(b))
    for eps in (1e-3, 0.5):  # eps is an argument, inside the square root
        x = _normal(rng, 4, 3, scale=0.1)
        yield call(tensor(x), tensor(_normal(rng, 3)), tensor(_normal(rng, 3)), eps)
    x = _normal(rng, 4, 6) + 1e6  # a common offset: the centred variance keeps every digit
    yield call(tensor(x), tensor(_normal(rng, 6)), tensor(_normal(rng, 6)))
    x = np.vstack([np.full(5, 7.0), _normal(rng, 5)])  # a constant row
    yield call(tensor(x), tensor(_normal(rng, 5)), tensor(_normal(rng, 5)))
    x, g, b = _normal(rng, 6, 5), _normal(rng, 5), _normal(rng, 5)
    yield from _rules(call(tensor(x), tensor(g), tensor(b)), "layernorm_forward", NORMS)


@probe("backprop_layernorm_forward_oracle", function="layernorm_forward", **F32)
def layernorm_forward_float32():
    rng = np.random.default_rng(31_202)
    for n, d in [(3, 7), (8, 5)]:
        x, g, b = (
            a.astype(np.float32) for a in (_normal(rng, n, d), _normal(rng, d), _normal(rng, d))
        )
        yield call(tensor(x), tensor(g), tensor(b))


@probe("backprop_layernorm_backward_fixed", function="layernorm_backward", atol=1e-12)
def layernorm_backward_fixed():
    x = np.array([[1.0, 0.0, 2.0], [2.0, 4.0, -3.0], [6.0, -1.0, 0.5], [3.0, 1.0, 1.0]])
    dout = np.array([[3.0], [-1.0], [0.5], [2.0]]) * np.ones((1, 3))
    yield call(tensor(dout), _ln_cache(x, np.ones(3)))


@probe("backprop_layernorm_backward_numerical", function="layernorm_backward")
def layernorm_backward_small():
    rng = np.random.default_rng(31_303)
    for n, d in [(5, 3), (2, 6), (1, 4), (4, 1), (3, 3)]:
        x, gamma = _normal(rng, n, d, scale=2.0, shift=1.0), _normal(rng, d)
        yield call(tensor(_normal(rng, n, d)), _ln_cache(x, gamma))
    x, gamma = _normal(rng, 4, 5), _normal(rng, 5)
    yield call(tensor(_normal(rng, 4, 5)), _ln_cache(x, gamma)).under_rule(NO_GRAD)


@probe("backprop_layernorm_backward_oracle", function="layernorm_backward")
def layernorm_backward_random():
    rng = np.random.default_rng(31_404)
    for n, d in [(32, 6), (1, 10), (7, 16), (64, 3)]:
        x, gamma = _normal(rng, n, d, scale=3.0, shift=-1.0), _normal(rng, d, scale=3.0)
        yield call(tensor(_normal(rng, n, d, scale=3.0)), _ln_cache(x, gamma))
    x = np.vstack([np.full(4, -2.0), _normal(rng, 4)])  # a constant row: inv_std = 1/sqrt(eps)
    yield call(tensor(_normal(rng, 2, 4)), _ln_cache(x, _normal(rng, 4)))
    x, gamma = _normal(rng, 6, 5), _normal(rng, 5)
    c = call(tensor(_normal(rng, 6, 5)), _ln_cache(x, gamma))
    yield from _rules(c, "layernorm_backward", NORMS, backward=True)


@probe("backprop_layernorm_backward_oracle", function="layernorm_backward", **F32)
def layernorm_backward_float32():
    rng = np.random.default_rng(31_505)
    x, gamma = _normal(rng, 5, 4), _normal(rng, 4)
    cache = tuple(tensor(t.array.astype(np.float32)) for t in _ln_cache(x, gamma))
    yield call(tensor(_normal(rng, 5, 4).astype(np.float32)), cache)


# ---- log-softmax ---------------------------------------------------------------------------------


def _log_softmax(x):
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


#: Rows 1e3 apart in both directions (one entry far above the rest, or far below), and offsets.
EXTREME = np.array(
    [
        [1000.0, 0.0, 0.0, -1000.0],
        [1000.0, 0.0, 0.0, 0.0],
        [-1000.0, 0.0, 0.0, 0.0],
        [-1000.0, -2000.0, -3000.0, -1000.0],
        [1e4, 1e4, 1e4 - 1.0, 1e4 + 2.0],
        [-1e4, -1e4 + 3.0, -1e4, -1e4],
    ]
)


@probe("backprop_log_softmax_forward_fixed", function="log_softmax_forward")
def log_softmax_forward_fixed():
    yield call(tensor(np.array([[0.0, 0.0, 0.0, 0.0], [0.0, math.log(3.0), 0.0, 0.0]])))
    yield call(tensor(np.array([[2.5], [-1.0]])))  # one class: log 1 = 0


@probe("backprop_log_softmax_forward_oracle", function="log_softmax_forward")
def log_softmax_forward_random():
    rng = np.random.default_rng(32_101)
    for n, c in [(6, 10), (1, 5), (7, 2), (3, 30), (10, 10)]:
        yield call(tensor(_normal(rng, n, c, scale=3.0)))


@probe("backprop_log_softmax_forward_oracle", function="log_softmax_forward", **F32)
def log_softmax_forward_float32():
    rng = np.random.default_rng(32_202)
    for n, c in [(3, 4), (5, 9)]:
        yield call(tensor(_normal(rng, n, c, scale=3.0).astype(np.float32)))


@probe("backprop_log_softmax_forward_stable", function="log_softmax_forward")
def log_softmax_forward_extreme():
    yield call(tensor(EXTREME))
    yield call(tensor(EXTREME.T.copy()))  # (4, 6): the other way round
    rng = np.random.default_rng(32_303)
    yield call(tensor(_normal(rng, 8, 5, scale=1e3)))
    x = _normal(rng, 6, 4, scale=3.0)
    yield from _rules(call(tensor(x)), "log_softmax_forward", LOG_SOFTMAX)
    yield from _rules(call(tensor(EXTREME)), "log_softmax_forward", LOG_SOFTMAX)


@probe("backprop_log_softmax_forward_stable", function="log_softmax_forward", rtol=1e-6, atol=1e-3)
def log_softmax_forward_extreme_float32():
    """float32 has about 7 digits: at 1e4 its spacing is 1e-3, hence the absolute tolerance."""
    yield call(tensor(EXTREME.astype(np.float32)))


@probe("backprop_log_softmax_backward_fixed", function="log_softmax_backward")
def log_softmax_backward_fixed():
    out = np.log(np.array([[0.25, 0.75], [0.5, 0.5]]))
    yield call(tensor(np.array([[1.0, 0.0], [2.0, 2.0]])), (tensor(out),))


def _ls_backward_case(rng, x):
    return call(tensor(_normal(rng, *x.shape)), (tensor(_log_softmax(x)),))


@probe("backprop_log_softmax_backward_numerical", function="log_softmax_backward")
def log_softmax_backward_small():
    rng = np.random.default_rng(32_404)
    for n, c in [(4, 5), (1, 3), (6, 2), (3, 1), (5, 5)]:
        yield _ls_backward_case(rng, _normal(rng, n, c, scale=2.0))
    yield _ls_backward_case(rng, _normal(rng, 3, 4)).under_rule(NO_GRAD)


@probe("backprop_log_softmax_backward_oracle", function="log_softmax_backward")
def log_softmax_backward_random():
    rng = np.random.default_rng(32_505)
    for n, c in [(7, 10), (40, 10), (2, 100)]:
        yield _ls_backward_case(rng, _normal(rng, n, c, scale=3.0))
    yield _ls_backward_case(rng, EXTREME)
    yield _ls_backward_case(rng, EXTREME.T.copy())
    c = _ls_backward_case(rng, _normal(rng, 5, 6))
    yield from _rules(c, "log_softmax_backward", LOG_SOFTMAX, backward=True)


@probe("backprop_log_softmax_backward_oracle", function="log_softmax_backward", **F32)
def log_softmax_backward_float32():
    rng = np.random.default_rng(32_606)
    x = _normal(rng, 4, 6, scale=3.0)
    cache = (tensor(_log_softmax(x).astype(np.float32)),)
    yield call(tensor(_normal(rng, 4, 6).astype(np.float32)), cache)


# ---- GELU ----------------------------------------------------------------------------------------

SPECIAL = np.array([[0.0, 1.0, -1.0, 2.0], [-40.0, 40.0, 1e4, -1e4]])


@probe("backprop_gelu_forward_fixed", function="gelu_forward")
def gelu_forward_fixed():
    yield call(tensor(np.array([[0.0, 1.0, -1.0], [2.0, -40.0, 40.0]])))


@probe("backprop_gelu_forward_oracle", function="gelu_forward")
def gelu_forward_random():
    rng = np.random.default_rng(33_101)
    for shape in [(5, 4), (1, 1), (2, 3, 4), (7,), (16, 9)]:
        yield call(tensor(_normal(rng, *shape, scale=3.0)))
    yield call(tensor(SPECIAL))
    yield from _rules(call(tensor(_normal(rng, 4, 5))), "gelu_forward", GELU)


@probe("backprop_gelu_forward_oracle", function="gelu_forward", rtol=1e-5, atol=1e-6)
def gelu_forward_float32():
    rng = np.random.default_rng(33_202)
    yield call(tensor(_normal(rng, 3, 2, 5, scale=3.0).astype(np.float32)))
    yield call(tensor(SPECIAL.astype(np.float32)))


@probe("backprop_gelu_backward_numerical", function="gelu_backward")
def gelu_backward_small():
    rng = np.random.default_rng(33_303)
    yield call(tensor(np.ones((2, 4))), (tensor(SPECIAL),))
    for shape in [(4, 5), (1, 3), (2, 2, 3)]:
        yield call(tensor(_normal(rng, *shape)), (tensor(_normal(rng, *shape, scale=2.0)),))


@probe("backprop_gelu_backward_oracle", function="gelu_backward")
def gelu_backward_random():
    rng = np.random.default_rng(33_404)
    for shape in [(6, 7), (1, 10), (3, 2, 5)]:
        yield call(tensor(_normal(rng, *shape)), (tensor(_normal(rng, *shape, scale=3.0)),))
    c = call(tensor(_normal(rng, 4, 4)), (tensor(_normal(rng, 4, 4, scale=2.0)),))
    yield from _rules(c, "gelu_backward", GELU, backward=True)


@probe("backprop_gelu_backward_oracle", function="gelu_backward", rtol=1e-5, atol=1e-6)
def gelu_backward_float32():
    rng = np.random.default_rng(33_505)
    x = _normal(rng, 3, 5, scale=3.0).astype(np.float32)
    yield call(tensor(_normal(rng, 3, 5).astype(np.float32)), (tensor(x),))
    yield call(tensor(np.ones((2, 4), dtype=np.float32)), (tensor(SPECIAL.astype(np.float32)),))


# ---- dropout -------------------------------------------------------------------------------------


def _mask(rng, shape, keep):
    return rng.random(shape) < keep


@probe("backprop_dropout_forward_fixed", function="dropout_forward")
def dropout_forward_fixed():
    x = np.array([[1.0, -2.0, 3.0], [4.0, 5.0, -6.0]])
    mask = np.array([[True, False, True], [False, False, True]])
    yield call(tensor(x), tensor(mask), 0.5).recording_args()


@probe("backprop_dropout_forward_contract", function="dropout_forward")
def dropout_forward_contract():
    rng = np.random.default_rng(34_101)
    for shape, keep, p in [((4, 5), 0.7, 0.25), ((1, 8), 0.5, 0.5), ((2, 3, 4), 0.2, 0.8)]:
        x = _normal(rng, *shape)
        yield call(tensor(x), tensor(_mask(rng, shape, keep)), p).recording_args()
    x = _normal(rng, 3, 4)
    yield call(tensor(x), tensor(np.ones((3, 4), dtype=bool)), 0.0).recording_args()  # out = x
    yield call(tensor(x), tensor(np.zeros((3, 4), dtype=bool)), 0.5).recording_args()  # zeros
    yield call(tensor(x), tensor(_mask(rng, (3, 4), 0.5)), 0.999).recording_args()  # near 1
    for p in (1.0, -0.1, 1.5, -1e-12):  # ValueError
        yield call(tensor(x), tensor(_mask(rng, (3, 4), 0.5)), p)
    x32 = _normal(rng, 4, 5).astype(np.float32)
    yield call(tensor(x32), tensor(_mask(rng, (4, 5), 0.6)), 0.4).recording_args()
    c = call(tensor(x), tensor(_mask(rng, (3, 4), 0.5)), 0.3)
    yield from _rules(c, "dropout_forward", DROPOUT)


@probe("backprop_dropout_backward_fixed", function="dropout_backward")
def dropout_backward_fixed():
    mask = np.array([[True, False], [True, True]])
    yield call(tensor(np.array([[1.0, 2.0], [3.0, 4.0]])), (tensor(mask), 0.75))
    rng = np.random.default_rng(34_202)
    yield call(tensor(_normal(rng, 3, 4)), (tensor(_mask(rng, (3, 4), 0.5)), 0.3))


@probe("backprop_dropout_backward_oracle", function="dropout_backward")
def dropout_backward_edges():
    rng = np.random.default_rng(34_303)
    for shape, keep, p in [((5, 3), 1.0, 0.0), ((5, 3), 0.0, 0.9), ((1, 6), 0.5, 0.5),
                           ((2, 3, 4), 0.3, 0.999)]:  # fmt: skip
        yield call(tensor(_normal(rng, *shape)), (tensor(_mask(rng, shape, keep)), p))
    mask = _mask(rng, (4, 5), 0.6)
    yield call(tensor(_normal(rng, 4, 5).astype(np.float32)), (tensor(mask), 0.4))
    c = call(tensor(_normal(rng, 3, 4)), (tensor(_mask(rng, (3, 4), 0.5)), 0.2))
    yield from _rules(c, "dropout_backward", DROPOUT, backward=True)


# ---- residual block ------------------------------------------------------------------------------


def _residual_cache(x, w1, b1, w2):
    return (tensor(x), tensor(w1), tensor(w2), tensor(x @ w1 + b1))


def _residual_case(rng, n, d, k, dtype=np.float64):
    x, w1, b1, w2 = _normal(rng, n, d), _normal(rng, d, k), _normal(rng, k), _normal(rng, k, d)
    cache = tuple(tensor(t.array.astype(dtype)) for t in _residual_cache(x, w1, b1, w2))
    return call(tensor(_normal(rng, n, d).astype(dtype)), cache)


def _kinked(rng, n, d, k):
    """Integer inputs with pre-activations exactly 0 in the first columns, and dout != 0."""
    x = rng.integers(-3, 4, size=(n, d)).astype(np.float64)
    w1 = rng.integers(-2, 3, size=(d, k)).astype(np.float64)
    b1 = rng.integers(-2, 3, size=k).astype(np.float64)
    b1[: k // 2] = -(x @ w1)[0, : k // 2]  # row 0 sits on the kink there
    w2 = rng.integers(-2, 3, size=(k, d)).astype(np.float64)
    w2[w2 == 0] = 1.0  # so that a gradient reaches every hidden unit
    dout = rng.integers(1, 4, size=(n, d)).astype(np.float64)
    return call(tensor(dout), _residual_cache(x, w1, b1, w2))


@probe("backprop_residual_backward_fixed", function="residual_backward")
def residual_backward_fixed():
    x = np.array([[1.0, -1.0]])
    w1 = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 1.0]])
    w2 = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    cache = _residual_cache(x, w1, np.array([0.0, -1.0, 0.5]), w2)
    yield call(tensor(np.array([[1.0, 2.0]])), cache)
    yield _kinked(np.random.default_rng(35_101), 3, 2, 4)


@probe("backprop_residual_backward_numerical", function="residual_backward")
def residual_backward_small():
    rng = np.random.default_rng(35_202)
    for n, d, k in [(4, 3, 5), (1, 2, 3), (3, 3, 3), (5, 1, 2)]:
        yield _residual_case(rng, n, d, k)
    yield _residual_case(rng, 3, 4, 2).under_rule(NO_GRAD)


@probe("backprop_residual_backward_oracle", function="residual_backward")
def residual_backward_random():
    rng = np.random.default_rng(35_303)
    for n, d, k in [(16, 8, 12), (1, 5, 2), (33, 4, 9), (6, 10, 3)]:
        yield _residual_case(rng, n, d, k)
    yield _kinked(rng, 5, 3, 6)
    yield _kinked(rng, 2, 4, 2)
    yield from _rules(_residual_case(rng, 4, 3, 5), "residual_backward", backward=True)


@probe("backprop_residual_backward_oracle", function="residual_backward", **F32)
def residual_backward_float32():
    yield _residual_case(np.random.default_rng(35_404), 6, 4, 7, dtype=np.float32)


# ---- train_digits --------------------------------------------------------------------------------

SHAPES = {
    "W1": (64, None), "b1": (None,), "gamma": (None,), "beta": (None,),
    "W2": (None, 10), "b2": (10,),
}  # fmt: skip


def _digits(split_seed):
    from coursekit.data import load_digits_split  # imports scikit-learn: only when needed

    return load_digits_split(seed=split_seed, device="cpu", dtype=torch.float32)


def _digits_accuracy(split_seed, *, at_least=None, below=None):
    """A comparator: the returned parameters' accuracy on the split's validation data, computed
    here from the parameters alone, must be >= at_least (or < below)."""

    def compare(got, want):
        if not isinstance(got, dict) or not set(SHAPES) <= set(got):
            return "must return a dict with the keys W1, b1, gamma, beta, W2, b2"
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
        pre = x_val @ params["W1"] + params["b1"]
        centred = pre - pre.mean(axis=1, keepdims=True)
        normed = centred / np.sqrt((centred**2).mean(axis=1, keepdims=True) + EPS)
        hidden = np.maximum(normed * params["gamma"] + params["beta"], 0.0)
        accuracy = float(((hidden @ params["W2"] + params["b2"]).argmax(axis=1) == y_val).mean())
        if at_least is not None and not accuracy >= at_least:
            return f"validation accuracy below {100 * at_least:.0f}% on another split"
        if below is not None and not accuracy < below:
            return f"validation accuracy {100 * below:.0f}% or more without training (steps=0)"
        return None

    return compare


def _train_call(split_seed, steps, init_seed):
    data = _digits(split_seed)
    x, y = data.x_train.numpy(), data.y_train.numpy()
    return call(tensor(x), tensor(y), steps=steps, generator=generator(init_seed))


@probe(
    "backprop_train_digits_accuracy",
    function="train_digits",
    compare=_digits_accuracy(17, at_least=0.94),
)
def train_digits_split_a():
    yield _train_call(17, 150, 1_701)


@probe(
    "backprop_train_digits_accuracy",
    function="train_digits",
    compare=_digits_accuracy(28, at_least=0.94),
)
def train_digits_split_b():
    yield _train_call(28, 150, 2_802)


@probe(
    "backprop_train_digits_accuracy",
    function="train_digits",
    compare=_digits_accuracy(39, below=0.5),
)
def train_digits_untrained():
    yield _train_call(39, 0, 3_903)
