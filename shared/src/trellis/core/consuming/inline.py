"""Inline projection: a read view written in the transaction that creates an aggregate.

A projection normally learns of an event after the outbox relay has published it and the
consumer has fetched it: a few milliseconds at rest, more under load. For a view that a
user looks at right after the write (a notification in its recipient's inbox), that hop
is the whole latency. ``InlineProjection`` applies the projection's handlers to the first
events of a *new* aggregate in the appending transaction itself, and records them as
processed for the projection's consumer in the same transaction; when the events come
back on the stream, the consumer skips them as duplicates and goes on with the later
events of that aggregate in order (there are no earlier ones to wait for).

- Only a new aggregate's events (its append starts at version 1): an event of an existing
  aggregate may have to wait behind earlier ones the consumer has not applied (retries,
  parked events), which only the consumer knows.
- The consumer's hand-over lock is taken shared, as a consumer batch takes it, so a
  rebuild's swap either sees the event in the store before it reads the head or finds it
  in the view it swaps in.
- A handler failing here does not fail the command: its savepoint is rolled back and the
  event is left to the consumer, which retries or dead-letters it as usual.
"""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from trellis.contracts.envelope import EventEnvelope, EventRegistry
from trellis.core.consuming.ledger import ConsumerLedger
from trellis.core.consuming.projection import Projection
from trellis.core.store.transaction import Transaction

log = structlog.get_logger("trellis.inline")


class InlineProjection:
    """An append hook (``EventStore.after_append``) applying ``projection`` inline."""

    def __init__(
        self, projection: Projection, *, registry: EventRegistry, sessions: async_sessionmaker[AsyncSession]
    ) -> None:
        self.projection = projection
        self.registry = registry
        self.ledger = ConsumerLedger(sessions, projection.name)
        self.event_types = set(projection.event_types())

    async def __call__(self, session: Transaction, stored: list[EventEnvelope]) -> None:
        if not stored or stored[0].aggregate_version != 1:
            return
        chosen = [self.registry.recorded(e) for e in stored if e.event_type in self.event_types]
        if not chosen:
            return
        await self.ledger.lock(session, exclusive=False)
        try:
            async with session.begin_nested():
                await self.ledger.apply_all(session, self.projection, chosen)
        except Exception as exc:  # left to the consumer, which retries or dead-letters it
            log.warning(
                "inline.apply_failed",
                consumer=self.projection.name,
                aggregate_id=stored[0].aggregate_id,
                error=f"{type(exc).__name__}: {exc}",
            )
