"""Reruns agree: the grader seeds a kernel's global generators just before its first cell.

Course code never relies on global generators (every draw takes an explicit one). A student's
answer may, and then the same file must still get the same grade every time: the grader starts
each kernel with :func:`seed_before_first_cell`, which seeds Python's, NumPy's and PyTorch's
global generators from :data:`SEED` right before the notebook's first cell runs (seeding at
kernel start is not enough: the kernel's own start-up draws from Python's generator).
"""

from __future__ import annotations

import random
from typing import Any

#: The seed every graded kernel's global generators start from.
SEED = 0


def seed_globals(seed: int = SEED) -> None:
    """Seed Python's, NumPy's and (when installed) PyTorch's global generators."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - the global generator is exactly what is seeded
    try:
        import torch
    except ImportError:  # a course without torch still gets the other two
        return
    torch.manual_seed(seed)


def seed_before_first_cell(shell: Any, seed: int = SEED) -> None:
    """Seed the global generators once, just before ``shell`` (an IPython shell) runs its first
    cell."""

    def once(*_: Any) -> None:
        shell.events.unregister("pre_run_cell", once)
        seed_globals(seed)

    shell.events.register("pre_run_cell", once)
