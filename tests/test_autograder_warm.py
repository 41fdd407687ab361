"""Warm kernels (autograder.sandboxed.warm): forks of a zygote, in the cold kernel's sandbox.

A warm kernel must be indistinguishable from a cold one from the inside, a zygote that dies is
started again, one that cannot start leaves the kernels cold and says why, and nothing outlives
the worker. The whole grader on warm kernels is tested by tests/adversarial/ and the sandbox,
limits and disk tests, which run warm wherever this machine forks kernels.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

from autograder.sandboxed import warm
from autograder.sandboxed.clock import TimeLimits
from autograder.sandboxed.kernel import run_notebook
from autograder.sandboxed.shared_zygote import SharedZygote
from autograder.sandboxed.worker import sandbox
from tests.conftest import ROOT

WHY_COLD = warm.cold_because(sandbox("auto"))
pytestmark = pytest.mark.skipif(WHY_COLD is not None, reason=f"kernels start cold: {WHY_COLD}")

#: What a kernel can tell about where it runs, as JSON.
VIEW = r"""
import json, os, resource, socket, sys
status = dict(line.split(":\t", 1) for line in open("/proc/self/status").read().splitlines())
try:
    import autograder
    grader = "importable"
except ImportError:
    grader = "absent"
view = {
    "uid": os.getuid() != 0, "gid": os.getgid() == os.getuid(), "groups": os.getgroups(),
    "pid": os.getpid(), "host": socket.gethostname(), "root": sorted(os.listdir("/")),
    "dev": sorted(os.listdir("/dev")), "cwd": os.getcwd(), "files": sorted(os.listdir(".")),
    "env": dict(sorted((k, v) for k, v in os.environ.items() if k != "JUPYTER_RUNTIME_DIR")),
    "limits": {n: resource.getrlimit(getattr(resource, n)) for n in dir(resource)
               if n.startswith("RLIMIT_")},
    "caps": [status[k].strip() for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")],
    "no_new_privs": status["NoNewPrivs"].strip(), "umask": os.umask(0o022),
    "path": sys.path, "flags": [sys.flags.safe_path, sys.flags.no_user_site,
                                sys.flags.dont_write_bytecode],
    "argv0": os.path.basename(sys.argv[0]), "grader": grader,
    "name": open("/proc/self/comm").read(),
    "processes": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
}
print(json.dumps(view))
"""


def _notebook(*cells: str) -> nbformat.NotebookNode:
    kernelspec = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": kernelspec})
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    return nb


def _printed(workdir: Path, *cells: str) -> list[str]:
    ran = run_notebook(
        _notebook(*cells),
        {"metadata": {"path": str(workdir)}},
        "python3",
        TimeLimits.of(60, 120),
        sandbox("auto"),
    )
    assert not ran.failed, [c.outputs for c in ran.nb.cells]
    return ["".join(o.get("text", "") for o in c.outputs) for c in ran.nb.cells]


def _workdir(tmp_path: Path) -> Path:
    workdir = tmp_path / "work"
    (workdir / "data").mkdir(parents=True)
    (workdir / "answer.txt").write_text("42")
    (workdir / "data" / "x.csv").write_text("1,2")
    return workdir


def test_a_warm_kernel_sees_what_a_cold_kernel_sees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workdir = _workdir(tmp_path)
    warm_view = json.loads(_printed(workdir, VIEW)[0])
    monkeypatch.setenv("AUTOGRADER_KERNELS", "cold")
    assert warm.kernels(sandbox("auto")) == "cold (AUTOGRADER_KERNELS=cold)"
    cold_view = json.loads(_printed(workdir, VIEW)[0])
    # the namespace's init and the kernel; bubblewrap's init, its shell, the kernel
    assert warm_view.pop("processes") == [1, 2]
    assert len(cold_view.pop("processes")) <= 3
    assert warm_view.pop("pid") == 2 and cold_view.pop("pid") <= 3
    assert warm_view == cold_view
    assert warm_view["uid"] and warm_view["groups"] == [] and warm_view["host"] == "sandbox"
    assert warm_view["caps"] == ["0000000000000000"] * 5 and warm_view["no_new_privs"] == "1"
    assert warm_view["files"] == ["answer.txt", "data"] and warm_view["grader"] == "absent"


def test_each_warm_kernel_starts_from_the_zygote_not_from_the_last_kernel(tmp_path: Path) -> None:
    """What one kernel does to its interpreter (a planted module, a patched builtin, a global)
    is not in the next one: each is a fork of the zygote as its imports left it."""
    workdir = _workdir(tmp_path)
    plant = (
        "import builtins, os, sys, types, torch\n"
        "sys.modules['planted'] = types.ModuleType('planted')\n"
        "builtins.planted = True\n"
        "os.environ['PLANTED'] = '1'\n"
        "torch.allclose = lambda *a, **k: True\n"
        "print('planted')"
    )
    look = (
        "import builtins, os, sys, torch\n"
        "same = torch.allclose(torch.zeros(1), torch.ones(1))\n"
        "env = 'PLANTED' in os.environ\n"
        "print('planted' in sys.modules, hasattr(builtins, 'planted'), env, same)"
    )
    assert _printed(workdir, plant, look) == ["planted\n", "True True True True\n"]
    assert _printed(workdir, look) == ["False False False False\n"]


def _thp_possible() -> bool:
    """Whether this machine's kernel can collapse memory into huge pages (MADV_COLLAPSE, 6.1)."""
    mode = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    release = tuple(int(x) for x in os.uname().release.split(".")[:2] if x.isdigit())
    return mode.exists() and "[never]" not in mode.read_text() and release >= (6, 1)


@pytest.mark.skipif(not _thp_possible(), reason="no transparent huge pages to collapse into")
def test_the_zygote_s_heap_is_in_huge_pages(tmp_path: Path) -> None:
    """Most of what the zygote's imports wrote sits in huge pages, whose page tables each of a
    kernel's three forks copies in a fraction of the time (zygote_imports.huge_pages)."""
    _printed(_workdir(tmp_path), "print(1)")
    zygote = warm.zygote(sandbox("auto"))
    assert zygote is not None and zygote.process is not None
    rollup = Path(f"/proc/{zygote.process.pid}/smaps_rollup").read_text().splitlines()
    kib = {line.split(":")[0]: int(line.split()[1]) for line in rollup[1:]}
    assert kib["AnonHugePages"] > kib["Anonymous"] / 2, kib


def test_a_zygote_that_dies_is_started_again(tmp_path: Path) -> None:
    workdir = _workdir(tmp_path)
    first = warm.zygote(sandbox("auto"))
    assert first is not None and first.process is not None
    _printed(workdir, "print(1)")
    first.process.kill()
    first.process.wait()
    assert _printed(workdir, "print(2)") == ["2\n"]
    again = warm.zygote(sandbox("auto"))
    assert again is not None and again.process is not None and again.process.poll() is None


def test_a_zygote_that_cannot_start_leaves_kernels_cold_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "zygote.py"
    broken.write_text("raise SystemExit('this zygote cannot import torch')\n")
    monkeypatch.setattr(warm, "ZYGOTE", str(broken))
    monkeypatch.setattr(warm, "_ZYGOTE", {})
    monkeypatch.setattr(warm, "_FAILED", {})
    assert _printed(_workdir(tmp_path), "print('cold and fine')") == ["cold and fine\n"]
    assert warm.kernels(sandbox("auto")) == (
        "cold (the zygote did not start: this zygote cannot import torch)"
    )


WORKER = """
import json, sys
from pathlib import Path
import nbformat
from autograder.sandboxed import warm
from autograder.sandboxed.shared_zygote import SharedZygote
from autograder.sandboxed.clock import TimeLimits
from autograder.sandboxed.kernel import run_notebook
from autograder.sandboxed.worker import sandbox
found = warm.zygote(sandbox("auto"))
said = {"zygote": found.pid, "uid": sandbox("auto").uid, "mountpoint": found.mountpoint}
print(json.dumps(said), flush=True)
spec = {"name": "python3", "language": "python", "display_name": "Python 3"}
nb = nbformat.v4.new_notebook(metadata={"kernelspec": spec})
nb.cells = [nbformat.v4.new_code_cell("import time; time.sleep(600)")]
run_notebook(nb, {"metadata": {"path": sys.argv[1]}}, "python3", TimeLimits.of(900, 900),
             sandbox("auto"))
"""


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _owned_by(uid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and entry.stat().st_uid == uid and _alive(int(entry.name)):
                found.append(int(entry.name))
        except FileNotFoundError:
            continue
    return found


def test_the_zygote_and_its_kernels_end_with_their_worker(tmp_path: Path) -> None:
    """A worker killed outright (SIGKILL: nothing of it runs again) leaves nothing behind: its
    zygote sees the socket close, and each guard stops its kernel when its zygote has gone; the
    zygote's one mountpoint for its kernels' roots is removed too."""
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(_workdir(tmp_path))],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    assert worker.stdout is not None
    said = json.loads(worker.stdout.readline())
    deadline = time.monotonic() + 120
    while not _owned_by(said["uid"]):  # the kernel is running its cell
        assert time.monotonic() < deadline and worker.poll() is None, "no kernel started"
        time.sleep(0.2)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    deadline = time.monotonic() + 15
    while _alive(said["zygote"]) or _owned_by(said["uid"]):
        assert time.monotonic() < deadline, (
            f"left behind: zygote alive={_alive(said['zygote'])}, "
            f"kernel processes {_owned_by(said['uid'])}"
        )
        time.sleep(0.2)
    assert Path(said["mountpoint"]).name.startswith("kernel-root-")
    assert not Path(said["mountpoint"]).exists()


def test_kernels_leave_no_folder_behind(tmp_path: Path) -> None:
    """Each kernel's init mounts its root on the zygote's one mountpoint, in a namespace of its
    own: a class graded leaves no folder per kernel in the temporary folder."""
    workdir = _workdir(tmp_path)
    _printed(workdir, "print(0)")  # the zygote is up, its mountpoint made
    before = set(Path(tempfile.gettempdir()).glob("kernel-root-*"))
    for i in range(4):
        assert _printed(workdir, f"print({i})") == [f"{i}\n"]
    made = set(Path(tempfile.gettempdir()).glob("kernel-root-*")) - before
    # NOTE: at most another test process's new zygote's, not one for each of the four kernels
    assert len(made) <= 1, made


@pytest.mark.parametrize("kind", ["big", "deleted", "mapped", "empty"])
def test_the_disk_guard_stops_a_warm_kernel_s_bomb(tmp_path: Path, kind: str) -> None:
    """The warm kernel's first process is the disk guard, outside its namespaces: it still sees
    the kernel's files, open deleted ones and shared mappings too (through the namespace's own
    /proc), and stops it near the cap, as it does a cold kernel (tests/test_autograder_disk.py)."""
    from dataclasses import replace

    from autograder.sandboxed import disk_guard
    from autograder.sandboxed.sandbox import Limits
    from tests.test_autograder_disk import BOMB

    confined = replace(sandbox("auto"), limits=Limits(private_files=500))
    private = tmp_path / "kernel" / "sandbox"
    private.parent.mkdir()
    cell = f"import sys\nsys.argv = ['-c', {str(private)!r}, {kind!r}]\n{BOMB}"
    ran = run_notebook(
        _notebook(cell, "print('after')"),
        {"metadata": {"path": str(_workdir(tmp_path))}},
        "python3",
        TimeLimits.of(120, 240),
        confined,
        private=private,
    )
    cap = Limits().private_bytes // 2**20
    why = "made more than 500 files" if kind == "empty" else f"wrote more than {cap} MiB to disk"
    said = f"the kernel {why} in its private folder"
    report = Path(disk_guard.report_file(str(private)))
    assert ran.stopped is not None and ran.stopped[0] == "kernel_died", ran.stopped
    assert report.read_text(encoding="utf-8").strip() == said
    assert ran.said == f"{disk_guard.MARK} {said}; it was stopped"


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


@pytest.mark.parametrize("kind", ["pool", "dask"])
def test_a_pools_workers_zygotes_are_forks_of_one_that_they_share(kind: str) -> None:
    """A local pool, or a Dask cluster on loopback, imports torch once: each worker's zygote is
    a fork of the shared one, each worker gets its own, and closing the backend ends them all."""
    import psutil

    from autograder.grading.backends import Dask, Pool

    pool = Pool(2) if kind == "pool" else Dask(local_workers=2)
    try:
        assert pool.zygote is not None
        shared = psutil.Process(pool.zygote.process.pid)
        deadline = time.monotonic() + 120
        while len(shared.children()) < 2:  # each worker connects in its warm-up
            assert time.monotonic() < deadline, "the workers' zygotes were not forked"
            time.sleep(0.2)
        forks = {child.pid for child in shared.children()}
        assert len(forks) == 2 and all(_parent(pid) == shared.pid for pid in forks)
        assert Path(pool.zygote.path).is_socket()
        assert oct(Path(pool.zygote.folder).stat().st_mode & 0o777) == "0o700"
    finally:
        pool.close()
    deadline = time.monotonic() + 15
    while (
        shared.is_running()
        and shared.status() != psutil.STATUS_ZOMBIE
        or any(_alive(pid) for pid in forks)
    ):
        assert time.monotonic() < deadline, "a closed pool left a zygote behind"
        time.sleep(0.2)
    assert not Path(pool.zygote.folder).exists()


def test_a_worker_whose_shared_zygote_has_gone_starts_its_own(tmp_path: Path) -> None:
    """The pool's zygote killed (or never listening): the worker's zygote is a process of its
    own, and its kernels still start warm."""
    shared = SharedZygote()
    try:
        shared.process.kill()
        shared.process.wait()
        own = warm.Zygote(shared.path)
        try:
            own.ready()
            assert own.process is not None and own.shared is None
            assert _parent(own.pid) == os.getpid()
        finally:
            own.stop()
    finally:
        shared.stop()
    assert not Path(shared.folder).exists()


def test_a_shared_zygotes_fork_that_dies_is_forked_again(tmp_path: Path) -> None:
    """A worker's zygote forked from the shared one dies: the worker's next kernel comes from a
    new fork of the shared one, not from a zygote of its own."""
    shared = SharedZygote()
    try:
        mine = warm.Zygote(shared.path)
        try:
            mine.ready()
            first = mine.pid
            assert mine.process is None and _parent(first) == shared.process.pid
            os.kill(first, signal.SIGKILL)
            mine.start()  # what fork() does when its zygote has ended
            mine.ready()
            assert mine.pid != first and _parent(mine.pid) == shared.process.pid
        finally:
            mine.stop()
    finally:
        shared.stop()
