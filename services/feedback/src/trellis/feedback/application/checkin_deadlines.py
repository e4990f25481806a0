"""What the clock decides about check-ins, through the core's deadlines (exactly once).

``checkin-due`` (armed for a schedule's next occurrence) creates that occurrence's
``CheckIn`` (deterministic id: the schedule id and the occurrence), arms its
``checkin-missed`` deadline at the end of the grace period, and arms the schedule's next
occurrence: all in the transaction that marks the deadline fired.

``checkin-missed`` records ``CheckInMissed`` if the check-in is still open, counting the
pair's misses in a row in ``schedule_index``; if meanwhile the schedule ended or moved to
another manager, the check-in is cancelled instead (nobody missed it). Either way the
pair's agenda is carried over whole to the next 1:1 (``agenda_followups.py``).

Why each decision happens once, with several replicas and across restarts: the deadline
row and the decision commit together; replicas claim rows with SKIP LOCKED; and the
aggregates refuse to decide twice (a check-in that exists is not scheduled again, one that
is no longer open is neither missed nor cancelled), with the expected version guarding
concurrent appends.
"""

from __future__ import annotations

import datetime as dt

import structlog

from trellis.contracts.envelope import Metadata
from trellis.contracts.feedback import AgendaOutcome
from trellis.core.consuming import deadlines
from trellis.core.consuming.deadlines import Deadline
from trellis.core.consuming.deadlines import Handler as DeadlineHandler
from trellis.core.store.repository import Repository
from trellis.core.store.transaction import Transaction
from trellis.feedback.application import schedule_index
from trellis.feedback.application.agenda_followups import AgendaFollowUps
from trellis.feedback.application.scheduling import DUE, MISSED, SCHEDULER, Schedules, missed_key
from trellis.feedback.domain.checkin import CheckIn, checkin_id_for
from trellis.feedback.domain.checkin_schedule import CheckInSchedule

log = structlog.get_logger("trellis.feedback.checkins")


class CheckInDeadlines:
    def __init__(
        self,
        schedules: Repository[CheckInSchedule],
        checkins: Repository[CheckIn],
        agendas: AgendaFollowUps,
    ) -> None:
        self.schedules = schedules
        self.checkins = checkins
        self.agendas = agendas
        self.scheduling = Schedules(schedules)

    def handlers(self) -> dict[str, DeadlineHandler]:
        return {DUE: self.due, MISSED: self.missed}

    async def due(self, session: Transaction, deadline: Deadline, now: dt.datetime) -> None:
        schedule = await self.schedules.find(session, deadline.aggregate_id, deadline.tenant_id)
        if schedule is None or schedule.ended or schedule.revision != deadline.data.get("revision"):
            return  # ended, or its rule changed since: the change armed the right occurrence
        occurrence = dt.datetime.fromisoformat(deadline.data["occurrence"])
        checkin = await self.checkins.find(
            session, checkin_id_for(schedule.id, occurrence), schedule.tenant_id
        )
        if checkin is not None:
            return  # created already, together with the next occurrence's deadline
        checkin = self.checkins.new(checkin_id_for(schedule.id, occurrence), schedule.tenant_id)
        grace_until = occurrence + schedule.grace
        checkin.schedule(
            schedule_id=schedule.id,
            manager_id=schedule.manager_id,
            report_id=schedule.report_id,
            due_at=occurrence,
            grace_until=grace_until,
        )
        await self.checkins.save(session, checkin, _metadata(deadline))
        await deadlines.schedule(
            session,
            key=missed_key(checkin.id),
            kind=MISSED,
            tenant_id=checkin.tenant_id,
            aggregate_id=checkin.id,
            due_at=grace_until,
        )
        await self.scheduling.arm_next(session, schedule, occurrence)
        log.info("checkin.due", checkin=checkin.id, schedule=schedule.id)

    async def missed(self, session: Transaction, deadline: Deadline, now: dt.datetime) -> None:
        checkin = await self.checkins.find(session, deadline.aggregate_id, deadline.tenant_id)
        if checkin is None or not checkin.is_open:
            return
        schedule = await self.schedules.find(session, checkin.schedule_id, checkin.tenant_id)
        if schedule is None or schedule.ended:
            checkin.cancel("the check-in schedule ended")
        elif schedule.manager_id != checkin.manager_id:
            checkin.cancel(f"{checkin.report_id} now reports to {schedule.manager_id}")
        else:
            checkin.miss(await schedule_index.count_miss(session, schedule.id))
        outcome: AgendaOutcome = "missed" if checkin.status == "missed" else "cancelled"
        await self.checkins.save(session, checkin, _metadata(deadline))
        await self.agendas.after_checkin(session, checkin, outcome, _metadata(deadline))
        log.info("checkin.grace_ended", checkin=checkin.id, status=checkin.status)


def _metadata(deadline: Deadline) -> Metadata:
    return Metadata(tenant_id=deadline.tenant_id, actor_id=SCHEDULER)
