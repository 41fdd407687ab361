"""Mutants of chapter 02: plausible student bugs, each a patch of a reference answer, that the
probes beside this file must catch (see autograder/mutants.py)."""

from autograder.mutants import mutant

# ---- numerical_jacobian -------------------------------------------------------------------------

_LOOP = """        step = torch.zeros_like(base)
        step[j] = eps
        ahead = f((base + step).reshape(x.shape)).reshape(-1)  # (m,)
        behind = f((base - step).reshape(x.shape)).reshape(-1)  # (m,)"""

mutant(
    "numjac_perturb_in_place",
    function="numerical_jacobian",
    patch=[
        (
            "base = x.detach().reshape(-1)  # (n,)",
            "base = x.data.reshape(-1)  # (n,): x's own storage",
        ),
        (
            _LOOP,
            """        original = base[j].item()
        base[j] = original + eps
        ahead = f(x).reshape(-1).clone()
        base[j] = original - eps
        behind = f(x).reshape(-1).clone()
        base[j] = original  # put x back""",
        ),
    ],
    why="x is perturbed in place and put back afterwards, so a function that reads x itself "
    "sees the perturbation twice.",
)
mutant(
    "numjac_forward_difference",
    function="numerical_jacobian",
    patch=[
        (
            "behind = f((base - step).reshape(x.shape)).reshape(-1)",
            "behind = f(base.reshape(x.shape)).reshape(-1)",
        ),
        ("columns.append((ahead - behind) / (2 * eps))", "columns.append((ahead - behind) / eps)"),
    ],
    why="A forward difference replaces the central one, so the error is of order eps, not eps**2.",
)
mutant(
    "numjac_transposed_layout",
    function="numerical_jacobian",
    patch=[("return torch.stack(columns, dim=1)", "return torch.stack(columns, dim=0)")],
    why="The columns are stacked as rows, giving the (n, m) transpose instead of numerator layout.",
)
mutant(
    "numjac_divides_by_eps",
    function="numerical_jacobian",
    patch=[
        ("columns.append((ahead - behind) / (2 * eps))", "columns.append((ahead - behind) / eps)")
    ],
    why="The central difference spans 2 eps but is divided by eps.",
)
mutant(
    "numjac_ignores_eps",
    function="numerical_jacobian",
    patch=[("step[j] = eps", "step[j] = 1e-6"), ("/ (2 * eps)", "/ (2 * 1e-6)")],
    why="The step is fixed at 1e-6 instead of the eps the caller gives.",
)
mutant(
    "numjac_step_without_device",
    function="numerical_jacobian",
    patch=[("step = torch.zeros_like(base)", "step = torch.zeros(base.numel(), dtype=base.dtype)")],
    why="The perturbation is made on the CPU instead of on x's device.",
)

# ---- tanh_jacobian ------------------------------------------------------------------------------

mutant(
    "tanh_missing_square",
    function="tanh_jacobian",
    patch=[("slope = 1 - torch.tanh(x) ** 2", "slope = 1 - torch.tanh(x)")],
    why="The derivative of tanh is taken as 1 - tanh instead of 1 - tanh squared.",
)
mutant(
    "tanh_vector_not_matrix",
    function="tanh_jacobian",
    patch=[("return torch.diag(slope)", "return slope")],
    why="The diagonal is returned as a vector instead of the (n, n) Jacobian.",
)
mutant(
    "tanh_autograd",
    function="tanh_jacobian",
    patch=[
        ("return torch.diag(slope)", "return torch.autograd.functional.jacobian(torch.tanh, x)")
    ],
    why="The Jacobian comes from autograd instead of from the derived formula.",
)
mutant(
    "tanh_eye_without_device",
    function="tanh_jacobian",
    patch=[("return torch.diag(slope)", "return slope * torch.eye(x.shape[0], dtype=x.dtype)")],
    why="The identity that spreads the slopes on the diagonal is made on the CPU.",
)
mutant(
    "tanh_in_place",
    function="tanh_jacobian",
    patch=[("slope = 1 - torch.tanh(x) ** 2", "slope = 1 - x.tanh_() ** 2")],
    why="tanh is applied to x in place, which overwrites the caller's input.",
)

