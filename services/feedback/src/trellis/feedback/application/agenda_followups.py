"""What happens to a schedule's agenda when something else happens: a check-in is held,
missed or cancelled, the schedule moves to a new manager, an action item's due date passes.

Each step runs in the transaction of its cause (completing the check-in, the
"checkin-missed" deadline, the org-change reaction, the agenda command), so the agenda
never disagrees with the check-ins and schedules it follows:

- **held** (``CheckInCommands.complete``): the points ticked are discussed, every other
  open point is carried over to the next 1:1;
- **missed** or **cancelled** (``CheckInDeadlines.missed``): every open point is carried
  over (a missed check-in completed late then records only what was discussed);
- **moved** (``reactions/schedules_follow_org.py``, after ``Schedules.reassign``): the
  agenda is handed over to the new pair;
- **overdue**: the deadline ``action-item-overdue:<action item id>`` (aggregate: the agenda)
  is armed at the end of an open item's due date in the schedule's time zone, moved when
  the due date changes, cancelled when the item is done or removed. When it fires, the
  agenda records ``ActionItemOverdue`` if the item is still open and still due that day:
  once per due date (the aggregate refuses twice).

Only a check-in of the agenda's current pair settles it: one held with a former manager
after the schedule moved leaves the agenda to the new pair.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from trellis.contracts.envelope import Metadata
from trellis.contracts.feedback import AgendaOutcome
from trellis.core.consuming import deadlines
from trellis.core.consuming.deadlines import Deadline
from trellis.core.consuming.deadlines import Handler as DeadlineHandler
from trellis.core.store.repository import Repository
from trellis.core.store.transaction import Transaction
from trellis.feedback.application.scheduling import SCHEDULER
from trellis.feedback.domain.agenda import Agenda, agenda_id_for
from trellis.feedback.domain.agenda_entries import UnknownTalkingPoints
from trellis.feedback.domain.checkin import CheckIn
from trellis.feedback.domain.checkin_schedule import CheckInSchedule
from trellis.feedback.domain.recurrence import zone

OVERDUE = "action-item-overdue"


def overdue_key(action_item_id: str) -> str:
    return f"{OVERDUE}:{action_item_id}"


class AgendaFollowUps:
    def __init__(self, agendas: Repository[Agenda]) -> None:
        self.agendas = agendas

    def handlers(self) -> dict[str, DeadlineHandler]:
        return {OVERDUE: self.overdue}

    async def after_checkin(
        self,
        session: Transaction,
        checkin: CheckIn,
        outcome: AgendaOutcome,
        metadata: Metadata,
        *,
        by: str | None = None,
        discussed: Iterable[str] | None = None,
    ) -> list[str]:
        """Settle the agenda after ``checkin``; the event types recorded."""
        ticked = list(discussed or [])
        agenda = await self.agendas.find(session, agenda_id_for(checkin.schedule_id), checkin.tenant_id)
        if agenda is None or agenda.pair != checkin.participants:
            if ticked:
                raise UnknownTalkingPoints(
                    "this pair's agenda has no such talking points", details={"point_ids": ticked}
                )
            return []
        agenda.settle(checkin_id=checkin.id, outcome=outcome, by=by, discussed=ticked)
        return await self.save(session, agenda, metadata)

    async def hand_over(self, session: Transaction, schedule: CheckInSchedule, metadata: Metadata) -> None:
        """The schedule pairs its report with a new manager: so does its agenda."""
        agenda = await self.agendas.find(session, agenda_id_for(schedule.id), schedule.tenant_id)
        if agenda is not None:
            agenda.hand_over(schedule.manager_id)
            await self.save(session, agenda, metadata)

    async def keep_due_date(
        self, session: Transaction, agenda: Agenda, action_item_id: str, timezone: str
    ) -> None:
        """Arm, move or cancel the item's overdue deadline, as its state now says."""
        item = agenda.action_items[action_item_id]
        key = overdue_key(action_item_id)
        if item.status != "open" or item.due_on is None or item.overdue:
            await deadlines.cancel(session, key)
            return
        end_of_day = dt.datetime.combine(
            item.due_on + dt.timedelta(days=1), dt.time(0), tzinfo=zone(timezone)
        )
        await deadlines.schedule(
            session,
            key=key,
            kind=OVERDUE,
            tenant_id=agenda.tenant_id,
            aggregate_id=agenda.id,
            due_at=end_of_day.astimezone(dt.UTC),
            data={"action_item_id": action_item_id, "due_on": item.due_on.isoformat()},
        )

    async def overdue(self, session: Transaction, deadline: Deadline, now: dt.datetime) -> None:
        agenda = await self.agendas.find(session, deadline.aggregate_id, deadline.tenant_id)
        if agenda is None:
            return
        agenda.mark_overdue(deadline.data["action_item_id"], dt.date.fromisoformat(deadline.data["due_on"]))
        await self.save(session, agenda, Metadata(tenant_id=deadline.tenant_id, actor_id=SCHEDULER))

    async def save(self, session: Transaction, agenda: Agenda, metadata: Metadata) -> list[str]:
        names = [type(e).event_type for e in agenda.pending]
        if agenda.pending:
            await self.agendas.save(session, agenda, metadata)
        return names
