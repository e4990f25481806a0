"""Operators' entry points that run beside the service (the ``trellis`` command line calls them).

``replay_to_subscription`` schedules a replay from outside the service process: it opens
the service's database and NATS with the service's settings (the environment's
``TRELLIS_NOTIFICATIONS_*``), stores the replay's deliveries and returns; the running
service's delivery worker sends them within its poll interval, through the normal signed,
retried, logged path.

``webhook_replay`` is the same replay as the application's ``webhook_replay``, the entry
the ``trellis replay webhooks`` command looks for (``trellis.ops.replay``); the tool opens
the runtime without starting it, so the replay connects to NATS itself when the runtime
has no connection.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from sqlalchemy import select

from trellis.contracts.notifications import registry
from trellis.contracts.subjects import Subjects
from trellis.core.errors import NotFound
from trellis.core.messaging.jetstream import JetStreams, connect
from trellis.core.runtime.service import Runtime
from trellis.core.store.database import create_engine
from trellis.core.store.event_store import EventStore
from trellis.core.store.sessions import session_factory
from trellis.notifications.application.webhooks import ReplayResult, WebhookAdmin
from trellis.notifications.settings import NotificationsSettings
from trellis.notifications.tables import webhook_subscriptions
from trellis.notifications.webhooks.destinations import Destinations
from trellis.notifications.webhooks.secret_box import SecretBox


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
        streams = JetStreams(nc, home="notifications", import_prefix=settings.nats_import_prefix)
        admin = WebhookAdmin(
            sessions=sessions,
            store=EventStore(
                service="notifications", registry=registry, sessions=sessions, subjects=subjects
            ),
            subjects=subjects,
            jetstream=streams.of,
            destinations=Destinations(allow_private=settings.allow_private_webhook_urls),
            secret_overlap=dt.timedelta(hours=settings.webhook_secret_overlap_hours),
            wake_worker=lambda: None,  # the service's worker polls
            secrets=SecretBox.from_setting(settings.webhook_secret_keys),
        )
        return await admin.replay(
            tenant_id, subscription_id, since=since, until=until, event_types=event_types
        )
    finally:
        await nc.close()
        await engine.dispose()


def webhook_replay(runtime: Runtime, admin: WebhookAdmin) -> Callable[..., Awaitable[dict[str, Any]]]:
    """The operators' replay of a time range to one subscription (found by its id alone):
    ``dry_run`` counts the events, otherwise they are scheduled as replay deliveries."""

    async def replay(
        *,
        subscription_id: str,
        since: dt.datetime,
        until: dt.datetime | None,
        operator: str,
        dry_run: bool,
        streams: JetStreams | None = None,
    ) -> dict[str, Any]:
        """``streams``: the caller's own NATS connection's (the operators' tool), else the
        service's, else one made with its settings."""
        c = webhook_subscriptions.c
        async with runtime.sessions() as session:
            tenant_id = (
                await session.execute(
                    select(c.tenant_id).where(c.subscription_id == subscription_id, c.deleted.is_(False))
                )
            ).scalar()
        if tenant_id is None:
            raise NotFound(f"webhook subscription {subscription_id} not found")
        async with _jetstreams(runtime, streams) as reachable:
            result = await admin.reading_through(reachable.of).replay(
                tenant_id, subscription_id, since=since, until=until, dry_run=dry_run
            )
        return {
            "subscription_id": subscription_id,
            "tenant_id": tenant_id,
            "replay_id": None if dry_run else result.replay_id,
            "since": result.since.isoformat(),
            "until": result.until.isoformat(),
            "events": result.scheduled,
            "scheduled": 0 if dry_run else result.scheduled,
            "operator": operator,
        }

    return replay


@contextlib.asynccontextmanager
async def _jetstreams(runtime: Runtime, given: JetStreams | None) -> AsyncIterator[JetStreams]:
    if given is not None:
        yield given
        return
    if runtime.streams is not None and runtime.jetstream() is not None:
        yield runtime.streams
        return
    settings = runtime.settings
    nc = await connect(
        settings.nats_url, name="trellis-notifications-replay", credentials=settings.nats_credentials
    )
    try:
        yield JetStreams(nc, home=runtime.definition.name, import_prefix=settings.nats_import_prefix)
    finally:
        await nc.close()
