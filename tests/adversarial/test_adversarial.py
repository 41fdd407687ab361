"""Hostile submissions, graded for real: one run grades them all, then one test per attack.

The batch (``attacks/``; the table is in README.md) is graded by ONE ``grade_run`` with two
workers and short limits, in a workspace where an honest student was graded by an earlier run.
Each attack's test checks its exact score and status; the batch-level tests check what no single
score shows: the gradebook, the honest student, secrets in outputs and feedback, a TCP server on
the host that nobody may reach, a marker file that only an unpickler could create, and processes
left behind. Without bubblewrap the attacks that need no sandbox still run (see ``NO_SANDBOX``).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from autograder.config import CourseConfig, GradingConfig
from autograder.grading.grade import grade_run
from autograder.grading.ledger import Ledger
from autograder.grading.workspace import Workspace
from autograder.messages import RECORDED, TaskResult
from tests.adversarial import attacks as A
from tests.adversarial.host import Listener, Process, host_addresses, processes
from tests.conftest import ROOT

#: No bubblewrap here (outside CI, which installs it), or ADVERSARIAL_NO_SANDBOX=1: the batch is
#: only the attacks that need no sandbox, graded under the limits alone, as such a machine grades.
NO_SANDBOX = bool(os.environ.get("ADVERSARIAL_NO_SANDBOX")) or (
    shutil.which("bwrap") is None and not os.environ.get("CI")
)
needs_sandbox = pytest.mark.skipif(
    NO_SANDBOX,
    reason="bubblewrap (Debian package 'bubblewrap') is not installed, or ADVERSARIAL_NO_SANDBOX "
    "is set: this needs the real sandbox (CI installs it, and there these tests always run)",
)
ATTACKS = [a for a in A.ATTACKS if not (NO_SANDBOX and a.sandbox)]
ISOLATION = "limits" if NO_SANDBOX else "auto"

# Seconds per cell: loops are cut after this. A cell here needs under 2 s, but up to 5 s beside
# the fork bomb (which competes for the same cores): keep a margin.
CELL_TIMEOUT = 10
NOTEBOOK_TIMEOUT = 60  # for the notebook, and again for its probes
SANDBOX_UIDS = 200_000  # sandbox users are 200000 + worker pid % 100000 (sandboxed/sandbox.py)
PROBES_FILE = ROOT / "solutions" / A.ASSIGNMENT / "linear_algebra.probes.py"


@dataclass
class Batch:
    ctx: A.Context
    course: CourseConfig
    workspace: Path
    submissions: Path  # the hostile batch, one folder per student
    honest_first: TaskResult  # the honest student, graded by the earlier run
    results: dict[str, TaskResult]  # the hostile batch, by student
    isolation: str
    kernels: str  # the summary's line on how the hostile batch's kernels started
    seconds: float  # the hostile run's wall time
    received: list[tuple[str, str, bytes]]  # what reached the host's server
    gradebook: dict[str, tuple[float, float]]  # student -> (score, max score) after the batch
    uids: set[int]  # the sandbox users this module's runs used (when the grader runs as root)

    def autograded(self, student: str) -> str:
        return (self.workspace / "autograded" / student / A.ASSIGNMENT / A.NOTEBOOK).read_text()

    def printed(self, student: str) -> str:
        """Everything the cells of ``student``'s autograded notebook printed (no sources)."""
        found = []
        for cell in json.loads(self.autograded(student))["cells"]:
            for output in cell.get("outputs", []):
                found.append("".join(output.get("text", "")))
                found.append(output.get("evalue", ""))
                found.append("".join(output.get("data", {}).get("text/plain", "")))
        return "\n".join(found)


def _gradebook(ws: Workspace, students: list[str]) -> dict[str, tuple[float, float]]:
    from nbgrader.api import Gradebook

    with Gradebook(ws.db_url, ws.config().CourseDirectory.course_id) as gb:
        found = {}
        for student in students:
            submission = gb.find_submission(A.ASSIGNMENT, student)
            found[student] = (float(submission.score), float(submission.max_score))
        return found


