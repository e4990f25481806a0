"""The consumer's ledger: the one writer of a consumer's processing state.

Four tables (``trellis.core.store.tables``) hold what a consumer has done, and only this
module writes them:

- ``processed_events``: the events it has applied, each recorded in the same savepoint
  (or batch transaction) as its effect, so a redelivery is a no-op;
- ``consumer_failures``: handler failures counted per event, and the *line* of an
  aggregate whose event is being retried: the later events of that aggregate wait behind
  it (attempts 0), in stream order;
- ``dead_letters``: events given up on, with the reason and the raw message; an
  unresolved one *parks* its aggregate (its later events become dead letters too);
- ``projection_watermarks``: the position up to which a swapped-in rebuilt view already
  holds every event (``handover.py``).

``ConsumerLedger`` is one consumer's page of them. Its statements run in the caller's
transaction (the runner's batch, the rebuild's swap, an operator's command); redriving
dead letters and forgetting what a watermark covers open their own. Deciding *what* to
record for a batch of deliveries is ``exactly_once.py``'s job.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import SpanKind
from sqlalchemy import ARRAY, String, Table, bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from trellis.contracts.envelope import EventEnvelope, EventRegistry, RecordedEvent, utcnow
from trellis.core import metrics, tracing
from trellis.core.consuming.delivery import Delivery
from trellis.core.consuming.handover import GLOBAL_POSITION, PROJECTION_LOCK, Watermark, lock_projection
from trellis.core.consuming.projection import Consumer
from trellis.core.consuming.undecodable import Undecodable
from trellis.core.store.database import one_of
from trellis.core.store.tables import (
    consumer_failures,
    dead_letters,
    processed_events,
    projection_watermarks,
)
from trellis.core.store.tables import events as events_table
from trellis.core.store.transaction import Transaction, on_connection

_REASON_LIMIT = 4000  # the longest reason or error a row keeps


@dataclass(frozen=True)
class Redriven:
    """What redriving one dead letter did: ``redriven``, ``already_applied``, ``failed`` (its
    handler failed again) or ``undecodable`` (still); the last two stop the chain."""

    letter_id: int
    event_id: str | None
    outcome: str
    error: str = ""


@dataclass(frozen=True)
class Preflight:
    """What a batch's transaction reads first (``ConsumerLedger.preflight``)."""

    watermark: Watermark | None
    done: set[str]  # event ids already applied
    parked: dict[str, str]  # aggregate → the dead-lettered event it is parked behind
    lines: dict[str, list[str]]  # aggregate → events in line, in stream order

    @property
    def blocked(self) -> bool:
        return bool(self.parked or self.lines)


_pw, _pe, _dl, _cf = projection_watermarks.c, processed_events.c, dead_letters.c, consumer_failures.c
_WATERMARK = select(_pw.kind, _pw.position).where(_pw.consumer == bindparam("consumer"))


@dataclass(frozen=True)
class _Reads:
    """The preflight's statements for one dialect family."""

    processed: Any
    parked: Any
    lines: Any

    @classmethod
    def built(cls, *, postgres: bool) -> _Reads:
        consumer: Any = bindparam("consumer")
        return cls(
            processed=select(_pe.event_id).where(
                _pe.consumer == consumer, one_of(_pe.event_id, "ids", postgres=postgres)
            ),
            parked=select(_dl.aggregate_id, _dl.event_id)
            .where(
                _dl.consumer == consumer,
                _dl.resolved_at.is_(None),
                one_of(_dl.aggregate_id, "aggregates", postgres=postgres),
            )
            .order_by(_dl.id),
            lines=select(_cf.aggregate_id, _cf.event_id)
            .where(_cf.consumer == consumer, one_of(_cf.aggregate_id, "aggregates", postgres=postgres))
            .order_by(_cf.aggregate_id, _cf.stream_sequence.nulls_first(), _cf.failed_at),
        )


_READS = {postgres: _Reads.built(postgres=postgres) for postgres in (False, True)}
_INSERT_PROCESSED = insert(processed_events)
# PostgreSQL: a batch's records in one statement, its event ids one array (1,000 records: 6-7
# ms against 11-12 for the many-rows insert, measured with the commit)
_INSERT_PROCESSED_ARRAY = insert(processed_events).from_select(
    ["consumer", "event_id", "processed_at"],
    select(
        bindparam("consumer", type_=String),
        func.unnest(bindparam("ids", type_=ARRAY(String))),
        bindparam("now", type_=processed_events.c.processed_at.type),
    ),
)


