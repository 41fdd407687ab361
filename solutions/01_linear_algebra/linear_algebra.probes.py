"""Probes for chapter 01: the hidden checks, decided outside the student's kernel.

Each probe calls one of the student's functions on inputs drawn here and compares what comes back
with the reference solution's results on the same inputs (see autograder/probes.py). The draws
mirror the hidden tests of the notebook beside this file, with other seeds.
"""

import numpy as np

from autograder.probes import call, probe, tensor

F64 = np.float64


@probe("linear_algebra_matmul_broadcast_fixed", function="matmul_broadcast")
def matmul_fixed():
    yield call(
        tensor(np.array([[1.0, 2.0], [3.0, 4.0]])), tensor(np.array([[5.0, 6.0], [7.0, 8.0]]))
    )
    row, col = np.array([[1.0, 2.0, 3.0]]), np.array([[1.0], [1.0], [1.0]])
    yield call(tensor(row), tensor(col))
    yield call(tensor(col), tensor(row))


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
    yield call(tensor(rng.standard_normal((2, 3))), tensor(rng.standard_normal((4, 5))))  # raises
    # the exercise's rule: broadcasting, not a matrix-multiply routine
    rule = "coursekit.forbid_calls(what='matmul_broadcast')"
    yield call(
        tensor(rng.standard_normal((2, 3, 4))), tensor(rng.standard_normal((4, 5)))
    ).under_rule(rule)


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


@probe("linear_algebra_affine_apply_fixed", function="affine_apply")
def affine_fixed():
    points = np.array([[1.0, 0.0], [0.0, 2.0]])
    yield call(tensor(np.array([[1.0, 0.0, 10.0], [0.0, 1.0, -1.0]])), tensor(points))
    yield call(tensor(np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0]])), tensor(points))


@probe("linear_algebra_affine_apply_oracle", function="affine_apply")
def affine_random():
    rng = np.random.default_rng(90_412)
    for n_points in (1, 5, 17, 0):
        yield call(tensor(rng.standard_normal((2, 3))), tensor(rng.standard_normal((n_points, 2))))


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


@probe("linear_algebra_bilinear_sample_oracle", function="bilinear_sample")
def bilinear_random():
    rng = np.random.default_rng(24_680)
    for channels, height, width, shape in [
        (1, 2, 2, (5,)),
        (3, 9, 4, (2, 6)),
        (2, 16, 11, (3, 4, 5)),
    ]:
        yield call(*_sampling_case(rng, channels, height, width, shape))


@probe("linear_algebra_bilinear_sample_gradient", function="bilinear_sample", rtol=1e-6, atol=1e-8)
def bilinear_gradients():
    rng = np.random.default_rng(11_235)
    for channels, height, width, shape in [(3, 6, 8, (4, 5)), (1, 5, 3, (7,))]:
        args = _sampling_case(rng, channels, height, width, shape, requires_grad=True)
        yield call(*args).with_backward(rng.standard_normal((channels, *shape)))
