"""The kernel runner (``autograder.sandboxed.kernel``), on small notebooks in real kernels.

Each notebook runs in a fresh IPython kernel without a sandbox (``Sandbox("none")``: the runner
is the same, only the wrapping command differs). The limits are CPU time, so the cells that must
run out of time burn CPU; a cell that only sleeps meets the wall-clock backstop instead.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest

from autograder.sandboxed.clock import (
    PHASES,
    POLL,
    Budget,
    Kernel,
    Stopwatch,
    TimeLimits,
    backstop,
)
from autograder.sandboxed.execute_cells import CELL_OUTPUT_BYTES
from autograder.sandboxed.kernel import Executed, GraderFailure, run_notebook
from autograder.sandboxed.proctree import _sample_by_search, sample
from autograder.sandboxed.sandbox import Sandbox

NONE = Sandbox("none")
BURN = "import time\n_t = time.process_time()\nwhile time.process_time() - _t < {}:\n    pass\n"


def _notebook(*sources: str) -> Any:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Py"}
    return nb


def _run(tmp: Path, nb: Any, limits: TimeLimits, **options: Any) -> Executed:
    cwd = tmp / "cwd"
    cwd.mkdir(exist_ok=True)
    return run_notebook(nb, {"metadata": {"path": str(cwd)}}, "python3", limits, NONE, **options)


def _outputs(run: Executed, index: int) -> list[Any]:
    return run.nb.cells[index].outputs


def _text(run: Executed, index: int) -> str:
    return "".join(o.get("text", "") for o in _outputs(run, index) if o.output_type == "stream")


def _errors(run: Executed, index: int) -> list[str]:
    return [o.ename for o in _outputs(run, index) if o.output_type == "error"]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Executed:
    nb = _notebook(
        "x = 1",
        "1 / 0",
        "while True:\n    pass",
        f"print('y' * {CELL_OUTPUT_BYTES + 2**20})",
        "print('still', x)",
    )
    return _run(tmp_path_factory.mktemp("mixed"), nb, TimeLimits(cell=1, notebook=60))


def test_a_cell_error_is_recorded_not_raised(mixed: Executed) -> None:
    assert 1 in mixed.failed and _errors(mixed, 1) == ["ZeroDivisionError"]
    assert mixed.stopped is None
    assert _text(mixed, 4) == "still 1\n", "the cells after the error still ran"


def test_a_cell_past_its_cpu_limit_is_interrupted_and_marked(mixed: Executed) -> None:
    assert mixed.timed_out == ("cell 2 after 1 s of CPU time",)
    assert 2 in mixed.failed and "CellTimeoutError" in _errors(mixed, 2)
    assert mixed.stopped is None, "an interrupted cell does not stop the notebook"


def test_output_past_the_cap_is_truncated_with_a_note(mixed: Executed) -> None:
    assert mixed.truncated == ("cell 3",)
    text = _text(mixed, 3)
    assert len(text) < CELL_OUTPUT_BYTES + 2**20
    assert "[output truncated: past 2 MB for this cell" in text


def test_displays_are_updated_by_id_and_cleared(tmp_path: Path) -> None:
    """The outputs are read in the reply's loop (``autograder.sandboxed.replies``), and kept
    by nbclient's rules: a display updated by its id from a later cell, a cleared output."""
    nb = _notebook(
        "display('first', display_id='d');",
        "from IPython.display import update_display\n"
        "update_display('second', display_id='d')\nprint('kept')",
        "from IPython.display import clear_output\nprint('gone')\nclear_output()\nprint('after')",
    )
    run = _run(tmp_path, nb, TimeLimits(cell=10, notebook=60))
    assert [o.data["text/plain"] for o in _outputs(run, 0)] == ["'second'"]
    assert _text(run, 1) == "kept\n" and _text(run, 2) == "after\n"
    assert not run.failed and run.stopped is None


def test_a_kernel_message_is_read_only_when_signed_and_new() -> None:
    """``replies.read`` checks what jupyter_client's ``Session.deserialize`` checks."""
    from jupyter_client.session import Session

    from autograder.sandboxed.replies import read

    sender, receiver = Session(key=b"secret"), Session(key=b"secret")
    frames = sender.serialize(sender.msg("stream", {"name": "stdout", "text": "hi"}))
    message = read(receiver, frames)
    assert (message["msg_type"], message["content"]["text"]) == ("stream", "hi")
    with pytest.raises(ValueError, match="Duplicate Signature"):
        read(receiver, frames)  # a replay
    forged = sender.serialize(sender.msg("stream", {"name": "stdout", "text": "hi"}))
    forged[-1] = forged[-1].replace(b"hi", b"ho")
    with pytest.raises(ValueError, match="Invalid Signature"):
        read(receiver, forged)
    with pytest.raises(TypeError, match="malformed"):
        read(receiver, frames[:3])


