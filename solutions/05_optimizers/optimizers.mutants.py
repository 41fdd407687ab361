"""Mutants of chapter 05: plausible student bugs, each a patch of a reference answer, that the
probes beside this file must catch (see autograder/mutants.py)."""

from autograder.mutants import mutant

# ---- ema -----------------------------------------------------------------------------------------

mutant(
    "ema_not_debiased",
    function="ema",
    patch=[("if debias else average", "if not debias else average")],
    why="The average is not divided by the sum of its weights, so it starts pulled towards 0.",
)
mutant(
    "ema_debias_t_minus_1",
    function="ema",
    patch=[("beta ** (i + 1)", "beta ** i")],
    why="The bias correction uses the exponent of the previous step, 1 - beta^(t-1).",
)
mutant(
    "ema_seeded_with_first_value",
    function="ema",
    patch=[
        (
            "average = torch.zeros((), dtype=values.dtype, device=values.device)",
            "average = values[0]",
        )
    ],
    why="The average starts at the first value instead of 0, and is then debiased as if it "
    "had started at 0.",
)
mutant(
    "ema_weights_swapped",
    function="ema",
    patch=[
        (
            "average = beta * average + (1.0 - beta) * values[i]",
            "average = (1.0 - beta) * average + beta * values[i]",
        )
    ],
    why="beta weighs the new value and 1 - beta the old average: the roles are swapped.",
)
mutant(
    "ema_beta_one_accepted",
    function="ema",
    patch=[("if not 0.0 <= beta < 1.0:", "if not 0.0 <= beta <= 1.0:")],
    why="beta = 1 is accepted, where the average never moves and the correction divides by 0.",
)
mutant(
    "ema_constant_on_cpu",
    function="ema",
    patch=[
        (
            "average = torch.zeros((), dtype=values.dtype, device=values.device)",
            "average = torch.zeros(1, dtype=values.dtype)",
        )
    ],
    why="The starting average is made on the default device (and with a stray dimension).",
)

# ---- sgd_step ------------------------------------------------------------------------------------

mutant(
    "sgd_sutskever_momentum",
    function="sgd_step",
    patch=[
        (
            'buffer = torch.add(momentum * state["momentum_buffer"], direction, alpha=1.0 - '
            "dampening)",
            'buffer = torch.add(momentum * state["momentum_buffer"], direction, alpha=lr * (1.0 - '
            "dampening))",
        ),
        ("buffer = direction.clone()", "buffer = lr * direction"),
        (
            "return torch.add(p, direction, alpha=-lr), new_state",
            "return p - (direction if momentum else lr * direction), new_state",
        ),
    ],
    why="The learning rate goes inside the buffer (Sutskever's form), which PyTorch keeps "
    "outside: the two differ once the learning rate changes.",
)
mutant(
    "sgd_dampening_at_step_1",
    function="sgd_step",
    patch=[("buffer = direction.clone()", "buffer = (1.0 - dampening) * direction")],
    why="The first buffer is damped, where PyTorch sets it to the gradient itself.",
)
mutant(
    "sgd_nesterov_ignored",
    function="sgd_step",
    patch=[
        (
            "direction = direction + momentum * buffer if nesterov else buffer",
            "direction = buffer",
        )
    ],
    why="Nesterov's step uses the buffer alone instead of g + momentum * buffer.",
)
mutant(
    "sgd_nesterov_swapped",
    function="sgd_step",
    patch=[
        (
            "direction = direction + momentum * buffer if nesterov else buffer",
            "direction = buffer + momentum * direction if nesterov else buffer",
        )
    ],
    why="Nesterov's look-ahead adds momentum times the gradient to the buffer: the wrong way "
    "round.",
)
mutant(
    "sgd_buffer_in_place",
    function="sgd_step",
    patch=[
        (
            'buffer = torch.add(momentum * state["momentum_buffer"], direction, alpha=1.0 - '
            "dampening)",
            'buffer = state["momentum_buffer"].mul_(momentum).add_(direction, alpha=1.0 - '
            "dampening)",
        )
    ],
    why="The buffer of the state it was given is updated in place: the step is no longer pure.",
)
mutant(
    "sgd_decay_after_momentum",
    function="sgd_step",
    patch=[
        ("direction = g + weight_decay * p if weight_decay != 0 else g", "direction = g"),
        (
            "return torch.add(p, direction, alpha=-lr), new_state",
            "return torch.add(p, direction + weight_decay * p, alpha=-lr), new_state",
        ),
    ],
    why="Weight decay is added after the momentum instead of to the gradient before it.",
)
mutant(
    "sgd_no_nesterov_check",
    function="sgd_step",
    patch=[("if nesterov and (momentum <= 0 or dampening != 0):", "if nesterov and momentum < 0:")],
    why="Nesterov is accepted without momentum or with dampening, which PyTorch rejects.",
)

