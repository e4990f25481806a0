"""Check-in schedules and check-ins of one employee (as manager or as report), from ``CheckInBoard``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import or_, select

from trellis.core.store.tenancy import scoped
from trellis.core.store.transaction import Transaction
from trellis.feedback.views.tables import aware, checkin_schedules, checkins


async def schedules_of(session: Transaction, tenant_id: str, employee_id: str) -> list[dict[str, Any]]:
    c = checkin_schedules.c
    rows = await session.execute(
        scoped(
            tenant_id,
            select(checkin_schedules)
            .where(or_(c.manager_id == employee_id, c.report_id == employee_id))
            .order_by(c.schedule_id),
        )
    )
    return [schedule_view(dict(r)) for r in rows.mappings()]


def schedule_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["schedule_id"],
        "manager_id": row["manager_id"],
        "report_id": row["report_id"],
        "cadence": row["cadence"],
        "weekday": row["weekday"],
        "time_of_day": row["time_of_day"],
        "timezone": row["timezone"],
        "grace_hours": row["grace_hours"],
        "starts_on": row["starts_on"].isoformat(),
        "status": row["status"],
        "end_reason": row["end_reason"],
    }


async def checkins_of(
    session: Transaction,
    tenant_id: str,
    employee_id: str,
    *,
    status: str | None = None,
    due_from: dt.datetime | None = None,
    due_before: dt.datetime | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Newest due first."""
    c = checkins.c
    query = scoped(
        tenant_id, select(checkins).where(or_(c.manager_id == employee_id, c.report_id == employee_id))
    )
    if status:
        query = query.where(c.status == status)
    if due_from:
        query = query.where(c.due_at >= due_from.astimezone(dt.UTC))
    if due_before:
        query = query.where(c.due_at < due_before.astimezone(dt.UTC))
    rows = await session.execute(query.order_by(c.due_at.desc()).limit(limit))
    return [
        {
            "id": r["checkin_id"],
            "schedule_id": r["schedule_id"],
            "manager_id": r["manager_id"],
            "report_id": r["report_id"],
            "due_at": aware(r["due_at"]).isoformat(),
            "grace_until": aware(r["grace_until"]).isoformat(),
            "status": r["status"],
            "was_missed": r["was_missed"],
            "late": r["late"],
            "consecutive_misses": r["consecutive_misses"],
            "confidence": r["confidence"],
            "completed_at": aware(r["completed_at"]).isoformat() if r["completed_at"] else None,
        }
        for r in rows.mappings()
    ]
