"""`check` proves each assignment both ways, and catches a test that cannot fail."""

from pathlib import Path

from autograder.authoring.check import check
from autograder.cli import main
from autograder.config import CourseConfig
from tests.synthetic import write_source_notebook


def test_every_assignment_is_proven_both_ways(course: CourseConfig) -> None:
    results = check(course)
    assert results, "no notebooks were checked"
    for result in results:
        assert result.problems == [], "\n".join(result.problems)
        assert len(result.solution) == len(result.stub) >= 5
        assert all(v.points == v.max_points for v in result.solution)
        assert all(v.points == 0 and v.error for v in result.stub)


def _write_assignment(root: Path, test_source: str) -> CourseConfig:
    cells = [
        (
            "toy_double_solution",
            {"solution": True},
            "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
        ),
        ("toy_double_test", {"grade": True, "locked": True, "points": 1}, test_source),
    ]
    write_source_notebook(root / "solutions" / "00_toy" / "toy.ipynb", cells)
    return CourseConfig(root=root, cell_timeout=60)


def test_a_test_the_stub_passes_is_reported(tmp_path: Path) -> None:
    course = _write_assignment(tmp_path, '"""A check that cannot fail."""\nassert True')
    (result,) = check(course)
    assert result.problems == ["toy_double_test: the released stub earns 1, it must earn 0"]


def test_a_test_the_solution_fails_is_reported(tmp_path: Path, capsys) -> None:
    course = _write_assignment(tmp_path, "assert double(2) == 5, 'wrong expectation'")
    (result,) = check(course)
    assert len(result.problems) == 1
    assert "the solution earns 0/1 (AssertionError: wrong expectation)" in result.problems[0]
    assert main(["--course", str(tmp_path), "check"]) == 1
    assert "1 problem(s)" in capsys.readouterr().out


def test_a_good_toy_assignment_passes_the_cli(tmp_path: Path, capfd) -> None:
    """...and prints no warning: its kernels talk over IPC sockets, not TCP (whose every start
    ipykernel warns about), and the kernels' own stderr reaches the same file descriptor."""
    _write_assignment(tmp_path, "assert double(3) == 6")
    assert main(["--course", str(tmp_path), "check", "00_toy"]) == 0
    out, err = capfd.readouterr()
    assert "solution passes all, stub fails all: ok" in out
    # progress: what is being checked comes first, and each notebook ends with the time so far
    assert out.startswith("checking 1 assignment(s): 00_toy") and " s so far)" in out, out
    assert "[IPKernelApp] WARNING" not in out + err and "TCP" not in out + err, err
