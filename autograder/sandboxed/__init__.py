"""What runs next to a student's code: the worker, the kernel runner, the sandbox, the rebuild of a
submitted notebook and the probe runner (whose text runs inside the student's kernel).

Nothing here reads the gradebook or the probes' expected results; the reference solution and its
mutants are run here only for the coordinator, which hands them over (``probe_reference`` in a
sandboxed kernel; ``Mutants`` in its own process, see :mod:`.in_process`). The coordinator
(:mod:`autograder.grading`) uses only the names below.
"""

from autograder.sandboxed.in_process import Mutants, code_sources
from autograder.sandboxed.sandbox import Limits, Sandbox, detect
from autograder.sandboxed.shared_zygote import shared_zygote
from autograder.sandboxed.worker import (
    how_kernels_start,
    probe_reference,
    run_task,
    start_zygote,
    stop_zygote,
    warm_up,
)

__all__ = [
    "Limits",
    "Mutants",
    "Sandbox",
    "code_sources",
    "detect",
    "how_kernels_start",
    "probe_reference",
    "run_task",
    "shared_zygote",
    "start_zygote",
    "stop_zygote",
    "warm_up",
]