def _sandbox_uids(workspace: Path) -> set[int]:
    """The sandbox users of the workers that graded in ``workspace`` (see Sandbox.for_worker)."""
    if os.geteuid() != 0:
        return set()
    with Ledger(workspace) as ledger:
        rows = ledger.rows(A.ASSIGNMENT)
    return {SANDBOX_UIDS + int(r.worker.rsplit(":", 1)[1]) % 100_000 for r in rows.values()}


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Batch:
    base = tmp_path_factory.mktemp("adversarial")
    workspace = base / "workspace"
    course = CourseConfig(root=ROOT, cell_timeout=CELL_TIMEOUT)
    options = GradingConfig(workers=2, notebook_timeout=NOTEBOOK_TIMEOUT, isolation=ISOLATION)
    token = f"adv{uuid.uuid4().hex[:12]}"
    solution = nbformat.read(course.source / A.ASSIGNMENT / A.NOTEBOOK, as_version=4)
    with Listener() as listener:
        ctx = A.Context(
            root=ROOT,
            workspace=workspace,
            honest=f"honest-{token}",  # unique: found in the gradebook and ledger only
            token=token,
            host_marker=base / "UNPICKLED",
            port=listener.port,
            host_addresses=host_addresses(),
            probe_names=A.probe_names(PROBES_FILE),
            probes_docstring=A.probes_docstring(PROBES_FILE),
            hidden_line=A.hidden_line(solution, PROBES_FILE),
            exercise=nbformat.read(course.release / A.ASSIGNMENT / A.NOTEBOOK, as_version=4),
            solution=solution,
        )
        honest = base / "honest" / ctx.honest / A.ASSIGNMENT
        honest.mkdir(parents=True)
        (honest / A.NOTEBOOK).write_text(A.honest(ctx))
        first = grade_run(course, workspace, A.ASSIGNMENT, base / "honest", options)

        submissions = base / "hostile"
        A.write(ctx, submissions, ATTACKS)
        started = time.monotonic()
        run = grade_run(course, workspace, A.ASSIGNMENT, submissions, options)
        seconds = time.monotonic() - started
    ws = Workspace(workspace, course)
    students = [ctx.honest, *(a.name for a in ATTACKS)]
    return Batch(
        ctx=ctx,
        course=course,
        workspace=workspace,
        submissions=submissions,
        honest_first=first.results[0],
        results={r.student: r for r in run.results},
        isolation=run.isolation,
        kernels=run.summary.split("kernels: ")[-1],
        seconds=seconds,
        received=list(listener.received),
        gradebook=_gradebook(ws, students),
        uids=_sandbox_uids(workspace),
    )


@needs_sandbox
def test_the_batch_ran_on_warm_kernels_where_this_machine_forks_them(batch: Batch) -> None:
    """Where the grader may fork kernels (root, Linux, bubblewrap), every attack below ran in a
    kernel forked from its worker's zygote: the sandbox's tests are the warm path's tests."""
    from autograder.sandboxed import warm
    from autograder.sandboxed.worker import sandbox

    why = warm.cold_because(sandbox("auto"))
    if why is not None:
        pytest.skip(f"kernels start cold here: {why}")
    assert batch.kernels.startswith("warm") and "cold" not in batch.kernels, batch.kernels
    graded = [r for r in batch.results.values() if r.status != "refused"]
    assert graded and {r.kernels for r in graded} == {"warm"}, {r.kernels for r in graded}


# ---- one test per attack -----------------------------------------------------------------------


def _case(attack: A.Attack) -> object:
    marks = [pytest.mark.xfail(strict=True, reason=attack.bug)] if attack.bug else []
    marks += [needs_sandbox] if attack.sandbox else []
    return pytest.param(attack, id=attack.name, marks=marks)


@pytest.mark.parametrize("attack", [_case(a) for a in A.ATTACKS])
def test_attack(batch: Batch, attack: A.Attack) -> None:
    got = batch.results[attack.name]
    outcome = f"got {got.score:g}/{got.max_score:g} {got.status} ({got.reason or 'no reason'})"
    assert got.max_score == A.TOTAL, outcome
    assert got.status in attack.statuses, outcome
    assert got.score == attack.score, outcome


def _errors(cell: dict) -> list[str]:
    return [o.get("ename", "") for o in cell.get("outputs", []) if o["output_type"] == "error"]


