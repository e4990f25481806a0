"""Plain queries over the org chart replica (``trellis.orgchart`` tables), scoped to a tenant."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select

from trellis.core.errors import NotFound
from trellis.core.store.tenancy import scoped
from trellis.core.store.transaction import Transaction
from trellis.orgchart.tables import org_employees, org_reporting_lines, org_teams


def person(row: Any) -> dict[str, Any]:
    return {
        "id": row["employee_id"],
        "name": row["name"],
        "email": row["email"],
        "title": row["title"],
        "team_id": row["team_id"],
        "manager_id": row["manager_id"],
        "start_date": row["start_date"].isoformat(),
        "status": row["status"],
    }


async def employees(
    session: Transaction, tenant_id: str, *, team_id: str | None = None, include_offboarded: bool = False
) -> list[dict[str, Any]]:
    c = org_employees.c
    query = scoped(tenant_id, select(org_employees))
    if team_id is not None:
        query = query.where(c.team_id == team_id)
    if not include_offboarded:
        query = query.where(c.status == "active")
    rows = await session.execute(query.order_by(c.name, c.employee_id))
    return [person(r) for r in rows.mappings()]


async def _employee_row(session: Transaction, tenant_id: str, employee_id: str) -> Any:
    c = org_employees.c
    row = (
        (await session.execute(scoped(tenant_id, select(org_employees).where(c.employee_id == employee_id))))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"employee {employee_id} not found")
    return row


async def reports(session: Transaction, tenant_id: str, manager_id: str) -> dict[str, Any]:
    """Who reports to ``manager_id``: directly, and indirectly (at any depth below)."""
    await _employee_row(session, tenant_id, manager_id)
    lines, e = org_reporting_lines.c, org_employees.c
    rows = await session.execute(
        scoped(
            tenant_id,
            select(org_employees, lines.depth)
            .join(
                org_reporting_lines, (lines.tenant_id == e.tenant_id) & (lines.employee_id == e.employee_id)
            )
            .where(lines.manager_id == manager_id)
            .order_by(lines.depth, e.name, e.employee_id),
        )
    )
    found = [{**person(r), "depth": r["depth"]} for r in rows.mappings()]
    return {
        "manager_id": manager_id,
        "direct": [p for p in found if p["depth"] == 1],
        "indirect": [p for p in found if p["depth"] > 1],
    }


async def manager_chain(session: Transaction, tenant_id: str, employee_id: str) -> dict[str, Any]:
    """The employee's manager, their manager, and so on to the top (nearest first)."""
    await _employee_row(session, tenant_id, employee_id)
    lines, e = org_reporting_lines.c, org_employees.c
    rows = await session.execute(
        scoped(
            tenant_id,
            select(org_employees, lines.depth)
            .join(org_reporting_lines, (lines.tenant_id == e.tenant_id) & (lines.manager_id == e.employee_id))
            .where(lines.employee_id == employee_id)
            .order_by(lines.depth),
        )
    )
    return {
        "employee_id": employee_id,
        "chain": [{**person(r), "depth": r["depth"]} for r in rows.mappings()],
    }


async def teams(session: Transaction, tenant_id: str) -> list[dict[str, Any]]:
    rows = await session.execute(scoped(tenant_id, select(org_teams).order_by(org_teams.c.name)))
    return [_team(r) for r in rows.mappings()]


async def team(session: Transaction, tenant_id: str, team_id: str) -> dict[str, Any]:
    t = org_teams.c
    row = (
        (await session.execute(scoped(tenant_id, select(org_teams).where(t.team_id == team_id))))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"team {team_id} not found")
    subteams = await session.execute(
        scoped(tenant_id, select(t.team_id).where(t.parent_team_id == team_id).order_by(t.name))
    )
    return {
        **_team(row),
        "members": await employees(session, tenant_id, team_id=team_id),
        "subteam_ids": list(subteams.scalars()),
    }


def _team(row: Any) -> dict[str, Any]:
    return {
        "id": row["team_id"],
        "name": row["name"],
        "parent_team_id": row["parent_team_id"],
        "lead_id": row["lead_id"],
    }


async def org_chart(session: Transaction, tenant_id: str) -> dict[str, Any]:
    """The tree of teams (with their members) and the tree of reporting lines."""
    people = await employees(session, tenant_id)
    by_team: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for p in people:
        by_team[p["team_id"]].append({"id": p["id"], "name": p["name"], "title": p["title"]})
    team_nodes = {
        t["id"]: {**t, "members": by_team.get(t["id"], []), "teams": []}
        for t in await teams(session, tenant_id)
    }
    team_roots: list[dict[str, Any]] = []
    for node in team_nodes.values():
        parent = team_nodes.get(node["parent_team_id"]) if node["parent_team_id"] else None
        (parent["teams"] if parent else team_roots).append(node)
    person_nodes = {
        p["id"]: {
            "id": p["id"],
            "name": p["name"],
            "title": p["title"],
            "team_id": p["team_id"],
            "reports": [],
        }
        for p in people
    }
    people_roots: list[dict[str, Any]] = []
    for p in people:
        manager = person_nodes.get(p["manager_id"]) if p["manager_id"] else None
        (manager["reports"] if manager else people_roots).append(person_nodes[p["id"]])
    return {
        "teams": team_roots,
        "without_team": [m for m in by_team.get(None, [])],
        "reporting_lines": people_roots,
    }
