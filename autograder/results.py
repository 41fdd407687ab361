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
import os
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
    """One JSON value of the results as the runner tags it. NOTE: dispatched on the exact type
    and on the tag's one key (JSON holds only lists, dicts and scalars, of exactly those types):
    an optimizer chapter's results hold some twenty thousand tagged values a submission."""
    if depth > 24:
        raise BadResults("the results are nested too deeply")
    kind = type(value)
    if kind is list:
        return [_decode(v, load_array, depth + 1) for v in value]
    if kind is dict:
        if len(value) == 2 and "tensor" in value and "flags" in value:
            if type(value["tensor"]) is int:
                return TensorValue.of(load_array(value["tensor"]), value["flags"])
        elif len(value) == 1:
            ((tag, inner),) = value.items()
            if tag == "ndarray" and type(inner) is int:
                return load_array(inner)
            if tag == "tuple" and type(inner) is list:
                return tuple(_decode(v, load_array, depth + 1) for v in inner)
            if tag == "dict" and type(inner) is list:
                if not all(type(p) is list and len(p) == 2 and type(p[0]) is str for p in inner):
                    raise BadResults("the results hold a malformed dict")
                return {k: _decode(v, load_array, depth + 1) for k, v in inner}
            if tag == "raised" and type(inner) is str:
                return Raised(inner[:80])
            if tag == "float" and inner in ("nan", "inf", "-inf"):
                return float(inner)
            if tag == "unsupported" and type(inner) is str:
                return Unsupported(inner[:80])
        raise BadResults("the results hold an unknown tagged value")
    if value is None or kind is bool or kind is int or kind is float or kind is str:
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
    file has left) before its data is taken. Raises :class:`BadResults`.

    NOTE: the file is read whole, in one read of the size it has when opened (at most
    :data:`MAX_RESULT_BYTES`), and its records are parsed from memory: ``np.fromfile`` on an
    open file flushes, duplicates and seeks its descriptor for every array, 17 us an array
    where this takes 4, and an optimizer chapter's results hold eight thousand arrays a
    submission."""
    if not path.is_file() or path.is_symlink():
        raise BadResults("an array of the results is missing")
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > MAX_RESULT_BYTES:
                raise BadResults("an array of the results is missing or too large")
            data = bytearray(size)  # writable: the arrays are views of it
            del data[handle.readinto(data) :]  # what is there now, up to the size it had
    except OSError:
        raise BadResults("an array of the results is missing") from None
    arrays, at = [], 0
    try:
        while at < len(data):
            array, at = _read_array(data, at)
            arrays.append(array)
    except Exception:  # a broken or hostile .npy: numpy raises several kinds
        raise BadResults("an array of the results is unreadable") from None
    return arrays


#: The header's length field in each ``.npy`` format the results may be written in.
_LENGTH_FIELD = {(1, 0): "<H", (2, 0): "<I"}
#: The longest header numpy parses safely (its ``max_header_size``); longer ones are refused.
MAX_HEADER_BYTES = 10_000


def _read_array(data: bytearray, at: int) -> tuple[np.ndarray, int]:
    """The ``.npy`` record of ``data`` at offset ``at`` and the offset after it: its header
    parsed once and checked, then its data, as a writable view of ``data`` (the records do not
    overlap, and the results are kept whole as long as any of their arrays). NOTE: numpy's
    ``read_array`` would parse the header a second time, and a probe's results hold hundreds of
    small arrays."""
    magic = np.lib.format.MAGIC_PREFIX  # what every record starts with, before its version
    start = at + len(magic) + 2  # past the magic and its two version bytes
    if data[at : at + len(magic)] != magic or len(data) < start:
        raise ValueError("not a .npy record")
    shape, fortran, dtype, at = _header(data, start, (data[start - 2], data[start - 1]))
    count = math.prod(shape)
    end = at + count * dtype.itemsize
    if dtype.hasobject or end > len(data):
        raise ValueError(shape)
    array = np.frombuffer(data, dtype=dtype, count=count, offset=at)  # a view: no second copy
    return (array.reshape(shape[::-1]).transpose() if fortran else array.reshape(shape)), end


def _header(
    data: bytearray, at: int, version: tuple[int, int]
) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """(shape, Fortran order, dtype, where the data starts) of the ``.npy`` header at offset
    ``at`` of ``data``, in format ``version``: its bytes bounded here, then parsed by numpy's
    own reader."""
    if version not in _LENGTH_FIELD:
        raise ValueError(version)
    width = struct.calcsize(_LENGTH_FIELD[version])
    if len(data) < at + width:
        raise ValueError("short")
    (length,) = struct.unpack_from(_LENGTH_FIELD[version], data, at)
    if length > MAX_HEADER_BYTES:
        raise ValueError(length)
    end = at + width + length
    if len(data) < end:
        raise ValueError("short")
    return (*_parsed(version, bytes(data[at:end])), end)


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
