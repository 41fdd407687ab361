"""A submission is plain files, or it is refused: no link is ever followed, no device read.

Each hostile submission below sits in the same class as an honest student, in one real grading
run. The hostile ones end as ``refused`` with a reason that names the entry; the honest one, and
the gradebook, are untouched; the secret files the links point at are never read.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nbformat
import pytest

from autograder.cli import main
from autograder.config import GradingConfig
from autograder.grading.grade import grade_run
from tests.synthetic import TOY_ASSIGNMENT, toy_course

NOTEBOOK = "toy.ipynb"


def _class(course, submissions: Path, secret: Path) -> dict[str, str]:
    """Write the class; return student -> the words the refusal reason must hold ("" = graded)."""
    source = nbformat.read(course.source / TOY_ASSIGNMENT / NOTEBOOK, as_version=4)
    expected = {}

    def folder(student: str) -> Path:
        path = submissions / student / TOY_ASSIGNMENT
        path.mkdir(parents=True)
        return path

    nbformat.write(source, folder("honest") / NOTEBOOK)
    expected["honest"] = ""
    os.symlink(course.source / TOY_ASSIGNMENT / NOTEBOOK, folder("link_as_notebook") / NOTEBOOK)
    expected["link_as_notebook"] = f"{NOTEBOOK} is a symbolic link"
    where = folder("innocent_names")
    nbformat.write(source, where / NOTEBOOK)
    os.symlink(secret, where / "data.csv")
    os.symlink(course.source, where / "helpers")
    expected["innocent_names"] = "symbolic link"
    where = folder("dangling")
    nbformat.write(source, where / NOTEBOOK)
    os.symlink("/nonexistent/file", where / "notes.txt")
    expected["dangling"] = "notes.txt is a symbolic link"
    where = folder("device_link")
    nbformat.write(source, where / NOTEBOOK)
    os.symlink("/dev/zero", where / "zeros.bin")
    expected["device_link"] = "zeros.bin is a symbolic link"
    where = folder("fifo")
    nbformat.write(source, where / NOTEBOOK)
    os.mkfifo(where / "pipe")
    expected["fifo"] = "pipe is a fifo"
    where = folder("huge_file")
    nbformat.write(source, where / NOTEBOOK)
    with open(where / "big.bin", "wb") as handle:  # sparse: no disk is used
        handle.truncate(65 * 2**20)
    expected["huge_file"] = "big.bin is a file of 65 MiB"
    (submissions / "linked_folder").mkdir()
    os.symlink(
        submissions / "honest" / TOY_ASSIGNMENT, submissions / "linked_folder" / TOY_ASSIGNMENT
    )
    expected["linked_folder"] = "a folder given as a symbolic link"
    return expected


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("plain")
    course = toy_course(root / "course")
    secret = root / "gradebook_secret.txt"
    secret.write_text("the answer key")
    expected = _class(course, root / "submitted", secret)
    run = grade_run(
        course, root / "ws", TOY_ASSIGNMENT, root / "submitted", GradingConfig(workers=2)
    )
    return root, course, expected, {r.student: r for r in run.results}


def test_every_hostile_submission_is_refused_and_says_why(graded) -> None:
    _, _, expected, results = graded
    assert set(results) == set(expected)
    for student, words in expected.items():
        result = results[student]
        if not words:
            assert (result.status, result.score) == ("graded", result.max_score), result
            continue
        assert result.status == "refused", result
        assert words in result.reason, result
        assert result.score == 0


def test_no_link_was_followed_into_the_workspace(graded) -> None:
    root, _, _, _ = graded
    copied = root / "ws" / "submitted"
    for path in copied.rglob("*"):
        if path.is_symlink():
            assert not path.exists() or os.readlink(path).startswith("<refused")
        elif path.is_file():
            assert "the answer key" not in path.read_text(errors="replace")
    assert not (copied / "innocent_names" / TOY_ASSIGNMENT / "helpers" / NOTEBOOK).is_file()


def test_a_regrade_of_the_class_agrees_and_the_refusals_are_recorded(graded) -> None:
    root, course, expected, results = graded
    args = ["--course", str(course.root), "--cell-timeout", str(course.cell_timeout), "grade"]
    args += [TOY_ASSIGNMENT, "--workspace", str(root / "ws")]
    assert main(args) == 1  # some submissions are not graded: exit code 1
    rerun = grade_run(course, root / "ws", TOY_ASSIGNMENT)
    again = {r.student: r for r in rerun.results}
    for student in expected:
        assert (again[student].status, again[student].score) == (
            results[student].status,
            results[student].score,
        )
        assert again[student].skipped, f"{student} was graded again, not read from the ledger"


def test_the_copy_never_reads_a_fifo(tmp_path: Path) -> None:
    """Copying a folder with a fifo would block forever if the fifo were opened."""
    from autograder.grading.workspace import copy_plain

    os.mkfifo(tmp_path / "pipe")
    copy_plain(str(tmp_path / "pipe"), str(tmp_path / "copy"))
    assert os.readlink(tmp_path / "copy") == "<refused: a fifo>"
    shutil.rmtree(tmp_path)