class ConsumerLedger:
    """The processing state of the consumer ``consumer`` (see the module docstring)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], consumer: str) -> None:
        self.sessions = sessions
        self.consumer = consumer

    # -- the hand-over lock and the watermark

    async def lock(self, session: Transaction, *, exclusive: bool) -> None:
        """The consumer's hand-over lock, to the end of the transaction (``handover.py``)."""
        await lock_projection(session, self.consumer, exclusive=exclusive)

    async def watermark(self, session: Transaction) -> Watermark | None:
        """The consumer's watermark, read under its hand-over lock (taken shared first)."""
        return (await self.preflight(session, [], set())).watermark

    async def preflight(self, session: Transaction, ids: Sequence[str], aggregates: set[str]) -> Preflight:
        """What a batch reads before it applies anything, in one hop into SQLAlchemy's sync
        world on statements built once (a batch of one event paid more for the statements'
        construction and the hops than for the queries): the watermark under the hand-over
        lock (shared), which of ``ids`` are already applied, and which of ``aggregates``
        must not simply be applied: parked behind a dead letter (aggregate → its event id),
        or lined up behind an event being retried (aggregate → the events in line, in
        stream order; only the first may be applied)."""
        postgres = session.get_bind().dialect.name == "postgresql"
        reads = _READS[postgres]
        key = {"consumer": self.consumer}

        def read(connection: Connection) -> Preflight:
            if postgres:
                connection.execute(PROJECTION_LOCK[False], key)
            row = connection.execute(_WATERMARK, key).first()
            done = (
                set(connection.execute(reads.processed, {**key, "ids": list(ids)}).scalars())
                if ids
                else set()
            )
            parked: dict[str, str] = {}
            lines: dict[str, list[str]] = {}
            if aggregates:
                wanted = {**key, "aggregates": sorted(aggregates)}
                for aggregate, event_id in connection.execute(reads.parked, wanted).all():
                    parked.setdefault(aggregate, event_id)
                for aggregate, event_id in connection.execute(reads.lines, wanted).all():
                    lines.setdefault(aggregate, []).append(event_id)
            return Preflight(Watermark(row[0], int(row[1])) if row else None, done, parked, lines)

        return await on_connection(session, read)

    async def hand_over(
        self,
        session: Transaction,
        *,
        failures: Table,
        rebuild_id: str,
        kind: str,
        position: int,
        operator: str,
    ) -> None:
        """In the swap's transaction: the watermark, and the dead letters and held events as
        the swapped-in view makes them (``failures``: the rebuild's own dead letters)."""
        now = utcnow()
        w = projection_watermarks.c
        await session.execute(delete(projection_watermarks).where(w.consumer == self.consumer))
        await session.execute(
            insert(projection_watermarks).values(
                consumer=self.consumer, kind=kind, position=position, rebuild_id=rebuild_id, swapped_at=now
            )
        )
        # Every dead letter the live consumer recorded is for an event the new view holds or
        # dead-lettered again (those are copied in just below).
        await self._supersede(
            session,
            reason=f"rebuild {rebuild_id} swapped in a view holding every event up to {kind} {position}",
            operator=operator,
            now=now,
        )
        columns = [
            c.name
            for c in dead_letters.columns
            if c.name not in ("id", "resolved_at", "resolution", "resolution_reason", "resolved_by")
        ]
        await session.execute(
            insert(dead_letters).from_select(
                columns, select(*[failures.c[c] for c in columns]).order_by(failures.c.id)
            )
        )
        if kind == GLOBAL_POSITION:
            # an event in line (being retried, or waiting) that the new view covers leaves the line
            cf = consumer_failures.c
            covered = select(events_table.c.event_id).where(
                events_table.c.event_id.in_(select(cf.event_id).where(cf.consumer == self.consumer)),
                events_table.c.global_position <= position,
            )
            await session.execute(
                delete(consumer_failures).where(cf.consumer == self.consumer, cf.event_id.in_(covered))
            )

    async def forget_covered(self, position: int, chunk: int = 50_000) -> None:
        """Processed records of events at or below the global ``position`` (which a watermark
        covers) are no longer needed: drop them, a chunk per transaction."""
        p = processed_events.c
        async with self.sessions() as session:
            any_left = await session.execute(select(p.event_id).where(p.consumer == self.consumer).limit(1))
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
                    delete(processed_events).where(p.consumer == self.consumer, p.event_id.in_(covered))
                )
            low = high

    async def reset(self, session: Transaction, *, operator: str) -> None:
        """Forget everything the consumer did (its view is being emptied with it): processed
        records, failures and lines, the watermark; its dead letters are superseded."""
        await self.forget_processed(session)
        await session.execute(delete(consumer_failures).where(consumer_failures.c.consumer == self.consumer))
        await session.execute(
            delete(projection_watermarks).where(projection_watermarks.c.consumer == self.consumer)
        )
        await self._supersede(session, reason="projections reset", operator=operator, now=utcnow())

    # -- applied events

    async def processed(self, session: Transaction, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` the consumer has applied."""
        if not ids:
            return set()
        reads = _READS[session.get_bind().dialect.name == "postgresql"]
        result = await session.execute(reads.processed, {"consumer": self.consumer, "ids": list(ids)})
        return set(result.scalars())

    async def apply_all(
        self, session: Transaction, projection: Consumer, events: list[RecordedEvent]
    ) -> None:
        """Apply ``events`` (none already applied) in the caller's transaction, and record them."""
        if type(projection).handle_batch is Consumer.handle_batch:
            await projection.handle_batch(session, events)  # a span per event, in ``handle``
        else:  # applied together: each event's trace gets a span of the batch that applied it
            spans = [
                tracing.tracer.start_span(
                    f"handle {e.envelope.event_type}",
                    context=tracing.context_of(e.traceparent),
                    kind=SpanKind.CONSUMER,
                    attributes={"trellis.consumer": projection.name, "trellis.event_id": str(e.event_id)},
                )
                for e in events
                if e.traceparent
            ]
            try:
                await projection.handle_batch(session, events)
            finally:
                for span in spans:
                    span.end()
        if not events:
            return
        now = utcnow()
        if session.get_bind().dialect.name == "postgresql":
            ids = [str(e.event_id) for e in events]
            values = {"consumer": self.consumer, "ids": ids, "now": now}
            await session.execute(_INSERT_PROCESSED_ARRAY, values)
            return
        records = [
            {"consumer": self.consumer, "event_id": str(e.event_id), "processed_at": now} for e in events
        ]
        await session.execute(_INSERT_PROCESSED, records)

    @asynccontextmanager
    async def applying(
        self, session: Transaction, projection: Consumer, recorded: RecordedEvent
    ) -> AsyncIterator[None]:
        """Apply ``recorded`` and record it, in a savepoint that also holds what the caller
        writes in the block: all of it, or (the handler or the block raising) none of it."""
        async with session.begin_nested():
            await projection.handle(session, recorded)
            await session.execute(
                insert(processed_events).values(
                    consumer=self.consumer, event_id=str(recorded.event_id), processed_at=utcnow()
                )
            )
            yield

    async def forget_processed(self, session: Transaction) -> None:
        """Every processed record of the consumer gone (its view is rebuilt from scratch)."""
        await session.execute(delete(processed_events).where(processed_events.c.consumer == self.consumer))

    # -- failures, lines and parked aggregates

    async def count_failure(
        self, session: Transaction, envelope: EventEnvelope, reason: str, sequence: int | None
    ) -> int:
        """One more failure of the consumer's handler on this event; the count so far."""
        event_id = str(envelope.event_id)
        key = (consumer_failures.c.consumer == self.consumer) & (consumer_failures.c.event_id == event_id)
        attempts = (await session.execute(select(consumer_failures.c.attempts).where(key))).scalar()
        if attempts is None:
            attempts = 1
            await session.execute(
                insert(consumer_failures).values(
                    consumer=self.consumer,
                    event_id=event_id,
                    aggregate_id=envelope.aggregate_id,
                    stream_sequence=sequence,
                    attempts=1,
                    last_error=reason[:_REASON_LIMIT],
                    failed_at=utcnow(),
                )
            )
        else:
            attempts += 1
            await session.execute(
                update(consumer_failures)
                .where(key)
                .values(attempts=attempts, last_error=reason[:_REASON_LIMIT], failed_at=utcnow())
            )
        return int(attempts)

    async def join_line(
        self,
        session: Transaction,
        event_id: str,
        aggregate: str,
        sequence: int | None,
        *,
        behind: str | None,
    ) -> None:
        """Queue an event behind ``behind``, the first of its aggregate's line (being retried
        or waiting): it is applied after the line, in stream order."""
        try:
            async with session.begin_nested():
                await session.execute(
                    insert(consumer_failures).values(
                        consumer=self.consumer,
                        event_id=event_id,
                        aggregate_id=aggregate,
                        stream_sequence=sequence,
                        attempts=0,
                        last_error=f"waiting behind {behind}" if behind else "waiting",
                        failed_at=utcnow(),
                    )
                )
        except IntegrityError:  # another instance queued it meanwhile
            pass

    async def leave_line(self, session: Transaction, event_id: str) -> None:
        """The event is through (applied, skipped or dead-lettered): out of its line."""
        await session.execute(
            delete(consumer_failures).where(
                consumer_failures.c.consumer == self.consumer, consumer_failures.c.event_id == event_id
            )
        )

    async def dead_letter(
        self,
        session: Transaction,
        delivery: Delivery,
        reason: str,
        *,
        letter: EventEnvelope | Undecodable | None = None,
        deliveries: int | None = None,
    ) -> None:
        """Give up on ``delivery``: a dead letter with ``reason`` and the raw message (the
        envelope fields from ``letter``, the delivery's own by default)."""
        event = letter if letter is not None else delivery.letter
        metrics.DEAD_LETTERED.labels(self.consumer).inc()
        await session.execute(
            insert(dead_letters).values(
                consumer=self.consumer,
                event_id=str(event.event_id) if event.event_id is not None else None,
                event_type=event.event_type,
                tenant_id=event.tenant_id,
                aggregate_id=event.aggregate_id,
                subject=delivery.subject,
                stream_sequence=delivery.stream_sequence,
                deliveries=deliveries if deliveries is not None else delivery.deliveries,
                reason=reason[:_REASON_LIMIT],
                raw=bytes(delivery.data),
                headers=dict(delivery.headers or {}),
                failed_at=utcnow(),
            )
        )

    # -- operators' commands on dead letters

    async def redrive(
        self,
        projection: Consumer,
        registry: EventRegistry,
        chain: Sequence[Mapping[str, Any]],
        *,
        operator: str,
    ) -> list[Redriven]:
        """Apply an aggregate's chain of dead letters (rows of ``dead_letters``, oldest first)
        under the hand-over lock, each with its processed record, and mark them resolved. One
        that fails again stops the chain: the answer ends with it, the rest stays parked."""
        done: list[Redriven] = []
        d = dead_letters.c
        async with self.sessions() as session, session.begin():
            await self.lock(session, exclusive=True)
            for letter in chain:
                try:
                    recorded = registry.recorded(EventEnvelope.model_validate_json(bytes(letter["raw"])))
                except Exception as exc:
                    done.append(
                        Redriven(letter["id"], letter["event_id"], "undecodable", f"still undecodable: {exc}")
                    )
                    return done
                resolved = {"resolved_at": utcnow(), "resolved_by": operator, "resolution": "redriven"}
                if await self.processed(session, [str(recorded.event_id)]):
                    await session.execute(
                        update(dead_letters)
                        .where(d.id == letter["id"])
                        .values(**resolved, resolution_reason="already applied")
                    )
                    done.append(Redriven(letter["id"], letter["event_id"], "already_applied"))
                    continue
                try:
                    async with self.applying(session, projection, recorded):
                        await session.execute(
                            update(dead_letters)
                            .where(d.id == letter["id"])
                            .values(**resolved, resolution_reason="applied by redrive")
                        )
                except Exception as exc:
                    done.append(
                        Redriven(letter["id"], letter["event_id"], "failed", f"{type(exc).__name__}: {exc}")
                    )
                    return done
                done.append(Redriven(letter["id"], letter["event_id"], "redriven"))
        return done

    async def drop(self, session: Transaction, ids: Iterable[int], *, reason: str, operator: str) -> None:
        """Mark the consumer's dead letters ``ids`` resolved without applying them, with ``reason``."""
        d = dead_letters.c
        await session.execute(
            update(dead_letters)
            .where(d.consumer == self.consumer, d.id.in_(list(ids)))
            .values(
                resolved_at=utcnow(), resolution="dropped", resolution_reason=reason, resolved_by=operator
            )
        )

    async def _supersede(self, session: Transaction, *, reason: str, operator: str, now: dt.datetime) -> None:
        """The unresolved dead letters resolved as superseded (the view was replaced)."""
        d = dead_letters.c
        await session.execute(
            update(dead_letters)
            .where(d.consumer == self.consumer, d.resolved_at.is_(None))
            .values(resolved_at=now, resolution="superseded", resolution_reason=reason, resolved_by=operator)
        )
