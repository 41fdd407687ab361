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
   ``.npy`` files for arrays): :func:`encode_inputs`.
2. The student's sandboxed kernel, after the notebook's last cell, runs one cell per probe
   (:func:`runner_cell`): the function is called on those inputs, and what it returns (or the
   exception it raises) is written back as plain data. Never pickle.
3. The same run over the reference solution, in a separate trusted run, gives the expected data.
4. The trusted grader reads both (:func:`read_results`, which treats the files as hostile) and
   compares them (:func:`compare`). A grade cell scores only if its visible tests pass in the
   notebook *and* every probe that guards it agrees with the reference on every call.

Nothing the student's process can patch takes part in steps 1, 3 and 4.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

#: The file, next to ``<notebook>.ipynb``, that declares a notebook's probes.
SUFFIX = ".probes.py"
#: Largest results file the grader reads (JSON, or one ``.npy``); larger means "no result".
MAX_RESULT_BYTES = 64 * 2**20


@dataclass(frozen=True)
class Tensor:
    """A probe argument that reaches the student's function as a torch tensor on DEVICE."""

    array: np.ndarray
    requires_grad: bool = False


def tensor(values: Any, *, requires_grad: bool = False) -> Tensor:
    """Mark ``values`` (array-like) to be passed as a torch tensor, keeping its dtype."""
    return Tensor(np.asarray(values), requires_grad)


@dataclass(frozen=True)
class Expr:
    """A probe argument built inside the sandbox by evaluating trusted source text: a callable
    (``"lambda x: torch.tanh(x @ W)"``), a generator, a model. ``bindings`` are plain data, seen
    by the expression by name, next to ``torch``, ``nn``, ``F``, ``np`` and ``device``."""

    source: str
    bindings: dict[str, Any]


def expr(source: str, **bindings: Any) -> Expr:
    """Mark an argument to be made inside the sandbox by evaluating ``source`` (see :class:`Expr`).

    Its text reaches the student's process, like every probe input: it must hold nothing secret.
    """
    compile(source, "<probe expression>", "eval")  # a syntax error shows up when authoring
    return Expr(source, dict(bindings))


@dataclass(frozen=True)
class Call:
    """One call of the probed function: its arguments, and what to record besides the result."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    backward: np.ndarray | None = None  # run result.backward(this); record the inputs' .grad
    record_args: bool = False  # record the arguments after the call (for in-place updates)
    under: str | None = None  # source of a context manager the call runs in: a rule to keep

    def with_backward(self, grad_output: Any) -> Call:
        """Also backpropagate ``grad_output`` and record the gradient of every tensor argument
        made with ``requires_grad=True``."""
        return replace(self, backward=np.asarray(grad_output))

    def recording_args(self) -> Call:
        """Also record every argument as it is after the call (for functions that update their
        arguments in place)."""
        return replace(self, record_args=True)

    def under_rule(self, manager: str) -> Call:
        """Run the call inside the context manager that ``manager`` (source text) evaluates to,
        in the notebook's namespace, so a rule of the exercise is checked too:
        ``"coursekit.forbid_calls(what='matmul_broadcast')"``, ``"torch.no_grad()"``, or
        ``"checked(OpRecorder(), lambda rec: not rec.backward_ops())"`` (``checked(manager,
        test)`` fails the call when ``test(manager)`` is false after the block). An
        ``AssertionError`` from the manager, or a failed test, is recorded as the exception
        ``RuleBroken``. The rule runs in the student's process: see the threat model."""
        compile(manager, "<probe rule>", "eval")
        return replace(self, under=manager)


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
) -> Callable[[Callable[[], Iterable[Call]]], Callable[[], Iterable[Call]]]:
    """Declare the decorated generator of calls as a probe guarding ``grade_ids``."""
    ids = (grade_ids,) if isinstance(grade_ids, str) else tuple(grade_ids)

    def register(cases: Callable[[], Iterable[Call]]) -> Callable[[], Iterable[Call]]:
        _DECLARED.append(Probe(cases.__name__, ids, function, cases, rtol, atol, compare))
        return cases

    return register


