"""Grades do not depend on load: one small class graded quietly, then with every core kept busy.

The class is four submissions of chapter 01 (15 points): the reference answers; a partial one
(two functions WRONG); one whose first answer cell loops (``while True``, interrupted at the cell
limit, so matmul_broadcast is never defined); and a correct one whose first answer cell spends a
few seconds of CPU on honest work, under its 10 s limit but past 10 s of wall-clock time on a
loaded machine. Both runs use real kernels in the real sandbox, the local pool with two workers
and the adversarial suite's short limits, so that load would show if it mattered. The loaded run
is graded while ``busy`` keeps two CPU burners per core and one memory thrasher running: each
ends by itself after ``BURN_SECONDS`` should this test die, and the test stops them all.

``-s`` shows the wall times and load averages of both runs (the figures issue 11 asks for).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from autograder.config import CourseConfig, GradingConfig
from autograder.grading.grade import grade_run
from autograder.messages import TaskResult
from tests.adversarial import attacks as A
from tests.adversarial.attacks import kit
from tests.adversarial.test_adversarial import CELL_TIMEOUT, NOTEBOOK_TIMEOUT
from tests.conftest import ROOT

BURN_SECONDS = 600  # a burner's own end, in case the test dies before it stops them
THRASH_BYTES = 256 * 2**20  # what the memory thrasher rewrites, over and over

BURNER = """\
import time
end = time.monotonic() + {seconds}
while time.monotonic() < end:
    pass
"""
THRASHER = """\
import time
end = time.monotonic() + {seconds}
block, chunk = bytearray({size}), bytes(2**20)
view = memoryview(block)
while time.monotonic() < end:
    for start in range(0, len(block), len(chunk)):
        view[start : start + len(chunk)] = chunk