def test_kernel_messages_are_packed_and_read_by_orjson() -> None:
    """requirements.txt installs orjson, and jupyter_client (the worker's client, and the
    kernel's ipykernel) then packs and reads every message with it."""
    from jupyter_client import session

    assert session.has_orjson, "orjson is not installed: messages cost twice as much to send"
    found = session.Session()
    assert (found.pack, found.unpack) == (session.orjson_packer, session.orjson_unpacker)


def test_a_worker_s_nodes_are_checked_against_nbformat_s_schema_the_faster_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``nodes.install``: each output and probe cell a worker makes is checked by the compiled
    schema alone when it is valid, and refused with nbformat's own error when it is not."""
    from nbformat.v4 import nbbase, new_code_cell, output_from_msg

    from autograder.sandboxed import nodes

    monkeypatch.setattr(nbbase, "validate", nbbase.validate)  # given back after the test
    slow: list[str | None] = []
    original = nodes._ORIGINAL

    def counted(node: Any, ref: str | None = None) -> None:
        slow.append(ref)
        return original(node, ref)

    monkeypatch.setattr(nodes, "_ORIGINAL", counted)
    nodes.install()

    def message(kind: str, **content: Any) -> dict[str, Any]:
        return {"header": {"msg_type": kind}, "content": content}

    valid = [
        message("stream", name="stderr", text="a\nb\n"),
        message("error", ename="AssertionError", evalue="", traceback=["x", "y"]),
        message("display_data", data={"text/plain": "1", "image/png": "iVBOR"}, metadata={}),
        message("execute_result", data={"text/plain": "2"}, metadata={}, execution_count=3),
    ]
    for msg in valid:
        out = output_from_msg(msg)
        assert original(out, out.output_type) is None  # nbformat's own check agrees
    assert new_code_cell("x = 1").source == "x = 1"
    assert slow == [], "a valid node went to jsonschema"
    invalid = [
        message("stream", name="stdout", text=5),
        message("error", ename="E", evalue="", traceback="not a list"),
        message("display_data", data={"text/plain": 5}, metadata={}),
        message("execute_result", data={}, metadata={}, execution_count="3"),
    ]
    for msg in invalid:
        with pytest.raises(nbformat.ValidationError):
            output_from_msg(msg)
    assert len(slow) == len(invalid)  # each refused by nbformat's own check, in its words


def test_the_one_loop_replaces_nbclient_s_own_waits() -> None:
    """The grading executor's waits for a cell are ``OneLoop``'s, and they are the methods that
    nbclient's ``async_execute_cell`` calls: a release of nbclient that renamed them would bring
    its three tasks a cell back unseen (the same behaviour, at a higher cost)."""
    import inspect

    from nbclient import NotebookClient

    from autograder.sandboxed.execute_cells import GradingExecute
    from autograder.sandboxed.replies import OneLoop

    calls = inspect.getsource(NotebookClient.async_execute_cell)
    for name in ("_async_poll_for_reply", "_async_poll_output_msg", "_async_poll_kernel_alive"):
        assert name in calls, f"nbclient's async_execute_cell no longer calls {name}"
        assert name in vars(NotebookClient), f"nbclient no longer defines {name}"
        assert getattr(GradingExecute, name) is vars(OneLoop)[name], name


def test_the_notebook_budget_stops_the_cells_after_it(tmp_path: Path) -> None:
    nb = _notebook("x = 1", "while True:\n    pass", "print('never')", "y = 2")
    budget = Budget(1)
    run = _run(tmp_path, nb, TimeLimits(cell=1, notebook=1), budget=budget)
    assert run.timed_out == ("cell 1 after 1 s of CPU time",)
    assert run.stopped == ("timed_out", "the notebook ran past its 1 s limit")
    assert (run.stopped_at, run.expired) == (2, True)
    for index in (2, 3):
        assert _errors(run, index) == ["NotRun"], index
        assert "ran past its 1 s limit" in _outputs(run, index)[0].evalue
    assert _text(run, 2) == ""
    # the budget is the notebook's, whatever kernel its cells run in: a second one runs nothing
    again = _run(tmp_path, _notebook("print('never')"), TimeLimits(1, 1), budget=budget)
    assert (again.stopped_at, again.expired, _errors(again, 0)) == (0, True, ["NotRun"])


