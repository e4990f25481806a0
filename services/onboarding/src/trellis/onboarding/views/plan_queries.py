"""A plan with its milestones' status; upcoming milestones per manager and mentor; KPIs.

Statuses depend on the day (a milestone becomes late when its due date passes), so
every query takes ``today`` from the service's clock.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, and_, case, func, select

from trellis.core.store.tenancy import scoped
from trellis.core.store.transaction import Transaction
from trellis.onboarding.domain.permissions import responsible_for
from trellis.onboarding.domain.plan import OnboardingPlan
from trellis.onboarding.views.tables import plan_milestones, plan_summaries, template_summaries
from trellis.orgchart.tables import org_employees, org_teams


def plan_view(plan: OnboardingPlan, *, today: dt.date, manager_id: str | None) -> dict[str, Any]:
    """A plan as its events say, with each milestone's status as of ``today``."""
    milestones = sorted(plan.milestones.values(), key=lambda m: (m.due_date, m.milestone_id))
    done = sum(m.done for m in milestones)
    return {
        "plan_id": plan.id,
        "employee_id": plan.employee_id,
        "manager_id": manager_id,
        "mentor_id": plan.mentor_id,
        "team_id": plan.team_id,
        "template_id": plan.template_id,
        "start_date": plan.start_date.isoformat() if plan.start_date else None,
        "status": "completed" if plan.is_completed else "active",
        "completed_on": plan.completed_on.isoformat() if plan.completed_on else None,
        "share_done": round(done / len(milestones), 4) if milestones else 0.0,
        "version": plan.version,
        "as_of": today.isoformat(),
        "milestones": [
            {
                "milestone_id": m.milestone_id,
                "title": m.title,
                "assignee": m.assignee,
                "responsible_id": responsible_for(
                    m, employee_id=plan.employee_id, manager_id=manager_id, mentor_id=plan.mentor_id
                ),
                "due_date": m.due_date.isoformat(),
                "status": m.status(today),
                "completed_on": m.completed_on.isoformat() if m.completed_on else None,
                "completed_by": m.completed_by,
                "late": m.late,
                "was_missed": m.was_missed,
                "missed_due_dates": [d.isoformat() for d in m.missed_due_dates],
                "goal_id": m.goal_id,
                "training_id": m.training_id,
                "enrolment_id": m.enrolment_id,
            }
            for m in milestones
        ],
    }


def _open_status(row: Any, today: dt.date) -> str:
    if row["missed"]:
        return "missed"
    return "late" if today > row["due_date"] else "upcoming"


def _upcoming(query: Select[Any], today: dt.date, within_days: int | None) -> Select[Any]:
    m = plan_milestones.c
    query = query.where(m.completed_on.is_(None))
    if within_days is not None:
        query = query.where(m.due_date <= today + dt.timedelta(days=within_days))
    return query.order_by(m.due_date, m.employee_id, m.milestone_id)


def _item(row: Any, today: dt.date, responsible: str | None) -> dict[str, Any]:
    return {
        "plan_id": row["plan_id"],
        "employee_id": row["employee_id"],
        "employee_name": row["name"],
        "milestone_id": row["milestone_id"],
        "title": row["title"],
        "assignee": row["assignee"],
        "responsible_id": responsible,
        "due_date": row["due_date"].isoformat(),
        "status": _open_status(row, today),
    }


async def upcoming_for_manager(
    session: Transaction, tenant_id: str, manager_id: str, *, today: dt.date, within_days: int | None
) -> list[dict[str, Any]]:
    """Open milestones of the new hires who report to ``manager_id`` today (overdue ones first)."""
    m, e, s = plan_milestones.c, org_employees.c, plan_summaries.c
    query = scoped(
        tenant_id,
        select(plan_milestones, e.name, s.mentor_id)
        .join(org_employees, and_(e.tenant_id == m.tenant_id, e.employee_id == m.employee_id))
        .join(plan_summaries, s.plan_id == m.plan_id)
        .where(e.manager_id == manager_id, e.status == "active"),
    )
    rows = await session.execute(_upcoming(query, today, within_days))
    return [
        _item(
            r,
            today,
            {"new_hire": r["employee_id"], "manager": manager_id, "mentor": r["mentor_id"]}[r["assignee"]],
        )
        for r in rows.mappings()
    ]


