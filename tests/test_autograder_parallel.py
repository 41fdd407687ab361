"""Grading in parallel and on Dask gives exactly the serial results; every status is real.

One small class of the toy assignment (``tests.synthetic``) holds one student of each kind:
correct, partial, wrong, erroring, empty, a cell that never ends, a cell that kills its kernel, a
notebook that is not JSON, and a student folder without the notebook. It is graded three times,
in this process, by two local workers and by a two-worker Dask LocalCluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from autograder.cli import main
from autograder.config import CourseConfig, GradingConfig
from autograder.grading.grade import grade
from autograder.grading.ledger import Ledger
from autograder.messages import TaskResult
from tests.synthetic import (
    KINDS,
    TOY_ASSIGNMENT,
    course_notebooks,
    student_notebook,
    toy_course,
    write_class,
)

CELL_TIMEOUT = 2

# kind -> (status, points out of 3): double's test is worth 1, norm's 2.
EXPECTED = {
    "correct": ("graded", 3.0),
    "partial": ("graded", 1.0),  # double solved, norm left as the stub
    "wrong": ("graded", 0.0),
    "erroring": ("graded", 0.0),
    "empty": ("graded", 0.0),
    "timeout": ("timed_out", 3.0),  # the looping cell is interrupted, both functions exist
    "kernel_death": ("kernel_died", 1.0),  # double's test passed before the kernel died
    "invalid": ("invalid_notebook", 0.0),
    "missing": ("missing", 0.0),
}


@dataclass
class ToyClass:
    course: CourseConfig
    submissions: Path
    students: list[str]


@pytest.fixture(scope="module")
def toy_class(tmp_path_factory: pytest.TempPathFactory) -> ToyClass:
    root = tmp_path_factory.mktemp("course")
    course = toy_course(root)
    course = CourseConfig(root=course.root, cell_timeout=CELL_TIMEOUT)
    submissions = tmp_path_factory.mktemp("submissions")
    notebooks = course_notebooks(course, TOY_ASSIGNMENT)
    students = write_class(submissions, TOY_ASSIGNMENT, notebooks, list(KINDS))
    return ToyClass(course, submissions, students)


def _grade(toy: ToyClass, workspace: Path, **options: object) -> dict[str, TaskResult]:
    config = GradingConfig(**options)  # type: ignore[arg-type]
    results = grade(toy.course, workspace, TOY_ASSIGNMENT, toy.submissions, config)
    return {r.student: r for r in results}


def _ledger(workspace: Path) -> dict[str, TaskResult]:
    with Ledger(workspace) as ledger:
        return ledger.rows(TOY_ASSIGNMENT)


def _outcomes(workspace: Path) -> dict[str, tuple[str, dict[str, tuple[float, float]]]]:
    """Student -> (status, points per grade id): what must not depend on the backend."""
    return {s: (r.status, r.scores) for s, r in _ledger(workspace).items()}


@pytest.fixture(scope="module")
def serial(toy_class: ToyClass, tmp_path_factory: pytest.TempPathFactory) -> Path:
    workspace = tmp_path_factory.mktemp("serial")
    _RESULTS[workspace] = _grade(toy_class, workspace, workers=1)
    return workspace


_RESULTS: dict[Path, dict[str, TaskResult]] = {}  # what each module-scoped run returned


def test_every_status_comes_from_a_real_submission(toy_class: ToyClass, serial: Path) -> None:
    rows = _ledger(serial)
    assert sorted(rows) == sorted(toy_class.students), "every submission has a result"
    for student, row in rows.items():
        kind = student.rsplit("_", 1)[0]
        assert (row.status, row.score, row.max_score) == (*EXPECTED[kind], 3.0), (student, row)
        assert bool(row.reason) == (row.status != "graded"), (student, row.reason)
    reasons = {s.rsplit("_", 1)[0]: r.reason for s, r in rows.items()}
    assert f"interrupted cell 3 (toy_norm_solution) after {CELL_TIMEOUT} s" in reasons["timeout"]
    assert "the kernel died in cell 3 (toy_norm_solution)" in reasons["kernel_death"]
    assert "not valid JSON" in reasons["invalid"]
    assert "toy.ipynb was not submitted" in reasons["missing"]


def test_the_gradebook_holds_what_the_ledger_holds(serial: Path) -> None:
    from nbgrader.api import Gradebook

    rows = _ledger(serial)
    with Gradebook(f"sqlite:///{serial / 'gradebook.db'}") as gb:
        for student, row in rows.items():
            submission = gb.find_submission(TOY_ASSIGNMENT, student)
            assert submission.score == row.score, student
            for grade_id, (points, _) in row.scores.items():
                grade_row = gb.find_grade(grade_id, "toy", TOY_ASSIGNMENT, student)
                assert (grade_row.auto_score or 0.0) == points, (student, grade_id)
    autograded = serial / "autograded"
    assert (autograded / "kernel_death_0006" / TOY_ASSIGNMENT / "toy.ipynb").is_file()
    assert not (autograded / "invalid_0007" / TOY_ASSIGNMENT / "toy.ipynb").exists()


def test_two_local_workers_equal_serial(toy_class: ToyClass, serial: Path, tmp_path: Path) -> None:
    _grade(toy_class, tmp_path, workers=2)
    assert _outcomes(tmp_path) == _outcomes(serial)


def test_a_dask_local_cluster_equals_serial(
    toy_class: ToyClass, serial: Path, tmp_path: Path
) -> None:
    results = _grade(toy_class, tmp_path, dask_local=2)
    assert _outcomes(tmp_path) == _outcomes(serial)
    workers = {row.worker for row in _ledger(tmp_path).values()}
    assert len(workers) == 2, f"both Dask workers should have graded: {workers}"
    assert all(not r.skipped for r in results.values())
    # the worker plugin gives each Dask worker its zygote: its kernels start as this process's do
    assert _kernels(results) == _kernels(_RESULTS[serial])


def _kernels(results: dict[str, TaskResult]) -> set[str]:
    return {r.kernels for r in results.values() if r.kernels}


def test_serial_and_pool_kernels_are_warm_where_this_machine_forks_them(serial: Path) -> None:
    from autograder.sandboxed import warm
    from autograder.sandboxed.worker import sandbox

    why = warm.cold_because(sandbox("auto"))
    if why is not None:
        pytest.skip(f"kernels start cold here: {why}")
    assert _kernels(_RESULTS[serial]) == {"warm"}


def test_cold_kernels_give_the_warm_grades_and_the_summary_says_why(
    toy_class: ToyClass, serial: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cold path still works: asked for (as where forking is impossible), each submission
    gets a fresh interpreter, the grades are the same, and the summary says so and why."""
    from autograder.grading.grade import grade_run

    monkeypatch.setenv("AUTOGRADER_KERNELS", "cold")
    config = GradingConfig(workers=2)
    run = grade_run(toy_class.course, tmp_path, TOY_ASSIGNMENT, toy_class.submissions, config)
    assert _outcomes(tmp_path) == _outcomes(serial)
    said = {r.kernels for r in run.results if r.kernels}
    assert said == {"cold (AUTOGRADER_KERNELS=cold)"}, said
    assert "kernels: cold (AUTOGRADER_KERNELS=cold)" in run.summary, run.summary


