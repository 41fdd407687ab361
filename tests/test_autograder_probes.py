"""Probes: every chapter's are complete and can fail, and their results are read as hostile."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import coursekit
from autograder.authoring.proofs import author_check, try_in_namespace
from autograder.declare_source import literal
from autograder.probes import (
    BadResults,
    DeclarationError,
    Raised,
    Tensor,
    agree,
    built,
    checked,
    encode_inputs,
    fn,
    from_notebook,
    load,
    read_results,
    rule,
    tensor,
    verdict,
)
from autograder.results import read_arrays
from autograder.sandboxed.probe_runner import evaluate
from tests.conftest import ROOT

NOTEBOOKS = sorted((ROOT / "solutions").glob("*/*.ipynb"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_every_grade_cell_is_guarded_and_every_probe_can_fail(
    notebook: Path, tmp_path: Path
) -> None:
    """No unguarded grade cell, no unknown grade id; the reference agrees with itself (plain
    data, deterministic), the released stub fails every probe, and every mutant is killed and,
    submitted, would be told its misconception (its results agree with its own alone)."""
    problems = author_check(notebook, tmp_path)
    assert problems == {
        "unguarded": [],
        "unknown": [],
        "solution": [],
        "stub": [],
        "survived": [],
        "unpatchable": [],
        "unnamed": [],
    }


def test_probes_are_never_released() -> None:
    assert not list((ROOT / "exercises").rglob("*.probes.py"))
    released = "\n".join(p.read_text() for p in (ROOT / "exercises").rglob("*.ipynb"))
    assert "autograder.probes" not in released


def _arrays(path: Path, *arrays: np.ndarray, allow_pickle: bool = False) -> None:
    """A probe's arrays file: .npy records one after another (np.save of a path adds ".npy")."""
    with path.open("wb") as handle:
        for array in arrays:
            np.save(handle, array, allow_pickle=allow_pickle)


def _write(folder: Path, name: str, records: object) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(records))


def test_results_are_read_as_plain_data(tmp_path: Path) -> None:
    _arrays(tmp_path / "p.arrays", np.arange(3.0), np.eye(2, dtype=np.float32))
    records = [{"result": {"tuple": [{"ndarray": 0}, 2]}}, {"raised": "ValueError"}]
    _write(tmp_path, "p", records + [{"result": {"ndarray": 1}}])
    got = read_results(tmp_path, "p", 3)
    assert np.array_equal(got[0]["result"][0], np.arange(3.0)) and got[0]["result"][1] == 2
    assert got[1]["result"] == Raised("ValueError")
    assert got[2]["result"].dtype == np.float32 and np.array_equal(got[2]["result"], np.eye(2))


def test_arrays_with_the_same_header_are_each_read_whole(tmp_path: Path) -> None:
    """Headers are parsed once for each distinct header (autograder.results._parsed): arrays
    that share one still get their own values, and a Fortran-ordered one its own order."""
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((2, 3)) for _ in range(50)]
    arrays += [np.asfortranarray(rng.standard_normal((2, 3))), np.arange(4, dtype=np.int16)]
    _arrays(tmp_path / "p.arrays", *arrays, *arrays)
    got = read_arrays(tmp_path / "p.arrays")
    assert len(got) == 2 * len(arrays)
    for mine, theirs in zip(got, arrays + arrays, strict=True):
        assert mine.dtype == theirs.dtype and np.array_equal(mine, theirs)


def test_arrays_read_from_memory_are_each_their_own_writable_array(tmp_path: Path) -> None:
    """The arrays file is read whole and parsed from memory (autograder.results.read_arrays):
    each array is writable, as np.load's are, whatever its kind, shape or order, and writing to
    one changes neither the others nor the file."""
    arrays = [
        np.float64(2.5).reshape(()), np.zeros((0, 3)), np.array([True, False]),
        np.arange(6, dtype=np.int64).reshape(2, 3), np.asfortranarray(np.eye(3, 2)),
        np.arange(5, dtype=np.float32),
    ]  # fmt: skip
    _arrays(tmp_path / "p.arrays", *arrays)
    got = read_arrays(tmp_path / "p.arrays")
    for mine, theirs in zip(got, arrays, strict=True):
        assert mine.dtype == theirs.dtype and mine.shape == theirs.shape
        assert np.array_equal(mine, theirs) and mine.flags.writeable
    for mine in got:
        mine[...] = 1
    for mine, theirs in zip(read_arrays(tmp_path / "p.arrays"), arrays, strict=True):
        assert np.array_equal(mine, theirs)
    assert got[0] == 1 and got[4].tolist() == [[1.0] * 2] * 3 and got[5].tolist() == [1.0] * 5


