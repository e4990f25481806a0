"""The delivery worker: sends due webhook deliveries, many at once, and records each attempt.

State lives in the database (``webhook_deliveries``): a delivery is leased while its
attempt is in flight, and the attempt's outcome, the next attempt time and the log row
commit together afterwards. A restart mid-retry loses nothing: pending deliveries are
picked up again when due (one in flight when the process died is retried once its lease
expires, with the same ``webhook-id``, so the receiver can tell).

Concurrency: up to ``webhook_concurrency`` attempts in flight, at most
``webhook_per_subscription_concurrency`` per subscription, so a slow endpoint never holds
up the others; one delivery at a time per (subscription, aggregate), so order per
aggregate holds (see ``deliveries.claim_due``).

Outcomes: 2xx delivered. 408, 429, 5xx, other non-2xx statuses, timeouts and connection
errors are retried on the schedule (with jitter), or after ``Retry-After`` when the
response has one. 410 gives up and disables the subscription; any other 4xx gives up.
A delivery given up counts as a failure of its subscription; after
``webhook_disable_after_failures`` failures in a row (a delivered one resets the count),
the subscription is disabled and the ``admin`` role inbox is told.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import random
import time
from dataclasses import dataclass

import httpx
import structlog
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from trellis.contracts.notifications import Subject, WebhookDelivered, WebhookDeliveryFailed
from trellis.core.event_store import EventStore
from trellis.core.events import DomainEvent, Metadata, utcnow
from trellis.core.repository import Repository
from trellis.notifications.application.notifier import ACTOR, Notifier
from trellis.notifications.domain.notification import role_inbox
from trellis.notifications.domain.subscription import DisableReason, WebhookSubscription
from trellis.notifications.rules import Notice
from trellis.notifications.settings import NotificationsSettings
from trellis.notifications.tables import webhook_subscriptions
from trellis.notifications.webhooks import deliveries, subscriptions
from trellis.notifications.webhooks.destinations import DestinationRefused, check_destination
from trellis.notifications.webhooks.signing import signed_headers

log = structlog.get_logger("trellis.notifications.webhooks")

USER_AGENT = "Trellis-Webhooks/1.0"
EXCERPT_BYTES = 1024
MIN_PAUSE = 0.01
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


class DeliveryWorker:
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
        self.client: httpx.AsyncClient | None = None
        self._wake = asyncio.Event()
        self._inflight: dict[asyncio.Task[None], str] = {}
        self.attempts = 0

    @property
    def lease(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.settings.webhook_timeout + 5)

    def wake(self) -> None:
        """Look for due deliveries now (a fan-out committed, an attempt finished)."""
        self._wake.set()

    async def run(self) -> None:
        timeout = httpx.Timeout(
            self.settings.webhook_timeout, connect=min(5.0, self.settings.webhook_timeout)
        )
        limits = httpx.Limits(max_connections=self.settings.webhook_concurrency * 2)
        async with httpx.AsyncClient(timeout=timeout, limits=limits, follow_redirects=False) as client:
            self.client = client
            try:
                while True:
                    self._wake.clear()  # a wake from now on (an attempt finishing) is not lost
                    try:
                        claimed = await self.dispatch_due()
                        if claimed and len(self._inflight) < self.settings.webhook_concurrency:
                            continue  # there may be more due
                        pause = await self._sleep_for()
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:
                        log.warning("webhooks.pass_failed", error=f"{type(exc).__name__}: {exc}")
                        claimed, pause = 0, self.settings.webhook_poll_interval
                    if not claimed and pause <= MIN_PAUSE:
                        # due, yet nothing could be taken: every slot is busy, or another
                        # replica holds them. A finishing attempt wakes us; else poll.
                        pause = self.settings.webhook_poll_interval
                    try:
                        await asyncio.wait_for(self._wake.wait(), pause)
                    except TimeoutError:
                        pass
            finally:
                tasks = list(self._inflight)
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                self.client = None

    async def dispatch_due(self) -> int:
        """Lease what is due (within the concurrency limits) and start sending it; how many."""
        free = self.settings.webhook_concurrency - len(self._inflight)
        if free <= 0:
            return 0
        busy: dict[str, int] = {}
        for sub in self._inflight.values():
            busy[sub] = busy.get(sub, 0) + 1
        async with self.sessions() as session, session.begin():
            rows = await deliveries.claim_due(
                session,
                utcnow(),
                limit=free,
                lease=self.lease,
                per_subscription=self.settings.webhook_per_subscription_concurrency,
                busy=busy,
            )
        for row in rows:
            task = asyncio.create_task(self._deliver(row), name=f"webhook-{row['delivery_id']}")
            self._inflight[task] = row["subscription_id"]
            task.add_done_callback(self._finished)
        return len(rows)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._inflight.pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("webhooks.delivery_crashed", error=repr(task.exception()))
        self.wake()

    async def _sleep_for(self) -> float:
        async with self.sessions() as session:
            due = await deliveries.next_due_at(session, utcnow())
        if due is None:
            return self.settings.webhook_poll_interval
        due = due if due.tzinfo else due.replace(tzinfo=dt.UTC)
        wait = (due - utcnow()).total_seconds()
        return max(MIN_PAUSE, min(self.settings.webhook_poll_interval, wait))

    async def _deliver(self, row: dict) -> None:
        bound = structlog.contextvars.bound_contextvars(
            tenant=row["tenant_id"], delivery=row["delivery_id"], subscription=row["subscription_id"]
        )
        with bound:
            async with self.sessions() as session, session.begin():
                sub = await subscriptions.find(session, row["tenant_id"], row["subscription_id"])
                secrets = await subscriptions.live_secrets(session, row["subscription_id"], utcnow())
                if sub is None or not sub["enabled"] or not secrets:
                    await deliveries.settle(session, row["seq"])  # release: not ours to send now
                    return
            outcome = await self._attempt(row, sub["url"], secrets)
            self.attempts += 1
            await self._record(row, outcome)

    async def _attempt(self, row: dict, url: str, secrets: list[str]) -> Outcome:
        try:
            await check_destination(url, allow_private=self.settings.allow_private_webhook_urls)
        except DestinationRefused as exc:
            return Outcome("failed", error=exc.message)
        body = row["body"].encode()
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            **signed_headers(secrets, row["webhook_id"], int(time.time()), body),
        }
        if row["replay_id"]:
            headers["trellis-replay-id"] = row["replay_id"]
        assert self.client is not None
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.settings.webhook_timeout):
                async with self.client.stream("POST", url, content=body, headers=headers) as response:
                    excerpt = await _excerpt(response)
        except (TimeoutError, httpx.TimeoutException):
            latency = (time.perf_counter() - started) * 1000
            return Outcome(
                "retry", error=f"timed out after {self.settings.webhook_timeout:g}s", latency_ms=latency
            )
        except httpx.HTTPError as exc:
            latency = (time.perf_counter() - started) * 1000
            return Outcome("retry", error=f"{type(exc).__name__}: {exc}"[:500], latency_ms=latency)
        latency = (time.perf_counter() - started) * 1000
        status = response.status_code
        return Outcome(
            classify(status),
            status_code=status,
            error=None if 200 <= status < 300 else f"HTTP {status}",
            excerpt=excerpt,
            latency_ms=latency,
            retry_after=retry_after_seconds(response.headers.get("retry-after"), utcnow()),
            gone=status == 410,
        )

    async def _record(self, row: dict, outcome: Outcome) -> None:
        now = utcnow()
        attempt = row["attempts"] + 1
        schedule = self.settings.webhook_retry_schedule
        kind, reason = outcome.kind, outcome.error or ""
        if kind == "retry" and attempt > len(schedule):
            kind, reason = "failed", f"gave up after {attempt} attempts: {outcome.error}"
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
                await deliveries.settle(
                    session, row["seq"], next_attempt_at=now + dt.timedelta(seconds=delay), **common
                )
                log.info(
                    "webhooks.retry_scheduled", attempt=attempt, retry_in=round(delay, 2), error=outcome.error
                )
                return
            await deliveries.settle(
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

    async def _append_outcome(self, session: AsyncSession, row: dict, event: DomainEvent) -> None:
        version = await self.store.current_version(session, row["delivery_id"])
        await self.store.append(
            session,
            aggregate_type="webhook_delivery",
            aggregate_id=row["delivery_id"],
            expected_version=version,
            events=[event],
            metadata=Metadata(tenant_id=row["tenant_id"], actor_id=ACTOR, causation_id=row["event_id"]),
        )

    async def _set_failures(self, session: AsyncSession, subscription_id: str, count: int) -> None:
        await session.execute(
            update(webhook_subscriptions)
            .where(webhook_subscriptions.c.subscription_id == subscription_id)
            .values(consecutive_failures=count)
        )

    async def _count_failure(self, session: AsyncSession, row: dict, outcome: Outcome) -> None:
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
        self, session: AsyncSession, row: dict, reason: DisableReason, failures: int, detail: str
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


async def _excerpt(response: httpx.Response) -> str:
    data = b""
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) >= EXCERPT_BYTES:
            break
    return data[:EXCERPT_BYTES].decode("utf-8", errors="replace")[:500]
