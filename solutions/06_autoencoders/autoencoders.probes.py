"""Probes for chapter 06: the hidden checks, decided outside the student's kernel.

Each probe calls one of the student's functions on inputs drawn here and compares what comes back
with the reference solution's results on the same inputs (see autograder/probes.py). Every random
draw the functions need (the noise eps, the uniforms of a mask) is an input drawn here, so the
reference and the student receive the very same numbers.

Beyond random shapes (non-square, a batch of one) the probes visit the edges the exercise states:
logits of +-100 and +-1000 in float64 and float32, log_var as a 0-dim, (D,) and (N, D) tensor,
u exactly equal to drop_prob on non-zero pixels, labels just outside the range, K = 1 for the
IWAE bound and log weights of magnitude 1e3 and more, a variance exactly at the active-unit
threshold. Structural rules are kept by calls made ``.under_rule(...)``: the library's BCE,
softplus and logsigmoid (bernoulli_nll_with_logits), one_hot (condition) and logsumexp
(iwae_bound) may not be called. Gradients are compared with ``.with_backward(...)``.

``train_vae_digits`` is judged on the bound it reaches, not on equality with the reference: its
comparator evaluates the validation negative ELBO from the returned parameters here, in the
trusted process, with noise drawn here. Its probes skip the meta-device repeat
(``second_device=False``): a training loop indexes the data with a permutation drawn by a CPU
generator, which CUDA accepts and meta does not, so meta would fault correct answers.
"""

import numpy as np

import coursekit
from autograder.probes import call, generator, probe, rule, tensor


def _forbid(names, what):
    """None of the library routines ``names`` is called in ``what``."""
    return rule(lambda: coursekit.forbid_calls(names, what=what), names=frozenset(names), what=what)


NO_LIBRARY_BCE = _forbid(
    {
        "binary_cross_entropy", "binary_cross_entropy_with_logits", "softplus", "log_sigmoid",
        "logaddexp",
    },
    "bernoulli_nll_with_logits",
)  # fmt: skip
NO_ONE_HOT = _forbid({"one_hot"}, "condition")
NO_LOGSUMEXP = _forbid(
    {"logsumexp", "special_logsumexp", "logaddexp", "log_softmax", "special_log_softmax"},
    "iwae_bound",
)

#: Tolerances for float32 inputs (the reference computes in float32 too).
F32 = {"rtol": 1e-5, "atol": 1e-5}


def _normal(rng, *shape, scale=1.0, dtype=np.float64):
    return (scale * rng.standard_normal(shape)).astype(dtype)


def _binary(rng, *shape, dtype=np.float64):
    return (rng.random(shape) >= 0.5).astype(dtype)


# ---- bernoulli_nll_with_logits -------------------------------------------------------------------


@probe("autoencoders_bernoulli_nll_with_logits_fixed", function="bernoulli_nll_with_logits")
def bernoulli_fixed():
    yield call(tensor(np.zeros((2, 3))), tensor(np.array([[1.0, 0.0, 0.5], [0.0, 0.0, 1.0]])))
    logits = np.full((1, 2), np.log(3.0))
    yield call(tensor(logits), tensor(np.array([[1.0, 0.0]])))
    yield call(tensor(np.array([[0.0, 2.0, -2.0]])), tensor(np.array([[0.25, 0.5, 0.75]])))


@probe("autoencoders_bernoulli_nll_with_logits_oracle", function="bernoulli_nll_with_logits")
def bernoulli_random():
    rng = np.random.default_rng(60_101)
    for n, d in [(5, 7), (1, 1), (1, 64), (8, 3), (3, 8), (6, 6), (16, 64)]:
        logits = _normal(rng, n, d, scale=4.0)
        yield call(tensor(logits), tensor(_binary(rng, n, d)))
        yield call(tensor(logits), tensor(rng.random((n, d))))  # soft targets


@probe("autoencoders_bernoulli_nll_with_logits_oracle", function="bernoulli_nll_with_logits", **F32)
def bernoulli_random_float32():
    rng = np.random.default_rng(60_102)
    for n, d in [(4, 9), (1, 5), (7, 7)]:
        logits = _normal(rng, n, d, scale=4.0, dtype=np.float32)
        yield call(tensor(logits), tensor(rng.random((n, d)).astype(np.float32)))