# ---- linear_jacobian_input ----------------------------------------------------------------------

mutant(
    "linin_no_transpose",
    function="linear_jacobian_input",
    patch=[("return W.transpose(0, 1)", "return W")],
    why="W itself is returned, in the (D_in, D_out) layout, instead of the (D_out, D_in) Jacobian.",
)
mutant(
    "linin_reshape_not_transpose",
    function="linear_jacobian_input",
    patch=[("return W.transpose(0, 1)", "return W.reshape(W.shape[1], W.shape[0])")],
    why="A reshape to (D_out, D_in) keeps the row-major order of the entries; it is not a "
    "transpose.",
)
mutant(
    "linin_transposed_in_place",
    function="linear_jacobian_input",
    patch=[("return W.transpose(0, 1)", "return W.t_()")],
    why="W is transposed in place, which changes the caller's weights.",
)
mutant(
    "linin_eye_without_device",
    function="linear_jacobian_input",
    patch=[
        (
            "return W.transpose(0, 1)",
            "return torch.eye(W.shape[1], dtype=W.dtype) @ W.transpose(0, 1)",
        )
    ],
    why="The identity in I W^T is made on the CPU instead of on W's device.",
)
mutant(
    "linin_float32",
    function="linear_jacobian_input",
    patch=[("return W.transpose(0, 1)", "return W.transpose(0, 1).float()")],
    why="The Jacobian is cast to float32 instead of keeping W's dtype.",
)

# ---- linear_jacobian_weights --------------------------------------------------------------------

mutant(
    "linw_input_axis_first",
    function="linear_jacobian_weights",
    patch=[
        (
            "return x[None, :, None] * delta[:, None, :]",
            "return x[:, None, None] * delta[None, :, :]",
        )
    ],
    why="The weight's row index comes first, giving (D_in, D_out, D_out) instead of the output "
    "index first.",
)
mutant(
    "linw_input_axis_last",
    function="linear_jacobian_weights",
    patch=[
        (
            "return x[None, :, None] * delta[:, None, :]",
            "return x[None, None, :] * delta[:, :, None]",
        )
    ],
    why="The weight's two indices are swapped, giving (D_out, D_out, D_in).",
)
mutant(
    "linw_eye_without_device",
    function="linear_jacobian_weights",
    patch=[
        (
            "delta = torch.eye(d_out, dtype=x.dtype, device=x.device)",
            "delta = torch.eye(d_out, dtype=x.dtype)",
        )
    ],
    why="The Kronecker delta is made on the CPU instead of on x's device.",
)
mutant(
    "linw_flattened",
    function="linear_jacobian_weights",
    patch=[
        (
            "return x[None, :, None] * delta[:, None, :]",
            "return (x[None, :, None] * delta[:, None, :]).reshape(d_out, -1)",
        )
    ],
    why="The weight indices are flattened into a (D_out, D_in * D_out) matrix instead of the "
    "3-index tensor.",
)
mutant(
    "linw_no_delta",
    function="linear_jacobian_weights",
    patch=[
        (
            "delta = torch.eye(d_out, dtype=x.dtype, device=x.device)",
            "delta = torch.ones(d_out, d_out, dtype=x.dtype, device=x.device)",
        )
    ],
    why="Every output is taken to depend on every column of W, but y_i depends on column i only.",
)

# ---- softmax_jacobian ---------------------------------------------------------------------------

