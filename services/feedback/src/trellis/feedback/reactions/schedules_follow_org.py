"""Check-in schedules follow the org: a reaction to the onboarding service's events.

- ``EmployeeManagerChanged``: the report's schedule moves to the new manager
  (``CheckInScheduleReassigned``; the next occurrences are held with them, and the pair's
  misses in a row start from zero) and its 1:1 agenda goes along (``AgendaHandedOver``: the
  open talking points and action items stay, the previous manager's private points are
  withdrawn); with no new manager, the schedule ends
  (``CheckInScheduleEnded``, reason "no manager"). A schedule the report already holds
  with that manager records nothing.
- ``EmployeeOffboarded``: every schedule involving them, as report or as manager, ends.
  (A manager's reports get new managers through their own ``EmployeeManagerChanged``;
  their new manager schedules check-ins anew.)

Check-ins already due when a schedule moves or ends are cancelled at the end of their
grace period (``CheckInCancelled``) rather than counted as missed, unless completed first.

Which schedules involve someone comes from ``schedule_index``, written in the same
transactions as the schedules' events, so this never depends on a read view's lag. It is
a reaction (it appends events), so it is never replayed.
"""

from __future__ import annotations

from trellis.contracts.envelope import EventEnvelope, Metadata
from trellis.contracts.onboarding import EmployeeManagerChanged, EmployeeOffboarded
from trellis.core.consuming.projection import Reaction, on
from trellis.core.store.repository import Repository
from trellis.core.store.transaction import Transaction
from trellis.feedback.application import schedule_index
from trellis.feedback.application.agenda_followups import AgendaFollowUps
from trellis.feedback.application.scheduling import Schedules
from trellis.feedback.domain.checkin_schedule import CheckInSchedule


class SchedulesFollowOrg(Reaction):
    name = "feedback-schedules-follow-org"
    source = "onboarding"

    def __init__(self, schedules: Repository[CheckInSchedule], agendas: AgendaFollowUps) -> None:
        self.schedules = schedules
        self.scheduling = Schedules(schedules)
        self.agendas = agendas

    @on(EmployeeManagerChanged)
    async def manager_changed(
        self, session: Transaction, ev: EmployeeManagerChanged, env: EventEnvelope
    ) -> None:
        for live in await schedule_index.involving(session, env.tenant_id, ev.employee_id):
            if live.report_id != ev.employee_id:
                continue  # they manage this one: their own manager changing changes nothing here
            schedule = await self.schedules.get(session, live.schedule_id, env.tenant_id)
            if ev.manager_id is None:
                await self.scheduling.end(session, schedule, "no manager", _metadata(env))
            else:
                await self.scheduling.reassign(session, schedule, ev.manager_id, _metadata(env))
                await self.agendas.hand_over(session, schedule, _metadata(env))

    @on(EmployeeOffboarded)
    async def offboarded(self, session: Transaction, ev: EmployeeOffboarded, env: EventEnvelope) -> None:
        for live in await schedule_index.involving(session, env.tenant_id, ev.employee_id):
            role = "report" if live.report_id == ev.employee_id else "manager"
            schedule = await self.schedules.get(session, live.schedule_id, env.tenant_id)
            await self.scheduling.end(session, schedule, f"{role} offboarded", _metadata(env))


def _metadata(env: EventEnvelope) -> Metadata:
    return Metadata(
        tenant_id=env.tenant_id,
        actor_id=env.actor_id,
        correlation_id=env.correlation_id,
        causation_id=str(env.event_id),
    )
