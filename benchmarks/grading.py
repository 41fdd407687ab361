"""Grading throughput: nbgrader's own batch autograde against ours, measured in the same run.

    python benchmarks/grading.py [--n 32] [--workers 2] [--assignment A] [--runs abcde] [--profile]

Generates N synthetic submissions of an assignment's exercise (chapter 01's by default; correct,
partial, wrong and erroring in turn), prepares one workspace, and grades copies of it in each of
these ways (``--runs`` picks some), each as a fresh process:

    (a) ``nbgrader autograde 01_linear_algebra``, one submission after another (the anchor);
    (b) ``python -m autograder grade --workers 2``, the local process pool, with warm kernels
        where this machine forks them (``autograder.sandboxed.warm``);
    (c) ``python -m autograder grade --dask-local 2``, a Dask LocalCluster on loopback;
    (d) (b) with ``--no-sandbox`` (and so cold kernels, outside bubblewrap);
    (e) (b) with ``AUTOGRADER_KERNELS=cold``: every kernel a fresh interpreter in bubblewrap, as
        the grader started them before warm kernels.

It prints submissions per second, the speed-ups (b)/(a) and (c)/(a), and the overhead per
submission beyond the notebooks' own execution (kernel start to kernel exit, as the workers
measure it): core-seconds per submission that are not a kernel running a notebook (our probes'
second kernel included). The sandbox's cost per submission is ((b) - (d)) x workers / N. It checks
that all three runs gave every student the same score. ``--profile`` instead grades a few
submissions in this process under cProfile and prints where the time goes.

Then the cost breakdown: the core-seconds each run used (every process under it, nbgrader's
included, from ``getrusage``), per submission, split by phase as our workers record them in the
ledger (``NotebookResult.costs``; the phases are ``autograder.sandboxed.clock.PHASES``, plus the
worker's own CPU): the sandbox, the kernel's start-up, the setup cells, the student's cells, the
probes, the worker, and the rest (the coordinator, the pool or Dask, nbgrader's CLI). The floor is
the cells plus the probes; the table ends with the total against the floor, what the kernel's
start-up is made of (measured apart, in the same run), and 10,000 submissions in core-hours.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ASSIGNMENT = "01_linear_algebra"  # the default; --assignment picks another
MIX = ["correct", "partial", "wrong", "erroring"]

sys.path.insert(0, str(ROOT))
from autograder.config import (  # noqa: E402
    CourseConfig,
    GradingConfig,
    config_file_text,  # noqa: E402
)
from autograder.grading.workspace import Workspace  # noqa: E402
from autograder.sandboxed.clock import PHASES  # noqa: E402
from benchmarks._cost import adopt_orphans, core_seconds  # noqa: E402
from tests.synthetic import course_notebooks, write_class  # noqa: E402


def _env() -> dict[str, str]:
    return dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")


def _costs(workspace: Path) -> dict[str, float]:
    """Phase -> CPU seconds, added up over every submission, as the workers recorded them."""
    total: dict[str, float] = {}
    with sqlite3.connect(workspace / "autograder_results.db") as db:
        for (notebooks,) in db.execute("SELECT scores FROM autograder_results"):
            for nb in json.loads(notebooks):
                for phase, seconds in nb.get("costs", {}).items():
                    total[phase] = total.get(phase, 0.0) + seconds
    return total


def _import_cost(code: str) -> float:
    """The least CPU seconds of three ``python -c code`` runs."""
    return min(core_seconds([sys.executable, "-c", code], ROOT, _env())[1] for _ in range(3))


def breakdown(runs: list[str], cores: dict[str, float], costs: dict[str, dict], n: int) -> None:
    """The mean core-seconds a submission cost, by phase, for each of our runs; nbgrader's total;
    what the kernel's start-up is made of; the floor, and 10,000 submissions in core-hours."""
    ours = [r for r in runs if r in costs]
    print(f"\ncore-seconds per submission, by phase (mean of {n})")
    print(f"{'phase':<32}" + "".join(f"{r[:3]:>9}" for r in runs))
    rows = [*PHASES, "worker"]
    for phase in rows:
        values = "".join(f"{costs[r].get(phase, 0.0) / n:>9.3f}" for r in ours)
        print(f"{phase:<32}{'':>9}{values}")
    rest = {r: cores[r] - sum(costs[r].values()) for r in ours}
    print(
        f"{'coordinator and the rest':<32}{'':>9}" + "".join(f"{rest[r] / n:>9.3f}" for r in ours)
    )
    print(f"{'total':<32}" + "".join(f"{cores[r] / n:>9.3f}" for r in runs))
    floor = {r: (costs[r].get("cells", 0.0) + costs[r].get("probes", 0.0)) / n for r in ours}
    print(f"{'floor (cells + probes)':<32}{'':>9}" + "".join(f"{floor[r]:>9.3f}" for r in ours))
    ratio = "".join(f"{cores[r] / n / floor[r]:>8.1f}x" if floor[r] else f"{'-':>9}" for r in ours)
    print(f"{'total / floor':<32}{'':>9}{ratio}")
    ipykernel = _import_cost("import ipykernel.kernelapp")
    torch = _import_cost("import torch, numpy, coursekit")
    print(
        f"kernel start, measured apart: Python with ipykernel {ipykernel:.2f} s, "
        f"torch + numpy + coursekit {torch:.2f} s (imported before the first cell)"
    )
    hours = "; ".join(f"{r[:3]} {cores[r] / n * 10_000 / 3600:.1f}" for r in runs)
    print(f"10,000 submissions of {ASSIGNMENT}, in core-hours: {hours}")


