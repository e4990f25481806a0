"""The subscriptions table, kept in step with the subscription events in the same transaction,
and the signing secrets beside it.

The fan-out must know a subscription from the moment its creation commits (an event that
happens a millisecond later is delivered), so the table is projected *inline*: the command
that appends a subscription's events applies them here before it commits. Secrets never
go into an event: they are rows of ``webhook_secrets``, dropped once expired.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, insert, or_, select, update

from trellis.contracts.envelope import EventEnvelope, EventRegistry
from trellis.contracts.notifications import (
    WebhookSecretRotated,
    WebhookSubscriptionChanged,
    WebhookSubscriptionCreated,
    WebhookSubscriptionDeleted,
    WebhookSubscriptionDisabled,
    WebhookSubscriptionEnabled,
)
from trellis.core.store.tenancy import scoped
from trellis.core.store.transaction import Transaction
from trellis.notifications.tables import webhook_secrets, webhook_subscriptions
from trellis.notifications.webhooks.secret_box import SecretBox
from trellis.notifications.webhooks.signing import new_secret


async def project(session: Transaction, registry: EventRegistry, envelopes: list[EventEnvelope]) -> None:
    """Apply a subscription's just-appended events to ``webhook_subscriptions``."""
    c = webhook_subscriptions.c
    for env in envelopes:
        ev = registry.decode(env)
        where = c.subscription_id == env.aggregate_id
        match ev:
            case WebhookSubscriptionCreated():
                await session.execute(
                    insert(webhook_subscriptions).values(
                        subscription_id=ev.subscription_id,
                        tenant_id=env.tenant_id,
                        url=ev.url,
                        event_types=ev.event_types,
                        description=ev.description,
                        enabled=True,
                        disabled_reason=None,
                        deleted=False,
                        consecutive_failures=0,
                        created_at=env.occurred_at,
                        updated_at=env.occurred_at,
                    )
                )
            case WebhookSubscriptionChanged():
                values: dict[str, Any] = {
                    k: v
                    for k, v in (
                        ("url", ev.url),
                        ("event_types", ev.event_types),
                        ("description", ev.description),
                    )
                    if v is not None
                }
                await session.execute(
                    update(webhook_subscriptions).where(where).values(updated_at=env.occurred_at, **values)
                )
            case WebhookSubscriptionEnabled():
                await session.execute(
                    update(webhook_subscriptions)
                    .where(where)
                    .values(
                        enabled=True, disabled_reason=None, consecutive_failures=0, updated_at=env.occurred_at
                    )
                )
            case WebhookSubscriptionDisabled():
                await session.execute(
                    update(webhook_subscriptions)
                    .where(where)
                    .values(enabled=False, disabled_reason=ev.reason, updated_at=env.occurred_at)
                )
            case WebhookSubscriptionDeleted():
                await session.execute(
                    update(webhook_subscriptions)
                    .where(where)
                    .values(enabled=False, deleted=True, updated_at=env.occurred_at)
                )
                await session.execute(
                    delete(webhook_secrets).where(webhook_secrets.c.subscription_id == env.aggregate_id)
                )
            case WebhookSecretRotated():
                await session.execute(
                    update(webhook_subscriptions).where(where).values(updated_at=env.occurred_at)
                )


async def find(session: Transaction, tenant_id: str, subscription_id: str) -> dict[str, Any] | None:
    c = webhook_subscriptions.c
    row = (
        (
            await session.execute(
                scoped(
                    tenant_id,
                    select(webhook_subscriptions).where(
                        c.subscription_id == subscription_id, c.deleted.is_(False)
                    ),
                )
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


async def of_tenant(session: Transaction, tenant_id: str) -> list[dict[str, Any]]:
    c = webhook_subscriptions.c
    rows = await session.execute(
        scoped(
            tenant_id,
            select(webhook_subscriptions)
            .where(c.deleted.is_(False))
            .order_by(c.created_at, c.subscription_id),
        )
    )
    return [dict(r) for r in rows.mappings()]


async def enabled_of(session: Transaction, tenant_ids: set[str]) -> list[dict[str, Any]]:
    c = webhook_subscriptions.c
    rows = await session.execute(
        select(webhook_subscriptions).where(
            c.tenant_id.in_(tenant_ids), c.enabled.is_(True), c.deleted.is_(False)
        )
    )
    return [dict(r) for r in rows.mappings()]


async def issue_secret(session: Transaction, subscription_id: str, now: dt.datetime, box: SecretBox) -> str:
    """A new signing secret for the subscription (returned once, to show once; stored sealed)."""
    secret = new_secret()
    await session.execute(
        insert(webhook_secrets).values(
            subscription_id=subscription_id, secret=box.seal(secret), created_at=now, expires_at=None
        )
    )
    return secret


async def retire_secrets(session: Transaction, subscription_id: str, valid_until: dt.datetime) -> None:
    """The live secrets sign until ``valid_until`` at the latest (a rotation's overlap)."""
    c = webhook_secrets.c
    await session.execute(
        update(webhook_secrets)
        .where(c.subscription_id == subscription_id, or_(c.expires_at.is_(None), c.expires_at > valid_until))
        .values(expires_at=valid_until)
    )


async def live_secrets(
    session: Transaction, subscription_id: str, now: dt.datetime, box: SecretBox
) -> list[str]:
    """Every secret that signs now, newest first; expired ones are dropped on the way."""
    c = webhook_secrets.c
    await session.execute(
        delete(webhook_secrets).where(
            c.subscription_id == subscription_id, c.expires_at.is_not(None), c.expires_at <= now
        )
    )
    rows = await session.execute(
        select(c.secret)
        .where(c.subscription_id == subscription_id, or_(c.expires_at.is_(None), c.expires_at > now))
        .order_by(c.id.desc())
    )
    return [box.open(stored) for stored in rows.scalars()]
