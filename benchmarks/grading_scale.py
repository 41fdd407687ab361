"""A MOOC-sized class through the Dask backend: every submission must end with a status.

    python benchmarks/grading_scale.py [--n 1000] [--dask-local 2 | --scheduler tcp://HOST:PORT]

Writes N small submissions of the toy assignment (:mod:`tests.synthetic`: mostly correct,
partial, wrong, erroring and empty; one in a hundred each a cell that never ends, a kernel that
dies, a notebook that is not JSON, a folder without the notebook), grades them with
``python -m autograder grade`` on Dask, and reports completion, the count of each status, wall
time and throughput, the coordinator's peak memory, how the kernels started, and whether the
ledger and the gradebook both hold every submission once.
A script, not a test: it takes minutes.
"""

from __future__ import annotations

import argparse
import collections
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.synthetic import (  # noqa: E402
    TOY_ASSIGNMENT,
    course_notebooks,
    toy_course,
    write_class,
)

COMMON = ["correct", "partial", "wrong", "erroring", "empty"]
RARE = ["timeout", "kernel_death", "invalid", "missing"]  # one in a hundred each
EXPECTED_STATUS = {"timeout": "timed_out", "kernel_death": "kernel_died"}
EXPECTED_STATUS.update(invalid="invalid_notebook", missing="missing")


def kinds(n: int) -> list[str]:
    return [
        RARE[(i // 100) % len(RARE)] if i % 100 == 99 else COMMON[i % len(COMMON)] for i in range(n)
    ]


def _high_water_kib(pid: int) -> int:
    """The peak resident memory of process ``pid`` so far, in KiB (0 once it has gone)."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--dask-local", type=int, default=2, metavar="N")
    where.add_argument("--scheduler", help="a running Dask scheduler's address")
    parser.add_argument("--cell-timeout", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="grading-scale-") as tmp:
        course = toy_course(Path(tmp) / "course")
        students = write_class(
            Path(tmp) / "subs",
            TOY_ASSIGNMENT,
            course_notebooks(course, TOY_ASSIGNMENT),
            kinds(args.n),
        )
        workspace = Path(tmp) / "ws"
        cmd = [sys.executable, "-m", "autograder", "--course", str(course.root)]
        cmd += ["--cell-timeout", str(args.cell_timeout), "grade", TOY_ASSIGNMENT]
        cmd += ["--workspace", str(workspace), "--submissions", str(Path(tmp) / "subs")]
        cmd += ["--scheduler", args.scheduler] if args.scheduler else []
        cmd += [] if args.scheduler else ["--dask-local", str(args.dask_local)]
        started = time.perf_counter()
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            child = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=err, text=True)
            peak = 0
            while child.poll() is None:  # the coordinator's high-water mark, while it lives
                peak = max(peak, _high_water_kib(child.pid))
                time.sleep(0.5)
            wall = time.perf_counter() - started
            out.seek(0)
            err.seek(0)
            proc = subprocess.CompletedProcess(cmd, child.returncode, out.read(), err.read())

        with sqlite3.connect(workspace / "autograder_results.db") as db:
            rows = db.execute("SELECT student, status FROM autograder_results").fetchall()
            reasons = dict(db.execute("SELECT student, reason FROM autograder_results"))
        with sqlite3.connect(workspace / "gradebook.db") as db:
            submissions = db.execute("SELECT COUNT(*) FROM submitted_assignment").fetchone()[0]

    statuses = dict(rows)
    counts = collections.Counter(statuses.values())
    wrong = [
        s for s in students if statuses.get(s) != EXPECTED_STATUS.get(s.rsplit("_", 1)[0], "graded")
    ]
    where = args.scheduler or f"a LocalCluster of {args.dask_local} workers"
    print(f"{args.n} toy submissions on Dask ({where}), {os.cpu_count()} cores")
    print(f"coordinator exit code: {proc.returncode} (1: some submissions are not 'graded')")
    print(f"with a status: {len(statuses)} of {args.n}; as expected: {args.n - len(wrong)}")
    for status, count in counts.most_common():
        print(f"  {status:<17}{count:>6}")
    print(f"gradebook submissions: {submissions}; ledger rows: {len(rows)}")
    print(f"wall {wall:.1f} s, {args.n / wall:.2f} submissions per second")
    print(f"the coordinator's peak memory: {peak / 1024:.0f} MiB (VmHWM)")
    print(next((ln for ln in proc.stdout.splitlines() if ln.startswith("kernels:")), "kernels: ?"))
    if proc.returncode not in (0, 1) or wrong or len(statuses) != args.n:
        print(proc.stderr[-3000:], file=sys.stderr)
        for student in wrong[:10]:
            print(f"unexpected: {student}: {statuses.get(student)} ({reasons.get(student)})")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
