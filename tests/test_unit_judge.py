"""The judge: the probes' verdicts, decided on the coordinator, applied to a worker's result.

Most tests hand the judge a made-up :class:`TaskResult` with the records a worker would send
back, and a :class:`Judge` holding probes declared through :mod:`autograder.probes` and the
reference's records. A probe that agrees leaves the points alone; one that disagrees, that did
not run or that has a reason in place of records zeroes every grade cell it guards and marks
those cells in the executed notebook with an error output that names the function, never a
hidden input. The last tests prepare a judge for real: the toy course's reference solution runs
its probes in a sandboxed kernel.
"""

from __future__ import annotations

import copy
import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import nbformat
import pytest

from autograder.grading.judge import Judge, ReferenceFailed
from autograder.messages import NotebookResult, TaskResult
from autograder.probes import Probe, load

#: A hidden input of the double probe: it must never reach the feedback.
SECRET = 271_828

PROBES = f"""
from autograder.probes import call, probe


@probe("toy_double_test", function="double")
def double_cases():
    yield call({SECRET})
    yield call(-3)


@probe(["toy_double_test", "toy_norm_test"], function="norm")
def norm_cases():
    yield call([3.0, 4.0])
"""

#: The reference's records, as a worker sends them back (see autograder.results.read_results).
EXPECTED = {
    "double_cases": [{"result": 2 * SECRET, "args": [SECRET]}, {"result": -6, "args": [-3]}],
    "norm_cases": [{"result": 5.0, "args": [[3.0, 4.0]]}],
}
SCORES: dict[str, tuple[float | None, float]] = {"toy_double_test": (1.0, 1.0)}
SCORES["toy_norm_test"] = (2.0, 2.0)


@pytest.fixture(scope="module")
def probes(tmp_path_factory: pytest.TempPathFactory) -> list[Probe]:
    path = tmp_path_factory.mktemp("probes") / "toy.probes.py"
    path.write_text(PROBES)
    return load(path)


@pytest.fixture
def judge(probes: list[Probe]) -> Judge:
    return Judge(probes={"toy": probes}, expected={"toy": copy.deepcopy(EXPECTED)})


def _cell(grade_id: str, source: str, **flags: Any) -> Any:
    meta = {"grade_id": grade_id, "grade": False, "solution": False, "locked": True, **flags}
    return nbformat.v4.new_code_cell(source, metadata={"nbgrader": meta})


