"""Mutants for chapter 03: plausible student bugs, each of which the probes must catch.

Each is a textual patch of one reference answer in backprop.ipynb (see autograder/mutants.py).
"""

from autograder.mutants import mutant

# ---- layernorm_forward ---------------------------------------------------------------------------

mutant(
    "ln_forward_over_the_batch",
    function="layernorm_forward",
    patch=[
        ("centred = x - x.mean(dim=1, keepdim=True)", "centred = x - x.mean(dim=0, keepdim=True)"),
        (".mean(dim=1, keepdim=True) + eps)", ".mean(dim=0, keepdim=True) + eps)"),
    ],
    why="The statistics are taken over the batch, as in batch normalization, not over the "
    "features of each example.",
)
mutant(
    "ln_forward_unbiased_variance",
    function="layernorm_forward",
    patch=[
        (
            "(centred * centred).mean(dim=1, keepdim=True) + eps",
            "(centred * centred).sum(dim=1, keepdim=True) / (x.shape[1] - 1) + eps",
        )
    ],
    why="The variance is divided by D - 1; layer normalization uses the biased variance.",
)
mutant(
    "ln_forward_eps_outside_the_root",
    function="layernorm_forward",
    patch=[
        (
            "torch.rsqrt((centred * centred).mean(dim=1, keepdim=True) + eps)",
            "1 / (torch.sqrt((centred * centred).mean(dim=1, keepdim=True)) + eps)",
        )
    ],
    why="eps is added to the standard deviation instead of to the variance under the root.",
)
mutant(
    "ln_forward_moment_variance",
    function="layernorm_forward",
    patch=[
        (
            "torch.rsqrt((centred * centred).mean(dim=1, keepdim=True) + eps)",
            "torch.rsqrt((x * x).mean(dim=1, keepdim=True) - x.mean(dim=1, keepdim=True) ** 2"
            " + eps)",
        )
    ],
    why="The variance as E[x^2] - E[x]^2 cancels catastrophically when a row has a large mean.",
)
mutant(
    "ln_forward_flat_inv_std",
    function="layernorm_forward",
    patch=[
        (
            "inv_sigma = torch.rsqrt((centred * centred).mean(dim=1, keepdim=True) + eps)",
            "inv_sigma = torch.rsqrt((centred * centred).mean(dim=1) + eps)[:, None]",
        ),
        ("(normalized, gamma, inv_sigma)", "(normalized, gamma, inv_sigma[:, 0])"),
    ],
    why="The cache keeps inv_std as a vector (N,), not in the (N, 1) form the docstring gives.",
)
mutant(
    "ln_forward_library",
    function="layernorm_forward",
    patch=[
        (
            "return normalized * gamma + beta,",
            "return F.layer_norm(x, gamma.shape, gamma, beta, eps),",
        )
    ],
    why="The output comes from F.layer_norm, which the exercise forbids.",
)

# ---- layernorm_backward --------------------------------------------------------------------------

mutant(
    "ln_backward_corrections_over_the_batch",
    function="layernorm_backward",
    patch=[
        (
            "row_mean = g_hat.mean(dim=1, keepdim=True)",
            "row_mean = g_hat.mean(dim=0, keepdim=True)",
        ),
        (
            "row_corr = (g_hat * normalized).mean(dim=1, keepdim=True)",
            "row_corr = (g_hat * normalized).mean(dim=0, keepdim=True)",
        ),
    ],
    why="The correction terms average over the batch, as in batch normalization, instead of over "
    "each example's features.",
)
mutant(
    "ln_backward_no_rescaling_term",
    function="layernorm_backward",
    patch=[("(g_hat - row_mean - normalized * row_corr)", "(g_hat - row_mean)")],
    why="The path through the variance is dropped: only the re-centring is differentiated.",
)
mutant(
    "ln_backward_dgamma_over_features",
    function="layernorm_backward",
    patch=[("(dout * normalized).sum(dim=0)", "(dout * normalized).sum(dim=1)")],
    why="dgamma sums over the features, but gamma is shared by the examples and sums over the "
    "batch.",
)
mutant(
    "ln_backward_forgets_gamma",
    function="layernorm_backward",
    patch=[("g_hat = dout * scale", "g_hat = dout")],
    why="The gradient reaching x_hat forgets the factor gamma of the output's scaling.",
)
mutant(
    "ln_backward_sum_not_mean",
    function="layernorm_backward",
    patch=[
        ("row_mean = g_hat.mean(dim=1, keepdim=True)", "row_mean = g_hat.sum(dim=1, keepdim=True)")
    ],
    why="The re-centring term sums where it averages: the factor 1/D of the mean is missing.",
)
mutant(
    "ln_backward_by_autograd",
    function="layernorm_backward",
    patch=[
        (
            "grad_x = inv_sigma * (g_hat - row_mean - normalized * row_corr)",
            "leaf = normalized.detach().requires_grad_(True)\n"
            "    with torch.enable_grad():\n"
            "        part = (leaf * (g_hat - row_mean - normalized * row_corr)).sum()\n"
            "        (slope,) = torch.autograd.grad(part, [leaf])\n"
            "    grad_x = inv_sigma * slope",
        )
    ],
    why="Part of the gradient is computed by autograd, which the exercise forbids.",
)

