"""A student's JupyterLab, for real: the venv's JupyterLab with the course's student settings
(``jupyter/``, as the README starts it), a copy of chapter 01's exercise, and Chromium.

The student types the reference answer of one function into its answer cell, runs it and its
test cells (they pass, silently), runs the self-check (its table says so), and clicks nbgrader's
Validate (the dialog lists the other functions' failing tests, not this one's, and the server
ran it with the course's nbgrader_config.py). No Assignments tab, Nbgrader menu or exchange error
shows, and their server endpoints are gone. On a failure the test saves a screenshot in its
tmp_path and names it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.conftest import ROOT

BIN = Path(sys.executable).parent
CHAPTER, NOTEBOOK = "01_linear_algebra", "linear_algebra.ipynb"
ANSWER_ID = "linear_algebra_matmul_broadcast_solution"
MARKER = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[^\n]*\n?", re.M)
TOKEN = "course-test-token"
STUDENT_OFF = (  # what jupyter/ switches off for students; Validate stays
    "@jupyter/nbgrader:assignment-list",
    "@jupyter/nbgrader:course-list",
    "@jupyter/nbgrader:formgrader",
)
# NOTE: a user's settings, only for this test: every cell in the page (JupyterLab 4 renders only
# the cells in view by default) and no "Jupyter news?" notification over the notebook.
SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


@dataclass(frozen=True)
class Lab:
    url: str  # http://127.0.0.1:PORT
    root: Path  # the folder the server serves: a copy of the chapter's exercise folder
    log: Path


def _env(home: Path) -> dict[str, str]:
    """The venv first on PATH, the course's student settings on Jupyter's config path, and every
    per-user folder in ``home`` (nothing of the machine's user is read or written)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "NBGRADER"))}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        JUPYTER_CONFIG_PATH=str(ROOT / "jupyter"),
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
        IPYTHONDIR=str(home / "ipython"),
        PYDEVD_DISABLE_FILE_VALIDATION="1",
    )
    return env


