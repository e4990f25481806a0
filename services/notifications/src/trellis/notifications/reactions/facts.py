"""What the rules may ask about the world, and the answers from this service's own tables.

The rules (``rules.py``) depend only on the ``Facts`` protocol, so their unit tests hand
them a dictionary-backed version; the reactions hand them ``StoredFacts``, which reads
the org chart replica and the tables the reactions keep (``tables.py``), scoped to the
event's tenant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import func, select

from trellis.core.store.tenancy import scoped
from trellis.core.store.transaction import Transaction
from trellis.notifications.tables import ntf_goals, ntf_onboarding_plans, ntf_review_assignments
from trellis.orgchart import OrgDirectory

MAX_TREE_DEPTH = 16  # guards walks of the alignment tree against corrupt data


@dataclass(frozen=True)
class GoalFact:
    goal_id: str
    level: str
    title: str
    owner_id: str
    parent_id: str | None
    status: str


@dataclass(frozen=True)
class PlanFact:
    plan_id: str
    employee_id: str
    manager_id: str | None
    mentor_id: str | None


class Facts(Protocol):
    """Questions about one tenant, answered as of the event being decided on."""

    async def goal(self, goal_id: str) -> GoalFact | None: ...

    async def goals_beneath(self, goal_id: str) -> list[GoalFact]:
        """Every goal aligned beneath ``goal_id`` at any depth that is not retired."""
        ...

    async def manager_of(self, employee_id: str) -> str | None: ...

    async def team_of(self, employee_id: str) -> str | None: ...

    async def team_members(self, team_id: str) -> list[str]:
        """Active members of the team itself (not of the teams beneath it)."""
        ...

    async def plan(self, plan_id: str) -> PlanFact | None: ...

    async def reviews_to_submit(self, cycle_id: str, reviewer_id: str) -> int: ...

    async def name(self, employee_id: str) -> str:
        """The employee's name, or their id when the org chart does not know them (yet)."""
        ...


class StoredFacts:
    """``Facts`` from this service's database, inside the reaction's transaction."""

    def __init__(self, session: Transaction, tenant_id: str, org: OrgDirectory | None = None) -> None:
        self.session = session
        self.tenant_id = tenant_id
        self.org = org or OrgDirectory()
        self._names: dict[str, str] = {}

    async def goal(self, goal_id: str) -> GoalFact | None:
        c = ntf_goals.c
        row = (
            (
                await self.session.execute(
                    scoped(self.tenant_id, select(ntf_goals).where(c.goal_id == goal_id))
                )
            )
            .mappings()
            .first()
        )
        return _goal(row) if row else None

    async def goals_beneath(self, goal_id: str) -> list[GoalFact]:
        c = ntf_goals.c
        found: list[GoalFact] = []
        seen = {goal_id}
        frontier = [goal_id]
        for _ in range(MAX_TREE_DEPTH):
            if not frontier:
                break
            rows = await self.session.execute(
                scoped(
                    self.tenant_id,
                    select(ntf_goals)
                    .where(c.parent_id.in_(frontier), c.status != "retired")
                    .order_by(c.goal_id),
                )
            )
            children = [_goal(r) for r in rows.mappings() if r["goal_id"] not in seen]
            seen.update(g.goal_id for g in children)
            found.extend(children)
            frontier = [g.goal_id for g in children]
        return found

    async def manager_of(self, employee_id: str) -> str | None:
        return await self.org.manager_of(self.session, self.tenant_id, employee_id)

    async def team_of(self, employee_id: str) -> str | None:
        found = await self.org.employee(self.session, self.tenant_id, employee_id)
        return found.team_id if found else None

    async def team_members(self, team_id: str) -> list[str]:
        return await self.org.team_members(self.session, self.tenant_id, team_id, subtree=False)

    async def plan(self, plan_id: str) -> PlanFact | None:
        c = ntf_onboarding_plans.c
        row = (
            (
                await self.session.execute(
                    scoped(self.tenant_id, select(ntf_onboarding_plans).where(c.plan_id == plan_id))
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        return PlanFact(row["plan_id"], row["employee_id"], row["manager_id"], row["mentor_id"])

    async def reviews_to_submit(self, cycle_id: str, reviewer_id: str) -> int:
        c = ntf_review_assignments.c
        result = await self.session.execute(
            scoped(
                self.tenant_id,
                select(func.count())
                .select_from(ntf_review_assignments)
                .where(c.cycle_id == cycle_id, c.reviewer_id == reviewer_id, c.submitted.is_(False)),
            )
        )
        return int(result.scalar_one())

    async def name(self, employee_id: str) -> str:
        if employee_id not in self._names:
            found = await self.org.employee(self.session, self.tenant_id, employee_id)
            self._names[employee_id] = found.name if found else employee_id
        return self._names[employee_id]


def _goal(row: object) -> GoalFact:
    r = dict(row)  # type: ignore[call-overload]
    return GoalFact(r["goal_id"], r["level"], r["title"], r["owner_id"], r["parent_id"], r["status"])
