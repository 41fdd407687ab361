"""Mutants of chapter 01: plausible student bugs, each a patch of a reference answer, that the
probes beside this file must catch (see autograder/mutants.py)."""

from autograder.mutants import mutant

# ---- matmul_broadcast ---------------------------------------------------------------------------

mutant(
    "matmul_sum_wrong_axis",
    function="matmul_broadcast",
    patch=[("return products.sum(dim=-2)", "return products.sum(dim=-1)")],
    why="The sum runs over the output's column axis instead of the shared inner axis.",
)
mutant(
    "matmul_no_inner_check",
    function="matmul_broadcast",
    patch=[
        (
            "    if A.shape[-1] != B.shape[-2]:\n"
            '        raise ValueError(f"inner dimensions differ: '
            'A {tuple(A.shape)}, B {tuple(B.shape)}")\n',
            "",
        )
    ],
    why="Mismatched inner sizes are left to broadcasting, which raises the wrong error or, "
    "with a size of 1, silently sums over a stretched axis.",
)
mutant(
    "matmul_check_wrong_sizes",
    function="matmul_broadcast",
    patch=[("if A.shape[-1] != B.shape[-2]:", "if A.shape[-1] != B.shape[-1]:")],
    why="The inner-size check compares A's columns with B's columns instead of B's rows.",
)
mutant(
    "matmul_batch_misaligned",
    function="matmul_broadcast",
    patch=[("B.unsqueeze(-3)", "B.unsqueeze(0)")],
    why="B's new axis is put first, which lines up only when B has no batch dimensions.",
)
mutant(
    "matmul_library_product",
    function="matmul_broadcast",
    patch=[
        (
            "products = A.unsqueeze(-1) * B.unsqueeze(-3)  # (..., n, k, m)\n"
            "    return products.sum(dim=-2)",
            "return torch.matmul(A, B)",
        )
    ],
    why="The exercise asks for broadcasting, and the library's matrix product is forbidden.",
)
mutant(
    "matmul_float32",
    function="matmul_broadcast",
    patch=[("return products.sum(dim=-2)", "return products.sum(dim=-2).float()")],
    why="The result is cast to float32 instead of keeping the inputs' dtype.",
)

# ---- broadcast_shape ----------------------------------------------------------------------------

mutant(
    "broadcast_max_size",
    function="broadcast_shape",
    patch=[
        ("result.append(size_b if size_a == 1 else size_a)", "result.append(max(size_a, size_b))")
    ],
    why="The larger size is taken, but a size of 1 stretches to 0, which is smaller.",
)
mutant(
    "broadcast_align_leading",
    function="broadcast_shape",
    patch=[
        (
            "padded_a = (1,) * (ndim - len(shape_a)) + tuple(shape_a)",
            "padded_a = tuple(shape_a) + (1,) * (ndim - len(shape_a))",
        ),
        (
            "padded_b = (1,) * (ndim - len(shape_b)) + tuple(shape_b)",
            "padded_b = tuple(shape_b) + (1,) * (ndim - len(shape_b))",
        ),
    ],
    why="The shapes are aligned at their leading dimensions instead of their trailing ones.",
)
mutant(
    "broadcast_only_a_stretches",
    function="broadcast_shape",
    patch=[
        (
            "if size_a != size_b and 1 not in (size_a, size_b):",
            "if size_a != size_b and size_a != 1:",
        )
    ],
    why="Only the first shape's size-1 dimensions are allowed to stretch.",
)
mutant(
    "broadcast_returns_list",
    function="broadcast_shape",
    patch=[("return tuple(result)", "return result")],
    why="The shape is returned as a list, not a tuple.",
)
mutant(
    "broadcast_wrong_error",
    function="broadcast_shape",
    patch=[("raise ValueError(", "raise RuntimeError(")],
    why="Incompatible shapes raise RuntimeError, as torch does, instead of ValueError.",
)
mutant(
    "broadcast_library_oracle",
    function="broadcast_shape",
    patch=[
        (
            "    ndim = max(len(shape_a), len(shape_b))\n",
            "    try:\n"
            "        return tuple(torch.broadcast_shapes(shape_a, shape_b))\n"
            "    except RuntimeError as err:\n"
            "        raise ValueError(str(err)) from None\n"
            "    ndim = max(len(shape_a), len(shape_b))\n",
        )
    ],
    why="The library's torch.broadcast_shapes, the oracle, computes the shape instead of the rule.",
)

# ---- affine_apply -------------------------------------------------------------------------------

mutant(
    "affine_no_transpose",
    function="affine_apply",
    patch=[("return points @ linear.transpose(0, 1) + shift", "return points @ linear + shift")],
    why="Row-vector points are multiplied by A instead of by A transposed.",
)
mutant(
    "affine_shift_first",
    function="affine_apply",
    patch=[
        (
            "return points @ linear.transpose(0, 1) + shift",
            "return (points + shift) @ linear.transpose(0, 1)",
        )
    ],
    why="The translation is applied before the linear part instead of after it.",
)
mutant(
    "affine_translation_column_first",
    function="affine_apply",
    patch=[("linear, shift = M[:, :2], M[:, 2]", "linear, shift = M[:, 1:], M[:, 0]")],
    why="The translation is read from the first column of [A | t] instead of the last.",
)
mutant(
    "affine_ones_without_device",
    function="affine_apply",
    patch=[
        (
            "return points @ linear.transpose(0, 1) + shift",
            "ones = torch.ones(points.shape[0], 1, dtype=points.dtype)\n"
            "    return torch.cat([points, ones], dim=1) @ M.transpose(0, 1)",
        )
    ],
    why="The column of ones for homogeneous coordinates is made on the CPU, not on the points' "
    "device.",
)
mutant(
    "affine_in_place",
    function="affine_apply",
    patch=[
        (
            "return points @ linear.transpose(0, 1) + shift",
            "points[:] = points @ linear.transpose(0, 1) + shift\n    return points",
        )
    ],
    why="The points are overwritten in place instead of returned as a new tensor.",
)