def _extreme_logits(rng, n, d, dtype):
    """Logits of +-100 and +-1000 (and a few moderate ones) against binary and soft targets."""
    logits = rng.choice([100.0, -100.0, 1000.0, -1000.0, 3.0, -0.5], size=(n, d))
    targets = rng.choice([0.0, 1.0, 0.25, 0.5], size=(n, d))
    return tensor(logits.astype(dtype)), tensor(targets.astype(dtype))


@probe("autoencoders_bernoulli_nll_with_logits_stable", function="bernoulli_nll_with_logits")
def bernoulli_extreme():
    """Logits of +-100 and +-1000 in float64: exp(1000) overflows, log(sigmoid(-1000)) is log 0."""
    rng = np.random.default_rng(60_103)
    yield call(tensor(np.array([[100.0, -100.0, 1000.0, -1000.0]])), tensor(np.ones((1, 4))))
    yield call(tensor(np.array([[100.0, -100.0, 1000.0, -1000.0]])), tensor(np.zeros((1, 4))))
    for n, d in [(3, 5), (1, 8), (6, 2)]:
        yield call(*_extreme_logits(rng, n, d, np.float64))
    for n, d in [(2, 4), (5, 3)]:  # by hand: none of the library's routines may run
        yield call(*_extreme_logits(rng, n, d, np.float64)).under_rule(NO_LIBRARY_BCE)
    yield call(tensor(_normal(rng, 4, 6)), tensor(rng.random((4, 6)))).under_rule(NO_LIBRARY_BCE)


@probe("autoencoders_bernoulli_nll_with_logits_stable", function="bernoulli_nll_with_logits", **F32)
def bernoulli_extreme_float32():
    """The same in float32, where exp already overflows past about 88 (and the dtype is kept)."""
    rng = np.random.default_rng(60_104)
    row = np.array([[100.0, -100.0, 1000.0, -1000.0]], dtype=np.float32)
    yield call(tensor(row), tensor(np.array([[1.0, 1.0, 0.0, 0.25]], dtype=np.float32)))
    for n, d in [(3, 5), (4, 1)]:
        yield call(*_extreme_logits(rng, n, d, np.float32))
    yield call(*_extreme_logits(rng, 2, 7, np.float32)).under_rule(NO_LIBRARY_BCE)


# ---- gaussian_nll --------------------------------------------------------------------------------


@probe("autoencoders_gaussian_nll_fixed", function="gaussian_nll")
def gaussian_fixed():
    x = np.array([[1.0, 2.0, 0.0], [0.0, 0.0, 3.0]])
    yield call(tensor(x), tensor(np.zeros((2, 3))), tensor(np.zeros(3)))
    yield call(tensor(x), tensor(x), tensor(np.array(2.0)))
    yield call(tensor(x), tensor(np.ones((2, 3))), tensor(np.log(np.full((2, 3), 4.0))))


def _gaussian_case(rng, n, d, kind, dtype=np.float64):
    x, mean = _normal(rng, n, d, dtype=dtype), _normal(rng, n, d, dtype=dtype)
    shape = {"full": (n, d), "pixel": (d,), "scalar": ()}[kind]
    return call(tensor(x), tensor(mean), tensor(_normal(rng, *shape, dtype=dtype)))


@probe("autoencoders_gaussian_nll_oracle", function="gaussian_nll")
def gaussian_random():
    """log_var per element (N, D), per pixel (D,) and shared (0-dim), on non-square shapes."""
    rng = np.random.default_rng(60_201)
    for n, d in [(4, 6), (1, 1), (1, 5), (7, 2), (3, 3), (12, 64)]:
        for kind in ("full", "pixel", "scalar"):
            yield _gaussian_case(rng, n, d, kind)
    x = _normal(rng, 3, 4)  # a large and a tiny variance
    yield call(tensor(x), tensor(x + 0.1), tensor(np.array([[-8.0, 8.0, 0.0, 3.0]] * 3)))


