"""Mutants: plausible student bugs that prove a notebook's hidden checks can catch them.

A chapter's author declares them next to the probes, in ``solutions/<assignment>/
<notebook>.mutants.py`` (never released, never in the book). Each is a textual patch of the
reference answer of one graded function, with the misconception it stands for::

    from autograder.mutants import mutant

    mutant(
        "db_mean_over_batch",
        function="conv2d_backward",
        patch=[("db = dout.sum(dim=(0, 2, 3))", "db = dout.mean(dim=(0, 2, 3))")],
        why="The bias gradient is averaged over the batch, but dout already carries the 1/N.",
    )

``python -m autograder check`` applies each patch to the answer cell that defines ``function``
(every ``old`` must occur there exactly once, or the check fails with the mutant's name), runs
that function's probes on the patched code in this process, and requires at least one of them to
disagree with the reference: the mutant must lose points. This is mutation testing (mutmut, PIT)
applied to an exercise. A mutant that turns out to be equivalent to the reference is deleted,
with the reason in a comment.

Grading runs each mutant on the hidden inputs too, on the trusted side
(:func:`autograder.sandboxed.in_process.mutant_results`). A submission that fails a function's
hidden checks, with results that agree with a mutant's (:func:`recognized`), is told the mutant's
``why`` in its feedback: the misconception, never an input. ``check`` proves that each mutant,
submitted, would be named.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The file, next to ``<notebook>.ipynb``, that declares a notebook's mutants.
SUFFIX = ".mutants.py"
#: Most misconceptions feedback names for one function (mutants whose results agree).
NAMED = 2


@dataclass(frozen=True)
class Mutant:
    name: str  # unique in its file
    function: str  # the graded function whose answer cell the patch edits
    patch: tuple[tuple[str, str], ...]  # (old, new) pairs; each old occurs exactly once
    why: str  # the misconception, in one sentence a student may read (no hidden input)


class PatchError(ValueError):
    """A mutant whose patch does not apply to the reference answer as it is now."""


_DECLARED: list[Mutant] = []


def mutant(name: str, *, function: str, patch: Sequence[tuple[str, str]], why: str) -> Mutant:
    """Declare a mutant of ``function``'s reference answer (see the module docstring)."""
    pairs = tuple((str(old), str(new)) for old, new in patch)
    if not pairs or any(not old or old == new for old, new in pairs):
        raise ValueError(f"mutant {name}: each patch pair must change a non-empty text")
    if not why.strip():
        raise ValueError(f"mutant {name}: say in `why` which misconception it stands for")
    declared = Mutant(name, function, pairs, why.strip())
    _DECLARED.append(declared)
    return declared


def mutants_file(notebook: Path) -> Path:
    """Where the mutants of ``notebook`` (a source ``.ipynb``) are declared."""
    return notebook.with_name(notebook.stem + SUFFIX)


def load(path: Path) -> list[Mutant]:
    """Import a mutants file and return its mutants in declaration order ([] when absent)."""
    from autograder.probes import import_declared

    return import_declared(path, _DECLARED, "mutants")


def defines(source: str, function: str) -> bool:
    """Whether a cell's source defines ``function`` at its top level."""
    return re.search(rf"^def {re.escape(function)}\(", source, flags=re.MULTILINE) is not None


def apply(sources: Sequence[str], m: Mutant) -> list[str]:
    """``sources`` (code cells, in order) with ``m``'s patch applied to the cell defining its
    function. Raises :class:`PatchError` when that cell is missing or a patch is not unique."""
    cells = list(sources)
    where = [i for i, s in enumerate(cells) if defines(s, m.function)]
    if len(where) != 1:
        raise PatchError(f"mutant {m.name}: no single answer cell defines {m.function}()")
    text = cells[where[0]]
    for old, new in m.patch:
        count = text.count(old)
        if count != 1:
            raise PatchError(
                f"mutant {m.name}: {old!r} occurs {count} times in {m.function}'s answer, not once"
            )
        text = text.replace(old, new)
    cells[where[0]] = text
    return cells


@dataclass(frozen=True)
class _Exact:
    """A probe's tolerances without its own comparison (a property of the reference's results,
    such as an accuracy reached): to agree with a mutant is to return the same values."""

    function: str
    rtol: float
    atol: float
    compare: None = None


def recognized(
    function: str,
    probes: Sequence[Any],
    got: dict[str, Any],
    mutated: dict[str, Any],
    mutants: Sequence[Mutant],
) -> list[Mutant]:
    """The mutants of ``function`` whose results (``mutated``: mutant name -> probe name ->
    records) agree with ``got`` (probe name -> records, or why it gave none) on every probe of
    ``function`` that gave results on both sides: the misconceptions that results such as
    ``got`` most likely come from, compared value for value within each probe's tolerances. A
    submission that fails a probe the mutant passes differs from the mutant there too, so it is
    not taken for it."""
    from autograder.verdicts import verdict

    found = []
    exact = {p.name: _Exact(p.function, p.rtol, p.atol) for p in probes}
    for m in mutants:
        theirs = mutated.get(m.name)
        if m.function != function or not isinstance(theirs, dict):
            continue
        both = [p for p in probes if p.function == function and p.name in theirs]
        both = [p for p in both if isinstance(got.get(p.name), list)]
        if both and all(verdict(exact[p.name], got[p.name], theirs[p.name]) is None for p in both):
            found.append(m)
    return found


def without_meta(mutated: dict[str, Any]) -> dict[str, Any]:
    """``mutated`` (mutant name -> probe name -> records, or why there are none) without the
    second device's part of each record, as the judge runs its mutants. Records without ``meta``
    are compared on values alone, so a mutant that only mixes devices still agrees with a
    submission that does: both return the reference's values. ``check`` names each mutant from
    these, as the judge would."""

    def plain(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if k != "meta"} for r in records]

    return {
        name: {p: plain(rs) for p, rs in got.items()} if isinstance(got, dict) else got
        for name, got in mutated.items()
    }
