"""The hand-over between a rebuilt view and the live consumer: the watermark, and its lock.

When a rebuild swaps its shadow copy in (``trellis.core.rebuild``), it records in the same
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

The rest of the swap's transaction, the watermark and the dead letters and held events
as the swapped-in view makes them, is written by the consumer's ledger
(``ConsumerLedger.hand_over``), which also reads the watermark for every batch.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text

from trellis.contracts.envelope import EventEnvelope
from trellis.core.store.transaction import Transaction

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


async def lock_projection(session: Transaction, consumer: str, *, exclusive: bool) -> None:
    """Serialise a consumer's batches (shared) with a swap or a redrive (exclusive), until commit.

    PostgreSQL: a transaction-scoped advisory lock per consumer and schema. SQLite needs
    none: every transaction there that writes holds the file's single write lock.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    await session.execute(PROJECTION_LOCK[exclusive], {"consumer": consumer})


# exclusive → the statement taking a consumer's hand-over lock (PostgreSQL)
PROJECTION_LOCK = {
    exclusive: text(f"SELECT {fn}(hashtext(current_schema() || '.trellis_projection.' || :consumer))")
    for exclusive, fn in ((True, "pg_advisory_xact_lock"), (False, "pg_advisory_xact_lock_shared"))
}
