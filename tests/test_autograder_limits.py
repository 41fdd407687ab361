"""The time limits charge the student only for the student's code, in CPU time, under any load.

- The instructor's setup cells (before the first answer cell) have a limit of their own: a setup
  cell slowed past the student's cell limit costs the student nothing.
- A cell that burns CPU past its limit is interrupted; a cell that sleeps uses no CPU, and only
  the wall-clock backstop (``clock.backstop``) stops it.
- A kernel that cannot start is the grader's failure: ``error``, never a zero.
- One budget covers a notebook and its probes, in every kernel: a submission that sleeps in every
  cell ends within the budget's wall-clock backstop plus a kernel start.
- A small class gets the same grades on a quiet machine and on one kept busy by processes the
  test starts (the full load test, with the adversarial suite, is tests/test_autograder_load.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from autograder.config import CourseConfig, GradingConfig, available_cores
from autograder.grading.grade import grade
from autograder.messages import TaskResult
from autograder.sandboxed.clock import backstop
from tests.synthetic import course_notebooks, student_notebook, write_source_notebook

ASSIGNMENT = "00_limits"
CELL_TIMEOUT = 2  # CPU seconds per student cell
SETUP_SLEEP = 3  # wall seconds the setup cell takes: past the student's cell limit
BURN = "import time\n_t = time.process_time()\nwhile time.process_time() - _t < {}:\n    pass\n"


def _cells(setup: str, functions: dict[str, str]) -> list[tuple[str, dict, str]]:
    """A setup cell, then for each function its answer cell and a test worth one point."""
    cells: list[tuple[str, dict, str]] = [("limits_setup", dict(locked=True), setup)]
    for name, body in functions.items():
        cells.append(
            (
                f"limits_{name}_solution",
                dict(solution=True),
                f"def {name}(x):\n    ### BEGIN SOLUTION\n    return {body}\n    ### END SOLUTION",
            )
        )
        test = f"assert {name}(3) == {body.replace('x', '3')}"
        cells.append((f"limits_{name}_test", dict(grade=True, locked=True, points=1), test))
    return cells


def _course(root: Path, setup: str, probes: str = "") -> CourseConfig:
    from autograder.authoring.release import release

    source = root / "solutions" / ASSIGNMENT / "limits.ipynb"
    write_source_notebook(source, _cells(setup, {"double": "2 * x", "triple": "3 * x"}))
    if probes:
        source.with_name("limits.probes.py").write_text(probes)
    (root / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    course = CourseConfig(root=root, cell_timeout=CELL_TIMEOUT)
    release(course, [ASSIGNMENT])
    return course


def _students(course: CourseConfig, folder: Path, kinds: dict[str, str]) -> None:
    """One student per entry: a synthetic kind, plus ``extra`` code at the end of each answer
    cell (``{kind}+{extra}`` in ``kinds``' values)."""
    ((source, exercise),) = course_notebooks(course, ASSIGNMENT).values()
    for student, spec in kinds.items():
        kind, _, extra = spec.partition("+")
        nb = student_notebook(kind, source, exercise)
        for cell in nb.cells:
            if extra and cell.metadata.get("nbgrader", {}).get("solution"):
                cell.source += "\n" + extra
        (folder / student / ASSIGNMENT).mkdir(parents=True)
        nbformat.write(nb, folder / student / ASSIGNMENT / "limits.ipynb")


def _grade(course: CourseConfig, workspace: Path, subs: Path, **options: object) -> dict:
    config = GradingConfig(**options)  # type: ignore[arg-type]
    return {r.student: r for r in grade(course, workspace, ASSIGNMENT, subs, config)}


def _outcomes(results: dict[str, TaskResult]) -> dict[str, tuple[str, float]]:
    return {s: (r.status, r.score) for s, r in results.items()}


@dataclass(frozen=True)
class SlowSetup:
    course: CourseConfig
    submissions: Path
    quiet: dict[str, TaskResult]


CLASS = {
    "correct": "correct",
    "partial": "partial",
    "looping": "timeout",  # the last answer cell then loops forever: interrupted
    "heavy": "correct+" + BURN.format(CELL_TIMEOUT / 4),  # correct, and busy in every cell
    "sleeper": "correct+" + f"import time\ntime.sleep({CELL_TIMEOUT + 1})",  # no CPU used
}


@pytest.fixture(scope="module")
def slow_setup(tmp_path_factory: pytest.TempPathFactory) -> SlowSetup:
    root = tmp_path_factory.mktemp("course")
    course = _course(root, f"import math\nimport time\n\ntime.sleep({SETUP_SLEEP})")
    subs = tmp_path_factory.mktemp("subs")
    _students(course, subs, CLASS)
    quiet = _grade(course, tmp_path_factory.mktemp("quiet"), subs, workers=2)
    return SlowSetup(course, subs, quiet)


def test_a_slow_setup_cell_costs_the_student_nothing(slow_setup: SlowSetup) -> None:
    """The setup cell takes longer than a student cell may: a correct submission scores full."""
    assert _outcomes(slow_setup.quiet)["correct"] == ("graded", 2.0)
    assert slow_setup.quiet["correct"].reason == ""
    assert _outcomes(slow_setup.quiet)["partial"] == ("graded", 1.0)


def test_a_cpu_hog_is_interrupted_and_a_sleeper_is_not(slow_setup: SlowSetup) -> None:
    looping = slow_setup.quiet["looping"]
    assert (looping.status, looping.score) == ("timed_out", 2.0)  # both functions exist
    assert f"limits_triple_solution) after {CELL_TIMEOUT} s of CPU time" in looping.reason
    # sleeping past the CPU limit uses none; the heavy one stays under it in every cell
    assert _outcomes(slow_setup.quiet)["sleeper"] == ("graded", 2.0)
    assert _outcomes(slow_setup.quiet)["heavy"] == ("graded", 2.0)


def test_the_same_grades_on_a_loaded_machine(slow_setup: SlowSetup, tmp_path: Path) -> None:
    """Every core kept busy twice over by processes this test starts, and stops."""
    burn = "import time\nend = time.monotonic() + 600\nwhile time.monotonic() < end:\n    pass\n"
    burners = [subprocess.Popen([sys.executable, "-c", burn]) for _ in range(2 * available_cores())]
    try:
        loaded = _grade(slow_setup.course, tmp_path, slow_setup.submissions, workers=2)
    finally:
        for p in burners:
            p.kill()
            p.wait()
    assert _outcomes(loaded) == _outcomes(slow_setup.quiet)


def test_a_kernel_that_cannot_start_is_an_error_not_a_zero(
    slow_setup: SlowSetup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tmp_path / "jupyter" / "kernels" / "broken"
    spec.mkdir(parents=True)
    argv = ["/bin/sh", "-c", "exit 3", "{connection_file}"]
    spec.joinpath("kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "Broken", "language": "python"})
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    course = CourseConfig(
        root=slow_setup.course.root, cell_timeout=CELL_TIMEOUT, kernel_name="broken"
    )
    subs = tmp_path / "subs"
    _students(course, subs, {"correct": "correct"})
    for attempt in ("first", "rerun"):
        (result,) = _grade(course, tmp_path / "ws", subs, workers=1).values()
        assert (result.status, result.score) == ("error", 0.0), attempt
        assert "the kernel failed before the first answer cell" in result.reason, result.reason
        assert "twice, each time in a fresh kernel" in result.reason
        assert not result.skipped, "an error is not recorded: a rerun tries again"


NOTEBOOK_TIMEOUT = 4
PROBES = """\
from autograder.probes import call, probe


@probe("limits_double_test", function="double")
def double_hidden():
    yield call(-1.5)


@probe("limits_triple_test", function="triple")
def triple_hidden():
    yield call(0.5)
"""


def test_one_budget_covers_the_notebook_and_its_probes(tmp_path: Path) -> None:
    """A submission that sleeps just under the cell's wall-clock backstop in every answer cell
    and every call ends within the notebook's backstop, plus kernel start and setup."""
    course = _course(tmp_path / "course", "import time\n\nimport torch", PROBES)
    nap = f"import time\ntime.sleep({backstop(CELL_TIMEOUT) - 1})"
    sleepy = {"correct": "correct", "sleeper": "correct+" + nap}
    _students(course, tmp_path / "subs", sleepy)
    # every call sleeps too: the probes would sleep if they ran
    (path,) = (tmp_path / "subs" / "sleeper").rglob("*.ipynb")
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        cell.source = cell.source.replace("return ", f"{nap.replace(chr(10), '; ')}; return ")
    nbformat.write(nb, path)
    results = _grade(course, tmp_path / "ws", tmp_path / "subs", notebook_timeout=NOTEBOOK_TIMEOUT)
    assert _outcomes(results)["correct"] == ("graded", 2.0), results["correct"].reason
    sleeper = results["sleeper"]
    assert sleeper.status == "timed_out" and sleeper.score == 0.0
    assert f"the notebook ran past its {NOTEBOOK_TIMEOUT} s limit" in sleeper.reason
    # one kernel start and a torch import on top of the budget's backstop, not a second budget
    assert sleeper.seconds_total < backstop(NOTEBOOK_TIMEOUT) + 20, sleeper.seconds_total
