"""Probes for chapter 01: the hidden checks, decided outside the student's kernel.

Each probe calls one of the student's functions on inputs drawn here and compares what comes back
with the reference solution's results on the same inputs (see autograder/probes.py). They are the
one source of the notebook's hidden checks. Besides what each call returns, the framework checks
by default that the arguments are unchanged after the call, that returned tensors have the
reference's dtype, device and requires_grad, and that the call works with every tensor on the
``meta`` device (a constant made without ``device=`` fails there).

The edges each exercise's text defines are probed: rectangular shapes everywhere, sizes of 1 and
0 (an empty batch, ``k = 0``, ``N = 0`` points, an empty or 0-d sample shape), float32 as well as
float64, and for the sampler the exact integer coordinates, where the gradient is the one from
above.
"""

import numpy as np
import torch

import coursekit
from autograder.probes import call, checked, probe, rule, tensor

F64 = np.float64


def _plain_python():
    """broadcast_shape by hand: no torch call at all (recorded by coursekit's call recorder), and
    neither torch's nor NumPy's broadcast_shapes (plain Python functions the recorder cannot
    see)."""
    import contextlib
    from unittest import mock

    import numpy

    stack = contextlib.ExitStack()
    for module in (torch, numpy):
        oracle = AssertionError(f"{module.__name__}.broadcast_shapes is the oracle")
        stack.enter_context(mock.patch.object(module, "broadcast_shapes", side_effect=oracle))
    stack.enter_context(checked(coursekit.checks._CallRecorder(), lambda rec: not rec.names))
    return stack


PLAIN_PYTHON = rule(_plain_python)


# ---- 1. matmul_broadcast ------------------------------------------------------------------------


@probe("linear_algebra_matmul_broadcast_fixed", function="matmul_broadcast")
def matmul_fixed():
    yield call(
        tensor(np.array([[1.0, 2.0], [3.0, 4.0]])), tensor(np.array([[5.0, 6.0], [7.0, 8.0]]))
    )
    row, col = np.array([[1.0, 2.0, 3.0]]), np.array([[1.0], [1.0], [1.0]])
    yield call(tensor(row), tensor(col))
    yield call(tensor(col), tensor(row))
    yield call(tensor(row), tensor(row))  # inner sizes 3 and 1: ValueError
    yield call(tensor(col), tensor(col))  # inner sizes 1 and 3: ValueError


@probe("linear_algebra_matmul_broadcast_oracle", function="matmul_broadcast")
def matmul_batched():
    rng = np.random.default_rng(5_120_377)
    for _ in range(12):
        n, k, m = (int(v) for v in rng.integers(1, 7, size=3))
        batch = [int(v) for v in rng.integers(1, 4, size=int(rng.integers(0, 3)))]
        batch_a = [1 if rng.random() < 0.3 else b for b in batch]
        batch_b = [1 if rng.random() < 0.3 else b for b in batch][
            int(rng.integers(0, len(batch) + 1)) :
        ]
        yield call(
            tensor(rng.standard_normal((*batch_a, n, k))),
            tensor(rng.standard_normal((*batch_b, k, m))),
        )
    # rectangular everywhere, batches on one side only, a batch of one, sizes of 1
    for shape_a, shape_b in [
        ((2, 3, 4), (4, 5)),
        ((4, 5), (3, 5, 2)),
        ((1, 3, 4), (2, 1, 4, 6)),
        ((1, 1), (1, 1)),
        ((5, 1), (1, 7)),
        ((1, 5), (5, 1)),
        ((3, 1, 2, 3), (1, 4, 3, 2)),
    ]:
        yield call(tensor(rng.standard_normal(shape_a)), tensor(rng.standard_normal(shape_b)))
    # sizes of 0: an empty batch, no rows, no columns, and k = 0 (a result of zeros)
    for shape_a, shape_b in [
        ((0, 3, 4), (4, 2)),
        ((2, 0, 3), (3, 5)),
        ((2, 3, 4), (4, 0)),
        ((3, 0), (0, 4)),
        ((2, 3, 0), (1, 0, 5)),
    ]:
        yield call(tensor(np.zeros(shape_a)), tensor(np.ones(shape_b)))
    # float32 stays float32
    a32, b32 = rng.standard_normal((2, 3, 4)).astype(np.float32), rng.standard_normal((4, 5))
    yield call(tensor(a32), tensor(b32.astype(np.float32)))
    # mismatched inner sizes raise ValueError, even where the sizes would broadcast (1 vs k)
    for shape_a, shape_b in [
        ((2, 3), (4, 5)),
        ((2, 1), (3, 4)),
        ((2, 3), (1, 4)),
        ((5, 2, 3), (2, 3)),
    ]:
        yield call(tensor(rng.standard_normal(shape_a)), tensor(rng.standard_normal(shape_b)))
    # the exercise's rule: broadcasting, not a matrix-multiply routine
    no_matmul = rule(lambda: coursekit.forbid_calls(what="matmul_broadcast"))
    for shape_a, shape_b in [((2, 3, 4), (4, 5)), ((3, 2), (2, 4)), ((2, 1, 3, 2), (4, 2, 3))]:
        yield call(
            tensor(rng.standard_normal(shape_a)), tensor(rng.standard_normal(shape_b))
        ).under_rule(no_matmul)


