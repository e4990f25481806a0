"""Command handlers and reads of 1:1 agendas: load the schedule and its agenda, check who
may, decide, append.

Who reaches a schedule's agenda:

- **its pair** (the schedule's manager and report, as it pairs them now): read it, each
  with their own private points and never the other's, and change it while the schedule
  is live (action items may still be completed, reopened, edited or removed after it ended);
- **admins**, to audit: read it, every private point with its text and links withheld
  (that it exists, its author and its state are shown); they change nothing (403);
- **the owner of an action item** who is no longer in the pair (a former manager): reads,
  completes, reopens, edits and removes that item, on its routes and on their own list;
- **anyone else** in the tenant (hr, the manager's managers, a former manager) and every
  other tenant: 404, as for a schedule that does not exist.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trellis.contracts.ids import uuid7
from trellis.core.errors import Forbidden, InvalidInput, NotFound, RuleViolation
from trellis.core.runtime.auth import Actor
from trellis.core.store.repository import Repository
from trellis.core.store.sessions import Sessions
from trellis.core.store.transaction import Transaction
from trellis.feedback.application.accepted import Accepted
from trellis.feedback.application.agenda_followups import AgendaFollowUps
from trellis.feedback.domain.agenda import Agenda, agenda_id_for
from trellis.feedback.domain.agenda_entries import ActionItem
from trellis.feedback.domain.checkin import CheckIn
from trellis.feedback.domain.checkin_schedule import CheckInSchedule
from trellis.feedback.views import action_item_queries

AUDITOR = "admin"


class UnknownCheckIn(InvalidInput):
    """An action item names a check-in that is not one of this pair's (or was cancelled)."""

    code = "unknown_checkin"


@dataclass(frozen=True)
class AgendaReading:
    """A schedule's agenda as one viewer may read it; ``viewer`` None: an admin's audit."""

    schedule: CheckInSchedule
    agenda: Agenda
    viewer: str | None


@dataclass(frozen=True)
class ListedActionItem:
    schedule_id: str
    item: ActionItem


