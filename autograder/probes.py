"""Probes: hidden checks whose verdict is decided outside the student's kernel.

A chapter's author declares probes next to the hidden tests, in ``solutions/<assignment>/
<notebook>.probes.py`` (nbgrader never releases that file). Each probe names the grade cells it
guards, the student function it calls, and yields the calls, with inputs the grader chooses::

    import numpy as np
    from autograder.probes import call, probe, tensor

    @probe("linear_algebra_matmul_broadcast_oracle", function="matmul_broadcast")
    def matmul_hidden():
        rng = np.random.default_rng(7_340_211)
        for _ in range(12):
            yield call(tensor(rng.standard_normal((3, 4))), tensor(rng.standard_normal((4, 2))))

How a verdict is reached:

1. The trusted grader imports the probes file and turns every call into plain data (JSON, and
   one file of ``.npy`` records for the arrays): :func:`encode_inputs`.
2. The student's sandboxed kernel, after the notebook's last cell, runs one cell per probe
   (:func:`autograder.sandboxed.probe_runner.runner_cell`): the function is called on those
   inputs, and what it returns (or the exception it raises) is written back as plain data.
   Never pickle.
3. The same run over the reference solution, in a separate trusted run, gives the expected data.
4. The trusted grader reads both (:func:`read_results`, which treats the files as hostile) and
   compares them (:func:`compare`). A grade cell scores only if its visible tests pass in the
   notebook *and* every probe that guards it agrees with the reference on every call.

Nothing the student's process can patch takes part in steps 1, 3 and 4.
"""

from __future__ import annotations

import importlib.util
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from autograder.declare_source import (
    ARGS,
    DeclarationError,
    Expr,
    Rule,
    built,
    checked,
    device,
    expr,
    fn,
    from_notebook,
    generator,
    rule,
)

#: The file, next to ``<notebook>.ipynb``, that declares a notebook's probes.
SUFFIX = ".probes.py"


@dataclass(frozen=True)
class Tensor:
    """A probe argument that reaches the student's function as a torch tensor on DEVICE."""

    array: np.ndarray
    requires_grad: bool = False


def tensor(values: Any, *, requires_grad: bool = False) -> Tensor:
    """Mark ``values`` (array-like) to be passed as a torch tensor, keeping its dtype."""
    return Tensor(np.asarray(values), requires_grad)


