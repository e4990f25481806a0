"""The outbox relay: publishes committed events to JetStream, in order, at least once.

Each pass takes the oldest unpublished outbox rows, publishes them pipelined (all
in flight, acks awaited together) with ``Nats-Msg-Id`` = event id, and marks the
acknowledged prefix as published. Messages leave on one connection in row order, so
the stream stores them in that order; if any ack fails, the relay stops at the first
failure and starts again from there after a backoff. A row published but not marked
(the relay died in between) is published again; JetStream drops the copy within its
duplicate window, and consumers are idempotent by event id beyond it.

One case can still reorder: the server refusing message k for good (too large, say)
while accepting k+1 of the same aggregate; k is then retried after k+1 is stored.
Transient failures (NATS down, timeouts) cannot cause it, since the stream stores in
arrival order and a resend of k+1 is dropped as a duplicate. Events are small and
bounded, so this is left as known rather than guarded by a size check.

Only one relay per database publishes at a time: on PostgreSQL it holds a
transaction-scoped advisory lock while it publishes a batch, so replicas take turns
and never reorder each other's rows.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from trellis.core.events import utcnow
from trellis.core.tables import outbox

log = structlog.get_logger("trellis.outbox")

JetStreamProvider = Callable[[], Any]


class OutboxRelay:
    """Moves outbox rows to JetStream. ``run`` loops until cancelled."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker,
        jetstream: JetStreamProvider,
        batch_size: int = 500,
        poll_interval: float = 0.5,
        ack_timeout: float = 5.0,
        max_backoff: float = 10.0,
    ) -> None:
        self.sessions = sessions
        self.jetstream = jetstream
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.ack_timeout = ack_timeout
        self.max_backoff = max_backoff
        self._wake = asyncio.Event()
        self.published = 0

    def wake(self) -> None:
        """Ask for a pass now (called after a commit that appended events)."""
        self._wake.set()

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                count = await self.relay_once()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                delay = min(self.max_backoff, 0.1 * 2**failures) * (0.5 + random.random() / 2)
                log.warning("outbox.publish_failed", error=str(exc), retry_in=round(delay, 2))
                await asyncio.sleep(delay)
                continue
            if count >= self.batch_size:
                continue  # more waiting: keep going
            if count == 0:
                try:
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval)
                except TimeoutError:
                    pass
            self._wake.clear()

    async def relay_once(self) -> int:
        """Publish one batch; the number of rows now marked published."""
        js = self.jetstream()
        if js is None:
            raise ConnectionError("NATS not connected yet")
        async with self.sessions() as session:
            if session.get_bind().dialect.name == "postgresql":
                async with session.begin():
                    if not await self._take_turn(session):
                        return 0
                    rows = await self._unpublished(session)
                    done = await self._publish(js, rows)
                    await self._mark(session, rows, done)
            else:
                # SQLite: do not hold the single write lock while waiting for acks.
                async with session.begin():
                    rows = await self._unpublished(session)
                done = await self._publish(js, rows)
                async with session.begin():
                    await self._mark(session, rows, done)
        if done < len(rows):
            raise ConnectionError(f"published {done} of {len(rows)} outbox rows")
        return done

    async def pending(self) -> int:
        async with self.sessions() as session:
            result = await session.execute(
                select(outbox.c.id).where(outbox.c.published_at.is_(None)).limit(1)
            )
            return 1 if result.first() else 0

    async def _take_turn(self, session: AsyncSession) -> bool:
        result = await session.execute(
            text("SELECT pg_try_advisory_xact_lock(hashtext(current_schema() || '.trellis_relay'))")
        )
        return bool(result.scalar())

    async def _unpublished(self, session: AsyncSession) -> list[Any]:
        result = await session.execute(
            select(outbox.c.id, outbox.c.event_id, outbox.c.subject, outbox.c.body)
            .where(outbox.c.published_at.is_(None))
            .order_by(outbox.c.id)
            .limit(self.batch_size)
        )
        return list(result.all())

    async def _publish(self, js: Any, rows: list[Any]) -> int:
        """Publish ``rows`` pipelined; the length of the acknowledged prefix."""
        if not rows:
            return 0
        futures = []
        try:
            for row in rows:
                futures.append(
                    await js.publish_async(row.subject, row.body, headers={"Nats-Msg-Id": row.event_id})
                )
        except Exception as exc:
            log.warning("outbox.send_failed", error=str(exc), sent=len(futures))
        if not futures:
            return 0
        done, pending = await asyncio.wait(futures, timeout=self.ack_timeout)
        for fut in pending:
            fut.cancel()
        acked = 0
        for fut in futures:
            if fut in done and not fut.cancelled() and fut.exception() is None:
                acked += 1
            else:
                if fut in done and not fut.cancelled():
                    log.warning("outbox.ack_failed", error=str(fut.exception()))
                break
        self.published += acked
        return acked

    async def _mark(self, session: AsyncSession, rows: list[Any], done: int) -> None:
        if done:
            ids = [row.id for row in rows[:done]]
            await session.execute(update(outbox).where(outbox.c.id.in_(ids)).values(published_at=utcnow()))
        if done < len(rows):
            await session.execute(
                update(outbox)
                .where(outbox.c.id == rows[done].id)
                .values(attempts=outbox.c.attempts + 1, last_error="not acknowledged")
            )
