"""Webhook deliveries in the database: what to send, to whom, and where its retries stand.

A delivery is one event for one subscription. Its body is built once, when the event is
fanned out, and stored: every attempt sends exactly those bytes. Its ``webhook-id`` is
derived from (subscription, event), so it is the same on every retry, on a manual
redelivery and on a replay: a receiver that de-duplicates by ``webhook-id`` processes
each event once.

A delivery is *due* when it is pending, its next attempt time has passed, no attempt of
it is in flight (``leased_until``), its subscription is enabled, and no earlier delivery
of the same aggregate to the same subscription is still pending: that is what keeps the
order per aggregate within a subscription, through retries and restarts.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from typing import Any

from sqlalchemy import and_, exists, insert, select, update
from sqlalchemy.orm import aliased

from trellis.contracts import registry_of
from trellis.contracts.envelope import EventEnvelope
from trellis.core import strict_json, tracing
from trellis.core.errors import MalformedEvent
from trellis.core.store.transaction import Transaction
from trellis.notifications.domain.subscription import webhook_event_type
from trellis.notifications.tables import webhook_attempts, webhook_deliveries, webhook_subscriptions

_NAMESPACE = uuid.UUID("9d5c2f3e-6a41-4b7f-b0e2-3c1a8f7d4e96")
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


def webhook_id(subscription_id: str, event_id: str) -> str:
    """The ``webhook-id`` of an event sent to a subscription: the same on every (re)send."""
    return "msg_" + uuid.uuid5(_NAMESPACE, f"{subscription_id}/{event_id}").hex


def delivery_id(subscription_id: str, event_id: str, replay_id: str | None = None) -> str:
    """A delivery's id: one live delivery per (subscription, event), one more per replay."""
    return str(uuid.uuid5(_NAMESPACE, f"{subscription_id}/{event_id}/{replay_id or 'live'}"))


@functools.cache
def _current_versions(service: str) -> dict[str, int]:
    return {cls.event_type: cls.schema_version for cls in registry_of(service).types()}


def current_payload(service: str, envelope: EventEnvelope) -> tuple[int, dict[str, Any]]:
    """The schema version and payload of the event in its current contract: an event stored
    in an older version is upcast, so what a later version dropped (an offboarding's
    confidential reason) is never sent, not even by a replay of old events."""
    current = _current_versions(service).get(envelope.event_type)
    if current is None or current == envelope.schema_version:
        return envelope.schema_version, envelope.payload
    try:
        event = registry_of(service).decode(envelope)
    except MalformedEvent:
        return envelope.schema_version, envelope.payload
    return event.schema_version, event.model_dump(mode="json")


def webhook_body(service: str, envelope: EventEnvelope) -> str:
    """The JSON body: Standard Webhooks' ``type`` / ``timestamp`` / ``data``, data the envelope
    (its payload in the current contract version)."""
    schema_version, payload = current_payload(service, envelope)
    data = {
        "event_id": str(envelope.event_id),
        "event_type": envelope.event_type,
        "schema_version": schema_version,
        "service": service,
        "tenant_id": envelope.tenant_id,
        "aggregate_type": envelope.aggregate_type,
        "aggregate_id": envelope.aggregate_id,
        "aggregate_version": envelope.aggregate_version,
        "occurred_at": envelope.occurred_at.isoformat(),
        "actor_id": envelope.actor_id,
        "correlation_id": envelope.correlation_id,
        "causation_id": envelope.causation_id,
        "payload": payload,
    }
    return strict_json.dumps(
        {
            "type": webhook_event_type(service, envelope.event_type),
            "timestamp": envelope.occurred_at.isoformat(),
            "data": data,
        }
    )


def new_delivery(
    subscription: dict[str, Any],
    service: str,
    envelope: EventEnvelope,
    now: dt.datetime,
    *,
    replay_id: str | None = None,
    traceparent: str | None = None,
) -> dict[str, Any]:
    """``traceparent``: the event's trace (as it came); by default the current span's."""
    sub, event = subscription["subscription_id"], str(envelope.event_id)
    return {
        "delivery_id": delivery_id(sub, event, replay_id),
        "tenant_id": envelope.tenant_id,
        "subscription_id": sub,
        "event_id": event,
        "event_type": webhook_event_type(service, envelope.event_type),
        "aggregate_id": envelope.aggregate_id,
        "occurred_at": envelope.occurred_at,
        "webhook_id": webhook_id(sub, event),
        "body": webhook_body(service, envelope),
        "status": PENDING,
        "attempts": 0,
        "total_attempts": 0,
        "next_attempt_at": now,
        "leased_until": None,
        "last_status_code": None,
        "last_error": None,
        "replay_id": replay_id,
        "created_at": now,
        "finished_at": None,
        "traceparent": traceparent or tracing.traceparent(),  # the attempts continue it
    }