@dataclass(frozen=True)
class Call:
    """One call of the probed function: its arguments, and what to record besides the result."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    backward: np.ndarray | None = None  # run result.backward(this); record the inputs' .grad
    record_args: bool = False  # kept for old probes files: the arguments are always recorded
    under: str | None = None  # source of a context manager the call runs in: a rule to keep

    def with_backward(self, grad_output: Any) -> Call:
        """Also backpropagate ``grad_output`` and record the gradient of every tensor argument
        made with ``requires_grad=True``."""
        return replace(self, backward=np.asarray(grad_output))

    def recording_args(self) -> Call:
        """Kept for old probes files: every argument is now recorded after the call anyway."""
        return replace(self, record_args=True)

    def under_rule(self, manager: Rule | Callable[[], Any]) -> Call:
        """Run the call inside the context manager ``manager`` makes in the notebook's namespace
        (a :func:`rule`, or a lambda for one without bindings), so a rule of the exercise is
        checked too: ``lambda: coursekit.forbid_calls(what="matmul_broadcast")``,
        ``lambda: torch.no_grad()``, or ``lambda: checked(OpRecorder(), lambda rec: not
        rec.backward_ops())`` (``checked(manager, test)`` fails the call when ``test(manager)``
        is false after the block). An ``AssertionError`` from the manager, or a failed test, is
        recorded as the exception ``RuleBroken``. The rule runs in the student's process: see
        the threat model."""
        made = manager if isinstance(manager, Rule) else rule(manager)
        return replace(self, under=made.source)


def call(*args: Any, **kwargs: Any) -> Call:
    return Call(tuple(args), dict(kwargs))


#: compare(got, want) -> None when they agree, else a short reason that reveals no hidden input.
Comparator = Callable[[Any, Any], "str | None"]


@dataclass(frozen=True)
class Probe:
    name: str  # the generator's name: unique in its file
    grade_ids: tuple[str, ...]  # the grade cells whose points need this probe to agree
    function: str  # the name, in the student's notebook, of the function to call
    cases: Callable[[], Iterable[Call]]
    rtol: float = 1e-7
    atol: float = 1e-9
    compare: Comparator | None = None  # instead of the default comparison of plain data
    second_device: bool = True  # repeat calls with the tensors on PyTorch's meta device

    def calls(self) -> list[Call]:
        found = list(self.cases())
        if not found or not all(isinstance(c, Call) for c in found):
            raise TypeError(f"probe {self.name} must yield one or more autograder.probes.Call")
        return found


_DECLARED: list[Probe] = []


def probe(
    grade_ids: str | Sequence[str],
    *,
    function: str,
    rtol: float = 1e-7,
    atol: float = 1e-9,
    compare: Comparator | None = None,
    second_device: bool = True,
) -> Callable[[Callable[[], Iterable[Call]]], Callable[[], Iterable[Call]]]:
    """Declare the decorated generator of calls as a probe guarding ``grade_ids``.

    Whatever the probe's calls ask, every call also checks the function's whole contract
    against the reference's, by default: the arguments as they are after the call (values,
    ``requires_grad`` and whether ``.grad`` is set: an input changed in place is caught unless
    the reference changes it the same way), each returned tensor's dtype, device and
    ``requires_grad``, and, with ``second_device`` (the default), the first, middle and last
    calls again with every tensor input on PyTorch's ``meta`` device, where a tensor the answer
    makes on the CPU (``torch.eye(n)`` without ``device=``) shows up. A call the reference cannot
    run on ``meta`` (it reads values) is not held against anyone there."""
    ids = (grade_ids,) if isinstance(grade_ids, str) else tuple(grade_ids)

    def register(cases: Callable[[], Iterable[Call]]) -> Callable[[], Iterable[Call]]:
        made = Probe(cases.__name__, ids, function, cases, rtol, atol, compare, second_device)
        _DECLARED.append(made)
        return cases

    return register


def probes_file(notebook: Path) -> Path:
    """Where the probes of ``notebook`` (a source ``.ipynb``) are declared."""
    return notebook.with_name(notebook.stem + SUFFIX)


def load(path: Path) -> list[Probe]:
    """Import a probes file and return its probes in declaration order ([] when absent)."""
    return import_declared(path, _DECLARED, "probes")


def import_declared(path: Path, registry: list[Any], kind: str) -> list[Any]:
    """Import the declarations file ``path`` and return what it appended to ``registry`` (each
    with a unique ``name``), leaving ``registry`` as it was; [] when there is no such file."""
    if not path.is_file():
        return []
    spec = importlib.util.spec_from_file_location(f"_{kind}_{path.stem.replace('.', '_')}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    start = len(registry)
    try:
        spec.loader.exec_module(module)
        found = registry[start:]
    finally:
        del registry[start:]
    names = [d.name for d in found]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: two {kind} share a name: {names}")
    return found


# ---- plain data ---------------------------------------------------------------------------------
# A value tree is JSON with these tagged objects: {"ndarray": i} and {"tensor": i, "grad": bool}
# (i indexes the probe's arrays file), {"tuple": [...]}, {"dict": [[key, value], ...]},
# {"float": "nan"}.


def _encode(value: Any, arrays: list[np.ndarray]) -> Any:
    if isinstance(value, Tensor):
        arrays.append(value.array)
        return {"tensor": len(arrays) - 1, "grad": value.requires_grad}
    if isinstance(value, np.ndarray):
        arrays.append(value)
        return {"ndarray": len(arrays) - 1}
    if isinstance(value, Expr):
        return {
            "expr": value.source,
            "bindings": {k: _encode(v, arrays) for k, v in value.bindings.items()},
        }
    if isinstance(value, tuple):
        return {"tuple": [_encode(v, arrays) for v in value]}
    if isinstance(value, list):
        return [_encode(v, arrays) for v in value]
    if isinstance(value, dict):
        return {"dict": [[str(k), _encode(v, arrays)] for k, v in value.items()]}
    if isinstance(value, np.generic):
        return _encode(value.item(), arrays)
    if isinstance(value, float) and not math.isfinite(value):
        return {"float": repr(value)}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"a probe argument must be plain data, not {type(value).__name__}")


def encode_inputs(probes: Sequence[Probe], folder: Path) -> dict[str, int]:
    """Write every probe's calls into ``folder`` (``<probe>.json``, and its arrays in
    ``<probe>.arrays``); return the number of calls of each probe."""
    folder.mkdir(parents=True, exist_ok=True)
    counts = {}
    for p in probes:
        arrays: list[np.ndarray] = []
        calls = [
            {
                "args": [_encode(a, arrays) for a in c.args],
                "kwargs": {k: _encode(v, arrays) for k, v in c.kwargs.items()},
                "backward": None if c.backward is None else _encode(c.backward, arrays),
                "record_args": c.record_args,
                "under": c.under,
            }
            for c in p.calls()
        ]
        with (folder / f"{p.name}{ARRAYS}").open("wb") as handle:
            for array in arrays:
                np.save(handle, array, allow_pickle=False)
        meta = sorted({0, len(calls) // 2, len(calls) - 1}) if p.second_device else []
        spec = {"function": p.function, "calls": calls, "meta": meta}  # calls repeated on meta
        (folder / f"{p.name}.json").write_text(json.dumps(spec))
        counts[p.name] = len(calls)
    return counts


# Reading results lives in autograder.results, judging them in autograder.verdicts; these names
# stay importable from here.
from autograder.results import (  # noqa: E402
    ARRAYS,
    MAX_RESULT_BYTES,
    BadResults,
    Raised,
    TensorValue,
    Unsupported,
    read_results,
)
from autograder.verdicts import agree, verdict  # noqa: E402

__all__ = [
    "ARGS",
    "ARRAYS",
    "MAX_RESULT_BYTES",
    "BadResults",
    "Call",
    "DeclarationError",
    "Expr",
    "Probe",
    "Raised",
    "Rule",
    "Tensor",
    "TensorValue",
    "Unsupported",
    "agree",
    "built",
    "call",
    "checked",
    "device",
    "encode_inputs",
    "expr",
    "fn",
    "from_notebook",
    "generator",
    "load",
    "probe",
    "probes_file",
    "read_results",
    "rule",
    "tensor",
    "verdict",
]
