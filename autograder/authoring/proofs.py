"""For authors and CI: run a notebook's probes in this process (no sandbox), and check them.

``python -m autograder check`` calls :func:`author_check` for every notebook.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder import mutants as mutants_mod
from autograder.probes import Probe, encode_inputs, load, probes_file, read_results, verdict
from autograder.sandboxed.probe_runner import runner_cell


def try_in_namespace(namespace: dict[str, Any], probes: Sequence[Probe], folder: Path) -> dict:
    """For authors: run ``probes`` against the functions in ``namespace`` in this process (no
    sandbox) and return ``{probe name: records}``, decoded as the grader decodes them."""
    inputs, outputs = folder / "in", folder / "out"
    counts = encode_inputs(probes, inputs)
    outputs.mkdir(parents=True, exist_ok=True)
    found = {}
    for p in probes:
        exec(runner_cell(p.name, str(inputs), str(outputs)), namespace)  # noqa: S102
        found[p.name] = read_results(outputs, p.name, counts[p.name])
    return found


def _code_namespace(sources: Iterable[str]) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "__main__"}
    for source in sources:
        # a released stub raises NotImplementedError: its function stays defined, and raises too
        with contextlib.suppress(NotImplementedError):
            exec(compile(source, "<cell>", "exec"), namespace)  # noqa: S102
    return namespace


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
    - ``unpatchable``: mutants whose patch no longer applies, with the reason.
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


def _code_cells(notebook: Path) -> tuple[Any, list[Any]]:
    import nbformat
    from nbgrader.utils import is_grade

    nb = nbformat.read(notebook, as_version=4)
    code = [  # what the grader's probe kernel runs: setup and answer cells, no demonstrations
        c
        for c in nb.cells
        if c.cell_type == "code" and "nbgrader" in c.get("metadata", {}) and not is_grade(c)
    ]
    return nb, code


def check_notebook_probes(notebook: Path, folder: Path) -> ProbeCheck:
    """The work behind :func:`author_check`, with the count of probes and every mutant's fate."""
    import nbformat
    from nbgrader.preprocessors import ClearSolutions
    from nbgrader.utils import is_grade

    from autograder.config import CODE_STUB

    nb, code = _code_cells(notebook)
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
    }
    clear = ClearSolutions(code_stub=dict(CODE_STUB))
    stubbed, _ = clear.preprocess(nbformat.from_dict({**nb, "cells": code}), {})
    sources = [c.source for c in code]
    with contextlib.redirect_stdout(io.StringIO()):  # what the notebook's cells print
        want = try_in_namespace(_code_namespace(sources), probes, folder / "a")
        again = try_in_namespace(_code_namespace(sources), probes, folder / "b")
        got = try_in_namespace(
            _code_namespace(c.source for c in stubbed.cells), probes, folder / "c"
        )
    for p in probes:
        if verdict(p, again[p.name], want[p.name]) is not None:
            problems["solution"].append(p.name)
        if verdict(p, got[p.name], want[p.name]) is None:
            problems["stub"].append(p.name)
    result = ProbeCheck(problems, probes=len(probes))
    for i, m in enumerate(mutants_mod.load(mutants_mod.mutants_file(notebook))):
        result.mutants[m.name] = _killer(m, sources, probes, want, folder / f"m{i}", problems)
    return result


def _killer(
    m: mutants_mod.Mutant,
    sources: list[str],
    probes: Sequence[Probe],
    want: dict,
    folder: Path,
    problems: dict[str, list[str]],
) -> str | None:
    """The first probe of ``m``'s function that catches ``m``, or None (recorded in
    ``problems``) when none does or the patch does not apply."""
    try:
        patched = mutants_mod.apply(sources, m)
    except mutants_mod.PatchError as err:
        problems["unpatchable"].append(str(err))
        return None
    mine = [p for p in probes if p.function == m.function]
    if not mine:
        problems["unpatchable"].append(f"mutant {m.name}: no probe calls {m.function}()")
        return None
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            got = try_in_namespace(_code_namespace(patched), mine, folder)
        except Exception as err:  # a mutant whose cells fail outright is caught by every probe
            return f"(its cells raise {type(err).__name__})"
    for p in mine:
        if verdict(p, got[p.name], want[p.name]) is not None:
            return p.name
    problems["survived"].append(f"{m.name} ({m.function}): {m.why}")
    return None