def test_a_kernel_that_dies_marks_the_cells_after_it(tmp_path: Path) -> None:
    nb = _notebook("x = 1", "import os\nos._exit(1)", "print(x)")
    run = _run(tmp_path, nb, TimeLimits(cell=10, notebook=60))
    assert run.stopped == ("kernel_died", "the kernel died in cell 1")
    assert run.stopped_at == 1 and not run.expired
    assert _errors(run, 1) == ["NotRun"] and _errors(run, 2) == ["NotRun"]
    assert _errors(run, 0) == []


def test_a_kernel_that_ignores_the_interrupt_is_stopped(tmp_path: Path) -> None:
    """Once interrupted, it goes on using CPU: the cells after it do not run."""
    stubborn = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"
    run = _run(tmp_path, _notebook(stubborn, "print('never')"), TimeLimits(cell=1, notebook=60))
    why = "cell 0 ran past its time limit and the kernel did not answer the interrupt"
    assert run.stopped == ("timed_out", why) and run.stopped_at == 0
    assert _errors(run, 1) == ["NotRun"]


def test_the_exchange_phases_come_in_order_and_the_snapshot_before_the_probes(
    tmp_path: Path,
) -> None:
    private = tmp_path / "private"
    secret = private / "secret"
    phases: list[tuple[str, bool]] = []

    def exchange(folder: Path, phase: str) -> None:
        assert folder == private
        phases.append((phase, secret.exists()))
        if phase == "reveal":
            secret.write_text("revealed")

    nb = _notebook(
        "print('notebook')",
        f"import os\nprint(os.path.exists({str(secret)!r}))",
        f"print(open({str(secret)!r}).read())\nraise ValueError('a probe fails')",
    )
    run = _run(tmp_path, nb, TimeLimits(10, 60), exchange=exchange, private=private, probe_from=2)
    assert phases == [("before", False), ("reveal", False), ("after", True)]
    assert _text(run, 1) == "False\n", "no notebook cell sees what is revealed to the probes"
    assert _text(run, 2) == "revealed\n"
    assert run.snapshot is not None
    assert run.snapshot.outputs == [c.outputs for c in run.nb.cells[:2]]
    assert run.snapshot.failed == set() and run.failed == {2}
    assert not private.exists(), "the private folder goes once the kernel has ended"


def test_setup_cells_are_not_charged_to_the_student(tmp_path: Path) -> None:
    """A setup cell that burns more CPU than a student cell may gets its own limit."""
    nb = _notebook(BURN.format(1.5), "print('student')")
    budget = Budget(1)
    run = _run(tmp_path, nb, TimeLimits(cell=1, notebook=1), budget=budget, student_from=1)
    assert run.timed_out == () and run.stopped is None and run.failed == set()
    assert _text(run, 1) == "student\n"
    assert budget.cpu > 0.5, "only the student's cell was charged"


def test_each_kernel_records_what_each_phase_cost(tmp_path: Path) -> None:
    """The budget adds up the CPU time of the setup cells, the student's cells, the probes'
    cells, the kernel's start-up and the sandbox's processes (here the disk guard alone), for
    the benchmark's breakdown."""
    nb = _notebook(BURN.format(0.3), BURN.format(0.6), BURN.format(0.9))
    budget = Budget(60)
    _run(tmp_path, nb, TimeLimits(10, 60), budget=budget, student_from=1, probe_from=2)
    costs = budget.costs
    assert set(costs) == set(PHASES), costs
    for phase, least in [("setup cells", 0.3), ("cells", 0.6), ("probes", 0.9)]:
        assert least - 0.02 <= costs[phase] < least + 0.3, (phase, costs)  # clock ticks
    assert 0.1 < costs["kernel start"] < 10 and 0 < costs["sandbox"] < 1, costs


def test_a_setup_cell_past_its_limit_is_the_graders_failure(tmp_path: Path) -> None:
    starts: list[str] = []

    def exchange(folder: Path, phase: str) -> None:
        starts.append(phase)

    nb = _notebook("import time\ntime.sleep(30)", "x = 1")
    limits = TimeLimits(cell=1, notebook=1, setup=1)
    with pytest.raises(GraderFailure, match="cell 0, a setup cell, ran past its 1 s limit"):
        _run(tmp_path, nb, limits, exchange=exchange, student_from=1)
    assert starts == ["before", "before"], "retried once, in a fresh kernel"


