"""Mutants for chapter 06: plausible bugs of a student who half-understands the maths.

Each is a textual patch of one reference answer in autoencoders.ipynb, and ``python -m
autograder check 06_autoencoders`` proves that the probes make every one of them lose points.
"""

from autograder.mutants import mutant

# ---- bernoulli_nll_with_logits -------------------------------------------------------------------

SHIFTED = "logits.clamp_min(0) + torch.log1p(torch.exp(-logits.abs()))"

mutant(
    "bce_no_stability_shift",
    function="bernoulli_nll_with_logits",
    patch=[(SHIFTED, "torch.log1p(torch.exp(logits))")],
    why="log(1 + e^l) is computed literally, so e^l overflows to inf for large logits.",
)
mutant(
    "bce_half_the_shift",
    function="bernoulli_nll_with_logits",
    patch=[(SHIFTED, "torch.log1p(torch.exp(-logits.abs()))")],
    why="The max(l, 0) taken out of the logarithm is dropped, so positive logits cost too little.",
)
mutant(
    "bce_abs_missing",
    function="bernoulli_nll_with_logits",
    patch=[("torch.exp(-logits.abs())", "torch.exp(-logits)")],
    why="The exponent uses -l instead of -|l|, which is wrong (and overflows) for negative logits.",
)
mutant(
    "bce_from_probabilities",
    function="bernoulli_nll_with_logits",
    patch=[
        (
            "(log_one_plus_exp - x * logits)",
            "-(x * torch.log(torch.sigmoid(logits))"
            " + (1 - x) * torch.log(1 - torch.sigmoid(logits)))",
        )
    ],
    why="The loss goes through sigmoid probabilities, whose log is log 0 once a logit saturates.",
)
mutant(
    "bce_mean_over_pixels",
    function="bernoulli_nll_with_logits",
    patch=[(".sum(dim=-1)", ".mean(dim=-1)")],
    why="The per-pixel terms are averaged, but the log-likelihood of an image is their sum.",
)
mutant(
    "bce_sum_over_batch",
    function="bernoulli_nll_with_logits",
    patch=[(".sum(dim=-1)", ".sum(dim=0)")],
    why="The sum runs over the batch instead of over the features of each example.",
)

# ---- gaussian_nll --------------------------------------------------------------------------------

mutant(
    "gaussian_no_log_two_pi",
    function="gaussian_nll",
    patch=[("math.log(2 * math.pi) + log_var", "log_var")],
    why="The constant 1/2 log(2 pi) is dropped, so the result is not a negative log-density.",
)
mutant(
    "gaussian_std_for_variance",
    function="gaussian_nll",
    patch=[("torch.exp(-log_var)", "torch.exp(-0.5 * log_var)")],
    why="The squared error is divided by sigma instead of by the variance sigma^2.",
)
mutant(
    "gaussian_mean_over_pixels",
    function="gaussian_nll",
    patch=[("per_feature.sum(dim=-1)", "per_feature.mean(dim=-1)")],
    why="The per-pixel terms are averaged, but the density of independent pixels multiplies.",
)
mutant(
    "gaussian_log_var_counted_once",
    function="gaussian_nll",
    patch=[
        ("math.log(2 * math.pi) + log_var + squared", "math.log(2 * math.pi) + squared"),
        (
            "return per_feature.sum(dim=-1)",
            "return per_feature.sum(dim=-1) + 0.5 * log_var.sum(dim=-1)",
        ),
    ],
    why="log sigma^2 is summed over log_var's entries: a shared variance counts once, not D times.",
)
mutant(
    "gaussian_half_on_constants_only",
    function="gaussian_nll",
    patch=[
        (
            "0.5 * (math.log(2 * math.pi) + log_var + squared)",
            "0.5 * (math.log(2 * math.pi) + log_var) + squared",
        )
    ],
    why="The squared error misses its factor 1/2.",
)

# ---- kl_to_standard_normal -----------------------------------------------------------------------

mutant(
    "kl_sign_flipped",
    function="kl_to_standard_normal",
    patch=[("return 0.5 * (", "return -0.5 * (")],
    why="The KL comes out negative: the sign of the closed form is flipped.",
)
mutant(
    "kl_half_missing",
    function="kl_to_standard_normal",
    patch=[("return 0.5 * (", "return (")],
    why="The factor 1/2 of the Gaussian KL is missing.",
)
mutant(
    "kl_std_for_variance",
    function="kl_to_standard_normal",
    patch=[("torch.exp(log_var)", "torch.exp(0.5 * log_var)")],
    why="sigma is used where the formula has the variance sigma^2 = exp(log_var).",
)
mutant(
    "kl_minus_one_missing",
    function="kl_to_standard_normal",
    patch=[(" - log_var - 1.0)", " - log_var)")],
    why="The -1 per latent dimension is dropped, so the KL is not zero at the prior.",
)
mutant(
    "kl_mean_over_latents",
    function="kl_to_standard_normal",
    patch=[(".sum(dim=-1)", ".mean(dim=-1)")],
    why="The KL of independent latent dimensions is their sum, not their mean.",
)

# ---- reparameterize ------------------------------------------------------------------------------

