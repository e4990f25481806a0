"""The sink: a SQLite table of goals and key results, and the events already applied.

Each event is applied in one transaction with its id, so an event delivered twice (a
crash between the commit and the ack) changes nothing the second time: exactly once in
effect, across restarts.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trellis.contracts.envelope import EventEnvelope

SCHEMA = """
CREATE TABLE IF NOT EXISTS goals (
    goal_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, team_id TEXT, level TEXT NOT NULL,
    title TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'open'
);
CREATE TABLE IF NOT EXISTS key_results (
    key_result_id TEXT PRIMARY KEY, goal_id TEXT NOT NULL,
    start REAL NOT NULL, target REAL NOT NULL, current REAL NOT NULL, updates INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS applied_events (event_id TEXT PRIMARY KEY, stream_seq INTEGER);
"""


def progress(start: float, target: float, current: float) -> float:
    """A key result's progress, 0 to 1, on the linear scale from start to target."""
    if target == start:
        return 1.0 if current == target else 0.0
    return min(1.0, max(0.0, (current - start) / (target - start)))


class Store:
    def __init__(self, path: Path | str) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def applied(self, envelope: EventEnvelope) -> bool:
        found = self.db.execute("SELECT 1 FROM applied_events WHERE event_id = ?", (str(envelope.event_id),))
        return found.fetchone() is not None

    def apply(self, envelope: EventEnvelope, change: Callable[[sqlite3.Connection], Any]) -> None:
        """``change`` and the event's id in one transaction (or neither)."""
        with self.db:  # BEGIN ... COMMIT, ROLLBACK on an error
            self.db.execute("BEGIN IMMEDIATE")
            cursor = self.db.execute(
                "INSERT OR IGNORE INTO applied_events (event_id) VALUES (?)", (str(envelope.event_id),)
            )
            if cursor.rowcount:  # not applied before
                change(self.db)

    def team_progress(self, tenant_id: str) -> dict[str | None, float]:
        """Per team: the mean progress of its open goals (each the mean of its key results)."""
        rows = self.db.execute(
            """SELECT g.team_id, g.goal_id, kr.start, kr.target, kr.current
               FROM goals g LEFT JOIN key_results kr ON kr.goal_id = g.goal_id
               WHERE g.tenant_id = ? AND g.status != 'retired'""",
            (tenant_id,),
        ).fetchall()
        goals: dict[str, tuple[str | None, list[float]]] = {}
        for row in rows:
            team, krs = goals.setdefault(row["goal_id"], (row["team_id"], []))
            if row["start"] is not None:
                krs.append(progress(row["start"], row["target"], row["current"]))
        teams: dict[str | None, list[float]] = {}
        for team, krs in goals.values():
            teams.setdefault(team, []).append(sum(krs) / len(krs) if krs else 0.0)
        return {team: round(sum(values) / len(values), 4) for team, values in teams.items()}

    def updates(self, key_result_id: str) -> int:
        row = self.db.execute("SELECT updates FROM key_results WHERE key_result_id = ?", (key_result_id,))
        found = row.fetchone()
        return int(found["updates"]) if found else 0
