"""Probes for chapter 04: the hidden checks, decided outside the student's kernel.

Each probe calls one of the student's functions on inputs drawn here and compares what comes back
with the reference solution's results on the same inputs (see autograder/probes.py). Besides what
each call returns, the framework checks by default that the arguments are unchanged after the
call, that returned tensors have the reference's dtype, device and requires_grad, and that the
call works with every tensor on the ``meta`` device (a constant made without ``device=`` fails).

The shapes cover the contract the notebook states: non-square images and kernels, C != F, batches
of one and of several, strides larger and smaller than the kernel, stride 2 with padding,
(H + 2p - k) % s != 0, 1x1 kernels, padding larger than k - 1, a kernel as large as the image.
Caches are built here, in the form the notebook fixes: ``(x, w, stride, padding, cols)`` with
``cols`` from ``F.unfold`` for the convolution, ``(x, k, stride)`` for pooling.

Structural rules are kept by calls made ``.under_rule(...)``: the library routines each exercise
forbids (``coursekit.forbid_calls``, the sets of the notebook's setup cell, written out here so a
notebook cannot redefine them), ``torch.no_grad()`` for the hand-written backward passes, and for
``conv2d_input_grad_as_conv`` that ``conv2d`` is called and nothing forbidden is.

``train_digits_cnn`` is judged on accuracy, not on equality with the reference: its probes
compare with :func:`_cnn_accuracy`, which runs the stated forward pass on the returned parameters
over the validation images of the split, in the trusted process.
"""

import numpy as np
import torch
import torch.nn.functional as F

import coursekit
from autograder.probes import call, checked, generator, probe, rule, tensor

WINDOW_ROUTINES = frozenset(
    {
        "unfold", "fold", "im2col", "col2im", "as_strided",
        "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
        "convolution", "_convolution", "convolution_backward",
    }
)  # fmt: skip
AUTOGRAD_CALLS = frozenset({"backward", "grad"})
MATMUL_CALLS = frozenset(
    {
        "matmul", "mm", "bmm", "mv", "dot", "vdot", "inner", "einsum", "tensordot", "linear",
        "addmm", "addbmm", "baddbmm", "addmv", "chain_matmul", "multi_dot", "matrix_power",
        "__matmul__", "__rmatmul__", "__imatmul__",
    }
)  # fmt: skip
TRANSPOSED_ROUTINES = (WINDOW_ROUTINES - {"conv2d"}) | AUTOGRAD_CALLS | MATMUL_CALLS
POOL_ROUTINES = frozenset(
    {
        "max_pool1d", "max_pool2d", "max_pool3d", "max_pool2d_with_indices", "max_unpool2d",
        "adaptive_max_pool2d", "fractional_max_pool2d", "unfold", "as_strided",
    }
)  # fmt: skip
NO_GRAD = rule(lambda: torch.no_grad())


def _forbid(names, what):
    return rule(lambda: coursekit.forbid_calls(names, what=what), names=frozenset(names), what=what)


def _without_grad_forbidding(names, what):
    """Both rules at once: autograd off, and none of ``names`` called."""
    import contextlib

    stack = contextlib.ExitStack()
    stack.enter_context(torch.no_grad())
    stack.enter_context(coursekit.forbid_calls(names, what=what))
    return stack


def _forbid_without_grad(names, what):
    return rule(_without_grad_forbidding, names=frozenset(names), what=what)


#: conv2d_input_grad_as_conv: F.conv2d does the work, and nothing of TRANSPOSED_ROUTINES runs.
CONV2D_ONLY = rule(
    lambda transposed: checked(
        coursekit.checks._CallRecorder(),
        lambda rec: "conv2d" in rec.names and not rec.names & transposed,
    ),
    transposed=TRANSPOSED_ROUTINES,
)


def _normal(rng, *shape, scale=1.0):
    return scale * rng.standard_normal(shape)


def _distinct(rng, *shape):
    """Values with no ties (a permutation of well-separated numbers, in random order)."""
    return (rng.permutation(int(np.prod(shape))).reshape(shape) * 0.37 - 5.0).astype(np.float64)


def _unfold(x, kh, kw, stride, padding):
    cols = F.unfold(torch.from_numpy(x), (kh, kw), stride=stride, padding=padding)
    return cols.numpy()


