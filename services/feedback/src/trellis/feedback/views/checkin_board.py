"""``CheckInBoard``: schedules and check-ins with their status, for lists and KPIs."""

from __future__ import annotations

from sqlalchemy import insert, update

from trellis.contracts.envelope import EventEnvelope
from trellis.contracts.feedback import (
    CheckInCancelled,
    CheckInCompleted,
    CheckInMissed,
    CheckInScheduleChanged,
    CheckInScheduleCreated,
    CheckInScheduled,
    CheckInScheduleEnded,
    CheckInScheduleReassigned,
)
from trellis.core.consuming.projection import Projection, on
from trellis.core.store.transaction import Transaction
from trellis.feedback.views.tables import checkin_schedules, checkins


class CheckInBoard(Projection):
    name = "feedback-checkin-board"
    source = "feedback"
    tables = (checkin_schedules, checkins)

    @on(CheckInScheduleCreated)
    async def created(self, session: Transaction, ev: CheckInScheduleCreated, env: EventEnvelope) -> None:
        await session.execute(
            insert(checkin_schedules).values(
                schedule_id=ev.schedule_id,
                tenant_id=env.tenant_id,
                manager_id=ev.manager_id,
                report_id=ev.report_id,
                cadence=ev.cadence,
                weekday=ev.weekday,
                time_of_day=ev.time_of_day,
                timezone=ev.timezone,
                grace_hours=ev.grace_hours,
                starts_on=ev.starts_on,
                status="active",
                end_reason="",
            )
        )

    @on(CheckInScheduleChanged)
    async def changed(self, session: Transaction, ev: CheckInScheduleChanged, env: EventEnvelope) -> None:
        await self._schedule(
            session,
            ev.schedule_id,
            cadence=ev.cadence,
            weekday=ev.weekday,
            time_of_day=ev.time_of_day,
            timezone=ev.timezone,
            grace_hours=ev.grace_hours,
        )

    @on(CheckInScheduleReassigned)
    async def reassigned(
        self, session: Transaction, ev: CheckInScheduleReassigned, env: EventEnvelope
    ) -> None:
        await self._schedule(session, ev.schedule_id, manager_id=ev.manager_id)

    @on(CheckInScheduleEnded)
    async def ended(self, session: Transaction, ev: CheckInScheduleEnded, env: EventEnvelope) -> None:
        await self._schedule(session, ev.schedule_id, status="ended", end_reason=ev.reason[:500])

    @on(CheckInScheduled)
    async def scheduled(self, session: Transaction, ev: CheckInScheduled, env: EventEnvelope) -> None:
        await session.execute(
            insert(checkins).values(
                checkin_id=ev.checkin_id,
                tenant_id=env.tenant_id,
                schedule_id=ev.schedule_id,
                manager_id=ev.manager_id,
                report_id=ev.report_id,
                due_at=ev.due_at,
                grace_until=ev.grace_until,
                status="scheduled",
                was_missed=False,
                late=False,
                consecutive_misses=0,
            )
        )

    @on(CheckInCompleted)
    async def completed(self, session: Transaction, ev: CheckInCompleted, env: EventEnvelope) -> None:
        await self._checkin(
            session,
            ev.checkin_id,
            status="completed",
            late=ev.late,
            confidence=ev.confidence,
            completed_at=ev.completed_at,
        )

    @on(CheckInMissed)
    async def missed(self, session: Transaction, ev: CheckInMissed, env: EventEnvelope) -> None:
        await self._checkin(
            session, ev.checkin_id, status="missed", was_missed=True, consecutive_misses=ev.consecutive_misses
        )

    @on(CheckInCancelled)
    async def cancelled(self, session: Transaction, ev: CheckInCancelled, env: EventEnvelope) -> None:
        await self._checkin(session, ev.checkin_id, status="cancelled")

    async def _schedule(self, session: Transaction, schedule_id: str, **values: object) -> None:
        await session.execute(
            update(checkin_schedules).where(checkin_schedules.c.schedule_id == schedule_id).values(**values)
        )

    async def _checkin(self, session: Transaction, checkin_id: str, **values: object) -> None:
        await session.execute(update(checkins).where(checkins.c.checkin_id == checkin_id).values(**values))
