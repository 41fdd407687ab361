"""What runs next to a student's code: the worker, the kernel runner, the sandbox, the rebuild of a
submitted notebook and the probe runner (whose text runs inside the student's kernel).

Nothing here reads the gradebook, the probes' expected results or the reference solutions; the
coordinator (:mod:`autograder.grading`) uses only the names below.
"""

from autograder.sandboxed.sandbox import Limits, Sandbox, detect
from autograder.sandboxed.worker import probe_reference, run_task, warm_up

__all__ = ["Limits", "Sandbox", "detect", "probe_reference", "run_task", "warm_up"]