@probe("autoencoders_gaussian_nll_oracle", function="gaussian_nll", **F32)
def gaussian_random_float32():
    rng = np.random.default_rng(60_202)
    for n, d, kind in [(5, 3, "full"), (2, 8, "pixel"), (6, 4, "scalar")]:
        yield _gaussian_case(rng, n, d, kind, dtype=np.float32)


# ---- kl_to_standard_normal -----------------------------------------------------------------------


@probe("autoencoders_kl_to_standard_normal_fixed", function="kl_to_standard_normal")
def kl_fixed():
    yield call(tensor(np.zeros((3, 2))), tensor(np.zeros((3, 2))))
    yield call(tensor(np.array([[1.0, 2.0]])), tensor(np.zeros((1, 2))))
    yield call(tensor(np.zeros((1, 2))), tensor(np.ones((1, 2))))
    yield call(tensor(np.array([[0.5], [-1.0]])), tensor(np.array([[-2.0], [1.5]])))


@probe("autoencoders_kl_to_standard_normal_oracle", function="kl_to_standard_normal")
def kl_random():
    rng = np.random.default_rng(60_301)
    for n, z in [(6, 3), (1, 1), (1, 16), (9, 2), (4, 4), (32, 8)]:
        yield call(tensor(_normal(rng, n, z, scale=2.0)), tensor(_normal(rng, n, z, scale=2.0)))


@probe("autoencoders_kl_to_standard_normal_oracle", function="kl_to_standard_normal", **F32)
def kl_random_float32():
    rng = np.random.default_rng(60_302)
    for n, z in [(5, 3), (2, 7)]:
        mu, log_var = _normal(rng, n, z, dtype=np.float32), _normal(rng, n, z, dtype=np.float32)
        yield call(tensor(mu), tensor(log_var))


@probe("autoencoders_kl_to_standard_normal_gradient", function="kl_to_standard_normal")
def kl_gradient():
    """Gradients through the KL, by autograd, to mu and log_var, through a random dout (N,)."""
    rng = np.random.default_rng(60_303)
    for n, z in [(4, 3), (1, 5), (6, 2), (3, 3)]:
        mu = tensor(_normal(rng, n, z), requires_grad=True)
        log_var = tensor(_normal(rng, n, z), requires_grad=True)
        yield call(mu, log_var).with_backward(_normal(rng, n))


# ---- reparameterize ------------------------------------------------------------------------------


@probe("autoencoders_reparameterize_fixed", function="reparameterize")
def reparameterize_fixed():
    mu = np.array([[0.0, 1.0, -2.0]])
    log_var = np.array([[0.0, 2 * np.log(3.0), -2 * np.log(2.0)]])
    yield call(tensor(mu), tensor(log_var), tensor(np.array([[1.5, -1.0, 4.0]])))
    yield call(tensor(mu), tensor(log_var), tensor(np.zeros((1, 3))))
    rng = np.random.default_rng(60_401)
    for n, z in [(5, 2), (1, 1), (3, 7)]:  # a fixed eps: the result must not be redrawn
        yield call(*(tensor(_normal(rng, n, z)) for _ in range(3)))
    args = [tensor(_normal(rng, 4, 3, dtype=np.float32)) for _ in range(3)]
    yield call(*args)


@probe("autoencoders_reparameterize_gradient", function="reparameterize")
def reparameterize_gradient():
    """dz/dmu = 1 and dz/dlog_var = sigma eps / 2, through a random dout; eps left unchanged."""
    rng = np.random.default_rng(60_402)
    for n, z in [(5, 2), (1, 4), (3, 3), (8, 1)]:
        mu = tensor(_normal(rng, n, z), requires_grad=True)
        log_var = tensor(_normal(rng, n, z), requires_grad=True)
        eps = tensor(_normal(rng, n, z))
        yield call(mu, log_var, eps).with_backward(_normal(rng, n, z)).recording_args()
    mu, log_var = tensor(_normal(rng, 2, 3), requires_grad=True), tensor(_normal(rng, 2, 3))
    yield call(mu, log_var, tensor(_normal(rng, 2, 3))).with_backward(np.ones((2, 3)))
    # dz/deps = sigma, when the noise itself is a leaf
    leaves = [tensor(_normal(rng, 3, 2), requires_grad=True) for _ in range(3)]
    yield call(*leaves).with_backward(_normal(rng, 3, 2))


