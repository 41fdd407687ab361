"""The ledger: which submission was graded with what result, so a rerun grades only what is new.

One sqlite table, ``autograder_results``, in its own file beside nbgrader's gradebook. A row is
written, in its own transaction, only after the gradebook holds the same result, so a coordinator
killed at any moment leaves each submission either recorded in both or to be graded again; and
since a row is keyed by (student, assignment), grading again replaces it, never duplicates it.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from autograder.messages import TaskResult

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
    scores TEXT NOT NULL,             -- JSON: grade id -> [points earned, max points]
    seconds_executing REAL NOT NULL,
    seconds_total REAL NOT NULL,
    worker TEXT NOT NULL,
    graded_at TEXT NOT NULL,
    isolation TEXT NOT NULL DEFAULT '',  -- how its kernels were confined (sandbox.Sandbox.mode)
    PRIMARY KEY (student, assignment)
)
"""


@dataclass(frozen=True)
class Row:
    student: str
    assignment: str
    submission_sha256: str
    grading_sha256: str
    status: str
    reason: str
    score: float
    max_score: float
    scores: dict[str, tuple[float, float]]  # grade id -> (points earned, max points)
    seconds_executing: float
    seconds_total: float
    worker: str
    graded_at: str
    isolation: str = ""


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
        scores = {
            grade_id: [points or 0.0, max_points]
            for nb in result.notebooks
            for grade_id, (points, max_points) in nb.scores.items()
        }
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
                    json.dumps(scores),
                    result.seconds_executing,
                    result.seconds_total,
                    result.worker,
                    datetime.now(UTC).isoformat(timespec="seconds"),
                    result.isolation,
                ),
            )

    def rows(self, assignment: str) -> dict[str, Row]:
        """Student -> the recorded result of ``assignment``."""
        cursor = self.db.execute(
            "SELECT * FROM autograder_results WHERE assignment = ? ORDER BY student", (assignment,)
        )
        columns = [d[0] for d in cursor.description]
        found = {}
        for values in cursor.fetchall():
            data = dict(zip(columns, values, strict=True))
            data["scores"] = {
                g: (float(s), float(m)) for g, (s, m) in json.loads(data["scores"]).items()
            }
            found[data["student"]] = Row(**data)
        return found
