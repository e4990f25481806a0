"""Commands on enrolments: enrol someone in a training, complete it with evidence, withdraw.

Each runs in one transaction with what must change with it: the person's live-enrolment
slot (``live_enrolments``), the due-soon deadline (``trainings_due``) and, when the
enrolment stands for a milestone of the person's onboarding plan, that milestone.

Who may: the person, anyone above them in the reporting line (walked through the Employee
aggregates, so never a lagging view), admin and hr. An enrolment someone may not read does
not exist for them (404), whatever they ask of it.

An onboarding plan whose milestones name trainings enrols the new hire in the same
transaction that starts the plan (``plan_enrolments``, then ``open_planned``): each such
enrolment's id is derived from the plan and the training, its target date is the
milestone's due date, and a training the new hire is enrolled in already is linked, not
enrolled twice.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from trellis.contracts.envelope import Metadata
from trellis.contracts.onboarding import MilestoneTemplate
from trellis.core.consuming.clock import Clock
from trellis.core.errors import NotFound
from trellis.core.runtime.auth import Actor
from trellis.core.store.accepted import Accepted
from trellis.core.store.sessions import Sessions
from trellis.core.store.transaction import Transaction
from trellis.onboarding.application import live_enrolments, missed_milestones, trainings_due
from trellis.onboarding.application.aggregates import Aggregates
from trellis.onboarding.domain.calendar import today
from trellis.onboarding.domain.employee import Employee
from trellis.onboarding.domain.enrolment import Enrolment
from trellis.onboarding.domain.ids import new_id, plan_enrolment_id, plan_id_of
from trellis.onboarding.domain.org import Offboarded
from trellis.onboarding.domain.permissions import ensure_may_enrol, oversees


@dataclass
class PlannedEnrolments:
    """What a plan's training milestones enrol: training → the enrolment standing for it,
    and the enrolments to open with the plan."""

    links: dict[str, str] = field(default_factory=dict)
    new: list[Enrolment] = field(default_factory=list)


class EnrolmentCommands:
    def __init__(self, sessions: Sessions, aggregates: Aggregates, clock: Clock) -> None:
        self.sessions = sessions
        self.aggregates = aggregates
        self.clock = clock

    async def enrol(
        self, actor: Actor, correlation_id: str, employee_id: str, training_id: str, target_date: dt.date
    ) -> Accepted:
        tenant = actor.tenant_id
        async with self.sessions.transaction() as session:
            employee = await self.aggregates.employee(session, tenant, employee_id)
            ensure_may_enrol(actor, employee_id, await self.aggregates.manager_chain(session, employee))
            if not employee.is_active:
                raise Offboarded(f"{employee_id} has been offboarded: they are enrolled in nothing new")
            training = await self.aggregates.training(session, tenant, training_id)
            enrolment = self.aggregates.enrolments.new(new_id(), tenant)
            enrolment.enrol(
                employee_id=employee_id,
                training=training,
                manager_id=employee.manager_id,
                team_id=employee.team_id,
                by=actor.employee_id,
                today=today(self.clock.now()),
                target_date=target_date,
            )
            await self._open(session, enrolment, actor.metadata(correlation_id))
            return Accepted(enrolment.id, enrolment.version, ["TrainingEnrolled"])

    async def complete(
        self, actor: Actor, correlation_id: str, enrolment_id: str, note: str, url: str | None
    ) -> Accepted:
        async with self.sessions.transaction() as session:
            enrolment, employee = await self.visible(session, actor, enrolment_id)
            if employee is None or not employee.is_active:
                raise Offboarded(
                    f"{enrolment.employee_id} has been offboarded: withdraw the enrolment instead"
                )
            day = today(self.clock.now())
            enrolment.complete(
                by=actor.employee_id, today=day, note=note, url=url, manager_id=employee.manager_id
            )
            if not enrolment.pending:
                return Accepted(enrolment.id, enrolment.version, [])
            names = [e.event_type for e in enrolment.pending]
            await self._close(session, enrolment, actor.metadata(correlation_id))
            plan_id = await self._complete_milestones(session, actor, correlation_id, enrolment)
            return Accepted(enrolment.id, enrolment.version, names, {"plan_id": plan_id} if plan_id else {})

    async def withdraw(self, actor: Actor, correlation_id: str, enrolment_id: str, reason: str) -> Accepted:
        async with self.sessions.transaction() as session:
            enrolment, _ = await self.visible(session, actor, enrolment_id)
            enrolment.withdraw(by=actor.employee_id, today=today(self.clock.now()), reason=reason)
            names = [e.event_type for e in enrolment.pending]
            if enrolment.pending:
                await self._close(session, enrolment, actor.metadata(correlation_id))
            return Accepted(enrolment.id, enrolment.version, names)

    async def visible(
        self, session: Transaction, actor: Actor, enrolment_id: str
    ) -> tuple[Enrolment, Employee | None]:
        """The enrolment and its person, if ``actor`` may read it; else not found."""
        enrolment = await self.aggregates.enrolment(session, actor.tenant_id, enrolment_id)
        employee = await self.aggregates.find_employee(session, actor.tenant_id, enrolment.employee_id)
        chain = await self.aggregates.manager_chain(session, employee) if employee is not None else []
        if not oversees(actor, enrolment.employee_id, chain):
            raise NotFound(f"enrolment {enrolment_id} not found", details={"enrolment_id": enrolment_id})
        return enrolment, employee

    # ---- enrolments of an onboarding plan ---------------------------------------------

    async def plan_enrolments(
        self,
        session: Transaction,
        *,
        employee: Employee,
        plan_id: str,
        milestones: list[MilestoneTemplate],
        from_template: bool,
        by: str,
    ) -> PlannedEnrolments:
        """Decide the enrolments of a plan's training milestones (saved by ``open_planned``).

        A training retired since a template named it enrols nobody (the milestone stays,
        without an enrolment); an ad hoc plan naming a retired training is refused.
        """
        assert employee.start_date is not None
        tenant = employee.tenant_id
        planned = PlannedEnrolments()
        for m in milestones:
            if m.training_id is None:
                continue
            training = await self.aggregates.training(session, tenant, m.training_id)
            existing = await live_enrolments.live_enrolment(
                session, tenant, employee.employee_id, training.id
            )
            if existing is not None:
                planned.links[training.id] = existing
                continue
            if training.retired and from_template:
                continue
            enrolment_id = plan_enrolment_id(plan_id, training.id)
            if await self.aggregates.enrolments.find(session, enrolment_id, tenant) is not None:
                planned.links[training.id] = enrolment_id  # enrolled by this plan already
                continue
            enrolment = self.aggregates.enrolments.new(enrolment_id, tenant)
            enrolment.enrol(
                employee_id=employee.employee_id,
                training=training,
                manager_id=employee.manager_id,
                team_id=employee.team_id,
                by=by,
                today=today(self.clock.now()),
                target_date=employee.start_date + dt.timedelta(days=m.due_offset_days),
                plan_id=plan_id,
                milestone_id=m.key,
            )
            planned.links[training.id] = enrolment_id
            planned.new.append(enrolment)
        return planned

    async def open_planned(
        self, session: Transaction, planned: PlannedEnrolments, metadata: Metadata
    ) -> None:
        for enrolment in planned.new:
            await self._open(session, enrolment, metadata)

    # ---- what changes with an enrolment -----------------------------------------------

    async def _open(self, session: Transaction, enrolment: Enrolment, metadata: Metadata) -> None:
        await live_enrolments.hold(
            session, enrolment.tenant_id, enrolment.employee_id, enrolment.training_id, enrolment.id
        )
        await self.aggregates.enrolments.save(session, enrolment, metadata)
        await trainings_due.arm(session, enrolment, self.clock.now())

    async def _close(self, session: Transaction, enrolment: Enrolment, metadata: Metadata) -> None:
        await live_enrolments.release(session, enrolment.tenant_id, enrolment.id)
        await trainings_due.disarm(session, enrolment)
        await self.aggregates.enrolments.save(session, enrolment, metadata)

    async def _complete_milestones(
        self, session: Transaction, actor: Actor, correlation_id: str, enrolment: Enrolment
    ) -> str | None:
        """Complete the open milestones of the person's plan that this enrolment stands for."""
        plan_id = plan_id_of(enrolment.tenant_id, enrolment.employee_id)
        plan = await self.aggregates.plans.find(session, plan_id, enrolment.tenant_id)
        if plan is None:
            return None
        for milestone in plan.open_milestones_of(enrolment.id):
            due_date = milestone.due_date
            plan.complete_milestone(
                milestone.milestone_id, by=actor.employee_id, today=today(self.clock.now())
            )
            await missed_milestones.disarm(session, plan, milestone.milestone_id, due_date)
        if not plan.pending:
            return None
        await self.aggregates.plans.save(session, plan, actor.metadata(correlation_id))
        return plan.id
