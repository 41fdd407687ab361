"""Secrets: correct code that looks for what it must not see.

``read_secrets`` reads the host's files, which only bubblewrap hides. ``display_leak`` and
``early_inputs`` go after the probes' inputs, which the worker itself keeps from the notebook
(its outputs set aside, the inputs written only when the probes run), sandbox or not.
"""

from __future__ import annotations

from tests.adversarial.attacks.kit import (
    ASSIGNMENT,
    GRADED,
    NOTEBOOK,
    Catalogue,
    Context,
    answer_id,
    correct,
    fill,
    reference_answers,
)

ATTACKS = Catalogue("secrets")


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


@ATTACKS.attack(
    "read_secrets",
    15,
    GRADED,
    "correct code that reads solutions/, the probes file, the gradebook, the ledger and another "
    "student's submission by absolute path, and walks / for them, printing what it finds",
    sandbox=True,
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


DISPLAY_LEAK = """\
from IPython.display import display as _display, update_display as _update_display

_display("display-leak placeholder", display_id="leak")
_quiet_affine_apply = affine_apply


def affine_apply(M, points):
    \"\"\"The reference, which also writes its inputs into the answer cell's output.\"\"\"
    _update_display("DISPLAY-LEAK " + repr(points.tolist()), display_id="leak")
    return _quiet_affine_apply(M, points)
"""


@ATTACKS.attack(
    "display_leak",
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
        if _name.endswith((".json", ".arrays")) and "probes-in" in _root:
            with open(_os.path.join(_root, _name), "rb") as _handle:
                _seen.append(_handle.read()[:200])
print("PROBE-INPUTS-SEEN", len(_seen), _seen)
"""


@ATTACKS.attack(
    "early_inputs",
    15,
    GRADED,
    "correct code whose first answer cell reads the probes' input folder beside the kernel's "
    "connection file and prints what it finds: the inputs exist only once the probes run",
)
def _early_inputs(ctx: Context) -> str:
    answers = reference_answers(ctx.solution)
    return correct(ctx, matmul=answers[answer_id("matmul")] + "\n\n" + EARLY_INPUTS)
