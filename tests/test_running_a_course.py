"""The commands of book/running_a_course.md are the ones these tests run.

Every line of the page's ```bash blocks is a command. Each one is either run here, for real, with
the page's placeholders replaced (a toy assignment, temporary folders, free loopback ports), or
named in ``NOT_RUN`` with the reason; a command added to the page without either fails the first
test. What runs: the device check, a Dask scheduler and workers on 127.0.0.1 grading a toy class,
and nbgrader's exchange from release to grade (as one user: nbgrader files the submission under
this process's login name). ``nvidia-smi`` runs where it exists.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import nbformat
import pytest

from autograder.config import CourseConfig, nbgrader_config
from autograder.grading.ledger import Ledger
from autograder.messages import TaskResult
from tests.conftest import BIN, ROOT
from tests.synthetic import (
    TOY_ASSIGNMENT,
    course_notebooks,
    student_notebook,
    toy_course,
    write_class,
)

PAGE = ROOT / "book" / "running_a_course.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.M | re.S)

# The commands the tests run, exactly as the page writes them.
NVIDIA_SMI = "nvidia-smi"
DEVICE_CHECK = (
    'python -c "import torch, coursekit; print(torch.__version__, torch.version.cuda, '
    'torch.cuda.is_available(), coursekit.device())"'
)
FORCE_CPU = 'COURSEKIT_DEVICE=cpu python -c "import coursekit; print(coursekit.device())"'
FORCE_CUDA = 'COURSEKIT_DEVICE=cuda python -c "import coursekit; print(coursekit.device())"'
EXCHANGE = "/usr/local/share/nbgrader/exchange"
MAKE_EXCHANGE = [f"mkdir -p {EXCHANGE}", f"chmod ugo+rw {EXCHANGE}"]
RELEASE = [
    "python -m autograder release 01_linear_algebra",
    "nbgrader release_assignment 01_linear_algebra --CourseDirectory.release_directory=exercises",
]
FETCH = "nbgrader fetch_assignment 01_linear_algebra"
SUBMIT = "nbgrader submit 01_linear_algebra"
COLLECT = "nbgrader collect 01_linear_algebra --CourseDirectory.submitted_directory=SUBS"
GRADE = "python -m autograder grade 01_linear_algebra --workspace ~/grading --submissions SUBS"
SCHEDULER = (
    "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=1 dask scheduler --host HOST --port 8786 "
    "--dashboard-address HOST:8787"
)
WORKER_CHECK = 'python -c "from autograder.sandboxed import detect; print(detect().describe())"'
WORKER = 'dask worker tcp://HOST:8786 --nworkers "$(nproc)" --nthreads 1'
GRADE_ON_CLUSTER = GRADE + " --scheduler tcp://HOST:8786"
RUN = [NVIDIA_SMI, DEVICE_CHECK, FORCE_CPU, FORCE_CUDA, *MAKE_EXCHANGE, *RELEASE, FETCH, SUBMIT]
RUN += [COLLECT, GRADE, SCHEDULER, WORKER_CHECK, WORKER, GRADE_ON_CLUSTER]

_INSTALLS = (
    "installs from the network (this machine has none) into the environment every test runs in; "
    "dev.py built that environment with pip install -r requirements.txt and pip install -e ."
)
NOT_RUN = {
    "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cuXXX": (
        "downloads from PyTorch's index, and cuXXX is the reader's choice for their driver"
    ),
    "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu": (
        "downloads from PyTorch's index and would replace the torch the tests run with"
    ),
    "apt-get install bubblewrap": (
        "a system package (root and the network); .ci/run installs it, and WORKER_CHECK shows what "
        "the sandbox finds"
    ),
    "python3 -m venv .venv": "makes a worker's environment: " + _INSTALLS,
    ". .venv/bin/activate": "the tests put the environment's bin/ first on PATH instead",
    "pip install -r requirements.txt": _INSTALLS,
    "pip install --no-deps -e .": _INSTALLS,
}


def _blocks(language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(PAGE.read_text()) if lang == language]


def page_commands() -> list[str]:
    """Every command line of the page's bash blocks (comment lines and blank lines skipped)."""
    lines = (line.strip() for block in _blocks("bash") for line in block.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _concrete(command: str, values: dict[str, str]) -> str:
    """``command`` with the page's placeholders replaced; it must be on the page as written."""
    assert command in page_commands(), f"not on the page verbatim: {command}"
    for placeholder, value in values.items():
        command = command.replace(placeholder, value)
    return command


def _env(**more: str) -> dict[str, str]:
    """This environment with the venv active, as the page assumes, and no device forced."""
    env = {k: v for k, v in os.environ.items() if k != "COURSEKIT_DEVICE"}
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(BIN.parent))
    env.update(PYDEVD_DISABLE_FILE_VALIDATION="1", **more)
    return env


