"""Feedback lists, each filtered through one condition: ``readable``.

``readable(viewer)`` is the visibility rule of ``trellis.feedback.domain.visibility`` as
SQL, scoped to the viewer's tenant: every list (received, given, about a goal, requests)
goes through it, so no path can forget it. Bodies come from the private
``FeedbackBodyRecorded`` events in the service's own event store, only for the rows the
condition let through.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select

from trellis.contracts.feedback import FeedbackBodyRecorded, registry
from trellis.core.runtime import cursors
from trellis.core.runtime.auth import Actor
from trellis.core.store.tables import events
from trellis.core.store.tenancy import scoped
from trellis.core.store.transaction import Transaction
from trellis.feedback.views.tables import aware, feedback_items, feedback_requests
from trellis.orgchart.tables import org_reporting_lines

_f = feedback_items.c


def readable(viewer: Actor) -> ColumnElement[bool]:
    """Feedback ``viewer`` may read: theirs to receive, theirs given (never anonymous: those
    have no giver), public, or shared with the manager line of someone they manage."""
    r = org_reporting_lines.c
    managed = scoped(viewer.tenant_id, select(r.employee_id).where(r.manager_id == viewer.employee_id))
    return and_(
        _f.tenant_id == viewer.tenant_id,
        or_(
            _f.recipient_id == viewer.employee_id,
            _f.giver_id == viewer.employee_id,
            _f.visibility == "public",
            and_(_f.visibility == "manager", _f.recipient_id.in_(managed)),
        ),
    )


async def page(
    session: Transaction,
    viewer: Actor,
    *conditions: ColumnElement[bool],
    limit: int = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Newest first (ids are time-ordered); ``cursor`` is the ``next`` of the previous page."""
    query = select(feedback_items).where(readable(viewer), *conditions)
    if cursor:
        (before,) = cursors.decode(cursor, str)
        query = query.where(_f.feedback_id < before)
    rows = [
        dict(r)
        for r in (await session.execute(query.order_by(_f.feedback_id.desc()).limit(limit + 1))).mappings()
    ]
    more = len(rows) > limit
    rows = rows[:limit]
    bodies = await _bodies(session, viewer.tenant_id, [r["feedback_id"] for r in rows])
    return {
        "items": [item_view(r, bodies.get(r["feedback_id"], "")) for r in rows],
        "next": cursors.encode(rows[-1]["feedback_id"]) if more else None,
    }


def received_by(employee_id: str) -> ColumnElement[bool]:
    return _f.recipient_id == employee_id


def given_by(employee_id: str) -> ColumnElement[bool]:
    return _f.giver_id == employee_id


def about_goal(goal_id: str) -> ColumnElement[bool]:
    return _f.goal_id == goal_id


def item_view(row: dict[str, Any], body: str) -> dict[str, Any]:
    return {
        "id": row["feedback_id"],
        "recipient_id": row["recipient_id"],
        "giver_id": row["giver_id"],
        "anonymous": row["anonymous"],
        "kind": row["kind"],
        "visibility": row["visibility"],
        "goal_id": row["goal_id"],
        "request_id": row["request_id"],
        "body": body,
        "given_at": aware(row["given_at"]).isoformat() if row["given_at"] else None,
    }


async def requests_of(
    session: Transaction, viewer: Actor, role: str, status: str | None
) -> list[dict[str, Any]]:
    """Requests the viewer made (``outgoing``) or was asked (``incoming``)."""
    c = feedback_requests.c
    mine = c.requester_id if role == "outgoing" else c.giver_id
    query = scoped(viewer.tenant_id, select(feedback_requests).where(mine == viewer.employee_id))
    if status:
        query = query.where(c.status == status)
    rows = (await session.execute(query.order_by(c.request_id.desc()).limit(200))).mappings()
    return [
        {
            "id": r["request_id"],
            "requester_id": r["requester_id"],
            "giver_id": r["giver_id"],
            "about_id": r["about_id"],
            "goal_id": r["goal_id"],
            "message": r["message"],
            "status": r["status"],
            "feedback_id": r["feedback_id"],
            "requested_at": aware(r["requested_at"]).isoformat(),
        }
        for r in rows
    ]


async def _bodies(session: Transaction, tenant_id: str, feedback_ids: list[str]) -> dict[str, str]:
    if not feedback_ids:
        return {}
    e = events.c
    rows = await session.execute(
        scoped(
            tenant_id,
            select(e.aggregate_id, e.schema_version, e.payload).where(
                e.aggregate_id.in_(feedback_ids), e.event_type == FeedbackBodyRecorded.event_type
            ),
        )
    )
    bodies: dict[str, str] = {}
    for aggregate_id, version, payload in rows:
        decoded = registry.decode_payload(FeedbackBodyRecorded.event_type, version, payload)
        assert isinstance(decoded, FeedbackBodyRecorded)
        bodies[aggregate_id] = decoded.body
    return bodies