# ---- log_softmax_forward -------------------------------------------------------------------------

mutant(
    "ls_forward_no_shift",
    function="log_softmax_forward",
    patch=[("shifted = x - peak", "shifted = x")],
    why="Without subtracting the row maximum, exp overflows for large scores.",
)
mutant(
    "ls_forward_shift_by_min",
    function="log_softmax_forward",
    patch=[("peak = x.amax(dim=1, keepdim=True)", "peak = x.amin(dim=1, keepdim=True)")],
    why="Shifting by the row minimum leaves exponents above 0, which overflow.",
)
mutant(
    "ls_forward_log_of_softmax",
    function="log_softmax_forward",
    patch=[
        (
            "log_probs = shifted - log_norm",
            "log_probs = torch.log(\n"
            "        torch.exp(shifted) / torch.exp(shifted).sum(dim=1, keepdim=True))",
        )
    ],
    why="The logarithm of a softmax is -inf wherever a probability underflows to 0.",
)
mutant(
    "ls_forward_shift_by_column",
    function="log_softmax_forward",
    patch=[("peak = x.amax(dim=1, keepdim=True)", "peak = x.amax(dim=0, keepdim=True)")],
    why="The maximum is taken over the batch axis; only a constant per row leaves a log-softmax "
    "unchanged.",
)
mutant(
    "ls_forward_sum_over_batch",
    function="log_softmax_forward",
    patch=[(".sum(dim=1, keepdim=True))", ".sum(dim=0, keepdim=True))")],
    why="The normalizing sum runs over the batch instead of over the classes of each row.",
)
mutant(
    "ls_forward_library",
    function="log_softmax_forward",
    patch=[("log_probs = shifted - log_norm", "log_probs = torch.log_softmax(x, dim=1)")],
    why="The output comes from torch.log_softmax, which the exercise forbids.",
)

# ---- log_softmax_backward ------------------------------------------------------------------------

mutant(
    "ls_backward_no_row_sum",
    function="log_softmax_backward",
    patch=[("probs * dout.sum(dim=1, keepdim=True)", "probs * dout")],
    why="The Jacobian's second term couples every class of a row: it needs the sum of dout over "
    "the row.",
)
mutant(
    "ls_backward_sum_over_batch",
    function="log_softmax_backward",
    patch=[("dout.sum(dim=1, keepdim=True)", "dout.sum(dim=0, keepdim=True)")],
    why="The sum of dout runs over the batch instead of over the classes of each row.",
)
mutant(
    "ls_backward_log_probs_as_probs",
    function="log_softmax_backward",
    patch=[("probs = torch.exp(log_probs)", "probs = log_probs")],
    why="The cache holds log-probabilities; the Jacobian needs the probabilities themselves.",
)
mutant(
    "ls_backward_softmax_rule",
    function="log_softmax_backward",
    patch=[
        (
            "return dout - probs * dout.sum(dim=1, keepdim=True)",
            "return probs * (dout - (dout * probs).sum(dim=1, keepdim=True))",
        )
    ],
    why="This is the softmax's backward rule, not the log-softmax's.",
)
mutant(
    "ls_backward_divides_by_n",
    function="log_softmax_backward",
    patch=[
        (
            "return dout - probs * dout.sum(dim=1, keepdim=True)",
            "return (dout - probs * dout.sum(dim=1, keepdim=True)) / dout.shape[0]",
        )
    ],
    why="The gradient is divided by N, but dout already carries the 1/N of the batch mean.",
)

# ---- gelu_forward --------------------------------------------------------------------------------

