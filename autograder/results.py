"""Reading what the student's kernel wrote for the probes, as hostile input.

The probe runner (:mod:`autograder.sandboxed.probe_runner`) shares a process with the student's
code, so every byte it writes is the student's to choose. :func:`read_results` bounds the files
before parsing them (:mod:`autograder.strict_json`), then checks their schema; what it returns is
plain data and the types below, which :mod:`autograder.verdicts` judges.
"""

from __future__ import annotations

import functools
import io
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from autograder.strict_json import Refused, loads

#: Largest arrays file of one probe's results the grader reads; larger means "no result".
MAX_RESULT_BYTES = 64 * 2**20
#: Most array bytes one probe's results may name, counted per mention, not per file.
MAX_ARRAY_BYTES = 4 * MAX_RESULT_BYTES
#: Largest results JSON: structure and scalars (arrays are elsewhere), under 1 MiB in practice.
MAX_JSON_BYTES = 8 * 2**20
#: The suffix of a probe's arrays file, ``<probe>.arrays``, on both sides of the sandbox: its
#: arrays as ``.npy`` records one after another (numpy's ``save`` called again and again on one
#: open file). NOTE: one file per probe, not per array: a chapter of optimizer trajectories wrote
#: over ten thousand ``.npy`` files, past the files a kernel's private folder may hold.
ARRAYS = ".arrays"


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


@dataclass(frozen=True)
class Unsupported:
    """A result the runner could not turn into plain data (a custom object, say)."""

    type_name: str


@dataclass(frozen=True)
class Raised:
    """The call raised an exception of this class name."""

    name: str


def read_arrays(path: Path) -> list[np.ndarray]:
    """The arrays of one probe's arrays file ``path`` (see :data:`ARRAYS`), read as hostile
    input: each ``.npy`` header is checked (format 1.0 or 2.0, no objects, no more bytes than the
    file has left) before its data is read. Raises :class:`BadResults`."""
    if not path.is_file() or path.is_symlink():
        raise BadResults("an array of the results is missing")
    size = path.stat().st_size
    if size > MAX_RESULT_BYTES:
        raise BadResults("an array of the results is missing or too large")
    arrays = []
    try:
        with path.open("rb") as handle:
            while handle.tell() < size:
                arrays.append(_read_array(handle, size))
    except Exception:  # a broken or hostile .npy: numpy raises several kinds
        raise BadResults("an array of the results is unreadable") from None
    return arrays


#: The header's length field in each ``.npy`` format the results may be written in.
_LENGTH_FIELD = {(1, 0): "<H", (2, 0): "<I"}
#: The longest header numpy parses safely (its ``max_header_size``); longer ones are refused.
MAX_HEADER_BYTES = 10_000


def _read_array(handle: Any, size: int) -> np.ndarray:
    """The next ``.npy`` record of ``handle`` (a file of ``size`` bytes): its header parsed once
    and checked, then its data read as ``np.load`` reads an array without objects. NOTE: numpy's
    ``read_array`` would parse the header a second time, and a probe's results hold hundreds of
    small arrays."""
    shape, fortran, dtype = _header(handle, np.lib.format.read_magic(handle))
    count = math.prod(shape)
    if dtype.hasobject or count * dtype.itemsize > size - handle.tell():
        raise ValueError(shape)
    array = np.fromfile(handle, dtype=dtype, count=count)  # as numpy's read_array reads it
    if array.size != count:
        raise ValueError("short")
    return array.reshape(shape[::-1]).transpose() if fortran else array.reshape(shape)


def _header(handle: Any, version: tuple[int, int]) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, Fortran order, dtype) of the ``.npy`` header at ``handle``, in format
    ``version``: its bytes read and bounded here, then parsed by numpy's own reader."""
    if version not in _LENGTH_FIELD:
        raise ValueError(version)
    width = struct.calcsize(_LENGTH_FIELD[version])
    field = handle.read(width)
    if len(field) != width:
        raise ValueError("short")
    (length,) = struct.unpack(_LENGTH_FIELD[version], field)
    if length > MAX_HEADER_BYTES:
        raise ValueError(length)
    text = handle.read(length)
    if len(text) != length:
        raise ValueError("short")
    return _parsed(version, field + text)


@functools.lru_cache(maxsize=4096)
def _parsed(version: tuple[int, int], header: bytes) -> tuple[tuple[int, ...], bool, np.dtype]:
    """numpy's parse of one ``.npy`` header (its length field and text), once for each header
    seen. NOTE: the parse is ``ast.literal_eval``, 30 to 40 us a header, and the results of an
    optimizer chapter hold some ten thousand arrays of a few shapes: most headers are the same
    bytes. A file that varies every header gets numpy's parse of each, as before."""
    read = np.lib.format.read_array_header_1_0
    if version == (2, 0):
        read = np.lib.format.read_array_header_2_0
    return read(io.BytesIO(header))


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
    arrays: list[np.ndarray] | None = None

    def load_array(i: int) -> np.ndarray:
        nonlocal arrays
        if arrays is None:  # read once, at the first mention: a probe may return no array
            arrays = read_arrays(folder / f"{name}{ARRAYS}")
        if not 0 <= i < len(arrays):
            raise BadResults("an array of the results is missing")
        budget[0] -= arrays[i].nbytes
        if budget[0] < 0:
            raise BadResults("the arrays of the results are too large")
        return arrays[i]

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
