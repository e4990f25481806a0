"""A check-in's reminder: the nudge a day before it, an aggregate of its own.

Recorded by the clock (``application/checkin_reminders.py``), so it is kept apart from the
schedule: a reminder never races a manager's change of the schedule, nor the agenda. Its
id is the check-in's with a suffix, so there is one per check-in and nothing to look up.
"""

from __future__ import annotations

import datetime as dt

from trellis.contracts.envelope import DomainEvent
from trellis.contracts.feedback import CheckInComingUp
from trellis.core.store.aggregate import Aggregate


def reminder_id(checkin_id: str) -> str:
    return f"{checkin_id}-reminder"


class CheckInReminder(Aggregate):
    aggregate_type = "checkin_reminder"

    def apply(self, event: DomainEvent) -> None:
        match event:
            case CheckInComingUp():
                pass  # recorded: its existence is the state
            case _:
                raise TypeError(f"CheckInReminder cannot apply {type(event).__name__}")

    def remind(
        self,
        *,
        schedule_id: str,
        checkin_id: str,
        manager_id: str,
        report_id: str,
        due_at: dt.datetime,
        timezone: str,
    ) -> None:
        """Record that the check-in is coming up: once."""
        if self.exists:
            return
        self.record(
            CheckInComingUp(
                schedule_id=schedule_id,
                checkin_id=checkin_id,
                manager_id=manager_id,
                report_id=report_id,
                due_at=due_at,
                timezone=timezone,
            )
        )
