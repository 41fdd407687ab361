"""The hostile submissions: one small declarative entry each, one module per category.

Every attack is a submission of chapter 01 (``01_linear_algebra``, 15 points: matmul_broadcast 3,
broadcast_shape 3, affine_apply 2, compose_affine 3, bilinear_sample 4, in that order). A builder
makes the notebook (text, or raw bytes) from the released exercise with the reference answers in
it, then breaks what the attack needs: a WRONG function (plausible, but failing), hostile code at
the top of the first answer cell or inside a function, edited test cells, planted files.
``kit.py`` holds what the categories share.

The expected score and status(es) come from how the grader is meant to work (README.md in this
folder says why for each); ``test_adversarial.py`` grades them all in one run and checks them.
Regenerate README.md's table with ``python -m tests.adversarial.attacks``.
"""

from __future__ import annotations

import ast
from pathlib import Path

from nbformat import NotebookNode

from tests.adversarial.attacks import (
    fairness,
    integrity,
    network,
    resources,
    results_channel,
    secrets,
    tampering,
)
from tests.adversarial.attacks.kit import (
    ASSIGNMENT,
    FUNCTIONS,
    NOTEBOOK,
    TOTAL,
    Attack,
    Context,
    correct,
    is_test_of,
)

__all__ = [
    "ASSIGNMENT",
    "ATTACKS",
    "FUNCTIONS",
    "NOTEBOOK",
    "TOTAL",
    "Attack",
    "Context",
    "by_name",
    "hidden_line",
    "honest",
    "is_test_of",
    "probe_names",
    "probes_docstring",
    "readme_table",
    "write",
]

# NOTE: in the order of README.md's table, the order they were written in: the two secrets that go
# after the probes' inputs came after the resources.
read_secrets, *probe_input_secrets = secrets.ATTACKS
ATTACKS: list[Attack] = [
    *integrity.ATTACKS,
    *tampering.ATTACKS,
    read_secrets,
    *network.ATTACKS,
    *results_channel.ATTACKS,
    *resources.ATTACKS,
    *probe_input_secrets,
    *fairness.ATTACKS,
]


def honest(ctx: Context) -> str:
    """The honest student's notebook: the reference answers, and private notes."""
    return correct(ctx, f"# {ctx.honest_marker}\n")


def readme_table() -> str:
    """The Markdown table of every attack, as README.md holds it."""
    rows = [
        "| attack | category | what it does | visible tests it fools | expected score "
        "| expected status |",
        "|---|---|---|---|---|---|",
    ]
    for a in ATTACKS:
        status = " or ".join(f"`{s}`" for s in a.statuses)
        score = f"{a.score:g} / {TOTAL:g}"
        if a.bug:
            score += " (xfail: grader bug)"
        fools = ", ".join(FUNCTIONS[f][0] for f in a.fools) if a.fools else ""
        rows.append(
            f"| `{a.name}` | {a.category} | {a.description} | {fools} | {score} | {status} |"
        )
    return "\n".join(rows) + "\n"


def probes_docstring(path: Path) -> str:
    """The first line of a probes file's docstring."""
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    return doc.splitlines()[0]


def hidden_line(solution: NotebookNode, probes: Path) -> str:
    """A line only the hidden checks hold (the probes file, never released), long enough to be
    unmistakable: not a line the notebook also has."""
    visible = "\n".join(c.source for c in solution.cells)
    return next(
        line.strip()
        for line in probes.read_text().splitlines()
        if len(line.strip()) >= 24 and "yield call(" in line and line.strip() not in visible
    )


def probe_names(path: Path) -> tuple[str, ...]:
    from autograder.probes import load

    return tuple(p.name for p in load(path))


def write(ctx: Context, folder: Path, attacks: list[Attack]) -> None:
    """Write each attack as student ``attack.name`` under ``folder`` (nbgrader's layout)."""
    for a in attacks:
        target = folder / a.name / ASSIGNMENT
        target.mkdir(parents=True, exist_ok=True)
        data = a.build(ctx)
        (target / a.filename).write_bytes(data.encode() if isinstance(data, str) else data)
        for name, content in (a.files(ctx) if a.files else {}).items():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(content)


def by_name() -> dict[str, Attack]:
    found = {a.name: a for a in ATTACKS}
    assert len(found) == len(ATTACKS), "two attacks share a name"
    return found
