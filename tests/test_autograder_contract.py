"""The probe framework's default rules, and mutants: each rule catches the bug it is for.

Each case runs a reference and a buggy answer through the real probe runner in this process (as
``check`` does) and compares them as the grader does, so the bug classes an outside review found
escaping (inputs changed in place, autograd flags switched on, constants made on the CPU, a
callable that reads the caller's tensor, dtypes lost, graphs cut) are each caught by default.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from autograder.authoring.proofs import check_notebook_probes, try_in_namespace
from autograder.mutants import PatchError, apply, mutant
from autograder.probes import load, verdict
from tests.conftest import ROOT

PROBES = """
import numpy as np
from autograder.probes import call, expr, probe, tensor

X = np.arange(6.0).reshape(2, 3)

@probe("g", function="f")
def plain():
    yield call(tensor(X))
    yield call(tensor(X.T))

@probe("g", function="f")
def with_grad():
    yield call(tensor(X, requires_grad=True))

@probe("g", function="derivative")
def reads_caller():
    # f reads the very tensor passed as x: perturbing x in place changes f itself
    yield call(expr("lambda t: (t * ARGS[1]).sum()"), tensor(np.array([1.0, 2.0, 3.0])))
"""

REFERENCE = """
import torch

def f(x):
    return x * 2 + torch.ones(x.shape[-1], dtype=x.dtype, device=x.device)

def derivative(fn, x, eps=1e-6):
    out = torch.zeros_like(x)
    for i in range(x.numel()):
        step = torch.zeros_like(x)
        step[i] = eps
        out[i] = (fn(x + step) - fn(x - step)) / (2 * eps)
    return out
