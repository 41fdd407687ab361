"""A part of the adversarial suite, graded while every core is kept busy: the same outcomes.

The attacks whose outcome hangs on time (a loop cut at the cell limit, a daemon that sleeps, a
probe call that rewrites an earlier output) and two integrity ones, with the honest student, are
graded by ONE ``grade_run`` under ``tests.test_autograder_load.busy`` (two CPU burners per core
and a memory thrasher), with the suite's limits. Each is then checked by the suite's own tests
(``test_adversarial``), called on this batch.
"""

from __future__ import annotations

import time
import uuid

import nbformat
import pytest

from autograder.config import CourseConfig, GradingConfig
from autograder.grading.grade import grade_run
from autograder.grading.workspace import Workspace
from autograder.messages import RECORDED
from tests.adversarial import attacks as A
from tests.adversarial import test_adversarial as suite
from tests.adversarial.host import Listener, host_addresses
from tests.conftest import ROOT
from tests.test_autograder_load import busy

#: NOTE: the daemon (a sleep), not the fork bomb: under this load the bomb's submission alone
#: took 235 s of a worker's time (its probes rerun in fresh kernels, each bombed again), and
#: infinite_loop, which uses its notebook's whole CPU budget, already takes the longest.
CHOSEN = ["infinite_loop", "display_leak", "daemon", "test_cell_pass", "duplicate_cells"]
ATTACKS = [a for a in A.ATTACKS if a.name in CHOSEN and not (suite.NO_SANDBOX and a.sandbox)]


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> suite.Batch:
    base = tmp_path_factory.mktemp("under-load")
    workspace = base / "workspace"
    course = CourseConfig(root=ROOT, cell_timeout=suite.CELL_TIMEOUT)
    options = GradingConfig(
        workers=2, notebook_timeout=suite.NOTEBOOK_TIMEOUT, isolation=suite.ISOLATION
    )
    token = f"adv{uuid.uuid4().hex[:12]}"
    solution = nbformat.read(course.source / A.ASSIGNMENT / A.NOTEBOOK, as_version=4)
    with Listener() as listener:
        ctx = A.Context(
            root=ROOT,
            workspace=workspace,
            honest=f"honest-{token}",
            token=token,
            host_marker=base / "UNPICKLED",
            port=listener.port,
            host_addresses=host_addresses(),
            probe_names=A.probe_names(suite.PROBES_FILE),
            probes_docstring=A.probes_docstring(suite.PROBES_FILE),
            hidden_line=A.hidden_line(solution, suite.PROBES_FILE),
            exercise=nbformat.read(course.release / A.ASSIGNMENT / A.NOTEBOOK, as_version=4),
            solution=solution,
        )
        submissions = base / "hostile"
        A.write(ctx, submissions, ATTACKS)
        honest = submissions / ctx.honest / A.ASSIGNMENT
        honest.mkdir(parents=True)
        (honest / A.NOTEBOOK).write_text(A.honest(ctx))
        with busy() as load:
            started = time.monotonic()
            run = grade_run(course, workspace, A.ASSIGNMENT, submissions, options)
            seconds = time.monotonic() - started
            assert load.running() == len(load.procs), "a load process ended before the run did"
    results = {r.student: r for r in run.results}
    print(f"\nthe attacks under load: {seconds:.1f} s wall for {len(results)} submissions")
    for student, r in sorted(results.items()):
        print(f"  {student[:24]:24} {r.score:g}/{r.max_score:g} {r.status} {r.seconds_total:.1f} s")
    return suite.Batch(
        ctx=ctx,
        course=course,
        workspace=workspace,
        submissions=submissions,
        honest_first=results.pop(ctx.honest),
        results=results,
        isolation=run.isolation,
        kernels=run.summary.split("kernels: ")[-1],
        seconds=seconds,
        received=list(listener.received),
        gradebook=suite._gradebook(Workspace(workspace, course), [ctx.honest, *results]),
        uids=suite._sandbox_uids(workspace),
    )


@pytest.mark.parametrize("attack", [suite._case(a) for a in A.ATTACKS if a.name in CHOSEN])
def test_attack(batch: suite.Batch, attack: A.Attack) -> None:
    suite.test_attack(batch, attack)


def test_every_submission_got_a_recorded_status(batch: suite.Batch) -> None:
    assert sorted(batch.results) == sorted(a.name for a in ATTACKS)
    assert all(r.status in RECORDED and not r.skipped for r in batch.results.values())


def test_the_honest_student_keeps_full_marks(batch: suite.Batch) -> None:
    suite.test_the_honest_student_graded_earlier_keeps_full_marks(batch)
    suite.test_gradebook_holds_the_scores_the_run_reported(batch)


def test_no_probe_input_reaches_an_earlier_output(batch: suite.Batch) -> None:
    suite.test_no_probe_input_reaches_an_earlier_output(batch)


@suite.needs_sandbox
def test_no_process_left_behind(batch: suite.Batch) -> None:
    suite.test_no_process_left_behind(batch)


def test_the_loop_is_cut_by_its_cpu_limit(batch: suite.Batch) -> None:
    reason = batch.results["infinite_loop"].reason
    assert f"after {suite.CELL_TIMEOUT} s of CPU time" in reason, reason
    assert "(wall clock)" not in reason, reason


def test_under_load_lists_only_attacks_that_exist() -> None:
    assert set(CHOSEN) <= set(A.by_name()), set(CHOSEN) - set(A.by_name())
