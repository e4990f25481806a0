"""New hires' first goals: when an onboarding plan starts, create the goals it asks for.

A reaction to the onboarding stream's ``OnboardingPlanStarted``. Each ``PlannedGoal``
becomes an individual goal owned by the new hire, with the id the plan chose (derived
from the plan and milestone), so processing the same plan twice (a redelivery beyond
the processed-event record, a replay) creates each goal once: a goal that exists is
left alone.

A goal with ``align_to == "team_goal"`` is aligned to the new hire's team's live team
goal: the most recently created team-level goal of the plan's team that is neither
retired nor completed, found in this service's alignment tree view and confirmed on its
aggregate. When the team has none (or the plan has no team), the goal is created
unaligned; its owner or manager aligns it later. The goal's envelope names the plan's
starter as actor (the person who started the plan asked for it), with the plan event as
cause.
"""

from __future__ import annotations

from sqlalchemy import select

from trellis.contracts.envelope import EventEnvelope, Metadata
from trellis.contracts.onboarding import OnboardingPlanStarted
from trellis.core.consuming.projection import Reaction, on
from trellis.core.store.repository import Repository
from trellis.core.store.tenancy import scoped
from trellis.core.store.transaction import Transaction
from trellis.goals.domain.goal import Goal
from trellis.goals.views.tables import goal_nodes


class NewHireGoals(Reaction):
    name = "goals-new-hire-goals"
    source = "onboarding"

    def __init__(self, goals: Repository[Goal]) -> None:
        self.goals = goals

    @on(OnboardingPlanStarted)
    async def plan_started(self, session: Transaction, ev: OnboardingPlanStarted, env: EventEnvelope) -> None:
        if not ev.goals:
            return
        metadata = Metadata(
            tenant_id=env.tenant_id,
            actor_id=env.actor_id,
            correlation_id=env.correlation_id,
            causation_id=str(env.event_id),
        )
        team_goal: Goal | None = None
        if ev.team_id and any(g.align_to == "team_goal" for g in ev.goals):
            team_goal = await self._live_team_goal(session, env.tenant_id, ev.team_id)
        for planned in ev.goals:
            if await self.goals.store.current_version(session, planned.goal_id) > 0:
                continue  # created already
            goal = self.goals.new(planned.goal_id, env.tenant_id)
            parent = team_goal if planned.align_to == "team_goal" else None
            goal.create(
                level="individual",
                title=planned.title,
                description=planned.description,
                owner_id=ev.employee_id,
                team_id=ev.team_id,
                period=planned.period,
                parent=parent,
                parent_ancestor_ids=[],
            )
            await self.goals.save(session, goal, metadata)

    async def _live_team_goal(self, session: Transaction, tenant_id: str, team_id: str) -> Goal | None:
        c = goal_nodes.c
        candidates = await session.execute(
            scoped(
                tenant_id,
                select(c.goal_id)
                .where(c.level == "team", c.team_id == team_id, c.status.not_in(("retired", "completed")))
                .order_by(c.created_at.desc(), c.goal_id.desc()),
            )
        )
        for goal_id in candidates.scalars():
            # the view may lag the goal's own events: the aggregate has the last word
            goal = await self.goals.find(session, goal_id, tenant_id)
            if goal is not None and not goal.is_retired and not goal.is_completed:
                return goal
        return None
