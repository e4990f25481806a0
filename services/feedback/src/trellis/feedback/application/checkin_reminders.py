"""The nudge before a check-in: ``checkin-coming-up``, a day before each occurrence.

Armed with the occurrence's ``checkin-due`` deadline and disarmed with it (``scheduling.py``),
so a schedule that ends or changes its rule takes its nudge along. When it fires, the
check-in's reminder (an aggregate of its own: the clock never races the schedule's
commands) records ``CheckInComingUp`` with the pair as it is then (a reassigned schedule
nudges the new manager), unless the schedule ended, its rule changed since (the change
armed the right occurrence's nudge) or the occurrence is already due. Once per check-in:
the deadline fires once, in the transaction that records the event, and a reminder
that exists records nothing more.
"""

from __future__ import annotations

import datetime as dt

from trellis.contracts.envelope import Metadata
from trellis.core.consuming.deadlines import Deadline
from trellis.core.consuming.deadlines import Handler as DeadlineHandler
from trellis.core.store.repository import Repository
from trellis.core.store.transaction import Transaction
from trellis.feedback.application.scheduling import COMING_UP, SCHEDULER
from trellis.feedback.domain.checkin import checkin_id_for
from trellis.feedback.domain.checkin_reminder import CheckInReminder, reminder_id
from trellis.feedback.domain.checkin_schedule import CheckInSchedule


class CheckInReminders:
    def __init__(
        self, schedules: Repository[CheckInSchedule], reminders: Repository[CheckInReminder]
    ) -> None:
        self.schedules = schedules
        self.reminders = reminders

    def handlers(self) -> dict[str, DeadlineHandler]:
        return {COMING_UP: self.coming_up}

    async def coming_up(self, session: Transaction, deadline: Deadline, now: dt.datetime) -> None:
        schedule = await self.schedules.find(session, deadline.aggregate_id, deadline.tenant_id)
        if schedule is None or schedule.ended or schedule.revision != deadline.data.get("revision"):
            return
        occurrence = dt.datetime.fromisoformat(deadline.data["occurrence"])
        if now >= occurrence:
            return  # due already (the service was down for a day): nothing to prepare for
        checkin_id = checkin_id_for(schedule.id, occurrence)
        reminder = await self.reminders.find(session, reminder_id(checkin_id), schedule.tenant_id)
        reminder = reminder or self.reminders.new(reminder_id(checkin_id), schedule.tenant_id)
        reminder.remind(
            schedule_id=schedule.id,
            checkin_id=checkin_id,
            manager_id=schedule.manager_id,
            report_id=schedule.report_id,
            due_at=occurrence,
            timezone=schedule.timezone,
        )
        if reminder.pending:
            await self.reminders.save(
                session, reminder, Metadata(tenant_id=schedule.tenant_id, actor_id=SCHEDULER)
            )
