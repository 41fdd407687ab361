"""`release` regenerates exercises/ deterministically, and exercises/ never drifts from it."""

import filecmp
from pathlib import Path

import nbformat

from autograder.authoring.release import release
from autograder.cli import main
from autograder.config import CourseConfig


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_exercises_equal_a_fresh_release(course: CourseConfig, tmp_path: Path) -> None:
    release(course, out_dir=tmp_path)
    fresh, committed = _tree(tmp_path), _tree(course.release)
    assert sorted(fresh) == sorted(committed), "exercises/ lists other files than a fresh release"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, (
        f"exercises/ drifted from solutions/: {stale}; run `python -m autograder release`"
    )


def test_release_twice_leaves_no_diff(course: CourseConfig, tmp_path: Path) -> None:
    assert main(["--course", str(course.root), "release", "--out", str(tmp_path / "a")]) == 0
    assert main(["--course", str(course.root), "release", "--out", str(tmp_path / "b")]) == 0
    comparison = filecmp.dircmp(tmp_path / "a", tmp_path / "b")
    assert not comparison.diff_files and not comparison.left_only and not comparison.right_only


def test_release_removes_stale_files(course: CourseConfig, tmp_path: Path) -> None:
    stale = tmp_path / "01_linear_algebra" / "old_notebook.ipynb"
    stale.parent.mkdir(parents=True)
    stale.write_text("{}")
    release(course, ["01_linear_algebra"], out_dir=tmp_path)
    assert not stale.exists()


def test_released_notebooks_hold_stubs_and_no_secrets(course: CourseConfig) -> None:
    for assignment in course.assignments():
        for source_path in course.notebooks(assignment):
            released = nbformat.read(course.release / assignment / source_path.name, as_version=4)
            text = "\n".join(cell.source for cell in released.cells)
            for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS"):
                assert marker not in text, f"{source_path.name}: {marker} reached students"
            solutions = [
                c for c in released.cells if c.metadata.get("nbgrader", {}).get("solution")
            ]
            assert solutions and all("raise NotImplementedError()" in c.source for c in solutions)
            assert all(not c.get("outputs") for c in released.cells if c.cell_type == "code")
