"""The inbox: every employee's notifications (and the role inboxes), a read view.

A projection of this service's own ``NotificationCreated`` / ``NotificationRead`` events,
so it can be rebuilt at any time (``trellis.core.rebuild.rebuilder.rebuild``) without creating or
sending anything: what to notify was decided once, by the reactions, when the events were
appended. Held notifications (the recipient takes a daily digest) are kept, but listed
only inside their digest.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select, update

from trellis.contracts.envelope import EventEnvelope
from trellis.contracts.notifications import NotificationCreated, NotificationRead
from trellis.core.consuming.projection import Projection, on
from trellis.core.runtime import cursors
from trellis.core.store.tenancy import scoped
from trellis.core.store.transaction import Transaction
from trellis.notifications.tables import inbox_notifications


class Inbox(Projection):
    name = "notifications-inbox"
    source = "notifications"
    tables = (inbox_notifications,)

    @on(NotificationCreated)
    async def created(self, session: Transaction, ev: NotificationCreated, env: EventEnvelope) -> None:
        await session.execute(
            inbox_notifications.insert().values(
                notification_id=ev.notification_id,
                tenant_id=env.tenant_id,
                recipient_id=ev.recipient_id,
                type=ev.type,
                text=ev.text,
                subject=ev.subject.model_dump() if ev.subject else None,
                cause_event_id=ev.cause_event_id,
                cause_event_type=ev.cause_event_type,
                cause_service=ev.cause_service,
                held_for_digest=ev.held_for_digest,
                digest_date=ev.digest_date,
                items=[i.model_dump() for i in ev.items],
                created_at=env.occurred_at,
            )
        )

    @on(NotificationRead)
    async def read(self, session: Transaction, ev: NotificationRead, env: EventEnvelope) -> None:
        c = inbox_notifications.c
        await session.execute(
            update(inbox_notifications)
            .where(c.notification_id == ev.notification_id, c.read_at.is_(None))
            .values(read_at=env.occurred_at, read_by=ev.read_by)
        )


@dataclass(frozen=True)
class InboxPage:
    items: list[dict[str, Any]]
    next_cursor: str | None


async def list_inbox(
    session: Transaction,
    tenant_id: str,
    recipients: list[str],
    *,
    unread_only: bool = False,
    limit: int = 50,
    cursor: str | None = None,
) -> InboxPage:
    """Newest first; ``cursor`` (from the previous page) continues where that page ended."""
    c = inbox_notifications.c
    query = scoped(
        tenant_id,
        select(inbox_notifications).where(c.recipient_id.in_(recipients), c.held_for_digest.is_(False)),
    )
    if unread_only:
        query = query.where(c.read_at.is_(None))
    if cursor:
        at, nid = cursors.decode(cursor, dt.datetime, str)
        query = query.where(or_(c.created_at < at, and_(c.created_at == at, c.notification_id < nid)))
    rows = list(
        (
            await session.execute(
                query.order_by(c.created_at.desc(), c.notification_id.desc()).limit(limit + 1)
            )
        ).mappings()
    )
    more = len(rows) > limit
    rows = rows[:limit]
    items = [notification_view(r) for r in rows]
    last = rows[-1] if more else None
    next_cursor = cursors.encode(_aware(last["created_at"]), last["notification_id"]) if last else None
    return InboxPage(items, next_cursor)


async def unread_count(session: Transaction, tenant_id: str, recipients: list[str]) -> int:
    c = inbox_notifications.c
    result = await session.execute(
        scoped(
            tenant_id,
            select(func.count())
            .select_from(inbox_notifications)
            .where(c.recipient_id.in_(recipients), c.held_for_digest.is_(False), c.read_at.is_(None)),
        )
    )
    return int(result.scalar_one())


async def unread_ids(
    session: Transaction, tenant_id: str, recipients: list[str], *, up_to: dt.datetime | None = None
) -> list[str]:
    c = inbox_notifications.c
    query = scoped(
        tenant_id,
        select(c.notification_id).where(
            c.recipient_id.in_(recipients), c.held_for_digest.is_(False), c.read_at.is_(None)
        ),
    )
    if up_to is not None:
        query = query.where(c.created_at <= up_to)
    return list((await session.execute(query.order_by(c.created_at))).scalars())


def notification_view(row: Any) -> dict[str, Any]:
    return {
        "id": row["notification_id"],
        "recipient_id": row["recipient_id"],
        "type": row["type"],
        "text": row["text"],
        "subject": row["subject"],
        "cause_event_id": row["cause_event_id"],
        "cause_event_type": row["cause_event_type"],
        "cause_service": row["cause_service"],
        "items": row["items"] or [],
        "created_at": _aware(row["created_at"]),
        "read": row["read_at"] is not None,
        "read_at": _aware(row["read_at"]) if row["read_at"] else None,
    }


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
