"""The student's self-check: run a function's visible tests in this kernel, and see what passed.

``check("matmul_broadcast")`` runs the visible test cells of one graded function, ``check_all()``
those of every function in the notebook. Each returns a :class:`Report`: a table of the tests with
their points and pass or fail, and the first failure's message; JupyterLab shows it as HTML, a
terminal as text. A failing test is reported, never raised, so a check cell runs on a stub too.

Only the visible tests run: the hidden checks, with other inputs, grade the submission.

Where the tests come from: ``python -m autograder release`` writes :data:`DATA_FILE` beside each
released notebook, holding that notebook's visible test cells (copied from the released notebook,
so nothing hidden) grouped by the function they grade, with their points. The kernel reads it
from its working folder, which is the notebook's folder: Jupyter Server, VS Code and nbclient
all start a notebook's kernel there.
NOTE: a kernel is not told its notebook reliably: JupyterLab's ``__session__`` is the path the
notebook had when the kernel started (stale after a rename or a move), VS Code's
``__vsc_ipynb_file__`` exists only there, and nbclient sets neither. The notebook on disk is also
the student's own copy, unsaved edits aside; the file beside it holds the released tests.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from coursekit.selfcheck_report import NOT_RUN_MESSAGE, STUB_MESSAGE, Outcome, Report

#: The file ``python -m autograder release`` writes beside each released notebook.
DATA_FILE = ".selfcheck.json"
FORMAT = 1

__all__ = ["DATA_FILE", "Outcome", "Report", "Unavailable", "check", "check_all", "load"]


class Unavailable(Exception):
    """There is nothing to check here; the message says why and what to do."""


def _shell() -> Any:
    """The running IPython shell, or None outside IPython."""
    ipython = sys.modules.get("IPython")
    return ipython.get_ipython() if ipython is not None else None


def _namespace(caller: dict[str, Any]) -> dict[str, Any]:
    """Where the student's functions live: the kernel's namespace, else the caller's globals."""
    shell = _shell()
    return shell.user_ns if shell is not None else caller


def load(folder: Path | None = None, notebook: str | None = None) -> dict[str, Any]:
    """The visible tests of one released notebook: ``{"points": N, "functions": [...]}``.

    ``folder`` defaults to the working folder (the notebook's own, in a kernel); ``notebook``
    names the notebook when the folder holds several. Raises :class:`Unavailable`.
    """
    path = (folder or Path.cwd()) / DATA_FILE
    if not path.is_file():
        raise Unavailable(
            f"Self-check: no {DATA_FILE} in this notebook's folder, so there are no visible "
            "tests to run here. It comes with each exercise notebook in exercises/ (written by "
            "`python -m autograder release`); open the notebook from there, or run its test "
            "cells one by one."
        )
    data = json.loads(path.read_text(encoding="utf-8"))
    notebooks: dict[str, Any] = data.get("notebooks", {}) if data.get("format") == FORMAT else {}
    if not notebooks:
        raise Unavailable(f"Self-check: {path} is not a self-check file this coursekit reads.")
    if notebook is None and len(notebooks) == 1:
        return dict(next(iter(notebooks.values())))
    session = Path(str(_namespace({}).get("__session__", ""))).name
    name = notebook or session
    if name not in notebooks:
        raise Unavailable(
            f"Self-check: name the notebook, e.g. check_all(notebook={sorted(notebooks)[0]!r}); "
            f"this folder's are {', '.join(sorted(notebooks))}."
        )
    return dict(notebooks[name])


def _failure(err: BaseException, filename: str, source: str) -> tuple[str, str]:
    """The failure's message, and the test's own line that raised it ("" when none did)."""
    message = "".join(traceback.format_exception_only(type(err), err)).strip()
    if isinstance(err, NotImplementedError) and not str(err):
        message = f"{STUB_MESSAGE}; write its body."
    if isinstance(err, NameError):
        message += "\n(Run the notebook's cells from the top first: the setup cell defines it.)"
    frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename == filename]
    lines = source.splitlines()
    number = frames[-1].lineno if frames else None
    line = lines[number - 1].strip() if number and 0 < number <= len(lines) else ""
    return message, line