# ---- 2. broadcast_shape -------------------------------------------------------------------------


@probe("linear_algebra_broadcast_shape_fixed", function="broadcast_shape")
def broadcast_fixed():
    for a, b in [
        ((8, 1, 6, 1), (7, 1, 5)),
        ((5, 4), (1,)),
        ((), (3,)),
        ((3,), (4,)),
        ((2, 3), (3, 2)),
    ]:
        yield call(a, b)


@probe("linear_algebra_broadcast_shape_oracle", function="broadcast_shape")
def broadcast_random():
    rng = np.random.default_rng(41_006)
    for _ in range(200):
        a = tuple(int(v) for v in rng.integers(0, 4, size=int(rng.integers(0, 5))))
        b = tuple(int(v) for v in rng.integers(0, 4, size=int(rng.integers(0, 5))))
        yield call(a, b)
    # the edges: scalars, sizes 0 against 1 (and the reverse), 0 against 2, only B stretching
    for a, b in [
        ((), ()),
        ((3, 1), ()),
        ((0,), (1,)),
        ((1,), (0,)),
        ((0,), (0,)),
        ((0,), (2,)),
        ((2,), (0,)),
        ((1, 0), (3, 1)),
        ((4, 3), (1, 3)),
        ((1, 3), (4, 3)),
        ((2, 1, 4), (5, 1)),
        ((5, 1), (2, 1, 4)),
        ((6, 1, 1), (1, 7)),
        ((2, 3), (1, 2, 3)),
        ((3, 2), (2,)),
        ((2,), (3, 2)),
        ((1, 2), (3, 1, 3)),
    ]:
        yield call(a, b)
    # plain Python: no torch or NumPy routine computes it
    for a, b in [((8, 1, 6, 1), (7, 1, 5)), ((0, 1), (3,)), ((2,), (3,))]:
        yield call(a, b).under_rule(PLAIN_PYTHON)


# ---- 3. affine_apply ----------------------------------------------------------------------------


@probe("linear_algebra_affine_apply_fixed", function="affine_apply")
def affine_fixed():
    points = np.array([[1.0, 0.0], [0.0, 2.0]])
    yield call(tensor(np.array([[1.0, 0.0, 10.0], [0.0, 1.0, -1.0]])), tensor(points))
    yield call(tensor(np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0]])), tensor(points))


@probe("linear_algebra_affine_apply_oracle", function="affine_apply")
def affine_random():
    rng = np.random.default_rng(90_412)
    for n_points in (1, 5, 17, 0, 3):
        yield call(tensor(rng.standard_normal((2, 3))), tensor(rng.standard_normal((n_points, 2))))
    # a shear, which tells A from A^T; a translation alone; float32 stays float32
    shear = np.array([[1.0, 2.5, 0.5], [0.0, 1.0, -3.0]])
    yield call(tensor(shear), tensor(rng.standard_normal((4, 2))))
    yield call(tensor(np.array([[1.0, 0.0, 2.0], [0.0, 1.0, -7.0]])), tensor(np.eye(2)))
    yield call(
        tensor(rng.standard_normal((2, 3)).astype(np.float32)),
        tensor(rng.standard_normal((6, 2)).astype(np.float32)),
    )


# ---- 4. compose_affine --------------------------------------------------------------------------


