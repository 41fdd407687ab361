"""Probes: every chapter's are complete and can fail, and their results are read as hostile."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from autograder.authoring.proofs import author_check
from autograder.probes import BadResults, Raised, agree, read_results
from tests.conftest import ROOT

NOTEBOOKS = sorted((ROOT / "solutions").glob("*/*.ipynb"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_every_grade_cell_is_guarded_and_every_probe_can_fail(
    notebook: Path, tmp_path: Path
) -> None:
    """No unguarded grade cell, no unknown grade id; the reference agrees with itself (plain
    data, deterministic), the released stub fails every probe, and every mutant is killed."""
    problems = author_check(notebook, tmp_path)
    assert problems == {
        "unguarded": [],
        "unknown": [],
        "solution": [],
        "stub": [],
        "survived": [],
        "unpatchable": [],
    }


def test_probes_are_never_released() -> None:
    assert not list((ROOT / "exercises").rglob("*.probes.py"))
    released = "\n".join(p.read_text() for p in (ROOT / "exercises").rglob("*.ipynb"))
    assert "autograder.probes" not in released


def _write(folder: Path, name: str, records: object) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(records))


def test_results_are_read_as_plain_data(tmp_path: Path) -> None:
    np.save(tmp_path / "p.0.npy", np.arange(3.0), allow_pickle=False)
    _write(tmp_path, "p", [{"result": {"tuple": [{"ndarray": 0}, 2]}}, {"raised": "ValueError"}])
    got = read_results(tmp_path, "p", 2)
    assert np.array_equal(got[0]["result"][0], np.arange(3.0)) and got[0]["result"][1] == 2
    assert got[1]["result"] == Raised("ValueError")


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
    np.save(tmp_path / "p.0.npy", np.array([marker], dtype=object), allow_pickle=True)
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
