"""The sandbox itself, probed from inside by a real process (bubblewrap, as root or not).

Each test runs a small Python program in :func:`autograder.sandboxed.sandbox.wrap` and reads back
what it could and could not do. The adversarial suite (tests/adversarial/) attacks the whole grader.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from autograder.sandboxed.sandbox import Limits, Sandbox, detect, reap, wrap
from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(
    shutil.which("bwrap") is None and not os.environ.get("CI"),
    reason="bubblewrap is not installed (CI installs it: apt-get install bubblewrap)",
)

PROBE = r"""
import json, os, socket, sys, resource
found = {"uid": os.getuid(), "cwd": os.getcwd(), "files": sorted(os.listdir("."))}
found["solutions_visible"] = os.path.exists(sys.argv[1])
found["workspace_visible"] = os.path.exists(sys.argv[2])
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[3])), timeout=2).sendall(b"leak")
    found["network"] = "connected"
except OSError as err:
    found["network"] = type(err).__name__
try:
    open("/usr/evil", "w")
    found["system_writable"] = True
except OSError:
    found["system_writable"] = False
open("/tmp/scratch", "w").write("ok")
found["writable"] = []
for place in ("/", "/dev", "/dev/shm", "/etc", "/tmp", "/submission", sys.argv[4]):
    try:
        with open(os.path.join(place, "probe-file"), "w"):
            found["writable"].append(place)
    except OSError:
        pass
found["limits"] = {name: resource.getrlimit(getattr(resource, name))[1]
                   for name in ("RLIMIT_AS", "RLIMIT_NPROC", "RLIMIT_FSIZE")}
found["processes"] = len([p for p in os.listdir("/proc") if p.isdigit()])
try:
    input()
    found["stdin"] = "read"
except Exception as err:  # EOFError in a process, StdinNotImplementedError in a kernel
    found["stdin"] = type(err).__name__
