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

Destinations: each connection goes to an address resolved and checked for it, once
(``transport.py``), or through the configured egress proxy; a destination refused then
gives up the delivery with the reason and nothing from the host. So a response excerpt
in the delivery log only ever comes from an address webhooks may reach.

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
import time

import httpx
import structlog
from opentelemetry.trace import SpanKind
from sqlalchemy.ext.asyncio import async_sessionmaker

from trellis.contracts.envelope import utcnow
from trellis.core import tracing
from trellis.core.store.event_store import EventStore
from trellis.notifications.application.notifier import Notifier
from trellis.notifications.settings import NotificationsSettings
from trellis.notifications.webhooks import deliveries, subscriptions
from trellis.notifications.webhooks.destinations import (
    DestinationRefused,
    Destinations,
    DestinationUnresolved,
)
from trellis.notifications.webhooks.outcomes import Outcome, OutcomeRecorder, classify, retry_after_seconds
from trellis.notifications.webhooks.secret_box import SecretBox
from trellis.notifications.webhooks.signing import signed_headers
from trellis.notifications.webhooks.transport import delivery_transport

log = structlog.get_logger("trellis.notifications.webhooks")

USER_AGENT = "Trellis-Webhooks/1.0"
EXCERPT_BYTES = 1024
MIN_PAUSE = 0.01


class DeliveryWorker:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker,
        store: EventStore,
        notifier: Notifier,
        settings: NotificationsSettings,
        destinations: Destinations,
        secrets: SecretBox,
    ) -> None:
        self.sessions = sessions
        self.secrets = secrets
        self.store = store
        self.notifier = notifier
        self.settings = settings
        self.destinations = destinations
        self.recorder = OutcomeRecorder(sessions=sessions, store=store, notifier=notifier, settings=settings)
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
        resealed = await self.secrets.reseal_all(self.sessions)  # under the newest key
        if resealed:
            log.info("webhooks.secrets_resealed", secrets=resealed)
        timeout = httpx.Timeout(
            self.settings.webhook_timeout, connect=min(5.0, self.settings.webhook_timeout)
        )
        transport = delivery_transport(
            self.destinations,
            limits=httpx.Limits(max_connections=self.settings.webhook_concurrency * 2),
            egress_proxy=self.settings.webhook_egress_proxy,
        )
        async with httpx.AsyncClient(timeout=timeout, transport=transport, follow_redirects=False) as client:
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
                secrets = await subscriptions.live_secrets(
                    session, row["subscription_id"], utcnow(), self.secrets
                )
                if sub is None or not sub["enabled"] or not secrets:
                    await deliveries.release(session, row["seq"])  # release: not ours to send now
                    return
            outcome = await self._attempt(row, sub["url"], secrets)
            self.attempts += 1
            await self.recorder.record(row, outcome)

    async def _attempt(self, row: dict, url: str, secrets: list[str]) -> Outcome:
        with tracing.tracer.start_as_current_span(
            f"webhook {row['event_type']}",
            context=tracing.context_of(row.get("traceparent")),
            kind=SpanKind.CLIENT,
            attributes={
                "trellis.subscription_id": row["subscription_id"],
                "trellis.attempt": row["attempts"] + 1,
            },
        ) as span:
            outcome = await self._send(row, url, secrets)
            span.set_attribute("trellis.outcome", outcome.kind)
            return outcome

    async def _send(self, row: dict, url: str, secrets: list[str]) -> Outcome:
        try:
            # through a proxy the host is never resolved here: a literal address still is checked
            await self.destinations.check(url, resolve=False)
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
        trace = tracing.traceparent()
        if trace:  # the subscriber may continue the trace
            headers["traceparent"] = trace
        assert self.client is not None
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.settings.webhook_timeout):
                async with self.client.stream("POST", url, content=body, headers=headers) as response:
                    excerpt = await _excerpt(response)
        except DestinationUnresolved as exc:  # DNS may be back by the next attempt
            latency = (time.perf_counter() - started) * 1000
            return Outcome("retry", error=exc.message, latency_ms=latency)
        except DestinationRefused as exc:  # from the connection itself: nothing was sent
            return Outcome("failed", error=exc.message)
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


async def _excerpt(response: httpx.Response) -> str:
    data = b""
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) >= EXCERPT_BYTES:
            break
    return data[:EXCERPT_BYTES].decode("utf-8", errors="replace")[:500]