def executed() -> str:
    """An autograded toy notebook as a worker sends it back: both tests passed."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _cell("toy_double_solution", "def double(x):\n    return 2 * x", solution=True),
        _cell("toy_double_test", "assert double(3) == 6", grade=True, points=1),
        _cell("toy_norm_solution", "def norm(v):\n    return sum(x * x for x in v) ** 0.5"),
        _cell("toy_norm_test", "assert norm([3, 4]) == 5", grade=True, points=2),
        nbformat.v4.new_markdown_cell("The end."),
    ]
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="visible tests passed\n")]
    return nbformat.writes(nb)


def notebook(probes: dict[str, Any], **changes: Any) -> NotebookResult:
    fields: dict[str, Any] = dict(
        name="toy",
        status="graded",
        reason="",
        executed=executed(),
        scores=dict(SCORES),
        comments={"toy_double_solution": None},
        probes=probes,
    )
    return NotebookResult(**{**fields, **changes})


def task(*notebooks: NotebookResult) -> TaskResult:
    return TaskResult("s1", "00_toy", "sub", "grading", "graded", "", notebooks=notebooks)


def _agreeing() -> dict[str, Any]:
    return copy.deepcopy(EXPECTED)


def _errors(nb: NotebookResult) -> dict[str, list[Any]]:
    """grade id -> the error outputs of its cell in the executed notebook."""
    assert nb.executed is not None
    parsed = nbformat.reads(nb.executed, as_version=4)
    nbformat.validate(parsed)
    return {
        c.metadata.nbgrader.grade_id: [o for o in c.outputs if o.output_type == "error"]
        for c in parsed.cells
        if "nbgrader" in c.metadata
    }


def test_agreeing_probes_keep_every_point(judge: Judge) -> None:
    given = task(notebook(_agreeing()))
    judged = judge.judge(given)
    assert judged == given
    assert judged.score == 3.0 and judged.max_score == 3.0


def test_a_disagreeing_probe_zeroes_its_grade_cell_and_says_why(judge: Judge) -> None:
    got = _agreeing()
    got["double_cases"][0]["result"] = 0  # wrong on the hidden input only
    given = task(notebook(got))
    before = copy.deepcopy(given)
    (judged,) = judge.judge(given).notebooks
    assert judged.scores == {"toy_double_test": (0.0, 1.0), "toy_norm_test": (2.0, 2.0)}
    assert given == before, "the worker's result itself is left as it was"
    errors = _errors(judged)
    assert [len(errors[g]) for g in sorted(errors)] == [0, 1, 0, 0]  # only double's test cell
    (error,) = errors["toy_double_test"]
    assert error.ename == "HiddenChecksFailed"
    assert "double" in error.evalue and "1 of 2" in error.evalue, error.evalue
    assert "".join(error.traceback).endswith(error.evalue)
    assert judged.executed is not None and str(SECRET) not in judged.executed
    assert str(2 * SECRET) not in judged.executed
    parsed = nbformat.reads(judged.executed, as_version=4)
    assert parsed.cells[1].outputs[0].text == "visible tests passed\n", "earlier outputs stay"


def test_a_probe_guarding_two_cells_zeroes_both(judge: Judge) -> None:
    got = _agreeing()
    got["norm_cases"][0]["result"] = 7.0
    (judged,) = judge.judge(task(notebook(got))).notebooks
    assert judged.scores == {"toy_double_test": (0.0, 1.0), "toy_norm_test": (0.0, 2.0)}
    errors = _errors(judged)
    assert all("norm" in e.evalue for g in SCORES for e in errors[g])
    assert [len(errors[g]) for g in SCORES] == [1, 1]


def test_two_failing_probes_on_one_cell_give_one_output_naming_both(judge: Judge) -> None:
    got = _agreeing()
    got["double_cases"][1]["result"] = 6
    got["norm_cases"][0]["result"] = "five"
    (judged,) = judge.judge(task(notebook(got))).notebooks
    (error,) = _errors(judged)["toy_double_test"]
    assert error.evalue.startswith("double disagrees"), error.evalue
    assert "; norm disagrees" in error.evalue, error.evalue


def test_a_changed_argument_is_a_failure_that_shows_no_value(judge: Judge) -> None:
    got = _agreeing()
    got["double_cases"][0]["args"] = [SECRET + 1]  # the input changed in place
    (judged,) = judge.judge(task(notebook(got))).notebooks
    assert judged.scores["toy_double_test"] == (0.0, 1.0)
    (error,) = _errors(judged)["toy_double_test"]
    assert "arguments after the call" in error.evalue
    assert judged.executed is not None
    assert str(SECRET) not in judged.executed and str(SECRET + 1) not in judged.executed


def test_an_exception_the_student_named_is_not_shown(judge: Judge) -> None:
    """A class name can carry data: the verdict says that the call raised, not what."""
    from autograder.results import Raised

    got = _agreeing()
    got["double_cases"][0] = {"result": Raised(f"Leak_{SECRET}"), "args": [SECRET]}
    (judged,) = judge.judge(task(notebook(got))).notebooks
    assert judged.scores["toy_double_test"] == (0.0, 1.0)
    (error,) = _errors(judged)["toy_double_test"]
    assert error.evalue.startswith("double disagrees"), error.evalue
    assert judged.executed is not None
    assert "Leak_" not in judged.executed and str(SECRET) not in judged.executed


@pytest.mark.parametrize(
    "reason",
    [
        None,
        "no results were written",
        "the notebook's time limit was reached",
        f"Leak_{SECRET}_{2 * SECRET}",  # an exception class the student's code named
    ],
    ids=["absent", "no_results", "time_limit", "student_chosen"],
)
def test_a_probe_without_records_fails_its_cells_in_the_graders_words(
    judge: Judge, reason: str | None
) -> None:
    records: dict[str, Any] = {"norm_cases": copy.deepcopy(EXPECTED["norm_cases"])}
    if reason is not None:
        records["double_cases"] = reason
    (judged,) = judge.judge(task(notebook(records))).notebooks
    assert judged.scores == {"toy_double_test": (0.0, 1.0), "toy_norm_test": (2.0, 2.0)}
    (error,) = _errors(judged)["toy_double_test"]
    assert error.evalue.startswith("double") and len(error.evalue) > len("double: "), error.evalue
    assert judged.executed is not None
    assert str(SECRET) not in judged.executed and "Leak_" not in judged.executed


def test_a_markdown_cell_is_never_given_an_output(judge: Judge) -> None:
    """nbformat allows outputs in code cells only: a written answer's cell stays valid."""
    nb = nbformat.reads(executed(), as_version=4)
    written = nbformat.v4.new_markdown_cell("x", metadata=nb.cells[1].metadata)
    nb.cells.insert(1, written)  # the same grade id on a markdown cell
    got = _agreeing()
    got["double_cases"][0]["result"] = 0
    (judged,) = judge.judge(task(notebook(got, executed=nbformat.writes(nb)))).notebooks
    assert judged.executed is not None
    marked = nbformat.reads(judged.executed, as_version=4)
    nbformat.validate(marked)
    assert "outputs" not in marked.cells[1]
    assert marked.cells[2].outputs[-1].ename == "HiddenChecksFailed"


def test_what_has_nothing_to_judge_comes_back_as_it_came(judge: Judge) -> None:
    nothing = TaskResult("s1", "00_toy", "sub", "grading", "error", "a worker died")
    assert judge.judge(nothing) is nothing
    missing = notebook({}, status="missing", reason="toy.ipynb was not submitted", executed=None)
    missing = replace(missing, scores={"toy_double_test": (0.0, 1.0)})
    other = notebook({}, name="other")  # a notebook without probes
    given = task(missing, other)
    assert judge.judge(given) == given


