"""Command handlers for check-in schedules and check-ins: load, check who may, decide, append.

Who may do what:

- create a schedule: the report's direct manager (per the org chart replica), or hr/admin;
  a schedule always pairs a report with their current manager;
- change a schedule: its manager, or hr/admin; end it: either participant, or hr/admin;
- complete a check-in or add a private note: its two participants only. Completing it
  also records which talking points of the pair's agenda were discussed; the others carry
  over to the next 1:1 (``agenda_followups.py``), in the same transaction.

Someone who may not even see the thing gets 404; someone who sees it but may not act, 403.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from trellis.contracts.feedback import KeyResultUpdate
from trellis.contracts.ids import uuid7
from trellis.core.consuming import deadlines
from trellis.core.consuming.clock import Clock
from trellis.core.errors import Forbidden, NotFound, RuleViolation
from trellis.core.runtime.auth import Actor
from trellis.core.store.repository import Repository
from trellis.core.store.sessions import Sessions
from trellis.core.store.transaction import Transaction
from trellis.feedback.application import schedule_index
from trellis.feedback.application.accepted import Accepted
from trellis.feedback.application.agenda_followups import AgendaFollowUps
from trellis.feedback.application.oversight import Oversight
from trellis.feedback.application.scheduling import Schedules, missed_key
from trellis.feedback.domain.checkin import CheckIn
from trellis.feedback.domain.checkin_schedule import CheckInSchedule
from trellis.feedback.domain.recurrence import zone


class CheckInCommands:
    def __init__(
        self,
        *,
        sessions: Sessions,
        schedules: Repository[CheckInSchedule],
        checkins: Repository[CheckIn],
        agendas: AgendaFollowUps,
        oversight: Oversight,
        clock: Clock,
        wake_deadlines: Callable[[], None],
    ) -> None:
        self.sessions = sessions
        self.schedules = schedules
        self.checkins = checkins
        self.agendas = agendas
        self.oversight = oversight
        self.clock = clock
        self.wake = wake_deadlines
        self.scheduling = Schedules(schedules)

    async def create_schedule(
        self,
        actor: Actor,
        correlation_id: str,
        *,
        report_id: str,
        manager_id: str | None = None,
        cadence: str,
        weekday: int,
        time_of_day: str,
        timezone: str,
        grace_hours: int,
        starts_on: dt.date | None = None,
    ) -> Accepted:
        now = self.clock.now()
        schedule_id = str(uuid7())
        async with self.sessions.transaction() as session:
            report = await self.oversight.active_employee(session, actor.tenant_id, report_id)
            if not await self.oversight.oversees(session, actor, report_id):
                raise NotFound(f"employee {report_id} not found")
            if report.manager_id is None:
                raise RuleViolation(f"{report_id} has no manager in the org chart")
            manager = manager_id or report.manager_id
            if manager != report.manager_id:
                raise RuleViolation(
                    f"check-ins pair {report_id} with their manager, {report.manager_id}",
                    details={"manager_id": report.manager_id},
                )
            if not (actor.is_admin_or_hr or actor.employee_id == manager):
                raise Forbidden("only the report's manager (or hr) schedules their check-ins")
            schedule = self.schedules.new(schedule_id, actor.tenant_id)
            schedule.create(
                manager_id=manager,
                report_id=report_id,
                cadence=cadence,
                weekday=weekday,
                time_of_day=time_of_day,
                timezone=timezone,
                grace_hours=grace_hours,
                starts_on=starts_on or now.astimezone(zone(timezone)).date(),
            )
            names = _names(schedule)
            await self.schedules.save(session, schedule, actor.metadata(correlation_id))
            await schedule_index.claim(
                session,
                tenant_id=actor.tenant_id,
                schedule_id=schedule_id,
                manager_id=manager,
                report_id=report_id,
            )
            first = await self.scheduling.arm_next(session, schedule, now)
        self.wake()
        return Accepted(schedule_id, schedule.version, names, {"next_due_at": first.isoformat()})

    async def change_schedule(
        self, actor: Actor, correlation_id: str, schedule_id: str, changes: dict[str, Any]
    ) -> Accepted:
        now = self.clock.now()
        async with self.sessions.transaction() as session:
            schedule = await self._visible_schedule(session, actor, schedule_id)
            if not (actor.is_admin_or_hr or actor.employee_id == schedule.manager_id):
                raise Forbidden("only the schedule's manager (or hr) changes it")
            schedule.change(**changes)
            names = _names(schedule)
            details: dict[str, Any] = {}
            if schedule.pending:
                await self.schedules.save(session, schedule, actor.metadata(correlation_id))
                await self.scheduling.disarm(session, schedule.id)
                details["next_due_at"] = (await self.scheduling.arm_next(session, schedule, now)).isoformat()
        self.wake()
        return Accepted(schedule_id, schedule.version, names, details)

    async def end_schedule(
        self, actor: Actor, correlation_id: str, schedule_id: str, reason: str
    ) -> Accepted:
        async with self.sessions.transaction() as session:
            schedule = await self._visible_schedule(session, actor, schedule_id)
            if not (actor.is_admin_or_hr or schedule.involves(actor.employee_id)):
                raise Forbidden("only the pair (or hr) ends a check-in schedule")
            names = [] if schedule.ended else ["CheckInScheduleEnded"]
            await self.scheduling.end(
                session, schedule, reason or f"ended by {actor.employee_id}", actor.metadata(correlation_id)
            )
        return Accepted(schedule_id, schedule.version, names, {})

    async def complete(
        self,
        actor: Actor,
        correlation_id: str,
        checkin_id: str,
        *,
        confidence: int,
        key_result_updates: list[KeyResultUpdate],
        progress: str = "",
        blockers: str = "",
        shared_notes: str = "",
        goal_progress: dict[str, str] | None = None,
        private_note: str = "",
        discussed_point_ids: list[str] | None = None,
    ) -> Accepted:
        now = self.clock.now()
        async with self.sessions.transaction() as session:
            checkin = await self.visible_checkin(session, actor, checkin_id)
            checkin.complete(
                by=actor.employee_id,
                at=now,
                confidence=confidence,
                key_result_updates=key_result_updates,
                progress=progress,
                blockers=blockers,
                shared_notes=shared_notes,
                goal_progress=goal_progress,
                private_note=private_note,
            )
            names = _names(checkin)
            await self.checkins.save(session, checkin, actor.metadata(correlation_id))
            names += await self.agendas.after_checkin(
                session,
                checkin,
                "completed",
                actor.metadata(correlation_id),
                by=actor.employee_id,
                discussed=discussed_point_ids,
            )
            await deadlines.cancel(session, missed_key(checkin.id))
            live = await schedule_index.find(session, checkin.schedule_id)
            if live is not None and live.manager_id == checkin.manager_id:
                await schedule_index.reset_misses(session, checkin.schedule_id)
        return Accepted(checkin_id, checkin.version, names, {"late": checkin.late})

    async def add_private_note(
        self, actor: Actor, correlation_id: str, checkin_id: str, note: str
    ) -> Accepted:
        async with self.sessions.transaction() as session:
            checkin = await self.visible_checkin(session, actor, checkin_id)
            checkin.add_private_note(actor.employee_id, note)
            names = _names(checkin)
            await self.checkins.save(session, checkin, actor.metadata(correlation_id))
        return Accepted(checkin_id, checkin.version, names, {})

    # ---- reading (through the aggregates: they hold the private notes) -----------------

    async def visible_schedule(self, actor: Actor, schedule_id: str) -> CheckInSchedule:
        async with self.sessions() as session:
            return await self._visible_schedule(session, actor, schedule_id)

    async def read_checkin(self, actor: Actor, checkin_id: str) -> CheckIn:
        async with self.sessions() as session:
            return await self.visible_checkin(session, actor, checkin_id)

    async def _visible_schedule(
        self, session: Transaction, actor: Actor, schedule_id: str
    ) -> CheckInSchedule:
        schedule = await self.schedules.get(session, schedule_id, actor.tenant_id)
        if not (
            schedule.involves(actor.employee_id)
            or await self.oversight.oversees(session, actor, schedule.report_id)
        ):
            raise NotFound(f"check-in schedule {schedule_id} not found")
        return schedule

    async def visible_checkin(self, session: Transaction, actor: Actor, checkin_id: str) -> CheckIn:
        """The pair, whoever manages the report (any depth) and hr/admin see a check-in."""
        checkin = await self.checkins.get(session, checkin_id, actor.tenant_id)
        if actor.employee_id in checkin.participants:
            return checkin
        if await self.oversight.oversees(session, actor, checkin.report_id):
            return checkin
        raise NotFound(f"check-in {checkin_id} not found")


def _names(aggregate: Any) -> list[str]:
    return [type(e).event_type for e in aggregate.pending]