class AgendaCommands:
    def __init__(
        self,
        *,
        sessions: Sessions,
        schedules: Repository[CheckInSchedule],
        checkins: Repository[CheckIn],
        agendas: Repository[Agenda],
        followups: AgendaFollowUps,
        wake_deadlines: Callable[[], None],
    ) -> None:
        self.sessions = sessions
        self.schedules = schedules
        self.checkins = checkins
        self.agendas = agendas
        self.followups = followups
        self.wake = wake_deadlines

    # ---- talking points ----------------------------------------------------------------

    async def add_point(
        self,
        actor: Actor,
        correlation_id: str,
        schedule_id: str,
        *,
        text: str,
        private: bool = False,
        goal_id: str | None = None,
        key_result_id: str | None = None,
    ) -> Accepted:
        point_id = str(uuid7())
        async with self.sessions.transaction() as session:
            _, agenda = await self._to_change(session, actor, schedule_id)
            agenda.add_point(
                point_id=point_id,
                author_id=actor.employee_id,
                text=text,
                private=private,
                goal_id=goal_id,
                key_result_id=key_result_id,
            )
            return await self._saved(session, agenda, actor, correlation_id, {"talking_point": point_id})

    async def edit_point(
        self, actor: Actor, correlation_id: str, schedule_id: str, point_id: str, changes: dict[str, Any]
    ) -> Accepted:
        async with self.sessions.transaction() as session:
            _, agenda = await self._to_change(session, actor, schedule_id)
            agenda.edit_point(point_id, actor.employee_id, changes)
            return await self._saved(session, agenda, actor, correlation_id, {"talking_point": point_id})

    async def remove_point(
        self, actor: Actor, correlation_id: str, schedule_id: str, point_id: str
    ) -> Accepted:
        async with self.sessions.transaction() as session:
            _, agenda = await self._to_change(session, actor, schedule_id)
            agenda.remove_point(point_id, actor.employee_id)
            return await self._saved(session, agenda, actor, correlation_id, {"talking_point": point_id})

    async def reorder(
        self, actor: Actor, correlation_id: str, schedule_id: str, point_ids: list[str]
    ) -> Accepted:
        async with self.sessions.transaction() as session:
            _, agenda = await self._to_change(session, actor, schedule_id)
            agenda.reorder(actor.employee_id, point_ids)
            return await self._saved(session, agenda, actor, correlation_id)

    # ---- action items ------------------------------------------------------------------

    async def add_action_item(
        self,
        actor: Actor,
        correlation_id: str,
        schedule_id: str,
        *,
        owner_id: str,
        text: str,
        due_on: dt.date | None = None,
        checkin_id: str | None = None,
    ) -> Accepted:
        item_id = str(uuid7())
        async with self.sessions.transaction() as session:
            schedule, agenda = await self._to_change(session, actor, schedule_id)
            if checkin_id is not None:
                await self._require_checkin_of(session, schedule, checkin_id)
            agenda.add_action_item(
                action_item_id=item_id,
                by=actor.employee_id,
                owner_id=owner_id,
                text=text,
                due_on=due_on,
                checkin_id=checkin_id,
            )
            await self.followups.keep_due_date(session, agenda, item_id, schedule.timezone)
            accepted = await self._saved(session, agenda, actor, correlation_id, {"action_item": item_id})
        self.wake()
        return accepted

    async def edit_action_item(
        self, actor: Actor, correlation_id: str, schedule_id: str, item_id: str, changes: dict[str, Any]
    ) -> Accepted:
        return await self._on_item(
            actor,
            correlation_id,
            schedule_id,
            item_id,
            lambda agenda: agenda.edit_action_item(item_id, actor.employee_id, changes),
        )

    async def complete_action_item(
        self, actor: Actor, correlation_id: str, schedule_id: str, item_id: str
    ) -> Accepted:
        return await self._on_item(
            actor,
            correlation_id,
            schedule_id,
            item_id,
            lambda agenda: agenda.complete_action_item(item_id, actor.employee_id),
        )

    async def reopen_action_item(
        self, actor: Actor, correlation_id: str, schedule_id: str, item_id: str
    ) -> Accepted:
        return await self._on_item(
            actor,
            correlation_id,
            schedule_id,
            item_id,
            lambda agenda: agenda.reopen_action_item(item_id, actor.employee_id),
        )

    async def remove_action_item(
        self, actor: Actor, correlation_id: str, schedule_id: str, item_id: str
    ) -> Accepted:
        return await self._on_item(
            actor,
            correlation_id,
            schedule_id,
            item_id,
            lambda agenda: agenda.remove_action_item(item_id, actor.employee_id),
        )

    async def _on_item(
        self,
        actor: Actor,
        correlation_id: str,
        schedule_id: str,
        item_id: str,
        decide: Callable[[Agenda], None],
    ) -> Accepted:
        async with self.sessions.transaction() as session:
            schedule, agenda = await self._reach_item(session, actor, schedule_id, item_id)
            decide(agenda)
            await self.followups.keep_due_date(session, agenda, item_id, schedule.timezone)
            accepted = await self._saved(session, agenda, actor, correlation_id, {"action_item": item_id})
        self.wake()
        return accepted

    # ---- reading -----------------------------------------------------------------------

    async def read(self, actor: Actor, schedule_id: str) -> AgendaReading:
        async with self.sessions() as session:
            schedule = await self._reach(session, actor, schedule_id)
            agenda = await self._agenda_of(session, schedule)
        viewer = actor.employee_id if schedule.involves(actor.employee_id) else None
        return AgendaReading(schedule, agenda, viewer)

    async def read_for_checkin(self, actor: Actor, checkin_id: str) -> tuple[CheckIn, AgendaReading]:
        """The agenda as a check-in left it: for that check-in's participants who still hold
        the schedule (and admins, to audit)."""
        async with self.sessions() as session:
            checkin = await self.checkins.find(session, checkin_id, actor.tenant_id)
            schedule = (
                await self.schedules.find(session, checkin.schedule_id, actor.tenant_id) if checkin else None
            )
            if checkin is None or schedule is None:
                raise NotFound(f"check-in {checkin_id} not found")
            held = actor.employee_id in checkin.participants and schedule.involves(actor.employee_id)
            if not (held or actor.has_role(AUDITOR)):
                raise NotFound(f"check-in {checkin_id} not found")
            agenda = await self._agenda_of(session, schedule)
        return checkin, AgendaReading(schedule, agenda, actor.employee_id if held else None)

    async def action_items_of(
        self, actor: Actor, *, status: str | None = None, owner_id: str | None = None, limit: int = 100
    ) -> list[ListedActionItem]:
        """The viewer's list: the items they own, and those of the 1:1s they hold now."""
        found: list[ListedActionItem] = []
        async with self.sessions() as session:
            rows = await action_item_queries.action_items_of(
                session, actor.tenant_id, actor.employee_id, status=status, owner_id=owner_id, limit=limit
            )
            agendas: dict[str, Agenda | None] = {}
            for row in rows:
                schedule_id = row["schedule_id"]
                if schedule_id not in agendas:
                    agendas[schedule_id] = await self.agendas.find(
                        session, agenda_id_for(schedule_id), actor.tenant_id
                    )
                agenda = agendas[schedule_id]
                item = agenda.action_items.get(row["action_item_id"]) if agenda else None
                if agenda is None or item is None or not agenda.may_act_on(item, actor.employee_id):
                    continue  # the board lags the agenda: the agenda decides
                if item.status == "removed" or (status and item.status != status):
                    continue
                if owner_id and item.owner_id != owner_id:
                    continue
                found.append(ListedActionItem(schedule_id, item))
        return found

    # ---- who reaches what --------------------------------------------------------------

    async def _reach(self, session: Transaction, actor: Actor, schedule_id: str) -> CheckInSchedule:
        """The schedule, for its pair and admins; anyone else learns nothing (404)."""
        schedule = await self.schedules.find(session, schedule_id, actor.tenant_id)
        if schedule is None or not (schedule.involves(actor.employee_id) or actor.has_role(AUDITOR)):
            raise NotFound(f"the agenda of check-in schedule {schedule_id} was not found")
        return schedule

    async def _to_change(
        self, session: Transaction, actor: Actor, schedule_id: str
    ) -> tuple[CheckInSchedule, Agenda]:
        schedule = await self._reach(session, actor, schedule_id)
        if not schedule.involves(actor.employee_id):
            raise Forbidden("admins read an agenda to audit it; only the pair changes it")
        if schedule.ended:
            raise RuleViolation("the check-in schedule has ended: its agenda takes no more points")
        agenda = await self._agenda_of(session, schedule)
        agenda.open(schedule_id=schedule.id, manager_id=schedule.manager_id, report_id=schedule.report_id)
        return schedule, agenda

    async def _reach_item(
        self, session: Transaction, actor: Actor, schedule_id: str, item_id: str
    ) -> tuple[CheckInSchedule, Agenda]:
        schedule = await self.schedules.find(session, schedule_id, actor.tenant_id)
        agenda = await self._agenda_of(session, schedule) if schedule else None
        if schedule is None or agenda is None:
            raise NotFound(f"the agenda of check-in schedule {schedule_id} was not found")
        item = agenda.action_items.get(item_id)
        owner = item is not None and item.status != "removed" and item.owner_id == actor.employee_id
        if not (schedule.involves(actor.employee_id) or owner):
            if actor.has_role(AUDITOR):
                raise Forbidden("admins read an agenda to audit it; only the pair changes it")
            raise NotFound(f"the agenda of check-in schedule {schedule_id} was not found")
        return schedule, agenda

    async def _agenda_of(self, session: Transaction, schedule: CheckInSchedule) -> Agenda:
        """The schedule's agenda (a new, empty one if it has none yet), with the pair the
        schedule has now."""
        agenda = await self.agendas.find(session, agenda_id_for(schedule.id), schedule.tenant_id)
        if agenda is None:
            return self.agendas.new(agenda_id_for(schedule.id), schedule.tenant_id)
        agenda.hand_over(schedule.manager_id)  # the move hands it over in its own commit: a no-op
        return agenda

    async def _require_checkin_of(
        self, session: Transaction, schedule: CheckInSchedule, checkin_id: str
    ) -> None:
        checkin = await self.checkins.find(session, checkin_id, schedule.tenant_id)
        if (
            checkin is None
            or checkin.schedule_id != schedule.id
            or checkin.participants != (schedule.manager_id, schedule.report_id)
            or checkin.status == "cancelled"
        ):
            raise UnknownCheckIn(
                f"{checkin_id} is not a check-in of this pair", details={"checkin_id": checkin_id}
            )

    async def _saved(
        self,
        session: Transaction,
        agenda: Agenda,
        actor: Actor,
        correlation_id: str,
        related: dict[str, str] | None = None,
    ) -> Accepted:
        names = await self.followups.save(session, agenda, actor.metadata(correlation_id))
        return Accepted(agenda.id, agenda.version, names, related=related or {})