mutant(
    "gelu_forward_tanh_approximation",
    function="gelu_forward",
    patch=[
        (
            "cdf = 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))",
            "cdf = 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))",
        )
    ],
    why="The tanh approximation differs from the exact GELU by up to about 1e-3.",
)
mutant(
    "gelu_forward_erf_without_root_two",
    function="gelu_forward",
    patch=[("torch.erf(x / math.sqrt(2.0))", "torch.erf(x)")],
    why="The normal CDF is erf(x / sqrt 2), not erf(x).",
)
mutant(
    "gelu_forward_sigmoid_approximation",
    function="gelu_forward",
    patch=[("cdf = 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))", "cdf = torch.sigmoid(1.702 * x)")],
    why="The sigmoid approximation x * sigmoid(1.702 x) is not the exact GELU.",
)
mutant(
    "gelu_forward_missing_half",
    function="gelu_forward",
    patch=[("0.5 * (1.0 + torch.erf", "(1.0 + torch.erf")],
    why="Phi(x) = (1 + erf(x / sqrt 2)) / 2: without the 1/2 it runs from 0 to 2.",
)
mutant(
    "gelu_forward_caches_output",
    function="gelu_forward",
    patch=[("return x * cdf, (x,)", "return x * cdf, (x * cdf,)")],
    why="The cache must hold the input x, as the docstring says, not the output.",
)
mutant(
    "gelu_forward_library",
    function="gelu_forward",
    patch=[("return x * cdf, (x,)", "return F.gelu(x), (x,)")],
    why="The output comes from F.gelu, which the exercise forbids.",
)

# ---- gelu_backward -------------------------------------------------------------------------------

mutant(
    "gelu_backward_no_product_rule",
    function="gelu_backward",
    patch=[("dout * (cdf + inputs * pdf)", "dout * cdf")],
    why="The derivative of x Phi(x) needs the product rule: Phi(x) + x phi(x).",
)
mutant(
    "gelu_backward_unnormalized_density",
    function="gelu_backward",
    patch=[(" / math.sqrt(2.0 * math.pi)", "")],
    why="The normal density needs its factor 1 / sqrt(2 pi).",
)
mutant(
    "gelu_backward_wrong_exponent",
    function="gelu_backward",
    patch=[("torch.exp(-0.5 * inputs * inputs)", "torch.exp(-inputs * inputs)")],
    why="The normal density is exp(-x^2 / 2), not exp(-x^2).",
)
mutant(
    "gelu_backward_only_density_term",
    function="gelu_backward",
    patch=[("dout * (cdf + inputs * pdf)", "dout * inputs * pdf")],
    why="Only the derivative of Phi is kept; the product rule also keeps Phi(x) itself.",
)
mutant(
    "gelu_backward_erf_without_root_two",
    function="gelu_backward",
    patch=[("torch.erf(inputs / math.sqrt(2.0))", "torch.erf(inputs)")],
    why="The normal CDF is erf(x / sqrt 2), not erf(x).",
)

# ---- dropout_forward -----------------------------------------------------------------------------

mutant(
    "dropout_forward_not_inverted",
    function="dropout_forward",
    patch=[("keep_scale = 1.0 / (1.0 - p)", "keep_scale = 1.0 - p")],
    why="Inverted dropout divides the survivors by 1 - p; multiplying is the evaluation-time "
    "scaling of plain dropout.",
)
mutant(
    "dropout_forward_p_as_keep_probability",
    function="dropout_forward",
    patch=[("keep_scale = 1.0 / (1.0 - p)", "keep_scale = 1.0 / p")],
    why="p is the probability of dropping an entry, not of keeping it.",
)
mutant(
    "dropout_forward_allows_p_one",
    function="dropout_forward",
    patch=[("if not 0.0 <= p < 1.0:", "if not 0.0 <= p <= 1.0:")],
    why="p = 1 drops everything and divides by zero: it must raise ValueError.",
)
mutant(
    "dropout_forward_allows_negative_p",
    function="dropout_forward",
    patch=[("if not 0.0 <= p < 1.0:", "if not p < 1.0:")],
    why="A negative probability is not a probability: it must raise ValueError.",
)
mutant(
    "dropout_forward_inverted_mask",
    function="dropout_forward",
    patch=[("return x * mask * keep_scale", "return x * ~mask * keep_scale")],
    why="mask is True where an entry is kept, not where it is dropped.",
)
mutant(
    "dropout_forward_in_place",
    function="dropout_forward",
    patch=[("return x * mask * keep_scale", "return x.mul_(mask).mul_(keep_scale)")],
    why="The input is modified in place; the caller's x must not change.",
)

# ---- dropout_backward ----------------------------------------------------------------------------

mutant(
    "dropout_backward_forgets_scale",
    function="dropout_backward",
    patch=[("dout * mask / (1.0 - p)", "dout * mask")],
    why="The forward pass scaled the survivors by 1 / (1 - p), so their gradient carries it too.",
)
mutant(
    "dropout_backward_multiplies_scale",
    function="dropout_backward",
    patch=[("dout * mask / (1.0 - p)", "dout * mask * (1.0 - p)")],
    why="The survivors' gradient is divided by 1 - p, as their values were, not multiplied.",
)
mutant(
    "dropout_backward_ignores_mask",
    function="dropout_backward",
    patch=[("dout * mask / (1.0 - p)", "dout / (1.0 - p)")],
    why="A dropped entry did not reach the output, so no gradient flows back to it.",
)
mutant(
    "dropout_backward_inverted_mask",
    function="dropout_backward",
    patch=[("dout * mask / (1.0 - p)", "dout * ~mask / (1.0 - p)")],
    why="mask is True where an entry is kept, not where it is dropped.",
)
mutant(
    "dropout_backward_in_place",
    function="dropout_backward",
    patch=[("return dout * mask / (1.0 - p)", "return dout.mul_(mask).div_(1.0 - p)")],
    why="dout is modified in place; the caller's upstream gradient must not change.",
)

