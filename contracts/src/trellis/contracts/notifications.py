"""Events of the notifications service (stream ``TRELLIS_NOTIFICATIONS``): the inbox, preferences
and webhooks.

Aggregates:

- ``notification``: one notification for one recipient, caused by one event. Its id is
  deterministic (a UUIDv5 of the cause event id and the recipient), so the same cause
  can never notify the same recipient twice, whatever the redeliveries and replays.
  A recipient is an employee id, or a role inbox ``role:hr`` / ``role:admin`` that
  everyone holding that role reads (roles live in tokens, not in the org events);
- ``notification_preferences``: one employee's muted notification types and digest choice;
- ``webhook_subscription``: an integrator's endpoint (URL, event type patterns, enabled).
  Its signing secrets are never in an event: they live in the service's own table so a
  rotated secret can really be forgotten;
- ``webhook_delivery``: the outcome of delivering one event to one subscription.

Events about webhooks (``webhook_subscription`` and ``webhook_delivery`` aggregates) are
never themselves delivered to webhooks, so a subscription to ``notifications.*`` cannot
feed on its own deliveries.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from trellis.contracts.envelope import DomainEvent, EventRegistry, event

registry = EventRegistry()

# Aggregate types whose events never go out as webhooks (see above).
WEBHOOK_AGGREGATES: frozenset[str] = frozenset({"webhook_subscription", "webhook_delivery"})


class Part(BaseModel):
    """A value object inside an event payload."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Subject(Part):
    """What a notification is about, for a link in an app: ``goals`` / ``goal`` / ``<id>``."""

    service: str
    type: str  # goal, checkin, onboarding_plan, milestone, feedback, recognition, review_cycle, ...
    id: str
    parent_id: str | None = None  # e.g. the plan of a milestone


class DigestItem(Part):
    """One notification folded into a daily digest."""

    notification_id: str
    type: str
    text: str


# ---- notifications ------------------------------------------------------------------


@event("NotificationCreated", version=1, aggregate="notification", registry=registry)
class NotificationCreated(DomainEvent):
    """``recipient_id`` is told something: one per (cause event, recipient), never two.

    ``held_for_digest``: the recipient chose a daily digest, so this notification is not
    shown on its own; it is folded into that day's ``digest.daily`` notification
    (``digest_date``), whose ``items`` list what it groups.
    """

    notification_id: str
    recipient_id: str
    type: str
    text: str
    subject: Subject | None = None
    cause_event_id: str
    cause_event_type: str
    cause_service: str
    held_for_digest: bool = False
    digest_date: dt.date | None = None
    items: list[DigestItem] = Field(default_factory=list)


@event("NotificationRead", version=1, aggregate="notification", registry=registry)
class NotificationRead(DomainEvent):
    """A notification was marked read (by its recipient, or by anyone holding its role)."""

    notification_id: str
    recipient_id: str
    read_by: str


@event("NotificationPreferencesChanged", version=1, aggregate="notification_preferences", registry=registry)
class NotificationPreferencesChanged(DomainEvent):
    """An employee's notification preferences, as a whole (not a diff)."""

    employee_id: str
    muted_types: list[str]
    daily_digest: bool


# ---- webhook subscriptions ----------------------------------------------------------


@event("WebhookSubscriptionCreated", version=1, aggregate="webhook_subscription", registry=registry)
class WebhookSubscriptionCreated(DomainEvent):
    """An admin registered an endpoint for events matching ``event_types`` (patterns)."""

    subscription_id: str
    url: str
    event_types: list[str]
    description: str = ""


@event("WebhookSubscriptionChanged", version=1, aggregate="webhook_subscription", registry=registry)
class WebhookSubscriptionChanged(DomainEvent):
    """The endpoint URL, event type patterns or description changed (fields given only)."""

    subscription_id: str
    url: str | None = None
    event_types: list[str] | None = None
    description: str | None = None


@event("WebhookSubscriptionEnabled", version=1, aggregate="webhook_subscription", registry=registry)
class WebhookSubscriptionEnabled(DomainEvent):
    """Deliveries to the endpoint resume (its failure count starts again from zero)."""

    subscription_id: str


@event("WebhookSubscriptionDisabled", version=1, aggregate="webhook_subscription", registry=registry)
class WebhookSubscriptionDisabled(DomainEvent):
    """Deliveries to the endpoint stop: by an admin, after ``failures`` consecutive failed
    deliveries, or because the endpoint answered 410 Gone."""

    subscription_id: str
    reason: Literal["admin", "failing", "endpoint_gone"]
    failures: int = 0
    detail: str = ""


@event("WebhookSecretRotated", version=1, aggregate="webhook_subscription", registry=registry)
class WebhookSecretRotated(DomainEvent):
    """A new signing secret; the previous ones sign too until ``previous_valid_until``."""

    subscription_id: str
    previous_valid_until: dt.datetime


@event("WebhookSubscriptionDeleted", version=1, aggregate="webhook_subscription", registry=registry)
class WebhookSubscriptionDeleted(DomainEvent):
    """The subscription is gone: nothing more is delivered to it."""

    subscription_id: str


# ---- webhook deliveries -------------------------------------------------------------


@event("WebhookDelivered", version=1, aggregate="webhook_delivery", registry=registry)
class WebhookDelivered(DomainEvent):
    """An event reached a subscriber (2xx) after ``attempts`` attempts."""

    delivery_id: str
    subscription_id: str
    webhook_id: str
    event_id: str
    webhook_type: str  # the body's type, e.g. goals.GoalRetired
    attempts: int
    status_code: int
    replay_id: str | None = None


@event("WebhookDeliveryFailed", version=1, aggregate="webhook_delivery", registry=registry)
class WebhookDeliveryFailed(DomainEvent):
    """Delivery was given up: retries exhausted, a 4xx that is not worth retrying, or 410."""

    delivery_id: str
    subscription_id: str
    webhook_id: str
    event_id: str
    webhook_type: str  # the body's type, e.g. goals.GoalRetired
    attempts: int
    status_code: int | None = None
    reason: str
    replay_id: str | None = None
