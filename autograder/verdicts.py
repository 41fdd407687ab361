"""Judging the probes' results against the reference's, in the grader's own words.

:func:`verdict` compares what :func:`autograder.results.read_results` read from the student's
kernel with the reference's records, call by call: it names a failing call by number, and never
repeats a name, a string or a value from the student's side.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from autograder.results import Raised, TensorValue, Unsupported


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


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def agree(got: Any, want: Any, rtol: float, atol: float) -> str | None:
    """The default comparison of plain data; None when ``got`` matches ``want``. The reasons
    name the reference's exception, never ``got``'s (a class's name can be any text).

    NOTE: the pairs of one type that results are made of (two tensors, two lists, two dicts, two
    numbers) are judged first, by their exact types, as :func:`_agree` judges them: an
    optimizer's probes compare some twenty thousand values a submission, and the general case's
    chain of ``isinstance`` checks was a third of the time."""
    kind = type(want)
    if kind is TensorValue and type(got) is TensorValue:
        return _flag_problem(got, want) or _arrays_agree(got, want, rtol, atol)
    if (kind is list or kind is tuple) and type(got) is kind:
        return _items_agree(got, want, rtol, atol)
    if kind is dict and type(got) is dict and got.keys() == want.keys():
        return _entries_agree(got, want, rtol, atol)
    if kind is float and type(got) is float:
        return _numbers_agree(got, want, rtol, atol)
    return _agree(got, want, rtol, atol)


def _agree(got: Any, want: Any, rtol: float, atol: float) -> str | None:
    """:func:`agree`, in general."""
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
        return _arrays_agree(got, want, rtol, atol)
    if isinstance(want, tuple | list):
        if type(got) is not type(want):
            return f"returned {type(got).__name__} where a {type(want).__name__} was expected"
        return _items_agree(got, want, rtol, atol)
    if isinstance(want, dict):
        if not isinstance(got, dict) or set(got) != set(want):
            return "a dict with the wrong keys"
        return _entries_agree(got, want, rtol, atol)
    if _is_number(want):
        if not _is_number(got):
            return f"returned {type(got).__name__} where a number was expected"
        return _numbers_agree(got, want, rtol, atol)
    if type(got) is not type(want) or got != want:
        return "wrong value"
    return None


def _items_agree(got: list | tuple, want: list | tuple, rtol: float, atol: float) -> str | None:
    """Two lists, or two tuples: their length, then their items in order."""
    if len(got) != len(want):
        return f"a {type(want).__name__} of the wrong length"
    for g, w in zip(got, want, strict=True):
        if problem := agree(g, w, rtol, atol):
            return problem
    return None


def _entries_agree(got: dict, want: dict, rtol: float, atol: float) -> str | None:
    """Two dicts of the same keys: their values, in the reference's order of keys."""
    for k, w in want.items():
        if problem := agree(got[k], w, rtol, atol):
            return f"{k}: {problem}"
    return None


def _numbers_agree(got: float, want: float, rtol: float, atol: float) -> str | None:
    if math.isnan(want) or math.isnan(got):
        return None if math.isnan(want) and math.isnan(got) else "wrong value"
    return None if math.isclose(got, want, rel_tol=rtol, abs_tol=atol) else "wrong value"


def _arrays_agree(got: np.ndarray, want: np.ndarray, rtol: float, atol: float) -> str | None:
    """Two arrays (their flags already judged): shape, then values."""
    if got.shape != want.shape:
        return "an array of the wrong shape"
    if want.dtype == bool or got.dtype == bool:
        return None if np.array_equal(got, want) else "wrong values"
    if got.dtype.kind not in "biuf" or want.dtype.kind not in "biuf":
        return "an array that is not numeric"
    return _values_agree(got, want, rtol, atol)


def _values_agree(got: np.ndarray, want: np.ndarray, rtol: float, atol: float) -> str | None:
    """Why two numeric arrays of one shape differ, or None: NaN in the same places, and every
    other element as ``np.allclose(got, want, rtol, atol, equal_nan=True)`` has it.

    NOTE: numpy's own test, in the same float64 operations, without its checks and conversions:
    11 us for a pair of small tensors instead of 40, and an optimizer's probes compare some ten
    thousand small arrays for each submission; arrays equal everywhere (a step count, an
    untouched state, the same operations in the same order) are known close in 3 us. The arrays
    are plain ndarrays first, not :class:`TensorValue`, whose every ufunc result would otherwise
    copy its flags."""
    g, w = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if (g == w).all():  # equal everywhere (so no NaN on either side): close, in two operations
        return None
    g_nan, w_nan = np.isnan(g), np.isnan(w)
    if not (g_nan == w_nan).all():
        return "NaN where the reference has a number (or the reverse)"
    with np.errstate(invalid="ignore", over="ignore"):
        close = (np.abs(g - w) <= atol + rtol * np.abs(w)) & np.isfinite(w) | (g == w)
    return None if (close | (g_nan & w_nan)).all() else "wrong values"


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
