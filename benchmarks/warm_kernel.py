"""What a warm kernel costs against a cold one: the grader's own two paths, in the same run.

    python benchmarks/warm_kernel.py [--n 8]

Both modes run ``--n`` one-cell notebooks one after another through the grader's
:func:`autograder.sandboxed.kernel.run_notebook`, in this machine's sandbox; the cell imports
torch and reports what the kernel can see. Each mode runs as a command of its own, measured in a
control group (:func:`benchmarks._cost.core_seconds`), so every process it starts is counted:

- **cold** (the anchor; ``AUTOGRADER_KERNELS=cold``): each kernel a fresh interpreter in
  bubblewrap, behind the disk guard, importing torch, NumPy and coursekit again;
- **warm** (the default where the grader may fork kernels): each kernel forked from the worker's
  zygote (:mod:`autograder.sandboxed.warm`), which entered its own sandbox before it started.

It prints the core-seconds per kernel, with and without what each mode pays once per worker (the
client's own CPU, and the zygote's imports and warm-up), and what each kernel saw; it fails if
the two kinds of kernel see different sandboxes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

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


def run_mode(n: int) -> None:
    """Run ``n`` one-cell notebooks, printing each kernel's view and then the fixed costs."""
    import nbformat

    from autograder.sandboxed import warm
    from autograder.sandboxed.clock import TimeLimits
    from autograder.sandboxed.kernel import run_notebook
    from autograder.sandboxed.worker import sandbox

    spec = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": spec})
    nb.cells = [nbformat.v4.new_code_cell(CELL)]
    with tempfile.TemporaryDirectory(prefix="warm-bench-") as workdir:
        Path(workdir, "answer.txt").write_text("42")
        for _ in range(n):
            ran = run_notebook(
                nb, {"metadata": {"path": workdir}}, "python3", TimeLimits.of(120, 120),
                sandbox("auto"),
            )  # fmt: skip
            text = "".join(o.get("text", str(o)) for o in ran.nb.cells[0].outputs)
            print(text.strip().splitlines()[-1], flush=True)
    found = warm.zygote(sandbox("auto"))
    print(json.dumps({"client": time.process_time(), "zygote": found.cpu if found else 0.0}))
    print(json.dumps({"kernels": warm.kernels(sandbox("auto"))}), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=8, help="kernels started in each mode")
    parser.add_argument("--mode", choices=["cold", "warm"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        run_mode(args.n)
        return 0
    from autograder.sandboxed import warm
    from autograder.sandboxed.worker import sandbox
    from benchmarks._cost import adopt_orphans, core_seconds

    why = warm.cold_because(sandbox("auto"))
    if why is not None:
        print(f"skipped: kernels start cold here ({why}), so there is no warm path to measure")
        return 0
    adopt_orphans()
    results, views, fixed, said = {}, {}, {}, {}
    for mode in ("cold", "warm"):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
        env["AUTOGRADER_KERNELS"] = mode
        cmd = [sys.executable, "-P", __file__, "--mode", mode, "--n", str(args.n)]
        with tempfile.NamedTemporaryFile("w+", suffix=".jsonl") as out:
            sh = ["sh", "-c", f'"$@" > {out.name}', "sh", *cmd]
            results[mode] = core_seconds(sh, ROOT, env)
            lines = [json.loads(line) for line in Path(out.name).read_text().splitlines()]
        views[mode] = [line for line in lines if "uid" in line]
        fixed[mode] = sum(line.get("client", 0.0) + line.get("zygote", 0.0) for line in lines)
        said[mode] = next((line["kernels"] for line in lines if "kernels" in line), "?")
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
    print(f"how they started: cold: {said['cold']}; warm: {said['warm']}")
    for mode, seen in views.items():
        print(f"{mode} view: {json.dumps({k: v for k, v in seen[0].items() if k != 'root'})}")
    for seen in views.values():
        for view in seen:
            view["uid"] = "root" if view["uid"] == 0 else "another user"
    same = ("uid", "root", "host", "files", "network", "/etc/x", "/usr/x", "torch")
    differ = [k for k in same if views["cold"][0][k] != views["warm"][0][k]]
    if said["warm"] != "warm" or len(views["cold"]) != args.n or len(views["warm"]) != args.n:
        differ = differ or [f"kernels: {said}, views: {[len(v) for v in views.values()]}"]
    if differ:
        print(f"the two sandboxes differ in: {differ}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
