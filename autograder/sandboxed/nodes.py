"""The notebook nodes a worker makes (a cell for each probe, an output for each kernel message),
checked against nbformat's own schema by the faster of its two validators.

nbformat checks each node it makes (``new_code_cell``, ``output_from_msg``) against one
definition of its v4 schema, and for one definition it always takes jsonschema, which walks the
schema's references anew each time: 0.28 ms for a probe's cell and 0.13 to 0.40 ms for an output,
measured here, so about 10 ms of a worker's CPU for each chapter 01 submission. For whole
notebooks nbformat takes fastjsonschema, which compiles the schema to Python once.
:func:`install` puts the same check in front of nbformat's, from the same schema file,
compiled by fastjsonschema once per definition: a node it passes is valid; any other node is
handed to nbformat's own check, which then refuses it with its own error, as before.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import fastjsonschema
import nbformat.v4.nbbase as nbbase

_ORIGINAL = nbbase.validate


@functools.cache
def _check(definition: str) -> Any:
    """fastjsonschema's check of one definition of the v4 schema nbformat writes (KeyError when
    the schema has no such definition)."""
    from nbformat.v4 import nbformat_schema

    name = nbformat_schema[(nbbase.nbformat, nbbase.nbformat_minor)]  # the newest minor's
    schema = json.loads((Path(nbbase.__file__).parent / name).read_text())
    if definition not in schema["definitions"]:
        raise KeyError(definition)
    return fastjsonschema.compile(
        {
            "$schema": schema["$schema"],
            "definitions": schema["definitions"],
            "$ref": f"#/definitions/{definition}",
        }
    )


def validate(node: Any, ref: str | None = None) -> None:
    """nbformat's ``nbbase.validate``: None when ``node`` is a valid ``ref``, else nbformat's
    own ``ValidationError``."""
    if ref is not None:
        try:
            _check(ref)(node)
            return None
        except (KeyError, fastjsonschema.JsonSchemaException):
            pass  # nbformat's own check says what is wrong, in its own words
    return _ORIGINAL(node, ref)


def install() -> None:
    """Make nbformat's node constructors check with :func:`validate` (in this process; once)."""
    nbbase.validate = validate