def scale(
    anchor: str, cores: dict[str, float], costs: dict[str, dict], partial: dict, n: int
) -> None:
    """What a run pays once (start-up: workers, zygotes, the reference's probes, the mutants the
    judge names misconceptions with) and what each submission adds, from the same command on N
    and on N/4 submissions (at least one of each kind); against the floor and nbgrader; 10,000
    submissions in core-hours."""
    if not partial:
        return
    nbgrader = anchor.startswith("(a)")  # without it, there is no anchor to set against
    per = cores[anchor] / n  # nbgrader pays the same for every submission
    small = next(iter(partial.values()))[0]
    print(f"\nwhat each submission adds, and what a run pays once ({n} against {small})")
    print(
        f"{'run':<34}{'fixed s':>9}{'per sub':>9}{'floor':>9}{'/floor':>8}{'ours':>8}{'vs (a)':>8}"
    )
    hours = [f"{anchor[:3]} {per * 10_000 / 3600:.1f}"] if nbgrader else []
    for name, (_, fewer) in partial.items():
        each = (cores[name] - fewer) / (n - small)
        fixed = cores[name] - n * each
        floor = (costs[name].get("cells", 0.0) + costs[name].get("probes", 0.0)) / n
        kernel = sum(costs[name].get(p, 0.0) for p in ("sandbox", "kernel start", "setup cells"))
        ours = each - floor - kernel / n  # the worker, the coordinator: the grader's own
        print(
            f"{name:<34}{fixed:>9.1f}{each:>9.3f}{floor:>9.3f}{each / floor:>7.2f}x"
            f"{ours:>8.3f}" + (f"{per / each:>7.2f}x" if nbgrader else f"{'-':>8}")
        )
        hours.append(f"{name[:3]} {(fixed + each * 10_000) / 3600:.1f}")
    print("ours: what a submission adds beyond its cells, probes, sandbox and kernel start")
    print(
        f"10,000 submissions of {ASSIGNMENT}, fixed cost included, in core-hours: "
        + "; ".join(hours)
    )


def _scores(workspace: Path) -> dict[str, float]:
    """Student -> score, from nbgrader's gradebook (whoever wrote it)."""
    with sqlite3.connect(workspace / "gradebook.db") as db:
        rows = db.execute(
            "SELECT s.student_id, COALESCE(SUM(COALESCE(g.manual_score, g.auto_score, 0)), 0) "
            "FROM submitted_assignment s JOIN submitted_notebook n ON n.assignment_id = s.id "
            "JOIN grade g ON g.notebook_id = n.id GROUP BY s.student_id"
        ).fetchall()
    return {student: float(score) for student, score in rows}


def _kernel_seconds(workspace: Path) -> float:
    with sqlite3.connect(workspace / "autograder_results.db") as db:
        return float(
            db.execute("SELECT SUM(seconds_executing) FROM autograder_results").fetchone()[0]
        )


def prepare(course: CourseConfig, n: int, tmp: Path) -> Path:
    """A workspace with the assignment in its gradebook and N submissions in submitted/."""
    from autograder.grading.workspace import collect
    from autograder.grading.workspace import prepare as prepare_workspace

    kinds = [MIX[i % len(MIX)] for i in range(n)]
    write_class(tmp / "subs", ASSIGNMENT, course_notebooks(course, ASSIGNMENT), kinds)
    ws = prepare_workspace(course, tmp / "base", ASSIGNMENT)
    collect(ws, ASSIGNMENT, tmp / "subs")
    return ws.path


