"""Rebuilding a read view from the events: in place, or without downtime.

``rebuild`` (in place) empties a projection's tables and its processed-event records,
then feeds it every stored event it handles, in global order, in batches, each batch in
one transaction with its processed records, exactly as the live consumer would have.
Run it with the projection's live consumer stopped.

``Rebuild`` (without downtime) builds a shadow copy of the view while the live view
keeps serving, then swaps it in:

1. The shadow tables are created from the projection's ``Table`` metadata
   (``shadow.py``) and a ``projection_rebuilds`` row records the rebuild.
2. Events are read in order from the source (``StoreSource``: the service's own event
   store, by global position; ``StreamSource``: another service's stream, read with an
   ordered consumer, by stream sequence), applied through the projection's
   ``handle_batch`` into the shadow, and the position is saved in the same transaction:
   an interrupted rebuild resumes where it stopped. No processed-event records are
   written (see the watermark below).
3. When it has caught up, one transaction takes the consumer's hand-over lock, reads
   and applies what is left up to the head, swaps the tables, and records the
   *watermark*: "this view holds every event up to position W".

The live consumer takes the same lock (shared) at the start of each batch and reads
the watermark after it: it skips events at or below W and applies those above it,
with its usual processed records. That is exactly once across the swap, because the
lock guarantees every batch the consumer committed before the swap was on events
already in the store (or on the stream) when the swap read up to the head, so none of
them is above W; and positions commit in order (``event_store.py``; the relay keeps
the stream in that order), so no event below W can appear later.

A rebuild never re-sends notifications or webhooks: it refuses projections with
``replayable = False`` (reactions). A handler failing during the rebuild follows the
consumer's policy: the event becomes a dead letter (of consumer ``<name>#rebuild``) and
later events of its aggregate are parked behind it; at the swap those replace the live
consumer's dead letters, which are all for events the new view holds or has
dead-lettered again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from trellis.core.event_sources import GLOBAL_POSITION, EventSource, SourceEvent
from trellis.core.event_store import EventStore
from trellis.core.events import EventEnvelope, utcnow
from trellis.core.ids import uuid7
from trellis.core.projection import Projection
from trellis.core.shadow import ShadowTables, TableDiff
from trellis.core.subjects import Subjects
from trellis.core.tables import (
    consumer_failures,
    dead_letters,
    processed_events,
    projection_rebuilds,
    projection_watermarks,
)
from trellis.core.tables import events as events_table

log = structlog.get_logger("trellis.replay")

Progress = Callable[[int, int, int], None]  # position, head, events applied

REBUILD_SUFFIX = "#rebuild"  # consumer name of a rebuild's own dead letters


async def rebuild(
    projection: Projection,
    store: EventStore,
    *,
    batch_size: int = 1000,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Rebuild ``projection`` in place from scratch; returns the number of events applied."""
    if not projection.replayable:
        raise NotReplayable(projection.name)
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


