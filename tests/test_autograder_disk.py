"""Every place a kernel may write is capped, and nothing it writes past a cap lands on the host.

Real programs in the real sandbox (:func:`autograder.sandboxed.sandbox.wrap`) fill each writable
place: the private folder on the host's disk (kept by the disk guard), and ``/tmp`` and
``/submission`` (tmpfs mounts of a fixed size). Each test reads the host's free space (of the
folder's file system) before and after. A disk bomb graded in a small class ends with a clear
status and reason while the other student is graded as usual.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from autograder.sandboxed import disk_guard
from autograder.sandboxed.sandbox import Limits, Sandbox, detect, wrap

pytestmark = pytest.mark.skipif(
    shutil.which("bwrap") is None and not os.environ.get("CI"),
    reason="bubblewrap is not installed (CI installs it: apt-get install bubblewrap)",
)

MiB = 2**20
#: What other processes on a shared machine may write or free while a test runs.
NOISE = 24 * MiB

#: Writes up to 1 GiB into the folder argv[1], in the way argv[2] names, then says "done".
BOMB = r"""
import mmap, os, sys, time
folder, kind = sys.argv[1], sys.argv[2]
block = b"x" * (8 << 20)
held = []
for i in range(16 if kind != "small" else 4096):
    path = os.path.join(folder, f"bomb-{i}")
    if kind == "big":  # files as large as the per-file limit allows
        with open(path, "wb") as f:
            for _ in range(8):
                f.write(block)
    elif kind == "small":  # 256 KiB each
        with open(path, "wb") as f:
            f.write(block[: 256 << 10])
    elif kind == "deleted":  # deleted at once, and kept open
        f = open(path, "wb")
        os.unlink(path)
        held.append(f)
        for _ in range(8):
            f.write(block)
        f.flush()
    elif kind == "mapped":  # deleted, its descriptor closed, and written through a mapping
        fd = os.open(path, os.O_RDWR | os.O_CREAT)
        os.ftruncate(fd, 64 << 20)
        held.append(mmap.mmap(fd, 64 << 20))
        os.close(fd)
        os.unlink(path)
        held[-1][:] = block * 8
if kind == "empty":  # inodes, no blocks
    for i in range(2000):
        open(os.path.join(folder, f"empty-{i}"), "w").close()
if kind == "deep":
    os.chdir(folder)
    for _ in range(40):
        os.mkdir("d")
        os.chdir("d")