def _out_size(n, k, stride=1, padding=0):
    return (n + 2 * padding - k) // stride + 1


# Convolution cases (N, C, F, H, W, kh, kw, stride, padding): the contract's edges, one by one.
CONV_CASES = [
    (2, 3, 4, 7, 6, 3, 2, 1, 0),  # non-square image and kernel, C != F
    (1, 2, 3, 8, 9, 3, 3, 2, 1),  # batch of one, stride 2 with padding
    (3, 1, 2, 9, 7, 3, 3, 2, 0),  # (9 - 3) % 2 = 0, (7 - 3) % 2 = 0, one input channel
    (2, 2, 1, 8, 10, 3, 3, 2, 0),  # (8 - 3) % 2 = 1: a row no window reaches; one filter
    (2, 3, 2, 10, 7, 2, 3, 3, 1),  # stride 3: (10 + 2 - 2) % 3 = 1, (7 + 2 - 3) % 3 = 0
    (2, 2, 3, 6, 5, 1, 1, 1, 0),  # 1x1 kernel
    (1, 3, 2, 5, 4, 1, 1, 2, 1),  # 1x1 kernel, padding > k - 1, stride 2
    (2, 2, 2, 5, 5, 5, 5, 1, 0),  # the kernel as large as the image
    (2, 1, 3, 6, 6, 4, 2, 1, 2),  # padding 2 with a 4x2 kernel
    (4, 2, 3, 5, 8, 2, 2, 2, 0),  # stride equal to the kernel: windows tile the image
    (2, 2, 2, 7, 7, 3, 3, 3, 1),  # stride 3, padding 1: (7 + 2 - 3) % 3 = 0
    (1, 1, 1, 1, 1, 1, 1, 1, 0),  # the smallest convolution
]


def _conv_inputs(rng, n, c, f, h, w, kh, kw, stride, padding):
    x, weight, b = _normal(rng, n, c, h, w), _normal(rng, f, c, kh, kw), _normal(rng, f)
    ho, wo = _out_size(h, kh, stride, padding), _out_size(w, kw, stride, padding)
    return x, weight, b, _normal(rng, n, f, ho, wo)


# ---- 1. conv_output_size -------------------------------------------------------------------------


@probe("convolution_conv_output_size_oracle", function="conv_output_size")
def output_size_grid():
    for n in (1, 2, 5, 7, 8, 11, 28):
        for k in (1, 2, 3, 5):
            for stride in (1, 2, 3):
                for padding in (0, 1, 3):
                    for dilation in (1, 2):
                        if n + 2 * padding >= dilation * (k - 1) + 1:
                            yield call(n, k, stride, padding, dilation)
    yield call(7, 3)  # the defaults: stride 1, padding 0, dilation 1
    yield call(7, 3, padding=1)
    yield call(9, 3, stride=2)
    yield call(8, 2, dilation=3)
    yield call(224, 7, stride=2, padding=3)  # a ResNet stem: 112
    yield call(224, 11, stride=4, padding=2)  # AlexNet's first layer: 55


@probe("convolution_conv_output_size_errors", function="conv_output_size")
def output_size_edges():
    # exact fits: the smallest valid results
    yield call(3, 3)
    yield call(1, 1)
    yield call(1, 3, padding=1)
    yield call(5, 3, dilation=2)
    yield call(2, 3, stride=2, padding=1)
    yield call(4, 3, stride=5, padding=1, dilation=2)
    # kernels that do not fit, including a last start of -1 with a stride above 1 (floor -> 0)
    yield call(2, 3)
    yield call(2, 3, stride=2)
    yield call(4, 3, dilation=2)
    yield call(4, 3, stride=3, dilation=2)
    yield call(1, 2)
    yield call(3, 7, padding=1, stride=4)
    # invalid arguments
    for args, kwargs in [
        ((0, 1), {}),
        ((-3, 1), {}),
        ((5, 0), {}),
        ((5, -1), {}),
        ((5, 3), {"stride": 0}),
        ((5, 3), {"stride": -2}),
        ((5, 3), {"padding": -1}),
        ((6, 1), {"padding": -1}),
        ((5, 3), {"dilation": 0}),
        ((5, 3), {"dilation": -1}),
    ]:
        yield call(*args, **kwargs)