class NotReplayable(Exception):
    """The projection has side effects (it appends events, sends messages): never replayed."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"{name} is not replayable: it has side effects (it appends events or makes "
            "notifications and webhooks go out), and a rebuild would cause them again"
        )


class RebuildRefused(Exception):
    """The rebuild cannot go on as asked (say its view's tables changed since it started)."""


# --- the hand-over between a rebuilt view and the live consumer -----------------------------


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
    none: every transaction there begins IMMEDIATE, and one writer holds the file at a time.
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


# --- the rebuild ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RebuildState:
    """A rebuild in progress, as recorded in ``projection_rebuilds``."""

    rebuild_id: str
    kind: str
    position: int
    applied: int
    fingerprint: str
    operator: str
    started_at: dt.datetime
    updated_at: dt.datetime


@dataclass
class RebuildResult:
    """What a rebuild did: swapped (or, for a dry run, how the views differ)."""

    projection: str
    rebuild_id: str
    kind: str
    watermark: int
    applied: int
    dead_lettered: int
    resumed_from: int | None
    swapped: bool
    seconds: float
    differences: list[TableDiff] | None = None


class Rebuild:
    """Rebuilds one projection's view beside the live one and swaps it in (see the module doc)."""

    def __init__(
        self,
        projection: Projection,
        *,
        sessions: async_sessionmaker,
        source: EventSource,
        subjects: Subjects,
        operator: str = "",
        batch_size: int = 2000,
        lock_timeout: float = 5.0,
        hand_over_attempts: int = 5,
    ) -> None:
        self.projection = projection
        self.name = projection.name
        self.sessions = sessions
        self.source = source
        self.subjects = subjects
        self.operator = operator
        self.batch_size = batch_size
        self.lock_timeout = lock_timeout
        self.hand_over_attempts = hand_over_attempts
        self._shadow: ShadowTables | None = None
        self._parked: dict[str, str] = {}

    async def shadow(self) -> ShadowTables:
        if self._shadow is None:
            async with self.sessions() as session:
                self._shadow = await ShadowTables.of(session, self.projection.tables, self.name)
        return self._shadow

    async def state(self) -> RebuildState | None:
        r = projection_rebuilds.c
        async with self.sessions() as session:
            row = (await session.execute(select(projection_rebuilds).where(r.consumer == self.name))).first()
        if row is None:
            return None
        return RebuildState(
            row.rebuild_id,
            row.kind,
            int(row.position),
            int(row.applied),
            row.fingerprint,
            row.operator,
            row.started_at,
            row.updated_at,
        )

    async def discard(self) -> bool:
        """Drop the shadow copy and forget the rebuild in progress; whether there was one."""
        shadow = await self.shadow()
        async with self.sessions() as session, session.begin():
            await shadow.drop(session)
            found = await session.execute(
                delete(projection_rebuilds).where(projection_rebuilds.c.consumer == self.name)
            )
            await session.execute(
                delete(dead_letters).where(dead_letters.c.consumer == self._rebuild_consumer)
            )
        return bool(found.rowcount)

    async def run(
        self, *, from_scratch: bool = False, dry_run: bool = False, progress: Progress | None = None
    ) -> RebuildResult:
        """Build (or resume) the shadow copy, catch up, then swap it in, or compare it (dry run)."""
        if not self.projection.replayable:
            raise NotReplayable(self.name)
        started = time.monotonic()
        shadow = await self.shadow()
        state = await self.state()
        if state is not None and (
            state.fingerprint != shadow.fingerprint() or state.kind != self.source.kind
        ):
            if not from_scratch:
                raise RebuildRefused(
                    f"the rebuild of {self.name} in progress was started for other table definitions "
                    "(or another source): start again with --from-scratch"
                )
        if state is not None and not from_scratch:
            async with self.sessions() as session:
                if not await shadow.exists(session):
                    state = None
        resumed_from = None
        if state is None or from_scratch:
            state = await self._start(shadow)
        else:
            resumed_from = state.position
            log.info("rebuild.resumed", projection=self.name, position=state.position)
        self._parked = await self._parked_aggregates()
        position, applied = state.position, state.applied
        # Catch up in passes, each to the head as it was when the pass began. A pass that
        # found little to do means the rest fits in the hand-over (which holds the live
        # consumer back while it runs); a stream of writes faster than the rebuild is
        # handed over after a few passes regardless.
        for attempt in range(1, _PASSES + 1):
            head = await self.source.head()
            before = applied
            if progress:
                progress(position, max(head, position), applied)
            reached = False
            while not reached:
                events, scanned, reached = await self.source.fetch(position, self.batch_size, until=head)
                async with self.sessions() as session, session.begin():
                    applied += await self._apply(session, events)
                    position = max(position, scanned)
                    await self._save(session, position, applied)
                if progress:
                    progress(position, max(head, position), applied)
            if applied - before < self.batch_size or attempt == _PASSES:
                break
        if dry_run:
            return await self._compare(state.rebuild_id, position, applied, resumed_from, started)
        for attempt in range(1, self.hand_over_attempts + 1):
            try:
                position, applied, dead_lettered = await self._hand_over(position, applied)
                break
            except DBAPIError as exc:  # a lock timeout: a reader held the live tables
                if attempt == self.hand_over_attempts or isinstance(exc, IntegrityError):
                    raise
                log.warning("rebuild.hand_over_retried", projection=self.name, error=str(exc.orig))
                await asyncio.sleep(0.5 * attempt)
        if progress:
            progress(position, position, applied)
        if self.source.kind == GLOBAL_POSITION:
            await self._forget_processed(position)
        log.info("rebuild.swapped", projection=self.name, watermark=position, applied=applied)
        return RebuildResult(
            self.name,
            state.rebuild_id,
            self.source.kind,
            position,
            applied,
            dead_lettered,
            resumed_from,
            swapped=True,
            seconds=time.monotonic() - started,
        )

    @property
    def _rebuild_consumer(self) -> str:
        return self.name + REBUILD_SUFFIX

    async def _start(self, shadow: ShadowTables) -> RebuildState:
        now = utcnow()
        state = RebuildState(
            str(uuid7()), self.source.kind, 0, 0, shadow.fingerprint(), self.operator or "unknown", now, now
        )
        async with self.sessions() as session, session.begin():
            await shadow.create(session)
            await session.execute(
                delete(projection_rebuilds).where(projection_rebuilds.c.consumer == self.name)
            )
            await session.execute(
                delete(dead_letters).where(dead_letters.c.consumer == self._rebuild_consumer)
            )
            await session.execute(
                insert(projection_rebuilds).values(
                    consumer=self.name,
                    rebuild_id=state.rebuild_id,
                    kind=state.kind,
                    position=0,
                    applied=0,
                    fingerprint=state.fingerprint,
                    operator=state.operator,
                    started_at=now,
                    updated_at=now,
                )
            )
        log.info("rebuild.started", projection=self.name, shadow=shadow.names, rebuild_id=state.rebuild_id)
        return state

    async def _save(self, session: AsyncSession, position: int, applied: int) -> None:
        await session.execute(
            update(projection_rebuilds)
            .where(projection_rebuilds.c.consumer == self.name)
            .values(position=position, applied=applied, updated_at=utcnow())
        )

    async def _apply(self, session: AsyncSession, events: list[SourceEvent]) -> int:
        """Apply a batch to the shadow; failures become dead letters. The number applied."""
        if not events:
            return 0
        shadow = await self.shadow()
        plain: list[SourceEvent] = []
        with shadow.redirect(session):
            for item in events:
                if item.recorded is None:
                    await self._dead_letter(session, item, item.error or "undecodable")
                elif item.recorded.aggregate_id in self._parked:
                    blocker = self._parked[item.recorded.aggregate_id]
                    await self._dead_letter(session, item, f"parked behind dead-lettered event {blocker}")
                else:
                    plain.append(item)
            if not plain:
                return 0
            try:
                async with session.begin_nested():
                    await self.projection.handle_batch(session, [i.recorded for i in plain])  # type: ignore[misc]
                return len(plain)
            except _FATAL:
                raise
            except Exception as exc:
                log.info("rebuild.batch_falls_back", projection=self.name, error=str(exc))
            return await self._apply_one_by_one(session, plain)

    async def _apply_one_by_one(self, session: AsyncSession, items: list[SourceEvent]) -> int:
        applied = 0
        for item in items:
            recorded = item.recorded
            assert recorded is not None
            aggregate = recorded.aggregate_id
            if aggregate in self._parked:
                await self._dead_letter(
                    session, item, f"parked behind dead-lettered event {self._parked[aggregate]}"
                )
                continue
            try:
                async with session.begin_nested():
                    await self.projection.handle(session, recorded)
                applied += 1
            except _FATAL:
                raise
            except Exception as exc:
                reason = f"{type(exc).__name__}: {exc}"
                log.warning(
                    "rebuild.dead_lettered",
                    projection=self.name,
                    event_id=str(recorded.event_id),
                    reason=reason,
                )
                await self._dead_letter(session, item, reason)
                self._parked[aggregate] = str(recorded.event_id)
        return applied

    async def _dead_letter(self, session: AsyncSession, item: SourceEvent, reason: str) -> None:
        envelope = item.envelope
        raw = item.raw if item.raw is not None else envelope.model_dump_json().encode() if envelope else b""
        subject = item.subject
        if subject is None and envelope is not None:
            subject = self.subjects.for_event(self.projection.source, envelope)
        await session.execute(
            insert(dead_letters).values(
                consumer=self._rebuild_consumer,
                event_id=str(envelope.event_id) if envelope else (item.headers or {}).get("Nats-Msg-Id"),
                event_type=envelope.event_type if envelope else None,
                tenant_id=envelope.tenant_id if envelope else None,
                aggregate_id=envelope.aggregate_id if envelope else None,
                subject=subject or "",
                stream_sequence=item.stream_sequence,
                deliveries=1,
                reason=reason[:4000],
                raw=raw,
                headers=item.headers or {},
                failed_at=utcnow(),
            )
        )

    async def _parked_aggregates(self) -> dict[str, str]:
        """Aggregates the rebuild so far has dead-lettered an event of (kept across a resume)."""
        d = dead_letters.c
        async with self.sessions() as session:
            rows = await session.execute(
                select(d.aggregate_id, d.event_id)
                .where(
                    d.consumer == self._rebuild_consumer, d.resolved_at.is_(None), d.aggregate_id.is_not(None)
                )
                .order_by(d.id)
            )
            parked: dict[str, str] = {}
            for aggregate, event_id in rows.all():
                parked.setdefault(aggregate, event_id)
        return parked

    async def _hand_over(self, position: int, applied: int) -> tuple[int, int, int]:
        """Under the consumer's lock: apply the rest up to the head, swap, record the watermark."""
        shadow = await self.shadow()
        self._parked = await self._parked_aggregates()  # as committed (an earlier attempt rolled back)
        async with self.sessions() as session, session.begin():
            await lock_projection(session, self.name, exclusive=True)
            if shadow.dialect == "postgresql":
                await session.execute(text(f"SET LOCAL lock_timeout = '{int(self.lock_timeout * 1000)}ms'"))
            head = await self.source.head(session)  # read under the lock: see the module doc
            reached = False
            while not reached:
                events, scanned, reached = await self.source.fetch(
                    position, self.batch_size, until=head, session=session
                )
                applied += await self._apply(session, events)
                position = max(position, scanned)
            dead_lettered = await self._count_dead_letters(session, self._rebuild_consumer)
            await shadow.swap(session)
            await self._settle(session, position)
        return position, applied, dead_lettered

    async def _settle(self, session: AsyncSession, position: int) -> None:
        """Watermark, dead letters and held events as the swapped-in view makes them."""
        state = await session.execute(
            select(projection_rebuilds.c.rebuild_id).where(projection_rebuilds.c.consumer == self.name)
        )
        rebuild_id = state.scalar_one()
        now = utcnow()
        w = projection_watermarks.c
        await session.execute(delete(projection_watermarks).where(w.consumer == self.name))
        await session.execute(
            insert(projection_watermarks).values(
                consumer=self.name,
                kind=self.source.kind,
                position=position,
                rebuild_id=rebuild_id,
                swapped_at=now,
            )
        )
        d = dead_letters.c
        # Every dead letter the live consumer recorded is for an event the new view holds, or
        # dead-lettered again (one of the rebuild's own, renamed below).
        await session.execute(
            update(dead_letters)
            .where(d.consumer == self.name, d.resolved_at.is_(None))
            .values(
                resolved_at=now,
                resolution="superseded",
                resolution_reason=f"rebuild {rebuild_id} swapped in a view holding every event up to "
                f"{self.source.kind} {position}",
                resolved_by=self.operator or "unknown",
            )
        )
        await session.execute(
            update(dead_letters).where(d.consumer == self._rebuild_consumer).values(consumer=self.name)
        )
        if self.source.kind == GLOBAL_POSITION:
            # an event being retried that the new view covers no longer holds its aggregate
            cf = consumer_failures.c
            covered = select(events_table.c.event_id).where(
                events_table.c.event_id.in_(select(cf.event_id).where(cf.consumer == self.name)),
                events_table.c.global_position <= position,
            )
            await session.execute(
                delete(consumer_failures).where(cf.consumer == self.name, cf.event_id.in_(covered))
            )
        await session.execute(delete(projection_rebuilds).where(projection_rebuilds.c.consumer == self.name))

    async def _compare(
        self, rebuild_id: str, position: int, applied: int, resumed_from: int | None, started: float
    ) -> RebuildResult:
        shadow = await self.shadow()
        async with self.sessions() as session:
            differences = await shadow.diff(session)
            dead_lettered = await self._count_dead_letters(session, self._rebuild_consumer)
        return RebuildResult(
            self.name,
            rebuild_id,
            self.source.kind,
            position,
            applied,
            dead_lettered,
            resumed_from,
            swapped=False,
            seconds=time.monotonic() - started,
            differences=differences,
        )

    async def _count_dead_letters(self, session: AsyncSession, consumer: str) -> int:
        d = dead_letters.c
        query = (
            select(func.count())
            .select_from(dead_letters)
            .where(d.consumer == consumer, d.resolved_at.is_(None))
        )
        return int((await session.execute(query)).scalar_one())

    async def _forget_processed(self, position: int, chunk: int = 50_000) -> None:
        """Processed records of events the watermark covers are no longer needed: drop them."""
        p = processed_events.c
        async with self.sessions() as session:
            any_left = await session.execute(select(p.event_id).where(p.consumer == self.name).limit(1))
            if any_left.first() is None:
                return
        low = 0
        while low < position:
            high = min(low + chunk, position)
            covered = select(events_table.c.event_id).where(
                events_table.c.global_position > low, events_table.c.global_position <= high
            )
            async with self.sessions() as session, session.begin():
                await session.execute(
                    delete(processed_events).where(p.consumer == self.name, p.event_id.in_(covered))
                )
            low = high


_PASSES = 5  # catch-up passes before the hand-over at most
_FATAL = (DBAPIError,)  # the database failing is not the event's fault: stop (resumable)