def test_a_tensor_value_crosses_to_the_coordinator_with_its_values_and_flags() -> None:
    import pickle

    from autograder.results import TensorValue

    for array in (np.arange(6.0).reshape(2, 3), np.asfortranarray(np.eye(3, 2)), np.int8(3)):
        sent = TensorValue.of(np.asarray(array), ["torch.float64", "cpu", True, False])
        got = pickle.loads(pickle.dumps(sent, protocol=pickle.HIGHEST_PROTOCOL))  # noqa: S301
        assert type(got) is TensorValue and got.flags_ == sent.flags_
        assert got.dtype == sent.dtype and got.shape == sent.shape and np.array_equal(got, sent)


def test_the_comparison_s_fast_paths_say_what_its_general_case_says() -> None:
    """autograder.verdicts.agree judges the pairs results are made of by their exact types
    first: on every pair, same-typed or not, it says what the general comparison says."""
    from autograder.results import Raised, TensorValue, Unsupported
    from autograder.verdicts import _agree, agree

    def t(values, flags=("torch.float64", "cpu", False, False)):
        return TensorValue.of(np.asarray(values), list(flags))

    values = [
        t([1.0, 2.0]), t([1.0, 2.0 + 1e-12]), t([1.0, 3.0]), t([np.nan, 1.0]), t([np.inf, 1.0]),
        t([1.0, 2.0], ("torch.float32", "cpu", False, False)), t([[1.0, 2.0]]),
        t([1.0, 2.0], ("torch.float64", "cpu", True, False)), np.array([1.0, 2.0]),
        [t([1.0, 2.0]), 3.0], [t([1.0, 2.0])], (t([1.0, 2.0]), 3.0), (1.0, 2.0),
        {"a": 1.0, "b": t([1.0, 2.0])}, {"a": 1.0, "c": 2.0}, {"b": t([1.0, 2.0]), "a": 1.0},
        {"a": 1.0 + 1e-12, "b": t([1.0, 3.0])}, 1.0, 1.0 + 1e-12, 2.0, float("nan"), 1, True,
        "x", None, Raised("ValueError"), Raised("RuleBroken"), Unsupported("Thing"),
    ]  # fmt: skip
    for want in values:
        for got in values:
            assert agree(got, want, 1e-9, 1e-12) == _agree(got, want, 1e-9, 1e-12), (got, want)


def test_the_runner_and_the_grader_name_the_arrays_file_alike() -> None:
    from autograder.results import ARRAYS
    from autograder.sandboxed import probe_runner

    assert probe_runner.ARRAYS == ARRAYS


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[:-3],  # cut short: the header claims more than is there
        lambda data: data[:20],  # cut inside the header
        lambda data: data.replace(b"(3,)", b"(3000000000,)"),  # a shape past the file
        lambda data: b"not an npy record at all",
        # a version 2.0 header that claims 2 GiB: refused before it is read
        lambda data: b"\x93NUMPY\x02\x00" + (1 << 31).to_bytes(4, "little") + data[10:],
    ],
)
def test_a_damaged_arrays_file_is_refused(tmp_path: Path, damage) -> None:
    _arrays(tmp_path / "p.arrays", np.arange(3.0))
    path = tmp_path / "p.arrays"
    path.write_bytes(damage(path.read_bytes()))
    _write(tmp_path, "p", [{"result": {"ndarray": 0}}])
    with pytest.raises(BadResults, match="unreadable"):
        read_results(tmp_path, "p", 1)


@pytest.mark.parametrize(
    "records, why",
    [
        ([{"result": 1}], "do not match"),  # one record for two calls
        ([{"result": 1}, {"result": 2, "fake": True}], "unexpected fields"),
        ([{"result": {"ndarray": 0}}, {"result": 1}], "missing"),
        ([{"result": {"pickle": "gASV"}}, {"result": 1}], "unknown tagged"),
        ("not a list", "do not match"),
    ],
)
def test_malformed_results_are_refused(tmp_path: Path, records: object, why: str) -> None:
    _write(tmp_path, "p", records)
    with pytest.raises(BadResults, match=why):
        read_results(tmp_path, "p", 2)


