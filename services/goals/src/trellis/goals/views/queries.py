"""Plain queries over the goals read views, always scoped to one tenant."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select

from trellis.core.store.tenancy import TENANT, scoped
from trellis.core.store.transaction import Transaction
from trellis.goals.domain.goal import Goal
from trellis.goals.domain.pace import Thresholds, pace_of
from trellis.goals.domain.progress import Child, goal_progress
from trellis.goals.views.tables import goal_key_results, goal_nodes
from trellis.orgchart.tables import org_employees, org_reporting_lines


async def _tenant_nodes(session: Transaction, tenant_id: str) -> list[dict[str, Any]]:
    result = await session.execute(scoped(tenant_id, select(goal_nodes).order_by(goal_nodes.c.created_at)))
    return [dict(row) for row in result.mappings()]


async def _key_results(session: Transaction, tenant_id: str) -> dict[str, list[dict[str, Any]]]:
    result = await session.execute(scoped(tenant_id, select(goal_key_results)))
    by_goal: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in result.mappings():
        kr = dict(row)
        by_goal[kr.pop("goal_id")].append(kr)
    return by_goal


@dataclass(frozen=True)
class PaceRule:
    """The day pace is measured on (the service's clock) and the thresholds it uses."""

    today: dt.date
    thresholds: Thresholds


def pace_view(
    rule: PaceRule | None,
    *,
    period: str,
    start_date: dt.date | None,
    due_date: dt.date | None,
    progress: float,
    status: str,
    status_by_hand: bool,
    created_on: dt.date,
) -> dict[str, Any] | None:
    """Where a goal stands by pace, and which status wins now: one set by hand since the
    last progress update, else the one by pace."""
    if rule is None:
        return None
    pace = pace_of(
        period=period,
        start_date=start_date,
        due_date=due_date,
        progress=progress,
        status=status,
        today=rule.today,
        created_on=created_on,
        thresholds=rule.thresholds,
    )
    if pace is None:
        return None
    return {
        "start_date": pace.start.isoformat(),
        "due_date": pace.due.isoformat(),
        "expected_progress": pace.expected,
        "status": pace.status,
        "reason": pace.reason,
        "effective_status": status if status_by_hand else pace.status,
        "effective_because": "set by hand since the last progress update" if status_by_hand else "by pace",
    }


def node_view(
    node: dict[str, Any], key_results: list[dict[str, Any]] | None = None, rule: PaceRule | None = None
) -> dict[str, Any]:
    return {
        "id": node["goal_id"],
        "level": node["level"],
        "title": node["title"],
        "description": node["description"],
        "owner_id": node["owner_id"],
        "team_id": node["team_id"],
        "period": node["period"],
        "start_date": node["start_date"].isoformat() if node["start_date"] else None,
        "due_date": node["due_date"].isoformat() if node["due_date"] else None,
        "status": node["status"],
        "parent_id": node["parent_id"],
        "progress": node["progress"],
        "progress_rollup": node["progress_rollup"],
        "weight": node["weight"],
        "kind": node["kind"],
        "needs_realignment": bool(node["realignment_causes"]),
        "pace": pace_view(
            rule,
            period=node["period"],
            start_date=node["start_date"],
            due_date=node["due_date"],
            progress=node["progress"],
            status=node["status"],
            status_by_hand=node["status_by_hand"],
            created_on=node["created_at"].date(),
        ),
        "version": node["version"],
        "key_results": [
            {
                "id": kr["key_result_id"],
                "name": kr["name"],
                "start": kr["start"],
                "target": kr["target"],
                "current": kr["current"],
                "unit": kr["unit"],
                "weight": kr["weight"],
                "progress": kr["progress"],
                "confidence": kr["confidence"],
            }
            for kr in (key_results or [])
        ],
    }


class GoalView(dict[str, Any]):
    """A goal as the read view shows it, and its aligned children's roll-up inputs.

    The children travel beside the answer, not in it, for a read that must be answered
    from the goal's events because the view lags (``goal_from_aggregate``).
    """

    children: list[Child]
    created_on: dt.date

    def __init__(self, view: dict[str, Any], children: list[Child], created_on: dt.date) -> None:
        super().__init__(view)
        self.children = children
        self.created_on = created_on


def progress_from_aggregate(goal: Goal, children: list[Child]) -> float:
    """The goal's rolled-up progress from its events and its aligned children as the view has
    them: what the view will show once it has applied the goal's events."""
    return goal_progress(goal.progress_rollup, goal.progress_of_key_results(), children, goal.is_completed)


def goal_from_aggregate(
    goal: Goal, stale: dict[str, Any] | None, rule: PaceRule | None = None
) -> dict[str, Any]:
    """A goal's view computed from its events, for the moment before the read view has it.

    It gives what the view will once it has applied the goal's events: the same rule
    (``goal_progress``) over the goal's key results as of its events and its aligned
    children as the view has them (a child's progress lives only in the view; a write to
    this goal does not change them). A goal the view does not have yet has none there:
    the stream brings a goal's creation before any child's alignment to it.
    """
    progress = progress_from_aggregate(goal, stale.children if isinstance(stale, GoalView) else [])
    return {
        "id": goal.id,
        "level": goal.level,
        "title": goal.title,
        "description": goal.description,
        "owner_id": goal.owner_id,
        "team_id": goal.team_id,
        "period": goal.period,
        "start_date": goal.start_date.isoformat() if goal.start_date else None,
        "due_date": goal.due_date.isoformat() if goal.due_date else None,
        "status": goal.status,
        "parent_id": goal.parent_id,
        "progress": progress,
        "progress_rollup": goal.progress_rollup,
        "weight": goal.weight,
        "kind": goal.kind,
        "needs_realignment": bool(goal.pending_realignments),
        "pace": pace_view(
            rule,
            period=goal.period,
            start_date=goal.start_date,
            due_date=goal.due_date,
            progress=progress,
            status=goal.status,
            status_by_hand=goal.status_by_hand,
            # a goal the view does not have yet was created just now
            created_on=stale.created_on
            if isinstance(stale, GoalView)
            else rule.today
            if rule
            else dt.date.min,
        ),
        "version": goal.version,
        "key_results": [
            {
                "id": kr_id,
                "name": kr.name,
                "start": kr.start,
                "target": kr.target,
                "current": kr.current,
                "unit": kr.unit,
                "weight": kr.weight,
                "progress": kr.progress,
                "confidence": kr.confidence,
            }
            for kr_id, kr in goal.key_results.items()
        ],
    }


async def goal_node(
    session: Transaction, tenant_id: str, goal_id: str, rule: PaceRule | None = None
) -> GoalView | None:
    row = (
        (await session.execute(scoped(tenant_id, select(goal_nodes).where(goal_nodes.c.goal_id == goal_id))))
        .mappings()
        .first()
    )
    if row is None:
        return None
    krs = await session.execute(
        # key result ids are time-ordered (uuid7): creation order, as the goal's events list them
        scoped(
            tenant_id,
            select(goal_key_results)
            .where(goal_key_results.c.goal_id == goal_id)
            .order_by(goal_key_results.c.key_result_id),
        )
    )
    c = goal_nodes.c
    children = await session.execute(
        scoped(tenant_id, select(c.progress, c.weight, c.status).where(c.parent_id == goal_id))
    )
    return GoalView(
        node_view(dict(row), [dict(kr) for kr in krs.mappings()], rule),
        [(child.progress, child.weight, child.status) for child in children],
        row["created_at"].date(),
    )


# What a pace check reads of the view (``reactions/pace_watch``), on statements built once:
# the day the goal was created, and its aligned children's roll-up inputs. It went through
# ``goal_node`` (three statements built per call, the whole node's view with its key
# results), two thirds of a check under py-spy; the goals' pace checks, forty at a time
# every five seconds, held the service for ~100 ms (docs/performance.md).
_CREATED_AT = scoped(
    TENANT, select(goal_nodes.c.created_at).where(goal_nodes.c.goal_id == bindparam("goal_id"))
)
_CHILDREN = scoped(
    TENANT,
    select(goal_nodes.c.progress, goal_nodes.c.weight, goal_nodes.c.status).where(
        goal_nodes.c.parent_id == bindparam("goal_id")
    ),
)


async def pace_inputs(
    session: Transaction, tenant_id: str, goal_id: str
) -> tuple[dt.date | None, list[Child]]:
    """When the view has the goal created (None: not yet), and its aligned children."""
    params = {"tenant": tenant_id, "goal_id": goal_id}
    created_at = (await session.execute(_CREATED_AT, params)).scalar()
    if created_at is None:
        return None, []
    children = await session.execute(_CHILDREN, params)
    return created_at.date(), [(row.progress, row.weight, row.status) for row in children]


async def alignment_tree(
    session: Transaction,
    tenant_id: str,
    *,
    include_retired: bool = False,
    rule: PaceRule | None = None,
    visible: Callable[[dict[str, Any]], bool] = lambda node: True,
) -> list[dict[str, Any]]:
    """The forest of goals: company objectives and unaligned goals at the roots (those
    ``visible`` keeps: a development goal is shown to few)."""
    nodes = [n for n in await _tenant_nodes(session, tenant_id) if visible(n)]
    krs = await _key_results(session, tenant_id)
    views = {
        n["goal_id"]: {**node_view(n, krs.get(n["goal_id"]), rule), "children": []}
        for n in nodes
        if include_retired or n["status"] != "retired"
    }
    roots: list[dict[str, Any]] = []
    for view in views.values():
        parent = views.get(view["parent_id"]) if view["parent_id"] else None
        (parent["children"] if parent else roots).append(view)
    return roots


def _subtrees(nodes: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    children: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for n in nodes:
        if n["parent_id"] and n["status"] != "retired":
            children[n["parent_id"]].append(n)
    return children


def _beneath(goal_id: str, children: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    out, stack, seen = [], list(children.get(goal_id, [])), {goal_id}
    while stack:
        node = stack.pop()
        if node["goal_id"] in seen:
            continue
        seen.add(node["goal_id"])
        out.append(node)
        stack.extend(children.get(node["goal_id"], []))
    return out


async def company_objectives(session: Transaction, tenant_id: str) -> list[dict[str, Any]]:
    """The one-page list: each live company objective, its progress, and who works under it."""
    nodes = await _tenant_nodes(session, tenant_id)
    children = _subtrees(nodes)
    out = []
    for n in nodes:
        if n["level"] != "company" or n["status"] == "retired":
            continue
        beneath = _beneath(n["goal_id"], children)
        out.append(
            {
                "id": n["goal_id"],
                "title": n["title"],
                "owner_id": n["owner_id"],
                "period": n["period"],
                "status": n["status"],
                "progress": n["progress"],
                "goals_aligned": len(beneath),
                "people_aligned": len({g["owner_id"] for g in beneath}),
            }
        )
    return out


async def alignment_coverage(
    session: Transaction, tenant_id: str, *, period: str | None = None, manager_id: str | None = None
) -> dict[str, Any]:
    """How much of the work, and how many of the people, ladder up to a company objective.

    Goals counted are the live team and individual goals (of ``period``, if given).
    People counted are everyone active in the org replica (the reports of ``manager_id``
    at any depth, if given), not only the owners of goals: someone with no goal at all is
    not aligned. ``per_team`` splits the people by their team.
    """
    nodes = [n for n in await _tenant_nodes(session, tenant_id) if n["status"] != "retired"]
    by_id = {n["goal_id"]: n for n in nodes}
    children = _subtrees(nodes)

    def reaches_company(node: dict[str, Any]) -> bool:
        seen: set[str] = set()
        while node["parent_id"] and node["parent_id"] not in seen:
            seen.add(node["parent_id"])
            parent = by_id.get(node["parent_id"])
            if parent is None:
                return False
            if parent["level"] == "company":
                return True
            node = parent
        return False

    in_period = [n for n in nodes if period is None or n["period"] == period]
    work = [n for n in in_period if n["level"] != "company"]
    aligned = [n for n in work if reaches_company(n)]
    aligned_owners = {n["owner_id"] for n in aligned}
    people = await _active_people(session, tenant_id, manager_id)
    aligned_people = {p for p in people if p in aligned_owners}
    teams: dict[str | None, list[str]] = defaultdict(list)
    for person, team in people.items():
        teams[team].append(person)
    unstaffed = [
        {"id": n["goal_id"], "title": n["title"]}
        for n in in_period
        if n["level"] == "company" and not _beneath(n["goal_id"], children)
    ]
    return {
        "period": period,
        "manager_id": manager_id,
        "goals": len(work),
        "goals_aligned": len(aligned),
        "goal_coverage": _share(len(aligned), len(work)),
        "people": len(people),
        "people_aligned": len(aligned_people),
        "people_coverage": _share(len(aligned_people), len(people)),
        "people_without_aligned_goal": sorted(set(people) - aligned_people),
        "per_team": [
            {
                "team_id": team,
                "people": len(members),
                "people_aligned": sum(m in aligned_people for m in members),
                "people_coverage": _share(sum(m in aligned_people for m in members), len(members)),
            }
            for team, members in sorted(teams.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))
        ],
        "objectives_without_aligned_goals": unstaffed,
    }


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


async def _active_people(
    session: Transaction, tenant_id: str, manager_id: str | None
) -> dict[str, str | None]:
    """Active employee → team, from the org replica (reports of ``manager_id`` only, if given)."""
    e, lines = org_employees.c, org_reporting_lines.c
    query = select(e.employee_id, e.team_id).where(e.status == "active")
    if manager_id is not None:
        query = query.join(
            org_reporting_lines, (lines.tenant_id == e.tenant_id) & (lines.employee_id == e.employee_id)
        ).where(lines.manager_id == manager_id)
    rows = await session.execute(scoped(tenant_id, query))
    return {employee: team for employee, team in rows}


async def employee_goals(
    session: Transaction,
    tenant_id: str,
    employee_id: str,
    rule: PaceRule | None = None,
    visible: Callable[[dict[str, Any]], bool] = lambda node: True,
) -> list[dict[str, Any]]:
    result = await session.execute(
        scoped(
            tenant_id,
            select(goal_nodes).where(goal_nodes.c.owner_id == employee_id).order_by(goal_nodes.c.created_at),
        )
    )
    nodes = [node for node in map(dict, result.mappings()) if visible(node)]
    krs = await _key_results(session, tenant_id)
    return [node_view(n, krs.get(n["goal_id"]), rule) for n in nodes]
