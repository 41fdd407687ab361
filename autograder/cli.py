"""``python -m autograder``: the instructor's commands over the standard nbgrader course layout."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from autograder.config import CourseConfig, available_cores, find_course_root
from autograder.grading import preflight

LISTED = 50  # `grade` lists every student of a class up to this size


def _course(args: argparse.Namespace) -> CourseConfig:
    root = Path(args.course).resolve() if args.course else find_course_root()
    return CourseConfig(root=root, cell_timeout=args.cell_timeout)


def cmd_release(args: argparse.Namespace) -> int:
    from autograder.authoring.release import release

    for path in release(_course(args), args.assignments or None, args.out):
        print(f"released {path}")
    return 0


def cmd_execute(args: argparse.Namespace) -> int:
    from autograder.authoring.execute import refresh_outputs

    course = _course(args)
    failed = []
    for assignment in args.assignments or course.assignments():
        for path in course.notebooks(assignment):
            bad = refresh_outputs(path, timeout=course.cell_timeout, kernel_name=course.kernel_name)
            print(f"executed {path}" + (f": failing tests {bad}" if bad else ""))
            failed += bad
    return 1 if failed else 0


def cmd_check(args: argparse.Namespace) -> int:
    import time

    from autograder.authoring.check import iter_check, print_probe_check

    course = _course(args)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # show progress as each notebook is done
    failed, started = 0, time.perf_counter()
    names = args.assignments or course.assignments()
    print(f"checking {len(names)} assignment(s): {', '.join(names)}", flush=True)
    for result in iter_check(course, names):
        cells = len(result.solution)
        problems = result.problems
        verdict = "ok" if not problems else f"{len(problems)} problem(s)"
        print(
            f"{result.notebook}: {cells} graded cells, solution passes all, stub fails all: "
            f"{verdict}"
            if not problems
            else f"{result.notebook}: {verdict}"
        )
        for problem in problems:
            print(f"  - {problem}")
        failed += bool(problems)
        failed += print_probe_check(result.notebook)
        print(f"  ({time.perf_counter() - started:.0f} s so far)", flush=True)
    return 1 if failed else 0


def cmd_grade(args: argparse.Namespace) -> int:
    from autograder.config import GradingConfig
    from autograder.grading.grade import grade_run

    options = GradingConfig(
        workers=available_cores() if args.workers is None else args.workers,
        scheduler=args.scheduler,
        dask_local=args.dask_local,
        notebook_timeout=args.notebook_timeout,
        force=args.force,
        isolation=args.isolation,
        students=tuple(args.students),
    )
    course = _course(args)
    preflight.assignment(course, args.assignment)
    if args.submissions is not None:  # checked before the workspace is made
        notebooks = [p.name for p in course.notebooks(args.assignment)]
        preflight.submissions(args.submissions, args.assignment, notebooks)
    run = grade_run(course, args.workspace, args.assignment, args.submissions, options)
    # A class of up to LISTED students is listed whole; a bigger one, only what needs a look.
    listed = [r for r in run.results if len(run.results) <= LISTED or r.status != "graded"]
    width = max([len(r.student) for r in listed] + [7])
    print(f"{'student':<{width}}  {'status':<16}  score")
    for r in listed:
        note = f"  ({r.reason})" if r.reason else ""
        note += "  (already graded)" if r.skipped else ""
        print(f"{r.student:<{width}}  {r.status:<16}  {r.score:g}/{r.max_score:g}{note}")
    if len(listed) < len(run.results):
        print(f"({len(run.results) - len(listed)} graded submissions not listed: see `export`)")
    print(run.summary)
    return 0 if all(r.status == "graded" for r in run.results) else 1


def cmd_feedback(args: argparse.Namespace) -> int:
    from autograder.grading.feedback import feedback
    from autograder.grading.workspace import Workspace

    ws = Workspace(preflight.workspace(args.workspace.resolve()), _course(args))
    preflight.graded_assignment(ws.path, args.assignment)
    for path in feedback(ws, args.assignment, args.students or None):
        print(f"wrote {path}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from autograder.grading.export import export_canvas, export_csv
    from autograder.grading.workspace import Workspace

    ws = Workspace(preflight.workspace(args.workspace.resolve()), _course(args))
    print(f"wrote {export_csv(ws, args.to)}")
    if args.canvas:
        ids = dict(item.split("=", 1) for item in args.canvas_ids)
        print(f"wrote {export_canvas(ws, args.canvas, ids)}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from autograder.grading.report import write_report

    ws = preflight.workspace(args.workspace.resolve())
    preflight.graded_assignment(ws, args.assignment)
    print(f"wrote {write_report(ws, args.assignment, args.out)}")
    return 0


def _assignment_id(text: str) -> str:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected ASSIGNMENT=CANVAS_ID, got {text!r}")
    return text


def _authoring_commands(sub: Any) -> None:
    p = sub.add_parser("release", help="regenerate exercises/ from solutions/")
    p.add_argument("assignments", nargs="*", help="default: every assignment")
    p.add_argument("--out", type=Path, help="release here instead of exercises/")
    p.set_defaults(func=cmd_release)

    p = sub.add_parser("execute", help="re-run solution notebooks in place (outputs for nbval)")
    p.add_argument("assignments", nargs="*", help="default: every assignment")
    p.set_defaults(func=cmd_execute)

    p = sub.add_parser("check", help="prove each assignment: solutions pass, stubs fail")
    p.add_argument("assignments", nargs="*", help="default: every assignment")
    p.set_defaults(func=cmd_check)


def _grade_command(sub: Any) -> None:
    p = sub.add_parser("grade", help="autograde submissions into the workspace's gradebook")
    p.add_argument("assignment")
    p.add_argument("--workspace", type=Path, required=True, help="the grading folder")
    p.add_argument(
        "--submissions",
        type=Path,
        help="folder of <student>/<assignment>/*.ipynb (default: the workspace's submitted/)",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=int,
        help=f"local worker processes (default: all {available_cores()} cores; 1: in-process)",
    )
    where.add_argument("--scheduler", help="grade on the Dask cluster of this scheduler address")
    where.add_argument(
        "--dask-local", type=int, default=0, metavar="N", help="start a local Dask cluster of N"
    )
    p.add_argument(
        "--notebook-timeout",
        type=int,
        default=1800,
        help="CPU seconds all a notebook's student cells and probes may use (default 1800; "
        "a wall-clock backstop of 3x + 10 s stops code that sleeps); later cells are not run",
    )
    p.add_argument(
        "--force", action="store_true", help="regrade submissions already graded as they are"
    )
    p.add_argument(
        "--student",
        dest="students",
        action="append",
        default=[],
        help="grade only this student, even if already graded (repeatable)",
    )
    isolation = p.add_mutually_exclusive_group()
    isolation.add_argument(
        "--require-sandbox",
        dest="isolation",
        action="store_const",
        const="bwrap",
        default="auto",
        help="refuse to grade unless bubblewrap can sandbox every submission",
    )
    isolation.add_argument(
        "--no-sandbox",
        dest="isolation",
        action="store_const",
        const="none",
        help="run kernels unconfined (only to measure what the sandbox costs)",
    )
    p.set_defaults(func=cmd_grade)


def _result_commands(sub: Any) -> None:
    p = sub.add_parser("feedback", help="write per-student feedback HTML, hidden tests redacted")
    p.add_argument("assignment")
    p.add_argument("--workspace", type=Path, required=True)
    p.add_argument(
        "--student",
        dest="students",
        action="append",
        default=[],
        help="only this student (repeatable; default: every graded student)",
    )
    p.set_defaults(func=cmd_feedback)

    p = sub.add_parser("export", help="write the grades CSV (and a Canvas import CSV)")
    p.add_argument("--workspace", type=Path, required=True)
    p.add_argument("--to", type=Path, default=Path("grades.csv"), help="nbgrader's CSV")
    p.add_argument("--canvas", type=Path, help="also write a Canvas gradebook import CSV here")
    p.add_argument(
        "--canvas-id",
        dest="canvas_ids",
        type=_assignment_id,
        action="append",
        default=[],
        metavar="ASSIGNMENT=ID",
        help="the Canvas id of an assignment's column (repeatable; default: match by name)",
    )
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("report", help="write an HTML grading report for the instructor")
    p.add_argument("assignment")
    p.add_argument("--workspace", type=Path, required=True)
    p.add_argument("--out", type=Path, default=Path("report.html"))
    p.set_defaults(func=cmd_report)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    parser.add_argument("--course", help="the course folder (default: found from the cwd)")
    parser.add_argument(
        "--cell-timeout",
        type=int,
        default=300,
        help="CPU seconds a student cell may use (default 300; nbgrader's own is 30 s of wall "
        "time; a wall-clock backstop of 3x + 10 s stops code that sleeps)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _authoring_commands(sub)
    _grade_command(sub)
    _result_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from autograder.config import CourseError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (FileNotFoundError, ValueError, CourseError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
