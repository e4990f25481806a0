"""Realignment: when a goal with goals aligned beneath it is retired or materially
changed, every goal beneath it, at any depth, is asked to realign.

This is a reaction (a process that appends events), run by the consumer runner. It
keeps its own table of alignment links, updated from the same events it reacts to,
so "which goals are beneath" is exactly as of the event being processed, whatever
the lag of other views. Each request names the event that caused it, and the Goal
aggregate ignores a second request for the same cause, so processing the same change
twice (a redelivery beyond the processed-event record, a replay) asks once.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import insert, select, update

from trellis.contracts.envelope import EventEnvelope, Metadata
from trellis.contracts.goals import (
    GoalAligned,
    GoalChanged,
    GoalCreated,
    GoalRetired,
    GoalUnaligned,
)
from trellis.core.consuming.projection import Reaction, on
from trellis.core.store.repository import Repository
from trellis.core.store.tenancy import scoped
from trellis.core.store.transaction import Transaction
from trellis.goals.domain.goal import Goal
from trellis.goals.views.tables import realignment_links


class Realignment(Reaction):
    name = "goals-realignment"
    source = "goals"

    def __init__(self, goals: Repository[Goal]) -> None:
        self.goals = goals

    @on(GoalCreated)
    async def created(self, session: Transaction, ev: GoalCreated, env: EventEnvelope) -> None:
        await session.execute(
            insert(realignment_links).values(
                goal_id=ev.goal_id, tenant_id=env.tenant_id, parent_id=ev.parent_id, retired=False
            )
        )

    @on(GoalAligned)
    async def aligned(self, session: Transaction, ev: GoalAligned, env: EventEnvelope) -> None:
        await self._link(session, ev.goal_id, ev.parent_id)

    @on(GoalUnaligned)
    async def unaligned(self, session: Transaction, ev: GoalUnaligned, env: EventEnvelope) -> None:
        await self._link(session, ev.goal_id, None)

    @on(GoalRetired)
    async def retired(self, session: Transaction, ev: GoalRetired, env: EventEnvelope) -> None:
        await session.execute(
            update(realignment_links).where(realignment_links.c.goal_id == ev.goal_id).values(retired=True)
        )
        await self._request_beneath(session, ev.goal_id, env, "ancestor_retired", {"reason": ev.reason})

    @on(GoalChanged)
    async def changed(self, session: Transaction, ev: GoalChanged, env: EventEnvelope) -> None:
        if ev.material:
            await self._request_beneath(session, ev.goal_id, env, "ancestor_changed", ev.changes)

    async def _link(self, session: Transaction, goal_id: str, parent_id: str | None) -> None:
        await session.execute(
            update(realignment_links)
            .where(realignment_links.c.goal_id == goal_id)
            .values(parent_id=parent_id)
        )

    async def _request_beneath(
        self,
        session: Transaction,
        goal_id: str,
        env: EventEnvelope,
        reason: Literal["ancestor_retired", "ancestor_changed"],
        change: dict[str, object],
    ) -> None:
        metadata = Metadata(
            tenant_id=env.tenant_id,
            actor_id=env.actor_id,
            correlation_id=env.correlation_id,
            causation_id=str(env.event_id),
        )
        for descendant in await self._descendants(session, goal_id, env.tenant_id):
            goal = await self.goals.get(session, descendant, env.tenant_id)
            goal.request_realignment(
                cause_goal_id=goal_id,
                cause_event_id=str(env.event_id),
                reason=reason,
                ancestor_change=change,
            )
            await self.goals.save(session, goal, metadata)

    async def _descendants(self, session: Transaction, goal_id: str, tenant_id: str) -> list[str]:
        """Every live goal beneath ``goal_id``, breadth first."""
        found: list[str] = []
        frontier = [goal_id]
        seen = {goal_id}
        while frontier:
            result = await session.execute(
                scoped(
                    tenant_id,
                    select(realignment_links.c.goal_id).where(
                        realignment_links.c.parent_id.in_(frontier), realignment_links.c.retired.is_(False)
                    ),
                )
            )
            frontier = [g for g in result.scalars() if g not in seen]
            seen.update(frontier)
            found.extend(frontier)
        return found