mutant(
    "softmax_no_shift",
    function="softmax_jacobian",
    patch=[("weights = torch.exp(z - z.max())", "weights = torch.exp(z)")],
    why="The logits are exponentiated without the stability shift, so large logits overflow.",
)
mutant(
    "softmax_shift_by_mean",
    function="softmax_jacobian",
    patch=[("weights = torch.exp(z - z.max())", "weights = torch.exp(z - z.mean())")],
    why="The shift by the mean still overflows when one logit is far above the others.",
)
mutant(
    "softmax_shift_by_min",
    function="softmax_jacobian",
    patch=[("weights = torch.exp(z - z.max())", "weights = torch.exp(z - z.min())")],
    why="Shifting by the minimum makes every exponent non-negative, so a large spread overflows.",
)
mutant(
    "softmax_shift_by_first",
    function="softmax_jacobian",
    patch=[("weights = torch.exp(z - z.max())", "weights = torch.exp(z - z[0])")],
    why="Shifting by the first logit overflows when a later logit is much larger.",
)
mutant(
    "softmax_shift_in_place",
    function="softmax_jacobian",
    patch=[("weights = torch.exp(z - z.max())", "weights = torch.exp(z.sub_(z.max()))")],
    why="The shift is applied to z in place, which changes the caller's logits.",
)
mutant(
    "softmax_outer_as_dot",
    function="softmax_jacobian",
    patch=[("return torch.diag(y) - torch.outer(y, y)", "return torch.diag(y) - y @ y")],
    why="y y^T is an outer product, not the dot product y . y.",
)
mutant(
    "softmax_autograd",
    function="softmax_jacobian",
    patch=[
        (
            "return torch.diag(y) - torch.outer(y, y)",
            "return torch.autograd.functional.jacobian(lambda t: torch.softmax(t, dim=0), z)",
        )
    ],
    why="The Jacobian comes from autograd instead of from the derived formula.",
)
mutant(
    "softmax_eye_without_device",
    function="softmax_jacobian",
    patch=[
        (
            "return torch.diag(y) - torch.outer(y, y)",
            "return torch.eye(len(y), dtype=y.dtype) * y - torch.outer(y, y)",
        )
    ],
    why="The identity for diag(y) is made on the CPU instead of on z's device.",
)

# ---- logistic_hessian ---------------------------------------------------------------------------

mutant(
    "logistic_missing_mean",
    function="logistic_hessian",
    patch=[
        (
            "return X.T @ (curvature[:, None] * X) / X.shape[0]",
            "return X.T @ (curvature[:, None] * X)",
        )
    ],
    why="The loss is a mean over the N examples, so its Hessian carries 1/N.",
)
mutant(
    "logistic_divides_by_d",
    function="logistic_hessian",
    patch=[("/ X.shape[0]", "/ X.shape[1]")],
    why="The mean is taken over the D features instead of the N examples.",
)
mutant(
    "logistic_n_by_n_diag",
    function="logistic_hessian",
    patch=[
        (
            "return X.T @ (curvature[:, None] * X) / X.shape[0]",
            "return X.T @ torch.diag(curvature) @ X / X.shape[0]",
        )
    ],
    why="The (N, N) matrix diag(p (1 - p)) is built instead of scaling the rows of X.",
)
mutant(
    "logistic_curvature_p",
    function="logistic_hessian",
    patch=[("curvature = p * (1 - p)", "curvature = p")],
    why="The curvature of the loss is sigma'(u) = p (1 - p), not p.",
)
mutant(
    "logistic_scales_x_in_place",
    function="logistic_hessian",
    patch=[
        (
            "return X.T @ (curvature[:, None] * X) / X.shape[0]",
            "X *= curvature.sqrt()[:, None]  # scale the rows\n    return X.T @ X / X.shape[0]",
        )
    ],
    why="The rows of X are scaled in place, which changes the caller's data.",
)
mutant(
    "logistic_unstable_curvature",
    function="logistic_hessian",
    patch=[
        (
            "curvature = p * (1 - p)",
            "curvature = torch.exp(-(X @ w)) / (1 + torch.exp(-(X @ w))) ** 2",
        )
    ],
    why="sigma'(u) written with exp(-u) overflows to inf / inf for large negative scores.",
)
mutant(
    "logistic_autograd",
    function="logistic_hessian",
    patch=[
        (
            "return X.T @ (curvature[:, None] * X) / X.shape[0]",
            "return torch.autograd.functional.hessian(lambda u: F.softplus(X @ u).mean(), w)",
        )
    ],
    why="The Hessian comes from autograd instead of from the derived formula.",
)

# ---- hvp ----------------------------------------------------------------------------------------

