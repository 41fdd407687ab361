"""What the categories of attack share: the chapter's facts, the attack record and its
catalogue, and the builders that fill the released exercise with right or WRONG answers."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

ASSIGNMENT = "01_linear_algebra"
NOTEBOOK = "linear_algebra.ipynb"
TOTAL = 15.0
PREFIX = "linear_algebra_"

#: Short name -> the function the answer cell defines, and the points of its tests.
FUNCTIONS = {
    "matmul": ("matmul_broadcast", 3.0),
    "broadcast": ("broadcast_shape", 3.0),
    "affine": ("affine_apply", 2.0),
    "compose": ("compose_affine", 3.0),
    "bilinear": ("bilinear_sample", 4.0),
}

GRADED, TIMED_OUT, KERNEL_DIED = "graded", "timed_out", "kernel_died"
OUTPUT_LIMIT, INVALID, MISSING = "output_limit", "invalid_notebook", "missing"

SOLUTION_MARKER = re.compile(r"^ *### (BEGIN|END) SOLUTION\n?", re.M)


@dataclass(frozen=True)
class Context:
    """What builders may embed: where things are on the host, and this batch's markers."""

    root: Path  # the course repository (its solutions/ must stay unreadable)
    workspace: Path  # the grading workspace of the batch (gradebook, ledger, other students)
    honest: str  # the student graded in an earlier run in the same workspace
    token: str  # unique to this batch: in daemons' argv, planted names, markers
    host_marker: Path  # created on the host only if someone unpickles or imports a payload
    port: int  # a TCP server on the host listens here (on every IPv4 address)
    host_addresses: tuple[str, ...]  # the host's IPv4 addresses, loopback first
    probe_names: tuple[str, ...]  # the chapter's probes (names are no secret)
    probes_docstring: str  # the first line of the probes file: a secret
    hidden_line: str  # a line only the hidden checks hold (the probes file, in solutions/)
    exercise: NotebookNode  # the released notebook
    solution: NotebookNode  # the source notebook (answers and hidden tests)

    @property
    def honest_marker(self) -> str:
        """A comment only the honest student's notebook holds."""
        return f"HONEST-{self.token}-private-notes"

    def secrets(self) -> dict[str, str]:
        """Text that must never reach another student's outputs or feedback: each is unique to
        this course or this batch (a generic marker such as sqlite's file header also shows up in
        public files inside the sandbox, e.g. nbgrader's own test fixtures)."""
        return {
            "a hidden check (the probes file in solutions/)": self.hidden_line,
            "the probes file": self.probes_docstring,
            "the honest student's notebook": self.honest_marker,
            "the honest student's id (gradebook, ledger, workspace folders)": self.honest,
        }


Builder = Callable[[Context], str | bytes]


@dataclass(frozen=True)
class Attack:
    name: str  # also the student id
    category: str
    build: Builder  # the notebook's text, or raw bytes
    score: float
    statuses: tuple[str, ...]  # any of these is right (most attacks allow exactly one)
    description: str
    files: Callable[[Context], dict[str, bytes]] | None = None  # planted beside the notebook
    filename: str = NOTEBOOK
    #: Grade cells (short function names) whose VISIBLE tests the attack makes pass inside the
    #: kernel: only the probes (hidden checks, judged outside) can take those points away.
    fools: tuple[str, ...] = ()
    #: A grader bug this attack finds: the test is ``xfail(strict=True)`` with this reason.
    bug: str | None = None
    #: Its outcome rests on bubblewrap (host files, network, processes outliving the kernel). The
    #: others attack the grader itself, so they also run where only resource limits confine.
    sandbox: bool = False


class Catalogue(list[Attack]):
    """The attacks of one category, in the order they are declared."""

    def __init__(self, category: str) -> None:
        super().__init__()
        self.category = category

    def attack(
        self, name: str, score: float, status: str | tuple[str, ...], description: str, **extra: Any
    ) -> Callable[[Builder], Builder]:
        """Declare the decorated builder as an attack of this category."""

        def register(build: Builder) -> Builder:
            statuses = (status,) if isinstance(status, str) else status
            self.append(
                Attack(name, self.category, build, float(score), statuses, description, **extra)
            )
            return build

        return register


def meta(cell: NotebookNode) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def answer_id(short: str) -> str:
    return f"{PREFIX}{FUNCTIONS[short][0]}_solution"


def is_test_of(cell: NotebookNode, short: str) -> bool:
    found = meta(cell)
    return bool(found.get("grade")) and found["grade_id"].startswith(
        f"{PREFIX}{FUNCTIONS[short][0]}_"
    )


def reference_answers(solution: NotebookNode) -> dict[str, str]:
    """Answer cell grade id -> the reference answer, as a student would type it."""
    return {
        meta(c)["grade_id"]: SOLUTION_MARKER.sub("", c.source)
        for c in solution.cells
        if meta(c).get("solution")
    }


def notebook(
    ctx: Context,
    *,
    wrong: tuple[str, ...] = (),
    code: dict[str, str] | None = None,
    prefix: str = "",
) -> NotebookNode:
    """The exercise with every answer filled in: the reference, but ``wrong`` functions get the
    WRONG code and ``code`` (short name -> source) replaces an answer cell outright. ``prefix``
    goes at the top of the first answer cell (matmul_broadcast's)."""
    answers = reference_answers(ctx.solution)
    nb = copy.deepcopy(ctx.exercise)
    for short in FUNCTIONS:
        grade_id = answer_id(short)
        source = answers[grade_id]
        if short in wrong:
            source = WRONG[short]
        if code and short in code:
            source = code[short]
        if short == "matmul" and prefix:
            source = prefix.rstrip("\n") + "\n\n\n" + source
        for cell in nb.cells:
            if meta(cell).get("grade_id") == grade_id:
                cell.source = source
    return nb


def text(nb: NotebookNode) -> str:
    return nbformat.writes(nb)


def fill(template: str, **values: object) -> str:
    """``template`` with each ``__KEY__`` replaced by ``repr(value)``."""
    for key, value in values.items():
        template = template.replace(f"__{key.upper()}__", repr(value))
    return template


def all_wrong(ctx: Context, prefix: str = "", **code: str) -> str:
    """Wrong code in every function (unless given in ``code``), ``prefix`` first."""
    return text(notebook(ctx, wrong=tuple(FUNCTIONS), code=code, prefix=prefix))


def correct(ctx: Context, prefix: str = "", **code: str) -> str:
    return text(notebook(ctx, code=code, prefix=prefix))


#: Plausible but wrong answers: each fails its visible tests and its probes.
WRONG = {
    "matmul": '''def matmul_broadcast(A, B):
    """Off by one percent."""
    if A.shape[-1] != B.shape[-2]:
        raise ValueError("inner dimensions differ")
    return (A.unsqueeze(-1) * B.unsqueeze(-3)).sum(dim=-2) * 1.01
''',
    "broadcast": '''def broadcast_shape(shape_a, shape_b):
    """Forgets to broadcast."""
    return tuple(shape_a)
''',
    "affine": '''def affine_apply(M, points):
    """No transpose, no shift."""
    return points @ M[:, :2]
''',
    "compose": '''def compose_affine(*matrices):
    """Composes nothing."""
    return matrices[0]
''',
    "bilinear": '''def bilinear_sample(image, x, y):
    """Nearest neighbour instead of bilinear: no gradient to x and y."""
    channels, height, width = image.shape
    cols, rows = torch.round(x).long(), torch.round(y).long()
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    return image[:, rows.clamp(0, height - 1), cols.clamp(0, width - 1)] * inside
''',
}
