"""Operators' entry points that run beside the service (the ``trellis`` command line calls them).

``replay_to_subscription`` schedules a replay from outside the service process: it opens
the service's database and NATS with the service's settings (the environment's
``TRELLIS_NOTIFICATIONS_*``), stores the replay's deliveries and returns; the running
service's delivery worker sends them within its poll interval, through the normal signed,
retried, logged path.
"""

from __future__ import annotations

import datetime as dt

from trellis.contracts.notifications import registry
from trellis.core.database import create_engine, session_factory
from trellis.core.event_store import EventStore
from trellis.core.messaging import connect
from trellis.core.subjects import Subjects
from trellis.notifications.application.webhooks import ReplayResult, WebhookAdmin
from trellis.notifications.settings import NotificationsSettings


async def replay_to_subscription(
    tenant_id: str,
    subscription_id: str,
    *,
    since: dt.datetime,
    until: dt.datetime | None = None,
    event_types: list[str] | None = None,
    settings: NotificationsSettings | None = None,
) -> ReplayResult:
    """Re-deliver the events that occurred in [since, until) and match the subscription (or the
    narrower ``event_types`` patterns) to that one subscription, marked as a replay."""
    settings = settings or NotificationsSettings()
    engine = create_engine(settings.database_url, schema=settings.database_schema)
    nc = await connect(
        settings.nats_url, name="trellis-notifications-replay", credentials=settings.nats_credentials
    )
    try:
        sessions = session_factory(engine)
        subjects = Subjects(settings.subject_root)
        js = nc.jetstream()
        admin = WebhookAdmin(
            sessions=sessions,
            store=EventStore(
                service="notifications", registry=registry, sessions=sessions, subjects=subjects
            ),
            subjects=subjects,
            jetstream=lambda: js,
            allow_private_urls=settings.allow_private_webhook_urls,
            secret_overlap=dt.timedelta(hours=settings.webhook_secret_overlap_hours),
            wake_worker=lambda: None,  # the service's worker polls
        )
        return await admin.replay(
            tenant_id, subscription_id, since=since, until=until, event_types=event_types
        )
    finally:
        await nc.close()
        await engine.dispose()