# ---- 2. im2col -----------------------------------------------------------------------------------


@probe("convolution_im2col_fixed", function="im2col")
def im2col_fixed():
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    yield call(tensor(x), 2, 2)
    yield call(tensor(x), 1, 1, padding=1)
    yield call(tensor(x), 3, 3)
    yield call(tensor(np.arange(24.0).reshape(1, 2, 3, 4)), 2, 3)
    yield call(tensor(np.arange(20.0).reshape(1, 1, 4, 5)), 2, 2, stride=2)


def _im2col_calls(seed, forbidden=None):
    rng = np.random.default_rng(seed)
    for n, c, _f, h, w, kh, kw, stride, padding in CONV_CASES:
        made = call(tensor(_normal(rng, n, c, h, w)), kh, kw, stride, padding)
        yield made if forbidden is None else made.under_rule(forbidden)


@probe("convolution_im2col_oracle", function="im2col")
def im2col_random():
    yield from _im2col_calls(20_401)
    rng = np.random.default_rng(20_402)
    yield call(tensor(_normal(rng, 2, 3, 6, 5).astype(np.float32)), 3, 2, 2, 1)  # float32 stays
    yield call(tensor(_normal(rng, 2, 2, 7, 5)), 3, 2, stride=2)  # keywords
    yield from _im2col_calls(20_403, forbidden=_forbid(WINDOW_ROUTINES, "im2col"))


# ---- 3. col2im -----------------------------------------------------------------------------------


@probe("convolution_col2im_fixed", function="col2im")
def col2im_fixed():
    yield call(tensor(np.ones((1, 4, 4))), (1, 1, 3, 3), 2, 2)
    yield call(tensor(np.ones((1, 9, 4))), (1, 1, 5, 5), 3, 3, stride=2)
    yield call(tensor(np.ones((2, 6, 12))), (2, 1, 4, 5), 2, 3, 1, 1)
    yield call(tensor(np.arange(1.0, 17.0).reshape(1, 4, 4)), (1, 1, 3, 3), 2, 2)


def _col2im_calls(seed, forbidden=None):
    rng = np.random.default_rng(seed)
    for n, c, _f, h, w, kh, kw, stride, padding in CONV_CASES:
        length = _out_size(h, kh, stride, padding) * _out_size(w, kw, stride, padding)
        cols = _normal(rng, n, c * kh * kw, length)
        made = call(tensor(cols), (n, c, h, w), kh, kw, stride, padding)
        yield made if forbidden is None else made.under_rule(forbidden)


@probe("convolution_col2im_oracle", function="col2im")
def col2im_random():
    yield from _col2im_calls(30_501)
    rng = np.random.default_rng(30_502)
    # stride smaller than the kernel, where windows overlap: the accumulation is what counts
    for n, c, h, w, kh, kw, stride, padding in [
        (2, 3, 7, 8, 3, 3, 1, 1),
        (1, 2, 9, 7, 4, 3, 2, 1),
        (2, 1, 8, 8, 5, 5, 3, 2),
        (3, 2, 6, 9, 3, 4, 2, 0),
    ]:
        length = _out_size(h, kh, stride, padding) * _out_size(w, kw, stride, padding)
        yield call(
            tensor(_normal(rng, n, c * kh * kw, length)), (n, c, h, w), kh, kw, stride, padding
        )
    yield call(tensor(_normal(rng, 2, 12, 12).astype(np.float32)), (2, 2, 5, 6), 2, 3, 1, 0)
    yield from _col2im_calls(30_503, forbidden=_forbid(WINDOW_ROUTINES, "col2im"))


# ---- 4. conv2d_forward ---------------------------------------------------------------------------


@probe("convolution_conv2d_forward_fixed", function="conv2d_forward")
def conv_forward_fixed():
    x = np.arange(1.0, 17.0).reshape(1, 1, 4, 4)
    w = np.stack([np.ones((2, 2)), np.array([[1.0, 0.0], [0.0, -1.0]])])[:, None]
    yield call(tensor(x), tensor(w), tensor(np.array([0.5, 0.0])))
    yield call(tensor(x), tensor(w), tensor(np.array([0.0, 1.0])), 2, 1)


