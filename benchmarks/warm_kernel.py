"""What a warm, forked kernel would cost, against the cold sandboxed kernel a submission gets today.

    python benchmarks/warm_kernel.py [--n 8]

Issue 16's design question, measured before it is built. Both modes start ``--n`` kernels one after
another, run one cell in each (it imports torch and reports what the kernel can see), and shut it
down. Each mode runs as a command of its own, measured in a control group
(:func:`benchmarks._cost.core_seconds`), so every process it starts is counted:

- **cold** (the anchor): the kernel command the grader runs today, built by
  :func:`autograder.sandboxed.sandbox.wrap` (disk guard, bubblewrap, prlimit, setpriv), started
  afresh for each kernel, which imports torch, NumPy and coursekit again each time;
- **warm**: one zygote imports them once; for each kernel it forks a child that enters new mount,
  PID, network, IPC, UTS and cgroup namespaces, builds a root of read-only binds with size-capped
  ``/tmp`` and ``/submission``, pivots into it, sets the same limits, becomes an unprivileged user
  with no capabilities and no new privileges, and only then starts the ipykernel app.

The warm sandbox here is a measurement, not yet the grader's: it has no disk guard and no
CPU clock of its own, and it needs root (no user namespace is made). What each kernel saw is
printed for both modes, and the run fails if the two views differ.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._warm_sandbox import fork_kernel  # noqa: E402

#: What each kernel reports: who and where it is, and what it may not do.
CELL = """\
import json, os, socket, torch
view = {"uid": os.getuid(), "pid": os.getpid(), "host": socket.gethostname(),
        "root": sorted(os.listdir("/")), "files": sorted(os.listdir(".")),
        "torch": torch.ones(3).sum().item()}
try:
    socket.create_connection(("192.0.2.1", 80), timeout=1)
    view["network"] = "reached"
except OSError as err:
    view["network"] = type(err).__name__
for path in ("/etc/x", "/usr/x"):
    try:
        open(path, "w").close()
        view[path] = "written"
    except OSError as err:
        view[path] = type(err).__name__
print(json.dumps(view))
"""


def _kernel_files() -> tuple[str, str, str, dict]:
    from jupyter_client.connect import write_connection_file

    private = tempfile.mkdtemp(prefix="warm-private-")
    os.chmod(private, 0o777)
    workdir = tempfile.mkdtemp(prefix="warm-work-")
    Path(workdir, "answer.txt").write_text("42")
    os.chmod(workdir, 0o755)
    os.chmod(Path(workdir, "answer.txt"), 0o644)
    conn, info = write_connection_file(f"{private}/kernel.json", transport="ipc", ip=f"{private}/k")
    os.chmod(conn, 0o644)
    return private, workdir, conn, info


def _talk(conn: str) -> dict:
    from jupyter_client import BlockingKernelClient

    client = BlockingKernelClient(connection_file=conn)
    client.load_connection_file()
    client.start_channels()
    client.wait_for_ready(timeout=120)
    said: list[str] = []

    def hook(msg: dict) -> None:
        if msg["msg_type"] == "stream":
            said.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            said.append(json.dumps({"error": msg["content"]["evalue"]}))

    client.execute_interactive(CELL, timeout=120, output_hook=hook)
    client.shutdown()
    client.stop_channels()
    return json.loads("".join(said).strip().splitlines()[-1])


def run_mode(mode: str, n: int) -> None:
    """Start ``n`` kernels in ``mode`` and print each one's view as a JSON line."""
    from autograder.sandboxed.sandbox import detect, wrap

    sandbox = detect().for_worker()
    uid = sandbox.uid if sandbox.uid is not None else 65534
    zygote = _start_zygote(uid) if mode == "warm" else None
    for _ in range(n):
        private, workdir, conn, _ = _kernel_files()
        args = ["-f", conn, "--HistoryManager.hist_file=:memory:"]
        if zygote is not None:
            ask, answer = zygote
            ask.write(json.dumps([args, private, workdir]) + "\n")
            ask.flush()
            assert answer.readline().strip() == "started"
        else:
            argv = [sys.executable, "-m", "ipykernel_launcher", *args]
            quiet = subprocess.DEVNULL  # the kernel's own chatter; its view comes back as a message
            proc = subprocess.Popen(
                wrap(sandbox, argv, Path(private), Path(workdir)), stdout=quiet, stderr=quiet
            )
        try:
            view = _talk(conn)
        except RuntimeError:
            sys.stderr.write(Path(private, "kernel.log").read_text(errors="replace"))
            raise
        if zygote is not None:
            assert zygote[1].readline().strip() == "ended"
        else:
            proc.wait()
        for folder in (private, workdir):
            shutil.rmtree(folder, ignore_errors=True)
        print(json.dumps(view), flush=True)
    import time

    # the client's own CPU (its imports and the Jupyter client's work): the same in both modes
    print(json.dumps({"client": time.process_time()}), flush=True)


