#!/usr/bin/env python3
"""The two commands of the README's quick start, on a machine with only Python 3.11 and pip.

    python3 dev.py book    build the HTML book into _build/html/
    python3 dev.py test    run the whole test suite

Both create ``.venv/`` on first use and install ``requirements.txt`` into it (again whenever that
file changes). Only the standard library is used here, because nothing else is installed yet.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".requirements.sha256"


def run(*cmd: str | Path) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], cwd=ROOT, check=True)


def ensure_venv() -> None:
    """Create .venv and install the pinned requirements, unless they are already installed."""
    wanted = hashlib.sha256(
        (ROOT / "requirements.txt").read_bytes() + (ROOT / "pyproject.toml").read_bytes()
    ).hexdigest()
    if STAMP.is_file() and STAMP.read_text().strip() == wanted:
        return
    if not (BIN / "python").exists():
        print(f"creating a virtual environment in {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    python = BIN / "python"
    run(python, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(python, "-m", "pip", "install", "--quiet", "-r", "requirements.txt")
    run(python, "-m", "pip", "install", "--quiet", "--no-deps", "-e", ".")
    STAMP.write_text(wanted + "\n")


def venv_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(VENV)
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # keeps kernels' stderr quiet
    return env


def book(extra: list[str]) -> int:
    ensure_venv()
    cmd = [str(BIN / "jupyter-book"), "build", ".", "-n", "-W", "--keep-going", *extra]
    print("+", " ".join(cmd), flush=True)
    code = subprocess.run(cmd, cwd=ROOT, env=venv_env()).returncode
    if code == 0:
        index = ROOT / "_build" / "html" / "index.html"
        print(f"\nThe book is in {index.parent}/")
        print(f"Open {index.as_uri()} in a browser, or serve it with")
        print(
            f"  python3 -m http.server --directory {index.parent} 8000   (then http://localhost:8000)"
        )
    return code


def test(extra: list[str]) -> int:
    ensure_venv()
    cmd = [
        str(BIN / "python"),
        "-m",
        "pytest",
        "tests",
        "solutions",
        "--nbval",
        "--nbval-sanitize-with",
        "tests/nbval_sanitize.cfg",
        "-n",
        "2",
        "--dist",
        "loadscope",  # a notebook's nbval cells share one kernel: keep them together
        "--durations=30",  # the slowest tests, to keep the suite in its time
        *extra,
    ]
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, cwd=ROOT, env=venv_env()).returncode


def main(argv: list[str]) -> int:
    commands = {"book": book, "test": test}
    if not argv or argv[0] not in commands:
        print(__doc__)
        return 2
    return commands[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
