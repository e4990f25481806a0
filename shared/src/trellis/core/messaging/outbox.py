"""The outbox relay: publishes committed events to JetStream, in commit order, once.

Only the relay writes to its service's stream, and it *fences* every publish with
``Nats-Expected-Last-Sequence``: row k of a pass is accepted only if the stream's last
sequence is exactly where rows 1..k-1 put it. So all rows of a pass are in flight at
once (acks awaited together), yet if the server refuses or loses one (NATS down, a
timeout, a cluster leader election), every later row of the pass is refused too: the
stream always holds the outbox in row order (commit order), with no gaps and no
reordering, within an aggregate or across aggregates. The acknowledged prefix is
marked published; the rest waits for the next pass, after a backoff.

Each pass starts by reading the stream's last message. If its ``Nats-Msg-Id`` names an
unpublished row (a relay died after publishing, before marking), that row and every
unpublished row before it are already on the stream: they are marked, not sent again.
``Nats-Msg-Id`` (= event id) stays on every message as a second guard, and consumers
are idempotent by event id regardless.

The relay remembers the sequence and event id its own last pass left at the head of
the stream: when the stream's last sequence is still that one, nothing else has been
published since (only relays publish there) and the message is not fetched again, so a
pass costs one NATS round trip before it sends, not two.

A pass sends up to ``batches_per_pass`` batches, pipelined: while one batch's acks are
awaited, the batch before it is marked and the batch after it read, so the database's
work overlaps NATS's instead of following it. A batch is sent only once the one before it
is acknowledged whole, fenced from where that one left the stream; if it was not, the
pass marks the acknowledged prefix and ends as above. A relay killed mid-pass leaves
acknowledged rows unmarked, and the next pass recognises them from the stream's head.

Only one relay per database publishes at a time: on PostgreSQL it holds a
transaction-scoped advisory lock for the whole pass, so replicas take turns.

A row NATS can never accept (bigger than the server's max_payload or the stream's
max_msg_size, a subject the stream does not capture) would stop every later row, of
every aggregate and tenant, for ever. Such a row is *parked* instead, with its reason,
and logged at error level (``outbox_parked.py``). Rows recognised before sending (size,
subject) are parked in a pass of their own that sends nothing, committed before any later
pass sends; a row the server refuses for good is parked with the acknowledged prefix.
From then on the stream holds the outbox in row order *except* parked rows and the rows
**held** behind them: the later rows of a parked row's aggregate wait (unpublished,
skipped by every pass) until an operator retries or drops the parked row, which moves
them to the end of the outbox in their order. So per aggregate, no row ever overtakes an
earlier one; across aggregates, the others keep flowing. The recovery above skips parked
and held rows: they were never sent.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Any

import structlog
from nats.errors import BadSubjectError, MaxPayloadError
from nats.js.api import StreamConfig
from nats.js.errors import APIError, NotFoundError
from opentelemetry.trace import SpanKind
from sqlalchemy import bindparam, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from trellis.contracts.envelope import utcnow
from trellis.core import metrics, tracing
from trellis.core.messaging.outbox_parked import (
    PERMANENT_API_ERRORS,
    Publishability,
    any_parked,
    behind_parked,
    max_payload_of,
    park,
)
from trellis.core.store.database import one_of
from trellis.core.store.tables import outbox

log = structlog.get_logger("trellis.outbox")

JetStreamProvider = Callable[[], Any]


class OutboxRelay:
    """Moves outbox rows to the service's stream ``stream``. ``run`` loops until cancelled."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        jetstream: JetStreamProvider,
        stream: str,
        batch_size: int = 500,
        batches_per_pass: int = 8,
        poll_interval: float = 0.5,
        ack_timeout: float = 5.0,
        max_backoff: float = 5.0,
    ) -> None:
        self.sessions = sessions
        self.jetstream = jetstream
        self.stream = stream
        self.batch_size = batch_size
        self.batches_per_pass = batches_per_pass  # a pass's transaction (PostgreSQL) stays short
        self.poll_interval = poll_interval
        self.ack_timeout = ack_timeout
        self.max_backoff = max_backoff
        self._wake = asyncio.Event()
        self._refusal: str | None = None  # why the server refused the last pass's first unacked row
        self.published = 0
        self.parked = 0
        self._last_sent: tuple[int, str] | None = None  # (sequence, event id) of our last publish
        self.head_fetches = 0  # how often the head message had to be fetched
        self._check: tuple[tuple[Any, ...], Publishability] | None = None  # for the last limits seen

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
                metrics.RELAY_ERRORS.labels(self.stream).inc()
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
        """Publish one pass (up to ``batches_per_pass`` batches); the number of rows now
        marked published or parked."""
        js = self.jetstream()
        if js is None:
            raise ConnectionError("NATS not connected yet")
        async with self.sessions() as session:
            if session.get_bind().dialect.name == "postgresql":
                async with session.begin():
                    if not await self._take_turn(session):
                        return 0
                    head, unsent = await self._head_and_unsent(session, js)
                    count, cut_short = await self._pass(session, js, head, unsent, nullcontext)
            else:
                # SQLite: do not hold the single write lock while waiting for NATS (the
                # stream's head first, then a transaction per step; the acks outside them).
                head = await self._stream_head(js)
                count, cut_short = await self._pass(session, js, head, None, session.begin)
        if cut_short is not None:  # raised once what was acknowledged is marked and committed
            raise cut_short
        return count

    async def _pass(
        self,
        session: AsyncSession,
        js: Any,
        head: tuple[int, str | None, StreamConfig],
        unsent: tuple[bool, list[Any]] | None,
        step: Callable[[], AbstractAsyncContextManager[Any]],
    ) -> tuple[int, ConnectionError | None]:
        """Send the outbox's next rows, batch after batch, pipelined: while a batch's acks
        are awaited, the batch before it is marked and the one after it read (``step`` is
        the transaction each of those runs in: the pass's own on PostgreSQL). The rows
        marked or parked, and the error to raise if a batch was cut short."""
        async with step():
            if unsent is None:
                unsent = await self._unsent(session)
            (last_seq, config), caught_up, rows = await self._prepare(session, head, unsent)
            parked = await self._park_unpublishable(session, js, rows, config)
        if parked:  # committed before any pass sends a row after them
            self.parked += parked
            return caught_up + parked, None
        some_parked = unsent[0]
        count = caught_up
        sent: list[Any] = []
        for batch in range(self.batches_per_pass):
            publishing = asyncio.ensure_future(self._publish(js, rows, last_seq))
            following: list[Any] = []
            try:
                async with step():
                    if sent:
                        await self._mark(session, sent, len(sent))
                    if len(rows) == self.batch_size and batch + 1 < self.batches_per_pass:
                        _, following = await self._unsent(session, after=rows[-1].id, some_parked=some_parked)
            finally:
                done = await publishing  # awaited to the end whatever the database did
            count += len(sent)
            sent = []
            if done:
                self._last_sent = (last_seq + done, rows[done - 1].event_id)
                last_seq += done
            if done < len(rows):
                async with step():
                    await self._mark(session, rows, done)
                    refusal = await self._park_refused(session, rows, done)
                if refusal is not None:
                    self.parked += 1
                    return count + done + 1, None  # the rest was refused by the fence: go on
                return count + done, ConnectionError(f"published {done} of {len(rows)} outbox rows")
            sent = rows
            if not following or self._unpublishable(js, following, config):
                break  # a row that can never be sent is parked by the next pass, first
            rows = following
        if sent:
            async with step():
                await self._mark(session, sent, len(sent))
        return count + len(sent), None

    async def _head_and_unsent(
        self, session: AsyncSession, js: Any
    ) -> tuple[tuple[int, str | None, StreamConfig], tuple[bool, list[Any]]]:
        """The stream is asked while the database is read. Both are awaited to the end even
        when one fails, so no query is still running on the session when its transaction
        ends (nor is one cancelled mid-flight, which can leave a connection unusable)."""
        head, unsent = await asyncio.gather(
            self._stream_head(js), self._unsent(session), return_exceptions=True
        )
        if isinstance(head, BaseException):
            raise head
        if isinstance(unsent, BaseException):
            raise unsent
        return head, unsent

    async def _prepare(
        self,
        session: AsyncSession,
        head: tuple[int, str | None, StreamConfig],
        unsent: tuple[bool, list[Any]],
    ) -> tuple[tuple[int, StreamConfig], int, list[Any]]:
        """From the stream's head and the rows read: the head's sequence and the stream's
        configuration, the rows found already on the stream (now marked), the rows to send."""
        (last_seq, last_id, config), (some_parked, rows) = head, unsent
        ours = self._last_sent is not None and self._last_sent == (last_seq, last_id)
        # the head is our last publish, marked when it was acked: nothing to recognise
        caught_up = 0 if ours else await self._mark_already_on_stream(session, last_id, some_parked)
        if caught_up:  # some of the rows read are on the stream already: read again
            some_parked, rows = await self._unsent(session)
        return (last_seq, config), caught_up, rows

    async def pending(self) -> int:
        """1 if some row is waiting to be published (not parked, nor held behind one), else 0."""
        async with self.sessions() as session:
            some_parked = await any_parked(session)
            query = select(outbox.c.id).where(outbox.c.published_at.is_(None), outbox.c.parked_at.is_(None))
            if some_parked:
                query = query.where(~behind_parked())
            result = await session.execute(query.limit(1))
            return 1 if result.first() else 0

    async def _take_turn(self, session: AsyncSession) -> bool:
        result = await session.execute(
            text("SELECT pg_try_advisory_xact_lock(hashtext(current_schema() || '.trellis_relay'))")
        )
        return bool(result.scalar())

    async def _stream_head(self, js: Any) -> tuple[int, str | None, StreamConfig]:
        """The stream's last sequence, the event id of the message there, its configuration."""
        info = await js.stream_info(self.stream)
        last = int(info.state.last_seq)
        if last == 0:
            return 0, None, info.config
        if self._last_sent is not None and self._last_sent[0] == last:
            return last, self._last_sent[1], info.config  # ours, and nothing since
        self.head_fetches += 1
        try:
            msg = await js.get_msg(self.stream, seq=last)
        except NotFoundError:  # deleted by hand: nothing to recognise
            return last, None, info.config
        value = (msg.headers or {}).get("Nats-Msg-Id")
        return last, (str(value) if value else None), info.config

    async def _mark_already_on_stream(
        self, session: AsyncSession, last_event_id: str | None, some_parked: bool
    ) -> int:
        """Mark rows a previous pass published but did not mark; how many there were."""
        if last_event_id is None:
            return 0
        found = (
            await session.execute(
                select(outbox.c.id, outbox.c.published_at).where(outbox.c.event_id == last_event_id)
            )
        ).first()
        if found is None or found.published_at is not None:
            return 0
        # The stream holds the outbox in row order, parked and held rows left out:
        # everything else up to that row is there.
        query = (
            update(outbox)
            .where(outbox.c.published_at.is_(None), outbox.c.parked_at.is_(None), outbox.c.id <= found.id)
            .values(published_at=utcnow())
        )
        if some_parked:
            query = query.where(~behind_parked())
        result = await session.execute(query)
        count = int(result.rowcount or 0)  # type: ignore[attr-defined]
        log.info("outbox.found_published", rows=count, up_to_event=last_event_id)
        return count

    async def _unsent(
        self, session: AsyncSession, *, after: int | None = None, some_parked: bool | None = None
    ) -> tuple[bool, list[Any]]:
        """Whether any row is parked, and the next batch of rows to send (after row ``after``;
        ``some_parked`` if known: within a pass only a relay parks, and it is this one)."""
        if some_parked is None:
            some_parked = await any_parked(session)
        query = select(
            outbox.c.id, outbox.c.event_id, outbox.c.subject, outbox.c.body, outbox.c.traceparent
        ).where(outbox.c.published_at.is_(None), outbox.c.parked_at.is_(None))
        if after is not None:
            query = query.where(outbox.c.id > after)
        if some_parked:
            query = query.where(~behind_parked())
        result = await session.execute(query.order_by(outbox.c.id).limit(self.batch_size))
        return some_parked, list(result.all())

    async def _park_unpublishable(
        self, session: AsyncSession, js: Any, rows: list[Any], stream: StreamConfig
    ) -> int:
        """Park the rows of this batch that NATS can never accept; how many there were."""
        parked = self._unpublishable(js, rows, stream)
        if parked:
            await park(session, parked, utcnow())
        return len(parked)

    def _unpublishable(self, js: Any, rows: list[Any], stream: StreamConfig) -> list[tuple[Any, str]]:
        """The rows NATS can never accept, each with the reason."""
        limits = (max_payload_of(js), tuple(stream.subjects or ()), stream.max_msg_size or -1)
        if self._check is None or self._check[0] != limits:  # the limits rarely change
            payload, subjects, msg_size = limits
            check = Publishability(max_payload=payload, stream_subjects=list(subjects), max_msg_size=msg_size)
            self._check = (limits, check)
        unpublishable = self._check[1]
        return [(row, reason) for row in rows if (reason := unpublishable(row)) is not None]

    async def _park_refused(self, session: AsyncSession, rows: list[Any], done: int) -> str | None:
        """Park the first unacknowledged row if the server refused it for good."""
        if done >= len(rows) or self._refusal is None:
            return None
        refusal, self._refusal = self._refusal, None
        await park(session, [(rows[done], refusal)], utcnow())
        return refusal

    async def _publish(self, js: Any, rows: list[Any], last_seq: int) -> int:
        """Publish ``rows`` pipelined and fenced; the length of the acknowledged prefix."""
        if not rows:
            return 0
        with tracing.tracer.start_as_current_span(
            f"publish {self.stream}",
            kind=SpanKind.PRODUCER,
            attributes={"trellis.events": len(rows)},
            links=tracing.links([row.traceparent for row in rows]),
        ):
            return await self._publish_rows(js, rows, last_seq)

    async def _publish_rows(self, js: Any, rows: list[Any], last_seq: int) -> int:
        self._refusal = None
        futures = []
        unsent: str | None = None
        try:
            for i, row in enumerate(rows):
                headers = _headers(row, last_seq + i)
                futures.append(await js.publish_async(row.subject, row.body, headers=headers))
        except (MaxPayloadError, BadSubjectError) as exc:  # missed by the checks: refused for good
            unsent = f"{type(exc).__name__}: {exc}"
            log.warning("outbox.send_failed", error=unsent, sent=len(futures))
        except Exception as exc:
            log.warning("outbox.send_failed", error=str(exc), sent=len(futures))
        acked = 0
        if futures:
            done, pending = await asyncio.wait(futures, timeout=self.ack_timeout)
            for fut in pending:
                fut.cancel()
            for fut in futures:
                if fut in done and not fut.cancelled() and fut.exception() is None:
                    acked += 1
                    continue
                if fut in done and not fut.cancelled():
                    log.warning("outbox.ack_failed", error=str(fut.exception()))
                else:
                    # nats-py never resolves an async publish the server answered with an
                    # error: ask again, synchronously, to learn whether it is for good.
                    acked += await self._probe(js, rows[acked], last_seq + acked)
                break  # the fence refuses every later row of this pass anyway
        if acked == len(futures) and unsent is not None:
            self._refusal = unsent
        self.published += acked
        metrics.RELAY_PUBLISHED.labels(self.stream).inc(acked)
        return acked

    async def _probe(self, js: Any, row: Any, expected_last: int) -> int:
        """Publish ``row`` once more and wait for the answer: 1 if it is now on the stream;
        records a refusal for good (``PERMANENT_API_ERRORS``) in ``_refusal``."""
        headers = _headers(row, expected_last)
        try:
            await js.publish(row.subject, row.body, headers=headers, timeout=self.ack_timeout)
        except APIError as exc:
            log.warning("outbox.ack_failed", error=str(exc))
            if exc.err_code in PERMANENT_API_ERRORS:
                self._refusal = f"refused by the stream: {exc.description} ({exc.err_code})"
            return 0
        except Exception as exc:
            log.warning("outbox.ack_failed", error=str(exc) or type(exc).__name__)
            return 0
        return 1

    async def _mark(self, session: AsyncSession, rows: list[Any], done: int) -> None:
        if done:
            postgres = session.get_bind().dialect.name == "postgresql"
            await session.execute(
                _MARK_PUBLISHED[postgres], {"ids": [row.id for row in rows[:done]], "now": utcnow()}
            )
        if done < len(rows):
            await session.execute(
                update(outbox)
                .where(outbox.c.id == rows[done].id)
                .values(attempts=outbox.c.attempts + 1, last_error="not acknowledged")
            )


# The acknowledged rows of a pass marked published (by dialect: PostgreSQL's one statement
# for any number of rows, ``one_of``).
_MARK_PUBLISHED = {
    postgres: update(outbox)
    .where(one_of(outbox.c.id, "ids", postgres=postgres))
    .values(published_at=bindparam("now"))
    for postgres in (False, True)
}


def _headers(row: Any, expected_last: int) -> dict[str, str]:
    """The NATS headers of an outbox row: its id (dedupe), the fence, its trace context."""
    headers = {"Nats-Msg-Id": row.event_id, "Nats-Expected-Last-Sequence": str(expected_last)}
    if row.traceparent:
        headers["traceparent"] = row.traceparent
    return headers