# ---- rmsprop_step --------------------------------------------------------------------------------

mutant(
    "rmsprop_eps_inside_root",
    function="rmsprop_step",
    patch=[
        (
            "spread = (square_avg - grad_avg * grad_avg).sqrt()",
            "spread = (square_avg - grad_avg * grad_avg + eps).sqrt()",
        ),
        ("spread = square_avg.sqrt()", "spread = (square_avg + eps).sqrt()"),
        ("denominator = spread + eps", "denominator = spread"),
    ],
    why="eps is added inside the square root (TensorFlow's form), where PyTorch adds it outside.",
)
mutant(
    "rmsprop_not_centered",
    function="rmsprop_step",
    patch=[("spread = (square_avg - grad_avg * grad_avg).sqrt()", "spread = square_avg.sqrt()")],
    why="centered=True keeps the average gradient but does not subtract its square.",
)
mutant(
    "rmsprop_alpha_swapped",
    function="rmsprop_step",
    patch=[
        (
            'square_avg = alpha * state.get("square_avg", zeros) + (1.0 - alpha) * g * g',
            'square_avg = (1.0 - alpha) * state.get("square_avg", zeros) + alpha * g * g',
        )
    ],
    why="alpha weighs the new squared gradient instead of the running average.",
)
mutant(
    "rmsprop_momentum_lr_inside",
    function="rmsprop_step",
    patch=[
        (
            'buffer = momentum * state.get("momentum_buffer", zeros) + g / denominator',
            'buffer = momentum * state.get("momentum_buffer", zeros) + lr * g / denominator',
        ),
        ("return p - lr * buffer, new_state", "return p - buffer, new_state"),
    ],
    why="The learning rate goes inside the momentum buffer, where PyTorch applies it at the "
    "update.",
)
mutant(
    "rmsprop_square_avg_in_place",
    function="rmsprop_step",
    patch=[
        (
            'square_avg = alpha * state.get("square_avg", zeros) + (1.0 - alpha) * g * g',
            'square_avg = state.get("square_avg", zeros).mul_(alpha).add_((1.0 - alpha) * g * g)',
        )
    ],
    why="The running average of the state it was given is updated in place: not pure.",
)
mutant(
    "rmsprop_no_weight_decay",
    function="rmsprop_step",
    patch=[("g = g + weight_decay * p", "g = g")],
    why="weight_decay is accepted but never added to the gradient.",
)
mutant(
    "rmsprop_step_not_counted",
    function="rmsprop_step",
    patch=[('"step": state.get("step", 0) + 1', '"step": state.get("step", 1)')],
    why="The step counter is not advanced from the state it was given.",
)

# ---- adam_step -----------------------------------------------------------------------------------