def test_results_nested_past_the_parser_are_a_failed_probe(tmp_path: Path) -> None:
    """JSON nested deeper than the parser's stack is refused as bad results, not a crash."""
    (tmp_path / "p.json").write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(BadResults, match="nested too deeply"):
        read_results(tmp_path, "p", 1)


def test_pickled_arrays_and_symlinks_are_refused(tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    _arrays(tmp_path / "p.arrays", np.array([marker], dtype=object), allow_pickle=True)
    _write(tmp_path, "p", [{"result": {"ndarray": 0}}])
    with pytest.raises(BadResults, match="unreadable"):
        read_results(tmp_path, "p", 1)
    (tmp_path / "q.json").symlink_to("/etc/passwd")
    with pytest.raises(BadResults, match="no results"):
        read_results(tmp_path, "q", 1)
    assert not marker.exists()


def test_default_comparison() -> None:
    assert agree(np.ones(3), np.ones(3), 1e-7, 1e-9) is None
    assert agree(np.ones(3) * 1.01, np.ones(3), 1e-7, 1e-9) == "wrong values"
    assert agree(np.ones((3, 1)), np.ones(3), 1e-7, 1e-9) == "an array of the wrong shape"
    assert agree([1, 2], (1, 2), 1e-7, 1e-9) is not None  # a list is not the tuple asked for
    assert agree(True, 1, 1e-7, 1e-9) is not None
    assert agree(Raised("ValueError"), Raised("ValueError"), 0, 0) is None
    assert agree(np.zeros(2), Raised("ValueError"), 0, 0) == "should raise ValueError"
    assert agree(float("nan"), 1.0, 1e-7, 1e-9) is not None


def test_arrays_are_compared_as_numpy_s_allclose_compares_them() -> None:
    """The comparison of numeric arrays is numpy's ``allclose(equal_nan=True)`` with NaN in
    the same places, written out for speed: the same verdict on edge values in both dtypes."""
    rng = np.random.default_rng(16)
    edges = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 5e-324, 1e308, -1e308])
    tolerances = [(1e-7, 1e-9), (0.0, 0.0), (0.1, 0.0), (0.0, 1.0)]
    for _ in range(3000):
        size = int(rng.integers(1, 4))
        want = rng.choice(edges, size) if rng.random() < 0.5 else rng.normal(size=size)
        got = [want, rng.choice(edges, size), want * (1 + rng.normal(size=size) * 1e-8)][
            int(rng.integers(0, 3))
        ]
        rtol, atol = tolerances[int(rng.integers(0, len(tolerances)))]
        for dtype in (np.float64, np.float32):
            with np.errstate(over="ignore", invalid="ignore"):
                g, w = got.astype(dtype), want.astype(dtype)
                g64, w64 = g.astype(np.float64), w.astype(np.float64)
                if not np.array_equal(np.isnan(g64), np.isnan(w64)):
                    expected = "NaN where the reference has a number (or the reverse)"
                elif np.allclose(g64, w64, rtol=rtol, atol=atol, equal_nan=True):
                    expected = None
                else:
                    expected = "wrong values"
            assert agree(g, w, rtol, atol) == expected, (g, w, rtol, atol)


def test_declaring_rejects_what_is_not_plain_data(tmp_path: Path) -> None:
    from autograder.probes import encode_inputs, load

    path = tmp_path / "x.probes.py"
    path.write_text(
        "from autograder.probes import call, probe\n"
        "@probe('g', function='f')\n"
        "def bad():\n"
        "    yield call(object())\n"
    )
    with pytest.raises(TypeError, match="plain data"):
        encode_inputs(load(path), tmp_path / "in")


# ---- declarations written as Python: their source text travels (autograder/declare_source.py) ---

OpRecorder = from_notebook("OpRecorder")


def _softsign(t):
    return t / (1 + t.abs())


def _scaled(weight, scale):
    return weight * scale


