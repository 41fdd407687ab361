"""The ledger: which submission was graded with what result, so a rerun grades only what is new.

One sqlite table, ``autograder_results``, in its own file beside nbgrader's gradebook. A row is
written, in its own transaction, only after the gradebook holds the same result, so a coordinator
killed at any moment leaves each submission either recorded in both or to be graded again; and
since a row is keyed by (student, assignment), grading again replaces it, never duplicates it.
A row is a :class:`autograder.messages.TaskResult` without its executed notebooks.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from autograder.messages import NotebookResult, TaskResult

FILENAME = "autograder_results.db"

SCHEMA = """
CREATE TABLE IF NOT EXISTS autograder_results (
    student TEXT NOT NULL,
    assignment TEXT NOT NULL,
    submission_sha256 TEXT NOT NULL,  -- of the submitted files
    grading_sha256 TEXT NOT NULL,     -- of the trusted cells and limits they were graded with
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    score REAL NOT NULL,
    max_score REAL NOT NULL,
    scores TEXT NOT NULL,             -- JSON: the notebooks, see _notebooks_json
    seconds_executing REAL NOT NULL,
    seconds_total REAL NOT NULL,
    worker TEXT NOT NULL,
    graded_at TEXT NOT NULL,
    isolation TEXT NOT NULL DEFAULT '',  -- how its kernels were confined (sandbox.Sandbox.mode)
    PRIMARY KEY (student, assignment)
)
"""


#: The columns a row is read back from, in :class:`TaskResult`'s names (score and max_score
#: are stored too, for SQL readers, but follow from the notebooks' scores).
COLUMNS = (
    "student", "assignment", "submission_sha256", "grading_sha256", "status", "reason",
    "scores", "seconds_executing", "seconds_total", "worker", "graded_at", "isolation",
)  # fmt: skip


def _notebooks_json(result: TaskResult) -> str:
    """The notebooks as stored: a list of {name, status, reason, scores: grade id -> [points
    earned or null, max points], costs: phase -> CPU seconds}."""
    return json.dumps(
        [
            {
                "name": nb.name,
                "status": nb.status,
                "reason": nb.reason,
                "scores": nb.scores,
                "costs": nb.costs,
            }
            for nb in result.notebooks
        ]
    )


def _notebooks(text: str, status: str, reason: str) -> tuple[NotebookResult, ...]:
    """The stored notebooks, with their scores and no executed notebook."""
    data: Any = json.loads(text)
    if isinstance(data, dict):
        # NOTE: a ledger written before the notebooks were kept apart holds one flat mapping,
        # grade id -> [points, max points]: it is read back as one notebook without a name.
        data = [{"name": "", "status": status, "reason": reason, "scores": data}]
    return tuple(
        NotebookResult(
            name=nb["name"],
            status=nb["status"],
            reason=nb["reason"],
            executed=None,
            scores={
                g: (None if p is None else float(p), float(m)) for g, (p, m) in nb["scores"].items()
            },
            comments={},
            costs={str(k): float(v) for k, v in nb.get("costs", {}).items()},
        )
        for nb in data
    )


class Ledger:
    """The coordinator's record of results; safe to read from other processes while it writes."""

    def __init__(self, workspace: Path) -> None:
        self.path = workspace / FILENAME
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=60)
        self.db.execute("PRAGMA journal_mode=WAL")  # readers (a progress poller) never block it
        self.db.execute("PRAGMA synchronous=FULL")  # a committed row survives a power cut
        self.db.execute(SCHEMA)
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(autograder_results)")}
        if "isolation" not in columns:  # a ledger written before the sandbox existed
            self.db.execute(
                "ALTER TABLE autograder_results ADD COLUMN isolation TEXT NOT NULL DEFAULT ''"
            )

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def record(self, result: TaskResult) -> None:
        with self.db:  # commit
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute(
                "INSERT OR REPLACE INTO autograder_results VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    result.student,
                    result.assignment,
                    result.submission_sha256,
                    result.grading_sha256,
                    result.status,
                    result.reason,
                    result.score,
                    result.max_score,
                    _notebooks_json(result),
                    result.seconds_executing,
                    result.seconds_total,
                    result.worker,
                    datetime.now(UTC).isoformat(timespec="seconds"),
                    result.isolation,
                ),
            )

    def rows(self, assignment: str) -> dict[str, TaskResult]:
        """Student -> the recorded result of ``assignment`` (no executed notebooks)."""
        cursor = self.db.execute(
            f"SELECT {', '.join(COLUMNS)} FROM autograder_results WHERE assignment = ? "
            "ORDER BY student",
            (assignment,),
        )
        found = {}
        for values in cursor.fetchall():
            data = dict(zip(COLUMNS, values, strict=True))
            scores = data.pop("scores")
            notebooks = _notebooks(scores, data["status"], data["reason"])
            found[data["student"]] = TaskResult(**data, notebooks=notebooks)
        return found