def test_a_kernel_that_cannot_start_is_the_graders_failure(tmp_path: Path) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    with pytest.raises(GraderFailure, match="failed before the first answer cell.*twice"):
        run_notebook(
            _notebook("x = 1"),
            {"metadata": {"path": str(cwd)}},
            "no-such-kernel",
            TimeLimits(10, 60),
            NONE,
        )


def _cpu(pid: int) -> float | None:
    found = sample(pid)
    return None if found is None else found.cpu


def test_cpu_time_counts_the_whole_process_tree() -> None:
    """A parent that only waits is charged for the CPU its child burned."""
    child = f"import subprocess, sys\nsubprocess.run([sys.executable, '-c', {BURN.format(0.5)!r}])"
    parent = subprocess.Popen(
        [sys.executable, "-c", f"{child}\nimport time\ntime.sleep(60)"],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        used = _cpu(parent.pid)
        while (used or 0) < 0.5 and time.monotonic() < deadline:
            time.sleep(0.1)
            used = _cpu(parent.pid)
        assert used is not None and used >= 0.5
    finally:
        parent.kill()
        parent.wait()
    assert _cpu(parent.pid) is None, "a process that is gone has no time"
    assert _cpu(os.getpid()) is not None


def test_the_tree_is_found_through_every_thread_as_a_search_of_proc_finds_it() -> None:
    """``sample`` walks each thread's ``children`` file: a child that a second thread started,
    and that child's own child, are in the tree, as a pass over all of ``/proc`` finds them."""
    sleeper = "import time; time.sleep(60)"
    middle = f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {sleeper!r}])"
    middle += "; time.sleep(60)"
    code = (
        "import subprocess, sys, threading, time\n"
        f"def start():\n    subprocess.Popen([sys.executable, '-c', {middle!r}]); time.sleep(60)\n"
        "threading.Thread(target=start).start()\ntime.sleep(60)"
    )
    parent = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 60
        found = sample(parent.pid)
        while (found is None or len(found.cpus) < 3) and time.monotonic() < deadline:
            time.sleep(0.1)
            found = sample(parent.pid)
        searched = _sample_by_search(parent.pid)
        assert found is not None and searched is not None
        assert len(found.cpus) == 3 and set(found.cpus) == set(searched.cpus)
        assert abs(found.cpu - searched.cpu) < 0.1
    finally:
        left = sample(parent.pid)
        for pid in left.cpus if left is not None else ():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        parent.wait()


def _pinned(code: str) -> subprocess.Popen:
    """A process on CPU 0 only."""
    return subprocess.Popen(
        [sys.executable, "-c", code], preexec_fn=lambda: os.sched_setaffinity(0, {0})
    )


def test_the_wall_clock_leaves_out_the_waits_for_a_cpu() -> None:
    """A busy process that shares one CPU with three others is charged about its CPU time on
    the wall clock too, not the time it stood waiting: the backstop does not depend on load."""
    forever = "while True:\n    pass\n"
    others = [_pinned(forever) for _ in range(3)]
    busy = _pinned(forever)
    try:
        watch = Stopwatch(Kernel(busy.pid, count_root=True), None, 60)
        time.sleep(3)
        cpu, wall = watch.used()
        elapsed = time.monotonic() - watch.started
    finally:
        for p in [busy, *others]:
            p.kill()
            p.wait()
    assert cpu < 0.5 * elapsed, "the busy process did share its CPU"
    assert wall < cpu + 0.25 * elapsed, (cpu, wall, elapsed)
    sleeper = subprocess.Popen(
        [sys.executable, "-c", "import time; print('ready', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE,
    )
    try:
        assert sleeper.stdout is not None and sleeper.stdout.readline() == b"ready\n"
        watch = Stopwatch(Kernel(sleeper.pid, count_root=True), None, 60)
        time.sleep(1)
        assert watch.used()[1] >= 0.9, "a process that sleeps waits for no CPU"
    finally:
        sleeper.kill()
        sleeper.wait()


HANDOFF = """
import queue, threading, time
jobs = queue.Queue()
def helper():
    while True:
        done = jobs.get()
        _t = time.process_time()
        while time.process_time() - _t < 0.002:
            pass
        done.set()
threading.Thread(target=helper, daemon=True).start()
print("ready", flush=True)
while True:
    done = threading.Event()
    jobs.put(done)
    done.wait()
"""


def _watched(code: str, others: int, seconds: float) -> tuple[float, float, float]:
    """(CPU, wall, elapsed) seconds of a process running ``code`` on CPU 0 beside ``others``
    busy processes, looked at every :data:`POLL` seconds for ``seconds``, as a cell is."""
    forever = "while True:\n    pass\n"
    crowd = [_pinned(forever) for _ in range(others)]
    watched = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        preexec_fn=lambda: os.sched_setaffinity(0, {0}),
    )
    try:
        assert watched.stdout is not None and watched.stdout.readline() == b"ready\n"
        watch = Stopwatch(Kernel(watched.pid, count_root=True), None, 60)
        while time.monotonic() - watch.started < seconds:
            time.sleep(POLL)
            cpu, wall = watch.used()
        return cpu, wall, time.monotonic() - watch.started
    finally:
        for p in [watched, *crowd]:
            p.kill()
            p.wait()