def probes_file(notebook: Path) -> Path:
    """Where the probes of ``notebook`` (a source ``.ipynb``) are declared."""
    return notebook.with_name(notebook.stem + SUFFIX)


def load(path: Path) -> list[Probe]:
    """Import a probes file and return its probes in declaration order ([] when absent)."""
    if not path.is_file():
        return []
    spec = importlib.util.spec_from_file_location(f"_probes_{path.stem.replace('.', '_')}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    start = len(_DECLARED)
    try:
        spec.loader.exec_module(module)
        found = _DECLARED[start:]
    finally:
        del _DECLARED[start:]
    names = [p.name for p in found]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: two probes share a name: {names}")
    return found


# ---- plain data ---------------------------------------------------------------------------------
# A value tree is JSON with these tagged objects: {"ndarray": i} and {"tensor": i, "grad": bool}
# (i indexes the .npy files), {"tuple": [...]}, {"dict": [[key, value], ...]}, {"float": "nan"}.


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
    """Write every probe's calls into ``folder`` (``<probe>.json`` and ``<probe>.<i>.npy``);
    return the number of calls of each probe."""
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
        for i, array in enumerate(arrays):
            np.save(folder / f"{p.name}.{i}.npy", array, allow_pickle=False)
        (folder / f"{p.name}.json").write_text(json.dumps({"function": p.function, "calls": calls}))
        counts[p.name] = len(calls)
    return counts


def runner_cell(name: str, inputs: str, outputs: str) -> str:
    """The source of the cell that runs probe ``name`` inside the sandboxed kernel.

    It reads ``inputs/<name>.json``, calls the function on each input and writes
    ``outputs/<name>.json`` (and ``.npy`` files). It runs in the student's process, so nothing it
    writes is trusted: :func:`read_results` checks it all.
    """
    return (
        _RUNNER.replace("__NAME__", repr(name))
        .replace("__IN__", repr(inputs))
        .replace("__OUT__", repr(outputs))
    )


_RUNNER = """\
def _probe_run(name, inputs, outputs):
    import json, math, os
    import numpy as np
    import torch
    from coursekit import device as course_device
    device = course_device()
    spec = json.load(open(os.path.join(inputs, name + ".json")))
    arrays, saved = {}, []

    def array(i):
        return np.load(os.path.join(inputs, f"{name}.{i}.npy"), allow_pickle=False)

    def decode(v, leaves):
        if isinstance(v, list):
            return [decode(x, leaves) for x in v]
        if isinstance(v, dict):
            if "tensor" in v:
                t = torch.as_tensor(array(v["tensor"])).to(device)
                if v["grad"]:
                    t.requires_grad_(True)
                leaves.append(t)
                return t
            if "ndarray" in v:
                return array(v["ndarray"])
            if "tuple" in v:
                return tuple(decode(x, leaves) for x in v["tuple"])
            if "dict" in v:
                return {k: decode(x, leaves) for k, x in v["dict"]}
            if "float" in v:
                return float(v["float"])
            if "expr" in v:
                names = {"torch": torch, "nn": torch.nn, "F": torch.nn.functional, "np": np,
                         "device": device}
                names.update({k: decode(x, leaves) for k, x in v["bindings"].items()})
                return eval(v["expr"], names)
        return v

    def encode(v, depth=0):
        if depth > 20:
            return {"unsupported": "nested too deeply"}
        if isinstance(v, torch.nn.Module):
            return encode({
                "parameters": {n: p for n, p in v.state_dict().items()},
                "requires_grad": {n: p.requires_grad for n, p in v.named_parameters()},
                "grad_is_none": {n: p.grad is None for n, p in v.named_parameters()},
            }, depth + 1)
        if isinstance(v, torch.Tensor):
            v = v.detach().cpu().numpy()
        if isinstance(v, np.ndarray):
            if v.dtype == object:
                return {"unsupported": "object array"}
            saved.append(np.ascontiguousarray(v))
            return {"ndarray": len(saved) - 1}
        if isinstance(v, np.generic):
            return encode(v.item(), depth + 1)
        if type(v) is tuple:
            return {"tuple": [encode(x, depth + 1) for x in v]}
        if type(v) is list:
            return [encode(x, depth + 1) for x in v]
        if type(v) is dict:
            return {"dict": [[str(k), encode(x, depth + 1)] for k, x in v.items()]}
        if type(v) is float and not math.isfinite(v):
            return {"float": repr(v)}
        if v is None or type(v) in (bool, int, float, str):
            return v
        return {"unsupported": type(v).__name__}

    import contextlib

    class RuleBroken(Exception):
        pass

    @contextlib.contextmanager
    def checked(manager, test=None):
        try:
            with manager as entered:
                yield entered
        except AssertionError as err:
            raise RuleBroken(str(err)) from None
        if test is not None and not test(manager):
            raise RuleBroken()

    function = globals().get(spec["function"])
    results = []
    for c in spec["calls"]:
        leaves = []
        args = [decode(a, leaves) for a in c["args"]]
        kwargs = {k: decode(v, leaves) for k, v in c["kwargs"].items()}
        try:
            if function is None:
                raise NameError(spec["function"] + " is not defined")
            rule = contextlib.nullcontext()
            if c.get("under"):
                rule = eval(c["under"], {**globals(), "checked": checked})
            with checked(rule):
                result = function(*args, **kwargs)
            record = {"result": encode(result)}
            if c["backward"] is not None:
                grad_output = decode(c["backward"], [])
                grad_output = torch.as_tensor(grad_output).to(device)
                result.backward(grad_output)
                record["grads"] = [encode(t.grad) for t in leaves if t.requires_grad]
            if c["record_args"]:
                record["args"] = [encode(a) for a in args]
        except Exception as err:
            record = {"raised": type(err).__name__}
        results.append(record)
    for i, a in enumerate(saved):
        np.save(os.path.join(outputs, f"{name}.{i}.npy"), a, allow_pickle=False)
    with open(os.path.join(outputs, name + ".json"), "w") as handle:
        json.dump(results, handle)


_probe_run(__NAME__, __IN__, __OUT__)
del _probe_run
"""


class BadResults(Exception):
    """A results file that is missing, too large, or not what the runner writes."""


def _decode(value: Any, load_array: Callable[[int], np.ndarray], depth: int = 0) -> Any:
    if depth > 24:
        raise BadResults("nested too deeply")
    if isinstance(value, list):
        return [_decode(v, load_array, depth + 1) for v in value]
    if isinstance(value, dict):
        if set(value) == {"ndarray"} and type(value["ndarray"]) is int:
            return load_array(value["ndarray"])
        if set(value) == {"tuple"} and isinstance(value["tuple"], list):
            return tuple(_decode(v, load_array, depth + 1) for v in value["tuple"])
        if set(value) == {"dict"} and isinstance(value["dict"], list):
            pairs = value["dict"]
            if not all(
                isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) for p in pairs
            ):
                raise BadResults("malformed dict")
            return {k: _decode(v, load_array, depth + 1) for k, v in pairs}
        if set(value) == {"float"} and value["float"] in ("nan", "inf", "-inf"):
            return float(value["float"])
        if set(value) == {"unsupported"} and isinstance(value["unsupported"], str):
            return Unsupported(value["unsupported"][:80])
        raise BadResults("unknown tagged value")
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise BadResults("not plain data")