mutant(
    "hvp_requires_grad_on_caller",
    function="hvp",
    patch=[("point = w.detach().requires_grad_(True)", "point = w.requires_grad_(True)")],
    why="requires_grad is switched on for the caller's own w instead of a detached copy.",
)
mutant(
    "hvp_differentiates_caller_w",
    function="hvp",
    patch=[
        (
            "point = w.detach().requires_grad_(True)",
            "point = w\n    flag = w.requires_grad\n    w.requires_grad_(True)",
        ),
        ("return product.detach()", "w.requires_grad_(flag)\n    return product.detach()"),
    ],
    why="The caller's w is differentiated (its flag put back afterwards), so a loss that reads w "
    "itself is differentiated through that reading too.",
)
mutant(
    "hvp_ignores_v",
    function="hvp",
    patch=[("grad_outputs=v)", "grad_outputs=torch.ones_like(v))")],
    why="The gradient is contracted with a vector of ones instead of v.",
)
mutant(
    "hvp_forms_hessian",
    function="hvp",
    patch=[
        (
            "(product,) = torch.autograd.grad(grad, point, grad_outputs=v)",
            "H = torch.autograd.functional.hessian(loss_fn, point).reshape(v.numel(), v.numel())\n"
            "    product = (H @ v.reshape(-1)).reshape(v.shape)",
        )
    ],
    why="The full Hessian is formed and multiplied by v, which the exercise forbids.",
)
mutant(
    "hvp_keeps_graph",
    function="hvp",
    patch=[
        (
            "(product,) = torch.autograd.grad(grad, point, grad_outputs=v)",
            "(product,) = torch.autograd.grad(grad, point, grad_outputs=v, create_graph=True)",
        ),
        ("return product.detach()", "return product"),
    ],
    why="The product is returned with its graph, so it still requires grad.",
)
mutant(
    "hvp_backward_into_caller_grad",
    function="hvp",
    patch=[
        (
            "point = w.detach().requires_grad_(True)",
            "point = w if w.requires_grad else w.detach().requires_grad_(True)",
        ),
        (
            "(product,) = torch.autograd.grad(grad, point, grad_outputs=v)",
            "point.grad = None\n    grad.backward(v)\n    product = point.grad",
        ),
    ],
    why="A w that already requires grad is differentiated itself, and backward() leaves the "
    "product in the caller's w.grad.",
)

# ---- power_iteration ----------------------------------------------------------------------------

mutant(
    "power_rayleigh_after_update",
    function="power_iteration",
    patch=[
        (
            "        estimate = torch.dot(v, Av).item()"
            "  # Rayleigh quotient of the unit vector v\n",
            "",
        ),
        (
            "    return estimate",
            "    estimate = torch.dot(v, matvec(v)).item()\n    return estimate",
        ),
    ],
    why="The Rayleigh quotient is taken of the updated vector with one more product, so the "
    "estimate after num_iters steps is one step ahead and matvec is called once too often.",
)
mutant(
    "power_start_not_normalized",
    function="power_iteration",
    patch=[("    v = v / v.norm()\n", "")],
    why="The start vector is not normalized, so the first Rayleigh quotient is scaled by its "
    "squared norm.",
)
mutant(
    "power_start_float32",
    function="power_iteration",
    patch=[
        (
            "v = torch.randn(dim, generator=generator, dtype=torch.float64)",
            "v = torch.randn(dim, generator=generator).double()",
        )
    ],
    why="The start vector is drawn in float32, which gives other numbers than the float64 draw "
    "the text prescribes.",
)
mutant(
    "power_norm_estimate",
    function="power_iteration",
    patch=[("estimate = torch.dot(v, Av).item()", "estimate = Av.norm().item()")],
    why="The norm |A v| replaces the Rayleigh quotient v^T A v as the estimate.",
)
mutant(
    "power_one_extra_step",
    function="power_iteration",
    patch=[("for _ in range(num_iters):", "for _ in range(num_iters + 1):")],
    why="The loop runs num_iters + 1 times, one product more than asked for.",
)
mutant(
    "power_ignores_generator",
    function="power_iteration",
    patch=[
        (
            "v = torch.randn(dim, generator=generator, dtype=torch.float64)",
            "v = torch.randn(dim, dtype=torch.float64)",
        )
    ],
    why="The start vector is drawn from torch's global generator instead of the one passed in.",
)

