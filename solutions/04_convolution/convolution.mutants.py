"""Mutants of chapter 04: plausible student bugs, each a patch of a reference answer, that the
probes beside this file must catch (see autograder/mutants.py)."""

from autograder.mutants import mutant

# ---- 1. conv_output_size -------------------------------------------------------------------------

mutant(
    "size_ceil",
    function="conv_output_size",
    patch=[("return last_start // stride + 1", "return -(-last_start // stride) + 1")],
    why="The number of windows is rounded up, but a window that would run past the padded input "
    "does not exist: the division is a floor.",
)
mutant(
    "size_ignores_dilation",
    function="conv_output_size",
    patch=[
        (
            "last_start = n + 2 * padding - dilation * (k - 1) - 1",
            "last_start = n + 2 * padding - k",
        )
    ],
    why="A dilated kernel is taken to span k positions, but its k taps span "
    "dilation * (k - 1) + 1.",
)
mutant(
    "size_padding_once",
    function="conv_output_size",
    patch=[
        (
            "last_start = n + 2 * padding - dilation * (k - 1) - 1",
            "last_start = n + padding - dilation * (k - 1) - 1",
        )
    ],
    why="The padding is counted once, but it is added at both ends of the axis.",
)
mutant(
    "size_accepts_zero_windows",
    function="conv_output_size",
    patch=[
        ("    if last_start < 0:\n", "    if last_start // stride + 1 < 0:\n"),
    ],
    why="A result of 0 windows is accepted, but a kernel that does not fit must raise ValueError.",
)
mutant(
    "size_no_argument_checks",
    function="conv_output_size",
    patch=[
        ("        if value < 1:\n", "        if value < 0:\n"),
        ("    if padding < 0:\n", "    if padding < -n:\n"),
    ],
    why="Only negative sizes are rejected, so a stride of 0, a zero-length kernel or a negative "
    "padding get through instead of raising ValueError.",
)

# ---- 2. im2col -----------------------------------------------------------------------------------

mutant(
    "im2col_offsets_transposed",
    function="im2col",
    patch=[
        (
            "        for u in range(kh)\n        for v in range(kw)\n",
            "        for v in range(kw)\n        for u in range(kh)\n",
        )
    ],
    why="The kernel offsets are listed column by column, but F.unfold and w.reshape(F, -1) run "
    "over (u, v) with v fastest.",
)
mutant(
    "im2col_channel_minor",
    function="im2col",
    patch=[("cols = torch.stack(patches, dim=2)", "cols = torch.stack(patches, dim=1)")],
    why="The rows are ordered (u, v, c), but the channel is the slowest index in F.unfold's (c, "
    "u, v) order.",
)
mutant(
    "im2col_no_padding",
    function="im2col",
    patch=[("padded = F.pad(x, (padding, padding, padding, padding))", "padded = x")],
    why="The zeros of the padding are never added, so windows near the border read the wrong "
    "pixels.",
)
mutant(
    "im2col_stride_ignored",
    function="im2col",
    patch=[
        (
            "padded[:, :, u : u + stride * (ho - 1) + 1 : stride, v : v + stride * (wo - 1) + 1 : "
            "stride]",
            "padded[:, :, u : u + ho, v : v + wo]",
        )
    ],
    why="Neighbouring windows are taken one pixel apart whatever the stride.",
)
mutant(
    "im2col_positions_transposed",
    function="im2col",
    patch=[
        (
            "return cols.reshape(n, c * kh * kw, ho * wo)",
            "return cols.transpose(3, 4).reshape(n, c * kh * kw, ho * wo)",
        )
    ],
    why="Output positions are listed column by column, but F.unfold lists them row by row (i * Wo "
    "+ j).",
)
mutant(
    "im2col_pads_width_only",
    function="im2col",
    patch=[
        (
            "padded = F.pad(x, (padding, padding, padding, padding))",
            "padded = F.pad(x, (padding, padding))",
        )
    ],
    why="F.pad's tuple runs from the last axis backwards, and two numbers pad only the width.",
)
mutant(
    "im2col_calls_unfold",
    function="im2col",
    patch=[
        (
            "return cols.reshape(n, c * kh * kw, ho * wo)",
            "return F.unfold(x, (kh, kw), stride=stride, padding=padding)",
        )
    ],
    why="The library's unfold does the work the exercise asks you to write.",
)

# ---- 3. col2im -----------------------------------------------------------------------------------

_ACCUMULATE = "v : v + stride * (wo - 1) + 1 : stride] += blocks[:, :, u, v]"

