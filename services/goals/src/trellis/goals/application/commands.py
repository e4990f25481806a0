"""Command handlers of the goals service: load, check who may, decide, append.

Each handler runs in one transaction: the aggregate is loaded from the event store,
the actor's permission checked, the domain decides, and the new events are appended
with the loaded version as the expected version (a concurrent writer gets a 409).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from trellis.contracts.ids import uuid7
from trellis.core.errors import ConcurrencyError, Forbidden, NotFound
from trellis.core.runtime.auth import Actor
from trellis.core.store.repository import Repository
from trellis.core.store.sessions import Sessions
from trellis.core.store.transaction import Transaction
from trellis.goals.domain.goal import Goal
from trellis.goals.domain.permissions import (
    UnknownOwner,
    ensure_may_change,
    ensure_may_create,
    ensure_may_hand_over,
    may_see,
)
from trellis.orgchart import OrgDirectory

MAX_ANCESTORS = 16


@dataclass(frozen=True)
class CommandResult:
    goal_id: str
    version: int
    events: list[str]
    key_result_id: str | None = None


class GoalCommands:
    def __init__(self, sessions: Sessions, goals: Repository[Goal], org: OrgDirectory) -> None:
        self.sessions = sessions
        self.goals = goals
        self.org = org

    async def create_goal(
        self,
        actor: Actor,
        correlation_id: str,
        *,
        level: str,
        title: str,
        description: str = "",
        owner_id: str | None = None,
        team_id: str | None = None,
        period: str,
        start_date: dt.date | None = None,
        due_date: dt.date | None = None,
        parent_id: str | None = None,
        progress_rollup: str = "both",
        weight: float = 1.0,
        kind: str = "performance",
        career_objective: str | None = None,
    ) -> CommandResult:
        owner = owner_id or actor.employee_id
        goal_id = str(uuid7())
        async with self.sessions.transaction() as session:
            manages = await self._manages(session, actor, owner)
            ensure_may_create(actor, level, owner, manages)
            if kind == "development" and not may_see(
                actor, kind, owner, await self.sees_reports_of(session, actor, owner)
            ):
                raise Forbidden(f"only {owner}, their managers and hr set {owner}'s development goals")
            parent, ancestors = await self._parent(session, actor, parent_id)
            goal = self.goals.new(goal_id, actor.tenant_id)
            goal.create(
                level=level,
                title=title,
                description=description,
                owner_id=owner,
                team_id=team_id,
                period=period,
                start_date=start_date,
                due_date=due_date,
                parent=parent,
                parent_ancestor_ids=ancestors,
                progress_rollup=progress_rollup,
                weight=weight,
                kind=kind,
                career_objective=career_objective,
            )
            return await self._save(session, actor, correlation_id, goal)

    async def align(
        self, actor: Actor, correlation_id: str, goal_id: str, parent_id: str, expected_version: int | None
    ) -> CommandResult:
        async def decide(session: Transaction, goal: Goal) -> None:
            parent, ancestors = await self._parent(session, actor, parent_id)
            assert parent is not None
            goal.align(parent, ancestors)

        return await self._change(actor, correlation_id, goal_id, expected_version, decide)

    async def unalign(
        self, actor: Actor, correlation_id: str, goal_id: str, expected_version: int | None
    ) -> CommandResult:
        return await self._change(actor, correlation_id, goal_id, expected_version, _call("unalign"))

    async def change(
        self,
        actor: Actor,
        correlation_id: str,
        goal_id: str,
        expected_version: int | None,
        changes: dict[str, Any],
    ) -> CommandResult:
        async def decide(session: Transaction, goal: Goal) -> None:
            fields = dict(changes)
            objective = fields.pop("career_objective", None)
            new_owner = fields.get("owner_id")
            if new_owner is not None and new_owner != goal.owner_id:
                await self._check_new_owner(session, actor, goal, new_owner)
            goal.change(**fields)
            if objective is not None:
                goal.set_career_objective(objective)

        return await self._change(actor, correlation_id, goal_id, expected_version, decide)

    async def _check_new_owner(self, session: Transaction, actor: Actor, goal: Goal, owner_id: str) -> None:
        """A hand-over follows the create rule, to someone the org chart knows.

        Permission first: who is in the org is not told to someone who may not hand over.
        """
        ensure_may_hand_over(actor, goal, owner_id, await self._manages(session, actor, owner_id))
        employee = await self.org.employee(session, actor.tenant_id, owner_id)
        if employee is None or not employee.active:
            raise UnknownOwner(
                f"no active employee {owner_id} to hand the goal to",
                details={"field": "owner_id", "owner_id": owner_id},
            )

    async def add_key_result(
        self,
        actor: Actor,
        correlation_id: str,
        goal_id: str,
        expected_version: int | None,
        **fields: Any,
    ) -> CommandResult:
        kr_id = str(uuid7())
        result = await self._change(
            actor,
            correlation_id,
            goal_id,
            expected_version,
            _call("add_key_result", key_result_id=kr_id, **fields),
        )
        return CommandResult(result.goal_id, result.version, result.events, key_result_id=kr_id)

    async def change_key_result(
        self,
        actor: Actor,
        correlation_id: str,
        goal_id: str,
        key_result_id: str,
        expected_version: int | None,
        **changes: Any,
    ) -> CommandResult:
        return await self._change(
            actor,
            correlation_id,
            goal_id,
            expected_version,
            _call("change_key_result", key_result_id, **changes),
        )

    async def remove_key_result(
        self,
        actor: Actor,
        correlation_id: str,
        goal_id: str,
        key_result_id: str,
        expected_version: int | None,
        reason: str = "",
    ) -> CommandResult:
        return await self._change(
            actor,
            correlation_id,
            goal_id,
            expected_version,
            _call("remove_key_result", key_result_id, reason),
        )

    async def record_progress(
        self,
        actor: Actor,
        correlation_id: str,
        goal_id: str,
        key_result_id: str,
        expected_version: int | None,
        **fields: Any,
    ) -> CommandResult:
        return await self._change(
            actor,
            correlation_id,
            goal_id,
            expected_version,
            _call("record_progress", key_result_id=key_result_id, **fields),
        )

    async def set_status(
        self, actor: Actor, correlation_id: str, goal_id: str, expected_version: int | None, status: str
    ) -> CommandResult:
        return await self._change(
            actor, correlation_id, goal_id, expected_version, _call("set_status", status)
        )

    async def complete(
        self, actor: Actor, correlation_id: str, goal_id: str, expected_version: int | None
    ) -> CommandResult:
        return await self._change(actor, correlation_id, goal_id, expected_version, _call("complete"))

    async def retire(
        self, actor: Actor, correlation_id: str, goal_id: str, expected_version: int | None, reason: str
    ) -> CommandResult:
        return await self._change(actor, correlation_id, goal_id, expected_version, _call("retire", reason))

    async def _change(
        self,
        actor: Actor,
        correlation_id: str,
        goal_id: str,
        expected_version: int | None,
        decide: Callable[[Transaction, Goal], Awaitable[None]],
    ) -> CommandResult:
        async with self.sessions.transaction() as session:
            goal = await self.visible(session, actor, goal_id)
            if expected_version is not None and expected_version != goal.version:
                raise ConcurrencyError(
                    f"goal {goal_id} is at version {goal.version}, not {expected_version}",
                    details={"expected_version": expected_version, "actual_version": goal.version},
                )
            manages = await self._manages(session, actor, goal.owner_id)
            ensure_may_change(actor, goal, manages)
            await decide(session, goal)
            return await self._save(session, actor, correlation_id, goal)

    async def visible(self, session: Transaction, actor: Actor, goal_id: str) -> Goal:
        """The goal, if the actor may see it; else not found (a development goal's existence
        is not told to those who may not see it)."""
        goal = await self.goals.get(session, goal_id, actor.tenant_id)
        if goal.is_development and not may_see(
            actor, goal.kind, goal.owner_id, await self.sees_reports_of(session, actor, goal.owner_id)
        ):
            raise NotFound(f"goal {goal_id} not found")
        return goal

    async def sees_reports_of(self, session: Transaction, actor: Actor, owner_id: str) -> bool:
        """Whether the actor manages ``owner_id`` at any depth, whatever their roles."""
        if owner_id == actor.employee_id:
            return False
        return await self.org.manages(session, actor.tenant_id, actor.employee_id, owner_id)

    async def _manages(self, session: Transaction, actor: Actor, owner_id: str) -> bool:
        """Whether the actor is the owner's manager, at any depth (the org chart replica)."""
        if actor.is_admin_or_hr or owner_id == actor.employee_id:
            return False  # the role or ownership decides alone: no lookup
        return await self.org.manages(session, actor.tenant_id, actor.employee_id, owner_id)

    async def _parent(
        self, session: Transaction, actor: Actor, parent_id: str | None
    ) -> tuple[Goal | None, list[str]]:
        if parent_id is None:
            return None, []
        parent = await self.goals.find(session, parent_id, actor.tenant_id)
        if parent is None:
            raise NotFound(f"parent goal {parent_id} not found")
        return parent, await ancestors_of(self.goals, session, parent)

    async def _save(
        self, session: Transaction, actor: Actor, correlation_id: str, goal: Goal
    ) -> CommandResult:
        names = [type(e).event_type for e in goal.pending]
        await self.goals.save(session, goal, actor.metadata(correlation_id))
        return CommandResult(goal.id, goal.version, names)


def _call(method: str, *args: Any, **kwargs: Any) -> Callable[[Transaction, Goal], Awaitable[None]]:
    async def decide(_session: Transaction, goal: Goal) -> None:
        getattr(goal, method)(*args, **kwargs)

    return decide


async def ancestors_of(goals: Repository[Goal], session: Transaction, goal: Goal) -> list[str]:
    """The ids of the goals ``goal`` is aligned under, nearest first (the cycle check's input)."""
    ancestors: list[str] = []
    current = goal
    while current.parent_id and len(ancestors) < MAX_ANCESTORS:
        ancestors.append(current.parent_id)
        found = await goals.find(session, current.parent_id, goal.tenant_id)
        if found is None:
            break
        current = found
    return ancestors