# ---- max_stable_lr ------------------------------------------------------------------------------

mutant(
    "lr_one_over_lambda",
    function="max_stable_lr",
    patch=[("return 2.0 / rayleigh.item()", "return 1.0 / rayleigh.item()")],
    why="Gradient descent is stable up to 2 / lambda_max, not 1 / lambda_max.",
)
mutant(
    "lr_ignores_num_iters",
    function="max_stable_lr",
    patch=[("for _ in range(num_iters):", "for _ in range(500):")],
    why="The number of power-iteration steps is fixed at 500 instead of the num_iters given.",
)
mutant(
    "lr_small_default",
    function="max_stable_lr",
    patch=[("def max_stable_lr(A, num_iters=500):", "def max_stable_lr(A, num_iters=20):")],
    why="The default of 500 power-iteration steps is changed to 20, too few to converge.",
)
mutant(
    "lr_no_normalization",
    function="max_stable_lr",
    patch=[
        (
            "rayleigh = torch.dot(direction, image)  # tends to lambda_max",
            "rayleigh = torch.dot(direction, image) / torch.dot(direction, direction)",
        ),
        ("direction = image / image.norm()", "direction = image"),
    ],
    why="The iterate is never normalized, so it overflows or underflows after enough steps.",
)

# ---- train_head_only ----------------------------------------------------------------------------

mutant(
    "head_body_with_graph",
    function="train_head_only",
    patch=[
        (
            "    with torch.no_grad():  # no graph through the body, so it gets no gradient\n"
            "        features = X\n"
            "        for layer in body:\n"
            "            features = layer(features)",
            "    features = X\n    for layer in body:\n        features = layer(features)",
        ),
    ],
    why="The body's output is computed with a graph, so backward reaches the body's parameters.",
)
mutant(
    "head_loss_after_step",
    function="train_head_only",
    patch=[
        (
            "history.append(objective.item())",
            "history.append(F.cross_entropy(head(features), y).item())",
        )
    ],
    why="Each loss is recorded after its update instead of before it.",
)
mutant(
    "head_freeze_then_unfreeze_all",
    function="train_head_only",
    patch=[
        (
            "    with torch.no_grad():  # no graph through the body, so it gets no gradient\n"
            "        features = X\n"
            "        for layer in body:\n"
            "            features = layer(features)",
            "    for layer in body:\n"
            "        layer.requires_grad_(False)\n"
            "    features = X\n"
            "    for layer in body:\n"
            "        features = layer(features)",
        ),
        (
            "    return history",
            "    for layer in body:\n        layer.requires_grad_(True)\n    return history",
        ),
    ],
    why="The body is frozen with requires_grad_(False) and then switched back on for every "
    "parameter, including any that was frozen before.",
)
mutant(
    "head_momentum",
    function="train_head_only",
    patch=[
        (
            "torch.optim.SGD(head.parameters(), lr=lr)",
            "torch.optim.SGD(head.parameters(), lr=lr, momentum=0.9)",
        )
    ],
    why="Momentum is added, but the exercise asks for plain SGD.",
)
mutant(
    "head_one_step_short",
    function="train_head_only",
    patch=[("for _ in range(steps):", "for _ in range(steps - 1):")],
    why="The loop runs steps - 1 times, one update and one loss short.",
)
mutant(
    "head_no_zero_grad",
    function="train_head_only",
    patch=[("        sgd_head.zero_grad()\n", "")],
    why="The gradients are never zeroed, so each step adds the previous steps' gradients.",
)
mutant(
    "head_sum_loss",
    function="train_head_only",
    patch=[
        (
            "objective = F.cross_entropy(head(features), y)",
            "objective = F.cross_entropy(head(features), y, reduction='sum')",
        )
    ],
    why="The loss is summed over the batch instead of averaged.",
)
