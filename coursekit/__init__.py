"""Small helpers shared by the chapters, the solution notebooks and the tests.

Everything a chapter needs to be reproducible and device-agnostic lives here:

- :func:`device` picks CUDA when present, the CPU otherwise (``COURSEKIT_DEVICE`` forces one);
- :func:`torch_generator` and :func:`numpy_rng` hand out explicit random generators;
- :mod:`coursekit.checks` holds the checks students and tests share;
- :mod:`coursekit.data` loads scikit-learn's digits and MNIST-style IDX files;
- :mod:`coursekit.plots` makes figures that read well in the book's light and dark modes;
- :mod:`coursekit.timing` times code fairly on either device;
- :mod:`coursekit.selfcheck` is the student's self-check (``check``, ``check_all``), and
  ``python -m coursekit.validate NOTEBOOK`` nbgrader's validation with an exit code.
"""

from coursekit.checks import (
    assert_close,
    assert_gradient_matches,
    autograd_vjp,
    forbid_calls,
    no_tf32,
    numerical_vjp,
    relative_error,
)
from coursekit.device import device, device_name, synchronize
from coursekit.seeding import numpy_rng, torch_generator

__all__ = [
    "assert_close",
    "assert_gradient_matches",
    "autograd_vjp",
    "forbid_calls",
    "device",
    "device_name",
    "no_tf32",
    "numerical_vjp",
    "numpy_rng",
    "relative_error",
    "synchronize",
    "torch_generator",
]
