"""The event store: append-only, optimistic concurrency, global order, outbox in the same commit.

Every published event gets an outbox row in the same transaction (private events,
``published=False``, do not: they never leave this store).

Appends happen inside the caller's transaction (``Transaction``), so a command
handler or a reaction commits its events, their outbox rows and anything else it
wrote (a processed-event record, say) atomically.

Nothing is appended that its own contract cannot decode: each event's payload is
encoded as strict JSON (a non-finite number is refused), decoded by the registry exactly
as a consumer would, and compared with the event; the encoded payload must also fit the
size cap, well under NATS's maximum payload. A failure raises ``ContractViolation``
(422), so the command's transaction stores nothing.

The gap problem (a higher global position committing before a lower one) cannot
happen here: on PostgreSQL every append takes a transaction-scoped advisory lock
before it inserts (``append_lock``), so positions are handed out and committed in one order; SQLite
serialises writers anyway. A catch-up reader can therefore advance past any
position it has seen without skipping events.
"""

from __future__ import annotations

import datetime as dt
import math
import sqlite3
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from pydantic import BaseModel
from sqlalchemy import bindparam, delete, func, insert, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from trellis.contracts.envelope import (
    DomainEvent,
    EventEnvelope,
    EventRegistry,
    Metadata,
    RecordedEvent,
    utcnow,
)
from trellis.contracts.subjects import Subjects
from trellis.core import metrics, strict_json, tracing
from trellis.core.errors import ConcurrencyError, ContractViolation, MalformedEvent
from trellis.core.store import append_lock, direct
from trellis.core.store.database import inline_sqlite
from trellis.core.store.tables import events as events_table
from trellis.core.store.tables import outbox as outbox_table
from trellis.core.store.transaction import Transaction, after_commit_all, on_connection

# NATS refuses a message over its max_payload (1 MiB by default); an event is capped well
# under it, so the envelope and headers always fit.
DEFAULT_MAX_EVENT_BYTES = 256 * 1024

log = structlog.get_logger("trellis.event_store")

# called in the appending transaction with the events just stored
AppendHook = Callable[[Transaction, list[EventEnvelope]], Awaitable[None]]