mutant(
    "reparam_sigma_is_variance",
    function="reparameterize",
    patch=[("torch.exp(0.5 * log_var)", "torch.exp(log_var)")],
    why="exp(log_var) is the variance; the noise must be scaled by its square root.",
)
mutant(
    "reparam_log_var_as_std",
    function="reparameterize",
    patch=[("torch.exp(0.5 * log_var)", "log_var")],
    why="log_var is used as the standard deviation itself, without the exponential.",
)
mutant(
    "reparam_draws_own_noise",
    function="reparameterize",
    patch=[("return mu + std * eps", "return mu + std * torch.randn_like(mu)")],
    why="The function draws its own noise instead of using the eps it is given.",
)
mutant(
    "reparam_mu_detached",
    function="reparameterize",
    patch=[("return mu + std * eps", "return mu.detach() + std * eps")],
    why="mu is detached, so no gradient reaches the encoder's mean.",
)
mutant(
    "reparam_eps_in_place",
    function="reparameterize",
    patch=[("return mu + std * eps", "return eps.mul_(std).add_(mu)")],
    why="The noise tensor is overwritten in place to save memory, which changes the caller's eps.",
)

# ---- negative_elbo -------------------------------------------------------------------------------

mutant(
    "elbo_beta_on_reconstruction",
    function="negative_elbo",
    patch=[("(rec + beta * kl)", "(beta * rec + kl)")],
    why="The weight beta multiplies the reconstruction term instead of the KL.",
)
mutant(
    "elbo_summed_over_batch",
    function="negative_elbo",
    patch=[("(rec + beta * kl).mean()", "(rec + beta * kl).sum()")],
    why="The loss is summed over the batch; the course's losses are the batch mean.",
)
mutant(
    "elbo_mean_over_pixels",
    function="negative_elbo",
    patch=[
        (
            "rec = (log_one_plus_exp - x * logits).sum(dim=-1)",
            "rec = (log_one_plus_exp - x * logits).mean(dim=-1)",
        )
    ],
    why="The reconstruction is averaged over pixels, which shrinks it against the KL.",
)
mutant(
    "elbo_kl_returned_weighted",
    function="negative_elbo",
    patch=[("kl = 0.5 * (", "kl = beta * 0.5 * ("), ("(rec + beta * kl)", "(rec + kl)")],
    why="The returned kl already carries beta, but rec and kl must be returned unweighted.",
)
mutant(
    "elbo_kl_sign_flipped",
    function="negative_elbo",
    patch=[("kl = 0.5 * (", "kl = -0.5 * (")],
    why="The KL enters with the wrong sign, so the loss rewards moving away from the prior.",
)
mutant(
    "elbo_unstable_bce",
    function="negative_elbo",
    patch=[(SHIFTED, "torch.log1p(torch.exp(logits))")],
    why="The Bernoulli term lacks the stability shift, so it overflows for large logits.",
)

# ---- mask_noise ----------------------------------------------------------------------------------

mutant(
    "mask_strict_comparison",
    function="mask_noise",
    patch=[("keep = u >= drop_prob", "keep = u > drop_prob")],
    why="A pixel whose u equals drop_prob is dropped, but the stated convention keeps it.",
)
mutant(
    "mask_reversed",
    function="mask_noise",
    patch=[("keep = u >= drop_prob", "keep = u < drop_prob")],
    why="The mask keeps the pixels it should drop: a pixel survives with probability 1 - p.",
)
mutant(
    "mask_rescaled",
    function="mask_noise",
    patch=[("return x * keep.to(x.dtype)", "return x * keep.to(x.dtype) / (1.0 - drop_prob)")],
    why="Kept pixels are divided by 1 - p as in inverted dropout; masking noise leaves them alone.",
)
mutant(
    "mask_allows_one",
    function="mask_noise",
    patch=[("0.0 <= drop_prob < 1.0", "0.0 <= drop_prob <= 1.0")],
    why="drop_prob = 1 is accepted, although it drops every pixel and leaves nothing to denoise.",
)
mutant(
    "mask_allows_negative",
    function="mask_noise",
    patch=[("0.0 <= drop_prob < 1.0", "drop_prob < 1.0")],
    why="A negative drop_prob is accepted instead of raising ValueError.",
)
mutant(
    "mask_in_place",
    function="mask_noise",
    patch=[("return x * keep.to(x.dtype)", "return x.mul_(keep.to(x.dtype))")],
    why="The input x is masked in place, which corrupts the clean images the loss needs.",
)
mutant(
    "mask_dtype_of_u",
    function="mask_noise",
    patch=[("return x * keep.to(x.dtype)", "return x * keep.to(u.dtype)")],
    why="The mask takes the dtype of u, which promotes a float32 x to float64.",
)

# ---- condition -----------------------------------------------------------------------------------