# ---- compose_affine -----------------------------------------------------------------------------

mutant(
    "compose_order_reversed",
    function="compose_affine",
    patch=[("for matrix in matrices:", "for matrix in reversed(matrices):")],
    why="The maps are composed in reading order, so the first matrix acts first, not last.",
)
mutant(
    "compose_eye_without_device",
    function="compose_affine",
    patch=[
        (
            "total = torch.eye(3, dtype=matrices[0].dtype, device=matrices[0].device)",
            "total = torch.eye(3, dtype=matrices[0].dtype)",
        )
    ],
    why="The identity is made on the CPU instead of on the matrices' device.",
)
mutant(
    "compose_bottom_without_device",
    function="compose_affine",
    patch=[
        (
            "bottom = torch.tensor([[0.0, 0.0, 1.0]], "
            "dtype=matrices[0].dtype, device=matrices[0].device)",
            "bottom = torch.tensor([[0.0, 0.0, 1.0]])",
        )
    ],
    why="The row [0, 0, 1] is made in float32 on the CPU instead of in the matrices' dtype and "
    "on their device.",
)
mutant(
    "compose_bottom_zeros",
    function="compose_affine",
    patch=[("bottom = torch.tensor([[0.0, 0.0, 1.0]]", "bottom = torch.tensor([[0.0, 0.0, 0.0]]")],
    why="The lifted matrices get a bottom row of zeros, which drops the translations.",
)
mutant(
    "compose_no_empty_check",
    function="compose_affine",
    patch=[
        (
            "    if not matrices:\n"
            '        raise ValueError("compose_affine needs at least one matrix")\n',
            "",
        )
    ],
    why="Calling it with no matrices fails with an IndexError instead of a ValueError.",
)
mutant(
    "compose_returns_3x3",
    function="compose_affine",
    patch=[("return total[:2]", "return total")],
    why="The lifted (3, 3) matrix is returned instead of its top two rows.",
)

# ---- bilinear_sample ----------------------------------------------------------------------------

mutant(
    "bilinear_clamp_off_by_one",
    function="bilinear_sample",
    patch=[
        (
            "rows.clamp(0, height - 1), cols.clamp(0, width - 1)",
            "rows.clamp(0, height), cols.clamp(0, width)",
        )
    ],
    why="The indices are clamped to H and W, one past the last row and column.",
)
mutant(
    "bilinear_inside_off_by_one",
    function="bilinear_sample",
    patch=[
        (
            "inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)",
            "inside = (rows >= 0) & (rows <= height) & (cols >= 0) & (cols <= width)",
        )
    ],
    why="A neighbour one past the last row or column counts as inside, so the clamped edge pixel "
    "is read instead of 0.",
)
mutant(
    "bilinear_height_width_swapped",
    function="bilinear_sample",
    patch=[
        (
            "inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)",
            "inside = (rows >= 0) & (rows < width) & (cols >= 0) & (cols < height)",
        )
    ],
    why="Rows are bounded by the width and columns by the height.",
)
mutant(
    "bilinear_trunc_not_floor",
    function="bilinear_sample",
    patch=[
        (
            "col0, row0 = torch.floor(x), torch.floor(y)",
            "col0, row0 = torch.trunc(x), torch.trunc(y)",
        )
    ],
    why="Truncation toward zero replaces the floor, which differs for negative coordinates.",
)
mutant(
    "bilinear_ceil_minus_one",
    function="bilinear_sample",
    patch=[
        (
            "col0, row0 = torch.floor(x), torch.floor(y)",
            "col0, row0 = torch.ceil(x) - 1, torch.ceil(y) - 1",
        )
    ],
    why="The lower neighbour is taken as ceil - 1, which at an integer coordinate gives the "
    "gradient from below instead of from above.",
)
mutant(
    "bilinear_coordinates_detached",
    function="bilinear_sample",
    patch=[
        (
            "frac_x, frac_y = x - col0, y - row0",
            "frac_x, frac_y = (x - col0).detach(), (y - row0).detach()",
        )
    ],
    why="The blending weights are detached, so no gradient reaches the coordinates.",
)
mutant(
    "bilinear_x_indexes_rows",
    function="bilinear_sample",
    patch=[
        (
            "rows, cols = (row0 + d_row).long(), (col0 + d_col).long()",
            "cols, rows = (row0 + d_row).long(), (col0 + d_col).long()",
        )
    ],
    why="x is used as the row index and y as the column index.",
)
mutant(
    "bilinear_zeros_without_device",
    function="bilinear_sample",
    patch=[
        (
            "result = image.new_zeros((channels,) + tuple(x.shape))",
            "result = torch.zeros((channels,) + tuple(x.shape), dtype=image.dtype)",
        )
    ],
    why="The accumulator is made on the CPU instead of on the image's device.",
)