# ---- negative_elbo -------------------------------------------------------------------------------


def _elbo_args(rng, n, d, z, dtype=np.float64, scale=4.0):
    return (
        tensor(_binary(rng, n, d, dtype=dtype)),
        tensor(_normal(rng, n, d, scale=scale, dtype=dtype)),
        tensor(_normal(rng, n, z, dtype=dtype)),
        tensor(_normal(rng, n, z, dtype=dtype)),
    )


@probe("autoencoders_negative_elbo_fixed", function="negative_elbo")
def negative_elbo_fixed():
    x = np.array([[1.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 0.5]])
    mu = np.array([[1.0, 2.0], [0.0, 0.0]])
    args = (tensor(x), tensor(np.zeros((2, 4))), tensor(mu), tensor(np.zeros((2, 2))))
    yield call(*args)
    yield call(*args, beta=4.0)
    yield call(*args, beta=0.0)


@probe("autoencoders_negative_elbo_oracle", function="negative_elbo")
def negative_elbo_random():
    """Default beta and beta in {0.5, 0, 4}, soft targets, a batch of one, extreme logits."""
    rng = np.random.default_rng(60_501)
    for n, d, z in [(6, 10, 3), (1, 4, 2), (3, 5, 5), (8, 64, 2), (2, 3, 7)]:
        yield call(*_elbo_args(rng, n, d, z))
    for beta in (0.5, 0.0, 4.0):
        yield call(*_elbo_args(rng, 5, 6, 3), beta=beta)
    x, logits, mu, log_var = _elbo_args(rng, 4, 7, 2)
    yield call(tensor(rng.random((4, 7))), logits, mu, log_var, beta=2.0)  # soft targets
    extreme = rng.choice([100.0, -100.0, 1000.0, -1000.0, 1.0], size=(3, 6))
    yield call(
        tensor(_binary(rng, 3, 6)),
        tensor(extreme),
        tensor(_normal(rng, 3, 2)),
        tensor(_normal(rng, 3, 2)),
    )
    yield call(*_elbo_args(rng, 4, 5, 3, scale=1e3), beta=0.5)


@probe("autoencoders_negative_elbo_oracle", function="negative_elbo", **F32)
def negative_elbo_float32():
    rng = np.random.default_rng(60_502)
    yield call(*_elbo_args(rng, 5, 8, 3, dtype=np.float32))
    yield call(*_elbo_args(rng, 2, 6, 4, dtype=np.float32), beta=0.25)


# ---- mask_noise ----------------------------------------------------------------------------------


@probe("autoencoders_mask_noise_fixed", function="mask_noise")
def mask_noise_fixed():
    x = np.array([[0.5, 1.0, 0.25], [1.0, 0.75, 0.0]])
    u = np.array([[0.9, 0.1, 0.6], [0.2, 0.8, 0.7]])
    yield call(tensor(x), 0.5, tensor(u))
    yield call(tensor(x), 0.0, tensor(u))
    rng = np.random.default_rng(60_601)
    for n, d, p in [(4, 6, 0.3), (1, 1, 0.5), (3, 64, 0.9), (7, 2, 0.05)]:
        yield call(tensor(rng.random((n, d)) + 0.1), p, tensor(rng.random((n, d))))


@probe("autoencoders_mask_noise_boundary", function="mask_noise")
def mask_noise_boundary():
    """u exactly equal to drop_prob, on non-zero pixels: kept (and u = 0 with drop_prob = 0)."""
    yield call(tensor(np.array([[3.0, 2.0, 1.0]])), 0.25, tensor(np.array([[0.25, 0.2, 0.3]])))
    x = np.array([[1.0, -2.0, 0.5, 4.0], [2.0, 3.0, -1.0, 0.75]])
    u = np.array([[0.5, 0.5, 0.0, 0.75], [0.5, 0.25, 0.5, 0.5]])
    yield call(tensor(x), 0.5, tensor(u))
    yield call(tensor(x), 0.0, tensor(np.zeros((2, 4))))
    yield call(tensor(x.astype(np.float32)), 0.75, tensor(u.astype(np.float32)))
    yield call(tensor(x), 0.125, tensor(np.full((2, 4), 0.125)))


