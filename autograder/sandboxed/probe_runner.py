"""The probe runner: the code that runs one probe inside the student's sandboxed kernel.

This module is sent into the kernel as text (:func:`runner_cell`), so it imports nothing of the
grader: only the standard library, numpy, torch and coursekit, which the sandbox has. It holds
nothing secret, and nothing it writes is trusted: :func:`autograder.probes.read_results` checks
it all. It is linted and type-checked like the rest of the package.

For every call of a probe it records, as plain data (never pickle):

- ``result``: what the function returned (tensors with their dtype, device and requires_grad),
  or the name of the exception it raised;
- ``args``: every argument as it is after the call, tensors with their autograd flags, so the
  trusted side sees an input changed in place (or a ``requires_grad`` switched on) unless the
  reference does the same;
- ``grads``: with a backward pass asked for, the gradient of every input that requires one;
- ``meta``, for the calls the spec names (the first, middle and last): the shapes, dtypes and
  devices returned when every tensor input is moved to PyTorch's ``meta`` device, or
  ``{"raised": ...}``: ``DeviceMismatch`` when the answer mixed devices (a constant made without
  ``device=``), ``MetaUnsupported`` when the call cannot run on ``meta`` at all (it reads
  values), which the trusted side does not hold against anyone.

What the calls print is thrown away, never sent: no one would see it, and a noisy answer would
otherwise make the kernel wait for its I/O thread at every flush, which a busy machine stretches.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: The suffix of a probe's arrays file: autograder.results.ARRAYS (this module imports nothing
#: of the grader's; tests/test_autograder_probes.py checks that the two agree).
ARRAYS = ".arrays"

#: The name the runner is defined under in the kernel, removed again after each probe.
KERNEL_NAME = "_autograder_probe_runner"

#: Messages of PyTorch's errors for tensors on two devices in one operation.
DEVICE_ERRORS = (
    "expected all tensors to be on the same device",
    "is not on the expected device",
    "expected device",
    "found at least two devices",
    "must be on the same device",
    # NOTE: not "cannot copy out of meta tensor": reading values (.tolist(), .cpu()) raises it
    # too, and reading values is no device bug
)


class RuleBroken(Exception):
    """A rule of the exercise (a forbidden call, autograd switched off...) was broken."""


@contextlib.contextmanager
def checked(manager: Any, test: Any = None) -> Iterator[Any]:
    """Run the block in ``manager``; a failed assertion or ``test(manager)`` is RuleBroken."""
    try:
        with manager as entered:
            yield entered
    except AssertionError as err:
        raise RuleBroken(str(err)) from None
    if test is not None and not test(manager):
        raise RuleBroken()


def evaluate(source: str, names: dict[str, Any]) -> Any:
    """The value of trusted source text from the probes file, in ``names``: an expression, or
    statements (a def) that end in one (see autograder/declare_source.py)."""
    *statements, last = ast.parse(source, "<probe source>").body
    if not isinstance(last, ast.Expr):
        raise ValueError("a probe's source must end in an expression")
    exec(compile(ast.Module(statements, []), "<probe source>", "exec"), names)  # noqa: S102
    return eval(compile(ast.Expression(last.value), "<probe source>", "eval"), names)  # noqa: S307


class _Codec:
    """Decodes one probe's inputs and encodes what comes back (see autograder/probes.py)."""

    def __init__(self, name: str, inputs: str, outputs: str) -> None:
        self.name, self.inputs, self.outputs = name, inputs, outputs
        self.saved: list[Any] = []
        self.given: list[Any] | None = None  # the inputs' arrays, read at the first use

    def array(self, i: int) -> Any:
        """A fresh copy of input array ``i``: a call that changes its input in place changes
        no other call's."""
        import numpy as np

        if self.given is None:
            self.given = []
            path = os.path.join(self.inputs, self.name + ARRAYS)
            with open(path, "rb") as handle:  # trusted: the grader wrote it
                size = os.fstat(handle.fileno()).st_size
                while handle.tell() < size:
                    self.given.append(np.load(handle, allow_pickle=False))
        return self.given[i].copy()

    def decode(self, v: Any, leaves: list[Any], device: Any, args: list[Any]) -> Any:
        import numpy as np
        import torch

        if isinstance(v, list):
            return [self.decode(x, leaves, device, args) for x in v]
        if not isinstance(v, dict):
            return v
        if "tensor" in v:
            t = torch.as_tensor(self.array(v["tensor"])).to(device)
            if v["grad"]:
                t.requires_grad_(True)
            leaves.append(t)
            return t
        if "ndarray" in v:
            return self.array(v["ndarray"])
        if "tuple" in v:
            return tuple(self.decode(x, leaves, device, args) for x in v["tuple"])
        if "dict" in v:
            return {k: self.decode(x, leaves, device, args) for k, x in v["dict"]}
        if "float" in v:
            return float(v["float"])
        if "expr" in v:
            names: dict[str, Any] = {"torch": torch, "nn": torch.nn, "F": torch.nn.functional}
            names.update(np=np, device=device, ARGS=args)  # ARGS: the call's own arguments
            for key, bound in v["bindings"].items():
                names[key] = self.decode(bound, leaves, device, args)
            return evaluate(v["expr"], names)  # trusted text from the probes file
        return v

    def encode(self, v: Any, depth: int = 0) -> Any:
        import numpy as np
        import torch

        if depth > 20:
            return {"unsupported": "nested too deeply"}
        if isinstance(v, torch.nn.Module):
            return self.encode(
                {
                    "parameters": dict(v.state_dict().items()),
                    "requires_grad": {n: p.requires_grad for n, p in v.named_parameters()},
                    "grad_is_none": {n: p.grad is None for n, p in v.named_parameters()},
                },
                depth + 1,
            )
        if isinstance(v, torch.Tensor):
            has_grad = v.is_leaf and v.grad is not None  # .grad of a non-leaf warns, is None
            flags = [str(v.dtype), v.device.type, bool(v.requires_grad), has_grad]
            self.saved.append(np.ascontiguousarray(v.detach().cpu().numpy()))
            return {"tensor": len(self.saved) - 1, "flags": flags}
        if isinstance(v, np.ndarray):
            if v.dtype == object:
                return {"unsupported": "object array"}
            self.saved.append(np.ascontiguousarray(v))
            return {"ndarray": len(self.saved) - 1}
        if isinstance(v, np.generic):
            return self.encode(v.item(), depth + 1)
        if type(v) is tuple:
            return {"tuple": [self.encode(x, depth + 1) for x in v]}
        if type(v) is list:
            return [self.encode(x, depth + 1) for x in v]
        if type(v) is dict:
            return {"dict": [[str(k), self.encode(x, depth + 1)] for k, x in v.items()]}
        if type(v) is float and not math.isfinite(v):
            return {"float": repr(v)}
        if v is None or type(v) in (bool, int, float, str):
            return v
        return {"unsupported": type(v).__name__}