mutant(
    "adam_eps_inside_root",
    function="adam_step",
    patch=[
        (
            "denominator = exp_avg_sq.sqrt() / math.sqrt(1.0 - beta2 ** step) + eps",
            "denominator = (exp_avg_sq / (1.0 - beta2 ** step) + eps).sqrt()",
        )
    ],
    why="eps is added inside the square root (the source post's form), where PyTorch adds it "
    "outside.",
)
mutant(
    "adam_eps_hat",
    function="adam_step",
    patch=[
        (
            "denominator = exp_avg_sq.sqrt() / math.sqrt(1.0 - beta2 ** step) + eps",
            "denominator = (exp_avg_sq.sqrt() + eps) / math.sqrt(1.0 - beta2 ** step)",
        )
    ],
    why="eps is added before the bias correction (TensorFlow's epsilon hat), so it grows with "
    "the correction in the first steps.",
)
mutant(
    "adam_no_bias_correction",
    function="adam_step",
    patch=[
        ("step_size = lr / (1.0 - beta1 ** step)", "step_size = lr"),
        (
            "denominator = exp_avg_sq.sqrt() / math.sqrt(1.0 - beta2 ** step) + eps",
            "denominator = exp_avg_sq.sqrt() + eps",
        ),
    ],
    why="The moments are not corrected for their start at 0.",
)
mutant(
    "adam_bias_correction_t_minus_1",
    function="adam_step",
    patch=[
        (
            "step_size = lr / (1.0 - beta1 ** step)",
            "step_size = lr / (1.0 - beta1 ** max(step - 1, 1))",
        ),
        ("math.sqrt(1.0 - beta2 ** step)", "math.sqrt(1.0 - beta2 ** max(step - 1, 1))"),
    ],
    why="The bias correction uses the step count before this step, t - 1.",
)
mutant(
    "adam_first_moment_only_corrected",
    function="adam_step",
    patch=[
        (
            "denominator = exp_avg_sq.sqrt() / math.sqrt(1.0 - beta2 ** step) + eps",
            "denominator = exp_avg_sq.sqrt() + eps",
        )
    ],
    why="Only the first moment is bias-corrected; the second is left pulled towards 0.",
)
mutant(
    "adamw_as_l2",
    function="adam_step",
    patch=[("if decoupled:", "if False:")],
    why="decoupled=True still adds the decay to the gradient (L2), which is Adam, not AdamW.",
)
mutant(
    "adam_as_decoupled",
    function="adam_step",
    patch=[("if decoupled:", "if True:")],
    why="Adam's weight decay is applied to the weights directly, which is AdamW's rule.",
)
mutant(
    "adamw_decay_without_lr",
    function="adam_step",
    patch=[("p = p * (1.0 - lr * weight_decay)", "p = p * (1.0 - weight_decay)")],
    why="AdamW shrinks the weights by weight_decay instead of lr * weight_decay.",
)
mutant(
    "adam_state_in_place",
    function="adam_step",
    patch=[
        (
            'exp_avg = beta1 * state.get("exp_avg", zeros) + (1.0 - beta1) * g',
            'exp_avg = state.get("exp_avg", zeros).lerp_(g, 1.0 - beta1)',
        )
    ],
    why="The first moment of the state it was given is updated in place: the step is not pure.",
)
mutant(
    "adam_step_not_stored",
    function="adam_step",
    patch=[('return new_p, {"step": step,', 'return new_p, {"step": step - 1,')],
    why="The step counter stored in the state is the one before this step.",
)

# ---- heavy_ball_rate -----------------------------------------------------------------------------

mutant(
    "heavy_ball_always_sqrt_beta",
    function="heavy_ball_rate",
    patch=[("if discriminant < 0:", "if True:")],
    why="The rate is taken as sqrt(beta) even when the roots are real and one is larger.",
)
mutant(
    "heavy_ball_gd_rate",
    function="heavy_ball_rate",
    patch=[("trace = 1.0 + beta - lr * lam", "trace = 1.0 - lr * lam")],
    why="The momentum is left out of the matrix's trace, 1 + beta - lr * lam.",
)
mutant(
    "heavy_ball_no_half",
    function="heavy_ball_rate",
    patch=[
        (
            "return max(abs(trace + root), abs(trace - root)) / 2.0",
            "return max(abs(trace + root), abs(trace - root))",
        )
    ],
    why="The roots of z^2 - trace z + beta are (trace +- root) / 2: the halving is missing.",
)
mutant(
    "heavy_ball_plus_root_only",
    function="heavy_ball_rate",
    patch=[
        ("return max(abs(trace + root), abs(trace - root)) / 2.0", "return abs(trace + root) / 2.0")
    ],
    why="Only the root with +sqrt is taken, though for a negative trace the other is larger.",
)

# ---- lr_range_test -------------------------------------------------------------------------------