def _start_zygote(uid: int) -> tuple:
    """Fork the zygote: it imports what every kernel imports, once, and then forks a kernel for
    each request. NOTE: it is a process of its own because a process that has been a Jupyter
    client holds ZeroMQ state, which a forked kernel must not inherit."""
    import time

    requests, answers = os.pipe(), os.pipe()
    if os.fork():
        os.close(requests[0])
        os.close(answers[1])
        return os.fdopen(requests[1], "w"), os.fdopen(answers[0])
    os.close(requests[1])
    os.close(answers[0])
    import ipykernel.kernelapp  # noqa: F401
    import numpy  # noqa: F401
    import torch  # noqa: F401

    import coursekit.reruns  # noqa: F401  what the kernels import

    # the zygote's own cost: the interpreter and every import, before its first fork
    print(json.dumps({"zygote": time.process_time()}), flush=True)
    ask, answer = os.fdopen(requests[0]), os.fdopen(answers[1], "w")
    for line in ask:
        args, private, workdir = json.loads(line)
        pid = fork_kernel(args, private, workdir, uid)
        answer.write("started\n")
        answer.flush()
        os.waitpid(pid, 0)
        answer.write("ended\n")
        answer.flush()
    os._exit(0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=8, help="kernels started in each mode")
    parser.add_argument("--mode", choices=["cold", "warm"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        run_mode(args.mode, args.n)
        return 0
    from autograder.sandboxed.sandbox import detect
    from benchmarks._cost import adopt_orphans, core_seconds

    if os.geteuid() != 0 or not detect().isolated or not sys.platform.startswith("linux"):
        print("skipped: the warm path needs Linux, root and bubblewrap (the anchor's sandbox)")
        return 0
    adopt_orphans()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    results, views, fixed = {}, {}, {}  # fixed: the client's CPU, and the zygote's
    for mode in ("cold", "warm"):
        cmd = [sys.executable, "-P", __file__, "--mode", mode, "--n", str(args.n)]
        with tempfile.NamedTemporaryFile("w+", suffix=".jsonl") as out:
            sh = ["sh", "-c", f'"$@" > {out.name}', "sh", *cmd]
            results[mode] = core_seconds(sh, ROOT, env)
            lines = Path(out.name).read_text().splitlines()
        views[mode] = [json.loads(line) for line in lines if line.startswith('{"uid"')]
        for key in ("zygote", "client"):
            found = [json.loads(line)[key] for line in lines if line.startswith(f'{{"{key}"')]
            fixed[mode] = fixed.get(mode, 0.0) + sum(found)
    cold_wall, cold_cores = results["cold"]
    print(f"{args.n} kernels each, one cell (import torch, report the view), one after another")
    print(f"{'mode':<6} {'wall s':>8} {'core-s':>8} {'core-s/kernel':>14} {'vs cold':>8}")
    for mode, (wall, cores) in results.items():
        print(
            f"{mode:<6} {wall:8.2f} {cores:8.2f} {cores / args.n:14.3f} {cold_cores / cores:7.2f}x"
        )
    each = {mode: (cores - fixed[mode]) / args.n for mode, (_, cores) in results.items()}
    print(
        "per kernel, leaving out what is paid once per worker (the client's and the zygote's "
        f"own CPU): cold {each['cold']:.3f}, warm {each['warm']:.3f} core-s, "
        f"{each['cold'] / each['warm']:.1f}x"
    )
    for mode, seen in views.items():
        print(f"{mode} view: {json.dumps({k: v for k, v in seen[0].items() if k != 'root'})}")
    for seen in views.values():
        for view in seen:
            view["uid"] = "root" if view["uid"] == 0 else "another user"
    same = ("uid", "root", "host", "files", "network", "/etc/x", "/usr/x", "torch")
    differ = [k for k in same if views["cold"][0][k] != views["warm"][0][k]]
    if len(views["cold"]) != args.n or len(views["warm"]) != args.n or differ:
        counts = {mode: len(seen) for mode, seen in views.items()}
        print(f"the two sandboxes differ in: {differ or counts}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
