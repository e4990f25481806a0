"""Commands on onboarding templates and plans."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from trellis.contracts.onboarding import MilestoneTemplate
from trellis.core.consuming.clock import Clock
from trellis.core.errors import InvalidInput
from trellis.core.runtime.auth import Actor
from trellis.core.store.accepted import Accepted
from trellis.core.store.sessions import Sessions
from trellis.core.store.transaction import Transaction
from trellis.onboarding.application.aggregates import Aggregates
from trellis.onboarding.application.enrolments import EnrolmentCommands, PlannedEnrolments
from trellis.onboarding.application.missed_milestones import arm, disarm
from trellis.onboarding.domain.calendar import today
from trellis.onboarding.domain.employee import Employee
from trellis.onboarding.domain.ids import new_id
from trellis.onboarding.domain.org import Offboarded
from trellis.onboarding.domain.permissions import (
    ensure_may_complete,
    ensure_may_manage_plan,
    ensure_may_manage_templates,
)
from trellis.onboarding.domain.plan import OnboardingPlan
from trellis.onboarding.domain.template import OnboardingTemplate, checked_milestones


@dataclass(frozen=True)
class PlanSpec:
    """How to start a plan: from a template, or from ad hoc milestones; with a mentor or not."""

    template_id: str | None = None
    milestones: list[MilestoneTemplate] | None = None
    mentor_id: str | None = None

    def __post_init__(self) -> None:
        if (self.template_id is None) == (self.milestones is None):
            raise InvalidInput("give either a template_id or ad hoc milestones, not both")


class PlanCommands:
    def __init__(
        self,
        sessions: Sessions,
        aggregates: Aggregates,
        clock: Clock,
        enrolments: EnrolmentCommands,
    ) -> None:
        self.sessions = sessions
        self.aggregates = aggregates
        self.clock = clock
        self.enrolments = enrolments

    # ---- templates -------------------------------------------------------------------

    async def create_template(
        self, actor: Actor, correlation_id: str, name: str, milestones: list[MilestoneTemplate]
    ) -> Accepted:
        ensure_may_manage_templates(actor)
        async with self.sessions.transaction() as session:
            template = self.aggregates.templates.new(new_id(), actor.tenant_id)
            template.create(name, milestones)
            await self._live_trainings(session, actor.tenant_id, template.milestones)
            return await self._save_template(session, actor, correlation_id, template)

    async def revise_template(
        self,
        actor: Actor,
        correlation_id: str,
        template_id: str,
        name: str,
        milestones: list[MilestoneTemplate],
    ) -> Accepted:
        ensure_may_manage_templates(actor)
        async with self.sessions.transaction() as session:
            template = await self.aggregates.template(session, actor.tenant_id, template_id)
            template.revise(name, milestones)
            if template.pending:
                await self._live_trainings(session, actor.tenant_id, template.milestones)
            return await self._save_template(session, actor, correlation_id, template)

    async def retire_template(self, actor: Actor, correlation_id: str, template_id: str) -> Accepted:
        ensure_may_manage_templates(actor)
        async with self.sessions.transaction() as session:
            template = await self.aggregates.template(session, actor.tenant_id, template_id)
            template.retire()
            return await self._save_template(session, actor, correlation_id, template)

    async def _live_trainings(
        self, session: Transaction, tenant_id: str, milestones: list[MilestoneTemplate]
    ) -> None:
        """The trainings the milestones name exist in the tenant (404) and are live (409)."""
        for m in milestones:
            if m.training_id is not None:
                (await self.aggregates.training(session, tenant_id, m.training_id)).require_live()

    async def _save_template(
        self, session: Transaction, actor: Actor, correlation_id: str, template: OnboardingTemplate
    ) -> Accepted:
        names = [e.event_type for e in template.pending]
        await self.aggregates.templates.save(session, template, actor.metadata(correlation_id))
        return Accepted(template.id, template.version, names)

    # ---- plans -----------------------------------------------------------------------

    async def start_plan(
        self, actor: Actor, correlation_id: str, employee_id: str, spec: PlanSpec
    ) -> Accepted:
        async with self.sessions.transaction() as session:
            employee = await self.aggregates.employee(session, actor.tenant_id, employee_id)
            ensure_may_manage_plan(actor, employee.manager_id)
            plan = await self.start_for(session, actor, correlation_id, employee, spec)
            return Accepted(plan.id, plan.version, ["OnboardingPlanStarted"], enrolments_of(plan))

    async def start_for(
        self, session: Transaction, actor: Actor, correlation_id: str, employee: Employee, spec: PlanSpec
    ) -> OnboardingPlan:
        """Start ``employee``'s plan inside the caller's transaction (a hire may start one too)."""
        if not employee.is_active:
            raise Offboarded(f"{employee.employee_id} has been offboarded")
        if spec.template_id is not None:
            template = await self.aggregates.template(session, actor.tenant_id, spec.template_id)
            milestones = template.milestones_to_start()
        else:
            milestones = list(spec.milestones or [])
        if spec.mentor_id is not None:
            await self._active_mentor(session, actor, spec.mentor_id)
        plan = await self.aggregates.plan_of(session, actor.tenant_id, employee.employee_id)
        assert employee.start_date is not None
        planned = PlannedEnrolments()
        if not plan.exists:  # else ``start`` refuses: a new hire has one plan
            planned = await self.enrolments.plan_enrolments(
                session,
                employee=employee,
                plan_id=plan.id,
                milestones=checked_milestones(milestones),
                from_template=spec.template_id is not None,
                by=actor.employee_id,
            )
        plan.start(
            employee_id=employee.employee_id,
            manager_id=employee.manager_id,
            mentor_id=spec.mentor_id,
            team_id=employee.team_id,
            template_id=spec.template_id,
            start_date=employee.start_date,
            milestones=milestones,
            enrolments=planned.links,
        )
        metadata = actor.metadata(correlation_id)
        await self.aggregates.plans.save(session, plan, metadata)
        for milestone in plan.milestones.values():
            await arm(session, plan, milestone)
        await self.enrolments.open_planned(session, planned, metadata)
        return plan

    async def assign_mentor(
        self, actor: Actor, correlation_id: str, plan_id: str, mentor_id: str | None
    ) -> Accepted:
        async with self.sessions.transaction() as session:
            plan, employee = await self._plan_and_new_hire(session, actor, plan_id)
            ensure_may_manage_plan(actor, employee.manager_id)
            if mentor_id is not None:
                await self._active_mentor(session, actor, mentor_id)
            plan.assign_mentor(mentor_id)
            return await self._save_plan(session, actor, correlation_id, plan)

    async def complete_milestone(
        self, actor: Actor, correlation_id: str, plan_id: str, milestone_id: str
    ) -> Accepted:
        async with self.sessions.transaction() as session:
            plan, employee = await self._plan_and_new_hire(session, actor, plan_id)
            milestone = plan.milestone(milestone_id)
            ensure_may_complete(
                actor,
                milestone,
                employee_id=plan.employee_id,
                manager_id=employee.manager_id,
                mentor_id=plan.mentor_id,
            )
            due_date = milestone.due_date
            plan.complete_milestone(milestone_id, by=actor.employee_id, today=today(self.clock.now()))
            if plan.pending:
                await disarm(session, plan, milestone_id, due_date)
            return await self._save_plan(session, actor, correlation_id, plan)

    async def reschedule_milestone(
        self,
        actor: Actor,
        correlation_id: str,
        plan_id: str,
        milestone_id: str,
        due_date: dt.date,
        reason: str,
    ) -> Accepted:
        async with self.sessions.transaction() as session:
            plan, employee = await self._plan_and_new_hire(session, actor, plan_id)
            ensure_may_manage_plan(actor, employee.manager_id)
            previous = plan.milestone(milestone_id).due_date
            plan.reschedule_milestone(milestone_id, due_date, reason, today=today(self.clock.now()))
            if plan.pending:
                await disarm(session, plan, milestone_id, previous)
                await arm(session, plan, plan.milestone(milestone_id))
            return await self._save_plan(session, actor, correlation_id, plan)

    async def _plan_and_new_hire(
        self, session: Transaction, actor: Actor, plan_id: str
    ) -> tuple[OnboardingPlan, Employee]:
        plan = await self.aggregates.plan(session, actor.tenant_id, plan_id)
        employee = await self.aggregates.employee(session, actor.tenant_id, plan.employee_id)
        if not employee.is_active:
            raise Offboarded(f"{employee.employee_id} has been offboarded: their plan no longer changes")
        return plan, employee

    async def _active_mentor(self, session: Transaction, actor: Actor, mentor_id: str) -> Employee:
        mentor = await self.aggregates.employee(session, actor.tenant_id, mentor_id, what="mentor")
        if not mentor.is_active:
            raise Offboarded(f"{mentor_id} has been offboarded and mentors nobody")
        return mentor

    async def _save_plan(
        self, session: Transaction, actor: Actor, correlation_id: str, plan: OnboardingPlan
    ) -> Accepted:
        names = [e.event_type for e in plan.pending]
        await self.aggregates.plans.save(session, plan, actor.metadata(correlation_id))
        return Accepted(plan.id, plan.version, names)


def enrolments_of(plan: OnboardingPlan) -> dict[str, str]:
    """``related`` of a started plan: the enrolment of each training milestone, by milestone."""
    return {f"enrolment:{m.milestone_id}": m.enrolment_id for m in plan.milestones.values() if m.enrolment_id}