mutant(
    "col2im_overwrites",
    function="col2im",
    patch=[(_ACCUMULATE, "v : v + stride * (wo - 1) + 1 : stride] = blocks[:, :, u, v]")],
    why="Overlapping windows overwrite each other (the source post's bug): a pixel in several "
    "windows must receive the sum of their entries.",
)
mutant(
    "col2im_no_crop",
    function="col2im",
    patch=[("return padded[:, :, padding : padding + h, padding : padding + w]", "return padded")],
    why="The padding is left on, but entries read from the padding belong to no pixel of x.",
)
mutant(
    "col2im_crop_top_left",
    function="col2im",
    patch=[
        (
            "return padded[:, :, padding : padding + h, padding : padding + w]",
            "return padded[:, :, :h, :w]",
        )
    ],
    why="The crop keeps the first H rows, but the padding sits on both sides of the image.",
)
mutant(
    "col2im_kernel_transposed",
    function="col2im",
    patch=[
        (
            "blocks = cols.reshape(n, c, kh, kw, ho, wo)",
            "blocks = cols.reshape(n, c, kw, kh, ho, wo).transpose(2, 3)",
        )
    ],
    why="The rows are read as (c, v, u), but im2col's order is (c, u, v) with v fastest.",
)
mutant(
    "col2im_stride_ignored",
    function="col2im",
    patch=[
        (
            "padded[:, :, u : u + stride * (ho - 1) + 1 : stride, v : v + stride * (wo - 1) + 1 : "
            "stride] +=",
            "padded[:, :, u : u + ho, v : v + wo] +=",
        )
    ],
    why="Entries go back to windows one pixel apart whatever the stride.",
)
mutant(
    "col2im_zeros_without_device",
    function="col2im",
    patch=[("dtype=cols.dtype, device=cols.device)", "dtype=cols.dtype)")],
    why="The zero image is made without device=, so it lives on the CPU whatever the input's "
    "device.",
)
mutant(
    "col2im_zeros_default_dtype",
    function="col2im",
    patch=[("dtype=cols.dtype, device=cols.device)", "device=cols.device)")],
    why="The zero image is made without dtype=, so a float64 input comes back as float32.",
)
mutant(
    "col2im_calls_fold",
    function="col2im",
    patch=[
        (
            "return padded[:, :, padding : padding + h, padding : padding + w]",
            "return F.fold(cols, (h, w), (kh, kw), stride=stride, padding=padding)",
        )
    ],
    why="The library's fold does the work the exercise asks you to write.",
)

# ---- 4. conv2d_forward ---------------------------------------------------------------------------

mutant(
    "conv_true_convolution",
    function="conv2d_forward",
    patch=[("rows = w.reshape(filters, -1)", "rows = w.flip(2, 3).reshape(filters, -1)")],
    why="The kernel is flipped as in the textbook convolution, but deep learning's (and "
    "F.conv2d's) "
    "convolution is a cross-correlation.",
)
mutant(
    "conv_kernel_transposed",
    function="conv2d_forward",
    patch=[("rows = w.reshape(filters, -1)", "rows = w.transpose(2, 3).reshape(filters, -1)")],
    why="The weights are flattened in (c, v, u) order, which does not match the columns' (c, u, "
    "v).",
)
mutant(
    "conv_output_transposed",
    function="conv2d_forward",
    patch=[
        (
            "return out.reshape(n, filters, ho, wo), ",
            "return out.reshape(n, filters, wo, ho).transpose(2, 3), ",
        )
    ],
    why="The output positions are read back column by column, but the columns list them row by "
    "row.",
)
mutant(
    "conv_stride_dropped",
    function="conv2d_forward",
    patch=[
        (
            "ho, wo = (h + 2 * padding - kh) // stride + 1, (wd + 2 * padding - kw) // stride + 1",
            "ho, wo = (h + 2 * padding - kh) + 1, (wd + 2 * padding - kw) + 1",
        ),
        (
            "padded[:, :, u : u + stride * (ho - 1) + 1 : stride, v : v + stride * (wo - 1) + 1 : "
            "stride]\n        for u",
            "padded[:, :, u : u + ho, v : v + wo]\n        for u",
        ),
    ],
    why="The stride is ignored in the gather, so every position is computed.",
)
mutant(
    "conv_bias_per_position",
    function="conv2d_forward",
    patch=[
        (
            "out = rows @ cols + b.reshape(filters, 1)",
            "out = rows @ cols + b.reshape(filters, 1)[:1]",
        )
    ],
    why="Only the first filter's bias is added (broadcast to every filter), but each filter has "
    "its own.",
)
mutant(
    "conv_calls_conv2d",
    function="conv2d_forward",
    patch=[
        (
            "return out.reshape(n, filters, ho, wo), ",
            "return F.conv2d(x, w, b, stride=stride, padding=padding), ",
        )
    ],
    why="The library's conv2d does the work the exercise asks you to build on im2col.",
)

