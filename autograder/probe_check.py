"""For authors and CI: run a notebook's probes in this process (no sandbox), and check them.

``python -m autograder check`` calls :func:`author_check` for every notebook.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from autograder.probe_runner import runner_cell
from autograder.probes import Probe, encode_inputs, load, probes_file, read_results, verdict


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
    """For authors and CI: the problems of a source notebook's probes, by kind (empty lists
    when all is well). Runs in this process: the solution's code cells, then the stub's.

    - ``unguarded``: grade cells no probe guards (their points would rest on the kernel alone);
    - ``unknown``: grade ids named by a probe that the notebook does not have;
    - ``solution``: probes the reference solution does not pass against itself (not plain data,
      or not deterministic);
    - ``stub``: probes the released stub passes (they could not fail).
    """
    import nbformat
    from nbgrader.preprocessors import ClearSolutions
    from nbgrader.utils import is_grade

    nb = nbformat.read(notebook, as_version=4)
    probes = load(probes_file(notebook))
    grade_ids = {c.metadata.nbgrader["grade_id"] for c in nb.cells if is_grade(c)}
    guarded = {g for p in probes for g in p.grade_ids}
    problems: dict[str, list[str]] = {
        "unguarded": sorted(grade_ids - guarded),
        "unknown": sorted(guarded - grade_ids),
        "solution": [],
        "stub": [],
    }
    code = [  # what the grader's probe kernel runs: setup and answer cells, no demonstrations
        c
        for c in nb.cells
        if c.cell_type == "code" and "nbgrader" in c.get("metadata", {}) and not is_grade(c)
    ]
    clear = ClearSolutions(code_stub={"python": "raise NotImplementedError()"})
    stubbed, _ = clear.preprocess(nbformat.from_dict({**nb, "cells": code}), {})
    with contextlib.redirect_stdout(io.StringIO()):  # what the notebook's cells print
        want = try_in_namespace(_code_namespace(c.source for c in code), probes, folder / "a")
        again = try_in_namespace(_code_namespace(c.source for c in code), probes, folder / "b")
        got = try_in_namespace(
            _code_namespace(c.source for c in stubbed.cells), probes, folder / "c"
        )
    for p in probes:
        if verdict(p, again[p.name], want[p.name]) is not None:
            problems["solution"].append(p.name)
        if verdict(p, got[p.name], want[p.name]) is None:
            problems["stub"].append(p.name)
    return problems
