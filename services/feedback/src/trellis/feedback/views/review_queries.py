"""Review cycles of a tenant and the reviews a person has to write, from ``ReviewProgress``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from trellis.core.store.tenancy import scoped
from trellis.core.store.transaction import Transaction
from trellis.feedback.views.tables import aware, review_assignments, review_cycles


async def cycles(session: Transaction, tenant_id: str) -> list[dict[str, Any]]:
    c = review_cycles.c
    rows = await session.execute(scoped(tenant_id, select(review_cycles).order_by(c.cycle_id.desc())))
    return [cycle_view(dict(r)) for r in rows.mappings()]


def cycle_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["cycle_id"],
        "name": row["name"],
        "period": row["period"],
        "team_id": row["team_id"],
        "deadline": aware(row["deadline"]).isoformat(),
        "status": row["status"],
        "closed_by": row["closed_by"],
    }


async def assignments_of(session: Transaction, tenant_id: str, reviewer_id: str) -> list[dict[str, Any]]:
    """Every review ``reviewer_id`` is asked to write, in every cycle, with whether it is done."""
    a = review_assignments.c
    rows = await session.execute(
        scoped(
            tenant_id,
            select(review_assignments)
            .where(a.reviewer_id == reviewer_id)
            .order_by(a.cycle_id.desc(), a.review_id),
        )
    )
    return [
        {
            "cycle_id": r["cycle_id"],
            "review_id": r["review_id"],
            "kind": r["kind"],
            "subject_id": r["subject_id"],
            "reviewer_id": r["reviewer_id"],
            "submitted": r["submitted_at"] is not None,
        }
        for r in rows.mappings()
    ]