def _conv_forward_calls(seed, forbidden=None):
    rng = np.random.default_rng(seed)
    for case in CONV_CASES:
        x, w, b, _ = _conv_inputs(rng, *case)
        made = call(tensor(x), tensor(w), tensor(b), case[-2], case[-1])
        yield made if forbidden is None else made.under_rule(forbidden)


@probe("convolution_conv2d_forward_oracle", function="conv2d_forward")
def conv_forward_random():
    yield from _conv_forward_calls(40_601)
    rng = np.random.default_rng(40_602)
    x, w, b, _ = _conv_inputs(rng, 2, 3, 4, 6, 7, 3, 3, 1, 1)
    yield call(tensor(x), tensor(w), tensor(b))  # the defaults: stride 1, padding 0
    f32 = [a.astype(np.float32) for a in _conv_inputs(rng, 2, 2, 3, 6, 5, 3, 2, 2, 1)[:3]]
    yield call(*(tensor(a) for a in f32), 2, 1)
    yield from _conv_forward_calls(40_603, forbidden=_forbid(WINDOW_ROUTINES, "conv2d_forward"))


# ---- 5. conv2d_backward --------------------------------------------------------------------------


def _conv_backward_call(rng, n, c, f, h, w, kh, kw, stride, padding):
    x, weight, _, dout = _conv_inputs(rng, n, c, f, h, w, kh, kw, stride, padding)
    cols = _unfold(x, kh, kw, stride, padding)
    return call(tensor(dout), (tensor(x), tensor(weight), stride, padding, tensor(cols)))


@probe("convolution_conv2d_backward_numerical", function="conv2d_backward")
def conv_backward_small():
    rng = np.random.default_rng(50_701)
    for case in CONV_CASES[:6]:
        yield _conv_backward_call(rng, *case).under_rule(NO_GRAD)


@probe("convolution_conv2d_backward_oracle", function="conv2d_backward")
def conv_backward_random():
    rng = np.random.default_rng(50_802)
    for case in CONV_CASES:
        yield _conv_backward_call(rng, *case)
    # a dout that is one everywhere: db counts positions times the batch, nothing divided by N
    x = _normal(rng, 3, 2, 5, 6)
    weight = _normal(rng, 4, 2, 3, 3)
    cache = (tensor(x), tensor(weight), 1, 0, tensor(_unfold(x, 3, 3, 1, 0)))
    yield call(tensor(np.ones((3, 4, 3, 4))), cache)
    for case in CONV_CASES[::3]:
        yield _conv_backward_call(rng, *case).under_rule(NO_GRAD)
    forbidden = _forbid_without_grad(WINDOW_ROUTINES | AUTOGRAD_CALLS, "conv2d_backward")
    for case in CONV_CASES[1::3]:
        yield _conv_backward_call(rng, *case).under_rule(forbidden)


# ---- 6. conv2d_input_grad_as_conv ----------------------------------------------------------------


def _input_grad_call(rng, n, c, f, h, w, kh, kw, stride, padding):
    _, weight, _, dout = _conv_inputs(rng, n, c, f, h, w, kh, kw, stride, padding)
    return call(tensor(dout), tensor(weight), (n, c, h, w), stride, padding)


@probe("convolution_conv2d_input_grad_as_conv_oracle", function="conv2d_input_grad_as_conv")
def input_grad_random():
    rng = np.random.default_rng(60_901)
    for case in CONV_CASES:
        if (
            (case[3] + 2 * case[8] - case[5]) % case[7]
            == 0
            == (case[4] + 2 * case[8] - case[6]) % case[7]
        ):
            yield _input_grad_call(rng, *case)
    _, weight, _, dout = _conv_inputs(rng, 2, 3, 2, 6, 5, 3, 2, 1, 0)
    yield call(tensor(dout), tensor(weight), (2, 3, 6, 5))  # the defaults: stride 1, padding 0
    for case in CONV_CASES[:4]:
        yield _input_grad_call(rng, *case).under_rule(CONV2D_ONLY)