@dataclass(frozen=True)
class Unsupported:
    """A result the runner could not turn into plain data (a custom object, say)."""

    type_name: str


@dataclass(frozen=True)
class Raised:
    """The call raised an exception of this class name."""

    name: str


def read_results(folder: Path, name: str, calls: int) -> list[dict[str, Any]]:
    """The results of probe ``name`` from ``folder``, checked as untrusted input.

    Each record has ``result`` (plain data, :class:`Raised` or :class:`Unsupported`) and, when
    asked for, ``grads`` and ``args``. Raises :class:`BadResults` for anything else.
    """
    path = folder / f"{name}.json"
    if not path.is_file() or path.is_symlink():
        raise BadResults("no results were written")
    if path.stat().st_size > MAX_RESULT_BYTES:
        raise BadResults("the results are too large")
    try:
        records = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError):
        raise BadResults("the results are not valid JSON") from None
    if not isinstance(records, list) or len(records) != calls:
        raise BadResults("the results do not match the calls")

    def load_array(i: int) -> np.ndarray:
        file = folder / f"{name}.{i}.npy"
        if not file.is_file() or file.is_symlink() or file.stat().st_size > MAX_RESULT_BYTES:
            raise BadResults("an array of the results is missing or too large")
        try:
            return np.load(file, allow_pickle=False)
        except Exception:  # a broken or hostile .npy: numpy raises several kinds
            raise BadResults("an array of the results is unreadable") from None

    decoded = []
    for record in records:
        if not isinstance(record, dict):
            raise BadResults("a result is not an object")
        if set(record) == {"raised"} and isinstance(record["raised"], str):
            decoded.append({"result": Raised(record["raised"][:80])})
            continue
        if "result" not in record or not set(record) <= {"result", "grads", "args"}:
            raise BadResults("a result has unexpected fields")
        decoded.append({k: _decode(v, load_array) for k, v in record.items()})
    return decoded


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def agree(got: Any, want: Any, rtol: float, atol: float) -> str | None:
    """The default comparison of plain data; None when ``got`` matches ``want``."""
    if isinstance(want, Raised) or isinstance(got, Raised):
        if isinstance(want, Raised) and isinstance(got, Raised) and got.name == want.name:
            return None
        if isinstance(want, Raised):
            return f"should raise {want.name}"
        if got.name == "RuleBroken":
            return "broke a rule of the exercise (a forbidden call, say: see its instructions)"
        return f"raised {got.name}"
    if isinstance(got, Unsupported):
        return f"returned a {got.type_name}, which is not plain data"
    if isinstance(want, np.ndarray):
        if not isinstance(got, np.ndarray):
            return f"returned {type(got).__name__} where an array was expected"
        if got.shape != want.shape:
            return "an array of the wrong shape"
        if want.dtype == bool or got.dtype == bool:
            return None if np.array_equal(got, want) else "wrong values"
        if got.dtype.kind not in "biuf" or want.dtype.kind not in "biuf":
            return "an array that is not numeric"
        g, w = got.astype(np.float64), want.astype(np.float64)
        if not np.array_equal(np.isnan(g), np.isnan(w)):
            return "NaN where the reference has a number (or the reverse)"
        if not np.allclose(g, w, rtol=rtol, atol=atol, equal_nan=True):
            return "wrong values"
        return None
    if isinstance(want, tuple | list):
        if type(got) is not type(want):
            return f"returned {type(got).__name__} where a {type(want).__name__} was expected"
        if len(got) != len(want):
            return f"a {type(want).__name__} of the wrong length"
        for g, w in zip(got, want, strict=True):
            problem = agree(g, w, rtol, atol)
            if problem:
                return problem
        return None
    if isinstance(want, dict):
        if not isinstance(got, dict) or set(got) != set(want):
            return "a dict with the wrong keys"
        for key in want:
            problem = agree(got[key], want[key], rtol, atol)
            if problem:
                return f"{key}: {problem}"
        return None
    if _is_number(want):
        if not _is_number(got):
            return f"returned {type(got).__name__} where a number was expected"
        if math.isnan(want) or math.isnan(got):
            return None if math.isnan(want) and math.isnan(got) else "wrong value"
        return None if math.isclose(got, want, rel_tol=rtol, abs_tol=atol) else "wrong value"
    if type(got) is not type(want) or got != want:
        return "wrong value"
    return None


