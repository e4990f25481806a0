"""Commands and queries on webhook subscriptions (admin only), redelivery and replay.

``WebhookAdmin.replay`` is the one way to re-deliver a time range of events to one
subscription: the HTTP endpoint and the operators' command line both call it. Replayed
events go through the normal path (stored body, signed, retried, logged, in order per
aggregate), as deliveries marked with their replay's id, and keep their ``webhook-id``,
so a receiver that already has an event can tell.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from trellis.contracts import SERVICES
from trellis.contracts.envelope import EventEnvelope, utcnow
from trellis.contracts.ids import uuid7
from trellis.contracts.subjects import Subjects
from trellis.core.errors import Forbidden, InvalidInput, NotFound
from trellis.core.runtime.auth import Actor
from trellis.core.store.event_store import EventStore
from trellis.core.store.repository import Repository
from trellis.core.store.sessions import Sessions
from trellis.core.store.transaction import Transaction
from trellis.notifications.domain.subscription import WebhookSubscription, check_patterns, matches
from trellis.notifications.reactions.webhook_fanout import wanted
from trellis.notifications.tables import webhook_attempts, webhook_deliveries
from trellis.notifications.webhooks import deliveries, subscriptions
from trellis.notifications.webhooks.destinations import Destinations
from trellis.notifications.webhooks.replay import events_in_range
from trellis.notifications.webhooks.secret_box import SecretBox

MAX_REPLAY_EVENTS = 100_000


@dataclass(frozen=True)
class ReplayResult:
    replay_id: str
    subscription_id: str
    since: dt.datetime
    until: dt.datetime
    scheduled: int


def ensure_admin(actor: Actor) -> None:
    if not actor.has_role("admin"):
        raise Forbidden("only an admin manages webhooks")


class WebhookAdmin:
    def __init__(
        self,
        *,
        sessions: Sessions,
        store: EventStore,
        subjects: Subjects,
        jetstream: Callable[[str], Any],  # service → the JetStream API of its stream (None: offline)
        destinations: Destinations,
        secret_overlap: dt.timedelta,
        wake_worker: Callable[[], None],
        secrets: SecretBox,
    ) -> None:
        self.sessions = sessions
        self.store = store
        self.subjects = subjects
        self.jetstream = jetstream
        self.destinations = destinations
        self.secret_overlap = secret_overlap
        self.wake_worker = wake_worker
        self.secrets = secrets
        self.repo = Repository(store, WebhookSubscription)

    def reading_through(self, jetstream: Callable[[str], Any]) -> WebhookAdmin:
        """The same, reading the streams through another connection's JetStream API."""
        twin = copy.copy(self)
        twin.jetstream = jetstream
        return twin

    # ---- subscriptions ---------------------------------------------------------------

    async def create(
        self, actor: Actor, correlation_id: str, *, url: str, event_types: list[str], description: str = ""
    ) -> tuple[dict[str, Any], str]:
        """A new subscription, and its secret (shown this once)."""
        ensure_admin(actor)
        await self.destinations.check(url)
        sid = str(uuid7())
        async with self.sessions.transaction() as session:
            sub = self.repo.new(sid, actor.tenant_id)
            sub.create(url=url, event_types=event_types, description=description)
            await self._save(session, sub, actor, correlation_id)
            secret = await subscriptions.issue_secret(session, sid, utcnow(), self.secrets)
            view = await self._view(session, actor.tenant_id, sid)
        return view, secret

    async def change(
        self,
        actor: Actor,
        correlation_id: str,
        subscription_id: str,
        *,
        url: str | None = None,
        event_types: list[str] | None = None,
        description: str | None = None,
        enabled: bool | None = None,
    ) -> dict[str, Any]:
        ensure_admin(actor)
        if url is not None:
            await self.destinations.check(url)
        async with self.sessions.transaction() as session:
            sub = await self._get(session, actor, subscription_id)
            sub.change(url=url, event_types=event_types, description=description)
            if enabled is True:
                sub.enable()
            elif enabled is False:
                sub.disable("admin")
            await self._save(session, sub, actor, correlation_id)
            view = await self._view(session, actor.tenant_id, subscription_id)
        if enabled:
            self.wake_worker()
        return view

    async def rotate_secret(
        self, actor: Actor, correlation_id: str, subscription_id: str, overlap: dt.timedelta | None = None
    ) -> tuple[str, dt.datetime]:
        """A new secret (shown this once); the old ones keep signing until the returned time."""
        ensure_admin(actor)
        now = utcnow()
        valid_until = now + (self.secret_overlap if overlap is None else overlap)
        async with self.sessions.transaction() as session:
            sub = await self._get(session, actor, subscription_id)
            sub.rotate_secret(valid_until)
            await self._save(session, sub, actor, correlation_id)
            await subscriptions.retire_secrets(session, subscription_id, valid_until)
            secret = await subscriptions.issue_secret(session, subscription_id, now, self.secrets)
        return secret, valid_until

    async def delete(self, actor: Actor, correlation_id: str, subscription_id: str) -> None:
        ensure_admin(actor)
        async with self.sessions.transaction() as session:
            sub = await self._get(session, actor, subscription_id)
            sub.delete()
            await self._save(session, sub, actor, correlation_id)
            d = webhook_deliveries.c
            await session.execute(
                update(webhook_deliveries)
                .where(d.subscription_id == subscription_id, d.status == deliveries.PENDING)
                .values(status=deliveries.FAILED, last_error="subscription deleted", finished_at=utcnow())
            )

    async def subscriptions_of(self, actor: Actor) -> list[dict[str, Any]]:
        ensure_admin(actor)
        async with self.sessions() as session:
            return [subscription_view(s) for s in await subscriptions.of_tenant(session, actor.tenant_id)]

    async def get(self, actor: Actor, subscription_id: str) -> dict[str, Any]:
        ensure_admin(actor)
        async with self.sessions() as session:
            return await self._view(session, actor.tenant_id, subscription_id)

    # ---- deliveries ------------------------------------------------------------------

    async def deliveries(
        self,
        actor: Actor,
        subscription_id: str,
        *,
        status: str | None = None,
        limit: int = 50,
        before: int | None = None,
    ) -> tuple[list[dict[str, Any]], int | None]:
        """The subscription's deliveries, newest first; the cursor for the next page."""
        ensure_admin(actor)
        d = webhook_deliveries.c
        async with self.sessions() as session:
            await self._view(session, actor.tenant_id, subscription_id)
            query = select(webhook_deliveries).where(d.subscription_id == subscription_id)
            if status:
                query = query.where(d.status == status)
            if before is not None:
                query = query.where(d.seq < before)
            rows = list((await session.execute(query.order_by(d.seq.desc()).limit(limit + 1))).mappings())
        more = len(rows) > limit
        rows = rows[:limit]
        return [deliveries.delivery_view(r) for r in rows], (rows[-1]["seq"] if more else None)

    async def delivery(self, actor: Actor, subscription_id: str, delivery_id: str) -> dict[str, Any]:
        """One delivery with its log: every attempt's time, status, latency, response excerpt."""
        ensure_admin(actor)
        async with self.sessions() as session:
            row = await self._delivery(session, actor, subscription_id, delivery_id)
            a = webhook_attempts.c
            attempts = await session.execute(
                select(webhook_attempts).where(a.delivery_id == delivery_id).order_by(a.id)
            )
            view = deliveries.delivery_view(row)
            view["log"] = [deliveries.attempt_view(r) for r in attempts.mappings()]
            view["body"] = row["body"]
        return view

    async def redeliver(self, actor: Actor, subscription_id: str, delivery_id: str) -> dict[str, Any]:
        """Send one delivery again, now, with its stored body and its ``webhook-id``: a new round
        of attempts on the usual schedule."""
        ensure_admin(actor)
        async with self.sessions.transaction() as session:
            row = await self._delivery(session, actor, subscription_id, delivery_id)
            if row["status"] == deliveries.PENDING and row["attempts"] == 0:
                return deliveries.delivery_view(row)  # not even tried yet
            await session.execute(
                update(webhook_deliveries)
                .where(webhook_deliveries.c.seq == row["seq"])
                .values(status=deliveries.PENDING, attempts=0, next_attempt_at=utcnow(), finished_at=None)
            )
            row = await self._delivery(session, actor, subscription_id, delivery_id)
        self.wake_worker()
        return deliveries.delivery_view(row)

    async def replay(
        self,
        tenant_id: str,
        subscription_id: str,
        *,
        since: dt.datetime,
        until: dt.datetime | None = None,
        event_types: list[str] | None = None,
        dry_run: bool = False,
    ) -> ReplayResult:
        """Re-deliver every event that occurred in [since, until) and that the subscription
        matches (or the narrower ``event_types``) to that subscription alone, marked as a replay.
        ``dry_run`` only counts them (``scheduled``: how many a replay would send)."""
        until = until or utcnow()
        if since.tzinfo is None or until.tzinfo is None:
            raise InvalidInput("give since and until with a time zone")
        if since >= until:
            raise InvalidInput("since must be before until")
        narrower = check_patterns(event_types) if event_types else None
        async with self.sessions() as session:
            sub = await subscriptions.find(session, tenant_id, subscription_id)
        if sub is None:
            raise NotFound(f"webhook subscription {subscription_id} not found")
        replay_id = str(uuid7())
        # The replay is of what happened in the range, whenever the subscription was created.
        target = {**sub, "created_at": dt.datetime.min.replace(tzinfo=dt.UTC)}
        rows: list[dict[str, Any]] = []
        now = utcnow()
        for service in SERVICES:
            js = self.jetstream(service)
            if js is None:
                raise InvalidInput("NATS is not connected: try again shortly")
            async for envelope in events_in_range(js, self.subjects, service, tenant_id, since, until):
                if not _replayed(target, service, envelope, narrower):
                    continue
                rows.append(deliveries.new_delivery(target, service, envelope, now, replay_id=replay_id))
                if len(rows) > MAX_REPLAY_EVENTS:
                    raise InvalidInput(f"more than {MAX_REPLAY_EVENTS} events: replay a shorter range")
        if dry_run:
            return ReplayResult(replay_id, subscription_id, since, until, len(rows))
        async with self.sessions.transaction() as session:
            scheduled = await deliveries.enqueue(session, rows)
        self.wake_worker()
        return ReplayResult(replay_id, subscription_id, since, until, scheduled)

    # ---- internals -------------------------------------------------------------------

    async def _get(self, session: Transaction, actor: Actor, subscription_id: str) -> WebhookSubscription:
        sub = await self.repo.find(session, subscription_id, actor.tenant_id)
        if sub is None or sub.deleted:
            raise NotFound(f"webhook subscription {subscription_id} not found")
        return sub

    async def _save(
        self, session: Transaction, sub: WebhookSubscription, actor: Actor, correlation_id: str
    ) -> None:
        if sub.pending:
            stored = await self.repo.save(session, sub, actor.metadata(correlation_id))
            await subscriptions.project(session, self.store.registry, stored)

    async def _view(self, session: Transaction, tenant_id: str, subscription_id: str) -> dict[str, Any]:
        found = await subscriptions.find(session, tenant_id, subscription_id)
        if found is None:
            raise NotFound(f"webhook subscription {subscription_id} not found")
        return subscription_view(found)

    async def _delivery(
        self, session: Transaction, actor: Actor, subscription_id: str, delivery_id: str
    ) -> dict[str, Any]:
        await self._view(session, actor.tenant_id, subscription_id)
        d = webhook_deliveries.c
        row = (
            (
                await session.execute(
                    select(webhook_deliveries).where(
                        d.delivery_id == delivery_id, d.subscription_id == subscription_id
                    )
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(f"delivery {delivery_id} not found")
        return dict(row)


def _replayed(sub: dict[str, Any], service: str, envelope: EventEnvelope, narrower: list[str] | None) -> bool:
    if not wanted(sub, service, envelope):
        return False
    return narrower is None or matches(narrower, f"{service}.{envelope.event_type}")


def subscription_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["subscription_id"],
        "url": row["url"],
        "event_types": row["event_types"],
        "description": row["description"],
        "enabled": row["enabled"],
        "disabled_reason": row["disabled_reason"],
        "consecutive_failures": row["consecutive_failures"],
        "created_at": _aware(row["created_at"]),
        "updated_at": _aware(row["updated_at"]),
    }


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
