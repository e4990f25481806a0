"""Cascading a goal: one individual goal for each of a set of people, aligned to it.

A manager (their reports, at any depth) or an admin or hr (anyone) hands a team goal or
company objective down in one command: each person gets an individual goal with the
source's title, description, period, due date and key results (each starting at its
start value), aligned to the source. The people are named, or chosen as the members of
a team and every team beneath it, or as the caller's reports.

Idempotent per (source, person): the goal's id is derived from both, so a person who
already has theirs is left alone, and cascading again to the same team later reaches
only the people who joined it since. One transaction: all of the people, or none (a
person the caller may not create a goal for refuses the whole command, naming them).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from trellis.contracts.ids import uuid7
from trellis.core.errors import Forbidden, InvalidInput, NotFound, RuleViolation
from trellis.core.runtime.auth import Actor
from trellis.core.store.repository import Repository
from trellis.core.store.transaction import Transaction
from trellis.goals.application.commands import ancestors_of
from trellis.goals.domain.goal import Goal
from trellis.goals.domain.permissions import may_create
from trellis.orgchart import OrgDirectory

MAX_PEOPLE = 500
_NAMESPACE = uuid.UUID("5b0a3c3e-4f1e-4c55-9a55-1f0b8f7e2c11")


def cascaded_goal_id(tenant_id: str, source_id: str, employee_id: str) -> str:
    """The id of ``employee_id``'s goal cascaded from ``source_id``: the same every time."""
    return str(uuid.uuid5(_NAMESPACE, f"{tenant_id}/{source_id}/{employee_id}"))


@dataclass
class CascadeResult:
    source_id: str
    created: dict[str, str] = field(default_factory=dict)  # employee → goal created now
    existing: dict[str, str] = field(default_factory=dict)  # employee → goal they had already


class Cascades:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], goals: Repository[Goal], org: OrgDirectory
    ) -> None:
        self.sessions = sessions
        self.goals = goals
        self.org = org

    async def cascade(
        self,
        actor: Actor,
        correlation_id: str,
        source_id: str,
        *,
        employee_ids: list[str] | None = None,
        team_id: str | None = None,
        reports: bool = False,
    ) -> CascadeResult:
        tenant = actor.tenant_id
        async with self.sessions() as session, session.begin():
            source = await self.goals.find(session, source_id, tenant)
            if source is None:  # first: another tenant's goal is not found, whatever the body
                raise NotFound(f"goal {source_id} not found")
            if not (employee_ids or team_id or reports):
                raise InvalidInput("name the people: employee_ids, a team_id, or reports")
            if source.is_development:  # seen by its owner's chain and hr only, and never cascaded
                raise NotFound(f"goal {source_id} not found")
            if source.level == "individual":
                raise RuleViolation("only a team goal or a company objective can be cascaded")
            if source.is_retired or source.is_completed:
                raise RuleViolation(f"a {source.status} goal cannot be cascaded")
            people = await self._people(session, actor, employee_ids or [], team_id, reports)
            await self._ensure_may_create_for(session, actor, people)
            ancestors = await ancestors_of(self.goals, session, source)
            result = CascadeResult(source_id)
            metadata = actor.metadata(correlation_id)
            for person in people:
                goal_id = cascaded_goal_id(tenant, source_id, person)
                if await self.goals.find(session, goal_id, tenant) is not None:
                    result.existing[person] = goal_id
                    continue
                employee = await self.org.employee(session, tenant, person)
                goal = self.goals.new(goal_id, tenant)
                goal.create(
                    level="individual",
                    title=source.title,
                    description=source.description,
                    owner_id=person,
                    team_id=employee.team_id if employee else None,
                    period=source.period,
                    start_date=source.start_date,
                    due_date=source.due_date,
                    parent=source,
                    parent_ancestor_ids=ancestors,
                )
                for kr in source.key_results.values():
                    goal.add_key_result(
                        str(uuid7()), kr.name, kr.start, kr.target, unit=kr.unit, weight=kr.weight
                    )
                await self.goals.save(session, goal, metadata)
                result.created[person] = goal_id
            return result

    async def _people(
        self, session: Transaction, actor: Actor, named: list[str], team_id: str | None, reports: bool
    ) -> list[str]:
        tenant = actor.tenant_id
        people = dict.fromkeys(named)
        if team_id is not None:
            if await self.org.team(session, tenant, team_id) is None:
                raise NotFound(f"team {team_id} not found")
            people.update(dict.fromkeys(await self.org.team_members(session, tenant, team_id)))
        if reports:
            people.update(
                dict.fromkeys(await self.org.reports(session, tenant, actor.employee_id, indirect=True))
            )
        if len(people) > MAX_PEOPLE:
            raise InvalidInput(f"at most {MAX_PEOPLE} people in one cascade", details={"people": len(people)})
        found = await self.org.employees(session, tenant, list(people))
        unknown = sorted(p for p in people if p not in found or not found[p].active)
        if unknown:
            raise InvalidInput(
                "not active employees: " + ", ".join(unknown[:20]), details={"employee_ids": unknown}
            )
        return list(people)

    async def _ensure_may_create_for(self, session: Transaction, actor: Actor, people: list[str]) -> None:
        refused = []
        for person in people:
            manages = (
                not actor.is_admin_or_hr
                and person != actor.employee_id
                and await self.org.manages(session, actor.tenant_id, actor.employee_id, person)
            )
            if not may_create(actor, "individual", person, manages):
                refused.append(person)
        if refused:
            raise Forbidden(
                "you may not create goals for " + ", ".join(refused[:20]), details={"employee_ids": refused}
            )
