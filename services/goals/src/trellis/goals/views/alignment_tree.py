"""The alignment tree: every goal with its parent, key results and rolled-up progress.

Roll-up rule (see ``domain/progress.py``): a goal's progress is the weighted mean of
its inputs, chosen by its ``progress_rollup``: its key results, its aligned children
(retired children excluded), or both pooled together; a completed goal counts as
100 %. A change to any goal recomputes it and then each ancestor in turn, so the
whole chain up to the company objective is current when the event is processed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from trellis.core.events import EventEnvelope
from trellis.core.projection import Projection, on
from trellis.goals.domain.events import (
    GoalAligned,
    GoalChanged,
    GoalCompleted,
    GoalCreated,
    GoalRetired,
    GoalStatusChanged,
    GoalUnaligned,
    KeyResultAdded,
    KeyResultProgressRecorded,
    RealignmentRequested,
    RealignmentResolved,
)
from trellis.goals.domain.progress import key_result_progress, rolled_up_progress
from trellis.goals.views.tables import goal_key_results, goal_nodes

MAX_DEPTH = 16  # guards the walk up the tree against corrupt data


class AlignmentTree(Projection):
    name = "goals-alignment-tree"
    source = "goals"
    tables = (goal_nodes, goal_key_results)

    @on(GoalCreated)
    async def created(self, session: AsyncSession, ev: GoalCreated, env: EventEnvelope) -> None:
        await session.execute(
            insert(goal_nodes).values(
                goal_id=ev.goal_id,
                tenant_id=env.tenant_id,
                level=ev.level,
                title=ev.title,
                description=ev.description,
                owner_id=ev.owner_id,
                team_id=ev.team_id,
                period=ev.period,
                due_date=ev.due_date,
                status="on_track",
                parent_id=ev.parent_id,
                progress_rollup=ev.progress_rollup,
                weight=ev.weight,
                progress=0.0,
                realignment_causes=[],
                version=env.aggregate_version,
                created_at=env.occurred_at,
                updated_at=env.occurred_at,
            )
        )
        if ev.parent_id:
            await self._recompute_chain(session, ev.parent_id)

    @on(GoalChanged)
    async def changed(self, session: AsyncSession, ev: GoalChanged, env: EventEnvelope) -> None:
        allowed = {"title", "description", "period", "owner_id", "due_date"}
        values: dict[str, Any] = {k: v for k, v in ev.changes.items() if k in allowed}
        if "due_date" in values and values["due_date"] is not None:
            values["due_date"] = dt.date.fromisoformat(str(values["due_date"]))
        await self._touch(session, ev.goal_id, env, **values)

    @on(GoalAligned)
    async def aligned(self, session: AsyncSession, ev: GoalAligned, env: EventEnvelope) -> None:
        await self._touch(session, ev.goal_id, env, parent_id=ev.parent_id)
        if ev.previous_parent_id:
            await self._recompute_chain(session, ev.previous_parent_id)
        await self._recompute_chain(session, ev.parent_id)

    @on(GoalUnaligned)
    async def unaligned(self, session: AsyncSession, ev: GoalUnaligned, env: EventEnvelope) -> None:
        await self._touch(session, ev.goal_id, env, parent_id=None)
        await self._recompute_chain(session, ev.previous_parent_id)

    @on(KeyResultAdded)
    async def key_result_added(self, session: AsyncSession, ev: KeyResultAdded, env: EventEnvelope) -> None:
        await session.execute(
            insert(goal_key_results).values(
                key_result_id=ev.key_result_id,
                goal_id=ev.goal_id,
                tenant_id=env.tenant_id,
                name=ev.name,
                start=ev.start,
                target=ev.target,
                current=ev.current,
                unit=ev.unit,
                weight=ev.weight,
                progress=key_result_progress(ev.start, ev.target, ev.current),
                updated_at=env.occurred_at,
            )
        )
        await self._touch(session, ev.goal_id, env)
        await self._recompute_chain(session, ev.goal_id)

    @on(KeyResultProgressRecorded)
    async def progress_recorded(
        self, session: AsyncSession, ev: KeyResultProgressRecorded, env: EventEnvelope
    ) -> None:
        await self._recompute_chain(session, ev.goal_id, env=env, key_result=ev)

    @on(GoalStatusChanged)
    async def status_changed(self, session: AsyncSession, ev: GoalStatusChanged, env: EventEnvelope) -> None:
        await self._touch(session, ev.goal_id, env, status=ev.status)

    @on(GoalCompleted)
    async def completed(self, session: AsyncSession, ev: GoalCompleted, env: EventEnvelope) -> None:
        await self._touch(session, ev.goal_id, env, status="completed")
        await self._recompute_chain(session, ev.goal_id)

    @on(GoalRetired)
    async def retired(self, session: AsyncSession, ev: GoalRetired, env: EventEnvelope) -> None:
        await self._touch(session, ev.goal_id, env, status="retired")
        parent = await self._parent_of(session, ev.goal_id)
        if parent:
            await self._recompute_chain(session, parent)

    @on(RealignmentRequested)
    async def realignment_requested(
        self, session: AsyncSession, ev: RealignmentRequested, env: EventEnvelope
    ) -> None:
        causes = await self._causes(session, ev.goal_id)
        if ev.cause_event_id not in causes:
            causes.append(ev.cause_event_id)
        await self._touch(session, ev.goal_id, env, realignment_causes=causes)

    @on(RealignmentResolved)
    async def realignment_resolved(
        self, session: AsyncSession, ev: RealignmentResolved, env: EventEnvelope
    ) -> None:
        causes = [c for c in await self._causes(session, ev.goal_id) if c not in ev.cause_event_ids]
        await self._touch(session, ev.goal_id, env, realignment_causes=causes)

    async def _touch(self, session: AsyncSession, goal_id: str, env: EventEnvelope, **values: Any) -> None:
        await session.execute(
            update(goal_nodes)
            .where(goal_nodes.c.goal_id == goal_id)
            .values(version=env.aggregate_version, updated_at=env.occurred_at, **values)
        )

    async def _parent_of(self, session: AsyncSession, goal_id: str) -> str | None:
        result = await session.execute(select(goal_nodes.c.parent_id).where(goal_nodes.c.goal_id == goal_id))
        return result.scalar()

    async def _causes(self, session: AsyncSession, goal_id: str) -> list[str]:
        result = await session.execute(
            select(goal_nodes.c.realignment_causes).where(goal_nodes.c.goal_id == goal_id)
        )
        return list(result.scalar() or [])

    async def _recompute_chain(
        self,
        session: AsyncSession,
        goal_id: str | None,
        *,
        env: EventEnvelope | None = None,
        key_result: KeyResultProgressRecorded | None = None,
    ) -> None:
        """Recompute ``goal_id``'s progress, then its parent's, up to the root.

        With ``key_result``, that key result's new value is applied first, in the same
        pass (this runs once per check-in, so it is kept to a few statements a level).
        """
        seen: set[str] = set()
        while goal_id and goal_id not in seen and len(seen) < MAX_DEPTH:
            seen.add(goal_id)
            node = (
                await session.execute(
                    select(goal_nodes.c.progress_rollup, goal_nodes.c.status, goal_nodes.c.parent_id).where(
                        goal_nodes.c.goal_id == goal_id
                    )
                )
            ).first()
            if node is None:
                return
            krs = (
                await session.execute(
                    select(
                        goal_key_results.c.key_result_id,
                        goal_key_results.c.start,
                        goal_key_results.c.target,
                        goal_key_results.c.progress,
                        goal_key_results.c.weight,
                    ).where(goal_key_results.c.goal_id == goal_id)
                )
            ).all()
            kr_inputs = [(r.progress, r.weight) for r in krs]
            node_values: dict[str, Any] = {}
            if key_result is not None and env is not None:
                for i, r in enumerate(krs):
                    if r.key_result_id == key_result.key_result_id:
                        progress = key_result_progress(r.start, r.target, key_result.value)
                        kr_inputs[i] = (progress, r.weight)
                        await session.execute(
                            update(goal_key_results)
                            .where(goal_key_results.c.key_result_id == r.key_result_id)
                            .values(
                                current=key_result.value,
                                progress=progress,
                                confidence=key_result.confidence,
                                updated_at=env.occurred_at,
                            )
                        )
                node_values = {"version": env.aggregate_version, "updated_at": env.occurred_at}
                key_result = None
            children: list[Any] = []
            if node.progress_rollup != "key_results":
                children = list(
                    (
                        await session.execute(
                            select(goal_nodes.c.progress, goal_nodes.c.weight).where(
                                goal_nodes.c.parent_id == goal_id, goal_nodes.c.status != "retired"
                            )
                        )
                    ).all()
                )
            progress = rolled_up_progress(
                node.progress_rollup,
                kr_inputs,
                [(c.progress, c.weight) for c in children],
                node.status == "completed",
            )
            await session.execute(
                update(goal_nodes)
                .where(goal_nodes.c.goal_id == goal_id)
                .values(progress=progress, **node_values)
            )
            goal_id = node.parent_id