@pytest.mark.parametrize("attack", [_case(a) for a in A.ATTACKS if a.fools], ids=str)
def test_only_the_probes_catch_what_fooled_the_kernel(batch: Batch, attack: A.Attack) -> None:
    """The attack did make those visible tests pass in its kernel (so it is a real attack): their
    only error is the probes' verdict, decided outside the kernel."""
    cells = json.loads(batch.autograded(attack.name))["cells"]
    for short in attack.fools:
        tests = [c for c in cells if A.is_test_of(nbformat.from_dict(c), short)]
        assert tests
        for cell in tests:
            grade_id = cell["metadata"]["nbgrader"]["grade_id"]
            assert _errors(cell) == ["HiddenChecksFailed"], f"{grade_id}: {_errors(cell)}"


# ---- the batch as a whole ----------------------------------------------------------------------


def test_the_run_says_how_its_kernels_were_confined(batch: Batch) -> None:
    """In bubblewrap; or, without it, under the limits alone, and the run says so."""
    if not NO_SANDBOX:
        assert batch.isolation.startswith("bubblewrap"), batch.isolation
        return
    assert batch.isolation.startswith("REDUCED ISOLATION"), batch.isolation
    modes = {r.isolation for r in batch.results.values()}
    assert "limits" in modes and "bwrap" not in modes, modes


def test_every_submission_got_a_recorded_status(batch: Batch) -> None:
    assert sorted(batch.results) == sorted(a.name for a in ATTACKS)
    for student, result in batch.results.items():
        assert result.status in RECORDED, f"{student}: {result.status} ({result.reason})"
        assert not result.skipped, student


def test_every_submission_stays_within_its_time_limits(batch: Batch) -> None:
    """The student's cells of a notebook and its probes share one budget of NOTEBOOK_TIMEOUT CPU
    seconds, whose wall-clock backstop bounds them on a loaded machine; the setup cells of the
    notebook's kernel and of one fresh probe kernel are not charged to the student."""
    from autograder.sandboxed.clock import SETUP_SECONDS, backstop

    # NOTE: a wall-clock bound, so it is the backstop's, not the CPU budget's: under load the
    # CPU seconds stretch, and the grade does not change (tests/test_autograder_load.py).
    limit = backstop(NOTEBOOK_TIMEOUT) + 2 * SETUP_SECONDS
    slow = {s: r.seconds_total for s, r in batch.results.items() if r.seconds_total > limit}
    assert slow == {}


def test_gradebook_holds_the_scores_the_run_reported(batch: Batch) -> None:
    reported = {s: (r.score, r.max_score) for s, r in batch.results.items()}
    assert {s: batch.gradebook[s] for s in reported} == reported


def test_the_honest_student_graded_earlier_keeps_full_marks(batch: Batch) -> None:
    assert (batch.honest_first.status, batch.honest_first.score) == ("graded", A.TOTAL)
    assert batch.gradebook[batch.ctx.honest] == (A.TOTAL, A.TOTAL)
    with Ledger(batch.workspace) as ledger:
        row = ledger.rows(A.ASSIGNMENT)[batch.ctx.honest]
    assert (row.status, row.score) == ("graded", A.TOTAL)
    assert sum(points for _, points in A.FUNCTIONS.values()) == A.TOTAL


@needs_sandbox
def test_no_secret_reaches_outputs_or_feedback(batch: Batch) -> None:
    from autograder.grading.feedback import feedback

    secrets = batch.ctx.secrets()
    printed = batch.printed("read_secrets")
    assert "secrets scan done" in printed, "the scan did not run"
    assert "LEAKED" not in printed, printed
    for student in batch.results:
        path = batch.workspace / "autograded" / student / A.ASSIGNMENT / A.NOTEBOOK
        if path.is_file():
            notebook = path.read_text()
            for what, secret in secrets.items():
                assert secret not in notebook, f"{student}'s autograded notebook shows {what}"
    pages = feedback(Workspace(batch.workspace, batch.course), A.ASSIGNMENT, ["read_secrets"])
    assert pages
    for page in pages:
        text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))
        assert "secrets scan done" in text
        for what, secret in secrets.items():
            assert secret not in text, f"the feedback shows {what}"


def test_no_probe_input_reaches_an_earlier_output(batch: Batch) -> None:
    """The visible tests' calls may rewrite the output (their inputs are public); the probes'
    calls may not: the notebook's outputs are set aside before the first probe."""
    printed = batch.printed("display_leak")
    leaks = [line for line in printed.splitlines() if line.startswith("'DISPLAY-LEAK")]
    visible = "'DISPLAY-LEAK [[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]'"
    assert leaks in ([], [visible]), leaks