def test_a_lambda_travels_as_its_own_text_with_its_bindings(tmp_path: Path) -> None:
    A = np.eye(2)
    made = fn(lambda t: A @ t, A=tensor(A))
    assert made.source == "lambda t: A @ t"
    assert isinstance(made.bindings["A"], Tensor) and np.array_equal(made.bindings["A"].array, A)
    # the binding goes out like any input: a tensor of its own, next to the call's argument
    probe_file = tmp_path / "p.probes.py"
    probe_file.write_text(
        "import numpy as np\n"
        "from autograder.probes import call, fn, probe, tensor\n"
        "@probe('g', function='f')\n"
        "def p():\n"
        "    A = np.eye(2) * 3\n"
        "    yield call(fn(lambda t: A @ t, A=tensor(A)), tensor(np.ones(2)))\n"
    )
    encode_inputs(load(probe_file), tmp_path / "in")
    sent = json.loads((tmp_path / "in" / "p.json").read_text())["calls"][0]["args"][0]
    assert sent == {"expr": "lambda t: A @ t", "bindings": {"A": {"tensor": 0, "grad": False}}}
    assert np.array_equal(read_arrays(tmp_path / "in" / "p.arrays")[0], np.eye(2) * 3)


def test_a_def_travels_whole_then_its_name_or_a_call_of_it() -> None:
    made = fn(_softsign)
    assert made.source == "def _softsign(t):\n    return t / (1 + t.abs())\n_softsign"
    assert float(evaluate(made.source, {})(torch.tensor(1.0))) == 0.5
    # a builder's parameters are filled from the bindings of their names
    value = built(_scaled, weight=tensor(np.ones(2)), scale=3.0)
    assert value.source.endswith("\n_scaled(weight=weight, scale=scale)")
    assert evaluate(value.source, {"weight": 2.0, "scale": 3.0}) == 6.0
    with pytest.raises(DeclarationError, match=r"no binding for its parameters \['scale'\]"):
        built(_scaled, weight=1.0)


def test_lambdas_that_share_a_line_are_told_apart() -> None:
    square, cube = fn(lambda t: t**2), fn(lambda t: t**3)
    assert (square.source, cube.source) == ("lambda t: t ** 2", "lambda t: t ** 3")
    both = [fn(f).source for f in (lambda t: t + 1, lambda t: t - 1)]
    assert both == ["lambda t: t + 1", "lambda t: t - 1"]
    nested = rule(lambda: checked(OpRecorder(), lambda rec: not rec.backward_ops()))
    assert nested.source == "checked(OpRecorder(), lambda rec: not rec.backward_ops())"
    assert fn(lambda rec: not rec.backward_ops()).source == "lambda rec: not rec.backward_ops()"


def test_a_name_the_sandbox_would_not_have_is_refused_when_declaring() -> None:
    A = np.eye(2)
    with pytest.raises(DeclarationError, match=r"reads \['A'\], locals the probe runner does not"):
        fn(lambda t: A @ t)  # a local it closes over, not passed as a binding
    with pytest.raises(DeclarationError, match="uses 'NOTEBOOKS', which the probe runner"):
        fn(lambda t: t * len(NOTEBOOKS))  # a global of the probes file
    with pytest.raises(DeclarationError, match="uses 'OpRecorder'"):
        fn(lambda t: OpRecorder())  # a notebook's name is for rules
    with pytest.raises(DeclarationError, match="uses 'NOTEBOOKS', which the notebook"):
        rule(lambda: NOTEBOOKS)
    with pytest.raises(DeclarationError, match=r"may not take the probe runner's \['np'\]"):
        built(lambda: np.zeros(1), np=1)
    with pytest.raises(DeclarationError, match="expected a lambda or a def"):
        fn("lambda t: t")  # type: ignore[arg-type]
    with pytest.raises(DeclarationError, match="no source file"):
        fn(eval("lambda t: t"))  # noqa: S307 - code without a file to read it from
    with pytest.raises(DeclarationError, match="must be a literal"):
        rule(lambda names: coursekit.forbid_calls(names), names=object())


def test_a_rules_bindings_are_written_as_literals_in_a_fixed_order() -> None:
    assert literal(frozenset({"b", "a"})) == "frozenset({'a', 'b'})"
    assert literal(((1,), [2.5, None], {"k": True}, frozenset())) == (
        "((1,), [2.5, None], {'k': True}, frozenset())"
    )
    made = rule(lambda names: coursekit.forbid_calls(names, what="f"), names={"exp", "abs"})
    assert made.source == "names = {'abs', 'exp'}\ncoursekit.forbid_calls(names, what='f')"
    assert literal(set()) == "set()" and literal({2, 1}) == "{1, 2}"


