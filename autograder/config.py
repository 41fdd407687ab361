"""Configuration: one typed dataclass, and its translation into nbgrader's traitlets config."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from traitlets.config import Config


@dataclass(frozen=True)
class CourseConfig:
    """Where the course lives and how its notebooks run."""

    root: Path  # the course repository: solutions/ and exercises/ live here
    source_dir: str = "solutions"  # nbgrader's source directory: reference solutions and all tests
    release_dir: str = "exercises"  # nbgrader's release directory: the generated student notebooks
    cell_timeout: int = 300  # CPU seconds per student cell; nbgrader's 30 s kills training runs
    kernel_name: str = "python3"  # the Jupyter kernel every notebook is executed with

    @property
    def source(self) -> Path:
        return self.root / self.source_dir

    @property
    def release(self) -> Path:
        return self.root / self.release_dir

    def assignments(self) -> list[str]:
        """Assignment ids: the folders of the source directory that hold notebooks, sorted."""
        if not self.source.is_dir():
            raise FileNotFoundError(f"no source directory at {self.source}")
        return sorted(
            d.name for d in self.source.iterdir() if d.is_dir() and any(d.glob("*.ipynb"))
        )

    def notebooks(self, assignment: str) -> list[Path]:
        """The source notebooks of one assignment, sorted."""
        folder = self.source / assignment
        found = sorted(folder.glob("*.ipynb"))
        if not found:
            raise FileNotFoundError(f"assignment {assignment!r} has no notebooks in {folder}")
        return found


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class GradingConfig:
    """How ``grade`` runs: where the workers are, how long a notebook may take, what to redo."""

    workers: int = field(default_factory=available_cores)  # local processes; 1 grades in-process
    scheduler: str | None = None  # tcp://HOST:PORT of a Dask scheduler: grade on its cluster
    dask_local: int = 0  # > 0: start a loopback Dask LocalCluster with this many workers
    notebook_timeout: int = 1800  # CPU seconds for a notebook's student cells and probes
    force: bool = False  # regrade even what the ledger holds as graded with the same files
    # grade only these students, each regraded even when the ledger holds it (--student)
    students: tuple[str, ...] = ()
    # "auto": the best sandbox the machine has (warning loudly when it is not bubblewrap);
    # "bwrap": bubblewrap or refuse to grade (--require-sandbox); "limits": only what a machine
    # without bubblewrap gets; "none": no sandbox (to measure what it costs)
    isolation: str = "auto"

    def __post_init__(self) -> None:
        if self.workers < 1 or self.dask_local < 0 or self.notebook_timeout < 1:
            raise ValueError("--workers and --notebook-timeout must be >= 1, --dask-local >= 0")
        if self.isolation not in ("auto", "bwrap", "limits", "none"):
            raise ValueError(f"isolation: auto, bwrap, limits or none, not {self.isolation!r}")
        if self.scheduler and self.dask_local:
            raise ValueError("give either --scheduler or --dask-local, not both")


def find_course_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: the working directory) with _toc.yml."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").is_file() and (folder / "solutions").is_dir():
            return folder
    raise FileNotFoundError(f"no course (a folder with _toc.yml and solutions/) at or above {here}")


class CourseError(RuntimeError):
    """A failure the instructor can act on (a missing sandbox, a reference solution that fails its
    probes, nbgrader's own error): the command line prints its message and exits with 2."""


#: Never released nor copied for grading: nbgrader's default list, then the hidden checks
#: (probes, autograder/probes.py) and the plausible bugs that prove them (autograder/mutants.py).
IGNORE = (".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.probes.py", "*.mutants.py")
#: An nbgrader hidden-test region, and what the feedback shows in its place.
HIDDEN_REGION = re.compile(
    r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*\n?", re.M | re.S
)
REDACTED = "# (hidden tests: not shown)\n"
#: A released stub is exactly this (nbgrader's ClearSolutions takes one per language).
CODE_STUB = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}


def nbgrader_config(
    course: CourseConfig, root: Path, *, source: Path | None = None, feedback: bool = False
) -> Config:
    """nbgrader settings for a course directory at ``root``: the one source of every setting.

    ``source`` overrides the source directory (absolute), so a release can read the course's
    ``solutions/`` while writing elsewhere. ``feedback`` adds what a grading workspace needs to
    write feedback: the preprocessors, by name, as ``nbgrader_config.py`` names them (nbconvert
    imports them only when feedback is written).
    """
    c = Config()
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.source_directory = str(source) if source else "source"
    c.CourseDirectory.release_directory = "release"
    c.CourseDirectory.course_id = "deep-learning-derived"
    c.Execute.timeout = course.cell_timeout
    c.Execute.kernel_name = course.kernel_name
    c.ExecutePreprocessor.timeout = course.cell_timeout
    c.CourseDirectory.ignore = list(IGNORE)
    c.ClearSolutions.code_stub = dict(CODE_STUB)
    c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
    if feedback:
        c.GenerateFeedback.preprocessors = [
            "nbgrader.preprocessors.GetGrades",
            "autograder.grading.feedback.RedactHiddenTests",
            "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
        ]
    return c


def config_file_text(config: Config) -> str:
    """``config`` as the text of an ``nbgrader_config.py`` (what formgrader and the nbgrader
    command line read in a workspace): the same settings, rendered, never written twice."""
    lines = [
        "# Written by `python -m autograder grade` from autograder.config.nbgrader_config.",
        "c = get_config()  # noqa: F821",
    ]
    for section in sorted(config):
        for key, value in sorted(config[section].items()):
            lines.append(f"c.{section}.{key} = {value!r}")
    return "\n".join(lines) + "\n"
