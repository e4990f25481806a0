"""The consumer runner: a durable JetStream pull consumer driving one projection.

Per fetched batch, one database transaction. The batch is first applied optimistically:
every handler in turn, then all processed records in one insert. If anything in it is
not plain (a malformed message, a parked aggregate) or a handler raises, that attempt
is rolled back and the batch is applied carefully, one savepoint per message:

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

After a rebuilt view was swapped in (``replay.py``), the consumer has a *watermark*: the
rebuilt view holds every event up to it. Each batch reads it first, under the
consumer's hand-over lock (shared; a swap takes it exclusively), and events at or below
it are acked without being applied (an event in line that it covers leaves the line);
events above it are applied as above, exactly once.

Acks and naks are sent only after the commit, so a crash at any point either leaves
nothing applied (redelivered, applied once) or everything applied and recorded
(redelivered, skipped). The next batch is fetched while one is being applied (batches
are still applied one after the other), so the database and NATS work overlap.

With several instances, a projection runs one durable consumer per partition of its
source stream, each under a lease (``leases.py``): every batch renews the lease as the
last statement of its own transaction, so an instance that lost it cannot commit; it
hands its messages back and stops. Messages are applied in stream order within a
batch, and an instance taking a partition over from one that died first lets the dead
one's in-flight messages come back (redeliveries are served before new messages), so no
newer event overtakes them.

Failures are counted by the runner, not read from JetStream's delivery count: when
the database is down, every batch is naked and redelivered, and those deliveries
must neither dead-letter an event nor exhaust a server-side ``MaxDeliver`` (which
would drop it from the consumer silently). So the durable consumer has no
``MaxDeliver`` limit: the runner decides when to give up, and only on handler failures.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

import structlog
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import FetchTimeoutError
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from trellis.core.consuming.handover import GLOBAL_POSITION, Watermark, current_watermark
from trellis.core.consuming.leases import LeaseLost, Leases, Slot
from trellis.core.consuming.projection import Projection
from trellis.core.consuming.undecodable import Undecodable
from trellis.core.errors import MalformedEvent
from trellis.core.messaging.jetstream import ConsumerSpec, ensure_consumer
from trellis.core.messaging.outbox import JetStreamProvider
from trellis.core.store.events import EventEnvelope, EventRegistry, RecordedEvent, utcnow
from trellis.core.store.subjects import Subjects
from trellis.core.store.tables import consumer_failures, dead_letters, processed_events

log = structlog.get_logger("trellis.consumer")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how late a failing event is retried before it is dead-lettered."""

    max_attempts: int = 5
    delays: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0)

    def delay(self, attempt: int) -> float:
        return self.delays[min(attempt - 1, len(self.delays) - 1)]


class _NotPlain(Exception):
    """The batch needs the careful path."""


@dataclass
class _Outcome:
    ack: bool = True
    nak_delay: float = 0.0


@dataclass
class _Batch:
    """What the careful path knows while it goes through a batch."""

    done: set[str]  # event ids already applied
    parked: dict[str, str]  # aggregate → the dead-lettered event it is parked behind
    lines: dict[str, list[str]]  # aggregate → events in line (being retried, then waiting)
    waiting: set[str] = field(default_factory=set)  # aggregates with an event naked in this batch