@probe("autoencoders_mask_noise_contract", function="mask_noise")
def mask_noise_contract():
    """x's dtype kept (float32 x, float64 u and the reverse), inputs unchanged, drop_prob range."""
    rng = np.random.default_rng(60_602)
    x32, u64 = rng.random((4, 6)).astype(np.float32) + 0.5, rng.random((4, 6))
    yield call(tensor(x32), 0.3, tensor(u64)).recording_args()
    yield call(tensor(rng.random((3, 5)) + 0.5), 0.4, tensor(rng.random((3, 5)).astype(np.float32)))
    yield call(tensor(rng.random((2, 3)) + 0.5), 0.6, tensor(rng.random((2, 3)))).recording_args()
    for bad in (1.0, -0.1, 1.5, -1e-9):  # ValueError
        yield call(tensor(rng.random((2, 3))), bad, tensor(rng.random((2, 3))))
    yield call(tensor(rng.random((2, 3))), 0.999, tensor(rng.random((2, 3))))


# ---- condition -----------------------------------------------------------------------------------


def _labels(rng, n, k):
    return tensor(rng.integers(0, k, size=n).astype(np.int64))


@probe("autoencoders_condition_fixed", function="condition")
def condition_fixed():
    v = np.array([[0.5, -1.0], [2.0, 0.0], [1.0, 1.0]])
    yield call(tensor(v), tensor(np.array([3, 0, 3], dtype=np.int64)), 4)
    yield call(tensor(v[:1]), tensor(np.array([0], dtype=np.int64)), 1)  # K = 1
    rng = np.random.default_rng(60_701)
    for n, d, k in [(5, 3, 10), (1, 64, 10), (6, 2, 2), (4, 4, 4)]:
        yield call(tensor(_normal(rng, n, d)), _labels(rng, n, k), k)


@probe("autoencoders_condition_contract", function="condition")
def condition_contract():
    """float32 v kept, labels missing the top class, labels out of range, no F.one_hot."""
    rng = np.random.default_rng(60_702)
    v32 = _normal(rng, 5, 3, dtype=np.float32)
    yield call(tensor(v32), tensor(np.array([1, 0, 1, 1, 0], dtype=np.int64)), 2).recording_args()
    # the batch lacks classes 7..9: num_classes, not the labels, sets the width
    yield call(tensor(_normal(rng, 4, 2)), tensor(np.array([0, 3, 6, 3], dtype=np.int64)), 10)
    for labels, k in [([0, 2], 2), ([-1, 0], 2), ([5, 1, 0], 3), ([10], 10)]:  # ValueError
        v = tensor(_normal(rng, len(labels), 3))
        yield call(v, tensor(np.array(labels, dtype=np.int64)), k)
    yield call(tensor(_normal(rng, 3, 4)), _labels(rng, 3, 5), 5).under_rule(NO_ONE_HOT)
    yield call(tensor(v32), _labels(rng, 5, 3), 3).under_rule(NO_ONE_HOT)
    v_leaf = tensor(_normal(rng, 3, 2), requires_grad=True)  # the result stays in the graph
    yield call(v_leaf, _labels(rng, 3, 4), 4).with_backward(_normal(rng, 3, 6))


# ---- iwae_bound ----------------------------------------------------------------------------------


def _iwae_args(rng, k, n, scale=1.0, shift=0.0, dtype=np.float64):
    log_px_z = _normal(rng, k, n, scale=scale, dtype=dtype) + dtype(shift)
    return tuple(
        tensor(a)
        for a in (log_px_z, _normal(rng, k, n, dtype=dtype), _normal(rng, k, n, dtype=dtype))
    )


@probe("autoencoders_iwae_bound_fixed", function="iwae_bound")
def iwae_fixed():
    zeros = tensor(np.zeros((2, 1)))
    yield call(tensor(np.array([[0.0], [np.log(3.0)]])), zeros, zeros)
    yield call(
        tensor(np.array([[-3.0, -10.0]])),
        tensor(np.array([[-1.0, -2.0]])),
        tensor(np.array([[0.5, -1.0]])),
    )  # K = 1: the ELBO
    rng = np.random.default_rng(60_801)
    for n in (1, 4, 9):  # K = 1 on random weights
        yield call(*_iwae_args(rng, 1, n, scale=5.0))