def test_the_notebook_never_sees_the_probes_inputs(batch: Batch) -> None:
    """The probes' inputs are written into the sandbox only when the first probe runs."""
    printed = batch.printed("early_inputs")
    assert "PROBE-INPUTS-SEEN 0 []" in printed, printed[-500:]


@needs_sandbox
def test_the_host_server_got_no_connection(batch: Batch) -> None:
    assert batch.received == []
    printed = batch.printed("network")
    assert "network attempts done" in printed and "CONNECTED" not in printed, printed


def test_nobody_unpickled_the_payloads(batch: Batch) -> None:
    assert not batch.ctx.host_marker.exists()
    planted = batch.submissions / "pickle_payloads" / A.ASSIGNMENT / "results.pkl"
    assert planted.is_file()  # the payload was there to be found


@needs_sandbox
def test_the_gradebook_was_not_reachable_from_a_kernel(batch: Batch) -> None:
    printed = batch.printed("forged_results")
    assert "forged results planted" in printed and "TAMPERED" not in printed, printed


def test_input_fails_at_once(batch: Batch) -> None:
    got = batch.results["stdin_input"]
    assert got.status == "graded" and "interrupted" not in got.reason, got.reason
    assert "StdinNotImplementedError" in batch.autograded("stdin_input")


@needs_sandbox
def test_no_process_left_behind(batch: Batch) -> None:
    """No process of the batch survives it: none with its marker (the daemon's argv, the fork
    bomb's command line), and none of the sandbox users its workers ran kernels as. Only those
    users: other graders on the same machine (another test module, a colleague's run) own other
    uids >= 200000 that come and go."""

    def leftovers() -> list[Process]:
        return [p for p in processes() if batch.ctx.token in p.cmdline or p.uid in batch.uids]

    assert "daemon started" in batch.printed("daemon")
    deadline = time.monotonic() + 10
    while leftovers() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert leftovers() == []


def test_a_regrade_gives_identical_results(batch: Batch, tmp_path: Path) -> None:
    chosen = ["noisy_correct", "silenced_errors", "sys_exit"]  # fairness, tampering, resources
    for student in chosen:
        shutil.copytree(batch.submissions / student, tmp_path / student)
    options = GradingConfig(
        workers=2, notebook_timeout=NOTEBOOK_TIMEOUT, force=True, isolation=ISOLATION
    )
    again = grade_run(batch.course, batch.workspace, A.ASSIGNMENT, tmp_path, options)
    assert not any(r.skipped for r in again.results)
    first = {s: (batch.results[s].score, batch.results[s].status) for s in chosen}
    lost = {r.student: _lost(r) for r in again.results} | {
        s: _lost(batch.results[s]) for s in chosen
    }
    assert {r.student: (r.score, r.status) for r in again.results} == first, lost


def _lost(result: TaskResult) -> dict[str, str]:
    """Grade id -> why the cell lost points (its errors, or the probes' reasons), for a message."""
    why: dict[str, str] = {}
    for nb in result.notebooks:
        cells = {
            c["metadata"].get("nbgrader", {}).get("grade_id"): c
            for c in (json.loads(nb.executed)["cells"] if nb.executed else [])
        }
        for grade_id, (got, most) in nb.scores.items():
            if (got or 0.0) < most:
                errors = [
                    f"{o.get('ename')}: {o.get('evalue', '')[:300]}"
                    for o in cells.get(grade_id, {}).get("outputs", [])
                    if o.get("output_type") == "error"
                ]
                why[grade_id] = "; ".join(errors) or nb.reason or "no error shown"
        for probe, records in nb.probes.items():
            if isinstance(records, str):
                why[f"probe {probe}"] = records[:300]
    return why


# ---- the catalogue itself ----------------------------------------------------------------------


def test_points_per_function_are_what_the_attacks_assume() -> None:
    exercise = nbformat.read(ROOT / "exercises" / A.ASSIGNMENT / A.NOTEBOOK, as_version=4)
    for short, (_, points) in A.FUNCTIONS.items():
        tests = [c for c in exercise.cells if A.is_test_of(c, short)]
        assert sum(float(c.metadata.nbgrader["points"]) for c in tests) == points, short


def test_readme_lists_every_attack() -> None:
    readme = (Path(__file__).parent / "README.md").read_text()
    assert A.readme_table() in readme, "regenerate: python -m tests.adversarial.attacks"