class ConsumerRunner:
    """Runs ``projection`` on its durable consumer until cancelled."""

    def __init__(
        self,
        *,
        projection: Projection,
        sessions: async_sessionmaker,
        registry: EventRegistry,
        jetstream: JetStreamProvider,
        subjects: Subjects,
        batch_size: int = 500,
        fetch_timeout: float = 1.0,
        retry: RetryPolicy | None = None,
        ack_wait: float = 30.0,
        partition: int = 0,
        partitions: int = 1,
        leases: Leases | None = None,
    ) -> None:
        self.projection = projection
        self.sessions = sessions
        self.registry = registry
        self.jetstream = jetstream
        self.subjects = subjects
        self.batch_size = batch_size
        self.fetch_timeout = fetch_timeout
        self.retry = retry or RetryPolicy()
        self.ack_wait = ack_wait
        self.partition = partition
        self.partitions = partitions
        self.leases = leases
        self.takeover_wait = 0.0  # seconds to let a dead predecessor's messages come back
        self.applied = 0
        self._stopping = False
        self._stop_asked = asyncio.Event()  # wakes the waits a stop should cut short
        self._lost = False

    def stop(self) -> None:
        """Finish the batch in hand, then return from ``run``."""
        self._stopping = True
        self._stop_asked.set()

    async def _pause(self, seconds: float) -> None:
        """Sleep, unless asked to stop meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_asked.wait(), seconds)

    @property
    def name(self) -> str:
        return self.projection.name

    @property
    def lease_name(self) -> str:
        return f"consumer/{self.name}/{self.partition}"

    def for_partition(self, partition: int, partitions: int, leases: Leases | None) -> ConsumerRunner:
        """A runner like this one for one partition of the source stream, under a lease."""
        return ConsumerRunner(
            projection=self.projection,
            sessions=self.sessions,
            registry=self.registry,
            jetstream=self.jetstream,
            subjects=self.subjects,
            batch_size=self.batch_size,
            fetch_timeout=self.fetch_timeout,
            retry=self.retry,
            ack_wait=self.ack_wait,
            partition=partition,
            partitions=partitions,
            leases=leases,
        )

    def slot(self) -> Slot:
        """This runner as a unit of work for a ``PartitionCoordinator``: started under its
        lease (after letting a dead predecessor's messages come back, if it took over)."""

        def start(took_over: bool) -> asyncio.Task[None]:
            self.takeover_wait = self.ack_wait + 1.0 if took_over else 0.0
            return asyncio.create_task(self.run(), name=f"consumer-{self.spec().durable}")

        return Slot(lease=self.lease_name, start=start, stop=self.stop)

    def spec(self) -> ConsumerSpec:
        source = self.projection.source
        types = self.projection.event_types()
        if self.partitions > 1:
            durable = f"{self.name}-p{self.partition}"
            filters = [self.subjects.in_partition(source, self.partition, t) for t in types] or [
                self.subjects.in_partition(source, self.partition)
            ]
        else:
            durable = self.name
            filters = [self.subjects.matching(source, event_type=t) for t in types] or [
                self.subjects.all_of(source)
            ]
        return ConsumerSpec(
            stream=self.subjects.stream(source),
            durable=durable,
            filter_subjects=filters,
            ack_wait=self.ack_wait,
            # unlimited on purpose: the runner counts handler failures itself (see above)
            max_deliver=-1,
            max_ack_pending=max(1000, self.batch_size * 4),
        )

    async def provision(self) -> None:
        await ensure_consumer(self.jetstream(), self.spec())

    async def run(self) -> None:
        spec = self.spec()
        self._stopping = self._lost = False
        self._stop_asked.clear()
        delay, last_error = 0.1, ""
        while not self._stopping:
            js = self.jetstream()
            try:
                await ensure_consumer(js, spec)
                sub = await js.pull_subscribe_bind(spec.durable, spec.stream)
                delay, last_error = 0.1, ""
                await self._let_predecessor_go(js, spec)
                await self._loop(sub)
            except asyncio.CancelledError:
                raise
            except LeaseLost:
                log.warning("consumer.lease_lost", consumer=self.name, partition=self.partition)
                return
            except Exception as exc:
                # typically the source stream does not exist yet (its service has not
                # started): say so once, then keep trying quietly with a growing delay
                error = f"{type(exc).__name__}: {exc}"
                level = log.debug if error == last_error else log.warning
                level("consumer.restarting", consumer=self.name, stream=spec.stream, error=error)
                last_error = error
                await self._pause(delay)
                delay = min(delay * 2, 2.0)

    async def _let_predecessor_go(self, js: Any, spec: ConsumerSpec) -> None:
        """Taking over from an instance that died: wait until what it had in flight is due
        for redelivery (served before new messages), unless nothing is in flight."""
        wait, self.takeover_wait = self.takeover_wait, 0.0
        if wait <= 0:
            return
        info = await js.consumer_info(spec.stream, spec.durable)
        if not info.num_ack_pending:
            return
        log.info(
            "consumer.awaiting_predecessor", consumer=spec.durable, in_flight=info.num_ack_pending, wait=wait
        )
        await self._pause(wait)

    async def _loop(self, sub: Any) -> None:
        upcoming: asyncio.Task[list[Any]] | None = asyncio.create_task(self._fetch(sub))
        try:
            while upcoming is not None:  # None once the last batch is in hand
                msgs = await upcoming
                # the next fetch overlaps with the apply, unless this batch is the last
                upcoming = None if self._stopping else asyncio.create_task(self._fetch(sub))
                if msgs:
                    await self.process(msgs)
                    if self._lost:
                        raise LeaseLost(self.lease_name)
                if self._stopping:
                    break
        finally:
            if upcoming is not None:
                await self._release(upcoming)

    async def _fetch(self, sub: Any) -> list[Any]:
        try:
            msgs = list(await sub.fetch(self.batch_size, timeout=self.fetch_timeout))
            # redeliveries come first: apply in stream order, which is each aggregate's order
            msgs.sort(key=lambda m: _stream_sequence(m) or 0)
            return msgs
        except (FetchTimeoutError, NatsTimeoutError, TimeoutError):
            return []

    async def _release(self, upcoming: asyncio.Task[list[Any]]) -> None:
        """Hand back a batch fetched but never applied, so it is redelivered at once.

        A fetch in progress is waited for (at most its timeout), not cancelled: its pull
        request would stay open on the server, which would deliver messages (the ones just
        naked, say) to a subscription nobody reads, and they would come back only after
        the ack wait."""
        if not upcoming.done():
            await asyncio.wait([upcoming], timeout=self.fetch_timeout + 1.0)
        if not upcoming.done():
            upcoming.cancel()
            await asyncio.gather(upcoming, return_exceptions=True)
            return
        if upcoming.cancelled() or upcoming.exception() is not None:
            return
        for msg in upcoming.result():
            with contextlib.suppress(Exception):
                await msg.nak()

    async def process(self, msgs: list[Any]) -> None:
        """Apply one fetched batch and settle every message (ack or delayed nak)."""
        keepalive = asyncio.create_task(self._keep_alive(msgs))
        try:
            try:
                outcomes = await self._apply(msgs)
            except asyncio.CancelledError:
                raise
            except LeaseLost:  # another instance has this partition now: hand everything back
                self._lost = True
                outcomes = [_Outcome(ack=False, nak_delay=0.0)] * len(msgs)
            except Exception as exc:  # the database itself failed: try the batch again later
                log.warning("consumer.batch_failed", consumer=self.name, error=str(exc))
                outcomes = [_Outcome(ack=False, nak_delay=self.retry.delay(1))] * len(msgs)
        finally:
            keepalive.cancel()
        await self._settle(msgs, outcomes)

    async def _settle(self, msgs: list[Any], outcomes: list[_Outcome]) -> None:
        for msg, outcome in zip(msgs, outcomes, strict=True):
            if outcome.ack:
                await msg.ack()
            else:
                await msg.nak(delay=outcome.nak_delay)

    async def _keep_alive(self, msgs: list[Any]) -> None:
        """Tell the server we are still working on a long batch, so it is not redelivered."""
        while True:
            await asyncio.sleep(self.ack_wait / 3)
            for msg in msgs:
                await msg.in_progress()

    async def _apply(self, msgs: list[Any]) -> list[_Outcome]:
        decoded: list[RecordedEvent | Undecodable] = [self._decode(m) for m in msgs]
        sequences = [_stream_sequence(m) for m in msgs]
        if all(isinstance(d, RecordedEvent) for d in decoded):
            try:
                return await self._apply_optimistically(decoded, sequences)  # type: ignore[arg-type]
            except _NotPlain:
                pass
            except (asyncio.CancelledError, LeaseLost):
                raise
            except Exception as exc:
                log.debug("consumer.batch_falls_back", consumer=self.name, error=str(exc))
        return await self._apply_carefully(msgs, decoded, sequences)

    async def _apply_optimistically(
        self, decoded: list[RecordedEvent], sequences: list[int | None]
    ) -> list[_Outcome]:
        """The common case: every event applies. One transaction, no savepoints."""
        ids = [str(d.event_id) for d in decoded]
        async with self.sessions() as session, session.begin():
            watermark = await current_watermark(session, self.name)
            done = await self._already_processed(session, ids)
            if any(await self._blocked_aggregates(session, {d.aggregate_id for d in decoded})):
                raise _NotPlain
            fresh: dict[str, RecordedEvent] = {}  # one copy of each, in order
            for event_id, item, sequence in zip(ids, decoded, sequences, strict=True):
                if event_id not in done and not _covered(watermark, item, sequence):
                    fresh.setdefault(event_id, item)
            await self.projection.handle_batch(session, list(fresh.values()))
            now = utcnow()
            records = [
                {"consumer": self.name, "event_id": event_id, "processed_at": now} for event_id in fresh
            ]
            if records:
                await session.execute(insert(processed_events), records)
            await self._fence(session)
        self.applied += len(records)
        return [_Outcome() for _ in decoded]

    async def _apply_carefully(
        self, msgs: list[Any], decoded: list[RecordedEvent | Undecodable], sequences: list[int | None]
    ) -> list[_Outcome]:
        keys = [_key(d) for d in decoded]
        ids = [key[0] for key in keys if key is not None]
        aggregates = {key[1] for key in keys if key is not None}
        outcomes: list[_Outcome] = []
        async with self.sessions() as session, session.begin():
            watermark = await current_watermark(session, self.name)
            done = await self._already_processed(session, ids)
            parked, lines = await self._blocked_aggregates(session, aggregates)
            batch = _Batch(done, parked, lines)
            for msg, item, sequence in zip(msgs, decoded, sequences, strict=True):
                if _covered(watermark, item, sequence):
                    outcomes.append(await self._skip_covered(session, item, batch))
                else:
                    outcomes.append(await self._apply_one(session, msg, item, sequence, batch))
            await self._fence(session)
        return outcomes

    async def _fence(self, session: AsyncSession) -> None:
        """Renew this partition's lease as the batch's transaction's last statement
        (``LeaseLost`` if taken: nothing of the batch commits). Last, so the row is locked
        only from here to the commit: the instance's heartbeat keeps renewing it meanwhile,
        however long the batch takes."""
        if self.leases is not None:
            await self.leases.renew(session, self.lease_name)

    async def _skip_covered(
        self, session: AsyncSession, item: RecordedEvent | Undecodable, batch: _Batch
    ) -> _Outcome:
        """An event the swapped-in view already holds (or dead-lettered itself): ack it."""
        key = _key(item)
        if key is not None:
            await self._leave_line(session, batch, key[1], key[0])
        return _Outcome()

    async def _apply_one(
        self,
        session: AsyncSession,
        msg: Any,
        item: RecordedEvent | Undecodable,
        sequence: int | None,
        batch: _Batch,
    ) -> _Outcome:
        deliveries = _deliveries(msg)
        key = _key(item)
        if key is None:  # no aggregate whose order it could keep: it stands alone
            assert isinstance(item, Undecodable)
            log.error("consumer.malformed_event", consumer=self.name, reason=item.reason)
            await self._dead_letter(session, msg, item, item.reason, deliveries)
            return _Outcome()
        event_id, aggregate = key
        if event_id in batch.done:  # (an undecodable one: applied when it could still be decoded)
            await self._leave_line(session, batch, aggregate, event_id)
            return _Outcome()
        if aggregate in batch.parked:
            await self._leave_line(session, batch, aggregate, event_id)
            reason = f"parked behind dead-lettered event {batch.parked[aggregate]} of the same aggregate"
            if isinstance(item, Undecodable):
                reason = f"{reason}; undecodable too: {item.reason}"
            await self._dead_letter(session, msg, _letter(item), reason, deliveries)
            return _Outcome()
        line = batch.lines.get(aggregate)
        if aggregate in batch.waiting or (line and line[0] != event_id):
            if not line or event_id not in line:
                await self._join_line(session, batch, event_id, aggregate, sequence)
            return _Outcome(ack=False, nak_delay=self.retry.delay(1))
        if isinstance(item, Undecodable):  # its turn: it parks its aggregate, as a failure for good does
            log.error("consumer.dead_lettered", consumer=self.name, event_id=event_id, reason=item.reason)
            await self._dead_letter(session, msg, item, item.reason, deliveries)
            await self._leave_line(session, batch, aggregate, event_id)
            batch.parked[aggregate] = event_id
            return _Outcome()
        bound = structlog.contextvars.bound_contextvars(
            event_id=event_id,
            tenant=item.tenant_id,
            correlation_id=item.envelope.correlation_id,
            consumer=self.name,
        )
        with bound:
            try:
                async with session.begin_nested():
                    await self.projection.handle(session, item)
                    await session.execute(
                        insert(processed_events).values(
                            consumer=self.name, event_id=event_id, processed_at=utcnow()
                        )
                    )
                    await self._leave_line(session, batch, aggregate, event_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if line:  # the savepoint undid the row's removal: put it back in memory too
                    batch.lines[aggregate] = line
                reason = f"{type(exc).__name__}: {exc}"
                attempts = await self._count_failure(session, item.envelope, reason, sequence)
                if isinstance(exc, MalformedEvent) or attempts >= self.retry.max_attempts:
                    log.error("consumer.dead_lettered", reason=reason, attempts=attempts)
                    await self._dead_letter(session, msg, item.envelope, reason, attempts)
                    await self._leave_line(session, batch, aggregate, event_id)  # the dead letter parks now
                    batch.parked[aggregate] = event_id
                    return _Outcome()
                log.warning("consumer.handler_failed", reason=reason, attempts=attempts)
                if not line:
                    batch.lines[aggregate] = [event_id]
                batch.waiting.add(aggregate)
                return _Outcome(ack=False, nak_delay=self.retry.delay(attempts))
        batch.done.add(event_id)
        self.applied += 1
        return _Outcome()

    async def _join_line(
        self, session: AsyncSession, batch: _Batch, event_id: str, aggregate: str, sequence: int | None
    ) -> None:
        """Queue an event behind the earlier events of its aggregate that are being retried or
        are waiting: it is applied after them, in stream order, whenever each is redelivered."""
        line = batch.lines.setdefault(aggregate, [])
        try:
            async with session.begin_nested():
                await session.execute(
                    insert(consumer_failures).values(
                        consumer=self.name,
                        event_id=event_id,
                        aggregate_id=aggregate,
                        stream_sequence=sequence,
                        attempts=0,
                        last_error=f"waiting behind {line[0]}" if line else "waiting",
                        failed_at=utcnow(),
                    )
                )
        except IntegrityError:  # another instance queued it meanwhile
            pass
        line.append(event_id)

    async def _leave_line(self, session: AsyncSession, batch: _Batch, aggregate: str, event_id: str) -> None:
        line = batch.lines.get(aggregate)
        if not line or event_id not in line:
            return
        await self._forget_failures(session, event_id)
        remaining = [e for e in line if e != event_id]
        if remaining:
            batch.lines[aggregate] = remaining
        else:
            del batch.lines[aggregate]

    async def _count_failure(
        self, session: AsyncSession, envelope: EventEnvelope, reason: str, sequence: int | None
    ) -> int:
        """One more failure of this consumer on this event; the count so far."""
        event_id = str(envelope.event_id)
        key = (consumer_failures.c.consumer == self.name) & (consumer_failures.c.event_id == event_id)
        attempts = (await session.execute(select(consumer_failures.c.attempts).where(key))).scalar()
        if attempts is None:
            attempts = 1
            await session.execute(
                insert(consumer_failures).values(
                    consumer=self.name,
                    event_id=event_id,
                    aggregate_id=envelope.aggregate_id,
                    stream_sequence=sequence,
                    attempts=1,
                    last_error=reason[:4000],
                    failed_at=utcnow(),
                )
            )
        else:
            attempts += 1
            await session.execute(
                update(consumer_failures)
                .where(key)
                .values(attempts=attempts, last_error=reason[:4000], failed_at=utcnow())
            )
        return attempts

    async def _forget_failures(self, session: AsyncSession, event_id: str) -> None:
        await session.execute(
            delete(consumer_failures).where(
                consumer_failures.c.consumer == self.name, consumer_failures.c.event_id == event_id
            )
        )

    def _decode(self, msg: Any) -> RecordedEvent | Undecodable:
        try:
            envelope = EventEnvelope.model_validate_json(msg.data)
        except Exception as exc:
            reason = f"not a Trellis event envelope: {type(exc).__name__}: {exc}"
            return Undecodable.read(msg.data, reason, message_id=_header(msg, "Nats-Msg-Id"))
        try:
            return self.registry.record(envelope)
        except MalformedEvent as exc:
            return _undecodable(envelope, exc.message)
        except Exception as exc:
            return _undecodable(envelope, f"{type(exc).__name__}: {exc}")

    async def _already_processed(self, session: AsyncSession, ids: list[str]) -> set[str]:
        if not ids:
            return set()
        result = await session.execute(
            select(processed_events.c.event_id).where(
                processed_events.c.consumer == self.name, processed_events.c.event_id.in_(ids)
            )
        )
        return set(result.scalars())

    async def _blocked_aggregates(
        self, session: AsyncSession, aggregates: set[str]
    ) -> tuple[dict[str, str], dict[str, list[str]]]:
        """Aggregates whose events must not simply be applied: parked behind a dead letter
        (aggregate → its event id), and lined up behind an event being retried (aggregate →
        the events in line, in stream order; only the first may be applied)."""
        if not aggregates:
            return {}, {}
        dl, cf = dead_letters.c, consumer_failures.c
        parked_rows = await session.execute(
            select(dl.aggregate_id, dl.event_id)
            .where(dl.consumer == self.name, dl.resolved_at.is_(None), dl.aggregate_id.in_(aggregates))
            .order_by(dl.id)
        )
        parked: dict[str, str] = {}
        for aggregate, event_id in parked_rows.all():
            parked.setdefault(aggregate, event_id)
        line_rows = await session.execute(
            select(cf.aggregate_id, cf.event_id)
            .where(cf.consumer == self.name, cf.aggregate_id.in_(aggregates))
            .order_by(cf.aggregate_id, cf.stream_sequence.nulls_first(), cf.failed_at)
        )
        lines: dict[str, list[str]] = {}
        for aggregate, event_id in line_rows.all():
            lines.setdefault(aggregate, []).append(event_id)
        return parked, lines

    async def _dead_letter(
        self,
        session: AsyncSession,
        msg: Any,
        event: EventEnvelope | Undecodable,
        reason: str,
        deliveries: int,
    ) -> None:
        await session.execute(
            insert(dead_letters).values(
                consumer=self.name,
                event_id=str(event.event_id) if event.event_id is not None else None,
                event_type=event.event_type,
                tenant_id=event.tenant_id,
                aggregate_id=event.aggregate_id,
                subject=msg.subject,
                stream_sequence=_stream_sequence(msg),
                deliveries=deliveries,
                reason=reason[:4000],
                raw=bytes(msg.data),
                headers=dict(msg.headers or {}),
                failed_at=utcnow(),
            )
        )


def _covered(watermark: Watermark | None, item: RecordedEvent | Undecodable, sequence: int | None) -> bool:
    if watermark is None:
        return False
    if isinstance(item, RecordedEvent):
        return watermark.covers(item.envelope, sequence)
    position = item.global_position if watermark.kind == GLOBAL_POSITION else sequence
    return position is not None and position <= watermark.position


def _key(item: RecordedEvent | Undecodable) -> tuple[str, str] | None:
    """(event id, aggregate) of an event that keeps its place in its aggregate's order."""
    if isinstance(item, RecordedEvent):
        return str(item.event_id), item.aggregate_id
    if item.event_id is not None and item.aggregate_id is not None:
        return item.event_id, item.aggregate_id
    return None


def _letter(item: RecordedEvent | Undecodable) -> EventEnvelope | Undecodable:
    """What a dead letter records of ``item``."""
    return item.envelope if isinstance(item, RecordedEvent) else item


def _undecodable(envelope: EventEnvelope, reason: str) -> Undecodable:
    return Undecodable(
        reason,
        event_id=str(envelope.event_id),
        event_type=envelope.event_type,
        tenant_id=envelope.tenant_id,
        aggregate_type=envelope.aggregate_type,
        aggregate_id=envelope.aggregate_id,
        aggregate_version=envelope.aggregate_version,
        global_position=envelope.global_position,
    )


def _deliveries(msg: Any) -> int:
    try:
        return int(msg.metadata.num_delivered)
    except Exception:
        return 1


def _stream_sequence(msg: Any) -> int | None:
    try:
        return int(msg.metadata.sequence.stream)
    except Exception:
        return None


def _header(msg: Any, name: str) -> str | None:
    headers = msg.headers or {}
    value = headers.get(name)
    return str(value) if value is not None else None