mutant(
    "range_stop_at_equal",
    function="lr_range_test",
    patch=[("value > div_factor * best", "value >= div_factor * best")],
    why="The stop rule fires at a smoothed loss equal to the bound, where it must exceed it.",
)
mutant(
    "range_record_before_stop",
    function="lr_range_test",
    patch=[
        (
            "        if i > 0 and value > div_factor * best:\n"
            "            break  # diverged: this point is not recorded\n"
            "        lrs_seen.append(float(lr))\n"
            "        smoothed.append(value)\n",
            "        lrs_seen.append(float(lr))\n"
            "        smoothed.append(value)\n"
            "        if i > 0 and value > div_factor * best:\n"
            "            break\n",
        )
    ],
    why="The point is recorded before the stop check, so the exploding point is kept.",
)
# Not a mutant: updating best before the stop check. With min(best, value), best only changes
# when value is below it, and then value > div_factor * value cannot hold for a loss >= 0: the
# two orders agree on every non-negative loss curve, so that patch is equivalent.
mutant(
    "range_not_debiased",
    function="lr_range_test",
    patch=[("value = average / (1.0 - beta ** (i + 1))", "value = average")],
    why="The smoothed loss is not debiased, so it starts far below the losses.",
)
mutant(
    "range_raw_loss_stop",
    function="lr_range_test",
    patch=[("if i > 0 and value > div_factor * best:", "if i > 0 and loss > div_factor * best:")],
    why="The stop rule compares the raw loss, not the smoothed one, with the best smoothed loss.",
)
mutant(
    "range_debias_t_minus_1",
    function="lr_range_test",
    patch=[
        ("value = average / (1.0 - beta ** (i + 1))", "value = average / (1.0 - beta ** max(i, 1))")
    ],
    why="The bias correction uses the exponent of the previous step.",
)

# ---- suggest_lr ----------------------------------------------------------------------------------

mutant(
    "suggest_minimum_not_divided",
    function="suggest_lr",
    patch=[
        (
            "return lrs[min(range(n), key=lambda i: losses[i])] / 10.0",
            "return lrs[min(range(n), key=lambda i: losses[i])]",
        )
    ],
    why="'minimum' returns the learning rate at the minimum itself, not a tenth of it.",
)
mutant(
    "suggest_minimum_last_tie",
    function="suggest_lr",
    patch=[
        (
            "return lrs[min(range(n), key=lambda i: losses[i])] / 10.0",
            "return lrs[min(range(n), key=lambda i: (losses[i], -i))] / 10.0",
        )
    ],
    why="With equal minima 'minimum' takes the last, not the first.",
)
mutant(
    "suggest_steep_right_point",
    function="suggest_lr",
    patch=[
        (
            "return lrs[min(range(n - 1), key=lambda i: slopes[i])]",
            "return lrs[min(range(n - 1), key=lambda i: slopes[i]) + 1]",
        )
    ],
    why="'steep' returns the right point of the steepest pair instead of the left.",
)
mutant(
    "suggest_steep_linear_lr",
    function="suggest_lr",
    patch=[("(math.log(lrs[i + 1]) - math.log(lrs[i]))", "(lrs[i + 1] - lrs[i])")],
    why="'steep' measures the slope against the learning rate, not its logarithm.",
)
mutant(
    "suggest_valley_no_sixth",
    function="suggest_lr",
    patch=[
        (
            "index = start + (end - start) // 3 + (end - start) // 6",
            "index = start + (end - start) // 3",
        )
    ],
    why="The valley's point is a third of the way down, without fastai's extra sixth.",
)
mutant(
    "suggest_valley_last_longest",
    function="suggest_lr",
    patch=[("key=lambda i: (longest[i], -i))", "key=lambda i: (longest[i], i))")],
    why="The valley ends at the last of the longest decreasing runs instead of the first.",
)
mutant(
    "suggest_valley_start_plus_one",
    function="suggest_lr",
    patch=[("start = end - longest[end]", "start = end - longest[end] + 1")],
    why="The valley starts at its first point, where fastai's rule starts one before it.",
)
mutant(
    "suggest_unknown_method_default",
    function="suggest_lr",
    patch=[
        (
            'if method not in ("minimum", "steep", "valley"):',
            'if method not in ("minimum", "steep", "valley", "slide"):',
        ),
    ],
    why="An unknown method silently falls back to the valley rule instead of raising ValueError.",
)

# ---- one_cycle -----------------------------------------------------------------------------------

