"""Integrity: the notebook's structure.

Test cells edited, turned into markdown, deleted or pasted again; forged points and grade ids; an
answer cell that never runs; kernelspecs; and files that are no notebook at all. The grader's own
checks decide every outcome here, so none needs the sandbox.
"""

from __future__ import annotations

import copy
import random
import uuid

import nbformat
from nbformat import NotebookNode

from tests.adversarial.attacks.kit import (
    GRADED,
    INVALID,
    MISSING,
    PREFIX,
    Catalogue,
    Context,
    answer_id,
    correct,
    is_test_of,
    meta,
    notebook,
    reference_answers,
    text,
)

ATTACKS = Catalogue("integrity")


def clone(cell: NotebookNode) -> NotebookNode:
    """A copy of ``cell`` with a cell id of its own, as Jupyter pastes it."""
    twin = copy.deepcopy(cell)
    twin["id"] = uuid.uuid4().hex[:8]
    return twin


@ATTACKS.attack(
    "test_cell_pass",
    12,
    GRADED,
    "matmul_broadcast's test cells edited to `pass`, with wrong matmul_broadcast",
)
def _test_cell_pass(ctx: Context) -> str:
    nb = notebook(ctx, wrong=("matmul",))
    for cell in nb.cells:
        if is_test_of(cell, "matmul"):
            cell.source = "pass"
    return text(nb)


@ATTACKS.attack(
    "test_cell_markdown",
    12,
    GRADED,
    "broadcast_shape's test cells turned into markdown, with wrong broadcast_shape",
)
def _test_cell_markdown(ctx: Context) -> str:
    nb = notebook(ctx, wrong=("broadcast",))
    for index, cell in enumerate(nb.cells):
        if is_test_of(cell, "broadcast"):
            nb.cells[index] = nbformat.v4.new_markdown_cell(cell.source, metadata=cell.metadata)
    return text(nb)


@ATTACKS.attack(
    "test_cells_deleted",
    13,
    GRADED,
    "every test cell deleted, with wrong affine_apply",
)
def _test_cells_deleted(ctx: Context) -> str:
    nb = notebook(ctx, wrong=("affine",))
    nb.cells = [c for c in nb.cells if not meta(c).get("grade")]
    return text(nb)


@ATTACKS.attack(
    "metadata_stripped",
    0,
    INVALID,
    "all nbgrader metadata removed (correct code): no answer cell can be found",
)
def _metadata_stripped(ctx: Context) -> str:
    nb = notebook(ctx)
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)
    return text(nb)


@ATTACKS.attack(
    "duplicate_cells",
    12,
    GRADED,
    "a test cell pasted three more times, and compose_affine's answer cell twice (a wrong first "
    "copy, a right second one): the points count once, and the first answer is the one graded",
)
def _duplicate_cells(ctx: Context) -> str:
    nb = notebook(ctx, wrong=("compose",))
    index = next(i for i, c in enumerate(nb.cells) if is_test_of(c, "matmul"))
    nb.cells[index + 1 : index + 1] = [clone(nb.cells[index]) for _ in range(3)]
    index = next(
        i for i, c in enumerate(nb.cells) if meta(c).get("grade_id") == answer_id("compose")
    )
    right = clone(nb.cells[index])
    right.source = reference_answers(ctx.solution)[answer_id("compose")]
    nb.cells.insert(index + 1, right)
    return text(nb)


@ATTACKS.attack(
    "points_and_ids_changed",
    12,
    GRADED,
    "every test cell claims 100 points, and broadcast_shape's test cells swap grade ids with "
    "matmul_broadcast's, with wrong broadcast_shape: nothing moves, the max stays 15",
)
def _points_and_ids_changed(ctx: Context) -> str:
    nb = notebook(ctx, wrong=("broadcast",))
    swap = {}
    for kind in ("fixed", "oracle"):
        swap[f"{PREFIX}matmul_broadcast_{kind}"] = f"{PREFIX}broadcast_shape_{kind}"
        swap[f"{PREFIX}broadcast_shape_{kind}"] = f"{PREFIX}matmul_broadcast_{kind}"
    for cell in nb.cells:
        found = meta(cell)
        if found.get("grade"):
            cell.metadata.nbgrader["points"] = 100
        if found.get("grade_id") in swap:
            cell.metadata.nbgrader["grade_id"] = swap[found["grade_id"]]
    return text(nb)


@ATTACKS.attack(
    "answer_cell_markdown",
    12,
    GRADED,
    "matmul_broadcast's answer cell turned into markdown (its code never runs): scored as missing",
)
def _answer_cell_markdown(ctx: Context) -> str:
    nb = notebook(ctx)
    for index, cell in enumerate(nb.cells):
        if meta(cell).get("grade_id") == answer_id("matmul"):
            nb.cells[index] = nbformat.v4.new_markdown_cell(cell.source, metadata=cell.metadata)
    return text(nb)


@ATTACKS.attack(
    "bogus_kernelspec",
    15,
    GRADED,
    "kernelspec names a kernel that does not exist (correct code): the released one is used",
)
def _bogus_kernelspec(ctx: Context) -> str:
    nb = notebook(ctx)
    nb.metadata["kernelspec"] = {"name": "evil-kernel", "display_name": "Evil", "language": "sh"}
    return text(nb)


@ATTACKS.attack(
    "no_kernelspec",
    15,
    GRADED,
    "kernelspec and language_info removed (correct code)",
)
def _no_kernelspec(ctx: Context) -> str:
    nb = notebook(ctx)
    nb.metadata.pop("kernelspec", None)
    nb.metadata.pop("language_info", None)
    return text(nb)


@ATTACKS.attack("malformed_json", 0, INVALID, "the notebook's JSON cut in half")
def _malformed_json(ctx: Context) -> str:
    whole = correct(ctx)
    return whole[: len(whole) // 2]


@ATTACKS.attack("nbformat_v3", 0, INVALID, "a version 3 notebook (correct code)")
def _nbformat_v3(ctx: Context) -> str:
    return nbformat.writes(nbformat.convert(notebook(ctx), 3), version=3)


@ATTACKS.attack("zero_bytes", 0, INVALID, "an empty file")
def _zero_bytes(ctx: Context) -> bytes:
    return b""


@ATTACKS.attack("binary_garbage", 0, INVALID, "64 KiB of random bytes")
def _binary_garbage(ctx: Context) -> bytes:
    return random.Random(1).randbytes(64 * 1024)


@ATTACKS.attack(
    "deeply_nested_json",
    0,
    INVALID,
    "JSON nested 200 000 deep (the parser's recursion limit)",
)
def _deeply_nested_json(ctx: Context) -> str:
    return "[" * 200_000 + "]" * 200_000


@ATTACKS.attack(
    "huge_notebook",
    0,
    INVALID,
    "a 33 MiB notebook (correct code and one huge markdown cell): over the 32 MiB cap",
)
def _huge_notebook(ctx: Context) -> str:
    nb = notebook(ctx)
    nb.cells.append(nbformat.v4.new_markdown_cell("x" * (33 * 2**20)))
    return text(nb)


@ATTACKS.attack(
    "wrong_filename",
    0,
    MISSING,
    "the right notebook saved under another name",
    filename="linear_algebra-Copy1.ipynb",
)
def _wrong_filename(ctx: Context) -> str:
    return correct(ctx)
