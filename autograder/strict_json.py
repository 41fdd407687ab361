"""Strict, bounded JSON, for files that hostile code wrote (the probe runner's results).

:func:`loads` checks what could hurt the parser before the parser sees a byte: the encoding
(UTF-8, nothing else) and how deep arrays and objects nest. The standard parser then refuses
what plain data never holds: NaN and Infinity, a number token hundreds of characters long or one
that overflows to infinity, a key twice in one object. Every refusal is a :class:`Refused` whose
reason quotes nothing of the file. The caller caps the file's size before reading it.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np

#: Deepest nesting of arrays and objects: counted before parsing, far below the recursion limit.
MAX_DEPTH = 100
#: Longest number token: a float's repr is under 25 characters.
MAX_NUMBER_CHARS = 400

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)  # a JSON string, escapes and all
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))


class Refused(ValueError):
    """JSON that is not strict plain data, or that nests too deeply to parse safely."""


def loads(data: bytes) -> Any:
    """The plain data that ``data`` (UTF-8 JSON) holds, or :class:`Refused`."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused("not UTF-8") from None
    outside = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS)  # brackets not in strings
    brackets = np.frombuffer(outside, np.uint8)
    opens = (brackets == ord("[")) | (brackets == ord("{"))
    if np.cumsum(np.where(opens, 1, -1)).max(initial=0) > MAX_DEPTH:
        raise Refused("nested too deeply")
    try:
        return json.loads(
            text,
            parse_constant=_constant,
            parse_float=lambda token: _finite(float(_short(token))),
            parse_int=lambda token: int(_short(token)),
            object_pairs_hook=_object,
        )
    except Refused:
        raise
    except ValueError:
        raise Refused("not valid JSON") from None


def _constant(token: str) -> Any:
    raise Refused("holding NaN or Infinity")


def _short(token: str) -> str:
    if len(token) > MAX_NUMBER_CHARS:
        raise Refused("holding a number too long")
    return token


def _finite(value: float) -> float:
    if not math.isfinite(value):  # 1e999 parses as inf
        raise Refused("holding a number that overflows")
    return value


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len(found := dict(pairs)) != len(pairs):
        raise Refused("holding a key twice in one object")
    return found