mutant(
    "cycle_final_from_max",
    function="one_cycle",
    patch=[("min_lr = initial_lr / final_div_factor", "min_lr = max_lr / final_div_factor")],
    why="The final learning rate is divided from max_lr, where PyTorch divides the initial one.",
)
mutant(
    "cycle_always_linear",
    function="one_cycle",
    patch=[('if anneal == "cos":', 'if anneal == "cosine":')],
    why="The cosine annealing is replaced by a straight line.",
)
mutant(
    "cycle_always_cos",
    function="one_cycle",
    patch=[
        (
            "return a + (b - a) * fraction",
            "return b + (a - b) / 2.0 * (1.0 + math.cos(math.pi * fraction))",
        )
    ],
    why="anneal='linear' still anneals along a cosine.",
)
mutant(
    "cycle_peak_off_by_one",
    function="one_cycle",
    patch=[("peak = pct_start * total_steps - 1", "peak = pct_start * total_steps")],
    why="The peak is put at step pct_start * T instead of pct_start * T - 1.",
)
mutant(
    "cycle_peak_rounded",
    function="one_cycle",
    patch=[("peak = pct_start * total_steps - 1", "peak = round(pct_start * total_steps) - 1")],
    why="The phase boundary is rounded to a whole step, where PyTorch keeps it a float.",
)
mutant(
    "cycle_momentum_not_inverse",
    function="one_cycle",
    patch=[
        (
            "phases = [(peak, initial_lr, max_lr, max_momentum, base_momentum),\n"
            "                  (2 * peak",
            "phases = [(peak, initial_lr, max_lr, base_momentum, max_momentum),\n"
            "                  (2 * peak",
        ),
        (
            "phases = [(peak, initial_lr, max_lr, max_momentum, base_momentum),\n"
            "                  (total_steps",
            "phases = [(peak, initial_lr, max_lr, base_momentum, max_momentum),\n"
            "                  (total_steps",
        ),
        (
            "(total_steps - 1, max_lr, min_lr, base_momentum, max_momentum)]",
            "(total_steps - 1, max_lr, min_lr, max_momentum, base_momentum)]",
        ),
        (
            "(2 * peak, max_lr, initial_lr, base_momentum, max_momentum)",
            "(2 * peak, max_lr, initial_lr, max_momentum, base_momentum)",
        ),
    ],
    why="The momentum rises with the learning rate instead of moving against it.",
)
mutant(
    "cycle_three_phase_boundary",
    function="one_cycle",
    patch=[("(2 * peak, max_lr, initial_lr,", "(2 * peak + 1, max_lr, initial_lr,")],
    why="The second phase of three ends at 2 pct_start T - 1, where PyTorch ends it at "
    "2 pct_start T - 2.",
)
mutant(
    "cycle_three_phase_momentum_falls",
    function="one_cycle",
    patch=[
        (
            "(total_steps - 1, initial_lr, min_lr, max_momentum, max_momentum)",
            "(total_steps - 1, initial_lr, min_lr, max_momentum, base_momentum)",
        )
    ],
    why="In the third phase the momentum falls again, where PyTorch holds it at max_momentum.",
)
mutant(
    "cycle_last_step_allowed",
    function="one_cycle",
    patch=[("if not 0 <= step < total_steps:", "if not 0 <= step <= total_steps:")],
    why="step = total_steps is accepted, one step past the end of the schedule.",
)

# ---- train_digits_one_cycle ----------------------------------------------------------------------

mutant(
    "train_zero_init",
    function="train_digits_one_cycle",
    patch=[("return (draw * (2.0 / fan_in) ** 0.5).to(**like)", "return (0.0 * draw).to(**like)")],
    why="All weights start at zero, so the hidden units never become different from each other.",
)
mutant(
    "train_gradient_ascent",
    function="train_digits_one_cycle",
    patch=[("loss.backward()", "(-loss).backward()")],
    why="The step goes up the gradient instead of down.",
)
mutant(
    "train_at_least_one_epoch",
    function="train_digits_one_cycle",
    patch=[
        ("for _epoch in range(epochs):", "for _epoch in range(max(epochs, 1)):"),
        (
            "max(epochs * math.ceil(n_examples / batch), 1)",
            "max(epochs, 1) * math.ceil(n_examples / batch)",
        ),
    ],
    why="epochs=0 still trains one epoch, where it must return the untrained parameters.",
)
mutant(
    "train_lr_far_too_high",
    function="train_digits_one_cycle",
    patch=[("width, batch, max_lr = 128, 64, 0.02", "width, batch, max_lr = 128, 64, 20.0")],
    why="The peak learning rate is far past where the range test's loss explodes.",
)
mutant(
    "train_lr_far_too_low",
    function="train_digits_one_cycle",
    patch=[("width, batch, max_lr = 128, 64, 0.02", "width, batch, max_lr = 128, 64, 1e-5")],
    why="The peak learning rate is far below the range test's valley, so 3 epochs learn little.",
)