@probe("autoencoders_iwae_bound_oracle", function="iwae_bound")
def iwae_random():
    rng = np.random.default_rng(60_802)
    for k, n in [(7, 3), (2, 5), (4, 4), (200, 2), (3, 1), (16, 9)]:
        yield call(*_iwae_args(rng, k, n, scale=3.0))


@probe("autoencoders_iwae_bound_oracle", function="iwae_bound", **F32)
def iwae_float32():
    rng = np.random.default_rng(60_803)
    yield call(*_iwae_args(rng, 5, 3, scale=3.0, dtype=np.float32))


@probe("autoencoders_iwae_bound_stable", function="iwae_bound")
def iwae_extreme():
    """Log weights of magnitude 1e3 to 1e4, where every e^w underflows to 0 or overflows."""
    rng = np.random.default_rng(60_804)
    zeros = tensor(np.zeros((2, 2)))
    log_px_z = np.array([[-1000.0, 1000.0], [-1000.0 + np.log(3.0), 1000.0]])
    yield call(tensor(log_px_z), zeros, zeros)
    for k, n, shift in [(5, 3, -1000.0), (3, 4, -5000.0), (8, 2, 2000.0), (1, 3, -1e4)]:
        yield call(*_iwae_args(rng, k, n, scale=10.0, shift=shift))
    # by hand: no logsumexp
    yield call(*_iwae_args(rng, 4, 3, scale=10.0, shift=-1500.0)).under_rule(NO_LOGSUMEXP)
    yield call(*_iwae_args(rng, 6, 2, scale=2.0)).under_rule(NO_LOGSUMEXP)


# ---- active_units --------------------------------------------------------------------------------


@probe("autoencoders_active_units_fixed", function="active_units")
def active_units_fixed():
    mu = np.array([[1.0, 5.0, 0.05, 2.0], [-1.0, 5.0, -0.05, -2.0]])
    yield call(tensor(mu))
    yield call(tensor(mu), threshold=0.001)
    rng = np.random.default_rng(60_901)
    scales = np.array([1.0, 0.2, 0.001, 0.05, 0.3, 1e-4])  # variances around the default 0.01
    for n in (50, 7):
        yield call(tensor(_normal(rng, n, 6) * scales))
    yield call(tensor(_normal(rng, 40, 3) * np.array([0.5, 0.07, 0.2])), threshold=0.02)


@probe("autoencoders_active_units_boundary", function="active_units")
def active_units_boundary():
    """A variance exactly at the threshold (not active), divisor N, a batch of one."""
    mu = np.array([[0.5, 1.0], [-0.5, -1.0], [0.5, 1.0], [-0.5, -1.0]])
    yield call(tensor(mu), threshold=0.25)
    yield call(tensor(mu), threshold=1.0)
    yield call(tensor(mu[:1]), threshold=0.0)
    # divisor N: variance 0.25 (divisor N) is 0.5 with divisor N - 1 = 1
    yield call(tensor(np.array([[0.5, 0.0, 2.0], [-0.5, 0.1, 2.0]])), threshold=0.3)
    yield call(tensor(np.array([[0.1], [-0.1], [0.1], [-0.1], [0.1], [-0.1]])))  # Z = 1


# ---- train_vae_digits ----------------------------------------------------------------------------

THRESHOLD = 26.5  # nats per image; the reference reaches about 25.0 in 20 epochs
UNTRAINED = 35.0  # an untrained model costs about 44.9
MAX_WIDTH = 256
#: The keys of the returned dict and their shapes: H the hidden width, Z the latent size, 64 pixels.
SHAPES = {
    "W_enc": (64, "H"),
    "b_enc": ("H",),
    "W_mu": ("H", "Z"),
    "b_mu": ("Z",),
    "W_logvar": ("H", "Z"),
    "b_logvar": ("Z",),
    "W_dec": ("Z", "H"),
    "b_dec": ("H",),
    "W_out": ("H", 64),
    "b_out": (64,),
}


