"""The consumer runner: a durable JetStream pull consumer driving one projection.

The runner is the NATS side of a consumer, and only that: it fetches batches, turns each
message into a ``Delivery`` (``delivery.py``), has them applied exactly once
(``exactly_once.py``, which records everything in the consumer's ``ConsumerLedger``) and
then acks or naks every message as it was told.

Acks and naks are sent only after the commit, so a crash at any point either leaves
nothing applied (redelivered, applied once) or everything applied and recorded
(redelivered, skipped). The server keeps sending while a batch is being applied
(``pull.py``: pull requests stay open, and each batch is what has come meanwhile), so the
database and NATS work overlap and an event reaching an idle consumer is applied at once;
batches are still applied one after the other. A batch the database itself refused (it
is down, say) is naked whole and comes back later.

With several instances, a projection runs one durable consumer per partition of its
source stream, each under a lease (``leases.py``): every batch renews the lease as the
last statement of its own transaction, so an instance that lost it cannot commit; it
hands its messages back and stops. Messages are applied in stream order within a
batch, and an instance taking a partition over from one that died first lets the dead
one's in-flight messages come back (redeliveries are served before new messages), so no
newer event overtakes them.

Failures are counted by the ledger, not read from JetStream's delivery count: when
the database is down, every batch is naked and redelivered, and those deliveries
must neither dead-letter an event nor exhaust a server-side ``MaxDeliver`` (which
would drop it from the consumer silently). So the durable consumer has no
``MaxDeliver`` limit: the runner decides when to give up, and only on handler failures.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from trellis.contracts.envelope import EventRegistry
from trellis.contracts.subjects import Subjects
from trellis.core import metrics, tracing
from trellis.core.consuming.delivery import Delivery, Outcome, RetryPolicy
from trellis.core.consuming.exactly_once import ExactlyOnce
from trellis.core.consuming.leases import LeaseLost, Leases, Slot
from trellis.core.consuming.ledger import ConsumerLedger
from trellis.core.consuming.projection import Consumer
from trellis.core.consuming.pull import PullFeed
from trellis.core.messaging.jetstream import ConsumerSpec, ensure_consumer
from trellis.core.messaging.outbox import JetStreamProvider

__all__ = ["ConsumerRunner", "RetryPolicy"]

log = structlog.get_logger("trellis.consumer")


class ConsumerRunner:
    """Runs ``projection`` on its durable consumer until cancelled."""

    def __init__(
        self,
        *,
        projection: Consumer,
        sessions: async_sessionmaker[AsyncSession],
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
        self.ledger = ConsumerLedger(sessions, projection.name)
        self.exactly_once = ExactlyOnce(self.ledger, projection, self.retry)
        self._stopping = False
        self._stop_asked = asyncio.Event()  # wakes the waits a stop should cut short
        self._lost = False
        self._feed: PullFeed | None = None  # while running

    def stop(self) -> None:
        """Finish the batch in hand, then return from ``run``."""
        self._stopping = True
        self._stop_asked.set()
        if self._feed is not None:
            self._feed.interrupt()

    async def _pause(self, seconds: float) -> None:
        """Sleep, unless asked to stop meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_asked.wait(), seconds)

    @property
    def applied(self) -> int:
        """Events this runner has applied so far."""
        return self.exactly_once.applied

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
                feed = PullFeed.of(
                    js,
                    stream=spec.stream,
                    durable=spec.durable,
                    batch=self.batch_size,
                    expires=self.fetch_timeout,
                )
                delay, last_error = 0.1, ""
                await self._let_predecessor_go(js, spec)
                await feed.start()
                self._feed = feed
                try:
                    await self._loop(feed)
                finally:
                    self._feed = None
                    await feed.close()
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

    async def _let_predecessor_go(self, js: JetStreamContext, spec: ConsumerSpec) -> None:
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

    async def _loop(self, feed: PullFeed) -> None:
        while not self._stopping:
            msgs = await feed.fetch(self.fetch_timeout)
            if not msgs:
                continue
            # redeliveries come first: apply in stream order, which is each aggregate's order
            msgs.sort(key=lambda m: _stream_sequence(m) or 0)
            await self.process(msgs)
            if self._lost:
                raise LeaseLost(self.lease_name)

    async def process(self, msgs: list[Msg]) -> None:
        """Apply one fetched batch and answer every message (ack, or nak with a delay)."""
        started = time.perf_counter()
        keepalive = asyncio.create_task(self._keep_alive(msgs))
        try:
            try:
                outcomes = await self._apply(msgs)
            except asyncio.CancelledError:
                raise
            except LeaseLost:  # another instance has this partition now: hand everything back
                self._lost = True
                outcomes = [Outcome(ack=False, nak_delay=0.0)] * len(msgs)
            except Exception as exc:  # the database itself failed: try the batch again later
                log.warning("consumer.batch_failed", consumer=self.name, error=str(exc))
                outcomes = [Outcome(ack=False, nak_delay=self.retry.delay(1))] * len(msgs)
        finally:
            keepalive.cancel()
        await self._answer(msgs, outcomes)
        self._measure(msgs, outcomes, time.perf_counter() - started)

    def _measure(self, msgs: list[Msg], outcomes: list[Outcome], seconds: float) -> None:
        metrics.CONSUMER_BATCH_SECONDS.labels(self.name).observe(seconds)
        acked = sum(1 for outcome in outcomes if outcome.ack)
        if acked:
            metrics.CONSUMER_MESSAGES.labels(self.name, "ack").inc(acked)
        if acked < len(outcomes):
            metrics.CONSUMER_MESSAGES.labels(self.name, "nak").inc(len(outcomes) - acked)
        with contextlib.suppress(Exception):  # a message without JetStream metadata: no figure
            metrics.CONSUMER_LAG.labels(self.name).set(msgs[-1].metadata.num_pending)

    async def _answer(self, msgs: list[Msg], outcomes: list[Outcome]) -> None:
        for msg, outcome in zip(msgs, outcomes, strict=True):
            if outcome.ack:
                await msg.ack()
            else:
                await msg.nak(delay=outcome.nak_delay)

    async def _keep_alive(self, msgs: list[Msg]) -> None:
        """Tell the server we are still working on a long batch, so it is not redelivered."""
        while True:
            await asyncio.sleep(self.ack_wait / 3)
            for msg in msgs:
                await msg.in_progress()

    async def _apply(self, msgs: list[Msg]) -> list[Outcome]:
        deliveries = [self._delivery(m) for m in msgs]
        with tracing.tracer.start_as_current_span(
            f"consume {self.name}", attributes={"trellis.batch_size": len(msgs)}
        ):
            return await self.exactly_once.apply(deliveries, fence=self._fence)

    def _delivery(self, msg: Msg) -> Delivery:
        return Delivery.of(
            self.registry,
            subject=msg.subject,
            data=msg.data,
            headers=msg.headers,
            stream_sequence=_stream_sequence(msg),
            deliveries=_deliveries(msg),
        )

    async def _fence(self, session: AsyncSession) -> None:
        """Renew this partition's lease as the batch's transaction's last statement
        (``LeaseLost`` if taken: nothing of the batch commits). Last, so the row is locked
        only from here to the commit: the instance's heartbeat keeps renewing it meanwhile,
        however long the batch takes."""
        if self.leases is not None:
            await self.leases.renew(session, self.lease_name)


def _deliveries(msg: Msg) -> int:
    try:
        return int(msg.metadata.num_delivered)
    except Exception:
        return 1


def _stream_sequence(msg: Msg) -> int | None:
    try:
        return int(msg.metadata.sequence.stream)
    except Exception:
        return None
