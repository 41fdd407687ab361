"""Reading what the student's kernel wrote for the probes, as hostile input, and judging it.

The probe runner (:mod:`autograder.sandboxed.probe_runner`) shares a process with the student's
code, so every byte it writes is the student's to choose. :func:`read_results` bounds the files
before parsing them (:mod:`autograder.strict_json`), then checks their schema; :func:`verdict`
compares them with the reference's, call by call, in the grader's own words only: it names a
failing call by number, and never repeats a name, a string or a value from the student's side.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from autograder.strict_json import Refused, loads


class Declared(Protocol):
    """What :func:`verdict` reads of a probe (:class:`autograder.probes.Probe`, a layer above)."""

    @property
    def function(self) -> str: ...
    @property
    def rtol(self) -> float: ...
    @property
    def atol(self) -> float: ...
    @property
    def compare(self) -> Callable[[Any, Any], str | None] | None: ...


#: Largest ``.npy`` file of the results the grader reads; larger means "no result".
MAX_RESULT_BYTES = 64 * 2**20
#: Most array bytes one probe's results may name, counted per mention, not per file.
MAX_ARRAY_BYTES = 4 * MAX_RESULT_BYTES
#: Largest results JSON: structure and scalars (arrays are .npy files), under 1 MiB in practice.
MAX_JSON_BYTES = 8 * 2**20


class BadResults(Exception):
    """A results file that is missing, too large, or not what the runner writes."""


def _decode(value: Any, load_array: Callable[[int], np.ndarray], depth: int = 0) -> Any:
    if depth > 24:
        raise BadResults("the results are nested too deeply")
    if isinstance(value, list):
        return [_decode(v, load_array, depth + 1) for v in value]
    if isinstance(value, dict):
        if set(value) == {"ndarray"} and type(value["ndarray"]) is int:
            return load_array(value["ndarray"])
        if set(value) == {"tensor", "flags"} and type(value["tensor"]) is int:
            return TensorValue.of(load_array(value["tensor"]), value["flags"])
        if set(value) == {"raised"} and isinstance(value["raised"], str):
            return Raised(value["raised"][:80])
        if set(value) == {"tuple"} and isinstance(value["tuple"], list):
            return tuple(_decode(v, load_array, depth + 1) for v in value["tuple"])
        if set(value) == {"dict"} and isinstance(value["dict"], list):
            pairs = value["dict"]
            if not all(
                isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) for p in pairs
            ):
                raise BadResults("the results hold a malformed dict")
            return {k: _decode(v, load_array, depth + 1) for k, v in pairs}
        if set(value) == {"float"} and value["float"] in ("nan", "inf", "-inf"):
            return float(value["float"])
        if set(value) == {"unsupported"} and isinstance(value["unsupported"], str):
            return Unsupported(value["unsupported"][:80])
        raise BadResults("the results hold an unknown tagged value")
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise BadResults("the results hold what is not plain data")


class TensorValue(np.ndarray):
    """A tensor the student's function returned (or an argument after the call): its values,
    with ``flags_`` = (dtype, device type, requires_grad, has .grad) as the runner saw them."""

    flags_: tuple[str, str, bool, bool]

    @classmethod
    def of(cls, array: np.ndarray, flags: Any) -> TensorValue:
        if not isinstance(flags, list) or [type(f) for f in flags] != [str, str, bool, bool]:
            raise BadResults("the results hold malformed tensor flags")
        made = np.asarray(array).view(cls)
        made.flags_ = (flags[0][:40], flags[1][:20], flags[2], flags[3])
        return made

    def __array_finalize__(self, obj: Any) -> None:
        self.flags_ = getattr(obj, "flags_", ("", "", False, False))

    # Results travel from a worker to the coordinator pickled: keep the flags with the values.
    def __reduce__(self) -> Any:
        rebuild, args, state = super().__reduce__()  # type: ignore[str-unpack]
        return rebuild, args, (state, self.flags_)

    def __setstate__(self, state: Any) -> None:
        base, self.flags_ = state
        super().__setstate__(base)


def _flag_problem(got: Any, want: TensorValue) -> str | None:
    """Why ``got``'s dtype, device or autograd flags differ from the reference's, or None, in
    the reference's terms: ``got``'s dtype and device are strings the student's side wrote."""
    if not isinstance(got, TensorValue):
        return "returned an array where a tensor was expected"
    (g_dtype, g_dev, g_rg, g_grad), (w_dtype, w_dev, w_rg, w_grad) = got.flags_, want.flags_
    if g_dtype != w_dtype:
        return f"a tensor of another dtype where {w_dtype} was expected"
    if g_dev != w_dev:
        return f"a tensor on another device where {w_dev} was expected"
    if g_rg != w_rg:
        cut = " (the graph is cut: autograd must flow here)"
        return f"requires_grad is {g_rg}" + (cut if w_rg else " where it should not be")
    if g_grad != w_grad:
        return ".grad is set where it should not be" if g_grad else ".grad is missing"
    return None


@dataclass(frozen=True)
class Unsupported:
    """A result the runner could not turn into plain data (a custom object, say)."""

    type_name: str


@dataclass(frozen=True)
class Raised:
    """The call raised an exception of this class name."""

    name: str


