"""The hand-over between a rebuilt view and the live consumer: the watermark, and its lock.

When a rebuild swaps its shadow copy in (``replay.py``), it records in the same
transaction a *watermark* for the projection's consumer: "this view holds every event up
to position W", W counted as the global position of the source service's event store
(which every envelope on the stream carries) or, for a view of another service's
stream, as that stream's sequence. The consumer skips events at or below it and applies
those above it, with its usual processed records.

``lock_projection`` makes that exact: the consumer takes it shared at the start of every
batch transaction, before reading the watermark; a swap (and a redrive of dead letters)
takes it exclusively. So every batch the consumer committed before a swap was on events
already stored (or on the stream) when the swap read up to the head, none of them above
W; and positions commit in order (``event_store.py``; the relay keeps the stream in that
order), so no event at or below W can turn up later.

``settle`` is the rest of the swap's transaction: the watermark, and the dead letters and
held events as the swapped-in view makes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from trellis.core.store.events import EventEnvelope, utcnow
from trellis.core.store.tables import (
    consumer_failures,
    dead_letters,
    projection_rebuilds,
    projection_watermarks,
)
from trellis.core.store.tables import events as events_table

if TYPE_CHECKING:
    from trellis.core.rebuild.shadow import ShadowTables

GLOBAL_POSITION = "global_position"  # the source service's event store order
STREAM_SEQUENCE = "stream_sequence"  # the source stream's sequence


@dataclass(frozen=True)
class Watermark:
    """Every event at or below ``position`` (counted as ``kind``) is in the consumer's view."""

    kind: str
    position: int

    def covers(self, envelope: EventEnvelope | None, stream_sequence: int | None) -> bool:
        position = stream_sequence
        if self.kind == GLOBAL_POSITION:
            position = envelope.global_position if envelope is not None else None
        return position is not None and position <= self.position


async def lock_projection(session: AsyncSession, consumer: str, *, exclusive: bool) -> None:
    """Serialise a consumer's batches (shared) with a swap or a redrive (exclusive), until commit.

    PostgreSQL: a transaction-scoped advisory lock per consumer and schema. SQLite needs
    none: every transaction there that writes holds the file's single write lock.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    fn = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    await session.execute(
        text(f"SELECT {fn}(hashtext(current_schema() || '.trellis_projection.' || :consumer))"),
        {"consumer": consumer},
    )


async def current_watermark(session: AsyncSession, consumer: str) -> Watermark | None:
    """The consumer's watermark, read under its hand-over lock (taken shared first)."""
    await lock_projection(session, consumer, exclusive=False)
    w = projection_watermarks.c
    row = (await session.execute(select(w.kind, w.position).where(w.consumer == consumer))).first()
    return Watermark(row.kind, int(row.position)) if row else None


async def settle(
    session: AsyncSession, shadow: ShadowTables, *, consumer: str, kind: str, position: int, operator: str
) -> None:
    """In the swap's transaction: the watermark, dead letters and held events as the
    swapped-in view makes them, and the rebuild's bookkeeping gone."""
    rebuild_id = (await session.execute(select(shadow.state.c.rebuild_id))).scalar_one()
    now = utcnow()
    w = projection_watermarks.c
    await session.execute(delete(projection_watermarks).where(w.consumer == consumer))
    await session.execute(
        insert(projection_watermarks).values(
            consumer=consumer, kind=kind, position=position, rebuild_id=rebuild_id, swapped_at=now
        )
    )
    d = dead_letters.c
    # Every dead letter the live consumer recorded is for an event the new view holds or
    # dead-lettered again (those are copied in just below).
    await session.execute(
        update(dead_letters)
        .where(d.consumer == consumer, d.resolved_at.is_(None))
        .values(
            resolved_at=now,
            resolution="superseded",
            resolution_reason=f"rebuild {rebuild_id} swapped in a view holding every event up to "
            f"{kind} {position}",
            resolved_by=operator,
        )
    )
    columns = [
        c.name
        for c in dead_letters.columns
        if c.name not in ("id", "resolved_at", "resolution", "resolution_reason", "resolved_by")
    ]
    failures = shadow.failures
    await session.execute(
        insert(dead_letters).from_select(
            columns, select(*[failures.c[c] for c in columns]).order_by(failures.c.id)
        )
    )
    if kind == GLOBAL_POSITION:
        # an event in line (being retried, or waiting) that the new view covers leaves the line
        cf = consumer_failures.c
        covered = select(events_table.c.event_id).where(
            events_table.c.event_id.in_(select(cf.event_id).where(cf.consumer == consumer)),
            events_table.c.global_position <= position,
        )
        await session.execute(
            delete(consumer_failures).where(cf.consumer == consumer, cf.event_id.in_(covered))
        )
    await session.execute(delete(projection_rebuilds).where(projection_rebuilds.c.consumer == consumer))
    if shadow.dialect == "postgresql":
        await shadow.drop(session)  # what is left of it: the rebuild's bookkeeping
