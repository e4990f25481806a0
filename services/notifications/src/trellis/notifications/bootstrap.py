"""Wires the notifications service: settings, events, migrations, reactions, inbox, webhooks, API."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from trellis.contracts import registry_of
from trellis.contracts.notifications import registry
from trellis.core.runtime.service import Runtime, ServiceDefinition
from trellis.core.store.repository import Repository
from trellis.notifications.api.inbox import router as inbox_router
from trellis.notifications.api.webhooks import router as webhooks_router
from trellis.notifications.application.inbox import InboxCommands
from trellis.notifications.application.notifier import DIGEST_DEADLINE, Notifier
from trellis.notifications.application.webhooks import WebhookAdmin
from trellis.notifications.application.wiring import NotificationsApplication
from trellis.notifications.domain.notification import Notification
from trellis.notifications.domain.preferences import Preferences
from trellis.notifications.operations import webhook_replay
from trellis.notifications.reactions.affected import FeedbackAffected, GoalsAffected, OnboardingAffected
from trellis.notifications.reactions.webhook_fanout import (
    FeedbackWebhooks,
    GoalsWebhooks,
    NotificationsWebhooks,
    OnboardingWebhooks,
)
from trellis.notifications.settings import NotificationsSettings
from trellis.notifications.views.inbox import Inbox
from trellis.notifications.webhooks.destinations import Destinations
from trellis.notifications.webhooks.secret_box import SecretBox
from trellis.notifications.webhooks.worker import DeliveryWorker
from trellis.orgchart import MIGRATIONS as ORGCHART_MIGRATIONS
from trellis.orgchart import OrgChart


def _settings(runtime: Runtime) -> NotificationsSettings:
    settings = runtime.settings
    assert isinstance(settings, NotificationsSettings)
    return settings


def build(runtime: Runtime) -> NotificationsApplication:
    settings = _settings(runtime)
    notifications = Repository(runtime.store, Notification)
    preferences = Repository(runtime.store, Preferences)
    notifier = Notifier(notifications, preferences, runtime.clock, digest_hour_utc=settings.digest_hour_utc)
    destinations = Destinations(allow_private=settings.allow_private_webhook_urls)
    secrets = SecretBox.from_setting(settings.webhook_secret_keys)
    worker = DeliveryWorker(
        sessions=runtime.sessions,
        store=runtime.store,
        notifier=notifier,
        settings=settings,
        destinations=destinations,
        secrets=secrets,
    )
    webhooks = WebhookAdmin(
        sessions=runtime.sessions,
        store=runtime.store,
        subjects=runtime.subjects,
        jetstream=runtime.jetstream_for,
        destinations=destinations,
        secret_overlap=dt.timedelta(hours=settings.webhook_secret_overlap_hours),
        wake_worker=worker.wake,
        secrets=secrets,
    )
    inbox = Inbox()  # also inline: a notification is in the inbox when its creation commits
    return NotificationsApplication(
        destinations=destinations,
        notifier=notifier,
        worker=worker,
        inbox=InboxCommands(runtime.sessions, notifications, preferences),
        webhooks=webhooks,
        webhook_replay=webhook_replay(runtime, webhooks),
        consumers=[
            OrgChart("notifications"),
            GoalsAffected(notifier),
            OnboardingAffected(notifier),
            FeedbackAffected(notifier),
            inbox,
            GoalsWebhooks(worker.wake),
            OnboardingWebhooks(worker.wake),
            FeedbackWebhooks(worker.wake),
            NotificationsWebhooks(worker.wake),
        ],
        deadlines={DIGEST_DEADLINE: notifier.send_digest},
        workers={"webhook-deliveries": worker.run},
        inline=[inbox],
    )


SERVICE = ServiceDefinition(
    contracts=registry_of,
    name="notifications",
    title="Trellis notifications",
    description=(
        "Who an event affects, their in-app inbox (with preferences and a daily digest), and "
        "signed webhooks (Standard Webhooks) with retries, a delivery log, redelivery and replay."
    ),
    settings=NotificationsSettings,
    registry=registry,
    migrations=(Path(__file__).parent / "migrations" / "versions", ORGCHART_MIGRATIONS),
    build=build,
    routers=lambda: [inbox_router, webhooks_router],
)
