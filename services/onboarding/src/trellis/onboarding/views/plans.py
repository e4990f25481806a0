"""``OnboardingPlans``: every plan and milestone of the tenant, for the cross-plan views
(upcoming milestones per manager and mentor, the on-time KPI) and the template list.

A single plan is read from its events instead (always current); this view answers the
questions that span plans.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, insert, update

from trellis.contracts.envelope import EventEnvelope
from trellis.contracts.onboarding import (
    MentorAssigned,
    MilestoneCompleted,
    MilestoneMissed,
    MilestoneRescheduled,
    OnboardingPlanCompleted,
    OnboardingPlanStarted,
    OnboardingTemplateCreated,
    OnboardingTemplateRetired,
    OnboardingTemplateRevised,
)
from trellis.core.consuming.projection import Projection, on
from trellis.core.store.transaction import Transaction
from trellis.onboarding.views.tables import plan_milestones, plan_summaries, template_summaries


class OnboardingPlans(Projection):
    name = "onboarding-plans"
    source = "onboarding"
    tables = (plan_summaries, plan_milestones, template_summaries)

    @on(OnboardingPlanStarted)
    async def started(self, session: Transaction, ev: OnboardingPlanStarted, env: EventEnvelope) -> None:
        await session.execute(
            insert(plan_summaries).values(
                plan_id=ev.plan_id,
                tenant_id=env.tenant_id,
                employee_id=ev.employee_id,
                manager_id=ev.manager_id,
                mentor_id=ev.mentor_id,
                team_id=ev.team_id,
                template_id=ev.template_id,
                start_date=ev.start_date,
            )
        )
        await session.execute(
            insert(plan_milestones),
            [
                {
                    "plan_id": ev.plan_id,
                    "milestone_id": m.milestone_id,
                    "tenant_id": env.tenant_id,
                    "employee_id": ev.employee_id,
                    "team_id": ev.team_id,
                    "template_id": ev.template_id,
                    "title": m.title,
                    "assignee": m.assignee,
                    "due_date": m.due_date,
                    "late": False,
                    "missed": False,
                    "was_missed": False,
                }
                for m in ev.milestones
            ],
        )

    @on(MentorAssigned)
    async def mentor_assigned(self, session: Transaction, ev: MentorAssigned, env: EventEnvelope) -> None:
        await session.execute(
            update(plan_summaries)
            .where(plan_summaries.c.plan_id == ev.plan_id)
            .values(mentor_id=ev.mentor_id)
        )

    @on(MilestoneCompleted)
    async def completed(self, session: Transaction, ev: MilestoneCompleted, env: EventEnvelope) -> None:
        await _milestone(
            session,
            ev.plan_id,
            ev.milestone_id,
            completed_on=ev.completed_on,
            completed_by=ev.completed_by,
            late=ev.late,
            missed=False,
        )

    @on(MilestoneRescheduled)
    async def rescheduled(self, session: Transaction, ev: MilestoneRescheduled, env: EventEnvelope) -> None:
        await _milestone(session, ev.plan_id, ev.milestone_id, due_date=ev.due_date, missed=False)

    @on(MilestoneMissed)
    async def missed(self, session: Transaction, ev: MilestoneMissed, env: EventEnvelope) -> None:
        await _milestone(session, ev.plan_id, ev.milestone_id, missed=True, was_missed=True)

    @on(OnboardingPlanCompleted)
    async def plan_completed(
        self, session: Transaction, ev: OnboardingPlanCompleted, env: EventEnvelope
    ) -> None:
        await session.execute(
            update(plan_summaries)
            .where(plan_summaries.c.plan_id == ev.plan_id)
            .values(completed_on=ev.completed_on)
        )

    @on(OnboardingTemplateCreated, OnboardingTemplateRevised)
    async def template_written(
        self,
        session: Transaction,
        ev: OnboardingTemplateCreated | OnboardingTemplateRevised,
        env: EventEnvelope,
    ) -> None:
        values = {"name": ev.name, "milestones": len(ev.milestones)}
        if isinstance(ev, OnboardingTemplateCreated):
            await session.execute(
                insert(template_summaries).values(
                    template_id=ev.template_id, tenant_id=env.tenant_id, retired=False, **values
                )
            )
        else:
            await session.execute(
                update(template_summaries)
                .where(template_summaries.c.template_id == ev.template_id)
                .values(**values)
            )

    @on(OnboardingTemplateRetired)
    async def template_retired(
        self, session: Transaction, ev: OnboardingTemplateRetired, env: EventEnvelope
    ) -> None:
        await session.execute(
            update(template_summaries)
            .where(template_summaries.c.template_id == ev.template_id)
            .values(retired=True)
        )


async def _milestone(session: Transaction, plan_id: str, milestone_id: str, **values: Any) -> None:
    c = plan_milestones.c
    result = await session.execute(
        update(plan_milestones)
        .where(and_(c.plan_id == plan_id, c.milestone_id == milestone_id))
        .values(**values)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise LookupError(f"milestone {milestone_id} of plan {plan_id} is not in the view")
