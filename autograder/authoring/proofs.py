"""For authors and CI: run a notebook's probes in this process (no sandbox), and check them.

``python -m autograder check`` calls :func:`author_check` for every notebook.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder import mutants as mutants_mod
from autograder.probes import Probe, load, probes_file, verdict
from autograder.sandboxed.in_process import (
    code_sources,
    mutant_results,
    namespace_of,
    probe_here,
)


def try_in_namespace(namespace: dict[str, Any], probes: list[Probe], folder: Path) -> dict:
    """For authors: run ``probes`` against the functions in ``namespace`` in this process (no
    sandbox) and return ``{probe name: records}``, decoded as the grader decodes them."""
    return probe_here(namespace, probes, folder)


def author_check(notebook: Path, folder: Path) -> dict[str, list[str]]:
    """For authors and CI: the problems of a source notebook's probes and mutants, by kind
    (empty lists when all is well). Runs in this process: the solution's code cells, then the
    stub's, then each mutant's.

    - ``unguarded``: grade cells no probe guards (their points would rest on the kernel alone);
    - ``unknown``: grade ids named by a probe that the notebook does not have;
    - ``solution``: probes the reference solution does not pass against itself (not plain data,
      or not deterministic);
    - ``stub``: probes the released stub passes (they could not fail);
    - ``survived``: mutants that every probe of their function lets through (no points lost);
    - ``unpatchable``: mutants whose patch no longer applies, with the reason;
    - ``unnamed``: mutants that, submitted, would not be told their misconception (their
      results agree with those of two or more other mutants, or with none).
    """
    return check_notebook_probes(notebook, folder).problems


@dataclass
class ProbeCheck:
    """What :func:`check_notebook_probes` found: the problems by kind, and each mutant's fate."""

    problems: dict[str, list[str]]
    probes: int = 0
    mutants: dict[str, str | None] = field(default_factory=dict)  # name -> killing probe or None

    @property
    def killed(self) -> int:
        return sum(1 for by in self.mutants.values() if by)


def check_notebook_probes(notebook: Path, folder: Path) -> ProbeCheck:
    """The work behind :func:`author_check`, with the count of probes and every mutant's fate."""
    import nbformat
    from nbgrader.preprocessors import ClearSolutions
    from nbgrader.utils import is_grade

    from autograder.config import CODE_STUB

    nb, code = code_sources(notebook)
    probes = load(probes_file(notebook))
    grade_ids = {c.metadata.nbgrader["grade_id"] for c in nb.cells if is_grade(c)}
    guarded = {g for p in probes for g in p.grade_ids}
    problems: dict[str, list[str]] = {
        "unguarded": sorted(grade_ids - guarded),
        "unknown": sorted(guarded - grade_ids),
        "solution": [],
        "stub": [],
        "survived": [],
        "unpatchable": [],
        "unnamed": [],
    }
    clear = ClearSolutions(code_stub=dict(CODE_STUB))
    stubbed, _ = clear.preprocess(nbformat.from_dict({**nb, "cells": code}), {})
    sources = [c.source for c in code]
    with contextlib.redirect_stdout(io.StringIO()):  # what the notebook's cells print
        want = probe_here(namespace_of(sources), probes, folder / "a")
        again = probe_here(namespace_of(sources), probes, folder / "b")
        got = probe_here(namespace_of(c.source for c in stubbed.cells), probes, folder / "c")
    for p in probes:
        if verdict(p, again[p.name], want[p.name]) is not None:
            problems["solution"].append(p.name)
        if verdict(p, got[p.name], want[p.name]) is None:
            problems["stub"].append(p.name)
    result = ProbeCheck(problems, probes=len(probes))
    declared = mutants_mod.load(mutants_mod.mutants_file(notebook))
    mutated = mutant_results(sources, probes, declared)
    for m in declared:
        result.mutants[m.name] = _killer(m, probes, want, mutated, declared, problems)
    return result


def _killer(
    m: mutants_mod.Mutant,
    probes: list[Probe],
    want: dict,
    mutated: dict[str, Any],
    declared: list[mutants_mod.Mutant],
    problems: dict[str, list[str]],
) -> str | None:
    """The first probe of ``m``'s function that catches ``m``, or None (recorded in
    ``problems``) when none does or the patch does not apply; a caught mutant whose results
    would not name it is recorded as ``unnamed``."""
    got = mutated[m.name]
    if isinstance(got, str):
        if got.startswith("unpatchable: "):
            problems["unpatchable"].append(got.removeprefix("unpatchable: "))
            return None
        return f"({got})"  # its cells raise: every probe catches it
    mine = [p for p in probes if p.function == m.function]
    killer = next((p.name for p in mine if verdict(p, got[p.name], want[p.name]) is not None), None)
    if killer is None:
        problems["survived"].append(f"{m.name} ({m.function}): {m.why}")
        return None
    # as the judge names it, from the mutants' records without the second device's part
    plain = mutants_mod.without_meta(mutated)
    named = mutants_mod.recognized(m.function, mine, got, plain, declared)
    if m not in named[: mutants_mod.NAMED]:
        others = ", ".join(n.name for n in named if n is not m) or "none"
        problems["unnamed"].append(f"{m.name} ({m.function}): its results agree with {others}")
    return killer