def verdict(p: Probe, got: list[dict[str, Any]], want: list[dict[str, Any]]) -> str | None:
    """None when every call of ``p`` agrees with the reference; else a reason for the student
    that names the call by number only."""
    failed = []
    for i, (g, w) in enumerate(zip(got, want, strict=True), start=1):
        for part in ("result", "grads", "args"):
            if part not in w:
                continue
            if part not in g:
                problem: str | None = f"no {part}"
            elif part == "result" and p.compare is not None and not isinstance(w[part], Raised):
                problem = (
                    agree(g[part], w[part], p.rtol, p.atol)
                    if isinstance(g[part], Raised | Unsupported)
                    else p.compare(g[part], w[part])
                )
            else:
                problem = agree(g[part], w[part], p.rtol, p.atol)
            if problem:
                failed.append((i, part, problem))
                break
    if not failed:
        return None
    i, part, problem = failed[0]
    where = (
        ""
        if part == "result"
        else f" ({part} after the call)"
        if part == "args"
        else " (gradients)"
    )
    return (
        f"{p.function} disagrees with the reference on {len(failed)} of {len(got)} hidden "
        f"case(s); first, case {i}{where}: {problem}"
    )


def try_in_namespace(namespace: dict[str, Any], probes: Sequence[Probe], folder: Path) -> dict:
    """For authors: run ``probes`` against the functions in ``namespace`` in this process (no
    sandbox) and return ``{probe name: records}``, decoded as the grader decodes them."""
    inputs, outputs = folder / "in", folder / "out"
    counts = encode_inputs(probes, inputs)
    outputs.mkdir(parents=True, exist_ok=True)
    found = {}
    for p in probes:
        exec(runner_cell(p.name, str(inputs), str(outputs)), namespace)  # noqa: S102
        found[p.name] = read_results(outputs, p.name, counts[p.name])
    return found


