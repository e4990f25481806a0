"""A goal's status by pace, as last decided: an aggregate of its own beside the goal.

The pace watch (``reactions/pace_watch.py``) decides it when progress is recorded and when
time passes. It is kept apart from the ``Goal`` so that what the clock decides never moves
the goal's version: a client holding the goal at version N (``If-Match``) is not refused
because a day passed. Its id is derived from the goal's, so there is one per goal and
nothing to look up.
"""

from __future__ import annotations

import datetime as dt
import uuid

from trellis.contracts.envelope import DomainEvent
from trellis.contracts.goals import GoalDueSoon, GoalPaceChanged
from trellis.core.store.aggregate import Aggregate

_NAMESPACE = uuid.UUID("0b9f6b52-8a4e-4f0f-9c2e-6a7d1f3e5c21")


def goal_pace_id(goal_id: str) -> str:
    """The id of ``goal_id``'s pace: the same every time."""
    return str(uuid.uuid5(_NAMESPACE, goal_id))


class GoalPace(Aggregate):
    aggregate_type = "goal_pace"

    def __init__(self, aggregate_id: str, tenant_id: str) -> None:
        super().__init__(aggregate_id, tenant_id)
        self.status = "on_track"  # until something else is decided
        self.nudged_for: dt.date | None = None  # the due date a GoalDueSoon was recorded for

    def apply(self, event: DomainEvent) -> None:
        match event:
            case GoalPaceChanged():
                self.status = event.status
            case GoalDueSoon():
                self.nudged_for = event.due_date
            case _:
                raise TypeError(f"GoalPace cannot apply {type(event).__name__}")

    def assess(self, goal_id: str, status: str, progress: float, expected: float, as_of: dt.date) -> None:
        """Record the status by pace if it differs from the last one decided (once per change)."""
        if status == self.status:
            return
        self.record(
            GoalPaceChanged(
                goal_id=goal_id,
                status=status,
                previous_status=self.status,
                progress=progress,
                expected_progress=expected,
                as_of=as_of,
            )
        )

    def due_soon(
        self,
        *,
        goal_id: str,
        owner_id: str,
        due_date: dt.date,
        status: str,
        progress: float,
        expected: float,
        as_of: dt.date,
    ) -> None:
        """Record that the goal is due soon and behind: once per due date, never when on track."""
        if status == "on_track" or self.nudged_for == due_date:
            return
        self.record(
            GoalDueSoon(
                goal_id=goal_id,
                owner_id=owner_id,
                due_date=due_date,
                status=status,
                progress=progress,
                expected_progress=expected,
                as_of=as_of,
            )
        )