# ---- residual_backward ---------------------------------------------------------------------------

mutant(
    "residual_backward_forgets_skip",
    function="residual_backward",
    patch=[("grad_x = dout + grad_pre", "grad_x = grad_pre")],
    why="The identity path passes dout straight back to x; its gradient adds to the layers'.",
)
mutant(
    "residual_backward_relu_kink_one",
    function="residual_backward",
    patch=[("active = pre > 0", "active = pre >= 0")],
    why="The ReLU's derivative at exactly 0 is taken as 0, not 1.",
)
mutant(
    "residual_backward_dw2_from_preactivation",
    function="residual_backward",
    patch=[("hidden = pre * active", "hidden = pre")],
    why="The second layer's input is relu(z), not the pre-activation z.",
)
mutant(
    "residual_backward_db2_mean",
    function="residual_backward",
    patch=[("grad_b_out = dout.sum(dim=0)", "grad_b_out = dout.mean(dim=0)")],
    why="The bias gradient is averaged over the batch, but dout already carries the 1/N.",
)
mutant(
    "residual_backward_dw1_transposed",
    function="residual_backward",
    patch=[
        (
            "grad_w_in = inputs.transpose(0, 1) @ grad_pre",
            "grad_w_in = (inputs.transpose(0, 1) @ grad_pre).transpose(0, 1)",
        )
    ],
    why="dW1 has W1's layout (D, K), not the transposed (K, D).",
)
mutant(
    "residual_backward_no_relu_mask",
    function="residual_backward",
    patch=[("(dout @ w_out.transpose(0, 1)) * active", "(dout @ w_out.transpose(0, 1))")],
    why="The gradient through the ReLU is zero where the unit was inactive.",
)

# ---- train_digits --------------------------------------------------------------------------------

mutant(
    "train_gradient_ascent",
    function="train_digits",
    patch=[("tensor -= learning_rate * slope", "tensor += learning_rate * slope")],
    why="The update climbs the loss: gradient descent subtracts the gradient.",
)
mutant(
    "train_ignores_steps",
    function="train_digits",
    patch=[("for _step in range(steps):", "for _step in range(150):")],
    why="The number of steps is hard-coded instead of taken from the argument.",
)
mutant(
    "train_zero_init",
    function="train_digits",
    patch=[('"W1": he_normal(n_in, width)', '"W1": torch.zeros(n_in, width, **like)')],
    why="Zero initial weights make every hidden unit the same, and layer norm then zeroes them.",
)
mutant(
    "train_normalizes_over_the_batch",
    function="train_digits",
    patch=[
        (
            "centred = pre - pre.mean(dim=1, keepdim=True)",
            "centred = pre - pre.mean(dim=0, keepdim=True)",
        ),
        (".mean(dim=1, keepdim=True) + 1e-5)", ".mean(dim=0, keepdim=True) + 1e-5)"),
    ],
    why="Training normalizes each feature over the batch (batch norm), but the model is layer "
    "norm, over each example's features.",
)
mutant(
    "train_tiny_learning_rate",
    function="train_digits",
    patch=[("x_train.shape[1], 64, 10, 0.5", "x_train.shape[1], 64, 10, 0.005")],
    why="With so small a learning rate, 150 steps are not nearly enough.",
)
mutant(
    "residual_backward_borrows_relu",
    function="residual_backward",
    patch=[
        (
            "active = pre > 0",
            'relu = __import__("coursekit.layers").layers.ReLU()\n'
            "    relu.forward(pre)\n"
            "    active = relu.mask",
        )
    ],
    why="The ReLU's mask comes from coursekit's ReLU layer, which the exercise forbids.",
)
mutant(
    "residual_backward_constant_without_device",
    function="residual_backward",
    patch=[
        (
            "grad_b_out = dout.sum(dim=0)",
            "grad_b_out = torch.zeros(dout.shape[1], dtype=dout.dtype) + dout.sum(dim=0)",
        )
    ],
    why="A tensor made without device= lives on the CPU, and fails when the inputs are elsewhere.",
)
mutant(
    "dropout_forward_constant_without_device",
    function="dropout_forward",
    patch=[
        (
            "return x * mask * keep_scale",
            "return torch.where(mask, x * keep_scale, torch.zeros(x.shape, dtype=x.dtype))",
        )
    ],
    why="A tensor made without device= lives on the CPU, and fails when the inputs are elsewhere.",
)