def shapes(v: Any, depth: int = 0) -> Any:
    """What a call on ``meta`` tensors returned, as plain data: tensors by shape, dtype and
    device; other values by type only (their values mean nothing there)."""
    import torch

    if depth > 20:
        return "nested"
    if isinstance(v, torch.Tensor):
        return f"tensor{tuple(v.shape)} {v.dtype} {v.device.type}"
    if type(v) in (tuple, list):
        return [shapes(x, depth + 1) for x in v]
    if type(v) is dict:
        return {"dict": [[str(k), shapes(x, depth + 1)] for k, x in v.items()]}
    return type(v).__name__


class _Discard(io.TextIOBase):
    """Where the probed calls print: nowhere. Nothing they print reaches anyone, and a kernel
    that sends it would wait on its I/O thread at every flush, longer on a busy machine."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return len(text)


def _device_error(err: BaseException) -> bool:
    text = str(err).lower()
    return any(pattern in text for pattern in DEVICE_ERRORS)


def run(name: str, inputs: str, outputs: str, namespace: dict[str, Any]) -> None:
    """Run probe ``name``: call ``namespace[function]`` on each decoded input and write
    ``outputs/<name>.json`` and ``outputs/<name>.arrays``."""
    import numpy as np

    from coursekit import device as course_device

    dev = course_device()
    codec = _Codec(name, inputs, outputs)
    spec = json.loads(Path(inputs, name + ".json").read_text())
    function = namespace.get(spec["function"])

    def attempt(c: dict[str, Any], device: Any) -> tuple[Any, list[Any], list[Any]]:
        leaves: list[Any] = []
        args: list[Any] = []
        for a in c["args"]:
            args.append(codec.decode(a, leaves, device, args))
        kwargs = {k: codec.decode(v, leaves, device, args) for k, v in c["kwargs"].items()}
        if function is None:
            raise NameError(spec["function"] + " is not defined")
        rule: Any = contextlib.nullcontext()
        if c.get("under"):
            rule = evaluate(c["under"], {**namespace, "checked": checked})  # trusted text
        with checked(rule):
            result = function(*args, **kwargs)
        return result, args, leaves

    with contextlib.redirect_stdout(_Discard()), contextlib.redirect_stderr(_Discard()):
        meta = set(spec["meta"])  # the calls repeated on the meta device
        results = [_record(c, attempt, codec, dev, i in meta) for i, c in enumerate(spec["calls"])]
    with open(os.path.join(outputs, name + ARRAYS), "wb") as handle:
        for a in codec.saved:
            np.save(handle, a, allow_pickle=False)
    Path(outputs, name + ".json").write_text(json.dumps(results))


def _record(c: dict[str, Any], attempt: Any, codec: _Codec, dev: Any, meta: bool) -> dict[str, Any]:
    """What one call did, as the trusted side reads it (see the module's docstring)."""
    import torch

    record: dict[str, Any]
    try:
        result, args, leaves = attempt(c, dev)
        record = {"result": codec.encode(result), "args": [codec.encode(a) for a in args]}
        if c["backward"] is not None:
            grad_output = torch.as_tensor(codec.decode(c["backward"], [], dev, [])).to(dev)
            result.backward(grad_output)
            record["grads"] = [codec.encode(t.grad) for t in leaves if t.requires_grad]
    except Exception as err:
        record = {"raised": type(err).__name__}
    if meta and "raised" not in record:
        try:
            record["meta"] = shapes(attempt(c, torch.device("meta"))[0])
        except Exception as err:
            kind = "DeviceMismatch" if _device_error(err) else "MetaUnsupported"
            record["meta"] = {"raised": kind}
    return record


def runner_cell(name: str, inputs: str, outputs: str) -> str:
    """The source of the cell that runs probe ``name`` inside the sandboxed kernel: this
    module's text, executed in a namespace of its own, then :func:`run` over the notebook's."""
    source = Path(__file__).read_text()
    return (
        f"{KERNEL_NAME} = {{'__name__': {KERNEL_NAME!r}}}\n"
        f"exec(compile({source!r}, '<probe runner>', 'exec'), {KERNEL_NAME})\n"
        f"{KERNEL_NAME}['run']({name!r}, {inputs!r}, {outputs!r}, globals())\n"
        f"del {KERNEL_NAME}\n"
    )
