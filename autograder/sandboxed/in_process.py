"""The probe runner in this process, for trusted code only: the reference solution and its mutants.

A submission's probes run in its sandboxed kernel (:mod:`autograder.sandboxed.probing`). The
author's own code needs no sandbox, and two callers run it here, through the same runner text
(:func:`autograder.sandboxed.probe_runner.runner_cell`), decoded as the grader decodes a kernel's:

- ``check`` (:mod:`autograder.authoring.proofs`): the reference, the stub and every mutant;
- the coordinator's judge (:mod:`autograder.grading.judge`): every mutant's results on the hidden
  inputs, so that a submission whose results agree with a mutant's is told the misconception.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from autograder import mutants as mutants_mod
from autograder.probes import Probe, encode_inputs, read_results
from autograder.sandboxed.probe_runner import runner_cell
from autograder.sandboxed.sandbox import KERNEL_ENV

Records = list[dict[str, Any]]


def code_sources(notebook: Path) -> tuple[Any, list[Any]]:
    """The notebook, and its code cells that the grader's probe kernel runs: setup and answer
    cells, no demonstrations, no tests."""
    import nbformat
    from nbgrader.utils import is_grade

    nb = nbformat.read(notebook, as_version=4)
    code = [
        c
        for c in nb.cells
        if c.cell_type == "code" and "nbgrader" in c.get("metadata", {}) and not is_grade(c)
    ]
    return nb, code


def namespace_of(sources: Iterable[str]) -> dict[str, Any]:
    """A fresh namespace with ``sources`` run in it, in order."""
    namespace: dict[str, Any] = {"__name__": "__main__"}
    for source in sources:
        # a released stub raises NotImplementedError: its function stays defined, and raises too
        with contextlib.suppress(NotImplementedError):
            exec(compile(source, "<cell>", "exec"), namespace)  # noqa: S102
    return namespace


def probe_here(namespace: dict[str, Any], probes: Sequence[Probe], folder: Path) -> dict:
    """Run ``probes`` against the functions in ``namespace`` and return ``{probe name:
    records}``, decoded as the grader decodes a kernel's."""
    inputs, outputs = folder / "in", folder / "out"
    counts = encode_inputs(probes, inputs)
    outputs.mkdir(parents=True, exist_ok=True)
    found = {}
    for p in probes:
        exec(runner_cell(p.name, str(inputs), str(outputs)), namespace)  # noqa: S102
        found[p.name] = read_results(outputs, p.name, counts[p.name])
    return found


@contextlib.contextmanager
def _as_in_a_kernel() -> Iterator[None]:
    """The device, execution mode and threads a sandboxed kernel has (:data:`.sandbox.KERNEL_ENV`),
    so that results here compare with a kernel's: tensors on the same device, sums in the same
    order."""
    import torch

    saved = {k: os.environ.get(k) for k in KERNEL_ENV}
    threads = torch.get_num_threads()
    os.environ.update(KERNEL_ENV)
    torch.set_num_threads(1)  # a kernel has OMP_NUM_THREADS=1: sums in the same order
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class Mutants:
    """One notebook's mutants, run on demand: the reference's cells once, at the first need;
    then, for each mutant, its patched answer cell over them, its function's probes, and the
    reference's cell again. That is what a fresh namespace of the patched cells would hold,
    without running every setup cell once per mutant."""

    def __init__(self, sources: list[str], probes: Sequence[Probe], mutants: Sequence[Any]):
        self.sources, self.probes, self.mutants = sources, list(probes), list(mutants)
        self.namespace: dict[str, Any] | None = None
        self.broken = ""  # why the reference's cells could not be run here, once they failed
        self.found: dict[str, dict[str, Records] | str] = {}

    def results(self, function: str | None = None) -> dict[str, dict[str, Records] | str]:
        """``{mutant name: {probe name: records}}`` for the mutants of ``function`` (all of
        them by default), or why a mutant has none (its patch does not apply, no probe calls
        its function, its cell raises); each mutant is run once, the first time it is asked."""
        todo = [m for m in self.mutants if function in (None, m.function)]
        quiet = io.StringIO()
        with (
            contextlib.redirect_stdout(quiet),
            contextlib.redirect_stderr(quiet),
            _as_in_a_kernel(),
            tempfile.TemporaryDirectory(prefix="mutants-") as folder,
        ):
            for i, m in enumerate(todo):
                if m.name not in self.found:
                    self.found[m.name] = self._run(m, Path(folder) / f"m{i}")
        return {m.name: self.found[m.name] for m in todo}

    def _run(self, m: Any, folder: Path) -> dict[str, Records] | str:
        try:
            patched = mutants_mod.apply(self.sources, m)
        except mutants_mod.PatchError as err:
            return f"unpatchable: {err}"
        mine = [p for p in self.probes if p.function == m.function]
        if not mine:
            return f"unpatchable: mutant {m.name}: no probe calls {m.function}()"
        if self.namespace is None and not self.broken:
            try:
                self.namespace = namespace_of(self.sources)
            except Exception as err:  # nothing to compare with: no mutant is named
                self.broken = f"the reference's cells raise {type(err).__name__}"
        if self.namespace is None:
            return self.broken
        pairs = zip(self.sources, patched, strict=True)
        (cell,) = [j for j, (a, b) in enumerate(pairs) if a != b]
        try:
            exec(compile(patched[cell], "<mutant>", "exec"), self.namespace)  # noqa: S102
            return probe_here(self.namespace, mine, folder)
        except Exception as err:  # a mutant whose cell fails outright fails every probe
            return f"its cells raise {type(err).__name__}"
        finally:
            try:  # the reference's cell again, for the next mutant
                exec(compile(self.sources[cell], "<cell>", "exec"), self.namespace)  # noqa: S102
            except Exception as err:
                self.namespace, self.broken = None, f"the reference's cell raises {err!r}"


def mutant_results(
    sources: list[str], probes: Sequence[Probe], mutants: Sequence[Any]
) -> dict[str, dict[str, Records] | str]:
    """Every mutant's results on the probes of its function (see :class:`Mutants`)."""
    return Mutants(sources, probes, mutants).results()