@probe("linear_algebra_compose_affine_fixed", function="compose_affine")
def compose_fixed():
    scale2 = np.array([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    shift = np.array([[1.0, 0.0, 3.0], [0.0, 1.0, 0.0]])
    yield call(tensor(scale2), tensor(shift))
    yield call(tensor(shift), tensor(scale2))
    yield call(tensor(shift))


@probe("linear_algebra_compose_affine_oracle", function="compose_affine", rtol=1e-9, atol=1e-9)
def compose_chains():
    rng = np.random.default_rng(13_579)
    for length in (1, 2, 3, 5, 8):
        yield call(*(tensor(rng.standard_normal((2, 3))) for _ in range(length)))
    yield call()  # no matrices: ValueError
    # a rotation and a translation do not commute: the order shows
    quarter = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0]])
    shift = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 5.0]])
    yield call(tensor(quarter), tensor(shift))
    yield call(tensor(shift), tensor(quarter))
    yield call(tensor(shift), tensor(shift), tensor(quarter))
    yield call(*(tensor(rng.standard_normal((2, 3)).astype(np.float32)) for _ in range(3)))
    yield call(tensor(rng.standard_normal((2, 3)).astype(np.float32)))


# ---- 5. bilinear_sample -------------------------------------------------------------------------


@probe("linear_algebra_bilinear_sample_fixed", function="bilinear_sample")
def bilinear_fixed():
    tiny = np.array([[[0.0, 1.0], [2.0, 3.0]]])
    x = np.array([0.0, 1.0, 0.5, 0.5, -1.0, 1.5, 0.25])
    y = np.array([1.0, 0.0, 0.5, 0.0, 0.0, 1.0, 0.0])
    yield call(tensor(tiny), tensor(x), tensor(y))


def _sampling_case(rng, channels, height, width, shape, requires_grad=False):
    image = rng.standard_normal((channels, height, width))
    x = rng.random(shape) * (width + 3) - 2
    y = rng.random(shape) * (height + 3) - 2
    return [tensor(v, requires_grad=requires_grad) for v in (image, x, y)]


def _integer_points(height, width):
    """Every integer position from one outside the image to one beyond its far edge."""
    xs, ys = np.meshgrid(np.arange(-1.0, width + 1), np.arange(-1.0, height + 1))
    return xs, ys


@probe("linear_algebra_bilinear_sample_oracle", function="bilinear_sample")
def bilinear_random():
    rng = np.random.default_rng(24_680)
    for channels, height, width, shape in [
        (1, 2, 2, (5,)),
        (3, 9, 4, (2, 6)),
        (2, 16, 11, (3, 4, 5)),
        (2, 3, 7, (40,)),
        (1, 7, 3, (40,)),
        (4, 1, 1, (6,)),
    ]:
        yield call(*_sampling_case(rng, channels, height, width, shape))
    # a 0-d and an empty sample shape
    yield call(*_sampling_case(rng, 2, 4, 5, ()))
    yield call(*_sampling_case(rng, 3, 4, 5, (0,)))
    # exactly on the pixels and the borders: columns W - 1 and W, rows H - 1 and H, -1
    image = rng.standard_normal((2, 3, 5))
    xs, ys = _integer_points(3, 5)
    yield call(tensor(image), tensor(xs), tensor(ys))
    yield call(tensor(image), tensor(xs + 0.5), tensor(ys))
    yield call(tensor(image), tensor(xs), tensor(ys - 0.25))
    # float32 stays float32
    image32, x, y = (v.array.astype(np.float32) for v in _sampling_case(rng, 2, 5, 6, (3, 4)))
    yield call(tensor(image32), tensor(x), tensor(y))


@probe("linear_algebra_bilinear_sample_gradient", function="bilinear_sample", rtol=1e-6, atol=1e-8)
def bilinear_gradients():
    rng = np.random.default_rng(11_235)
    for channels, height, width, shape in [(3, 6, 8, (4, 5)), (1, 5, 3, (7,)), (2, 2, 9, (30,))]:
        args = _sampling_case(rng, channels, height, width, shape, requires_grad=True)
        yield call(*args).with_backward(rng.standard_normal((channels, *shape)))
    # at integer coordinates the gradient is the one from above (the floor's convention),
    # at x = -1, 0, W - 1, W and the same for y: every border
    for channels, height, width in [(2, 3, 5), (1, 4, 2)]:
        image = rng.standard_normal((channels, height, width))
        xs, ys = _integer_points(height, width)
        for x, y in [(xs, ys), (xs + 0.5, ys), (xs, ys + 0.5)]:
            yield call(
                tensor(image, requires_grad=True),
                tensor(x, requires_grad=True),
                tensor(y, requires_grad=True),
            ).with_backward(rng.standard_normal((channels, *xs.shape)))
    # a 0-d sample
    args = _sampling_case(rng, 2, 4, 5, (), requires_grad=True)
    yield call(*args).with_backward(rng.standard_normal(2))