"""


def _verdicts(tmp_path: Path, answer: str) -> dict[str, str | None]:
    path = tmp_path / "toy.probes.py"
    path.write_text(PROBES)
    probes = load(path)

    def namespace(source: str) -> dict:
        ns: dict = {"__name__": "__main__"}
        exec(source, ns)  # noqa: S102 - test code
        return ns

    want = try_in_namespace(namespace(REFERENCE), probes, tmp_path / "want")
    got = try_in_namespace(namespace(REFERENCE + answer), probes, tmp_path / "got")
    return {p.name: verdict(p, got[p.name], want[p.name]) for p in probes}


def test_the_reference_agrees_with_itself(tmp_path: Path) -> None:
    assert set(_verdicts(tmp_path, "").values()) == {None}


@pytest.mark.parametrize(
    ("bug", "probe", "reason"),
    [
        ("def f(x):\n    x.mul_(2)\n    return x + 1\n", "plain", "arguments after the call"),
        (
            "def f(x):\n    x.requires_grad_(True)\n    return x.detach() * 2 + 1\n",
            "plain",
            "arguments after the call",
        ),
        (
            "def f(x):\n    return x * 2 + torch.ones(x.shape[-1], dtype=x.dtype)\n",
            "plain",
            "second device",
        ),
        (
            "def f(x):\n    return (x * 2 + 1).float()\n",
            "plain",
            "where torch.float64 was expected",
        ),
        ("def f(x):\n    return (x * 2 + 1).detach()\n", "with_grad", "graph is cut"),
        (
            "def derivative(fn, x, eps=1e-6):\n"
            "    out = torch.zeros_like(x)\n"
            "    for i in range(x.numel()):\n"
            "        x[i] += eps; up = fn(x); x[i] -= 2 * eps; down = fn(x); x[i] += eps\n"
            "        out[i] = (up - down) / (2 * eps)\n"
            "    return out\n",
            "reads_caller",
            "disagrees",
        ),
    ],
    ids=["in_place", "requires_grad_on", "cpu_constant", "dtype_lost", "graph_cut", "perturbs_x"],
)
def test_each_escape_class_is_caught_by_default(
    tmp_path: Path, bug: str, probe: str, reason: str
) -> None:
    found = _verdicts(tmp_path, "\n" + bug)
    assert found[probe] is not None and reason in found[probe], found


def test_reading_values_is_not_held_against_an_answer_on_meta(tmp_path: Path) -> None:
    """An answer that reads a value (``.item()``) cannot run on meta tensors: that is no bug."""
    found = _verdicts(
        tmp_path,
        "\ndef f(x):\n    scale = 2.0 if x.abs().max().item() >= 0 else 0.0\n"
        "    return x * scale + torch.ones(x.shape[-1], dtype=x.dtype, device=x.device)\n",
    )
    assert found["plain"] is None and found["with_grad"] is None, found


def test_tensor_flags_survive_the_trip_to_the_coordinator() -> None:
    """Results are pickled from a worker to the coordinator: the flags must come along."""
    import pickle

    import numpy as np

    from autograder.probes import TensorValue

    sent = TensorValue.of(np.arange(3.0), ["torch.float64", "cpu", True, False])
    received = pickle.loads(pickle.dumps(sent))  # noqa: S301 - our own bytes
    assert isinstance(received, TensorValue)
    assert received.flags_ == ("torch.float64", "cpu", True, False)


def test_a_patch_must_apply_exactly_once() -> None:
    cells = ["import torch", "def g(x):\n    y = x + 1\n    return y + 1\n"]
    ok = mutant("m", function="g", patch=[("y = x + 1", "y = x - 1")], why="Wrong sign.")
    assert apply(cells, ok)[1].startswith("def g(x):\n    y = x - 1")
    twice = mutant("t", function="g", patch=[("+ 1", "+ 2")], why="Twice.")
    with pytest.raises(PatchError, match="2 times"):
        apply(cells, twice)
    elsewhere = mutant("e", function="h", patch=[("y", "z")], why="No such function.")
    with pytest.raises(PatchError, match="defines h"):
        apply(cells, elsewhere)
    with pytest.raises(ValueError, match="misconception"):
        mutant("w", function="g", patch=[("y", "z")], why=" ")


def test_check_reports_killed_surviving_and_unpatchable_mutants(tmp_path: Path) -> None:
    """Chapter 01 as committed, with three mutants: one the probes kill, one they cannot (it
    changes nothing a caller sees), one whose patch no longer applies."""
    source = ROOT / "solutions" / "01_linear_algebra"
    shutil.copy(source / "linear_algebra.ipynb", tmp_path)
    shutil.copy(source / "linear_algebra.probes.py", tmp_path)
    (tmp_path / "linear_algebra.mutants.py").write_text(
        "from autograder.mutants import mutant\n"
        "mutant('eye_on_cpu', function='compose_affine', patch=[(\n"
        "    'torch.eye(3, dtype=matrices[0].dtype, device=matrices[0].device)',\n"
        "    'torch.eye(3, dtype=matrices[0].dtype)')], why='The identity is made on the CPU.')\n"
        "mutant('renamed', function='compose_affine',\n"
        "    patch=[('needs at least', 'wants at least')],\n"
        "    why='Equivalent: only the error message changes.')\n"
        "mutant('stale', function='compose_affine', patch=[('no such line', 'x')], why='Stale.')\n"
    )
    found = check_notebook_probes(tmp_path / "linear_algebra.ipynb", tmp_path / "work")
    assert found.mutants["eye_on_cpu"] is not None
    assert found.killed == 1
    assert [s.split(" ")[0] for s in found.problems["survived"]] == ["renamed"]
    assert "stale" in found.problems["unpatchable"][0]


def test_mutants_are_never_released() -> None:
    assert not list((ROOT / "exercises").rglob("*.mutants.py"))
    tracked = subprocess.run(
        ["git", "ls-files", "book", "exercises"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    assert "mutants" not in tracked


def test_mutants_are_named_by_their_results_and_a_broken_reference_names_none(
    tmp_path: Path,
) -> None:
    """The results of a mutant, as a submission's, are recognized as that mutant's alone; a
    reference whose cells cannot run here, or a cell that breaks on the way back, names none
    and raises nothing (naming a misconception never stops grading)."""
    from autograder.mutants import recognized
    from autograder.sandboxed import Mutants

    path = tmp_path / "toy.probes.py"
    path.write_text(PROBES)
    probes = [p for p in load(path) if p.function == "f"]
    sources = ["import torch", REFERENCE.split("def derivative")[0]]
    declared = [
        mutant("plus", function="f", patch=[("x * 2 +", "x * 2 -")], why="Minus, not plus."),
        mutant("thrice", function="f", patch=[("x * 2", "x * 3")], why="Three, not two."),
    ]
    runner = Mutants(sources, probes, declared)
    mutated = runner.results("f")
    for m in declared:
        got = mutated[m.name]
        assert isinstance(got, dict)
        assert recognized("f", probes, got, mutated, declared) == [m]
    reference = try_in_namespace({"__name__": "__main__"} | _run(sources), probes, tmp_path / "r")
    assert recognized("f", probes, reference, mutated, declared) == []
    broken = Mutants(["raise RuntimeError('no data')", *sources[1:]], probes, declared)
    assert set(broken.results("f").values()) == {"the reference's cells raise RuntimeError"}


def _run(sources: list[str]) -> dict:
    namespace: dict = {}
    for source in sources:
        exec(source, namespace)  # noqa: S102 - test code
    return namespace