def test_regrading_skips_what_is_unchanged_and_force_regrades(
    toy_class: ToyClass, serial: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    args = ["--course", str(toy_class.course.root), "--cell-timeout", str(CELL_TIMEOUT)]
    args += ["grade", TOY_ASSIGNMENT, "--workspace", str(serial)]
    before = _ledger(serial)

    assert main(args) == 1  # some submissions are not "graded": the exit code says so
    assert _ledger(serial) == before, "a rerun must not regrade unchanged submissions"
    assert f"({len(before)} already graded, skipped)" in capsys.readouterr().out

    # A student resubmits: only that submission is graded again.
    changed = serial / "submitted" / "wrong_0002" / TOY_ASSIGNMENT / "toy.ipynb"
    correct = serial / "submitted" / "correct_0000" / TOY_ASSIGNMENT / "toy.ipynb"
    changed.write_bytes(correct.read_bytes())
    again = grade(toy_class.course, serial, TOY_ASSIGNMENT, None, GradingConfig(workers=2))
    assert [r.student for r in again if not r.skipped] == ["wrong_0002"]
    after = _ledger(serial)
    assert (after["wrong_0002"].status, after["wrong_0002"].score) == ("graded", 3.0)
    assert {s: r for s, r in after.items() if s != "wrong_0002"} == {
        s: r for s, r in before.items() if s != "wrong_0002"
    }

    # --force grades everything again, to the identical outcome.
    forced = grade(
        toy_class.course, serial, TOY_ASSIGNMENT, None, GradingConfig(workers=2, force=True)
    )
    assert not any(r.skipped for r in forced)
    assert _outcomes(serial) == {s: (r.status, r.scores) for s, r in after.items()}


def test_a_notebook_past_its_total_limit_is_cut_off(toy_class: ToyClass, tmp_path: Path) -> None:
    import nbformat

    subs = tmp_path / "subs"
    folder = subs / "slow" / TOY_ASSIGNMENT
    source, exercise = course_notebooks(toy_class.course, TOY_ASSIGNMENT)["toy.ipynb"]
    nb = student_notebook("correct", source, exercise)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            # CPU seconds, not sleep: the limits count the kernel's CPU time
            cell.source += (
                "\n\nimport time\n\n_t = time.process_time()\n"
                "while time.process_time() - _t < 2.5:\n    pass\n"
            )
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / "toy.ipynb")
    course = CourseConfig(root=toy_class.course.root, cell_timeout=30)
    config = GradingConfig(workers=1, notebook_timeout=4)
    (result,) = grade(course, tmp_path / "ws", TOY_ASSIGNMENT, subs, config)
    assert result.status == "timed_out"
    assert "the notebook ran past its 4 s limit" in result.reason
    assert "interrupted cell 3 (toy_norm_solution) after 2 s" in result.reason
    assert result.score == 1.0  # double's test ran in time; norm's cell was cut off


def test_a_run_keeps_what_its_judge_holds_out_of_the_collector_and_gives_it_back(
    toy_class: ToyClass, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a run judges, what the coordinator held once its judge was ready (its imports, the
    reference's records) is frozen, out of the garbage collector's passes (autograder.heap);
    when the run ends, the collector has all of it back."""
    import gc

    from autograder.grading.judge import Judge

    frozen: list[int] = []
    judge = Judge.judge

    def judging(self: Judge, result: TaskResult) -> TaskResult:
        frozen.append(gc.get_freeze_count())
        return judge(self, result)

    monkeypatch.setattr(Judge, "judge", judging)
    one = tuple(s for s in toy_class.students if s.startswith("correct"))
    results = _grade(toy_class, tmp_path / "ws", workers=1, students=one)
    assert [r.status for r in results.values()] == ["graded"]
    assert frozen and min(frozen) > 1000, frozen
    assert gc.get_freeze_count() == 0