async def upcoming_for_mentor(
    session: Transaction, tenant_id: str, mentor_id: str, *, today: dt.date, within_days: int | None
) -> list[dict[str, Any]]:
    """Open milestones of the new hires ``mentor_id`` mentors."""
    m, e, s = plan_milestones.c, org_employees.c, plan_summaries.c
    query = scoped(
        tenant_id,
        select(plan_milestones, e.name, e.manager_id)
        .join(plan_summaries, s.plan_id == m.plan_id)
        .join(org_employees, and_(e.tenant_id == m.tenant_id, e.employee_id == m.employee_id))
        .where(s.mentor_id == mentor_id, e.status == "active"),
    )
    rows = await session.execute(_upcoming(query, today, within_days))
    return [
        _item(
            r,
            today,
            {"new_hire": r["employee_id"], "manager": r["manager_id"], "mentor": mentor_id}[r["assignee"]],
        )
        for r in rows.mappings()
    ]


def _counts(group: Any, today: dt.date) -> Select[Any]:
    m = plan_milestones.c
    done, open_ = m.completed_on.is_not(None), m.completed_on.is_(None)

    def count(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    return select(
        group.label("group_id"),
        func.count().label("milestones"),
        count(done).label("completed"),
        count(and_(done, m.late.is_(False))).label("completed_on_time"),
        count(and_(done, m.late.is_(True))).label("completed_late"),
        count(and_(open_, m.missed.is_(True))).label("missed"),
        count(and_(open_, m.missed.is_(False), m.due_date < today)).label("overdue"),
        count(and_(open_, m.missed.is_(False), m.due_date >= today)).label("upcoming"),
    ).group_by(group)


def _kpi(row: Any) -> dict[str, Any]:
    counts = {
        k: int(row[k])
        for k in (
            "milestones",
            "completed",
            "completed_on_time",
            "completed_late",
            "missed",
            "overdue",
            "upcoming",
        )
    }
    decided = counts["completed"] + counts["missed"] + counts["overdue"]
    return {**counts, "on_time_rate": round(counts["completed_on_time"] / decided, 4) if decided else None}


async def kpis(session: Transaction, tenant_id: str, *, today: dt.date) -> dict[str, Any]:
    """Milestones completed on time, per team (the new hire's team when the plan started)
    and per template. ``on_time_rate``: on time / (completed + missed + overdue), i.e. among
    the milestones whose outcome is known; None while there are none."""
    m = plan_milestones.c
    t, tpl = org_teams.c, template_summaries.c
    team_rows = (await session.execute(scoped(tenant_id, _counts(m.team_id, today)))).mappings().all()
    template_rows = (await session.execute(scoped(tenant_id, _counts(m.template_id, today)))).mappings().all()
    team_rows_named = await session.execute(scoped(tenant_id, select(t.team_id, t.name)))
    team_names = {row[0]: row[1] for row in team_rows_named}
    template_rows_named = await session.execute(scoped(tenant_id, select(tpl.template_id, tpl.name)))
    template_names = {row[0]: row[1] for row in template_rows_named}
    return {
        "as_of": today.isoformat(),
        "by_team": [
            {"team_id": r["group_id"], "team_name": team_names.get(r["group_id"]), **_kpi(r)}
            for r in sorted(team_rows, key=lambda r: (r["group_id"] is None, r["group_id"] or ""))
        ],
        "by_template": [
            {"template_id": r["group_id"], "template_name": template_names.get(r["group_id"]), **_kpi(r)}
            for r in sorted(template_rows, key=lambda r: (r["group_id"] is None, r["group_id"] or ""))
        ],
    }


async def templates(
    session: Transaction, tenant_id: str, *, include_retired: bool = False
) -> list[dict[str, Any]]:
    c = template_summaries.c
    query = scoped(tenant_id, select(template_summaries))
    if not include_retired:
        query = query.where(c.retired.is_(False))
    rows = await session.execute(query.order_by(c.name))
    return [
        {
            "template_id": r["template_id"],
            "name": r["name"],
            "milestones": r["milestones"],
            "retired": r["retired"],
        }
        for r in rows.mappings()
    ]