# ---- 5. conv2d_backward --------------------------------------------------------------------------

mutant(
    "db_mean_over_batch",
    function="conv2d_backward",
    patch=[("db = dout.sum(dim=(0, 2, 3))", "db = dout.sum(dim=(2, 3)).mean(dim=0)")],
    why="The bias gradient is averaged over the batch, but dout already carries the 1/N.",
)
mutant(
    "db_mean_over_positions",
    function="conv2d_backward",
    patch=[("db = dout.sum(dim=(0, 2, 3))", "db = dout.sum(dim=0).mean(dim=(1, 2))")],
    why="The bias gradient is averaged over positions, but one bias feeds every position, so "
    "the chain rule sums them.",
)
mutant(
    "dw_mean_over_batch",
    function="conv2d_backward",
    patch=[
        ("(grads @ cols.transpose(1, 2)).sum(dim=0)", "(grads @ cols.transpose(1, 2)).mean(dim=0)")
    ],
    why="The weight gradient is averaged over the batch (as the source post does), dividing by N "
    "twice.",
)
mutant(
    "dw_first_example",
    function="conv2d_backward",
    patch=[("(grads @ cols.transpose(1, 2)).sum(dim=0)", "(grads[0] @ cols[0].transpose(0, 1))")],
    why="The weight gradient misses the batch sum: every example used the same weights.",
)
mutant(
    "dcols_reshape_not_transpose",
    function="conv2d_backward",
    patch=[
        (
            "dcols = w.reshape(filters, -1).transpose(0, 1) @ grads",
            "dcols = w.reshape(-1, filters) @ grads",
        )
    ],
    why="The flattened weights are reshaped to (C*kh*kw, F) instead of transposed, which "
    "scrambles them.",
)
mutant(
    "dx_stride_dropped",
    function="conv2d_backward",
    patch=[
        (
            "padded[:, :, u : u + stride * (ho - 1) + 1 : stride, v : v + stride * (wo - 1) + 1 : "
            "stride] += blocks",
            "padded[:, :, u : u + ho, v : v + wo] += blocks",
        )
    ],
    why="The stride is ignored when the columns are added back, so gradients go back to the "
    "wrong pixels.",
)
mutant(
    "dx_by_autograd",
    function="conv2d_backward",
    patch=[
        (
            "dx = padded[:, :, padding : padding + h, padding : padding + wd]",
            "with torch.enable_grad():\n"
            "        leaf = x.detach().requires_grad_(True)\n"
            "        (dx,) = torch.autograd.grad(F.conv2d(leaf, w.detach(), stride=stride, "
            "padding=padding), leaf, dout)",
        )
    ],
    why="autograd computes dx, but the exercise asks for the backward pass by hand.",
)

# ---- 6. conv2d_input_grad_as_conv ----------------------------------------------------------------

