"""``check``: prove every assignment both ways.

For each source notebook, (1) the reference solutions must earn every point of every test cell,
and (2) the same notebook with its solutions replaced by the released stubs must earn zero in
every test cell. A test that a stub passes could never fail a student, and a test the solution
fails would fail everyone: both are defects. The hidden checks (probes) and the mutants that
prove them are checked in this process, by :mod:`autograder.authoring.proofs`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from nbformat import NotebookNode

from autograder.authoring.execute import CellVerdict, execute, read, verdicts
from autograder.config import CourseConfig, nbgrader_config


@dataclass
class NotebookCheck:
    """The two runs of one notebook and what went wrong in them."""

    notebook: Path
    solution: list[CellVerdict] = field(default_factory=list)
    stub: list[CellVerdict] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        found = []
        if not self.solution:
            found.append(f"{self.notebook}: no autograded test cells")
        for v in self.solution:
            if v.points != v.max_points:
                found.append(
                    f"{v.grade_id}: the solution earns {v.points:g}/{v.max_points:g} ({v.error})"
                )
        for v in self.stub:
            if v.points != 0:
                found.append(f"{v.grade_id}: the released stub earns {v.points:g}, it must earn 0")
        return found


def stubbed(nb: NotebookNode, course: CourseConfig) -> NotebookNode:
    """``nb`` with every solution region replaced by the stub students get."""
    from nbgrader.preprocessors import ClearSolutions

    clear = ClearSolutions(config=nbgrader_config(course, course.root))
    result, _ = clear.preprocess(copy.deepcopy(nb), {})
    return result


def check_notebook(course: CourseConfig, path: Path) -> NotebookCheck:
    source = read(path)

    def run(nb: NotebookNode) -> list[CellVerdict]:
        executed = execute(
            nb, path.parent, timeout=course.cell_timeout, kernel_name=course.kernel_name
        )
        return verdicts(executed)

    return NotebookCheck(
        notebook=path, solution=run(copy.deepcopy(source)), stub=run(stubbed(source, course))
    )


def iter_check(
    course: CourseConfig, assignments: list[str] | None = None
) -> Iterator[NotebookCheck]:
    """Check every notebook of ``assignments`` (default: all of them), one at a time."""
    for assignment in assignments or course.assignments():
        for nb in course.notebooks(assignment):
            yield check_notebook(course, nb)


def check(course: CourseConfig, assignments: list[str] | None = None) -> list[NotebookCheck]:
    """Check every notebook of ``assignments`` (default: all of them)."""
    return list(iter_check(course, assignments))


def print_probe_check(notebook: Path) -> bool:
    """Print what is wrong with a notebook's probes and mutants; True when something is."""
    import tempfile

    from autograder.authoring.proofs import check_notebook_probes

    with tempfile.TemporaryDirectory(prefix="probes-check-") as tmp:
        found = check_notebook_probes(notebook, Path(tmp))
    bad = {kind: names for kind, names in found.problems.items() if names}
    if found.probes == 0:
        print(
            f"{notebook}: WARNING: no probes: its hidden checks would rest on the student's "
            "kernel, where tampering can fool them"
        )
        return False
    total = len(found.mutants)
    rate = f"{found.killed}/{total} killed ({100 * found.killed / total:.0f}%)" if total else "none"
    print(
        f"{notebook}: {found.probes} probes, every grade cell guarded, reference agrees, "
        f"stub fails all; mutants: {rate}"
        if not bad
        else f"{notebook}: probe problems; mutants: {rate}"
    )
    for kind, names in bad.items():
        for name in names:
            print(f"  - {kind}: {name}")
    if total == 0:
        print(f"  - no mutants ({notebook.stem}.mutants.py): nothing proves the probes catch a bug")
        return True
    return bool(bad)