def _pixels(split_seed):
    """The split's training and validation images as (N, 64) float32 pixels in [0, 1]."""
    import torch

    from coursekit.data import load_digits_split  # imports scikit-learn: only when needed

    data = load_digits_split(seed=split_seed, device="cpu", dtype=torch.float32)
    return (
        data.images(data.x_train).reshape(-1, 64).numpy(),
        data.images(data.x_val).reshape(-1, 64).numpy(),
    )


def _negative_elbo(params, x, noise_seed, draws=4):
    """The mean over x of the one-sample negative ELBO, averaged over ``draws`` draws of eps."""
    with np.errstate(all="ignore"):  # a broken model gives inf or NaN: it fails the threshold
        hidden = np.maximum(x @ params["W_enc"] + params["b_enc"], 0.0)
        mu = hidden @ params["W_mu"] + params["b_mu"]
        log_var = hidden @ params["W_logvar"] + params["b_logvar"]
        kl = 0.5 * (mu**2 + np.exp(log_var) - log_var - 1.0).sum(axis=1)
        rng = np.random.default_rng(noise_seed)
        rec = np.zeros(len(x))
        for _ in range(draws):
            z = mu + np.exp(0.5 * log_var) * rng.standard_normal(mu.shape)
            logits = np.maximum(z @ params["W_dec"] + params["b_dec"], 0.0) @ params["W_out"]
            logits = logits + params["b_out"]
            bce = np.maximum(logits, 0.0) - x * logits + np.log1p(np.exp(-np.abs(logits)))
            rec += bce.sum(axis=1) / draws
        return float((rec + kl).mean())


def _vae_bound(split_seed, latent_dim, *, at_most=None, above=None):
    """A comparator: the returned parameters' validation negative ELBO on the split, computed here
    from the parameters alone, must be <= at_most (or > above)."""

    def compare(got, want):
        if not isinstance(got, dict) or not set(SHAPES) <= set(got):
            return "must return a dict with the keys " + ", ".join(SHAPES)
        params = {}
        for name in SHAPES:
            value = got[name]
            if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
                return f"{name} is not a numeric array"
            params[name] = value.astype(np.float64)
        width = params["W_enc"].shape[1] if params["W_enc"].ndim == 2 else -1
        sizes = {"H": width, "Z": latent_dim}
        for name, shape in SHAPES.items():
            if params[name].shape != tuple(sizes.get(s, s) for s in shape):
                return f"{name} has the wrong shape"
        if width > MAX_WIDTH:
            return f"the hidden width is over the budget of {MAX_WIDTH}"
        if not all(np.isfinite(p).all() for p in params.values()):
            return "the parameters have non-finite entries"
        _, x_val = _pixels(split_seed)
        value = _negative_elbo(params, x_val.astype(np.float64), noise_seed=split_seed + 1)
        if at_most is not None and not value <= at_most:
            return f"validation negative ELBO above {at_most} nats per image on another split"
        if above is not None and not value > above:
            return f"validation negative ELBO {above} nats or less without training (epochs=0)"
        return None

    return compare


def _train_call(split_seed, latent_dim, epochs, init_seed):
    x_train, _ = _pixels(split_seed)
    return call(
        tensor(x_train), latent_dim=latent_dim, epochs=epochs, generator=generator(init_seed)
    )


@probe(
    "autoencoders_train_vae_digits_elbo",
    function="train_vae_digits",
    compare=_vae_bound(11, 8, at_most=THRESHOLD),
    second_device=False,
)
def train_vae_split_a():
    yield _train_call(11, latent_dim=8, epochs=20, init_seed=1_101)


@probe(
    "autoencoders_train_vae_digits_elbo",
    function="train_vae_digits",
    compare=_vae_bound(22, 4, at_most=THRESHOLD),
    second_device=False,
)
def train_vae_split_b():
    yield _train_call(22, latent_dim=4, epochs=20, init_seed=2_202)


@probe(
    "autoencoders_train_vae_digits_elbo",
    function="train_vae_digits",
    compare=_vae_bound(33, 3, above=UNTRAINED),
    second_device=False,
)
def train_vae_untrained():
    yield _train_call(33, latent_dim=3, epochs=0, init_seed=3_303)
