"""The autograder's folders follow its trust boundary, and its parts stay small.

- ``lint-imports`` checks the contracts in ``pyproject.toml``: the command line on top, then the
  instructor's tools and the coordinator (``authoring``, ``grading``), then what runs next to the
  student's code (``sandboxed``), then the probe language and the plain-data messages; the
  coordinator reaches the sandboxed side only through ``autograder.sandboxed``'s public names; and
  no import cycle anywhere. A copy of the package with one cycle added proves the check can fail.
- No function in ``autograder/`` is longer than 60 lines, and no module outside ``tests/`` is
  longer than 300.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

BIN = Path(sys.executable).parent
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 300
MODULE_FOLDERS = ["autograder", "coursekit", "benchmarks", "book/_ext"]


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "lint-imports"), "--no-cache"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": str(BIN), "PYTHONPATH": str(root)},
    )


def test_the_import_contracts_hold() -> None:
    proc = _lint_imports(ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 kept, 0 broken" in proc.stdout, proc.stdout


def test_an_added_cycle_breaks_the_contracts(tmp_path: Path) -> None:
    shutil.copytree(
        ROOT / "autograder", tmp_path / "autograder", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    messages = tmp_path / "autograder" / "messages.py"
    messages.write_text(
        messages.read_text()
        + "\n\ndef _late() -> None:\n    import autograder.grading.ledger  # noqa\n"
    )
    proc = _lint_imports(tmp_path)
    assert proc.returncode != 0, proc.stdout
    assert "autograder.messages" in proc.stdout and "BROKEN" in proc.stdout, proc.stdout


def _long_functions(path: Path, root: Path = ROOT) -> list[str]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_no_function_in_the_autograder_is_over_60_lines() -> None:
    found = [
        f for path in sorted((ROOT / "autograder").rglob("*.py")) for f in _long_functions(path)
    ]
    assert not found, "\n".join(found)


def test_no_module_outside_the_tests_is_over_300_lines() -> None:
    found = [
        f"{path.relative_to(ROOT)} ({n} lines)"
        for folder in MODULE_FOLDERS
        for path in sorted((ROOT / folder).rglob("*.py"))
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    assert not found, "\n".join(found)


def test_the_size_checks_can_fail(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "long.py").write_text(f"def long() -> None:\n{body}\n")
    assert _long_functions(tmp_path / "long.py", tmp_path) == ["long.py:1 long (61 lines)"]
