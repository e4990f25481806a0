"""What the reactions learn from the other services' events (goal tree, plans, review assignments).

Each ``learn_*`` function updates ``tables.py``'s knowledge tables from one event; the
reaction that consumes the event's stream calls it right after deciding who the event
affects, in the same transaction. So the rules always see the world exactly as it was
just before the event, however far behind any other consumer is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import delete, insert, update

from trellis.contracts.envelope import DomainEvent, EventEnvelope
from trellis.contracts.feedback import (
    PeerReviewersChosen,
    ReviewAssignment,
    ReviewCycleOpened,
    ReviewSubmitted,
)
from trellis.contracts.goals import (
    GoalAligned,
    GoalChanged,
    GoalCompleted,
    GoalCreated,
    GoalRetired,
    GoalStatusChanged,
    GoalUnaligned,
)
from trellis.contracts.onboarding import MentorAssigned, OnboardingPlanStarted
from trellis.core.store.tenancy import scoped
from trellis.core.store.transaction import Transaction
from trellis.notifications.tables import ntf_goals, ntf_onboarding_plans, ntf_review_assignments

Learner = Callable[[Transaction, Any, EventEnvelope], Awaitable[None]]
LEARNERS: dict[str, Learner] = {}


def learns(*event_types: type[DomainEvent]) -> Callable[[Learner], Learner]:
    def register(fn: Learner) -> Learner:
        for cls in event_types:
            LEARNERS[cls.event_type] = fn
        return fn

    return register


async def learn(session: Transaction, event: DomainEvent, envelope: EventEnvelope) -> None:
    """Update what this service knows with ``event`` (nothing for events it need not know)."""
    fn = LEARNERS.get(event.event_type)
    if fn is not None:
        await fn(session, event, envelope)


# ---- goals: ownership and the alignment tree ------------------------------------------


async def _goal(session: Transaction, env: EventEnvelope, goal_id: str, **values: Any) -> None:
    c = ntf_goals.c
    await session.execute(
        scoped(env.tenant_id, update(ntf_goals).where(c.goal_id == goal_id).values(**values))
    )


@learns(GoalCreated)
async def goal_created(session: Transaction, ev: GoalCreated, env: EventEnvelope) -> None:
    await session.execute(
        insert(ntf_goals).values(
            tenant_id=env.tenant_id,
            goal_id=ev.goal_id,
            level=ev.level,
            title=ev.title,
            owner_id=ev.owner_id,
            parent_id=ev.parent_id,
            status="on_track",
        )
    )


@learns(GoalChanged)
async def goal_changed(session: Transaction, ev: GoalChanged, env: EventEnvelope) -> None:
    values = {k: ev.changes[k] for k in ("title", "owner_id") if ev.changes.get(k)}
    if values:
        await _goal(session, env, ev.goal_id, **values)


@learns(GoalAligned)
async def goal_aligned(session: Transaction, ev: GoalAligned, env: EventEnvelope) -> None:
    await _goal(session, env, ev.goal_id, parent_id=ev.parent_id)


@learns(GoalUnaligned)
async def goal_unaligned(session: Transaction, ev: GoalUnaligned, env: EventEnvelope) -> None:
    await _goal(session, env, ev.goal_id, parent_id=None)


@learns(GoalStatusChanged)
async def goal_status_changed(session: Transaction, ev: GoalStatusChanged, env: EventEnvelope) -> None:
    await _goal(session, env, ev.goal_id, status=ev.status)


@learns(GoalCompleted)
async def goal_completed(session: Transaction, ev: GoalCompleted, env: EventEnvelope) -> None:
    await _goal(session, env, ev.goal_id, status="completed")


@learns(GoalRetired)
async def goal_retired(session: Transaction, ev: GoalRetired, env: EventEnvelope) -> None:
    await _goal(session, env, ev.goal_id, status="retired")


# ---- onboarding plans -----------------------------------------------------------------


@learns(OnboardingPlanStarted)
async def plan_started(session: Transaction, ev: OnboardingPlanStarted, env: EventEnvelope) -> None:
    await session.execute(
        insert(ntf_onboarding_plans).values(
            tenant_id=env.tenant_id,
            plan_id=ev.plan_id,
            employee_id=ev.employee_id,
            manager_id=ev.manager_id,
            mentor_id=ev.mentor_id,
        )
    )


@learns(MentorAssigned)
async def mentor_assigned(session: Transaction, ev: MentorAssigned, env: EventEnvelope) -> None:
    c = ntf_onboarding_plans.c
    await session.execute(
        scoped(
            env.tenant_id,
            update(ntf_onboarding_plans).where(c.plan_id == ev.plan_id).values(mentor_id=ev.mentor_id),
        )
    )


# ---- review cycles: who still has what to submit -------------------------------------


async def _assign(
    session: Transaction, env: EventEnvelope, cycle_id: str, reviews: list[ReviewAssignment]
) -> None:
    if not reviews:
        return
    c = ntf_review_assignments.c
    ids = [r.review_id for r in reviews]
    # a review assigned again (the same id) replaces the earlier row
    await session.execute(scoped(env.tenant_id, delete(ntf_review_assignments).where(c.review_id.in_(ids))))
    await session.execute(
        insert(ntf_review_assignments),
        [
            {
                "tenant_id": env.tenant_id,
                "review_id": r.review_id,
                "cycle_id": cycle_id,
                "reviewer_id": r.reviewer_id,
                "subject_id": r.subject_id,
                "submitted": False,
            }
            for r in reviews
        ],
    )


@learns(ReviewCycleOpened)
async def cycle_opened(session: Transaction, ev: ReviewCycleOpened, env: EventEnvelope) -> None:
    await _assign(session, env, ev.cycle_id, ev.reviews)


@learns(PeerReviewersChosen)
async def peers_chosen(session: Transaction, ev: PeerReviewersChosen, env: EventEnvelope) -> None:
    await _assign(session, env, ev.cycle_id, ev.reviews)


@learns(ReviewSubmitted)
async def review_submitted(session: Transaction, ev: ReviewSubmitted, env: EventEnvelope) -> None:
    c = ntf_review_assignments.c
    await session.execute(
        scoped(
            env.tenant_id,
            update(ntf_review_assignments).where(c.review_id == ev.review_id).values(submitted=True),
        )
    )