@probe("convolution_conv2d_input_grad_as_conv_remainder", function="conv2d_input_grad_as_conv")
def input_grad_remainder():
    rng = np.random.default_rng(61_002)
    # (H + 2p - k) % s != 0 along one axis or both; s = 3 with p = 1 tells 2p from 0
    for case in [
        (2, 2, 1, 8, 10, 3, 3, 2, 0),
        (2, 3, 2, 10, 7, 2, 3, 3, 1),
        (1, 2, 3, 9, 8, 2, 2, 2, 0),
        (2, 1, 2, 11, 12, 3, 2, 3, 1),
        (3, 2, 2, 8, 7, 3, 4, 4, 2),
        (1, 3, 2, 6, 7, 1, 1, 2, 1),
        (2, 2, 3, 13, 9, 5, 3, 3, 2),
    ]:
        yield _input_grad_call(rng, *case)
        yield _input_grad_call(rng, *case).under_rule(CONV2D_ONLY)


# ---- 7. maxpool2d_forward ------------------------------------------------------------------------

POOL_CASES = [  # (N, C, H, W, k, stride)
    (2, 3, 7, 9, 3, 2),  # overlapping windows, a column no window reaches
    (1, 2, 8, 6, 2, 2),  # the usual 2x2, stride 2
    (2, 1, 6, 9, 2, 3),  # stride larger than the window: gaps
    (3, 2, 5, 5, 3, 1),  # stride 1
    (1, 1, 4, 7, 4, 2),  # a window as tall as the image
    (2, 2, 3, 4, 1, 1),  # k = 1: the identity
    (2, 2, 5, 7, 1, 2),  # k = 1 with stride 2: subsampling
    (1, 1, 1, 1, 1, 1),  # the smallest pooling
]


def _ties(rng, *shape):
    """Small integers: most windows have several maxima."""
    return rng.integers(0, 3, size=shape).astype(np.float64)


@probe("convolution_maxpool2d_forward_fixed", function="maxpool2d_forward")
def pool_forward_fixed():
    x = np.array(
        [[1.0, 3.0, 2.0, 0.0], [4.0, -1.0, 5.0, 7.0], [0.0, 2.0, -3.0, 1.0], [6.0, 6.0, 1.0, 0.5]]
    )
    yield call(tensor(x.reshape(1, 1, 4, 4)), 2, 2)
    yield call(tensor(x.reshape(1, 1, 4, 4)), 3, 1)
    yield call(tensor(x.reshape(1, 2, 2, 4)), 2, 2)


@probe("convolution_maxpool2d_forward_oracle", function="maxpool2d_forward")
def pool_forward_random():
    rng = np.random.default_rng(70_101)
    for n, c, h, w, k, stride in POOL_CASES:
        yield call(tensor(_distinct(rng, n, c, h, w)), k, stride)
        yield call(tensor(_ties(rng, n, c, h, w)), k, stride)
    yield call(tensor(_normal(rng, 2, 2, 6, 7).astype(np.float32)), 3, 2)
    yield call(tensor(_normal(rng, 2, 3, 9, 8) - 100.0), 2, 2)  # all negative: no max with 0
    forbidden = _forbid(POOL_ROUTINES, "maxpool2d_forward")
    for n, c, h, w, k, stride in POOL_CASES[:4]:
        yield call(tensor(_distinct(rng, n, c, h, w)), k, stride).under_rule(forbidden)


# ---- 8. maxpool2d_backward -----------------------------------------------------------------------


def _pool_backward_call(rng, draw, n, c, h, w, k, stride):
    x = draw(rng, n, c, h, w)
    dout = _normal(rng, n, c, _out_size(h, k, stride), _out_size(w, k, stride))
    return call(tensor(dout), (tensor(x), k, stride))


@probe("convolution_maxpool2d_backward_fixed", function="maxpool2d_backward")
def pool_backward_fixed():
    x = np.array([[1.0, 7.0, 2.0], [7.0, 0.0, 4.0], [6.0, 1.0, 6.0]]).reshape(1, 1, 3, 3)
    yield call(tensor(np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 1, 2, 2)), (tensor(x), 2, 1))
    # ties everywhere: a constant image sends each window's gradient to its top-left pixel
    yield call(
        tensor(np.arange(1.0, 10.0).reshape(1, 1, 3, 3)), (tensor(np.ones((1, 1, 7, 7))), 3, 2)
    )
    yield call(tensor(np.ones((1, 2, 2, 2))), (tensor(np.zeros((1, 2, 4, 4))), 2, 2))