"""

#: Honest but slow: about 3 s of CPU at the top of the first answer cell, the same work whatever
#: the load (a table computed once), so its CPU time stays under the 10 s cell limit while its
#: wall-clock time on a loaded machine does not.
HEAVY = "_table = sum(i * i for i in range(50_000_000))  # slow, but honest\n"
LOOP = "while True:\n    pass\n"

#: Student -> (score, status) expected in both runs.
EXPECTED = {
    "correct": (15.0, "graded"),
    "partial": (10.0, "graded"),  # broadcast_shape (3) and affine_apply (2) WRONG
    "loops": (12.0, "timed_out"),  # matmul_broadcast (3) never defined
    "heavy": (15.0, "graded"),
}


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass
class Load:
    """The processes that keep the machine busy."""

    procs: list[subprocess.Popen[bytes]]

    def running(self) -> int:
        return sum(p.poll() is None for p in self.procs)

    def cpu_seconds(self) -> float:
        """CPU seconds the load has used so far (Linux's /proc; 0 where it does not say)."""
        total = 0.0
        for p in self.procs:
            try:
                stat = Path(f"/proc/{p.pid}/stat").read_bytes()
            except OSError:
                continue
            fields = stat[stat.rfind(b")") + 2 :].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total


@contextmanager
def busy(seconds: int = BURN_SECONDS) -> Iterator[Load]:
    """Two pure-CPU burners per core and one process that rewrites 256 MiB over and over, each
    ending by itself after ``seconds``; all killed on the way out."""
    procs: list[subprocess.Popen[bytes]] = []
    programs = [BURNER.format(seconds=seconds)] * (2 * cores())
    programs.append(THRASHER.format(seconds=seconds, size=THRASH_BYTES))
    try:
        for program in programs:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", program],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        time.sleep(1)  # let them reach their loops before anything is measured
        yield Load(procs)
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait(timeout=30)


def context(workspace: Path) -> kit.Context:
    """What the kit's builders need (only the exercise and its reference answers here)."""
    course = CourseConfig(root=ROOT)
    return kit.Context(
        root=ROOT,
        workspace=workspace,
        honest="",
        token=f"load{uuid.uuid4().hex[:12]}",
        host_marker=workspace / "UNUSED",
        port=0,
        host_addresses=(),
        probe_names=(),
        probes_docstring="",
        hidden_line="",
        exercise=nbformat.read(course.release / A.ASSIGNMENT / A.NOTEBOOK, as_version=4),
        solution=nbformat.read(course.source / A.ASSIGNMENT / A.NOTEBOOK, as_version=4),
    )


def write_class(ctx: kit.Context, folder: Path) -> None:
    notebooks = {
        "correct": kit.correct(ctx),
        "partial": kit.text(kit.notebook(ctx, wrong=("broadcast", "affine"))),
        "loops": kit.correct(ctx, LOOP),
        "heavy": kit.correct(ctx, HEAVY),
    }
    for student, text in notebooks.items():
        target = folder / student / A.ASSIGNMENT
        target.mkdir(parents=True)
        (target / A.NOTEBOOK).write_text(text)


@dataclass(frozen=True)
class Run:
    results: dict[str, TaskResult]
    seconds: float  # wall time of the grade run
    load_average: tuple[float, float, float]  # os.getloadavg() as the run started
    busy_cpu: float  # CPU seconds the test's own load used during the run (0 for the quiet one)
    busy_left: int  # the test's load processes still running as the run ended

    def grades(self) -> dict[str, tuple[str, dict[str, tuple[float, float]]]]:
        """Student -> (status, grade id -> (points, max points))."""
        return {s: (r.status, r.scores) for s, r in self.results.items()}


def _grade(base: Path, submissions: Path, load: Load | None) -> Run:
    course = CourseConfig(root=ROOT, cell_timeout=CELL_TIMEOUT)
    options = GradingConfig(workers=2, notebook_timeout=NOTEBOOK_TIMEOUT, isolation="auto")
    average, cpu = os.getloadavg(), load.cpu_seconds() if load else 0.0
    started = time.monotonic()
    run = grade_run(course, base / "workspace", A.ASSIGNMENT, submissions, options)
    seconds = time.monotonic() - started
    return Run(
        results={r.student: r for r in run.results},
        seconds=seconds,
        load_average=average,
        busy_cpu=load.cpu_seconds() - cpu if load else 0.0,
        busy_left=load.running() if load else 0,
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    base = tmp_path_factory.mktemp("load")
    submissions = base / "class"
    write_class(context(base), submissions)
    quiet = _grade(base / "quiet", submissions, None)
    with busy() as load:
        loaded = _grade(base / "loaded", submissions, load)
    return {"quiet": quiet, "loaded": loaded}


def test_grades_are_the_same_quiet_and_loaded(runs: dict[str, Run]) -> None:
    for name, run in runs.items():
        print(
            f"\n{name}: {run.seconds:.1f} s wall for {len(run.results)} submissions, load average "
            f"{run.load_average[0]:.1f} at the start ({cores()} cores)"
            + (
                f"; the test's load used {run.busy_cpu:.0f} CPU s "
                f"({run.busy_cpu / run.seconds:.2f} cores on average)"
                if run.busy_cpu
                else ""
            )
        )
        for student, r in sorted(run.results.items()):
            print(f"  {student:8} {r.score:g}/{r.max_score:g} {r.status} {r.seconds_total:.1f} s")
    assert runs["loaded"].grades() == runs["quiet"].grades()


@pytest.mark.parametrize("name", ["quiet", "loaded"])
def test_each_submission_gets_its_grade(runs: dict[str, Run], name: str) -> None:
    got = {s: (r.score, r.status) for s, r in runs[name].results.items()}
    reasons = {s: r.reason for s, r in runs[name].results.items()}
    assert got == EXPECTED, reasons


@pytest.mark.parametrize("name", ["quiet", "loaded"])
def test_the_loop_is_cut_by_its_cpu_limit(runs: dict[str, Run], name: str) -> None:
    """By the cell's CPU seconds, not the wall-clock backstop, and no other cell is cut."""
    results = runs[name].results
    cut = f"(linear_algebra_matmul_broadcast_solution) after {CELL_TIMEOUT} s of CPU time"
    assert cut in results["loops"].reason, results["loops"].reason
    assert results["loops"].reason.count("interrupted") == 1, results["loops"].reason
    for student in ("correct", "partial", "heavy"):
        assert "interrupted" not in results[student].reason, results[student].reason


def test_the_machine_was_busy_for_the_whole_loaded_run(runs: dict[str, Run]) -> None:
    loaded = runs["loaded"]
    assert loaded.busy_left == 2 * cores() + 1, "a load process ended before the run did"
    # NOTE: only a tenth of a core, though on a machine of its own the load takes most of them:
    # the grader's kernels compete with it for the same cores, and on a shared machine so does
    # everyone else's work (in cgroups of their own, they may leave it well under one core).
    assert loaded.busy_cpu >= 0.1 * loaded.seconds, (loaded.busy_cpu, loaded.seconds)
