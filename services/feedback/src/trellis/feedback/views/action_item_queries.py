"""Which action items are on an employee's list, from ``ActionItemBoard``: those they own, and
those of the 1:1s they hold now (as manager or report, per ``CheckInBoard``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from trellis.core.store.tenancy import scoped
from trellis.core.store.transaction import Transaction
from trellis.feedback.views.tables import action_items, checkin_schedules


async def action_items_of(
    session: Transaction,
    tenant_id: str,
    employee_id: str,
    *,
    status: str | None = None,
    owner_id: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """(action item id, schedule id) rows, those due first (no due date last), oldest first."""
    c, s = action_items.c, checkin_schedules.c
    held = scoped(
        tenant_id,
        select(s.schedule_id).where(or_(s.manager_id == employee_id, s.report_id == employee_id)),
    )
    query = scoped(
        tenant_id,
        select(c.action_item_id, c.schedule_id).where(
            or_(c.owner_id == employee_id, c.schedule_id.in_(held))
        ),
    )
    if status:
        query = query.where(c.status == status)
    if owner_id:
        query = query.where(c.owner_id == owner_id)
    query = query.order_by(c.due_on.is_(None), c.due_on, c.assigned_at, c.action_item_id).limit(limit)
    return [dict(r) for r in (await session.execute(query)).mappings()]