def _wait_for_server(proc: subprocess.Popen[bytes], runtime: Path, log: Path) -> str:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"jupyter lab exited: {log.read_text()[-3000:]}"
        found = list(runtime.glob(f"jpserver-{proc.pid}.json"))
        if found:
            url = f"http://127.0.0.1:{json.loads(found[0].read_text())['port']}"
            try:
                urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=5)
                return url
            except OSError:
                pass
        time.sleep(0.5)
    raise AssertionError(f"jupyter lab did not start in 120 s: {log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """``jupyter lab`` from the venv, started in the repository's root as the README starts it
    (so the Validate button reads the course's nbgrader_config.py), serving a temporary copy of
    the exercise, on a free loopback port chosen by the server, with a token and no browser."""
    home = tmp_path_factory.mktemp("lab-home")
    root = tmp_path_factory.mktemp("lab-root")
    shutil.copytree(ROOT / "exercises" / CHAPTER, root / CHAPTER)  # .selfcheck.json included
    for name, values in SETTINGS.items():
        (home / "settings" / name).parent.mkdir(parents=True, exist_ok=True)
        (home / "settings" / name).write_text(json.dumps(values))
    log = home / "server.log"
    command = [str(BIN / "jupyter"), "lab", "--no-browser", "--allow-root", "--port=0"]
    command += ["--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={TOKEN}"]
    command += [f"--ServerApp.root_dir={root}"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=_env(home), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        yield Lab(_wait_for_server(proc, home / "runtime", log), root, log)
    finally:
        proc.terminate()  # the server shuts its kernels down on SIGTERM
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):  # and what is left of its own session
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def _status(url: str) -> int:
    try:
        return int(urllib.request.urlopen(url, timeout=30).status)
    except urllib.error.HTTPError as err:
        return err.code


def test_the_exchange_parts_are_off_and_validate_is_on(lab: Lab) -> None:
    for path in ("assignments?course_id=x", "courses", "formgrader"):
        sep = "&" if "?" in path else "?"
        assert _status(f"{lab.url}/{path}{sep}token={TOKEN}") == 404, path
    assert _status(f"{lab.url}/nbgrader_version?version=0.9.6&token={TOKEN}") == 200
    page = urllib.request.urlopen(f"{lab.url}/lab?token={TOKEN}", timeout=30).read().decode()
    config = json.loads(re.search(r'id="jupyter-config-data"[^>]*>(.*?)</script>', page, re.S)[1])
    disabled = set(config["disabledExtensions"])
    assert set(STUDENT_OFF) <= disabled, disabled
    assert "@jupyter/nbgrader:validate-assignment" not in disabled


def _answer() -> str:
    source = nbformat.read(ROOT / "solutions" / CHAPTER / NOTEBOOK, as_version=4)
    cell = next(
        c for c in source.cells if c.metadata.get("nbgrader", {}).get("grade_id") == ANSWER_ID
    )
    return MARKER.sub("", cell.source)


def _indices() -> tuple[int, list[int], int]:
    """The answer cell's index, its test cells', and the self-check cell's, in the exercise."""
    nb = nbformat.read(ROOT / "exercises" / CHAPTER / NOTEBOOK, as_version=4)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id", "") for c in nb.cells]
    prefix = ANSWER_ID.removesuffix("solution")
    tests = [i for i, g in enumerate(ids) if g.startswith(prefix) and g != ANSWER_ID]
    return ids.index(ANSWER_ID), tests, ids.index("linear_algebra_selfcheck")


ACTIVE = """() => [...document.querySelectorAll('.jp-Notebook .jp-Cell')]
    .findIndex(cell => cell.classList.contains('jp-mod-active'))"""


def _run_cells(page: Any, cells: Any, first: int, last: int) -> None:
    """Select cell ``first`` and press Shift+Enter until cell ``last`` has run, as a student.

    Each press is seen to move the active cell on before the next: a press that a busy page
    dropped is made again, on the cell that is active, so no cell is skipped or run twice."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    cells.nth(first).locator(".jp-InputPrompt").first.click()
    page.wait_for_function(f"({ACTIVE})() === {first}", timeout=30_000)
    deadline = time.monotonic() + 120
    while (at := page.evaluate(ACTIVE)) <= last:
        assert time.monotonic() < deadline, f"Shift+Enter would not run cell {at}"
        page.keyboard.press("Shift+Enter")
        try:
            page.wait_for_function(f"({ACTIVE})() !== {at}", timeout=5_000)
        except PlaywrightTimeout:
            cells.nth(at).locator(".jp-InputPrompt").first.click()  # select it again


def _student_session(page: Any, lab: Lab, shots: Path) -> str:
    """The student's steps; what they saw at the self-check and at Validate is saved in
    ``shots`` (``jupyterlab-selfcheck.png``, ``jupyterlab-validate.png``), pass or fail."""
    from playwright.sync_api import expect

    page.goto(f"{lab.url}/lab/tree/{CHAPTER}/{NOTEBOOK}?token={TOKEN}")
    answer_at, tests, selfcheck_at = _indices()
    cells = page.locator(".jp-Notebook .jp-Cell")
    expect(cells).to_have_count(selfcheck_at + 1, timeout=120_000)
    page.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="idle"]', timeout=120_000)
    assert page.get_by_text("exchange directory").count() == 0
    assert page.locator("#jp-mainmenu-nbgrader").count() == 0, "the Nbgrader menu is there"

    editor = cells.nth(answer_at).locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(_answer())  # as a paste: no auto-indent, no closing brackets
    assert "products.sum(dim=-2)" in editor.inner_text()
    _run_cells(page, cells, 1, tests[-1])
    for index in tests:  # each test cell ran ("[n]:") and shows nothing: no error, no stderr
        prompt = cells.nth(index).locator(".jp-InputPrompt").first
        expect(prompt).to_have_text(re.compile(r"\[\d+\]"), timeout=120_000)
        outputs = cells.nth(index).locator(".jp-OutputArea-output")
        assert outputs.count() == 0, f"test cell {index} failed: {outputs.all_inner_texts()}"

    _run_cells(page, cells, selfcheck_at, selfcheck_at)
    table = cells.nth(selfcheck_at).locator(".coursekit-selfcheck")
    table.wait_for(timeout=120_000)
    report = table.inner_text()
    assert "visible tests pass for 3 of 15 points" in report, report
    rows = [r.inner_text() for r in table.locator("tbody tr").all()]
    assert len(rows) == 11 and all("pass" in r for r in rows if "matmul_broadcast" in r), rows
    assert all("not run" in r for r in rows if "matmul_broadcast" not in r), rows
    table.scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "jupyterlab-selfcheck.png"))

    page.locator(".validate-button").click()
    dialog = page.locator(".jp-Dialog", has_text="Validation Results")
    dialog.wait_for(timeout=300_000)
    page.screenshot(path=str(shots / "jupyterlab-validate.png"))
    return dialog.inner_text()


def test_a_student_solves_one_function_checks_it_and_validates(
    lab: Lab, browser: Any, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    shot = tmp_path / "jupyterlab-failure.png"
    try:
        result = _student_session(page, lab, tmp_path)
        failed = result.count("The following cell failed:")
        assert failed == 9, f"{failed} failing cells in the Validate dialog:\n{result[:3000]}"
        assert "Check matmul_broadcast" not in result, "the solved function's tests failed"
        assert "Check broadcast_shape" in result and "NotImplementedError" in result
        log = lab.log.read_text(errors="replace")
        assert "Validating" in log and "No nbgrader_config.py" not in log, "not the course's"
    except Exception as err:
        page.screenshot(path=str(shot), full_page=True)
        log = lab.log.read_text(errors="replace")[-2000:]
        raise AssertionError(f"{err}\nscreenshot: {shot}\nserver log:\n{log}") from err
    finally:
        page.close()


def test_the_readme_starts_jupyterlab_as_this_test_does() -> None:
    readme = (ROOT / "README.md").read_text()
    students = readme[readme.index("## For students") : readme.index("## For instructors")]
    assert 'export JUPYTER_CONFIG_PATH="$PWD/jupyter"' in students
    assert f"jupyter lab exercises/{CHAPTER}/{NOTEBOOK}" in students
    assert f"python -m coursekit.validate exercises/{CHAPTER}/{NOTEBOOK}" in students
    assert (ROOT / "jupyter" / "jupyter_server_config.py").is_file()
    assert (ROOT / "nbgrader_config.py").is_file(), "Validate would run without the course's"
