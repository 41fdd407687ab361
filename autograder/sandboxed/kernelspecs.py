"""What a grading kernel is started with: its kernelspec, read once per worker, and the
arguments every IPython kernel gets (:mod:`autograder.sandboxed.kernel` starts it)."""

from __future__ import annotations

import copy
from typing import Any

#: For IPython kernels: history in memory, so that concurrent kernels never contend for the one
#: history.sqlite file (what nbgrader's ``Execute.extra_arguments`` help recommends); and plain
#: tracebacks, as Python prints them (each frame's file, line and code, then the error): the
#: default ("Context") reads the source around every frame and highlights it, about 30 ms for
#: each failing cell against 1 to 2 (measured with a failing ``assert_close``), and a wrong
#: submission fails most of its cells.
IPYTHON_ARGUMENTS = ("--HistoryManager.hist_file=:memory:", "--InteractiveShell.xmode=Plain")


def kernel_arguments(nb: Any) -> list[str]:
    language = nb.metadata.get("kernelspec", {}).get("language", "")
    return list(IPYTHON_ARGUMENTS) if language == "python" else []


_SPECS: dict[tuple[str, tuple[str, ...]], tuple[str, dict[str, Any]]] = {}


def kernel_spec(manager: Any, name: str) -> Any:
    """``manager.get_kernel_spec(name)`` (about 5 ms: it reads the kernel.json files and checks
    the provisioner's entry point), from what an earlier call found in the same folders."""
    from jupyter_client.kernelspec import KernelSpec

    key = (name, tuple(manager.kernel_dirs))
    if key not in _SPECS:
        found = manager.get_kernel_spec(name)
        _SPECS[key] = (found.resource_dir, found.to_dict())
    resource_dir, spec = _SPECS[key]
    return KernelSpec(resource_dir=resource_dir, **copy.deepcopy(spec))