def test_a_probe_for_a_grade_cell_without_a_score_adds_none(judge: Judge) -> None:
    got = _agreeing()
    got["norm_cases"][0]["result"] = 0.0
    (judged,) = judge.judge(task(notebook(got, scores={"toy_norm_test": (2.0, 2.0)}))).notebooks
    assert judged.scores == {"toy_norm_test": (0.0, 2.0)}


def test_only_the_notebook_with_failing_probes_changes(judge: Judge, probes: list[Probe]) -> None:
    two = Judge(
        probes={"toy": probes, "copy": probes},
        expected={"toy": copy.deepcopy(EXPECTED), "copy": copy.deepcopy(EXPECTED)},
    )
    bad = _agreeing()
    bad["double_cases"][0]["result"] = None
    good = notebook(_agreeing(), name="copy")
    judged = two.judge(task(notebook(bad), good))
    assert [nb.name for nb in judged.notebooks] == ["toy", "copy"]
    assert judged.notebooks[1] == good
    assert judged.score == 2.0 + 3.0 and judged.status == "graded"


# ---- preparing a judge: the reference solution in a real sandboxed kernel ------------------------

TOY_PROBES = """
from autograder.probes import call, probe


@probe("toy_double_test", function="double")
def double_cases():
    yield call(21)
    yield call(-1.5)
"""


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A workspace of the toy course whose double is guarded by a probe, and its grading task."""
    from autograder.grading.submission import Submissions, trusted_notebooks
    from autograder.grading.workspace import prepare
    from tests.synthetic import TOY_ASSIGNMENT, toy_course

    root = tmp_path_factory.mktemp("course")
    course = toy_course(root)
    (course.source / TOY_ASSIGNMENT / "toy.probes.py").write_text(TOY_PROBES)
    ws = prepare(course, tmp_path_factory.mktemp("ws"), TOY_ASSIGNMENT)
    reader = Submissions(ws, TOY_ASSIGNMENT, trusted_notebooks(ws, TOY_ASSIGNMENT), 60)
    return ws.path / "source" / TOY_ASSIGNMENT, reader


def test_prepare_runs_the_reference_and_judges_a_real_submission(toy: Any) -> None:
    from autograder.sandboxed import run_task

    source, reader = toy
    judge = Judge.prepare(source, reader.template)
    assert [p.name for p in judge.probes["toy"]] == ["double_cases"]
    records = judge.expected["toy"]["double_cases"]
    assert [r["result"] for r in records] == [42, -3.0]

    # visible test passed, hidden case wrong: only the probe can tell
    released = json.loads((source.parent.parent / "release" / "00_toy" / "toy.ipynb").read_text())
    for cell in released["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "toy_double_solution":
            cell["source"] = "def double(x):\n    return 6 if x == 3 else 2 * abs(x)"
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "toy_norm_solution":
            cell["source"] = "def norm(v):\n    return math.sqrt(sum(x * x for x in v))"
    submission = replace(
        reader.template, student="s1", notebooks={"toy.ipynb": json.dumps(released)}
    )
    raw = run_task(submission)
    assert raw.status == "graded", raw.reason
    assert raw.score == 3.0, "the visible tests pass in the kernel"
    judged = judge.judge(raw)
    (nb,) = judged.notebooks
    assert nb.scores["toy_double_test"] == (0.0, 1.0)
    assert nb.scores["toy_norm_test"] == (2.0, 2.0)
    (error,) = _errors(nb)["toy_double_test"]
    assert "double disagrees with the reference on 1 of 2" in error.evalue, error.evalue


def test_a_reference_that_fails_its_probes_stops_the_run(toy: Any, tmp_path: Path) -> None:
    source, reader = toy
    broken = tmp_path / "source"
    shutil.copytree(source, broken)
    path = broken / "toy.ipynb"
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["metadata"]["nbgrader"]["grade_id"] == "toy_double_solution":
            cell["source"] = "import os\n\nos._exit(1)  # the reference's answer kills the kernel"
    path.write_text(json.dumps(nb))
    with pytest.raises(ReferenceFailed, match="toy: the reference solution fails [0-9]+ of"):
        Judge.prepare(broken, reader.template)


def test_a_local_pools_worker_runs_the_reference_as_this_process_would(toy: Any) -> None:
    """The reference's probes run in a worker of the local pool (whose zygote has started) give
    the records this process's kernel gives; a pool that broke meanwhile (a submission killed
    its worker) leaves the reference to this process, and the run goes on."""
    from autograder.grading.backends import Pool

    source, reader = toy
    here = Judge.prepare(source, reader.template)
    pool = Pool(2)
    try:
        there = Judge.prepare(source, reader.template, pool.reference)
        assert there.expected == here.expected
        assert there.expected["toy"]["double_cases"][0]["result"] == 42
        pool.pool.shutdown(wait=True)  # as a broken pool is left until it is restarted
        after = Judge.prepare(source, reader.template, pool.reference)
        assert after.expected == here.expected
    finally:
        pool.close()
