"""Every chapter has every piece AUTHORING.md lists, and says clearly which one it lacks."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import yaml

from autograder.mutants import defines, mutants_file
from autograder.mutants import load as load_mutants
from autograder.probes import load as load_probes
from autograder.probes import probes_file
from tests.conftest import ROOT

CHAPTERS = sorted(p.name for p in (ROOT / "solutions").iterdir() if re.match(r"\d\d_", p.name))
MUTANTS_PER_FUNCTION = 4


def _toc_files() -> set[str]:
    def walk(node: object) -> list[str]:
        if isinstance(node, dict):
            here = [node["file"]] if "file" in node else []
            return here + [f for value in node.values() for f in walk(value)]
        if isinstance(node, list):
            return [f for item in node for f in walk(item)]
        return []

    return set(walk(yaml.safe_load((ROOT / "_toc.yml").read_text())))


def _slug(chapter: str) -> str:
    return chapter.split("_", 1)[1]


def _notebook(chapter: str) -> Path:
    return ROOT / "solutions" / chapter / f"{_slug(chapter)}.ipynb"


def _functions(chapter: str) -> dict[str, str]:
    """Answer cell grade id -> the graded function it defines."""
    found = {}
    for cell in nbformat.read(_notebook(chapter), as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "code":
            name = re.search(r"^def (\w+)\(", cell.source, re.M)
            found[meta["grade_id"]] = name.group(1) if name else ""
    return found


def test_there_are_six_chapters() -> None:
    assert len(CHAPTERS) == 6, CHAPTERS


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_file_and_entry_is_there(chapter: str) -> None:
    slug = _slug(chapter)
    files = {
        "narrative": ROOT / "book" / f"{chapter}.md",
        "source notebook": _notebook(chapter),
        "probes": probes_file(_notebook(chapter)),
        "mutants": mutants_file(_notebook(chapter)),
        "released exercise (python -m autograder release)": ROOT
        / "exercises"
        / chapter
        / f"{slug}.ipynb",
    }
    missing = [f"{what}: {path.relative_to(ROOT)}" for what, path in files.items()]
    missing = [m for m, path in zip(missing, files.values(), strict=True) if not path.is_file()]
    assert not missing, f"{chapter} lacks {missing} (see AUTHORING.md)"
    toc = _toc_files()
    for entry in (f"book/{chapter}", f"exercises/{chapter}/{slug}"):
        assert entry in toc, f"_toc.yml has no entry {entry} (see AUTHORING.md)"
    assert f"book/{chapter}.md" in (ROOT / "README.md").read_text(), f"README lacks {chapter}"
    assert f"{{doc}}`{chapter}`" in (ROOT / "book" / "intro.md").read_text(), (
        f"book/intro.md does not link {chapter} with {{doc}}"
    )
    label = f"(ch-{slug.split('_')[0]}"
    assert label in files["narrative"].read_text(), f"{chapter}: no `{label}...)=` label"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_grade_ids_follow_the_convention(chapter: str) -> None:
    slug = _slug(chapter)
    nb = nbformat.read(_notebook(chapter), as_version=4)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        grade_id = meta.get("grade_id")
        if grade_id is None:
            continue
        assert grade_id.startswith(f"{slug}_"), f"{grade_id}: grade ids start with {slug}_"
        if meta.get("solution"):
            assert grade_id.endswith("_solution"), f"{grade_id}: answer ids end in _solution"
        source = cell.source
        assert "BEGIN HIDDEN TESTS" not in source, f"{grade_id}: hidden checks go in the probes"
    assert f"{slug}_setup" in {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells}


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_graded_function_is_probed_and_has_mutants(chapter: str) -> None:
    functions = _functions(chapter)
    assert functions and all(functions.values()), f"{chapter}: an answer cell defines no function"
    probed = {p.function for p in load_probes(probes_file(_notebook(chapter)))}
    mutants = load_mutants(mutants_file(_notebook(chapter)))
    for grade_id, function in functions.items():
        answer = next(
            c.source
            for c in nbformat.read(_notebook(chapter), as_version=4).cells
            if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id
        )
        assert defines(answer, function)
        if not function.startswith("_"):
            assert function in probed, f"{chapter}: no probe calls {function}()"
            count = sum(1 for m in mutants if m.function == function)
            assert count >= MUTANTS_PER_FUNCTION, (
                f"{chapter}: {function}() has {count} mutants, at least "
                f"{MUTANTS_PER_FUNCTION} are needed"
            )
