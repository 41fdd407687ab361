"""``python -m coursekit.validate NOTEBOOK...``: nbgrader's validation, with an exit code.

It runs each notebook in a fresh kernel exactly as ``nbgrader validate`` does (nbgrader's own
Validator, with the course's ``nbgrader_config.py``) and prints nbgrader's report; it exits with 1
when any test cell fails or a locked cell was changed, and with 2 when a notebook cannot be
validated at all.
NOTE: ``nbgrader validate`` (0.9) prints its failures and exits with 0 all the same, so a script
or a CI job cannot tell a passing notebook from a failing one by it.

The settings come from the first ``nbgrader_config.py`` found in the working folder, then in the
notebook's folder and the folders above it (the course's is at the repository's root), then in
Jupyter's config folders, as nbgrader looks for them.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CONFIG_FILE = "nbgrader_config.py"


def config_folders(notebook: Path) -> list[Path]:
    """Where the settings are looked for, first match first: see the module's doc."""
    here = notebook.resolve().parent
    return [Path.cwd(), here, *here.parents]


def load_config(notebook: Path) -> tuple[Any, Path | None]:
    """nbgrader's config for ``notebook``, and the ``nbgrader_config.py`` it came from."""
    from jupyter_core.paths import jupyter_config_path
    from traitlets.config import Config, PyFileConfigLoader

    for folder in [*config_folders(notebook), *map(Path, jupyter_config_path())]:
        if (folder / CONFIG_FILE).is_file():
            loader = PyFileConfigLoader(CONFIG_FILE, path=str(folder))
            return loader.load_config(), folder / CONFIG_FILE
    return Config(), None


def validate(notebook: Path) -> dict[str, list[Any]]:
    """nbgrader's verdict on ``notebook`` (empty when it passes), its report printed."""
    from nbgrader.validator import Validator

    class Recording(Validator):
        """nbgrader's Validator, keeping the verdict its report is printed from."""

        verdict: dict[str, list[Any]] = {}

        def validate(self, filename: str) -> dict[str, list[Any]]:
            self.verdict = super().validate(filename)
            return self.verdict

    config, found = load_config(notebook)
    print(f"validating {notebook} (settings: {found or 'nbgrader defaults'})", flush=True)
    with tempfile.TemporaryDirectory(prefix="validate-") as private:
        if os.name != "nt":
            # NOTE: the kernel on IPC sockets in a private folder, not on TCP ports: no race
            # for a port, and no warning that the kernel runs over TCP without encryption.
            config.KernelManager.transport = "ipc"
            config.KernelManager.ip = str(Path(private) / "kernel")
        validator = Recording(config=config)
        validator.validate_and_print(str(notebook))
    print(flush=True)
    return validator.verdict


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m coursekit.validate",
        description="Run each notebook as nbgrader validate does; exit 1 when a test fails.",
    )
    parser.add_argument("notebooks", nargs="+", type=Path, metavar="NOTEBOOK")
    args = parser.parse_args(argv)
    worst = 0
    for notebook in args.notebooks:
        if not notebook.is_file():
            print(f"{notebook}: no such notebook", file=sys.stderr)
            worst = 2
            continue
        try:
            results = validate(notebook)
        except Exception as err:  # nbgrader's own errors: an old format, an unreadable file
            print(f"{notebook}: cannot be validated: {type(err).__name__}: {err}", file=sys.stderr)
            worst = 2
            continue
        failing = any(results.get(k) for k in ("type_changed", "changed", "failed"))
        print(f"{notebook}: {'FAILED' if failing else 'passed'}", flush=True)
        worst = max(worst, 1 if failing else 0)
    return worst


if __name__ == "__main__":
    sys.exit(main())
