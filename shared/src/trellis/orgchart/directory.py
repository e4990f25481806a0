"""``OrgDirectory``: questions about the org, answered from a service's org chart replica.

Every question is scoped to one tenant. Answers are as current as the replica (the
onboarding stream, milliseconds behind).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select

from trellis.core.store.tenancy import TENANT, scoped
from trellis.core.store.transaction import Transaction
from trellis.orgchart.tables import org_employees, org_reporting_lines, org_team_tree, org_teams


@dataclass(frozen=True)
class Employee:
    employee_id: str
    name: str
    email: str
    title: str
    team_id: str | None
    manager_id: str | None
    active: bool


# the questions every command asks (a permission check), built once
_e, _r = org_employees.c, org_reporting_lines.c
_EMPLOYEE = scoped(TENANT, select(org_employees).where(_e.employee_id == bindparam("employee_id")))
_MANAGER_CHAIN = scoped(
    TENANT, select(_r.manager_id).where(_r.employee_id == bindparam("employee_id")).order_by(_r.depth)
)
_MANAGES = scoped(
    TENANT,
    select(_r.depth).where(
        _r.manager_id == bindparam("manager_id"), _r.employee_id == bindparam("employee_id")
    ),
)
_MANAGES_DIRECTLY = _MANAGES.where(_r.depth == 1)


class OrgDirectory:
    """Read-only questions about the org chart replica."""

    async def employee(self, session: Transaction, tenant_id: str, employee_id: str) -> Employee | None:
        result = await session.execute(_EMPLOYEE, {"tenant": tenant_id, "employee_id": employee_id})
        row = result.mappings().first()
        return _employee(row) if row else None

    async def employees(self, session: Transaction, tenant_id: str, ids: list[str]) -> dict[str, Employee]:
        if not ids:
            return {}
        c = org_employees.c
        rows = await session.execute(scoped(tenant_id, select(org_employees).where(c.employee_id.in_(ids))))
        return {row["employee_id"]: _employee(row) for row in rows.mappings()}

    async def manager_of(self, session: Transaction, tenant_id: str, employee_id: str) -> str | None:
        found = await self.employee(session, tenant_id, employee_id)
        return found.manager_id if found else None

    async def manager_chain(self, session: Transaction, tenant_id: str, employee_id: str) -> list[str]:
        """The employee's manager, their manager, and so on up (nearest first)."""
        rows = await session.execute(_MANAGER_CHAIN, {"tenant": tenant_id, "employee_id": employee_id})
        return list(rows.scalars())

    async def manages(
        self,
        session: Transaction,
        tenant_id: str,
        manager_id: str,
        employee_id: str,
        *,
        indirect: bool = True,
    ) -> bool:
        """Whether ``employee_id`` reports to ``manager_id`` (at any depth unless not ``indirect``)."""
        if manager_id == employee_id:
            return False
        found = await session.execute(
            _MANAGES if indirect else _MANAGES_DIRECTLY,
            {"tenant": tenant_id, "manager_id": manager_id, "employee_id": employee_id},
        )
        return found.first() is not None

    async def reports(
        self, session: Transaction, tenant_id: str, manager_id: str, *, indirect: bool = False
    ) -> list[str]:
        """Who reports to ``manager_id``: directly, or at any depth."""
        c = org_reporting_lines.c
        query = scoped(tenant_id, select(c.employee_id).where(c.manager_id == manager_id))
        if not indirect:
            query = query.where(c.depth == 1)
        rows = await session.execute(query.order_by(c.depth, c.employee_id))
        return list(rows.scalars())

    async def team_members(
        self,
        session: Transaction,
        tenant_id: str,
        team_id: str,
        *,
        subtree: bool = True,
        active: bool = True,
    ) -> list[str]:
        """Employees of ``team_id`` (and of every team beneath it, with ``subtree``)."""
        e = org_employees.c
        teams = [team_id]
        if subtree:
            teams = await self.subteams(session, tenant_id, team_id)
        query = scoped(tenant_id, select(e.employee_id).where(e.team_id.in_(teams)))
        if active:
            query = query.where(e.status == "active")
        return list((await session.execute(query.order_by(e.employee_id))).scalars())

    async def subteams(self, session: Transaction, tenant_id: str, team_id: str) -> list[str]:
        """``team_id`` and every team beneath it."""
        t = org_team_tree.c
        rows = await session.execute(
            scoped(tenant_id, select(t.team_id).where(t.ancestor_id == team_id).order_by(t.depth))
        )
        return list(rows.scalars()) or [team_id]

    async def team(self, session: Transaction, tenant_id: str, team_id: str) -> dict[str, Any] | None:
        c = org_teams.c
        row = (
            (await session.execute(scoped(tenant_id, select(org_teams).where(c.team_id == team_id))))
            .mappings()
            .first()
        )
        return dict(row) if row else None


def _employee(row: Any) -> Employee:
    return Employee(
        employee_id=row["employee_id"],
        name=row["name"],
        email=row["email"],
        title=row["title"],
        team_id=row["team_id"],
        manager_id=row["manager_id"],
        active=row["status"] == "active",
    )
