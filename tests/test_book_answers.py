"""No exercise is answered by the book: a behavioural check, which renaming cannot dodge.

Every function and method that a narrative chapter's code cells define is a candidate. Each
graded function of every exercise has its hidden checks (its probes) run against each candidate
whose signature accepts the probes' calls, exactly as a student's answer would be judged. No
candidate may pass all of a graded function's probes: a chapter that codes a graded algorithm,
under any name, fails here.

The narrative is not executed whole (that is the book build's job, and slow): its imports,
definitions and simple top-level constants are, which is all a definition needs to be called.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from autograder.authoring.proofs import try_in_namespace
from autograder.probes import Probe, Raised, load, probes_file, verdict
from autograder.sandboxed.in_process import code_sources, namespace_of
from tests.conftest import ROOT

CODE_CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```", re.S | re.M)
CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]_*.md"))
NOTEBOOKS = sorted((ROOT / "solutions").glob("*/*.ipynb"))


def _cheap(node: ast.stmt) -> bool:
    """Statements worth running to make definitions callable: imports, definitions, and
    constants (literals, or a device)."""
    if isinstance(node, ast.Import | ast.ImportFrom | ast.FunctionDef | ast.ClassDef):
        return True
    if isinstance(node, ast.Assign):
        value = node.value
        if isinstance(value, ast.Constant | ast.Tuple):
            return True
        return isinstance(value, ast.Call) and "device" in ast.unparse(value.func)
    return False


def _parse(cell: str) -> list[ast.stmt]:
    """A code cell's statements, without its MyST options (a ``---`` block or ``:key:`` lines)
    and IPython magics."""
    cell = re.sub(r"\A---\n.*?^---\n", "", cell, flags=re.S | re.M)
    lines = [line for line in cell.splitlines() if not line.lstrip().startswith(("%", "!"))]
    while lines and re.match(r"^:\w[\w-]*:", lines[0]):
        lines.pop(0)
    return ast.parse("\n".join(lines)).body


def narrative_namespace(chapter: Path) -> tuple[dict[str, Any], list[str]]:
    """The chapter's definitions, made callable; and the names of the functions and classes."""
    namespace: dict[str, Any] = {"__name__": "__narrative__"}
    defined = []
    nodes = [node for cell in CODE_CELL.findall(chapter.read_text()) for node in _parse(cell)]
    for node in nodes:
        if not _cheap(node):
            continue
        with contextlib.suppress(Exception):  # a definition that needs more is simply skipped
            exec(compile(ast.Module([node], []), str(chapter), "exec"), namespace)  # noqa: S102
            if isinstance(node, ast.FunctionDef | ast.ClassDef):
                defined.append(node.name)
    return namespace, defined


def candidates(chapter: Path) -> Iterator[tuple[str, Callable[..., Any]]]:
    """(label, callable) for every function and method the chapter defines; a method is bound
    to an instance made without running ``__init__``."""
    namespace, defined = narrative_namespace(chapter)
    for name in defined:
        thing = namespace.get(name)
        if inspect.isfunction(thing):
            yield f"{chapter.stem}:{name}", thing
        elif inspect.isclass(thing):
            with contextlib.suppress(Exception):
                instance = thing.__new__(thing)
                for attr, member in vars(thing).items():
                    if inspect.isfunction(member) and not attr.startswith("__"):
                        yield f"{chapter.stem}:{name}.{attr}", getattr(instance, attr)


def _accepts(candidate: Callable[..., Any], probe: Probe) -> bool:
    try:
        signature = inspect.signature(candidate)
        for c in probe.calls():
            signature.bind(*c.args, **c.kwargs)
    except (TypeError, ValueError):
        return False
    return True


def answers(notebook: Path, folder: Path) -> list[tuple[str, str]]:
    """(graded function, candidate) pairs where a narrative definition passes every probe of
    the graded function."""
    by_function: dict[str, list[Probe]] = {}
    for p in load(probes_file(notebook)):
        by_function.setdefault(p.function, []).append(p)
    _, code = code_sources(notebook)
    sources = [c.source for c in code]
    found: list[tuple[str, str]] = []
    want: dict | None = None
    base: dict[str, Any] = {}
    for chapter in CHAPTERS:
        for label, candidate in candidates(chapter):
            for function, probes in by_function.items():
                if not all(_accepts(candidate, p) for p in probes):
                    continue
                if want is None:  # the reference's results, once, and only when needed
                    with contextlib.redirect_stdout(io.StringIO()):
                        base = namespace_of(sources)
                        want = try_in_namespace(base, list(_flat(by_function)), folder / "w")
                results = [r["result"] for p in probes for r in want[p.name]]
                if all(isinstance(r, Raised) for r in results):
                    continue  # probes that only test errors say nothing about the algorithm
                # the notebook's setup and answers, with the graded function replaced: first
                # on one call (most candidates fail it), then on every call
                namespace = {**base, function: candidate}
                tag = folder / label.replace(":", "_").replace(".", "_") / function
                if _passes(namespace, [_first(probes[0])], want, tag / "first") and _passes(
                    namespace, probes, want, tag / "all"
                ):
                    found.append((function, label))
    return found


def _first(p: Probe) -> Probe:
    first = p.calls()[0]
    return replace(p, cases=lambda: [first])


def _passes(namespace: dict[str, Any], probes: list[Probe], want: dict, folder: Path) -> bool:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            got = try_in_namespace(namespace, probes, folder)
        except Exception:
            return False
    return all(verdict(p, got[p.name], want[p.name][: len(got[p.name])]) is None for p in probes)


def _flat(by_function: dict[str, list[Probe]]) -> Iterator[Probe]:
    for probes in by_function.values():
        yield from probes


def test_the_narratives_define_functions_to_check() -> None:
    """The check has something to bite on: each chapter defines functions or methods."""
    counts = {c.stem: sum(1 for _ in candidates(c)) for c in CHAPTERS}
    assert counts and all(n > 0 for n in counts.values()), counts


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_no_narrative_definition_passes_a_graded_functions_probes(
    notebook: Path, tmp_path: Path
) -> None:
    found = answers(notebook, tmp_path)
    assert not found, f"the book answers its exercise: {found}"


def test_the_check_catches_a_renamed_answer(tmp_path: Path, monkeypatch) -> None:
    """A chapter that codes broadcast_shape under another name is caught."""
    chapter = tmp_path / "99_leak.md"
    chapter.write_text(
        "```{code-cell} ipython3\n"
        "import itertools\n\n"
        "def shape_of_result(first, second):\n"
        "    out = []\n"
        "    for a, b in itertools.zip_longest(reversed(first), reversed(second), fillvalue=1):\n"
        "        if a != b and 1 not in (a, b):\n"
        "            raise ValueError('shapes do not broadcast')\n"
        "        out.append(max(a, b) if 0 not in (a, b) else 0)\n"
        "    return tuple(reversed(out))\n"
        "```\n"
    )
    monkeypatch.setattr(__import__(__name__, fromlist=["x"]), "CHAPTERS", [chapter])
    notebook = ROOT / "solutions" / "01_linear_algebra" / "linear_algebra.ipynb"
    assert ("broadcast_shape", "99_leak:shape_of_result") in answers(notebook, tmp_path)
