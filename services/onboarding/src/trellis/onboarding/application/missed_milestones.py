"""Missed milestones, through the core's deadlines (``trellis.core.consuming.deadlines``).

Every open milestone has one deadline, armed in the transaction that gives it its due
date (the plan started, the milestone rescheduled) and removed in the one that makes it
moot (completed, or moved: the old date's deadline goes, the new date's comes). Its key
holds the due date, so each due date is decided at most once. It is due at the end of
the due date, UTC (``calendar.missed_at``).

A second deadline per open milestone and due date, ``milestone-due-soon``, fires two
days before (at the start of that day, UTC; at once for a milestone due sooner): the plan
records ``MilestoneDueSoon`` if the milestone is still open and due on that date, once per
due date, and the notifications service tells whoever completes it. It is armed and
removed with the first.

When the due date's deadline fires, the handler below loads the plan and lets it decide: the aggregate
records ``MilestoneMissed`` only if the milestone is still open, still due on that date
and not missed at it already, so a deadline fired twice (or by two replicas) appends
one event. The scheduler commits the event with the deadline marked fired. A plan of
someone offboarded since decides nothing: they are not onboarding any more.
"""

from __future__ import annotations

import datetime as dt

from trellis.contracts.envelope import Metadata
from trellis.core.consuming import deadlines
from trellis.core.consuming.deadlines import Deadline
from trellis.core.store.transaction import Transaction
from trellis.onboarding.application.aggregates import Aggregates
from trellis.onboarding.domain.calendar import missed_at, today
from trellis.onboarding.domain.plan import Milestone, OnboardingPlan

MILESTONE_DUE = "onboarding.milestone-due"
MILESTONE_DUE_SOON = "onboarding.milestone-due-soon"
NUDGE_DAYS = 2
DETECTOR = "trellis-onboarding"  # the actor of events the service decides by itself


def deadline_key(plan_id: str, milestone_id: str, due_date: dt.date) -> str:
    return f"milestone-due:{plan_id}:{milestone_id}:{due_date.isoformat()}"


def due_soon_key(plan_id: str, milestone_id: str, due_date: dt.date) -> str:
    return f"milestone-due-soon:{plan_id}:{milestone_id}:{due_date.isoformat()}"


async def arm(session: Transaction, plan: OnboardingPlan, milestone: Milestone) -> None:
    """Schedule the deadlines of ``milestone``'s current due date: the nudge, then the miss."""
    data = {"milestone_id": milestone.milestone_id, "due_date": milestone.due_date.isoformat()}
    await deadlines.schedule(
        session,
        key=due_soon_key(plan.id, milestone.milestone_id, milestone.due_date),
        kind=MILESTONE_DUE_SOON,
        tenant_id=plan.tenant_id,
        aggregate_id=plan.id,
        due_at=missed_at(milestone.due_date - dt.timedelta(days=NUDGE_DAYS + 1)),  # the start of due - 2
        data=data,
    )
    await deadlines.schedule(
        session,
        key=deadline_key(plan.id, milestone.milestone_id, milestone.due_date),
        kind=MILESTONE_DUE,
        tenant_id=plan.tenant_id,
        aggregate_id=plan.id,
        due_at=missed_at(milestone.due_date),
        data=data,
    )


async def disarm(session: Transaction, plan: OnboardingPlan, milestone_id: str, due_date: dt.date) -> None:
    await deadlines.cancel(session, due_soon_key(plan.id, milestone_id, due_date))
    await deadlines.cancel(session, deadline_key(plan.id, milestone_id, due_date))


class MissedMilestones:
    """The deadline handler of ``MILESTONE_DUE``: a due date passed, decide whether it was missed."""

    decide = "miss_milestone"  # the plan's method that decides

    def __init__(self, aggregates: Aggregates) -> None:
        self.aggregates = aggregates

    async def __call__(self, session: Transaction, deadline: Deadline, now: dt.datetime) -> None:
        plan = await self.aggregates.plans.find(session, deadline.aggregate_id, deadline.tenant_id)
        if plan is None:
            return
        employee = await self.aggregates.find_employee(session, plan.tenant_id, plan.employee_id)
        if employee is not None and not employee.is_active:
            return
        getattr(plan, self.decide)(
            deadline.data["milestone_id"],
            dt.date.fromisoformat(deadline.data["due_date"]),
            today=today(now),
            manager_id=employee.manager_id if employee is not None else plan.manager_id,
        )
        if plan.pending:
            await self.aggregates.plans.save(
                session, plan, Metadata(tenant_id=plan.tenant_id, actor_id=DETECTOR)
            )


class MilestonesDueSoon(MissedMilestones):
    """The deadline handler of ``MILESTONE_DUE_SOON``: nudge whoever completes the milestone."""

    decide = "nudge_milestone"