def read_results(folder: Path, name: str, calls: int) -> list[dict[str, Any]]:
    """The results of probe ``name`` from ``folder``, checked as untrusted input: each record has
    ``result`` (plain data, :class:`Raised` or :class:`Unsupported`) and, when asked for,
    ``grads``, ``args`` and ``meta``. Raises :class:`BadResults` for anything else."""
    path = folder / f"{name}.json"
    if not path.is_file() or path.is_symlink():
        raise BadResults("no results were written")
    if path.stat().st_size > MAX_JSON_BYTES:
        raise BadResults("the results are too large")
    try:
        records = loads(path.read_bytes())
    except Refused as err:  # its reason quotes nothing of the file
        raise BadResults(f"the results JSON is {err}") from None
    except OSError:  # made unreadable (chmod 000) by the kernel's user: a grader that is not root
        raise BadResults("the results are unreadable") from None
    if not isinstance(records, list) or len(records) != calls:
        raise BadResults("the results do not match the calls")
    budget = [MAX_ARRAY_BYTES]

    def load_array(i: int) -> np.ndarray:
        file = folder / f"{name}.{i}.npy"
        if not file.is_file() or file.is_symlink() or file.stat().st_size > MAX_RESULT_BYTES:
            raise BadResults("an array of the results is missing or too large")
        budget[0] -= file.stat().st_size  # counted before reading
        if budget[0] < 0:
            raise BadResults("the arrays of the results are too large")
        try:
            return np.load(file, allow_pickle=False)
        except Exception:  # a broken or hostile .npy: numpy raises several kinds
            raise BadResults("an array of the results is unreadable") from None

    decoded = []
    for record in records:
        if not isinstance(record, dict):
            raise BadResults("a record of the results is not an object")
        if set(record) == {"raised"}:  # the call raised: {"raised": "<its class name>"}
            record = {"result": record}
        if "result" not in record or not set(record) <= {"result", "grads", "args", "meta"}:
            raise BadResults("a record of the results has unexpected fields")
        decoded.append({k: _decode(v, load_array) for k, v in record.items()})
    return decoded


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def agree(got: Any, want: Any, rtol: float, atol: float) -> str | None:
    """The default comparison of plain data; None when ``got`` matches ``want``. The reasons
    name the reference's exception, never ``got``'s (a class's name can be any text)."""
    if isinstance(want, Raised) or isinstance(got, Raised):
        if isinstance(want, Raised) and isinstance(got, Raised) and got.name == want.name:
            return None
        if isinstance(want, Raised):
            return f"should raise {want.name}"
        if got.name == "RuleBroken":
            return "broke a rule of the exercise (a forbidden call, say: see its instructions)"
        return "raised an exception where the reference returns a value"
    if isinstance(got, Unsupported):
        if isinstance(want, Unsupported) and want.type_name == got.type_name:
            return None  # a callable argument, say: the same kind of object on both sides
        return "returned an object that is not plain data (an instance of a class of its own?)"
    if isinstance(want, np.ndarray):
        if not isinstance(got, np.ndarray):
            return f"returned {type(got).__name__} where an array was expected"
        if isinstance(want, TensorValue) and (problem := _flag_problem(got, want)):
            return problem
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
        problems = (agree(g, w, rtol, atol) for g, w in zip(got, want, strict=True))
        return next((p for p in problems if p), None)
    if isinstance(want, dict):
        if not isinstance(got, dict) or set(got) != set(want):
            return "a dict with the wrong keys"
        keyed = ((k, agree(got[k], want[k], rtol, atol)) for k in want)  # the reference's keys
        return next((f"{k}: {p}" for k, p in keyed if p), None)
    if _is_number(want):
        if not _is_number(got):
            return f"returned {type(got).__name__} where a number was expected"
        if math.isnan(want) or math.isnan(got):
            return None if math.isnan(want) and math.isnan(got) else "wrong value"
        return None if math.isclose(got, want, rel_tol=rtol, abs_tol=atol) else "wrong value"
    if type(got) is not type(want) or got != want:
        return "wrong value"
    return None


def _meta_problem(got: Any, want: Any) -> str | None:
    """The second-device check of one call: ``want`` is what the reference returned on
    ``meta`` (shapes, dtypes, devices), or Raised when it cannot run there (nothing to hold)."""
    if isinstance(want, Raised):
        return None
    if isinstance(got, Raised):
        if got.name == "DeviceMismatch":
            return "mixes devices: a tensor made without device= (or on the CPU)?"
        return None  # it reads values, which meta tensors do not have: not held against it
    if got != want:
        return "its result is not on its inputs' device, or has another shape or dtype there"
    return None


def verdict(p: Declared, got: list[dict[str, Any]], want: list[dict[str, Any]]) -> str | None:
    """None when every call of ``p`` agrees with the reference; else a reason for the student
    that names the call by number only."""
    failed = []
    for i, (g, w) in enumerate(zip(got, want, strict=True), start=1):
        for part in ("result", "grads", "args", "meta"):
            if part not in w:
                continue
            if part == "meta":
                problem = _meta_problem(g.get("meta", Raised("missing")), w["meta"])
            elif part not in g:
                problem = f"no {part}"
            elif part == "result" and p.compare is not None and not _raised(g[part], w[part]):
                problem = p.compare(_plain(g[part]), _plain(w[part]))
            else:
                problem = agree(g[part], w[part], p.rtol, p.atol)
            if problem:
                failed.append((i, part, problem))
                break
    if not failed:
        return None
    i, part, problem = failed[0]
    where = {
        "result": "",
        "args": " (its arguments after the call: an input changed, or its autograd flags)",
        "grads": " (gradients)",
        "meta": " (with its inputs on a second device)",
    }[part]
    return (
        f"{p.function} disagrees with the reference on {len(failed)} of {len(got)} hidden "
        f"case(s); first, case {i}{where}: {problem}"
    )


def _raised(got: Any, want: Any) -> bool:  # either side raised, or got is not plain data
    return isinstance(want, Raised) or isinstance(got, Raised | Unsupported)


def _plain(value: Any) -> Any:
    """``value`` with tensors as plain arrays, for an author's comparator."""
    if isinstance(value, TensorValue):
        return np.asarray(value).view(np.ndarray)
    if isinstance(value, list | tuple):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