mutant(
    "input_grad_unflipped",
    function="conv2d_input_grad_as_conv",
    patch=[("flipped = w.flip(2, 3).transpose(0, 1)", "flipped = w.transpose(0, 1)")],
    why="The kernel is not flipped, but a pixel's gradient reads dout at h + p - u: the kernel "
    "runs backwards.",
)
mutant(
    "input_grad_channels_not_swapped",
    function="conv2d_input_grad_as_conv",
    patch=[("flipped = w.flip(2, 3).transpose(0, 1)", "flipped = w.flip(2, 3)")],
    why="The kernel's channel axes are not swapped, but the correlation now sums over filters and "
    "produces input channels.",
)
mutant(
    "input_grad_no_output_padding",
    function="conv2d_input_grad_as_conv",
    patch=[
        (
            "extra_h, extra_w = (h + 2 * padding - kh) % stride, (wd + 2 * padding - kw) % stride",
            "extra_h, extra_w = 0, 0",
        )
    ],
    why="The rows and columns no window reached are forgotten, so dx is short when "
    "(H + 2p - k) is not a multiple of the stride.",
)
mutant(
    "input_grad_output_padding_without_padding",
    function="conv2d_input_grad_as_conv",
    patch=[
        (
            "extra_h, extra_w = (h + 2 * padding - kh) % stride, (wd + 2 * padding - kw) % stride",
            "extra_h, extra_w = (h - kh) % stride, (wd - kw) % stride",
        )
    ],
    why="The remainder is computed on the unpadded input, but the windows slide over the padded "
    "one.",
)
mutant(
    "input_grad_extra_on_top",
    function="conv2d_input_grad_as_conv",
    patch=[
        (
            "padded = F.pad(dilated, (left, left + extra_w, top, top + extra_h))",
            "padded = F.pad(dilated, (left + extra_w, left, top + extra_h, top))",
        )
    ],
    why="The extra rows go on the top and left, but the pixels no window reached are at the "
    "bottom and right.",
)
mutant(
    "input_grad_pad_k_minus_p",
    function="conv2d_input_grad_as_conv",
    patch=[
        ("top, left = kh - 1 - padding, kw - 1 - padding", "top, left = kh - padding, kw - padding")
    ],
    why="The full correlation's padding is taken as k - p, but a kernel of k taps overlaps the "
    "input by k - 1.",
)
mutant(
    "input_grad_not_dilated",
    function="conv2d_input_grad_as_conv",
    patch=[
        ("dilated[:, :, ::stride, ::stride] = dout", "dilated[:, :, : ho, : wo] = dout"),
    ],
    why="dout is not spread out by the stride: its entries must sit stride apart, with zeros "
    "between.",
)
# Deleted: "input_grad_zeros_without_device" (the dilated dout made without device=). On the meta
# device, writing meta values into a CPU tensor raises "Cannot copy out of meta tensor", which the
# framework reads as "cannot run on meta" (not held against anyone), and no other probe can see a
# device mismatch on a CPU-only grader. It would fail on a GPU; the probes cannot show it here.
mutant(
    "input_grad_conv_transpose",
    function="conv2d_input_grad_as_conv",
    patch=[
        (
            "return F.conv2d(padded, flipped)",
            "return F.conv_transpose2d(dout, w, stride=stride, padding=padding, "
            "output_padding=(extra_h, extra_w))",
        )
    ],
    why="The library's transposed convolution does the work the exercise asks you to build from "
    "conv2d.",
)

# ---- 7. maxpool2d_forward ------------------------------------------------------------------------

mutant(
    "pool_stride_ignored",
    function="maxpool2d_forward",
    patch=[
        (
            "ho, wo = (h - k) // stride + 1, (w - k) // stride + 1",
            "ho, wo = (h - k) + 1, (w - k) + 1",
        ),
        (
            "window = x[:, :, u : u + stride * (ho - 1) + 1 : stride, v : v + stride * (wo - 1) + "
            "1 : stride]",
            "window = x[:, :, u : u + ho, v : v + wo]",
        ),
    ],
    why="The windows are taken one pixel apart whatever the stride.",
)
mutant(
    "pool_size_h_over_stride",
    function="maxpool2d_forward",
    patch=[
        (
            "ho, wo = (h - k) // stride + 1, (w - k) // stride + 1",
            "ho, wo = max(1, h // stride), max(1, w // stride)",
        )
    ],
    why="The output size is taken as H // stride, but it is (H - k) // stride + 1, the windows "
    "that fit.",
)
mutant(
    "pool_offsets_off_by_one",
    function="maxpool2d_forward",
    patch=[
        (
            "    for u in range(k):\n        for v in range(k):\n",
            "    for u in range(max(1, k - 1)):\n        for v in range(max(1, k - 1)):\n",
        )
    ],
    why="The loop over window offsets stops one short, so the last row and column of each window "
    "are ignored.",
)
mutant(
    "pool_cache_order",
    function="maxpool2d_forward",
    patch=[("return best.clone(), (x, k, stride)", "return best.clone(), (x, stride, k)")],
    why="The cache holds (x, stride, k), but the stated form, which the backward pass reads, is "
    "(x, k, stride).",
)
mutant(
    "pool_max_starts_at_zero",
    function="maxpool2d_forward",
    patch=[
        (
            "best = None\n",
            "best = torch.zeros_like(x[:, :, : stride * (ho - 1) + 1 : stride, : stride * (wo - "
            "1) + 1 : stride])\n",
        )
    ],
    why="The running maximum starts at 0 instead of the first window, so a window of negative "
    "values pools to 0.",
)
mutant(
    "pool_calls_library",
    function="maxpool2d_forward",
    patch=[
        ("return best.clone(), (x, k, stride)", "return F.max_pool2d(x, k, stride), (x, k, stride)")
    ],
    why="The library's max_pool2d does the work the exercise asks you to write.",
)

