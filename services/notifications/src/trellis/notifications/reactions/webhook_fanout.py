"""Fan-out: every event of every stream, matched against the tenant's webhook subscriptions.

One reaction per source stream (goals, onboarding, feedback, and this service's own).
For each event it finds the tenant's enabled subscriptions whose patterns match
``<service>.<EventType>`` and that existed when the event occurred, and stores one
delivery per subscription (body built now, sent as is on every attempt), in the
consumer's transaction. The delivery worker is woken once that commits. Events about
webhooks themselves are never fanned out (no subscription can feed on its own deliveries).
A ``Reaction``: never rebuilt; replays of a time range to one
subscription go through ``application/webhooks.py``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from trellis.contracts.envelope import EventEnvelope, RecordedEvent, utcnow
from trellis.contracts.notifications import WEBHOOK_AGGREGATES
from trellis.core.consuming.projection import Reaction
from trellis.core.store.transaction import Transaction, after_commit
from trellis.notifications.domain.subscription import matches, webhook_event_type
from trellis.notifications.webhooks import subscriptions
from trellis.notifications.webhooks.deliveries import enqueue, new_delivery


def wanted(subscription: dict[str, Any], service: str, envelope: EventEnvelope) -> bool:
    """Whether ``subscription`` receives this event."""
    if service == "notifications" and envelope.aggregate_type in WEBHOOK_AGGREGATES:
        return False
    if subscription["tenant_id"] != envelope.tenant_id:
        return False
    created = subscription["created_at"]
    created = created if created.tzinfo else created.replace(tzinfo=dt.UTC)
    if envelope.occurred_at < created:
        return False
    return matches(subscription["event_types"], webhook_event_type(service, envelope.event_type))


class WebhookFanOut(Reaction):
    """Base; a subclass names the stream. Follows every event type of it."""

    def __init__(self, wake: Callable[[], None]) -> None:
        self.wake = wake

    async def handle(self, session: Transaction, recorded: RecordedEvent) -> None:
        await self.handle_batch(session, [recorded])

    async def handle_batch(self, session: Transaction, batch: list[RecordedEvent]) -> None:
        if not batch:
            return
        subs = await subscriptions.enabled_of(session, {r.tenant_id for r in batch})
        if not subs:
            return
        now = utcnow()
        rows = [
            new_delivery(sub, self.source, recorded.envelope, now, traceparent=recorded.traceparent)
            for recorded in batch
            for sub in subs
            if wanted(sub, self.source, recorded.envelope)
        ]
        if await enqueue(session, rows):
            after_commit(session, self.wake)  # the deliverer looks at once


class GoalsWebhooks(WebhookFanOut):
    name = "notifications-webhooks-goals"
    source = "goals"


class OnboardingWebhooks(WebhookFanOut):
    name = "notifications-webhooks-onboarding"
    source = "onboarding"


class FeedbackWebhooks(WebhookFanOut):
    name = "notifications-webhooks-feedback"
    source = "feedback"


class NotificationsWebhooks(WebhookFanOut):
    name = "notifications-webhooks-notifications"
    source = "notifications"