def test_a_thread_that_waits_on_another_is_not_charged_that_ones_wait() -> None:
    """A kernel's main thread that flushes its output sleeps until its I/O thread has sent it:
    on a busy CPU, that thread's wait is left out of the wall-clock time too."""
    cpu, wall, elapsed = _watched(HANDOFF, 3, 3)
    assert cpu < 0.5 * elapsed, "the process did share its CPU"
    assert wall < cpu + 0.25 * elapsed, (cpu, wall, elapsed)


def test_waits_side_by_side_buy_no_sleep_past_the_backstop() -> None:
    """Eight threads that wait for one CPU side by side (and then sleep on) wait about eight
    times as long as the time that passes; a cell that then sleeps is charged its sleep in
    full."""
    spin_then_sleep = (
        "import hashlib, threading, time\nprint('ready', flush=True)\nend = time.monotonic() + 2\n"
        "def spin():\n    while time.monotonic() < end:\n"
        "        hashlib.sha256(bytes(2**20))  # without the GIL: the threads wait side by side\n"
        "    time.sleep(60)\n"
        "for _ in range(8):\n    threading.Thread(target=spin, daemon=True).start()\n"
        "time.sleep(60)\n"
    )
    cpu, wall, elapsed = _watched(spin_then_sleep, 1, 5)
    assert wall >= elapsed - 2.5, (cpu, wall, elapsed)


def test_the_backstop_is_generous() -> None:
    assert backstop(10) == 40 and backstop(1) == 13
    assert Budget(4).cell_limits(2) == (2, 16)
    spent = Budget(4)
    spent.charge(3.5, 5)
    assert spent.cell_limits(2) == (1, 16) and not spent.spent
    spent.charge(0.5, 0)
    assert spent.spent


def test_a_noisy_cell_on_a_starved_machine_keeps_its_outputs(tmp_path: Path) -> None:
    """This process, its kernel and 60 busy processes share one CPU: the cell's many outputs
    reach the client late, yet the cell is neither cut off nor marked. The busy processes start
    burning at the notebook's setup cell, once the kernel is up: a kernel's start-up is no
    cell's, and on a CPU shared 62 ways it would take minutes."""
    noisy = (
        "import sys, warnings\nfor i in range(600):\n    print('noise', i, file=sys.stderr)\n"
        "    warnings.warn(f'w{i}')\n    print('out', i, flush=True)\n"
    )
    go = tmp_path / "go"
    wait = f"import os, time\nwhile not os.path.exists({str(go)!r}):\n    time.sleep(0.05)\n"
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {0})
    burners = [_pinned(wait + "while True:\n    pass\n") for _ in range(60)]
    try:
        nb = _notebook(f"open({str(go)!r}, 'w').close()", noisy, "print('next')")
        run = _run(tmp_path, nb, TimeLimits(10, 60), student_from=1)
    finally:
        os.sched_setaffinity(0, before)
        for p in burners:
            p.kill()
            p.wait()
    assert go.exists(), "the busy processes burned from the setup cell on"
    assert (run.stopped, run.timed_out, run.failed) == (None, (), set())
    assert "out 599" in _text(run, 1) and _text(run, 2) == "next\n"


def _ran(nb: Any, failed: set[int], timed_out: tuple[str, ...] = ()) -> Executed:
    """A run of ``nb`` that went to its end, with ``failed`` cells and ``timed_out`` interrupts."""
    return Executed(
        nb=nb, stopped=None, stopped_at=None, expired=False, said="", failed=frozenset(failed),
        timed_out=timed_out, truncated=(), snapshot=None,
    )  # fmt: skip