mutant(
    "condition_one_hot_without_device",
    function="condition",
    patch=[("torch.arange(num_classes, device=v.device)", "torch.arange(num_classes)")],
    why="The class indices are made without device=, so they sit on the CPU when v is on a GPU.",
)
mutant(
    "condition_label_first",
    function="condition",
    patch=[("torch.cat([v, one_hot], dim=1)", "torch.cat([one_hot, v], dim=1)")],
    why="The one-hot code is put before v, but the stated layout appends it after.",
)
mutant(
    "condition_classes_from_labels",
    function="condition",
    patch=[
        (
            "torch.arange(num_classes, device=v.device)",
            "torch.arange(int(y.max()) + 1, device=v.device)",
        )
    ],
    why="The number of classes is read off the batch's largest label instead of num_classes.",
)
mutant(
    "condition_accepts_label_k",
    function="condition",
    patch=[("int(y.max()) >= num_classes", "int(y.max()) > num_classes")],
    why="The label num_classes is accepted although the labels run from 0 to num_classes - 1.",
)
mutant(
    "condition_accepts_negative",
    function="condition",
    patch=[("int(y.min()) < 0 or ", "")],
    why="Negative labels are not rejected.",
)

# ---- iwae_bound ----------------------------------------------------------------------------------

mutant(
    "iwae_log_k_missing",
    function="iwae_bound",
    patch=[(" - math.log(num_samples)", "")],
    why="The 1/K of the average is forgotten, so the bound is too large by log K.",
)
mutant(
    "iwae_no_shift",
    function="iwae_bound",
    patch=[
        ("torch.exp(log_w - peak)", "torch.exp(log_w)"),
        ("return peak[0] + torch.log", "return torch.log"),
    ],
    why="The weights are exponentiated without the max shift, so they underflow or overflow.",
)
mutant(
    "iwae_k_from_batch_axis",
    function="iwae_bound",
    patch=[("num_samples = log_w.shape[0]", "num_samples = log_w.shape[1]")],
    why="K is read from the batch axis: the samples run along the first axis.",
)
mutant(
    "iwae_q_added",
    function="iwae_bound",
    patch=[("log_px_z + log_pz - log_qz", "log_px_z + log_pz + log_qz")],
    why="The importance weight is p(x, z) / q(z | x), so log q is subtracted, not added.",
)
mutant(
    "iwae_log_k_twice",
    function="iwae_bound",
    patch=[("torch.log(total)", "torch.log(total / num_samples)")],
    why="The average's 1/K is applied both inside the log and as - log K.",
)
mutant(
    "iwae_mean_of_log_weights",
    function="iwae_bound",
    patch=[
        ("return peak[0] + torch.log(total) - math.log(num_samples)", "return log_w.mean(dim=0)")
    ],
    why="The log weights are averaged (the ELBO) instead of the weights themselves.",
)

# ---- active_units --------------------------------------------------------------------------------

mutant(
    "active_units_non_strict",
    function="active_units",
    patch=[("spread > threshold", "spread >= threshold")],
    why="A variance equal to the threshold counts as active, but the comparison is strict.",
)
mutant(
    "active_units_unbiased_variance",
    function="active_units",
    patch=[("correction=0", "correction=1")],
    why="The variance divides by N - 1, but the stated rule divides by N.",
)
mutant(
    "active_units_std",
    function="active_units",
    patch=[("spread > threshold", "spread.sqrt() > threshold")],
    why="The standard deviation is compared with the threshold instead of the variance.",
)
mutant(
    "active_units_wrong_axis",
    function="active_units",
    patch=[("mu.var(dim=0, correction=0)", "mu.var(dim=1, correction=0)")],
    why="The variance is taken over the latent dimensions of each example, not over the batch.",
)
mutant(
    "active_units_default_threshold",
    function="active_units",
    patch=[("threshold=0.01):", "threshold=0.1):")],
    why="The default threshold is 0.1 instead of the stated 0.01.",
)
mutant(
    "active_units_tensor_result",
    function="active_units",
    patch=[("return int((spread > threshold).sum())", "return (spread > threshold).sum()")],
    why="The count is returned as a tensor, not as a Python int.",
)

# ---- train_vae_digits ----------------------------------------------------------------------------

mutant(
    "train_rec_mean_over_pixels",
    function="train_vae_digits",
    patch=[('reduction="none").sum(dim=1)', 'reduction="none").mean(dim=1)')],
    why="The reconstruction is averaged over pixels, so the KL dominates and the latents collapse.",
)
mutant(
    "train_zero_grad_missing",
    function="train_vae_digits",
    patch=[("            optimizer.zero_grad()\n", "")],
    why="The gradients are never reset, so every step adds up all the gradients before it.",
)
mutant(
    "train_one_step_per_epoch",
    function="train_vae_digits",
    patch=[("optimizer.step()", "optimizer.step()\n            break")],
    why="The loop over mini-batches stops after the first one, so an epoch is a single step.",
)
mutant(
    "train_no_noise",
    function="train_vae_digits",
    patch=[("z = mu + torch.exp(0.5 * log_var) * eps", "z = mu")],
    why="The decoder is trained on z = mu without noise, so it never sees samples of q.",
)
mutant(
    "train_kl_sign_flipped",
    function="train_vae_digits",
    patch=[("kl = 0.5 * (", "kl = -0.5 * (")],
    why="The KL enters the loss with the wrong sign, so training pushes q away from the prior.",
)
