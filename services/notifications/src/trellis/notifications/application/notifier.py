"""Turning notices into notifications: one per (cause event, recipient), preferences applied.

For each notice the ``Notifier`` appends a ``NotificationCreated`` to a notification
whose id is derived from the cause event and the recipient; if that notification exists
already (a redelivery beyond the processed record, a replay, a second replica), nothing
is appended. Muted types are not created at all, nor notifications for employees the org
chart says have left. For an employee who chose the daily
digest the notification is created *held*: it is part of the inbox's history but not
shown on its own, and it is added to that day's digest, a core deadline
(``core/deadlines.py``) due at the digest hour of the next day, which then creates one
``digest.daily`` notification listing the day's items. All of it commits with the
transaction of the reaction that called it.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from trellis.contracts.envelope import EventEnvelope, Metadata
from trellis.contracts.notifications import DigestItem, Subject
from trellis.core.consuming import deadlines
from trellis.core.consuming.clock import Clock
from trellis.core.consuming.deadlines import Deadline
from trellis.core.store.repository import Repository
from trellis.core.store.tables import deadlines as deadlines_table
from trellis.core.store.transaction import Transaction
from trellis.notifications.domain.notification import (
    Notification,
    digest_id,
    is_role_inbox,
    notification_id,
)
from trellis.notifications.domain.preferences import Preferences, preferences_id
from trellis.notifications.reactions.rules import Notice
from trellis.orgchart import OrgDirectory

DIGEST_DEADLINE = "notifications.daily-digest"
MAX_DIGEST_ITEMS = 100
ACTOR = "notifications"  # the actor of what this service decides by itself


class Notifier:
    def __init__(
        self,
        notifications: Repository[Notification],
        preferences: Repository[Preferences],
        clock: Clock,
        *,
        digest_hour_utc: int = 8,
    ) -> None:
        self.notifications = notifications
        self.preferences = preferences
        self.clock = clock
        self.digest_hour_utc = digest_hour_utc
        self.org = OrgDirectory()

    async def notify(
        self, session: Transaction, cause: EventEnvelope, service: str, notices: list[Notice]
    ) -> list[str]:
        """Create the notifications ``notices`` call for; the ids of those created now."""
        tenant = cause.tenant_id
        metadata = Metadata(
            tenant_id=tenant,
            actor_id=ACTOR,
            correlation_id=cause.correlation_id,
            causation_id=str(cause.event_id),
        )
        created: list[str] = []
        for notice in notices:
            prefs = None
            if not is_role_inbox(notice.recipient_id):
                if await self._has_left(session, tenant, notice.recipient_id):
                    continue
                prefs = await self.preferences.find(
                    session, preferences_id(tenant, notice.recipient_id), tenant
                )
            if prefs is not None and prefs.mutes(notice.type):
                continue
            nid = notification_id(tenant, str(cause.event_id), notice.recipient_id)
            if await self.notifications.find(session, nid, tenant) is not None:
                continue  # told already: this cause was processed before
            held = prefs is not None and prefs.daily_digest
            day = self.clock.now().date() if held else None
            note = self.notifications.new(nid, tenant)
            note.create(
                recipient_id=notice.recipient_id,
                type=notice.type,
                text=notice.text,
                subject=notice.subject,
                cause_event_id=str(cause.event_id),
                cause_event_type=cause.event_type,
                cause_service=service,
                held_for_digest=held,
                digest_date=day,
            )
            await self.notifications.save(session, note, metadata)
            created.append(nid)
            if day is not None:
                await self._add_to_digest(session, tenant, notice, nid, day)
        return created

    async def _has_left(self, session: Transaction, tenant: str, employee_id: str) -> bool:
        """Offboarded, as the org chart replica knows. Someone it does not know (yet) is told."""
        found = await self.org.employee(session, tenant, employee_id)
        return found is not None and not found.active

    async def _add_to_digest(
        self, session: Transaction, tenant: str, notice: Notice, nid: str, day: dt.date
    ) -> None:
        key = f"{DIGEST_DEADLINE}:{tenant}:{notice.recipient_id}:{day.isoformat()}"
        existing = (
            await session.execute(select(deadlines_table.c.data).where(deadlines_table.c.key == key))
        ).scalar()
        data = dict(
            existing
            or {"recipient_id": notice.recipient_id, "date": day.isoformat(), "items": [], "count": 0}
        )
        data["count"] = int(data.get("count", 0)) + 1
        if len(data["items"]) < MAX_DIGEST_ITEMS:
            data["items"] = [
                *data["items"],
                {"notification_id": nid, "type": notice.type, "text": notice.text},
            ]
        due = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(self.digest_hour_utc), tzinfo=dt.UTC)
        await deadlines.schedule(
            session,
            key=key,
            kind=DIGEST_DEADLINE,
            tenant_id=tenant,
            aggregate_id=digest_id(tenant, notice.recipient_id, day),
            due_at=due,
            data=data,
        )

    async def send_digest(self, session: Transaction, deadline: Deadline, now: dt.datetime) -> None:
        """The digest deadline handler: one ``digest.daily`` notification for the day's items."""
        data = deadline.data
        recipient, day = data["recipient_id"], dt.date.fromisoformat(data["date"])
        items = [DigestItem.model_validate(i) for i in data.get("items", [])]
        count = int(data.get("count", len(items)))
        note = await self.notifications.find(session, deadline.aggregate_id, deadline.tenant_id)
        if note is not None or not items:
            return  # sent already (the deadline fired twice) or nothing to send
        note = self.notifications.new(deadline.aggregate_id, deadline.tenant_id)
        noun = "notification" if count == 1 else "notifications"
        more = f" (the first {len(items)} listed)" if count > len(items) else ""
        note.create(
            recipient_id=recipient,
            type="digest.daily",
            text=f"Your digest of {day.isoformat()}: {count} {noun}{more}.",
            subject=Subject(service="notifications", type="digest", id=deadline.aggregate_id),
            cause_event_id=deadline.aggregate_id,
            cause_event_type="DailyDigestDue",
            cause_service="notifications",
            items=items,
        )
        await self.notifications.save(session, note, Metadata(tenant_id=deadline.tenant_id, actor_id=ACTOR))