def _sh(
    command: str, values: dict[str, str], cwd: Path, env: dict[str, str], check: bool = True
) -> subprocess.CompletedProcess[str]:
    line = _concrete(command, values)
    done = subprocess.run(
        ["bash", "-c", line], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    if check:
        assert done.returncode == 0, f"{line}\nexit {done.returncode}\n{done.stdout}{done.stderr}"
    return done


def _start(
    name: str, command: str, values: dict[str, str], cwd: Path, env: dict[str, str]
) -> Background:
    log = (cwd / f"{name}.log").open("w")
    proc = subprocess.Popen(
        ["bash", "-c", _concrete(command, values)],
        cwd=cwd,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stop() ends it and every child it made
    )
    return Background(proc, log)


class Background:
    """A background command of the page, with the file its output goes to."""

    def __init__(self, proc: subprocess.Popen[bytes], log: IO[str]) -> None:
        self.proc, self.log = proc, log

    def tail(self) -> str:
        return "\n".join(Path(self.log.name).read_text().splitlines()[-30:])

    def stop(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
                self.proc.wait(timeout=30)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
        self.log.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rows(workspace: Path) -> dict[str, TaskResult]:
    with Ledger(workspace) as ledger:
        return ledger.rows(TOY_ASSIGNMENT)


@pytest.fixture
def course(tmp_path: Path) -> CourseConfig:
    return toy_course(tmp_path / "course")


# ---- the page itself --------------------------------------------------------------------------


def test_every_command_on_the_page_is_run_here_or_named_with_a_reason() -> None:
    on_page = page_commands()
    assert len(on_page) == len(set(on_page)), "a command appears twice"
    unknown = set(on_page) - set(RUN) - set(NOT_RUN)
    assert not unknown, f"commands on the page that no test runs or names: {sorted(unknown)}"
    gone = (set(RUN) | set(NOT_RUN)) - set(on_page)
    assert not gone, f"commands of this test that are not on the page: {sorted(gone)}"
    (config,) = _blocks("python")
    course_id = nbgrader_config(CourseConfig(root=ROOT), ROOT).CourseDirectory.course_id
    assert f'c.CourseDirectory.course_id = "{course_id}"' in config, "not autograder's course id"
    assert f'c.Exchange.root = "{EXCHANGE}"' in config


# ---- a GPU machine ----------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("nvidia-smi") is None, reason="no nvidia-smi on this machine")
def test_nvidia_smi_names_the_driver_s_cuda(tmp_path: Path) -> None:
    out = _sh(NVIDIA_SMI, {}, tmp_path, _env()).stdout
    assert "CUDA Version" in out, out


def test_the_device_check_prints_what_the_page_says(tmp_path: Path) -> None:
    """Run outside the repository, so coursekit comes from the installed package."""
    env = _env()
    fields = _sh(DEVICE_CHECK, {}, tmp_path, env).stdout.split()
    version, cuda, available, device = fields
    pin = re.search(r"^torch==(\S+)", (ROOT / "requirements.txt").read_text(), re.M)
    assert pin and version.split("+")[0] == pin.group(1), f"torch {version}, not the pin"
    assert available in ("True", "False") and device == ("cuda" if available == "True" else "cpu")
    page = " ".join(PAGE.read_text().split())
    if cuda == "None":  # the CPU build: the page quotes what it prints
        assert f"`{' '.join(fields)}`" in page, f"the page does not quote {' '.join(fields)}"
    assert _sh(FORCE_CPU, {}, tmp_path, env).stdout.strip() == "cpu"
    forced = _sh(FORCE_CUDA, {}, tmp_path, env, check=False)
    if available == "True":
        assert (forced.returncode, forced.stdout.strip()) == (0, "cuda"), forced.stderr
    else:
        error = forced.stderr.strip().splitlines()[-1]
        assert forced.returncode != 0 and "no usable CUDA device" in error, forced.stderr
        assert f"`{error}`" in page, f"the page does not quote {error!r}"


# ---- grading workers on a Dask cluster --------------------------------------------------------


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[dict[str, str], str]]:
    """The page's scheduler and workers on loopback; the placeholders, and the worker check."""
    values = {"HOST": "127.0.0.1", "8786": str(_free_port()), "8787": str(_free_port())}
    values['"$(nproc)"'] = "2"  # two worker processes, whatever this machine's core count
    env, here = _env(), tmp_path / "cluster"
    here.mkdir()
    started: list[Background] = []
    try:
        started.append(_start("scheduler", SCHEDULER, values, here, env))
        checked = _sh(WORKER_CHECK, values, here, env).stdout.strip()
        started.append(_start("worker", WORKER, values, here, env))
        yield values, checked
    finally:
        for proc in reversed(started):  # workers first, then the scheduler
            proc.stop()
            print(proc.tail())  # shown when the test fails


def test_grade_on_the_page_s_dask_cluster(
    course: CourseConfig, tmp_path: Path, cluster: tuple[dict[str, str], str]
) -> None:
    from distributed import Client

    values, checked = cluster
    subs, workspace = tmp_path / "subs", tmp_path / "grading"
    students = write_class(
        subs, TOY_ASSIGNMENT, course_notebooks(course, TOY_ASSIGNMENT), ["correct", "partial"]
    )
    address = f"tcp://{values['HOST']}:{values['8786']}"
    with Client(address, timeout=300) as client:
        client.wait_for_workers(2, timeout=300)
        pids = set(client.run(os.getpid).values())
        assert len(pids) == 2 and set(client.nthreads().values()) == {1}, "--nthreads 1"
        retries = client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.allowed_failures)
        assert retries == 1, "the scheduler did not read ALLOWED_FAILURES"
    values.update({"01_linear_algebra": TOY_ASSIGNMENT, "~/grading": str(workspace)})
    values["SUBS"] = str(subs)
    out = _sh(GRADE_ON_CLUSTER, values, course.root, _env()).stdout
    assert f"isolation: {checked}" in out, "the worker check and the grade disagree\n" + out
    rows = _rows(workspace)
    assert {s: (r.status, r.score) for s, r in rows.items()} == {
        students[0]: ("graded", 3.0),
        students[1]: ("graded", 1.0),
    }, out
    ran_on = {int(r.worker.rsplit(":", 1)[1]) for r in rows.values()}
    assert ran_on <= pids, f"graded by {ran_on}, not by the cluster's workers {pids}"