class EventStore:
    """Stores one service's events and queues them for publishing."""

    def __init__(
        self,
        *,
        service: str,
        registry: EventRegistry,
        sessions: async_sessionmaker[AsyncSession],
        subjects: Subjects,
        cache_size: int = 10_000,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    ) -> None:
        self.service = service
        self.registry = registry
        self.sessions = sessions
        self.subjects = subjects
        self._commit_listeners: list[Callable[[], None]] = []
        self._append_hooks: list[AppendHook] = []
        self._cache = _LRU(cache_size)
        self.max_event_bytes = max_event_bytes

    def on_commit(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every commit that appended events (wakes the relay)."""
        self._commit_listeners.append(listener)

    def after_append(self, hook: AppendHook) -> None:
        """Await ``hook(session, stored)`` in every appending transaction, after the inserts
        (an inline projection: ``trellis.core.consuming.inline``)."""
        self._append_hooks.append(hook)

    async def append(
        self,
        session: Transaction,
        *,
        aggregate_type: str,
        aggregate_id: str,
        expected_version: int,
        events: Sequence[DomainEvent],
        metadata: Metadata,
    ) -> list[EventEnvelope]:
        """Append ``events`` if the aggregate is still at ``expected_version``.

        Raises ``ConcurrencyError`` otherwise; nothing is merged.
        """
        if not events:
            return []
        with tracing.tracer.start_as_current_span(
            f"append {aggregate_type}",
            attributes={"trellis.aggregate_id": aggregate_id, "trellis.events": len(events)},
        ):
            return await self._append(
                session, aggregate_type, aggregate_id, expected_version, events, metadata
            )

    async def _append(
        self,
        session: Transaction,
        aggregate_type: str,
        aggregate_id: str,
        expected_version: int,
        events: Sequence[DomainEvent],
        metadata: Metadata,
    ) -> list[EventEnvelope]:
        loaded = session.info.get(_LOADED_VERSIONS)
        current = loaded.get(aggregate_id) if loaded else None
        # A new aggregate not looked up in this transaction (a fresh id): no version query,
        # the insert skips rows whose (aggregate_id, version) exists and says so. Loaded in
        # this transaction at the expected version: no query either, a concurrent append
        # still collides on (aggregate_id, version).
        fresh = current is None and expected_version == 0
        ask = not fresh and (current is None or expected_version != current)
        # Everything that needs no database is done before the append lock is taken.
        now = utcnow()
        envelopes = [
            EventEnvelope(
                event_type=ev.event_type,
                schema_version=ev.schema_version,
                tenant_id=metadata.tenant_id,
                aggregate_type=aggregate_type,
                aggregate_id=aggregate_id,
                aggregate_version=expected_version + i,
                occurred_at=now,
                actor_id=metadata.actor_id,
                correlation_id=metadata.correlation_id,
                causation_id=metadata.causation_id,
                payload=self.checked_payload(ev),
            )
            for i, ev in enumerate(events, start=1)
        ]
        rows = [
            {
                "event_id": str(env.event_id),
                "event_type": env.event_type,
                "schema_version": env.schema_version,
                "tenant_id": env.tenant_id,
                "aggregate_type": env.aggregate_type,
                "aggregate_id": env.aggregate_id,
                "aggregate_version": env.aggregate_version,
                "occurred_at": env.occurred_at,
                "recorded_at": now,
                "actor_id": env.actor_id,
                "correlation_id": env.correlation_id,
                "causation_id": env.causation_id,
                "payload": env.payload,
            }
            for env in envelopes
        ]
        trace = tracing.traceparent()  # sent with each event: consumers continue the trace
        # Each published event's outbox body is its envelope's JSON, whose last field is the
        # global position: rendered now up to that value, finished once the position is known.
        outgoing = [
            (str(env.event_id), self.subjects.for_event(self.service, env), _body_head(env))
            for env, ev in zip(envelopes, events, strict=True)
            if ev.published  # private events stay in this store
        ]
        if session.get_bind().dialect.name == "postgresql":
            appending = {
                "event_ids": [row["event_id"] for row in rows],
                "event_types": [row["event_type"] for row in rows],
                "schema_versions": [row["schema_version"] for row in rows],
                "versions": [row["aggregate_version"] for row in rows],
                "payloads": [strict_json.dumps(row["payload"]) for row in rows],
                "tenant_id": metadata.tenant_id,
                "aggregate_type": aggregate_type,
                "aggregate_id": aggregate_id,
                "now": now,
                "actor_id": metadata.actor_id,
                "correlation_id": metadata.correlation_id,
                "causation_id": metadata.causation_id,
                "outbox_ids": [event_id for event_id, _, _ in outgoing],
                "subjects": [subject for _, subject, _ in outgoing],
                "heads": [head for _, _, head in outgoing],
                "traceparent": trace,
            }
            stored = await self._append_on_postgres(
                session, aggregate_type, aggregate_id, expected_version, envelopes, appending, fresh, ask
            )
        else:
            stored = await on_connection(
                session,
                self._append_on_sqlite,
                aggregate_type,
                aggregate_id,
                expected_version,
                envelopes,
                rows,
                outgoing,
                trace,
                fresh,
                ask,
            )
        for hook in self._append_hooks:
            await hook(session, stored)
        if loaded:
            loaded.pop(aggregate_id, None)
        appended = session.info.get(_APPENDED)
        if appended is None:
            session.info[_APPENDED] = {aggregate_id}
        else:
            appended.add(aggregate_id)
        self._notify_after_commit(session)
        metrics.EVENTS_APPENDED.labels(self.service).inc(len(stored))
        return stored

    async def _append_on_postgres(
        self,
        session: Transaction,
        aggregate_type: str,
        aggregate_id: str,
        expected_version: int,
        envelopes: list[EventEnvelope],
        appending: dict[str, Any],
        fresh: bool,
        ask: bool,
    ) -> list[EventEnvelope]:
        """One statement on asyncpg itself (``direct.DriverStatement``): the append lock (and
        the relays' wake-up at commit), the events and their outbox rows (``_APPEND_PG``)."""
        connection = await session.connection()
        if ask:
            actual = (await connection.execute(_CURRENT_VERSION, {"aggregate_id": aggregate_id})).scalar()
            if (actual or 0) != expected_version:
                raise self._conflict(aggregate_type, aggregate_id, expected_version, actual or 0)
        try:
            returned = await (_APPEND_NEW_PG if fresh else _APPEND_PG).fetch(connection, appending)
        except IntegrityError as exc:
            raise self._collided(aggregate_type, aggregate_id, expected_version) from exc
        append_lock.taken_by_statement(session.info)
        positions = [r[0] for r in sorted(returned, key=lambda r: r[1])]
        if len(positions) < len(envelopes):  # fresh, and the aggregate exists after all
            if positions:  # later versions than it has went in: take them out again, with their outbox rows
                ids = [str(envelopes[version - expected_version - 1].event_id) for _, version in returned]
                await connection.execute(
                    delete(events_table).where(events_table.c.global_position.in_(positions))
                )
                await connection.execute(delete(outbox_table).where(outbox_table.c.event_id.in_(ids)))
            actual = (await connection.execute(_CURRENT_VERSION, {"aggregate_id": aggregate_id})).scalar()
            raise self._conflict(aggregate_type, aggregate_id, expected_version, actual or 0)
        return _positioned(envelopes, positions)

    def _append_on_sqlite(
        self,
        connection: Connection,
        aggregate_type: str,
        aggregate_id: str,
        expected_version: int,
        envelopes: list[EventEnvelope],
        rows: list[dict[str, Any]],
        outgoing: list[tuple[str, str, bytes]],
        trace: str | None,
        fresh: bool,
        ask: bool,
    ) -> list[EventEnvelope]:
        """One hop into SQLAlchemy's sync world for the whole append: the inserts on sqlite3
        itself (``direct``), or on Core statements built once."""
        if ask:
            actual = connection.execute(_CURRENT_VERSION, {"aggregate_id": aggregate_id}).scalar() or 0
            if actual != expected_version:
                raise self._conflict(aggregate_type, aggregate_id, expected_version, actual)
        raw = inline_sqlite(connection)
        returned: Sequence[Sequence[Any]]
        try:
            if raw is not None:
                lean = _DIRECT(connection.dialect)
                returned = (lean.insert_new if fresh else lean.insert_events).run(raw, rows)
            else:
                returned = connection.execute(_INSERT_NEW_SQLITE if fresh else _INSERT_EVENTS, rows).all()
        except (IntegrityError, sqlite3.IntegrityError) as exc:
            raise self._collided(aggregate_type, aggregate_id, expected_version) from exc
        positions = [r[0] for r in sorted(returned, key=lambda r: r[1])]
        if len(positions) < len(rows):  # fresh, and the aggregate exists after all
            if positions:  # later versions than it has went in: take them out again
                connection.execute(delete(events_table).where(events_table.c.global_position.in_(positions)))
            actual = connection.execute(_CURRENT_VERSION, {"aggregate_id": aggregate_id}).scalar() or 0
            raise self._conflict(aggregate_type, aggregate_id, expected_version, actual)
        if outgoing:
            position = {row["event_id"]: pos for row, pos in zip(rows, positions, strict=True)}
            created_at = rows[0]["recorded_at"]
            outbox_rows = [
                {
                    "event_id": event_id,
                    "subject": subject,
                    "body": head + b"%d}" % position[event_id],
                    "created_at": created_at,
                    "traceparent": trace,
                }
                for event_id, subject, head in outgoing
            ]
            if raw is not None:
                _DIRECT(connection.dialect).insert_outbox.run(raw, outbox_rows)
            else:
                connection.execute(_INSERT_OUTBOX, outbox_rows)
        return _positioned(envelopes, positions)

    def _collided(self, aggregate_type: str, aggregate_id: str, expected_version: int) -> ConcurrencyError:
        """A concurrent append took a version this one meant to write."""
        metrics.CONFLICTS.labels(self.service).inc()
        return ConcurrencyError(
            f"{aggregate_type} {aggregate_id} was changed concurrently: reload and retry",
            details={"expected_version": expected_version},
        )

    def _conflict(
        self, aggregate_type: str, aggregate_id: str, expected_version: int, actual: int
    ) -> ConcurrencyError:
        metrics.CONFLICTS.labels(self.service).inc()
        return ConcurrencyError(
            f"{aggregate_type} {aggregate_id} is at version {actual}, "
            f"not {expected_version}: reload and retry",
            details={"expected_version": expected_version, "actual_version": actual},
        )

    def checked_payload(self, event: DomainEvent) -> dict[str, Any]:
        """``event``'s JSON payload, once it has survived its own contract.

        Encoded as strict JSON, decoded by the registry as a consumer will, and compared
        with ``event``; raises ``ContractViolation`` naming the event type and the field.
        """
        event_type = event.event_type
        payload = event.model_dump(mode="json")
        try:
            encoded = strict_json.dumps(payload)
        except ValueError as exc:
            raise _violation(event_type, _non_finite_field(event), str(exc)) from exc
        if len(encoded.encode()) > self.max_event_bytes:
            raise _violation(
                event_type,
                _largest_field(payload),
                f"the event would take {len(encoded.encode())} bytes, over the cap of {self.max_event_bytes}",
            )
        try:
            decoded = self.registry.decode_payload(event_type, event.schema_version, payload)
        except MalformedEvent as exc:
            field = _non_finite_field(event) or _invalid_field(exc)
            raise _violation(event_type, field, exc.message) from exc
        if decoded != event:
            field = _non_finite_field(event) or next(
                (name for name in type(event).model_fields if getattr(decoded, name) != getattr(event, name)),
                None,
            )
            raise _violation(event_type, field, "the event does not read back as written")
        return payload

    async def current_version(self, session: Transaction, aggregate_id: str) -> int:
        result = await session.execute(
            select(func.max(events_table.c.aggregate_version)).where(
                events_table.c.aggregate_id == aggregate_id
            )
        )
        return result.scalar() or 0

    async def load(
        self, session: Transaction, aggregate_id: str, *, up_to_version: int | None = None
    ) -> list[RecordedEvent]:
        """An aggregate's events in version order, upcast to their current schema."""
        query = (
            select(events_table)
            .where(events_table.c.aggregate_id == aggregate_id)
            .order_by(events_table.c.aggregate_version)
        )
        if up_to_version is not None:
            query = query.where(events_table.c.aggregate_version <= up_to_version)
        result = await session.execute(query)
        return [self.registry.recorded(row_to_envelope(row)) for row in result.mappings()]

    async def load_for_rehydration(
        self, session: Transaction, aggregate_id: str
    ) -> tuple[str | None, str | None, list[DomainEvent]]:
        """(tenant, aggregate type, events) of an aggregate: the fast path for rebuilding state.

        Decoded events of recently used aggregates are cached (they never change once
        committed), so a command reads only the rows appended since; envelopes are not
        built at all. The version loaded is remembered on the session, so an append in
        the same transaction need not query it again.
        """
        # Rows this transaction wrote itself are not committed: never cache past them.
        uncommitted = not self.committed_in(session, aggregate_id)
        cached = None if uncommitted else self._cache.get(aggregate_id)
        after = cached.version if cached else 0
        rows = await on_connection(session, _rehydration_rows, aggregate_id, after)
        decode = self.registry.decode_payload
        fresh = [decode(r[2], r[3], r[4]) for r in rows]
        if cached is None:
            if not rows:
                return None, None, []
            cached = _CachedStream(rows[0][0], rows[0][1], [])
        if fresh:
            cached = _CachedStream(cached.tenant_id, cached.aggregate_type, [*cached.events, *fresh])
        if not uncommitted:
            self._cache.put(aggregate_id, cached)
        session.info.setdefault(_LOADED_VERSIONS, {})[aggregate_id] = cached.version
        return cached.tenant_id, cached.aggregate_type, cached.events

    def committed_in(self, session: Transaction, aggregate_id: str) -> bool:
        """Whether every event of ``aggregate_id`` that ``session`` reads is committed (it
        has appended none to it in this transaction)."""
        return aggregate_id not in session.info.get(_APPENDED, ())

    async def read_after(
        self, position: int, *, limit: int = 500, session: Transaction | None = None
    ) -> list[EventEnvelope]:
        """Up to ``limit`` events with a global position above ``position``, in order."""
        query = (
            select(events_table)
            .where(events_table.c.global_position > position)
            .order_by(events_table.c.global_position)
            .limit(limit)
        )
        if session is not None:
            result = await session.execute(query)
            return [row_to_envelope(row) for row in result.mappings()]
        async with self.sessions() as own:
            result = await own.execute(query)
            return [row_to_envelope(row) for row in result.mappings()]

    async def iterate(self, after: int = 0, *, batch_size: int = 500) -> AsyncIterator[list[EventEnvelope]]:
        """Every event after ``after``, in batches, until the head at the time of each read."""
        position = after
        while True:
            batch = await self.read_after(position, limit=batch_size)
            if not batch:
                return
            yield batch
            position = batch[-1].global_position or position

    async def head(self) -> int:
        async with self.sessions() as session:
            result = await session.execute(select(func.max(events_table.c.global_position)))
            return result.scalar() or 0

    def _notify_after_commit(self, session: Transaction) -> None:
        if self._commit_listeners:
            # called after this transaction commits (``transaction.after_commit``)
            after_commit_all(session, id(self), self._commit_listeners)


def _positioned(envelopes: list[EventEnvelope], positions: list[int]) -> list[EventEnvelope]:
    """``envelopes`` as stored: each with its global position."""
    pairs = zip(envelopes, positions, strict=True)
    return [env.model_copy(update={"global_position": pos}) for env, pos in pairs]


def _violation(event_type: str, field: str | None, reason: str) -> ContractViolation:
    log.error("event.contract_violation", event_type=event_type, field=field, reason=reason)
    where = f" (field {field!r})" if field else ""
    return ContractViolation(
        f"{event_type} would break its own contract{where}: {reason}",
        details={"event_type": event_type, "field": field},
    )


def _non_finite_field(event: BaseModel) -> str | None:
    """The first field of ``event`` holding NaN or an infinity, at any depth."""

    def non_finite(value: Any) -> bool:
        if isinstance(value, float):
            return not math.isfinite(value)
        if isinstance(value, dict):
            return any(non_finite(v) for v in value.values())
        if isinstance(value, list | tuple | set | frozenset):
            return any(non_finite(v) for v in value)
        return False

    return next((name for name, value in event.model_dump().items() if non_finite(value)), None)


def _invalid_field(exc: MalformedEvent) -> str | None:
    cause = exc.__cause__
    errors = getattr(cause, "errors", None)
    if callable(errors):
        for error in errors():
            loc = error.get("loc") or ()
            if loc:
                return ".".join(str(part) for part in loc)
    return None


def _largest_field(payload: dict[str, Any]) -> str | None:
    sizes = {name: len(strict_json.dumps(value)) for name, value in payload.items()}
    return max(sizes, key=sizes.__getitem__) if sizes else None


_CURRENT_VERSION = select(func.max(events_table.c.aggregate_version)).where(
    events_table.c.aggregate_id == bindparam("aggregate_id")
)
_REHYDRATE = (
    select(
        events_table.c.tenant_id,
        events_table.c.aggregate_type,
        events_table.c.event_type,
        events_table.c.schema_version,
        events_table.c.payload,
    )
    .where(
        events_table.c.aggregate_id == bindparam("aggregate_id"),
        events_table.c.aggregate_version > bindparam("after"),
    )
    .order_by(events_table.c.aggregate_version)
)
_RETURNING = (events_table.c.global_position, events_table.c.aggregate_version)
_INSERT_EVENTS = insert(events_table).returning(*_RETURNING)
# The events insert of a new aggregate: rows whose (aggregate_id, aggregate_version) exists
# are skipped rather than failing the transaction, so the caller can tell the client which
# version the aggregate is at.
_INSERT_NEW_SQLITE = (
    sqlite.insert(events_table)
    .on_conflict_do_nothing(index_elements=[events_table.c.aggregate_id, events_table.c.aggregate_version])
    .returning(*_RETURNING)
)
_INSERT_OUTBOX = insert(outbox_table)

_POSITION_LAST = b'"global_position":null}'


def _body_head(envelope: EventEnvelope) -> bytes:
    """``envelope``'s JSON up to its global position's value (the last field, not yet set)."""
    body = envelope.model_dump_json().encode()
    if not body.endswith(_POSITION_LAST):  # the envelope's fields were reordered
        raise AssertionError("an envelope's JSON must end with its global position")
    return body[: -len(b"null}")]


# An append on PostgreSQL in one round trip. The events' rows are selected from a join with
# ``append_lock.LOCKED_AND_NOTIFIED`` and sorted before they reach the insert, so the lock is
# held before any row draws its position, and positions follow the versions; the outbox
# rows are inserted in position order, each body finished with its event's position.
_APPEND_PG_SQL = f"""
WITH appended AS (
    INSERT INTO events (event_id, event_type, schema_version, tenant_id, aggregate_type,
        aggregate_id, aggregate_version, occurred_at, recorded_at, actor_id, correlation_id,
        causation_id, payload)
    SELECT e.event_id, e.event_type, e.schema_version, CAST(:tenant_id AS VARCHAR),
        CAST(:aggregate_type AS VARCHAR), CAST(:aggregate_id AS VARCHAR), e.aggregate_version,
        CAST(:now AS TIMESTAMP WITH TIME ZONE), CAST(:now AS TIMESTAMP WITH TIME ZONE),
        CAST(:actor_id AS VARCHAR), CAST(:correlation_id AS VARCHAR),
        CAST(:causation_id AS VARCHAR), e.payload
    FROM {append_lock.LOCKED_AND_NOTIFIED} AS held
    CROSS JOIN unnest(
        CAST(:event_ids AS VARCHAR[]), CAST(:event_types AS VARCHAR[]),
        CAST(:schema_versions AS INTEGER[]), CAST(:versions AS INTEGER[]), CAST(:payloads AS JSON[])
    ) AS e(event_id, event_type, schema_version, aggregate_version, payload)
    ORDER BY e.aggregate_version
    {{on_conflict}}
    RETURNING global_position, aggregate_version, event_id
), published AS (
    INSERT INTO outbox (event_id, subject, body, created_at, traceparent)
    SELECT o.event_id, o.subject, o.head || convert_to(a.global_position || '}}', 'UTF8'),
        CAST(:now AS TIMESTAMP WITH TIME ZONE), CAST(:traceparent AS VARCHAR)
    FROM appended AS a
    JOIN unnest(CAST(:outbox_ids AS VARCHAR[]), CAST(:subjects AS VARCHAR[]), CAST(:heads AS BYTEA[]))
        AS o(event_id, subject, head) ON o.event_id = a.event_id
    ORDER BY a.global_position
)
SELECT global_position, aggregate_version FROM appended
"""
_APPEND_PG = direct.DriverStatement(text(_APPEND_PG_SQL.replace("{on_conflict}", "")))
# A new aggregate's: rows whose (aggregate_id, aggregate_version) exists are skipped, as above.
_APPEND_NEW_PG = direct.DriverStatement(
    text(_APPEND_PG_SQL.replace("{on_conflict}", "ON CONFLICT (aggregate_id, aggregate_version) DO NOTHING"))
)

_EVENT_COLUMNS = tuple(c.name for c in events_table.c if c.name != "global_position")
_OUTBOX_COLUMNS = ("event_id", "subject", "body", "created_at", "traceparent")


@dataclass(frozen=True)
class _Direct:
    """The append's and the rehydration read's statements on sqlite3 itself (``direct``)."""

    insert_new: direct.DirectInsert
    insert_events: direct.DirectInsert
    insert_outbox: direct.DirectInsert
    rehydrate: direct.DirectSelect


_DIRECT = direct.PerDialect(
    lambda dialect: _Direct(
        insert_new=direct.DirectInsert(_INSERT_NEW_SQLITE, events_table, _EVENT_COLUMNS, dialect),
        insert_events=direct.DirectInsert(_INSERT_EVENTS, events_table, _EVENT_COLUMNS, dialect),
        insert_outbox=direct.DirectInsert(_INSERT_OUTBOX, outbox_table, _OUTBOX_COLUMNS, dialect),
        rehydrate=direct.DirectSelect(
            _REHYDRATE,
            events_table,
            ("tenant_id", "aggregate_type", "event_type", "schema_version", "payload"),
            dialect,
        ),
    )
)


def _rehydration_rows(connection: Connection, aggregate_id: str, after: int) -> Sequence[Sequence[Any]]:
    params = {"aggregate_id": aggregate_id, "after": after}
    raw = inline_sqlite(connection)
    if raw is not None:
        return _DIRECT(connection.dialect).rehydrate.run(raw, params)
    return connection.execute(_REHYDRATE, params).all()


_LOADED_VERSIONS = "trellis.loaded_versions"
_APPENDED = "trellis.appended"


@dataclass(frozen=True)
class _CachedStream:
    tenant_id: str
    aggregate_type: str
    events: list[DomainEvent]

    @property
    def version(self) -> int:
        return len(self.events)


class _LRU:
    """Committed, decoded event streams of the most recently used aggregates."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, _CachedStream] = OrderedDict()

    def get(self, key: str) -> _CachedStream | None:
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
        return item

    def put(self, key: str, value: _CachedStream) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


def row_to_envelope(row: object) -> EventEnvelope:
    data = dict(row)  # type: ignore[call-overload]
    for key in ("occurred_at", "recorded_at"):
        value = data.get(key)
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            data[key] = value.replace(tzinfo=dt.UTC)
    data.pop("recorded_at", None)
    return EventEnvelope.model_validate(data)