time.sleep(5)  # as a kernel lingers after its cell: the guard has time to look
print("done", flush=True)
"""

#: Fills the folder argv[1] with files of argv[2] bytes until a write fails; says how far it got,
#: then waits for a line on stdin, so that the test reads the host's free space while it is full.
FILL = r"""
import json, os, sys
folder, size = sys.argv[1], int(sys.argv[2])
block = b"x" * min(size, 8 << 20)
written, err = 0, None
try:
    for i in range(100_000):
        with open(os.path.join(folder, f"fill-{i}"), "wb", buffering=0) as f:
            for _ in range(size // len(block)):
                f.write(block)
                written += len(block)
except OSError as e:
    err = e.errno
print(json.dumps({"written": written, "errno": err}), flush=True)
sys.stdin.readline()
"""

#: What a kernel does in its private folder and /tmp without breaking a cap: a hard link counts
#: once, a sparse file what it stores; a file may be as large as a probe's results file.
LEGAL = r"""
import os, socket, sys
folder, limit = sys.argv[1], int(sys.argv[2])
with open(os.path.join(folder, "data"), "wb") as f:
    f.write(b"x" * (40 << 20))
for i in range(20):
    os.link(os.path.join(folder, "data"), os.path.join(folder, f"link-{i}"))
with open(os.path.join(folder, "sparse"), "wb") as f:
    f.truncate(limit)
socket.socket(socket.AF_UNIX).bind(os.path.join(folder, "socket"))
with open("/tmp/results.json", "wb") as f:
    f.write(b"x" * limit)
try:
    with open("/tmp/results.json", "ab") as f:
        f.write(b"x")
    print("past the file limit")
except OSError as e:
    print("file limit", e.errno == 27)  # EFBIG
sys.exit(3)
"""


@pytest.fixture
def folders() -> Iterator[tuple[Path, Path]]:
    """(private, workdir), under the host's temporary folder, as the worker makes them."""
    root = Path(tempfile.mkdtemp(prefix="disk-test-"))
    (root / "sandbox").mkdir()
    (root / "work").mkdir()
    yield root / "sandbox", root / "work"
    shutil.rmtree(root, ignore_errors=True)


def _sandbox(limits: Limits | None = None, mode: str = "bwrap") -> Sandbox:
    found = detect(limits)
    assert found.isolated
    return replace(found, mode=mode).for_worker()


def _start(
    sandbox: Sandbox, program: str, args: list[str], private: Path, workdir: Path
) -> subprocess.Popen[str]:
    argv = wrap(sandbox, [sys.executable, "-c", program, *args], private, workdir)
    # as jupyter_client starts a kernel: a session, and so a process group, of its own
    return subprocess.Popen(
        argv,
        cwd=workdir,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _stopped(private: Path | str) -> str | None:
    """Why the guard stopped the kernel of ``private`` (its report), or None when it did not."""
    report = Path(disk_guard.report_file(str(private)))
    return report.read_text(encoding="utf-8").strip() or None if report.exists() else None


def _free(folder: Path) -> int:
    return shutil.disk_usage(folder).free


def _peak(process: subprocess.Popen[str], folder: Path, before: int) -> int:
    """The most of the host's disk in use, against ``before``, while ``process`` runs."""
    lowest, deadline = before, time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        lowest = min(lowest, _free(folder))
        time.sleep(0.01)
    return before - lowest


def _settled(folder: Path, before: int) -> int:
    """How far the free space is from ``before`` once it stops coming back (a few seconds)."""
    deadline = time.monotonic() + 10
    while before - _free(folder) > NOISE and time.monotonic() < deadline:
        time.sleep(0.1)
    return before - _free(folder)


def test_the_guard_asks_the_kernel_for_shared_mappings_as_the_text_of_maps_lists_them(
    tmp_path: Path,
) -> None:
    """``PROCMAP_QUERY`` (Linux 6.11 on) finds the same deleted files mapped shared as the text
    of ``/proc/<pid>/maps``, in a process with torch's thousand mappings."""
    import mmap
    import platform

    import torch  # noqa: F401  its mappings, as a kernel has them

    from autograder.sandboxed import held_files

    devices = {os.stat(tmp_path).st_dev}
    held = []
    for i, size in enumerate((1 << 20, 3 << 20, 2 << 20)):  # the last one is not deleted
        path = tmp_path / f"mapped-{i}"
        fd = os.open(path, os.O_RDWR | os.O_CREAT)
        os.ftruncate(fd, size)
        held.append(mmap.mmap(fd, size))
        os.close(fd)
        if i < 2:
            path.unlink()
    with open("/proc/self/maps", "rb") as handle:
        listed = held_files._listed(handle.read(), devices)
    fd = os.open("/proc/self/maps", os.O_RDONLY)
    try:
        queried = held_files._queried(fd, devices)
    finally:
        os.close(fd)
    assert len(listed) == 2 and {size for *_, size in listed} == {1 << 20, 3 << 20}
    assert held_files.mapped_deleted("/proc/self", devices) == listed
    if queried is None:
        version = tuple(int(v) for v in platform.release().split(".")[:2] if v.isdigit())
        assert version < (6, 11), f"Linux {platform.release()} has PROCMAP_QUERY: it failed"
        pytest.skip(f"Linux {platform.release()} has no PROCMAP_QUERY: the text is read")
    assert queried == listed
    del held


@pytest.mark.parametrize(
    "kind, overshoot",
    [("big", 128), ("small", 128), ("deleted", 512), ("mapped", 512)],
)
def test_a_bomb_in_the_private_folder_is_stopped_near_its_cap(
    folders: tuple[Path, Path], kind: str, overshoot: int
) -> None:
    """The guard stops the kernel soon after its private folder passes the cap, whether it
    writes big files, small ones, or files it deleted but keeps open or mapped (which only
    /proc shows); ``overshoot`` is what a fast disk writes between two measures (MiB)."""
    private, workdir = folders
    cap = Limits().private_bytes
    before = _free(private)
    bomb = _start(_sandbox(), BOMB, [str(private), kind], private, workdir)
    used = _peak(bomb, private, before)
    out, err = bomb.communicate(timeout=120)
    assert bomb.returncode == -9 and "done" not in out, (out, err)
    assert used < cap + overshoot * MiB + NOISE, f"{used / MiB:.0f} MiB of a {cap / MiB} MiB cap"
    said = f"the kernel wrote more than {cap // MiB} MiB to disk in its private folder"
    assert _stopped(str(private)) == said
    assert err.strip().splitlines()[-1] == f"{disk_guard.MARK} {said}; it was stopped"
    if kind in ("deleted", "mapped"):  # held by processes that are gone: freed already
        assert _settled(private, before) < NOISE
    shutil.rmtree(private)
    assert _settled(workdir, before) < NOISE


@pytest.mark.parametrize(
    "kind, said",
    [("empty", "made more than 500 files"), ("deep", "nested folders over 32 deep")],
)
def test_files_without_bytes_are_capped_too(
    folders: tuple[Path, Path], kind: str, said: str
) -> None:
    """Empty files cost the host inodes; deep folders would hide files past the path limit.
    (A smaller cap on files than the default keeps it quick.)"""
    private, workdir = folders
    sandbox = _sandbox(Limits(private_files=500))
    bomb = _start(sandbox, BOMB, [str(private), kind], private, workdir)
    out, err = bomb.communicate(timeout=120)
    assert bomb.returncode == -9 and "done" not in out, (out, err)
    assert _stopped(str(private)) == f"the kernel {said} in its private folder"


def test_what_a_kernel_may_do_is_not_stopped(folders: tuple[Path, Path]) -> None:
    """Hard links, a sparse file, a socket and a results-sized file stay under the caps, and
    the guard exits as its command did."""
    private, workdir = folders
    limits = Limits()
    legal = _start(_sandbox(), LEGAL, [str(private), str(limits.file_bytes)], private, workdir)
    out, err = legal.communicate(timeout=120)
    assert legal.returncode == 3, (out, err)
    assert out.split() == ["file", "limit", "True"] and disk_guard.MARK not in err
    assert _stopped(str(private)) is None


@pytest.mark.parametrize("place", ["/tmp", "/submission"])
@pytest.mark.parametrize("size", [64 * MiB, 256 * 2**10])
def test_tmp_and_submission_fill_up_in_memory_not_on_the_host(
    folders: tuple[Path, Path], place: str, size: int
) -> None:
    """Writes fail with ENOSPC at the tmpfs cap, with one big file after another or many small
    ones, and none of it reaches the host's disk. (A smaller cap than the default keeps it
    quick.)"""
    private, workdir = folders
    limits = Limits(tmp_bytes=128 * MiB)
    before = _free(private)
    fill = _start(_sandbox(limits), FILL, [place, str(size)], private, workdir)
    assert fill.stdout is not None and fill.stdin is not None
    found = json.loads(fill.stdout.readline() or "{}")
    full = before - _free(private)  # while the sandbox, and its tmpfs, still exist
    fill.stdin.write("\n")
    fill.communicate(timeout=60)
    assert found.get("errno") == errno.ENOSPC, found
    assert limits.tmp_bytes - 16 * MiB <= found["written"] <= limits.tmp_bytes, found
    assert full < NOISE, f"{full / MiB:.0f} MiB of the host's disk used"


def test_without_bubblewrap_the_working_folder_is_capped_as_well(
    folders: tuple[Path, Path],
) -> None:
    """Under limits only, the kernel works in the host's folder itself: the guard caps it at
    /submission's size."""
    private, workdir = folders
    limits = Limits(tmp_bytes=128 * MiB)
    before = _free(private)
    bomb = _start(_sandbox(limits, "limits"), BOMB, [".", "big"], private, workdir)
    used = _peak(bomb, private, before)
    out, err = bomb.communicate(timeout=120)
    assert bomb.returncode == -9 and "done" not in out, (out, err)
    assert _stopped(str(private)) == (
        "the kernel wrote more than 128 MiB to disk in its working folder"
    )
    assert used < limits.tmp_bytes + 128 * MiB + NOISE, f"{used / MiB:.0f} MiB"


def test_an_interrupted_cell_still_works_behind_the_guard(folders: tuple[Path, Path]) -> None:
    """jupyter_client interrupts a kernel with SIGINT to its process group and shuts it down
    with SIGKILL to the group: both still reach the kernel, once, through the guard."""
    from jupyter_client.manager import KernelManager

    private, workdir = folders
    sandbox = _sandbox()

    class Guarded(KernelManager):
        def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
            return wrap(sandbox, super().format_kernel_cmd(extra_arguments), private, workdir)

    manager = Guarded(
        kernel_name="python3",
        transport="ipc",
        ip=str(private / "kernel"),
        connection_file=str(private / "kernel.json"),
    )
    manager.start_kernel(cwd=str(workdir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=120)
        # NOTE: stop_on_error=False, as nbclient sends it when errors are allowed: otherwise the
        # kernel aborts what arrives just after the interrupt, and the next cell reads "aborted".
        looping = client.execute("while True:\n    pass", stop_on_error=False)
        while client.get_iopub_msg(timeout=60)["msg_type"] != "execute_input":
            pass  # the loop has begun
        time.sleep(0.5)
        manager.interrupt_kernel()
        reply = client.get_shell_msg(timeout=60)
        while reply["parent_header"].get("msg_id") != looping:  # kernel_info's, from before
            reply = client.get_shell_msg(timeout=60)
        assert reply["content"]["ename"] == "KeyboardInterrupt", reply["content"]
        printed: list[str] = []

        def keep(msg: dict) -> None:
            printed.append(msg["content"].get("text", ""))

        after = client.execute_interactive("print(6 * 7)", timeout=60, output_hook=keep)
        assert after["content"]["status"] == "ok" and "42\n" in printed
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert not manager.is_alive()


def _gone(pid: int, seconds: float = 10) -> bool:
    """Whether process ``pid`` ends (or is a zombie) within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat", "rb") as handle:
                if handle.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


#: Prints its pid, and its parent's (the guard's, without bubblewrap), then waits.
WAITER = "import os, time\nprint(os.getpid(), os.getppid(), flush=True)\ntime.sleep(300)\n"


@pytest.mark.parametrize("mode", ["none", "bwrap"])
def test_a_kernel_ends_with_its_guard_and_the_guard_with_its_worker(
    folders: tuple[Path, Path], mode: str
) -> None:
    """A kernel that kills its guard (it can, without a sandbox: the guard is its parent) dies
    with it, not to run on with no cap; and a guard whose worker was killed stops its kernel,
    since nothing else would."""
    private, workdir = folders
    guard = _start(_sandbox(mode=mode), WAITER, [], private, workdir)
    assert guard.stdout is not None
    kernel, parent = map(int, guard.stdout.readline().split())
    if mode == "none":
        assert parent == guard.pid
        os.kill(guard.pid, signal.SIGKILL)
        guard.wait(timeout=30)
        assert _gone(kernel), "the kernel outlived its guard"
    # a worker: a process that starts a guard and its kernel, then is killed
    argv = wrap(_sandbox(mode=mode), [sys.executable, "-c", WAITER], private, workdir)
    starts = f"import subprocess, sys\np = subprocess.Popen({argv!r})\nprint(p.pid, flush=True)\n"
    worker = subprocess.Popen(
        [sys.executable, "-c", starts + "import time\ntime.sleep(300)\n"],
        cwd=workdir,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert worker.stdout is not None
    started = int(worker.stdout.readline())
    line = worker.stdout.readline()  # the kernel's, through the same pipe
    assert line.split(), "the kernel did not start"
    worker.kill()
    worker.wait(timeout=30)
    assert _gone(started), "the guard outlived its worker"
    if mode == "none":
        assert _gone(int(line.split()[0])), "the kernel outlived its worker"


#: An answer that also fills its kernel's private folder (its runtime folder) with 1 GiB.
BOMB_ANSWER = """

import os

for _i in range(16):
    with open(os.path.join(os.environ["JUPYTER_RUNTIME_DIR"], f"bomb-{_i}"), "wb") as _f:
        for _ in range(8):
            _f.write(b"x" * (8 << 20))
"""


def test_a_disk_bomb_in_a_class_is_stopped_and_the_others_are_graded(tmp_path: Path) -> None:
    import nbformat

    from autograder.config import GradingConfig
    from autograder.grading.grade import grade_run
    from tests.synthetic import TOY_ASSIGNMENT, course_notebooks, toy_course, write_class

    course = toy_course(tmp_path / "course")
    notebooks = course_notebooks(course, TOY_ASSIGNMENT)
    good, bad = write_class(tmp_path / "subs", TOY_ASSIGNMENT, notebooks, ["correct"] * 2)
    path = tmp_path / "subs" / bad / TOY_ASSIGNMENT / "toy.ipynb"
    nb = nbformat.read(path, as_version=4)
    answer = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution"))
    answer.source += BOMB_ANSWER
    nbformat.write(nb, path)
    scratch = Path(tempfile.gettempdir())  # where the workers' private folders are
    before = _free(scratch)
    run = grade_run(
        course, tmp_path / "ws", TOY_ASSIGNMENT, tmp_path / "subs", GradingConfig(workers=1)
    )
    results = {r.student: r for r in run.results}
    assert (results[good].status, results[good].score) == ("graded", 3.0)
    bomb = results[bad]
    # NOTE: "kernel_died" with the guard's line as the kernel's last words, until the kernel
    # runner reads the guard's report (disk_guard.stopped) and says "output_limit"
    assert bomb.status in ("kernel_died", "output_limit"), bomb.reason
    assert "wrote more than 96 MiB to disk in its private folder" in bomb.reason, bomb.reason
    assert bomb.score == 0.0
    assert _settled(scratch, before) < NOISE
