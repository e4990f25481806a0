"""The recognition wall: a tenant's recognitions, newest first, optionally filtered."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select

from trellis.core.runtime import cursors
from trellis.core.store.tenancy import scoped
from trellis.core.store.transaction import Transaction
from trellis.feedback.views.tables import aware, recognition_recipients, recognitions


async def wall(
    session: Transaction,
    tenant_id: str,
    *,
    recipient_id: str | None = None,
    value: str | None = None,
    objective_id: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Newest first (ids are time-ordered); ``cursor`` is the ``next`` of the previous page."""
    c, rr = recognitions.c, recognition_recipients.c
    query = scoped(tenant_id, select(recognitions))
    if recipient_id:
        query = query.where(
            c.recognition_id.in_(
                scoped(tenant_id, select(rr.recognition_id).where(rr.recipient_id == recipient_id))
            )
        )
    if value:
        query = query.where(c.value == value)
    if objective_id:
        query = query.where(c.objective_id == objective_id)
    if cursor:
        (before,) = cursors.decode(cursor, str)
        query = query.where(c.recognition_id < before)
    rows = [
        dict(r)
        for r in (await session.execute(query.order_by(c.recognition_id.desc()).limit(limit + 1))).mappings()
    ]
    more = len(rows) > limit
    rows = rows[:limit]
    recipients: dict[str, list[str]] = defaultdict(list)
    if rows:
        found = await session.execute(
            select(rr.recognition_id, rr.recipient_id)
            .where(rr.recognition_id.in_([r["recognition_id"] for r in rows]))
            .order_by(rr.recipient_id)
        )
        for recognition_id, recipient in found:
            recipients[recognition_id].append(recipient)
    return {
        "items": [
            {
                "id": r["recognition_id"],
                "giver_id": r["giver_id"],
                "recipient_ids": recipients[r["recognition_id"]],
                "message": r["message"],
                "objective_id": r["objective_id"],
                "value": r["value"],
                "given_at": aware(r["given_at"]).isoformat(),
            }
            for r in rows
        ],
        "next": cursors.encode(rows[-1]["recognition_id"]) if more else None,
    }