def _outcome(function: str, test: dict[str, Any], *, error: str = "", line: str = "") -> Outcome:
    return Outcome(
        function, test["test"], test["grade_id"], float(test["points"]), test.get("checks", ""),
        error, line,
    )  # fmt: skip


def run_test(function: str, test: dict[str, Any], namespace: dict[str, Any]) -> Outcome:
    """Run one visible test's source in a copy of ``namespace``; report how it went.

    The copy keeps the test's own variables out of the student's namespace; the student's
    functions still see their own globals. As nbgrader scores it, a test that writes to stderr
    fails, even when nothing was raised.
    """
    grade_id, source = test["grade_id"], test["source"]
    filename = f"<visible test {grade_id}>"
    shell = _shell()
    code = shell.transform_cell(source) if shell is not None else source
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(stderr):
            exec(compile(code, filename, "exec"), dict(namespace))  # noqa: S102
    except Exception as err:
        message, line = _failure(err, filename, source)
        return _outcome(function, test, error=message, line=line)
    if stderr.getvalue().strip():
        first = stderr.getvalue().strip().splitlines()[0]
        message = f"the test wrote to stderr, which the grader scores as a failure: {first}"
        return _outcome(function, test, error=message)
    return _outcome(function, test)


def _run(functions: list[dict[str, Any]], namespace: dict[str, Any]) -> Report:
    report = Report()
    for entry in functions:
        name = entry["name"]
        for test in entry["tests"]:
            if callable(namespace.get(name)):
                report.results.append(run_test(name, test, namespace))
            else:
                missing = f"{name} {NOT_RUN_MESSAGE}"
                report.results.append(_outcome(name, test, error=missing))
    return report


def _skipped() -> Report | None:
    """A report that says why nothing runs while nbgrader runs the notebook, or None."""
    # NOTE: nbgrader sets NBGRADER_EXECUTION while it validates or autogrades a notebook, and so
    # does the course's grader: the visible tests run in their own cells then, and the hidden
    # checks grade; running them all a second time here would only cost time.
    mode = os.environ.get("NBGRADER_EXECUTION")
    if not mode:
        return None
    return Report(note=f"Self-check skipped while nbgrader runs this notebook ({mode}).")


def _report(
    function: str | None, namespace: dict[str, Any], folder: Path | None, notebook: str | None
) -> Report:
    skipped = _skipped()
    if skipped:
        return skipped
    try:
        functions = load(folder, notebook)["functions"]
    except Unavailable as why:
        return Report(note=str(why))
    chosen = [f for f in functions if function in (None, f["name"])]
    if not chosen:
        names = ", ".join(f["name"] for f in functions)
        return Report(note=f"Self-check: no graded function {function!r} here; there are {names}.")
    return _run(chosen, namespace)


def check(
    function: str,
    *,
    namespace: dict[str, Any] | None = None,
    folder: Path | None = None,
    notebook: str | None = None,
) -> Report:
    """Run the visible tests of ``function`` here, and report each test's points and outcome.

    ``namespace`` defaults to the kernel's (outside IPython, the caller's globals); ``folder``
    and ``notebook`` as for :func:`load`.
    """
    found = namespace if namespace is not None else _namespace(sys._getframe(1).f_globals)
    return _report(function, found, folder, notebook)


def check_all(
    *,
    namespace: dict[str, Any] | None = None,
    folder: Path | None = None,
    notebook: str | None = None,
) -> Report:
    """Run the visible tests of every graded function of the notebook, in notebook order."""
    found = namespace if namespace is not None else _namespace(sys._getframe(1).f_globals)
    return _report(None, found, folder, notebook)
