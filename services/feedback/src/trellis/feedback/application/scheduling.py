"""Keeping a schedule's deadlines and index in step with its events.

Used by the schedule commands, the due-check-in deadline and the org-change reaction, each
inside its own transaction: whatever changes a schedule changes its "checkin-due" deadline
and its row in ``schedule_index`` in the same commit.

Deadline keys (each fires at most once):

- ``checkin-due:<checkin id>``: the schedule's next occurrence; the check-in id is the
  schedule id and the occurrence, so it names one occurrence of one schedule;
- ``checkin-missed:<checkin id>``: the end of that check-in's grace period;
- ``checkin-coming-up:<checkin id>``: a day before the next occurrence, a nudge to both
  people (``checkin_reminders.py``), armed and disarmed with ``checkin-due``.
"""

from __future__ import annotations

import datetime as dt

from trellis.contracts.envelope import Metadata
from trellis.core.consuming import deadlines
from trellis.core.store.repository import Repository
from trellis.core.store.transaction import Transaction
from trellis.feedback.application import schedule_index
from trellis.feedback.domain.checkin import checkin_id_for
from trellis.feedback.domain.checkin_schedule import CheckInSchedule

DUE = "checkin-due"
MISSED = "checkin-missed"
COMING_UP = "checkin-coming-up"
REMIND_BEFORE = dt.timedelta(hours=24)
SCHEDULER = "scheduler"  # the actor of what the clock decides


def due_key(checkin_id: str) -> str:
    return f"{DUE}:{checkin_id}"


def missed_key(checkin_id: str) -> str:
    return f"{MISSED}:{checkin_id}"


def coming_up_key(due_key: str) -> str:
    """The nudge's key beside the due deadline's ``checkin-due:<checkin id>``."""
    return COMING_UP + due_key.removeprefix(DUE)


class Schedules:
    """Save a schedule's decisions together with their deadlines and index row."""

    def __init__(self, repository: Repository[CheckInSchedule]) -> None:
        self.repository = repository

    async def arm_next(
        self, session: Transaction, schedule: CheckInSchedule, after: dt.datetime
    ) -> dt.datetime:
        """Arm the "checkin-due" deadline of the first occurrence after ``after``."""
        occurrence = schedule.recurrence.next_after(after)
        key = due_key(checkin_id_for(schedule.id, occurrence))
        await deadlines.schedule(
            session,
            key=key,
            kind=DUE,
            tenant_id=schedule.tenant_id,
            aggregate_id=schedule.id,
            due_at=occurrence,
            # the rule's revision: a deadline armed under an older rule knows it is stale
            data={"occurrence": occurrence.isoformat(), "revision": schedule.revision},
        )
        await deadlines.schedule(
            session,
            key=coming_up_key(key),
            kind=COMING_UP,
            tenant_id=schedule.tenant_id,
            aggregate_id=schedule.id,
            due_at=occurrence - REMIND_BEFORE,
            data={"occurrence": occurrence.isoformat(), "revision": schedule.revision},
        )
        await schedule_index.set_next_due(session, schedule.id, key)
        return occurrence

    async def disarm(self, session: Transaction, schedule_id: str) -> None:
        live = await schedule_index.find(session, schedule_id)
        if live is not None and live.next_due_key:
            await deadlines.cancel(session, live.next_due_key)
            await deadlines.cancel(session, coming_up_key(live.next_due_key))
            await schedule_index.set_next_due(session, schedule_id, None)

    async def reassign(
        self, session: Transaction, schedule: CheckInSchedule, manager_id: str, metadata: Metadata
    ) -> None:
        schedule.reassign(manager_id)
        if schedule.pending:
            await self.repository.save(session, schedule, metadata)
            await schedule_index.reassign(session, schedule.id, manager_id)

    async def end(
        self, session: Transaction, schedule: CheckInSchedule, reason: str, metadata: Metadata
    ) -> None:
        """End it: no next occurrence. Check-ins already due are cancelled when their grace ends."""
        schedule.end(reason)
        if schedule.pending:
            await self.repository.save(session, schedule, metadata)
            await self.disarm(session, schedule.id)
            await schedule_index.release(session, schedule.id)
