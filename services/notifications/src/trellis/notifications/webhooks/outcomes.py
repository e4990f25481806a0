"""What an attempt came to, and recording it: the delivery log, the retry schedule, the
outcome events, the subscription's failure count, and disabling it (with ``admin`` told).

All of it commits in one transaction per attempt, after the HTTP call (never during it).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import random
from dataclasses import dataclass

import structlog
from sqlalchemy import update
from sqlalchemy.ext.asyncio import async_sessionmaker

from trellis.contracts.envelope import DomainEvent, Metadata, utcnow
from trellis.contracts.notifications import Subject, WebhookDelivered, WebhookDeliveryFailed
from trellis.core import metrics
from trellis.core.store.event_store import EventStore
from trellis.core.store.repository import Repository
from trellis.core.store.transaction import Transaction
from trellis.notifications.application.notifier import ACTOR, Notifier
from trellis.notifications.domain.notification import role_inbox
from trellis.notifications.domain.subscription import DisableReason, WebhookSubscription
from trellis.notifications.reactions.rules import Notice
from trellis.notifications.settings import NotificationsSettings
from trellis.notifications.tables import webhook_subscriptions
from trellis.notifications.webhooks import deliveries, subscriptions

log = structlog.get_logger("trellis.notifications.webhooks")

NOT_RETRIED_4XX_EXCEPT = (408, 429)


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to."""

    kind: str  # delivered | retry | failed
    status_code: int | None = None
    error: str | None = None
    excerpt: str = ""
    latency_ms: float = 0.0
    retry_after: float | None = None
    gone: bool = False


def classify(status: int) -> str:
    if 200 <= status < 300:
        return "delivered"
    if 400 <= status < 500 and status not in NOT_RETRIED_4XX_EXCEPT:
        return "failed"
    return "retry"


def retry_after_seconds(value: str | None, now: dt.datetime) -> float | None:
    """``Retry-After`` as seconds from now: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - now).total_seconds())


class OutcomeRecorder:
    """Records attempts for the delivery worker."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker,
        store: EventStore,
        notifier: Notifier,
        settings: NotificationsSettings,
    ) -> None:
        self.sessions = sessions
        self.store = store
        self.notifier = notifier
        self.settings = settings
        self.subscriptions = Repository(store, WebhookSubscription)

    async def record(self, row: dict, outcome: Outcome) -> None:
        """Log the attempt and decide: delivered, retry later, or given up."""
        now = utcnow()
        attempt = row["attempts"] + 1
        schedule = self.settings.webhook_retry_schedule
        kind, reason = outcome.kind, outcome.error or ""
        if kind == "retry" and attempt > len(schedule):
            kind, reason = "failed", f"gave up after {attempt} attempts: {outcome.error}"
        metrics.WEBHOOK_ATTEMPTS.labels("gone" if outcome.gone else kind).inc()
        async with self.sessions() as session, session.begin():
            await deliveries.record_attempt(
                session,
                delivery_id=row["delivery_id"],
                subscription_id=row["subscription_id"],
                attempt=row["total_attempts"] + 1,
                attempted_at=now,
                status_code=outcome.status_code,
                latency_ms=outcome.latency_ms,
                response_excerpt=outcome.excerpt,
                error=outcome.error,
                outcome=kind if kind != "retry" else "retrying",
            )
            common = {
                "attempts": attempt,
                "total_attempts": row["total_attempts"] + 1,
                "last_status_code": outcome.status_code,
                "last_error": outcome.error,
            }
            if kind == "retry":
                delay = self._delay(attempt, outcome.retry_after)
                await deliveries.release(
                    session, row["seq"], next_attempt_at=now + dt.timedelta(seconds=delay), **common
                )
                log.info(
                    "webhooks.retry_scheduled", attempt=attempt, retry_in=round(delay, 2), error=outcome.error
                )
                return
            await deliveries.release(
                session,
                row["seq"],
                status=deliveries.DELIVERED if kind == "delivered" else deliveries.FAILED,
                finished_at=now,
                **common,
            )
            if kind == "delivered":
                await self._append_outcome(
                    session,
                    row,
                    WebhookDelivered(
                        **self._fields(row),
                        attempts=common["total_attempts"],
                        status_code=outcome.status_code or 0,
                    ),
                )
                await self._set_failures(session, row["subscription_id"], 0)
                return
            log.warning("webhooks.delivery_failed", reason=reason, status=outcome.status_code)
            await self._append_outcome(
                session,
                row,
                WebhookDeliveryFailed(
                    **self._fields(row),
                    attempts=common["total_attempts"],
                    status_code=outcome.status_code,
                    reason=reason[:500],
                ),
            )
            await self._count_failure(session, row, outcome)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.settings.webhook_max_retry_after)
        base = self.settings.webhook_retry_schedule[attempt - 1]
        jitter = self.settings.webhook_retry_jitter
        return max(0.0, base * (1 + random.uniform(-jitter, jitter)))

    @staticmethod
    def _fields(row: dict) -> dict:
        return {
            "delivery_id": row["delivery_id"],
            "subscription_id": row["subscription_id"],
            "webhook_id": row["webhook_id"],
            "event_id": row["event_id"],
            "webhook_type": row["event_type"],
            "replay_id": row["replay_id"],
        }

    async def _append_outcome(self, session: Transaction, row: dict, event: DomainEvent) -> None:
        version = await self.store.current_version(session, row["delivery_id"])
        await self.store.append(
            session,
            aggregate_type="webhook_delivery",
            aggregate_id=row["delivery_id"],
            expected_version=version,
            events=[event],
            metadata=Metadata(tenant_id=row["tenant_id"], actor_id=ACTOR, causation_id=row["event_id"]),
        )

    async def _set_failures(self, session: Transaction, subscription_id: str, count: int) -> None:
        await session.execute(
            update(webhook_subscriptions)
            .where(webhook_subscriptions.c.subscription_id == subscription_id)
            .values(consecutive_failures=count)
        )

    async def _count_failure(self, session: Transaction, row: dict, outcome: Outcome) -> None:
        sub = await subscriptions.find(session, row["tenant_id"], row["subscription_id"])
        if sub is None:
            return
        failures = sub["consecutive_failures"] + 1
        await self._set_failures(session, row["subscription_id"], failures)
        if outcome.gone:
            await self._disable(session, row, "endpoint_gone", failures, "the endpoint answered 410 Gone")
        elif failures >= self.settings.webhook_disable_after_failures:
            await self._disable(session, row, "failing", failures, f"{failures} deliveries in a row failed")

    async def _disable(
        self, session: Transaction, row: dict, reason: DisableReason, failures: int, detail: str
    ) -> None:
        tenant = row["tenant_id"]
        sub = await self.subscriptions.find(session, row["subscription_id"], tenant)
        if sub is None or not sub.enabled:
            return
        sub.disable(reason, failures=failures, detail=detail)
        stored = await self.subscriptions.save(session, sub, Metadata(tenant_id=tenant, actor_id=ACTOR))
        await subscriptions.project(session, self.store.registry, stored)
        log.warning("webhooks.subscription_disabled", reason=reason, failures=failures)
        text = (
            f"Webhook subscription to {sub.url} was disabled: {detail}. Re-enable it once the endpoint works."
        )
        notice = Notice(
            role_inbox("admin"),
            "webhook.subscription_disabled",
            text,
            Subject(service="notifications", type="webhook_subscription", id=sub.id),
        )
        await self.notifier.notify(session, stored[0], "notifications", [notice])