async def enqueue(session: Transaction, rows: list[dict[str, Any]]) -> int:
    """Insert the deliveries not there yet (by id); how many were new."""
    if not rows:
        return 0
    ids = [r["delivery_id"] for r in rows]
    c = webhook_deliveries.c
    known = set((await session.execute(select(c.delivery_id).where(c.delivery_id.in_(ids)))).scalars())
    fresh = [r for r in rows if r["delivery_id"] not in known]
    if fresh:
        await session.execute(insert(webhook_deliveries), fresh)
    return len(fresh)


async def claim_due(
    session: Transaction,
    now: dt.datetime,
    *,
    limit: int,
    lease: dt.timedelta,
    per_subscription: int,
    busy: dict[str, int] | None = None,
) -> list[dict[str, Any]]:
    """Lease up to ``limit`` due deliveries (see the module docstring), at most
    ``per_subscription`` in flight per subscription counting the ``busy`` ones."""
    d, s = webhook_deliveries.c, webhook_subscriptions.c
    earlier = aliased(webhook_deliveries)
    query = (
        select(webhook_deliveries)
        .join(webhook_subscriptions, s.subscription_id == d.subscription_id)
        .where(
            d.status == PENDING,
            d.next_attempt_at <= now,
            (d.leased_until.is_(None)) | (d.leased_until < now),
            s.enabled.is_(True),
            s.deleted.is_(False),
            ~exists().where(
                and_(
                    earlier.c.subscription_id == d.subscription_id,
                    earlier.c.aggregate_id == d.aggregate_id,
                    earlier.c.status == PENDING,
                    earlier.c.seq < d.seq,
                )
            ),
        )
        .order_by(d.next_attempt_at, d.seq)
        .limit(limit * 4)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=webhook_deliveries)
    chosen: list[dict[str, Any]] = []
    taken: dict[str, int] = dict(busy or {})
    for row in (await session.execute(query)).mappings():
        sub = row["subscription_id"]
        if taken.get(sub, 0) >= per_subscription:
            continue  # this subscription is busy enough: a slow endpoint holds up nobody else
        taken[sub] = taken.get(sub, 0) + 1
        chosen.append(dict(row))
        if len(chosen) >= limit:
            break
    if chosen:
        await session.execute(
            update(webhook_deliveries)
            .where(d.seq.in_([r["seq"] for r in chosen]))
            .values(leased_until=now + lease)
        )
    return chosen


async def next_due_at(session: Transaction, now: dt.datetime) -> dt.datetime | None:
    """When the next attempt not in flight is due, for an enabled subscription."""
    d, s = webhook_deliveries.c, webhook_subscriptions.c
    result = await session.execute(
        select(d.next_attempt_at)
        .join(webhook_subscriptions, s.subscription_id == d.subscription_id)
        .where(
            d.status == PENDING,
            (d.leased_until.is_(None)) | (d.leased_until < now),
            s.enabled.is_(True),
            s.deleted.is_(False),
        )
        .order_by(d.next_attempt_at)
        .limit(1)
    )
    return result.scalar()


async def record_attempt(session: Transaction, **values: Any) -> None:
    await session.execute(insert(webhook_attempts).values(**values))


async def release(session: Transaction, seq: int, **values: Any) -> None:
    """Write where a delivery stands after an attempt, and release its lease."""
    await session.execute(
        update(webhook_deliveries).where(webhook_deliveries.c.seq == seq).values(leased_until=None, **values)
    )


def delivery_view(row: Any) -> dict[str, Any]:
    return {
        "id": row["delivery_id"],
        "subscription_id": row["subscription_id"],
        "webhook_id": row["webhook_id"],
        "event_id": row["event_id"],
        "event_type": row["event_type"],
        "aggregate_id": row["aggregate_id"],
        "status": row["status"],
        "attempts": row["total_attempts"],
        "next_attempt_at": _aware(row["next_attempt_at"]) if row["status"] == PENDING else None,
        "last_status_code": row["last_status_code"],
        "last_error": row["last_error"],
        "replay_id": row["replay_id"],
        "created_at": _aware(row["created_at"]),
        "finished_at": _aware(row["finished_at"]) if row["finished_at"] else None,
    }


def attempt_view(row: Any) -> dict[str, Any]:
    return {
        "attempt": row["attempt"],
        "attempted_at": _aware(row["attempted_at"]),
        "status_code": row["status_code"],
        "latency_ms": round(row["latency_ms"], 1),
        "response_excerpt": row["response_excerpt"],
        "error": row["error"],
        "outcome": row["outcome"],
    }


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