print(json.dumps(found))
"""


def _run(
    kind: str, sandbox: Sandbox, code: str, args: list[str], private: Path, workdir: Path
) -> str:
    """Run ``code`` with ``args`` in ``sandbox``: as a process under :func:`wrap` ("cold"), or as
    the one cell of a kernel forked from this process's zygote ("warm"); return what it printed."""
    if kind == "cold":
        done = subprocess.run(
            wrap(sandbox, [sys.executable, "-c", code, *args], private, workdir),
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout
    import nbformat

    from autograder.sandboxed import warm
    from autograder.sandboxed.clock import TimeLimits
    from autograder.sandboxed.kernel import run_notebook

    if warm.zygote(sandbox) is None:
        pytest.skip(f"kernels start cold here: {warm.kernels(sandbox)}")
    shutil.rmtree(private)  # run_notebook makes it
    nb = nbformat.v4.new_notebook(
        metadata={
            "kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}
        }
    )
    nb.cells = [nbformat.v4.new_code_cell(f"import sys\nsys.argv = {['-c', *args]!r}\n{code}")]
    ran = run_notebook(
        nb,
        {"metadata": {"path": str(workdir)}},
        "python3",
        TimeLimits.of(30, 60),
        sandbox,
        private=private,
    )
    assert not ran.failed, ran.nb.cells[0].outputs
    return "".join(o.get("text", "") for o in ran.nb.cells[0].outputs)


KINDS = ["cold", "warm"]  # the kernel a submission gets: a fresh process, or a zygote's fork"


@pytest.mark.parametrize("kind", KINDS)
def test_a_sandboxed_process_sees_and_reaches_nothing_it_should_not(
    kind: str, tmp_path: Path
) -> None:
    sandbox = detect(Limits(memory_bytes=3 * 2**30, processes=64)).for_worker()
    assert sandbox.isolated
    private, workdir = tmp_path / "kernel" / "sandbox", tmp_path / "work"
    private.mkdir(parents=True)
    workdir.mkdir()
    (workdir / "data.txt").write_text("the submission's own file")
    workspace = tmp_path / "workspace" / "gradebook.db"
    workspace.parent.mkdir()
    workspace.write_text("secret")
    connections = []
    server = socket.create_server(("127.0.0.1", 0))
    threading.Thread(target=lambda: connections.append(server.accept()), daemon=True).start()
    solutions = ROOT / "solutions" / "01_linear_algebra" / "linear_algebra.ipynb"
    args = [str(solutions), str(workspace), str(server.getsockname()[1]), str(private)]
    printed = _run(kind, sandbox, PROBE, args, private, workdir)
    server.close()
    found = json.loads(printed.strip().splitlines()[-1])
    assert found["cwd"] == "/submission" and found["files"] == ["data.txt"]
    assert not found["solutions_visible"] and not found["workspace_visible"]
    assert found["network"] != "connected" and not connections
    assert not found["system_writable"]
    # every place it may write is a capped one: two tmpfs mounts, and the guarded private folder
    assert found["writable"] == ["/tmp", "/submission", str(private)]
    assert found["limits"] == {
        "RLIMIT_AS": 3 * 2**30,
        "RLIMIT_NPROC": 64,
        "RLIMIT_FSIZE": Limits().file_bytes,
    }
    assert found["processes"] <= 3  # the namespace's init, a shell (cold), and the probe
    assert found["stdin"] == ("EOFError" if kind == "cold" else "StdinNotImplementedError")
    if os.geteuid() == 0:
        assert found["uid"] == sandbox.uid != 0


@pytest.mark.parametrize("kind", KINDS)
def test_a_daemon_dies_with_its_sandbox(kind: str, tmp_path: Path) -> None:
    sandbox = detect().for_worker()
    private, workdir = tmp_path / "kernel" / "sandbox", tmp_path / "work"
    private.mkdir(parents=True)
    workdir.mkdir()
    marker = f"daemon-marker-{os.getpid()}"
    daemon = (
        "import os, subprocess, time\n"
        f"subprocess.Popen(['sh', '-c', 'sleep 600; : {marker}'], start_new_session=True)\n"
        "print('started', flush=True)\n"
    )
    _run(kind, sandbox, daemon, [], private, workdir)
    reap(sandbox.uid)
    alive = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
    assert alive.stdout.strip() == "", f"left behind: {alive.stdout}"


def test_without_bubblewrap_grading_works_under_limits_and_says_so(tmp_path: Path) -> None:
    """What a machine without bubblewrap gets: the limits, a user of its own, and a warning in
    the summary, the ledger and the report."""
    from autograder.config import GradingConfig
    from autograder.grading.grade import grade_run
    from autograder.grading.report import write_report
    from tests.synthetic import TOY_ASSIGNMENT, course_notebooks, toy_course, write_class

    course = toy_course(tmp_path / "course")
    kinds = ["correct", "wrong"]
    write_class(tmp_path / "subs", TOY_ASSIGNMENT, course_notebooks(course, TOY_ASSIGNMENT), kinds)
    options = GradingConfig(workers=1, isolation="limits")
    run = grade_run(course, tmp_path / "ws", TOY_ASSIGNMENT, tmp_path / "subs", options)
    assert [(r.status, r.score) for r in run.results] == [("graded", 3.0), ("graded", 0.0)]
    assert "REDUCED ISOLATION" in run.summary
    page = write_report(tmp_path / "ws", TOY_ASSIGNMENT, tmp_path / "report.html").read_text()
    assert "Isolation was reduced" in page and "2 with limits" in page


def test_require_sandbox_refuses_without_bubblewrap(tmp_path: Path) -> None:
    """With bubblewrap off the PATH, ``--require-sandbox`` stops before grading anything."""
    from tests.synthetic import TOY_ASSIGNMENT, course_notebooks, toy_course, write_class

    course = toy_course(tmp_path / "course")
    write_class(
        tmp_path / "subs", TOY_ASSIGNMENT, course_notebooks(course, TOY_ASSIGNMENT), ["correct"]
    )
    tools = tmp_path / "bin"  # what the grader needs from PATH, bubblewrap left out
    tools.mkdir()
    for tool in ("prlimit", "setpriv", "sh", "env"):
        (tools / tool).symlink_to(shutil.which(tool))
    args = [
        "--course",
        str(course.root),
        "grade",
        TOY_ASSIGNMENT,
        "--workspace",
        str(tmp_path / "ws"),
    ]
    args += ["--submissions", str(tmp_path / "subs"), "--workers", "1", "--require-sandbox"]
    done = subprocess.run(
        [sys.executable, "-m", "autograder", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "PATH": str(tools)},
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "error: --require-sandbox: bubblewrap is not installed" in done.stderr
    assert not (tmp_path / "ws" / "autograded").exists()