def profile(course: CourseConfig, base: Path, n: int) -> None:
    from autograder.grading.grade import grade

    workspace = base.parent / "profiled"
    shutil.copytree(base, workspace)
    (workspace / "nbgrader_config.py").write_text(
        config_file_text(Workspace(workspace, course).config())
    )
    for student in sorted((workspace / "submitted").iterdir())[n:]:
        shutil.rmtree(student)
    profiler = cProfile.Profile()
    profiler.runcall(grade, course, workspace, ASSIGNMENT, None, GradingConfig(workers=1))
    stats = pstats.Stats(profiler)
    print(f"cProfile of {n} submissions graded in this process (top 25 by own time):")
    stats.sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=32, help="submissions (default 32)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--profile", action="store_true", help="profile a serial run instead")
    parser.add_argument("--assignment", default=ASSIGNMENT)
    parser.add_argument("--runs", default="abcde", help="which runs, by letter (default abcde)")
    args = parser.parse_args()
    globals()["ASSIGNMENT"] = args.assignment
    course = CourseConfig(root=ROOT)
    adopt_orphans()
    with tempfile.TemporaryDirectory(prefix="grading-bench-") as tmp:
        base = prepare(course, args.n, Path(tmp))
        if args.profile:
            profile(course, base, min(args.n, 4))
            return
        ours = [sys.executable, "-m", "autograder", "--course", str(ROOT), "grade", ASSIGNMENT]
        runs = {
            "(a) nbgrader autograde": [str(BIN / "nbgrader"), "autograde", ASSIGNMENT],
            f"(b) ours, {args.workers} local workers": [*ours, "--workers", str(args.workers)],
            f"(c) ours, Dask LocalCluster({args.workers})": [
                *ours,
                "--dask-local",
                str(args.workers),
            ],
            f"(d) ours, {args.workers} workers, no sandbox": [
                *ours,
                "--workers",
                str(args.workers),
                "--no-sandbox",
            ],
            f"(e) ours, {args.workers} workers, cold kernels": [
                *ours,
                "--workers",
                str(args.workers),
            ],
        }
        runs = {name: cmd for name, cmd in runs.items() if name[1] in args.runs}
        wall, scores, overhead, cores, costs, partial = {}, {}, {}, {}, {}, {}
        for name, cmd in runs.items():
            workspace = Path(tmp) / name[1]
            shutil.copytree(base, workspace)
            # The config names the folder it lives in: nbgrader must grade this copy.
            (workspace / "nbgrader_config.py").write_text(
                config_file_text(Workspace(workspace, course).config())
            )
            if name.startswith("(a)"):
                wall[name], cores[name] = core_seconds(cmd, workspace, _env())
            else:
                env = _env() if name[1] != "e" else {**_env(), "AUTOGRADER_KERNELS": "cold"}
                wall[name], cores[name] = core_seconds(
                    [*cmd, "--workspace", str(workspace)], ROOT, env
                )
                small = max(len(MIX), args.n // 4)  # every kind, as often
                if name[1] in "be" and args.n >= 2 * small:  # again on fewer: the fixed cost
                    quarter = Path(tmp) / f"{name[1]}-quarter"
                    shutil.copytree(base, quarter)
                    (quarter / "nbgrader_config.py").write_text(
                        config_file_text(Workspace(quarter, course).config())
                    )
                    for student in (quarter / "submitted").iterdir():  # each kind, a quarter
                        if int(student.name.rsplit("_", 1)[1]) >= small:
                            shutil.rmtree(student)
                    run = [*cmd, "--workspace", str(quarter)]
                    partial[name] = (small, core_seconds(run, ROOT, env)[1])
                busy = wall[name] * args.workers - _kernel_seconds(workspace)
                overhead[name] = busy / args.n
                costs[name] = _costs(workspace)
            scores[name] = _scores(workspace)
            print(f"{name}: {wall[name]:.1f} s", file=sys.stderr, flush=True)

    anchor = next(iter(runs))
    agree = all(s == scores[anchor] for s in scores.values())
    print(
        f"{args.n} submissions of {ASSIGNMENT} ({', '.join(MIX)} in turn), {os.cpu_count()} cores"
    )
    print(f"{'run':<34} {'wall s':>8} {'subs/s':>8} {'speed-up':>9} {'overhead/sub':>13}")
    for name in runs:
        extra = f"{overhead[name]:>11.2f} s" if name in overhead else f"{'':>13}"
        print(
            f"{name:<34} {wall[name]:>8.1f} {args.n / wall[name]:>8.3f} "
            f"{wall[anchor] / wall[name]:>8.2f}x {extra}"
        )
    named = {name[1]: name for name in runs}
    b, c, d, e = (named.get(k) for k in "bcde")
    if b and c:
        print(f"Dask against the local pool: {wall[b] / wall[c]:.2f}x the pool's throughput")
    if b and d:
        print(f"(b) takes {wall[b] / wall[d]:.2f}x the time of (d), which has no sandbox")
    if b and e:
        print(
            f"warm kernels against cold: {wall[e] / wall[b]:.2f}x the throughput, "
            f"{cores[e] / cores[b]:.2f}x less CPU"
        )
    print("overhead/sub: core-seconds per submission not spent in a kernel running the notebook")
    breakdown(list(runs), cores, costs, args.n)
    scale(anchor, cores, costs, partial, args.n)
    print(f"same score for every student in all {len(runs)} runs: {'yes' if agree else 'NO'}")
    if not agree:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
