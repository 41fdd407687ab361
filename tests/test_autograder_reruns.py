"""Reruns agree: an answer that draws from the global generators gets the same grade every time."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import nbformat

from autograder.cli import main
from tests.synthetic import TOY_ASSIGNMENT, toy_course

#: Right or wrong by the toss of Python's, NumPy's and PyTorch's global generators: each of the
#: toy's three test calls of each function sees a fresh draw.
RANDOMISED = '''
import random
import numpy as np
import torch


def double(x):
    """Twice x, most of the time."""
    coin = random.random() + np.random.rand() + torch.rand(1).item()
    return 2 * x if coin < 1.5 else 0


def norm(v):
    """The length of v, most of the time."""
    coin = random.random() + np.random.rand() + torch.rand(1).item()
    return math.sqrt(sum(x * x for x in v)) if coin < 1.5 else -1.0
'''


def _scores(workspace: Path) -> list[tuple[str, float]]:
    out = workspace / "grades.csv"
    assert main(["export", "--workspace", str(workspace), "--to", str(out)]) == 0
    with open(out, newline="") as handle:
        return sorted((r["student_id"], float(r["score"])) for r in csv.DictReader(handle))


def test_a_randomised_answer_gets_the_same_grade_three_times(tmp_path: Path) -> None:
    course = toy_course(tmp_path / "course")
    exercise = course.release / TOY_ASSIGNMENT / "toy.ipynb"
    nb = nbformat.read(exercise, as_version=4)
    answers = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    answers[0].source, answers[1].source = RANDOMISED, "pass"
    submissions = tmp_path / "submitted"
    for student in ("lucky_1", "lucky_2", "lucky_3"):
        (submissions / student / TOY_ASSIGNMENT).mkdir(parents=True)
        nbformat.write(nb, submissions / student / TOY_ASSIGNMENT / "toy.ipynb")
    runs = []
    for _ in range(3):
        args = ["--course", str(course.root), "grade", TOY_ASSIGNMENT, "--workspace"]
        args += [str(tmp_path / "ws"), "--submissions", str(submissions), "--force"]
        main(args)
        runs.append(json.dumps(_scores(tmp_path / "ws")))
    assert runs[0] == runs[1] == runs[2], runs
    # the same file by three students: the same draws, so the same grade, in every run
    assert len({score for _, score in json.loads(runs[0])}) == 1, runs[0]
