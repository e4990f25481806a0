"""Applying a batch of deliveries exactly once, in each aggregate's order.

Per batch, one database transaction. The batch is first applied optimistically: every
handler in turn, then all processed records in one insert. If anything in it is not
plain (a malformed message, a parked aggregate) or a handler raises, that attempt is
rolled back and the batch is applied carefully, one savepoint per delivery:

- already processed (its event id is recorded for this consumer) → ack, nothing applied;
- undecodable (bad JSON, unknown type, invalid payload) → dead letter, ack, with the
  envelope fields that can still be read (event id, type, tenant, aggregate). One of a
  known aggregate keeps its place like any event (parked, or waiting in its aggregate's
  line below) and, dead-lettered, parks its aggregate as a handler failing for good does;
- an earlier event of the same aggregate is in dead letters → parked behind it (dead
  letter with that reason), ack: a view never applies event N+1 of an aggregate
  without N. Redriving the dead letters (operators' tools) replays them in order;
- handler fails → savepoint rolled back, the failure counted (in ``consumer_failures``,
  committed with the batch); nak with a growing delay; after ``max_attempts`` failures
  → dead letter with the reason, ack. While an event is being retried it *holds* its
  aggregate: later events of that aggregate, in this batch or any later one (fetched
  by this instance or another), line up behind it (a ``consumer_failures`` row each,
  with its stream sequence) and are naked; the line is applied in stream order, each
  event once it is redelivered and first in line, so order per aggregate is kept
  through retries (were waiting events merely naked, the first one redelivered after
  the retried event succeeds would go first, whatever its place);
- handler succeeds → the processed record is inserted in the same savepoint.

After a rebuilt view was swapped in (``handover.py``), the consumer has a *watermark*:
the rebuilt view holds every event up to it. Each batch reads it first, under the
consumer's hand-over lock (shared; a swap takes it exclusively), and events at or below
it are acked without being applied (an event in line that it covers leaves the line);
events above it are applied as above, exactly once.

Failures are counted here, not read from the server's delivery count: redeliveries
caused by the database being down must never dead-letter an event. Every statement on
the consumer's state goes through its ``ConsumerLedger``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from trellis.contracts.envelope import RecordedEvent
from trellis.core.consuming.delivery import ACK, Delivery, Outcome, RetryPolicy
from trellis.core.consuming.handover import GLOBAL_POSITION, Watermark
from trellis.core.consuming.leases import LeaseLost
from trellis.core.consuming.ledger import ConsumerLedger
from trellis.core.consuming.projection import Consumer
from trellis.core.consuming.undecodable import Undecodable
from trellis.core.errors import MalformedEvent
from trellis.core.store.transaction import Transaction

log = structlog.get_logger("trellis.consumer")

Fence = Callable[[AsyncSession], Awaitable[None]]  # the batch transaction's last statement


class _NotPlain(Exception):
    """The batch needs the careful path."""


@dataclass
class _Batch:
    """What the careful path knows while it goes through a batch."""

    done: set[str]  # event ids already applied
    parked: dict[str, str]  # aggregate → the dead-lettered event it is parked behind
    lines: dict[str, list[str]]  # aggregate → events in line (being retried, then waiting)
    waiting: set[str] = field(default_factory=set)  # aggregates with an event naked in this batch


class ExactlyOnce:
    """Applies batches of deliveries to ``projection``, recording them in ``ledger``."""

    def __init__(self, ledger: ConsumerLedger, projection: Consumer, retry: RetryPolicy) -> None:
        self.ledger = ledger
        self.projection = projection
        self.retry = retry
        self.applied = 0  # events applied so far

    @property
    def name(self) -> str:
        return self.ledger.consumer

    async def apply(self, deliveries: list[Delivery], *, fence: Fence | None = None) -> list[Outcome]:
        """Apply one batch in one transaction (``fence`` its last statement, which may refuse
        the commit by raising); what to tell the server about each delivery."""
        if all(isinstance(d.event, RecordedEvent) for d in deliveries):
            try:
                return await self._apply_optimistically(deliveries, fence)
            except _NotPlain:
                pass
            except (asyncio.CancelledError, LeaseLost):
                raise
            except Exception as exc:
                log.debug("consumer.batch_falls_back", consumer=self.name, error=str(exc))
        return await self._apply_carefully(deliveries, fence)

    async def _apply_optimistically(self, deliveries: list[Delivery], fence: Fence | None) -> list[Outcome]:
        """The common case: every event applies. One transaction, no savepoints."""
        events = [d.event for d in deliveries if isinstance(d.event, RecordedEvent)]
        ids = [str(e.event_id) for e in events]
        async with self.ledger.sessions() as session, session.begin():
            first = await self.ledger.preflight(session, ids, {e.aggregate_id for e in events})
            if first.blocked:
                raise _NotPlain
            watermark, done = first.watermark, first.done
            fresh: dict[str, RecordedEvent] = {}  # one copy of each, in order
            for event_id, delivery, event in zip(ids, deliveries, events, strict=True):
                if event_id not in done and not _covered(watermark, delivery):
                    fresh.setdefault(event_id, event)
            await self.ledger.apply_all(session, self.projection, list(fresh.values()))
            if fence is not None:
                await fence(session)
        self.applied += len(fresh)
        return [ACK for _ in deliveries]

    async def _apply_carefully(self, deliveries: list[Delivery], fence: Fence | None) -> list[Outcome]:
        keys = [d.key for d in deliveries]
        ids = [key[0] for key in keys if key is not None]
        aggregates = {key[1] for key in keys if key is not None}
        outcomes: list[Outcome] = []
        async with self.ledger.sessions() as session, session.begin():
            first = await self.ledger.preflight(session, ids, aggregates)
            watermark = first.watermark
            batch = _Batch(first.done, first.parked, first.lines)  # read fresh: this batch's own
            for delivery in deliveries:
                if _covered(watermark, delivery):
                    outcomes.append(await self._skip_covered(session, delivery, batch))
                else:
                    outcomes.append(await self._apply_one(session, delivery, batch))
            if fence is not None:
                await fence(session)
        return outcomes

    async def _skip_covered(self, session: Transaction, delivery: Delivery, batch: _Batch) -> Outcome:
        """An event the swapped-in view already holds (or dead-lettered itself): ack it."""
        key = delivery.key
        if key is not None:
            await self._leave_line(session, batch, key[1], key[0])
        return ACK

    async def _apply_one(self, session: Transaction, delivery: Delivery, batch: _Batch) -> Outcome:
        item = delivery.event
        key = delivery.key
        if key is None:  # no aggregate whose order it could keep: it stands alone
            assert isinstance(item, Undecodable)
            log.error("consumer.malformed_event", consumer=self.name, reason=item.reason)
            await self.ledger.dead_letter(session, delivery, item.reason)
            return ACK
        event_id, aggregate = key
        if event_id in batch.done:  # (an undecodable one: applied when it could still be decoded)
            await self._leave_line(session, batch, aggregate, event_id)
            return ACK
        if aggregate in batch.parked:
            await self._leave_line(session, batch, aggregate, event_id)
            reason = f"parked behind dead-lettered event {batch.parked[aggregate]} of the same aggregate"
            if isinstance(item, Undecodable):
                reason = f"{reason}; undecodable too: {item.reason}"
            await self.ledger.dead_letter(session, delivery, reason)
            return ACK
        line = batch.lines.get(aggregate)
        if aggregate in batch.waiting or (line and line[0] != event_id):
            if not line or event_id not in line:
                await self._join_line(session, batch, delivery, event_id, aggregate)
            return Outcome(ack=False, nak_delay=self.retry.delay(1))
        if isinstance(item, Undecodable):  # its turn: it parks its aggregate, as a failure for good does
            log.error("consumer.dead_lettered", consumer=self.name, event_id=event_id, reason=item.reason)
            await self.ledger.dead_letter(session, delivery, item.reason)
            await self._leave_line(session, batch, aggregate, event_id)
            batch.parked[aggregate] = event_id
            return ACK
        bound = structlog.contextvars.bound_contextvars(
            event_id=event_id,
            tenant=item.tenant_id,
            correlation_id=item.envelope.correlation_id,
            consumer=self.name,
        )
        with bound:
            try:
                async with self.ledger.applying(session, self.projection, item):
                    await self._leave_line(session, batch, aggregate, event_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if line:  # the savepoint undid the row's removal: put it back in memory too
                    batch.lines[aggregate] = line
                reason = f"{type(exc).__name__}: {exc}"
                attempts = await self.ledger.count_failure(
                    session, item.envelope, reason, delivery.stream_sequence
                )
                if isinstance(exc, MalformedEvent) or attempts >= self.retry.max_attempts:
                    log.error("consumer.dead_lettered", reason=reason, attempts=attempts)
                    await self.ledger.dead_letter(session, delivery, reason, deliveries=attempts)
                    if not line:  # its failure row, counted just now, is in no line yet
                        await self.ledger.leave_line(session, event_id)
                    await self._leave_line(session, batch, aggregate, event_id)  # the dead letter parks now
                    batch.parked[aggregate] = event_id
                    return ACK
                log.warning("consumer.handler_failed", reason=reason, attempts=attempts)
                if not line:
                    batch.lines[aggregate] = [event_id]
                batch.waiting.add(aggregate)
                return Outcome(ack=False, nak_delay=self.retry.delay(attempts))
        batch.done.add(event_id)
        self.applied += 1
        return ACK

    async def _join_line(
        self, session: Transaction, batch: _Batch, delivery: Delivery, event_id: str, aggregate: str
    ) -> None:
        """Queue an event behind the earlier events of its aggregate that are being retried or
        are waiting: it is applied after them, in stream order, whenever each is redelivered."""
        line = batch.lines.setdefault(aggregate, [])
        behind = line[0] if line else None
        await self.ledger.join_line(session, event_id, aggregate, delivery.stream_sequence, behind=behind)
        line.append(event_id)

    async def _leave_line(self, session: Transaction, batch: _Batch, aggregate: str, event_id: str) -> None:
        line = batch.lines.get(aggregate)
        if not line or event_id not in line:
            return
        await self.ledger.leave_line(session, event_id)
        remaining = [e for e in line if e != event_id]
        if remaining:
            batch.lines[aggregate] = remaining
        else:
            del batch.lines[aggregate]


def _covered(watermark: Watermark | None, delivery: Delivery) -> bool:
    if watermark is None:
        return False
    item, sequence = delivery.event, delivery.stream_sequence
    if isinstance(item, RecordedEvent):
        return watermark.covers(item.envelope, sequence)
    position = item.global_position if watermark.kind == GLOBAL_POSITION else sequence
    return position is not None and position <= watermark.position
