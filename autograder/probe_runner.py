"""The probe runner: the cell that runs one probe inside the student's sandboxed kernel.

Its text reaches the student's process, so it holds nothing secret, and nothing it writes is
trusted: :func:`autograder.probes.read_results` checks it all.
"""

from __future__ import annotations


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
