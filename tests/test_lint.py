"""House style, checked: ruff for lint and format, mypy for the typed packages."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PYTHON_PATHS = ["coursekit", "autograder", "tests", "benchmarks", "book/_ext", "dev.py"]
PYTHON_PATHS += sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("solutions/*/*.probes.py"))
PYTHON_PATHS += sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("solutions/*/*.mutants.py"))


def _run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_lint() -> None:
    proc = _run(str(BIN / "ruff"), "check", "--output-format", "concise", *PYTHON_PATHS)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_format() -> None:
    proc = _run(str(BIN / "ruff"), "format", "--check", *PYTHON_PATHS)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_on_the_packages() -> None:
    proc = _run(str(BIN / "mypy"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