def _code_namespace(sources: Iterable[str]) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "__main__"}
    for source in sources:
        # a released stub raises NotImplementedError: its function stays defined, and raises too
        with contextlib.suppress(NotImplementedError):
            exec(compile(source, "<cell>", "exec"), namespace)  # noqa: S102
    return namespace


def author_check(notebook: Path, folder: Path) -> dict[str, list[str]]:
    """For authors and CI: the problems of a source notebook's probes, by kind (empty lists
    when all is well). Runs in this process: the solution's code cells, then the stub's.

    - ``unguarded``: grade cells no probe guards (their points would rest on the kernel alone);
    - ``unknown``: grade ids named by a probe that the notebook does not have;
    - ``solution``: probes the reference solution does not pass against itself (not plain data,
      or not deterministic);
    - ``stub``: probes the released stub passes (they could not fail).
    """
    import nbformat
    from nbgrader.preprocessors import ClearSolutions
    from nbgrader.utils import is_grade

    nb = nbformat.read(notebook, as_version=4)
    probes = load(probes_file(notebook))
    grade_ids = {c.metadata.nbgrader["grade_id"] for c in nb.cells if is_grade(c)}
    guarded = {g for p in probes for g in p.grade_ids}
    problems: dict[str, list[str]] = {
        "unguarded": sorted(grade_ids - guarded),
        "unknown": sorted(guarded - grade_ids),
        "solution": [],
        "stub": [],
    }
    code = [  # what the grader's probe kernel runs: setup and answer cells, no demonstrations
        c
        for c in nb.cells
        if c.cell_type == "code" and "nbgrader" in c.get("metadata", {}) and not is_grade(c)
    ]
    clear = ClearSolutions(code_stub={"python": "raise NotImplementedError()"})
    stubbed, _ = clear.preprocess(nbformat.from_dict({**nb, "cells": code}), {})
    with contextlib.redirect_stdout(io.StringIO()):  # what the notebook's cells print
        want = try_in_namespace(_code_namespace(c.source for c in code), probes, folder / "a")
        again = try_in_namespace(_code_namespace(c.source for c in code), probes, folder / "b")
        got = try_in_namespace(
            _code_namespace(c.source for c in stubbed.cells), probes, folder / "c"
        )
    for p in probes:
        if verdict(p, again[p.name], want[p.name]) is not None:
            problems["solution"].append(p.name)
        if verdict(p, got[p.name], want[p.name]) is None:
            problems["stub"].append(p.name)
    return problems


def safe_name(name: str) -> bool:
    return re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,100}", name) is not None