@probe("convolution_maxpool2d_backward_oracle", function="maxpool2d_backward")
def pool_backward_random():
    rng = np.random.default_rng(80_201)
    for case in POOL_CASES:
        yield _pool_backward_call(rng, _distinct, *case)
    for case in POOL_CASES:  # ties: the first maximum in row-major window order takes it all
        yield _pool_backward_call(rng, _ties, *case)
    x = _normal(rng, 2, 2, 7, 7).astype(np.float32)
    yield call(tensor(_normal(rng, 2, 2, 3, 3).astype(np.float32)), (tensor(x), 3, 2))
    for case in POOL_CASES[:4]:
        yield _pool_backward_call(rng, _distinct, *case).under_rule(NO_GRAD)
    forbidden = _forbid_without_grad(POOL_ROUTINES | AUTOGRAD_CALLS, "maxpool2d_backward")
    for case in POOL_CASES[:4]:
        yield _pool_backward_call(rng, _ties, *case).under_rule(forbidden)


# ---- 9. train_digits_cnn -------------------------------------------------------------------------

MAX_FILTERS = 32


def _digits(split_seed):
    from coursekit.data import load_digits_split  # imports scikit-learn: only when needed

    return load_digits_split(seed=split_seed, device="cpu", dtype=torch.float32)


def _cnn_accuracy(split_seed, *, at_least=None, below=None):
    """A comparator: the returned parameters' accuracy on the split's validation images, with
    the forward pass the notebook states, computed here from the parameters alone, must be >=
    at_least (or < below)."""

    def compare(got, want):
        names = ("conv_w", "conv_b", "fc_w", "fc_b")
        if not isinstance(got, dict) or not set(names) <= set(got):
            return "must return a dict with the keys conv_w, conv_b, fc_w, fc_b"
        params = {}
        for name in names:
            value = got[name]
            if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
                return f"{name} is not a numeric tensor"
            params[name] = torch.from_numpy(value.astype(np.float64))
        filters = params["conv_w"].shape[0] if params["conv_w"].ndim == 4 else -1
        shapes = {
            "conv_w": (filters, 1, 3, 3),
            "conv_b": (filters,),
            "fc_w": (16 * filters, 10),
            "fc_b": (10,),
        }
        for name, shape in shapes.items():
            if tuple(params[name].shape) != shape:
                return f"{name} has the wrong shape"
        if filters > MAX_FILTERS:
            return f"more than {MAX_FILTERS} filters"
        if not all(torch.isfinite(p).all() for p in params.values()):
            return "the parameters have non-finite entries"
        data = _digits(split_seed)
        x_val = data.x_val.double().reshape(-1, 1, 8, 8)
        with torch.no_grad():
            maps = torch.relu(F.conv2d(x_val, params["conv_w"], params["conv_b"], padding=1))
            features = F.max_pool2d(maps, 2, 2).reshape(len(x_val), -1)
            predicted = (features @ params["fc_w"] + params["fc_b"]).argmax(dim=1)
        accuracy = float((predicted == data.y_val).double().mean())
        if at_least is not None and not accuracy >= at_least:
            return f"validation accuracy below {100 * at_least:.0f}% on another split"
        if below is not None and not accuracy < below:
            return f"validation accuracy {100 * below:.0f}% or more without training (steps=0)"
        return None

    return compare


def _train_call(split_seed, steps, init_seed):
    data = _digits(split_seed)
    x, y = data.x_train.reshape(-1, 1, 8, 8).numpy(), data.y_train.numpy()
    return call(tensor(x), tensor(y), steps=steps, generator=generator(init_seed))


@probe(
    "convolution_train_digits_cnn_accuracy",
    function="train_digits_cnn",
    compare=_cnn_accuracy(17, at_least=0.95),
)
def train_cnn_split_a():
    yield _train_call(17, 100, init_seed=1_701)


@probe(
    "convolution_train_digits_cnn_accuracy",
    function="train_digits_cnn",
    compare=_cnn_accuracy(28, at_least=0.95),
)
def train_cnn_split_b():
    yield _train_call(28, 100, init_seed=2_802)


@probe(
    "convolution_train_digits_cnn_accuracy",
    function="train_digits_cnn",
    compare=_cnn_accuracy(39, below=0.5),
)
def train_cnn_untrained():
    yield _train_call(39, 0, init_seed=3_903)
