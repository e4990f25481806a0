"""``OrgChart``: a service's own replica of the org, projected from the onboarding stream."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, delete, insert, select, update

from trellis.contracts.envelope import EventEnvelope
from trellis.contracts.onboarding import (
    EmployeeHired,
    EmployeeManagerChanged,
    EmployeeOffboarded,
    EmployeeTeamChanged,
    EmployeeTitleChanged,
    TeamCreated,
    TeamLeadAssigned,
    TeamMoved,
    TeamRenamed,
)
from trellis.core.consuming.projection import Projection, on
from trellis.core.store.tenancy import scoped
from trellis.core.store.transaction import Transaction
from trellis.orgchart.tables import org_employees, org_reporting_lines, org_team_tree, org_teams


class _Closure:
    """A tree kept as its transitive closure: (ancestor, descendant, depth) rows.

    ``with_self`` trees also hold (node, node, 0) for every node (teams: "in the subtree of
    T" includes T); reporting lines do not (nobody reports to themself).
    """

    def __init__(self, table: Table, ancestor: str, descendant: str, *, with_self: bool) -> None:
        self.table = table
        self.anc = table.c[ancestor]
        self.desc = table.c[descendant]
        self.with_self = with_self

    async def place(self, session: Transaction, tenant: str, node: str, parent: str | None) -> None:
        """Put ``node`` (and everything beneath it) under ``parent`` (None: a root)."""
        t = self.table.c.tenant_id
        below = await session.execute(
            select(self.desc, self.table.c.depth).where(t == tenant, self.anc == node, self.table.c.depth > 0)
        )
        subtree = {node: 0, **{row[0]: row[1] for row in below}}
        if parent is not None and parent in subtree:
            raise ValueError(f"placing {node} under {parent} would make a cycle")
        await session.execute(
            delete(self.table).where(t == tenant, self.desc.in_(subtree), self.anc.notin_(subtree))
        )
        if self.with_self:
            exists = await session.execute(
                select(self.anc).where(t == tenant, self.anc == node, self.desc == node)
            )
            if exists.first() is None:
                await session.execute(
                    insert(self.table).values(
                        {"tenant_id": tenant, self.anc.key: node, self.desc.key: node, "depth": 0}
                    )
                )
        if parent is None:
            return
        above = await session.execute(
            select(self.anc, self.table.c.depth).where(
                t == tenant, self.desc == parent, self.table.c.depth > 0
            )
        )
        ancestors = {parent: 0, **{row[0]: row[1] for row in above}}
        rows = [
            {"tenant_id": tenant, self.anc.key: a, self.desc.key: x, "depth": da + 1 + dx}
            for a, da in ancestors.items()
            for x, dx in subtree.items()
        ]
        await session.execute(insert(self.table), rows)


_LINES = _Closure(org_reporting_lines, "manager_id", "employee_id", with_self=False)
_TEAMS = _Closure(org_team_tree, "ancestor_id", "team_id", with_self=True)


class OrgChart(Projection):
    """Employees, reporting lines (any depth) and the team tree, for one consuming service.

    Each service that needs the org keeps its own copy in its own database under its own
    durable consumer: ``OrgChart("goals")`` consumes as ``goals-org-chart``.
    """

    name = "org-chart"
    source = "onboarding"
    tables = (org_employees, org_reporting_lines, org_teams, org_team_tree)

    def __init__(self, service: str) -> None:
        self.name = f"{service}-org-chart"

    @on(EmployeeHired)
    async def hired(self, session: Transaction, ev: EmployeeHired, env: EventEnvelope) -> None:
        await session.execute(
            insert(org_employees).values(
                tenant_id=env.tenant_id,
                employee_id=ev.employee_id,
                name=ev.name,
                email=ev.email,
                title=ev.title,
                team_id=ev.team_id,
                manager_id=ev.manager_id,
                start_date=ev.start_date,
                status="active",
            )
        )
        await _LINES.place(session, env.tenant_id, ev.employee_id, ev.manager_id)

    @on(EmployeeManagerChanged)
    async def manager_changed(
        self, session: Transaction, ev: EmployeeManagerChanged, env: EventEnvelope
    ) -> None:
        await _update_employee(session, env.tenant_id, ev.employee_id, manager_id=ev.manager_id)
        await _LINES.place(session, env.tenant_id, ev.employee_id, ev.manager_id)

    @on(EmployeeTeamChanged)
    async def team_changed(self, session: Transaction, ev: EmployeeTeamChanged, env: EventEnvelope) -> None:
        await _update_employee(session, env.tenant_id, ev.employee_id, team_id=ev.team_id)

    @on(EmployeeTitleChanged)
    async def title_changed(self, session: Transaction, ev: EmployeeTitleChanged, env: EventEnvelope) -> None:
        await _update_employee(session, env.tenant_id, ev.employee_id, title=ev.title)

    @on(EmployeeOffboarded)
    async def offboarded(self, session: Transaction, ev: EmployeeOffboarded, env: EventEnvelope) -> None:
        await _update_employee(session, env.tenant_id, ev.employee_id, status="offboarded")

    @on(TeamCreated)
    async def team_created(self, session: Transaction, ev: TeamCreated, env: EventEnvelope) -> None:
        await session.execute(
            insert(org_teams).values(
                tenant_id=env.tenant_id,
                team_id=ev.team_id,
                name=ev.name,
                parent_team_id=ev.parent_team_id,
                lead_id=ev.lead_id,
            )
        )
        await _TEAMS.place(session, env.tenant_id, ev.team_id, ev.parent_team_id)

    @on(TeamRenamed)
    async def team_renamed(self, session: Transaction, ev: TeamRenamed, env: EventEnvelope) -> None:
        await _update_team(session, env.tenant_id, ev.team_id, name=ev.name)

    @on(TeamMoved)
    async def team_moved(self, session: Transaction, ev: TeamMoved, env: EventEnvelope) -> None:
        await _update_team(session, env.tenant_id, ev.team_id, parent_team_id=ev.parent_team_id)
        await _TEAMS.place(session, env.tenant_id, ev.team_id, ev.parent_team_id)

    @on(TeamLeadAssigned)
    async def lead_assigned(self, session: Transaction, ev: TeamLeadAssigned, env: EventEnvelope) -> None:
        await _update_team(session, env.tenant_id, ev.team_id, lead_id=ev.lead_id)


async def _update_employee(session: Transaction, tenant: str, employee: str, **values: Any) -> None:
    c = org_employees.c
    result = await session.execute(
        scoped(tenant, update(org_employees).where(c.employee_id == employee).values(**values))
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise LookupError(f"employee {employee} is not in the org chart")


async def _update_team(session: Transaction, tenant: str, team: str, **values: Any) -> None:
    c = org_teams.c
    result = await session.execute(
        scoped(tenant, update(org_teams).where(c.team_id == team).values(**values))
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise LookupError(f"team {team} is not in the org chart")