def test_a_probe_cut_off_by_its_time_limit_says_so() -> None:
    """An interrupted probe cell has an error output like any failing cell, but the reason the
    judge shows is the time limit, not an error of the student's."""
    from autograder.grading.judge import _why
    from autograder.messages import ProbeSpec
    from autograder.sandboxed.probing import collect

    nb = _notebook("x = 1", "probe a", "probe b")
    interrupt = nbformat.v4.new_output("error", ename="KeyboardInterrupt", evalue="", traceback=[])
    nb.cells[1].outputs = [interrupt]
    run = _ran(nb, failed={1}, timed_out=("cell 1 after 40 s (wall clock)",))
    probes = [ProbeSpec("a", "f", 1), ProbeSpec("b", "f", 1)]
    found, still = collect(run, 1, probes, {"b": [{"result": 1}]})
    assert (found, still) == ({"a": "it ran past its time limit", "b": [{"result": 1}]}, [])
    assert _why(str(found["a"])) == "it ran past its time limit"


def test_the_reference_s_exception_is_named_and_a_student_s_is_not() -> None:
    """A reference solution that fails its probes because the grading environment lacks a
    module gets an error that names the module (the instructor's to fix); the same failure in a
    student's kernel says only that it raised, since the student chooses the name and message."""
    from autograder.grading.judge import _reference_failed
    from autograder.messages import ProbeSpec
    from autograder.sandboxed.probing import collect

    nb = _notebook("x = 1", "probe a", "probe b")
    missing = nbformat.v4.new_output(
        "error", ename="ModuleNotFoundError", evalue="No module named 'scipy'", traceback=[]
    )
    nb.cells[1].outputs = [missing]
    nb.cells[2].outputs = [missing]
    run = _ran(nb, failed={1, 2})
    probes = [ProbeSpec("a", "f", 1), ProbeSpec("b", "f", 1)]
    student, _ = collect(run, 1, probes, {})
    assert student == {"a": "it raised an exception", "b": "it raised an exception"}
    reference, _ = collect(run, 1, probes, {}, reference=True)
    said = "it raised ModuleNotFoundError: No module named 'scipy'"
    assert reference == {"a": said, "b": said}
    message = _reference_failed("toy", reference)
    assert "fails 2 of its probes" in message and "grading environment" in message
    assert message.count("No module named 'scipy'") == 1 and "(a, b)" in message


def test_a_kernel_s_client_is_ready_once_its_kernel_has_answered(tmp_path: Path) -> None:
    """The grading manager's client is the one that skips jupyter_client's 0.2 s drain of a
    quiet IOPub (autograder.sandboxed.kernel_client); a kernel started with it still shows a
    first cell's output, so its IOPub was connected when it was called ready."""
    from autograder.sandboxed.kernel import _manager_class
    from autograder.sandboxed.kernel_client import ReadyClient

    assert isinstance(_manager_class(NONE, tmp_path, tmp_path)().client(), ReadyClient)
    run = _run(tmp_path, _notebook("print('first')"), TimeLimits.of(10, 30))
    assert _text(run, 0) == "first\n"


def test_ended_waits_for_a_process_no_longer_than_it_is_asked() -> None:
    import asyncio

    from autograder.sandboxed.kernel_client import ended

    proc = subprocess.Popen(["sleep", "30"])
    pidfd = os.pidfd_open(proc.pid)
    try:
        assert asyncio.run(ended(pidfd, 0.1)) is False  # alive: False, once 0.1 s have passed
        proc.kill()
        assert asyncio.run(ended(pidfd, 30)) is True  # killed: True, as soon as it has ended
        assert proc.wait(timeout=5) == -signal.SIGKILL
    finally:
        os.close(pidfd)
        proc.kill()
        proc.wait()


def test_each_kernel_s_event_loop_is_closed_after_it() -> None:
    """A Dask worker runs each task in a fresh copy of its context, where jupyter_core makes a
    new event loop and leaves it open: a loop per submission, closed by the garbage collector
    from wherever it happens to run (on CPython 3.11, inside Dask's profiler, a deadlock)."""
    import asyncio
    import contextvars
    import gc
    import tempfile

    def open_loops() -> int:
        gc.collect()
        found = [o for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop)]
        return sum(not loop.is_closed() for loop in found)

    before = open_loops()
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(2):  # as Dask runs two tasks
            run = contextvars.copy_context().run(
                _run, Path(tmp), _notebook("print(1)"), TimeLimits.of(10, 30)
            )
            assert _text(run, 0) == "1\n"
    assert open_loops() <= before