# ---- 8. maxpool2d_backward -----------------------------------------------------------------------

mutant(
    "pool_back_overwrites",
    function="maxpool2d_backward",
    patch=[
        (
            "stride] += dout * (winner == offset)",
            "stride] = torch.where(winner == offset, dout, 0.0)",
        )
    ],
    why="A pixel that wins several overlapping windows keeps only the last window's gradient: "
    "they must add up.",
)
mutant(
    "pool_back_last_max_wins",
    function="maxpool2d_backward",
    patch=[("better = window > best", "better = window >= best")],
    why="A tie goes to the last maximum, but PyTorch's rule (and the exercise's) is the first in "
    "row-major order.",
)
mutant(
    "pool_back_all_ties",
    function="maxpool2d_backward",
    patch=[("stride] += dout * (winner == offset)", "stride] += dout * (windows[offset] == best)")],
    why="Every tied maximum of a window receives the full gradient, but exactly one pixel per "
    "window was the output.",
)
mutant(
    "pool_back_routes_ones",
    function="maxpool2d_backward",
    patch=[
        ("stride] += dout * (winner == offset)", "stride] += (winner == offset).to(dout.dtype)")
    ],
    why="The argmax receives 1 instead of dout: the local derivative is 1, but the chain rule "
    "multiplies it by dout.",
)
mutant(
    "pool_back_winner_without_device",
    function="maxpool2d_backward",
    patch=[
        (
            "torch.zeros(dout.shape, dtype=torch.int64, device=dout.device)",
            "torch.zeros(dout.shape, dtype=torch.int64)",
        )
    ],
    why="The table of winning offsets is made without device=, so it lives on the CPU whatever "
    "the input's device.",
)
mutant(
    "pool_back_stride_ignored",
    function="maxpool2d_backward",
    patch=[
        (
            "        x[:, :, u : u + stride * (ho - 1) + 1 : stride, v : v + stride * (wo - 1) + "
            "1 : stride]\n        for u in range(k)",
            "        x[:, :, u : u + ho, v : v + wo]\n        for u in range(k)",
        ),
        (
            "dx[:, :, u : u + stride * (ho - 1) + 1 : stride, v : v + stride * (wo - 1) + 1 : "
            "stride] +=",
            "dx[:, :, u : u + ho, v : v + wo] +=",
        ),
    ],
    why="The windows are taken one pixel apart whatever the stride.",
)

# ---- 9. train_digits_cnn -------------------------------------------------------------------------

mutant(
    "cnn_gradient_ascent",
    function="train_digits_cnn",
    patch=[("tensor -= learning_rate * slope", "tensor += learning_rate * slope")],
    why="The update climbs the loss: gradient descent subtracts the gradient.",
)
mutant(
    "cnn_flatten_position_major",
    function="train_digits_cnn",
    patch=[
        (
            "features = F.max_pool2d(maps, 2, 2).reshape(x_train.shape[0], -1)",
            "features = F.max_pool2d(maps, 2, 2).permute(0, 2, 3, 1).reshape(x_train.shape[0], -1)",
        )
    ],
    why="The feature maps are flattened position by position, but the stated forward pass "
    "flattens them in reshape order, channel first.",
)
mutant(
    "cnn_zero_init",
    function="train_digits_cnn",
    patch=[("return (draw * (2.0 / fan_in) ** 0.5).to(**like)", "return (0.0 * draw).to(**like)")],
    why="All weights start at zero, so no gradient reaches the filters and they never learn.",
)
mutant(
    "cnn_valid_convolution",
    function="train_digits_cnn",
    patch=[
        ('params["conv_b"], padding=1))', 'params["conv_b"]))'),
        (
            '"fc_w": he_normal(16 * filters, 10, fan_in=16 * filters)',
            '"fc_w": he_normal(9 * filters, 10, fan_in=9 * filters)',
        ),
    ],
    why="The convolution is trained without padding (6x6 maps, 3x3 after pooling), but the stated "
    "network uses a 'same' 3x3 convolution.",
)
mutant(
    "cnn_fixed_steps",
    function="train_digits_cnn",
    patch=[("for _step in range(steps):", "for _step in range(100):")],
    why="The number of steps is fixed instead of taken from the steps argument.",
)
mutant(
    "cnn_bias_without_device",
    function="train_digits_cnn",
    patch=[
        (
            '"conv_b": torch.zeros(filters, **like)',
            '"conv_b": torch.zeros(filters, dtype=x_train.dtype)',
        )
    ],
    why="The conv bias is made without device=, so it lives on the CPU whatever the data's device.",
)
