"""The backends: this process, a local process pool and a Dask LocalCluster on loopback.

Each gets real grading tasks of the toy course (``tests.synthetic``), read from a real workspace
as ``grade`` reads them. Every task comes back exactly once, as the very object that went in,
with the result a serial run gives; tasks are drawn from the iterator a few at a time; a task
whose kernel kills its worker process is retried and then reported with the status ``error``;
a bug on the grader's side is one task's ``error``, not the run's end; and a closed backend
leaves no process behind.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import nbformat
import psutil
import pytest

from autograder.grading.backends import Backend, Dask, Pool, Serial, backend
from autograder.messages import GradeTask, TaskResult
from tests.synthetic import TOY_ASSIGNMENT, course_notebooks, student_notebook, write_class

#: kind -> points out of 3 (double's test is worth 1, norm's 2)
POINTS = {"correct": 3.0, "partial": 1.0, "wrong": 0.0}

#: An answer that kills the grading worker running its kernel: the kernel's ancestor whose
#: parent is the coordinator (this test process). It counts its runs in a file first.
KILLER = """
def double(x):
    return 2 * x


import os
import signal


def _parent(pid):
    with open(f"/proc/{{pid}}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


def _worker_of(pid):  # a child of the coordinator, or of the forkserver that is one
    with open(f"/proc/{{_parent(pid)}}/cmdline", "rb") as cmdline:
        forkserver = b"forkserver" in cmdline.read()
    return _parent(pid) == {coordinator} or forkserver and _parent(_parent(pid)) == {coordinator}


with open({attempts!r}, "a") as runs:
    runs.write("run\\n")
_worker = os.getpid()
while _parent(_worker) not in ({coordinator}, 0, 1) and not _worker_of(_worker):
    _worker = _parent(_worker)
if _worker_of(_worker):
    os.kill(_worker, signal.SIGKILL)
os._exit(0)
"""


@dataclass(frozen=True)
class Toy:
    tasks: dict[str, GradeTask]  # kind -> its task
    template: GradeTask
    attempts: Path  # one line per run of the killer's kernel


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Toy:
    from autograder.grading.submission import Submissions, trusted_notebooks
    from autograder.grading.workspace import prepare
    from tests.synthetic import toy_course

    course = toy_course(tmp_path_factory.mktemp("course"))
    ws = prepare(course, tmp_path_factory.mktemp("ws"), TOY_ASSIGNMENT)
    submitted = ws.path / "submitted"
    notebooks = course_notebooks(course, TOY_ASSIGNMENT)
    students = write_class(submitted, TOY_ASSIGNMENT, notebooks, list(POINTS))
    reader = Submissions(ws, TOY_ASSIGNMENT, trusted_notebooks(ws, TOY_ASSIGNMENT), 60)
    tasks = {s.rsplit("_", 1)[0]: reader.task(s) for s in students}

    attempts = tmp_path_factory.mktemp("killer") / "attempts"
    source, exercise = notebooks["toy.ipynb"]
    nb = student_notebook("correct", source, exercise)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "toy_double_solution":
            cell.source = KILLER.format(attempts=str(attempts), coordinator=os.getpid())
    folder = submitted / "killer" / TOY_ASSIGNMENT
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / "toy.ipynb")
    # NOTE: without the sandbox, so the kernel sees its worker (bubblewrap gives it a PID
    # namespace of its own, where no worker is in sight)
    tasks["killer"] = replace(reader.task("killer"), isolation="none")

    # a bug on the grader's side: trusted data the worker cannot read
    broken = replace(reader.template.trusted[0], release="{not json")
    tasks["bug"] = replace(tasks["correct"], student="bug", trusted=(broken,))
    return Toy(tasks, reader.template, attempts)


def _refused(toy: Toy, i: int) -> GradeTask:
    """A real task that needs no kernel: a submission refused before grading."""
    return replace(toy.template, student=f"refused_{i}", refused="a symbolic link")


def _check_graded(toy: Toy, outcomes: list[tuple[GradeTask, TaskResult]], kinds: list[str]) -> None:
    """Each task came back once, as the same object, with its own (correct) result."""
    sent = [toy.tasks[k] for k in kinds]
    assert sorted(t.student for t, _ in outcomes) == sorted(t.student for t in sent)
    for task, result in outcomes:
        assert any(task is t for t in sent), "the task object that was sent comes back"
        assert result.student == task.student and result.assignment == TOY_ASSIGNMENT
        assert result.submission_sha256 == task.submission_sha256
        kind = task.student.rsplit("_", 1)[0]
        if kind in POINTS:
            got = (result.status, result.score, result.max_score)
            assert got == ("graded", POINTS[kind], 3), (task.student, result.reason)


def _started_since(before: set[int]) -> set[int]:
    """This process's descendants that are new since ``before``, but those started by one that
    was already there (a module fixture's Dask nanny restarting its worker, and its zygote)."""
    found = set()
    for pid in _ours() - before:
        try:
            if not any(p.pid in before for p in psutil.Process(pid).parents()):
                found.add(pid)
        except psutil.NoSuchProcess:
            continue
    return found


def _live(pids: set[int]) -> set[int]:
    found = set()
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                found.add(pid)
        except psutil.NoSuchProcess:
            continue
    return found


def _ours() -> set[int]:
    """This process's descendants, but multiprocessing's resource tracker (one per process,
    for its whole life)."""
    found = set()
    for child in psutil.Process().children(recursive=True):
        try:
            if "resource_tracker" not in " ".join(child.cmdline()):
                found.add(child.pid)
        except psutil.NoSuchProcess:
            continue
    return found


def _counting(tasks: list[GradeTask], pulled: list[str]) -> Iterator[GradeTask]:
    for task in tasks:
        pulled.append(task.student)
        yield task


# ---- in this process ---------------------------------------------------------------------------


def test_serial_grades_in_order_and_draws_one_task_at_a_time(toy: Toy) -> None:
    runner = backend(1)
    assert isinstance(runner, Serial) and runner.workers == 1
    kinds = list(POINTS)
    pulled: list[str] = []
    outcomes = []
    for task, result in runner.results(_counting([toy.tasks[k] for k in kinds], pulled)):
        assert pulled[-1] == task.student, "no task is drawn before the last one is done"
        outcomes.append((task, result))
    runner.close()
    assert [t.student for t, _ in outcomes] == [toy.tasks[k].student for k in kinds]
    _check_graded(toy, outcomes, kinds)


# ---- a local process pool and a Dask LocalCluster ---------------------------------------------

MAKERS: dict[str, Callable[[], Backend]] = {
    "pool": lambda: backend(2),
    "dask": lambda: backend(1, dask_local=2),
}


@pytest.fixture(scope="module", params=list(MAKERS))
def workers(request: pytest.FixtureRequest) -> Iterator[Backend]:
    runner = MAKERS[request.param]()
    assert isinstance(runner, Pool if request.param == "pool" else Dask)
    assert runner.workers == 2
    yield runner
    runner.close()


def test_workers_return_every_task_once_with_its_result(toy: Toy, workers: Backend) -> None:
    kinds = ["correct", "partial", "wrong"]
    outcomes = list(workers.results(toy.tasks[k] for k in kinds))
    _check_graded(toy, outcomes, kinds)
    assert len({r.worker for _, r in outcomes}) >= 1 and all(r.worker for _, r in outcomes)
    assert all(r.worker.split(":")[1] != str(os.getpid()) for _, r in outcomes), "not in here"


def test_a_bug_on_our_side_is_that_tasks_error_and_grading_goes_on(
    toy: Toy, workers: Backend
) -> None:
    kinds = ["bug", "correct"]
    outcomes = dict((t.student, r) for t, r in workers.results(toy.tasks[k] for k in kinds))
    bug = outcomes[toy.tasks["bug"].student]
    assert (bug.status, bug.notebooks) == ("error", ())
    assert "NotJSONError" in bug.reason, bug.reason
    assert outcomes[toy.tasks["correct"].student].score == 3.0


def test_a_task_that_kills_its_worker_is_retried_then_an_error(toy: Toy, workers: Backend) -> None:
    toy.attempts.unlink(missing_ok=True)
    kinds = ["correct", "killer", "partial"]
    outcomes = list(workers.results(toy.tasks[k] for k in kinds))
    by_student = {t.student: r for t, r in outcomes}
    killer = by_student.pop("killer")
    assert killer.status == "error" and "died" in killer.reason, killer.reason
    assert killer.notebooks == (), "nothing of it is recorded"
    assert len(toy.attempts.read_text().splitlines()) >= 2, "it was tried again"
    _check_graded(toy, [(t, r) for t, r in outcomes if t.student != "killer"], kinds[::2])
    # and the backend still grades afterwards
    ((_, again),) = list(workers.results([toy.tasks["correct"]]))
    assert (again.status, again.score) == ("graded", 3.0)


@pytest.mark.parametrize("kind", list(MAKERS))
def test_tasks_are_drawn_a_few_at_a_time_and_close_ends_every_worker(toy: Toy, kind: str) -> None:
    before = _ours()
    runner = MAKERS[kind]()
    tasks = [_refused(toy, i) for i in range(12)]
    pulled: list[str] = []
    try:
        found = runner.results(_counting(tasks, pulled))
        first, _ = next(found)
        assert len(pulled) <= 2 * runner.workers + 1, f"drew {len(pulled)} tasks at once"
        rest = list(found)
    finally:
        started = _started_since(before)
        runner.close()
    assert sorted(t.student for t, _ in [(first, None), *rest]) == sorted(t.student for t in tasks)
    assert all(r.status == "refused" for _, r in rest)
    assert len(started) >= 2, f"the workers ran in processes of their own: {started}"
    deadline = time.monotonic() + 30
    while _live(started) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [" ".join(psutil.Process(p).cmdline()) for p in _live(started)]
    assert not left, f"a closed backend leaves no process behind: {left}"
