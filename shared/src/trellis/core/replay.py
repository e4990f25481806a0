"""Rebuilding a read view from the event store.

``rebuild`` empties a projection's tables and its processed-event records, then feeds
it every stored event it handles, in global order, in batches, each batch in one
transaction with its processed records, exactly as the live consumer would have.
Run it with the projection's live consumer paused; the operators' tool builds a
shadow copy instead so the live view keeps serving.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import delete, insert

from trellis.core.event_store import EventStore
from trellis.core.events import utcnow
from trellis.core.projection import Projection
from trellis.core.tables import processed_events

Progress = Callable[[int, int], None]


async def rebuild(
    projection: Projection,
    store: EventStore,
    *,
    batch_size: int = 1000,
    progress: Progress | None = None,
) -> int:
    """Rebuild ``projection`` from scratch; returns the number of events applied."""
    if not projection.replayable:
        raise ValueError(f"{projection.name} has side effects and cannot be replayed")
    async with store.sessions() as session, session.begin():
        await projection.clear(session)
        await session.execute(delete(processed_events).where(processed_events.c.consumer == projection.name))
    head = await store.head()
    applied = 0
    async for batch in store.iterate(0, batch_size=batch_size):
        async with store.sessions() as session, session.begin():
            handled = [store.registry.record(e) for e in batch if projection.handles(e.event_type)]
            await projection.handle_batch(session, handled)
            records = [
                {"consumer": projection.name, "event_id": str(r.event_id), "processed_at": utcnow()}
                for r in handled
            ]
            if records:
                await session.execute(insert(processed_events), records)
            applied += len(records)
        if progress is not None:
            progress(batch[-1].global_position or 0, head)
    return applied
