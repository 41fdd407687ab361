"""The student's self-check, points in the headings, and validation with an exit code.

- ``release`` writes each exercise folder's ``.selfcheck.json``: exactly the released notebook's
  visible test cells, with their points, by function, and nothing hidden;
- ``coursekit.selfcheck`` runs them in the student's namespace and reports, never raises: the
  reference passes all, the stub none, a plausible bug fails with its message; in a real kernel
  it finds the file from the notebook's folder;
- every heading states the points of the tests under it, as the source's metadata says;
- ``python -m coursekit.validate`` exits 1 on a failing notebook, 0 on a passing one;
- the repository's ``nbgrader_config.py`` is the one ``release`` renders.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

from autograder.authoring import release as release_module
from autograder.authoring.student_files import (
    function_of,
    functions,
    is_test,
    student_config_text,
)
from autograder.config import CourseConfig
from coursekit import selfcheck
from tests.conftest import ROOT
from tests.synthetic import TOY_ASSIGNMENT, course_notebooks, student_notebook, toy_course

ASSIGNMENTS = CourseConfig(root=ROOT).assignments()
MARKER = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[^\n]*\n?", re.M)
CH01 = "01_linear_algebra"
BIN = Path(sys.executable).parent


def _meta(cell: Any) -> dict[str, Any]:
    return cell.get("metadata", {}).get("nbgrader", {})


def _notebooks(assignment: str) -> list[tuple[Path, Any, Any]]:
    course = CourseConfig(root=ROOT)
    found = []
    for path in course.notebooks(assignment):
        released = nbformat.read(course.release / assignment / path.name, as_version=4)
        found.append((path, nbformat.read(path, as_version=4), released))
    return found


def _namespace(nb: Any, answers: dict[str, str] | None = None) -> dict[str, Any]:
    """The namespace a student's kernel holds after running ``nb``'s setup and answer cells;
    ``answers`` (grade id -> source) replaces some answers first."""
    namespace: dict[str, Any] = {"__name__": "__main__"}
    for cell in nb.cells:
        meta = _meta(cell)
        if cell.cell_type == "code" and (meta.get("solution") or meta.get("locked")):
            if meta.get("grade") or meta.get("grade_id", "").endswith("selfcheck"):
                continue
            source = (answers or {}).get(meta["grade_id"], cell.source)
            exec(compile(MARKER.sub("", source), meta["grade_id"], "exec"), namespace)
    return namespace


def test_the_release_and_the_reader_agree_on_the_file() -> None:
    assert release_module.SELFCHECK_FILE == selfcheck.DATA_FILE


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_selfcheck_file_holds_exactly_the_released_visible_tests(assignment: str) -> None:
    data = json.loads((ROOT / "exercises" / assignment / selfcheck.DATA_FILE).read_text())
    assert data["format"] == selfcheck.FORMAT
    for path, source, released in _notebooks(assignment):
        entry = data["notebooks"][path.name]
        given = {t["grade_id"]: t for f in entry["functions"] for t in f["tests"]}
        tests = [c for c in released.cells if is_test(c)]
        assert list(given) == [_meta(c)["grade_id"] for c in tests], "not every visible test"
        for cell in tests:
            test = given[_meta(cell)["grade_id"]]
            assert test["source"] == cell.source, "a self-check test differs from the released"
            assert test["points"] == _meta(cell)["points"]
        graded = functions(source.cells)
        for function in entry["functions"]:
            for test in function["tests"]:
                owner = function_of(test["grade_id"], graded)
                assert owner is not None and owner.name == function["name"], test["grade_id"]
        assert entry["points"] == sum(_meta(c)["points"] for c in source.cells if is_test(c))


def test_hidden_tests_never_reach_the_selfcheck_file(tmp_path: Path) -> None:
    course = toy_course(tmp_path)
    text = (course.release / TOY_ASSIGNMENT / selfcheck.DATA_FILE).read_text()
    source = (course.source / TOY_ASSIGNMENT / "toy.ipynb").read_text()
    assert "secret" in source, "the toy course lost its hidden tests: this test proves nothing"
    assert "secret" not in text and "HIDDEN" not in text
    (entry,) = json.loads(text)["notebooks"].values()
    sources = [t["source"] for f in entry["functions"] for t in f["tests"]]
    assert len(sources) == 2 and "assert double(3) == 6" in sources[0], "a visible test is missing"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_visible_test_says_what_it_checks(assignment: str) -> None:
    """Each test cell opens with a docstring: the self-check's "checks" column, and the line a
    student reads above a failure, are taken from it."""
    import ast

    for path, source, _ in _notebooks(assignment):
        for cell in filter(is_test, source.cells):
            said = ast.get_docstring(ast.parse(cell.source))
            assert said and said.startswith("Check"), (
                f"{path.name}: {_meta(cell)['grade_id']} does not open with a docstring that "
                "says what it checks"
            )


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_heading_states_its_points_from_the_metadata(assignment: str) -> None:
    for path, source, released in _notebooks(assignment):
        graded = functions(source.cells)
        points = {f.name: 0.0 for f in graded}
        for cell in filter(is_test, source.cells):
            owner = function_of(_meta(cell)["grade_id"], graded)
            assert owner is not None
            points[owner.name] += _meta(cell)["points"]
        total = sum(points.values())
        assert released.cells[0].source.splitlines()[0].endswith(f"({total:g} points)")
        answers = [(i, c) for i, c in enumerate(released.cells) if _meta(c).get("solution")]
        for index, cell in answers:
            name = re.search(r"^def (\w+)\(", cell.source, re.M).group(1)  # type: ignore[union-attr]
            heading = next(
                c.source
                for c in reversed(released.cells[:index])
                if c.cell_type == "markdown" and c.source.startswith("#")
            )
            said = re.search(r"\((\d+(\.\d+)?) points?\)$", heading.splitlines()[0])
            assert said, f"{path.name}: the heading above {name} states no points"
            alone = float(said.group(1)) == points[name]
            assert alone or f"`{name}` {points[name]:g}" in heading, (
                f"{path.name}: the heading above {name} does not give its {points[name]:g} points"
            )


def test_reference_passes_every_visible_test_with_full_points() -> None:
    ((_, source, _),) = _notebooks(CH01)
    report = selfcheck.check_all(namespace=_namespace(source), folder=ROOT / "exercises" / CH01)
    assert report.results and all(r.passed for r in report.results), str(report)
    assert report.points == (15.0, 15.0)
    assert "pass for 15 of 15 points" in str(report) and report.first_failure is None


def test_a_stub_is_reported_never_raised() -> None:
    ((_, _, released),) = _notebooks(CH01)
    report = selfcheck.check_all(namespace=_namespace(released), folder=ROOT / "exercises" / CH01)
    assert report.points == (0.0, 15.0)
    assert {r.result for r in report.results} == {"to do"}
    assert "still the stub" in str(report) and "<table>" in report._repr_html_()


def test_a_plausible_bug_fails_with_its_message_and_line() -> None:
    ((_, source, released),) = _notebooks(CH01)
    answer_id = "linear_algebra_matmul_broadcast_solution"
    answer = next(c.source for c in source.cells if _meta(c).get("grade_id") == answer_id)
    buggy = answer.replace("products.sum(dim=-2)", "products.sum(dim=-1)")
    assert buggy != answer
    namespace = _namespace(released, {answer_id: buggy})
    report = selfcheck.check(
        "matmul_broadcast", namespace=namespace, folder=ROOT / "exercises" / CH01
    )
    assert [r.test for r in report.results] == ["fixed", "oracle"]
    failure = report.first_failure
    assert failure is not None and failure.result == "FAIL" and failure.test == "fixed"
    assert "AssertionError" in failure.error and "shape" in failure.error, failure.error
    assert failure.line.startswith("assert_close(matmul_broadcast(A, B)"), failure.line
    assert "First failure: matmul_broadcast, test fixed" in str(report)
    html = report._repr_html_()
    assert "<pre>AssertionError" in html and "&#10007;" in html
    assert namespace.get("A") is None, "a test's variables leaked into the student's namespace"


def test_without_the_file_or_the_function_it_says_what_to_do(tmp_path: Path) -> None:
    report = selfcheck.check_all(namespace={}, folder=tmp_path)
    assert not report.results and selfcheck.DATA_FILE in report.note
    report = selfcheck.check("matmul", namespace={}, folder=ROOT / "exercises" / CH01)
    assert not report.results and "matmul_broadcast" in report.note
    report = selfcheck.check("affine_apply", namespace={}, folder=ROOT / "exercises" / CH01)
    assert {r.result for r in report.results} == {"not run"}
    assert "not defined yet" in report.results[
        0
    ].error and "wait for their function's cell to run" in str(report)


def test_nothing_runs_while_nbgrader_runs_the_notebook(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    report = selfcheck.check_all(namespace={}, folder=ROOT / "exercises" / CH01)
    assert not report.results and "skipped" in report.note


def test_selfcheck_cell_in_a_real_kernel_finds_the_tests_beside_the_notebook(
    tmp_path: Path,
) -> None:
    """The released notebook, one function solved, run in a kernel in a copy of its folder."""
    from nbclient import NotebookClient

    folder = tmp_path / CH01
    shutil.copytree(ROOT / "exercises" / CH01, folder)
    ((path, source, released),) = _notebooks(CH01)
    answers = {_meta(c)["grade_id"]: c.source for c in source.cells if _meta(c).get("solution")}
    nb = copy.deepcopy(released)
    for cell in nb.cells:
        if _meta(cell).get("grade_id") == "linear_algebra_matmul_broadcast_solution":
            cell.source = MARKER.sub("", answers[_meta(cell)["grade_id"]])
    resources = {"metadata": {"path": str(folder)}}  # the kernel starts in the notebook's folder
    NotebookClient(
        nb, timeout=300, kernel_name="python3", allow_errors=True, resources=resources
    ).execute()
    (cell,) = [c for c in nb.cells if _meta(c).get("grade_id") == "linear_algebra_selfcheck"]
    (output,) = cell.outputs
    text, html = output["data"]["text/plain"], output["data"]["text/html"]
    assert "visible tests pass for 3 of 15 points" in text, text
    assert re.search(r"matmul_broadcast +oracle +2 +pass", text), text
    assert re.search(r"bilinear_sample +gradient +1 +to do", text), text
    assert html.count("<tr>") == 1 + 11 and "hidden tests" in html


def test_the_repository_nbgrader_config_is_the_rendered_one(course: CourseConfig) -> None:
    committed = (ROOT / "nbgrader_config.py").read_text()
    assert committed == student_config_text(course), (
        "nbgrader_config.py is stale: run `python -m autograder release`"
    )
    assert "c.Execute.timeout = 300" in committed


def _validate(notebook: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "python"), "-m", "coursekit.validate", str(notebook)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={k: v for k, v in os.environ.items() if not k.startswith("NBGRADER")},
    )


def test_validate_exits_non_zero_on_failures_and_zero_on_a_pass(tmp_path: Path) -> None:
    course = toy_course(tmp_path / "course")
    ((source, exercise),) = course_notebooks(course, TOY_ASSIGNMENT).values()
    for kind in ("empty", "correct"):
        nbformat.write(student_notebook(kind, source, exercise), tmp_path / f"{kind}.ipynb")
    failing = _validate(tmp_path / "empty.ipynb", course.root)
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "VALIDATION FAILED ON 2 CELL(S)" in failing.stdout
    assert f"settings: {course.root / 'nbgrader_config.py'}" in failing.stdout
    passing = _validate(tmp_path / "correct.ipynb", course.root)
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert "Success! Your notebook passes all the tests." in passing.stdout
    missing = _validate(tmp_path / "no_such.ipynb", course.root)
    assert missing.returncode == 2 and "no such notebook" in missing.stderr


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_notebook_ends_with_a_locked_ungraded_selfcheck_cell(assignment: str) -> None:
    for path, source, _ in _notebooks(assignment):
        cell = source.cells[-1]
        meta = _meta(cell)
        assert cell.cell_type == "code" and "check_all()" in cell.source, (
            f"{path.name}: the last cell is not the self-check (see solutions/01_linear_algebra)"
        )
        assert meta.get("locked") and not meta.get("grade") and not meta.get("solution")
        assert meta["grade_id"] == f"{path.stem}_selfcheck"