# ---- a JupyterHub with nbgrader's exchange ----------------------------------------------------


def test_the_exchange_from_release_to_grade(course: CourseConfig, tmp_path: Path) -> None:
    """Instructor and student are this one user: the submission is filed under its login."""
    from nbgrader.utils import get_username

    exchange, subs, workspace = tmp_path / "exchange", tmp_path / "subs", tmp_path / "grading"
    values = {"01_linear_algebra": TOY_ASSIGNMENT, EXCHANGE: str(exchange)}
    values.update({"SUBS": str(subs), "~/grading": str(workspace)})
    # The page's /etc/jupyter/nbgrader_config.py, in a config folder of this test's own.
    config_dir = tmp_path / "jupyter"
    config_dir.mkdir()
    (config_dir / "nbgrader_config.py").write_text(
        "".join(_blocks("python")).replace(EXCHANGE, str(exchange))
    )
    # nbgrader's submit keeps a copy in JUPYTER_DATA_DIR: in this test's folder, not the home's
    env = _env(JUPYTER_CONFIG_DIR=str(config_dir), JUPYTER_DATA_DIR=str(tmp_path / "data"))
    for command in MAKE_EXCHANGE:
        _sh(command, values, tmp_path, env)
    for command in RELEASE:
        _sh(command, values, course.root, env)
    outbound = exchange / "deep-learning-derived" / "outbound" / TOY_ASSIGNMENT
    assert (outbound / "toy.ipynb").is_file(), sorted(outbound.iterdir())

    home = tmp_path / "student"
    home.mkdir()
    _sh(FETCH, values, home, env)
    fetched = home / TOY_ASSIGNMENT / "toy.ipynb"
    source = nbformat.read(course.source / TOY_ASSIGNMENT / "toy.ipynb", as_version=4)
    answer = student_notebook("partial", source, nbformat.read(fetched, as_version=4))
    nbformat.write(answer, fetched)  # the student solves the first function only
    _sh(SUBMIT, values, home, env)

    _sh(COLLECT, values, course.root, env)
    student = get_username()
    collected = subs / student / TOY_ASSIGNMENT
    assert {"toy.ipynb", "timestamp.txt"} <= {p.name for p in collected.iterdir()}
    out = _sh(GRADE, values, course.root, env).stdout
    rows = _rows(workspace)
    assert {s: (r.status, r.score) for s, r in rows.items()} == {student: ("graded", 1.0)}, out