NOTEBOOK = """
import coursekit
import torch

def apply(f, x):
    if isinstance(f, torch.Generator):
        return torch.rand(x.shape, generator=f, dtype=x.dtype) + x
    return f(x)
"""
BY_EXP = "\ndef apply(f, x):\n    return torch.log(torch.exp(f(x)))\n"

DECLARED = '''
import numpy as np
import torch
from torch import nn

import coursekit
from autograder.probes import ARGS, Rule, built, call, expr, fn, generator, probe, rule, tensor

X = np.arange(1.0, 4.0)
COUNTED = (
    "(lambda m: (m.register_buffer('calls', torch.zeros((), dtype=torch.float64)), m)[1])("
    "type('Counted', (nn.Module,), {'forward': lambda self, v: (self.calls.add_(1), v * scale)[1]"
    "})())"
)


def _counted(scale):
    """v * scale, as a module that counts its calls in a buffer."""

    class Counted(nn.Module):
        def forward(self, v):
            self.calls.add_(1)
            return v * scale

    counted = Counted()
    counted.register_buffer("calls", torch.zeros((), dtype=torch.float64))
    return counted


@probe("g", function="apply", second_device=False)
def as_text():
    w = X * 2
    yield call(expr("lambda t: (w * t).sum() + ARGS[1].sum()", w=tensor(w)), tensor(X))
    yield call(expr("torch.Generator().manual_seed(5)"), tensor(X))
    yield call(expr(COUNTED, scale=0.5), tensor(X))
    rule_text = "coursekit.forbid_calls(frozenset({'exp'}), what='apply')"
    yield call(expr("lambda t: t + 1"), tensor(X)).under_rule(Rule(rule_text))


@probe("g", function="apply", second_device=False)
def as_python():
    w = X * 2
    yield call(fn(lambda t: (w * t).sum() + ARGS[1].sum(), w=tensor(w)), tensor(X))
    yield call(generator(5), tensor(X))
    yield call(built(_counted, scale=0.5), tensor(X))
    no_exp = rule(lambda names: coursekit.forbid_calls(names, what="apply"), names={"exp"})
    yield call(fn(lambda t: t + 1), tensor(X)).under_rule(no_exp)
'''


def test_python_declarations_act_in_the_kernel_as_their_text_did(tmp_path: Path) -> None:
    """The probes written as Python record what the same probes written as text recorded, the
    rule included: kept by one answer, broken by another."""
    path = tmp_path / "toy.probes.py"
    path.write_text(DECLARED)
    probes = {p.name: p for p in load(path)}
    for answer, ruled in [(NOTEBOOK, False), (NOTEBOOK + BY_EXP, True)]:
        namespace: dict = {"__name__": "__main__"}
        exec(answer, namespace)  # noqa: S102 - test code
        found = try_in_namespace(namespace, list(probes.values()), tmp_path / str(ruled))
        assert verdict(probes["as_python"], found["as_python"], found["as_text"]) is None
        result = found["as_python"][-1]["result"]
        assert result == Raised("RuleBroken") if ruled else not isinstance(result, Raised)


NOISY = """
import sys, warnings

_quiet_apply = apply

def apply(f, x):
    print("apply starts")
    print("apply, on stderr", file=sys.stderr, flush=True)
    warnings.warn("apply warns")
    return _quiet_apply(f, x)
"""


def test_what_the_probed_calls_print_is_thrown_away(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """No one sees a probe's prints, so they are not sent: a kernel that sent them would wait
    for its I/O thread at every flush, longer on a busy machine. The calls record what quiet
    ones do."""
    path = tmp_path / "toy.probes.py"
    path.write_text(DECLARED)
    probes, found = load(path), []
    for answer in [NOTEBOOK, NOTEBOOK + NOISY]:
        namespace: dict = {"__name__": "__main__"}
        exec(answer, namespace)  # noqa: S102 - test code
        found.append(try_in_namespace(namespace, probes, tmp_path / str(len(found))))
    out, err = capfd.readouterr()
    assert "apply" not in out + err, (out, err)
    quiet, noisy = found
    assert all(verdict(p, noisy[p.name], quiet[p.name]) is None for p in probes)
    assert all(len(noisy[p.name]) == 4 for p in probes)
