"""Several instances of a projection: partitions by aggregate, leases, takeover, fencing.

Two "instances" (each its own lease holder and coordinator, on the same database and
stream) consume a stream in four partitions while events are published; one of them
dies half way (its tasks are killed, its leases left to expire). Every aggregate's
events must still be applied once each, in version order, and both instances must
have done part of the work.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog
from nats.errors import TimeoutError as NatsTimeoutError
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from trellis.contracts.envelope import EventEnvelope
from trellis.core.consuming.consumer import ConsumerRunner, RetryPolicy
from trellis.core.consuming.leases import LeaseLost, Leases, PartitionCoordinator, Slot
from trellis.core.consuming.projection import Projection, on
from trellis.core.messaging.jetstream import StreamSpec, ensure_stream, stream_partitions
from trellis.core.messaging.outbox import OutboxRelay
from trellis.core.store.tables import consumer_leases
from trellis.testing import eventually

from .conftest import SERVICE, Core, Counted, registry
from .test_outbox_relay import drain

PARTITIONS = 4
metadata = MetaData()
applied = Table(
    "order_applied",
    metadata,
    Column("counter_id", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("applications", Integer, nullable=False),
)
by_instance = Table(
    "order_by_instance",
    metadata,
    Column("instance", String(20), primary_key=True),
    Column("applications", Integer, nullable=False),
)
out_of_order = Table(
    "order_violations",
    metadata,
    Column("counter_id", String(64), primary_key=True),
    Column("seen", Integer, nullable=False),
    Column("expected", Integer, nullable=False),
)


class Ordered(Projection):
    """Records each counter's last applied version, and any event applied out of turn."""

    name = "ordered"
    source = SERVICE
    tables = (applied, by_instance, out_of_order)

    def __init__(self, instance: str) -> None:
        self.instance = instance

    @on(Counted)
    async def counted(self, session: AsyncSession, ev: Counted, env: EventEnvelope) -> None:
        last = (
            await session.execute(select(applied.c.version).where(applied.c.counter_id == env.aggregate_id))
        ).scalar_one_or_none()
        if last is None:
            await session.execute(
                insert(applied).values(
                    counter_id=env.aggregate_id, version=env.aggregate_version, applications=1
                )
            )
        else:
            await session.execute(
                update(applied)
                .where(applied.c.counter_id == env.aggregate_id)
                .values(version=env.aggregate_version, applications=applied.c.applications + 1)
            )
        if env.aggregate_version != (last or 0) + 1:
            await session.execute(
                insert(out_of_order)
                .prefix_with("OR IGNORE", dialect="sqlite")
                .values(counter_id=env.aggregate_id, seen=env.aggregate_version, expected=(last or 0) + 1)
            )
        mine = update(by_instance).where(by_instance.c.instance == self.instance)
        if not (await session.execute(mine.values(applications=by_instance.c.applications + 1))).rowcount:  # type: ignore[attr-defined]
            await session.execute(insert(by_instance).values(instance=self.instance, applications=1))


class Instance:
    """One process's worth of consumers: a coordinator with a runner per partition."""

    def __init__(self, core: Core, js: Any, name: str, *, ttl: float = 1.5) -> None:
        self.leases = Leases(core.sessions, holder=name, ttl=ttl)
        self.coordinator = PartitionCoordinator(self.leases, service=SERVICE)
        projection = Ordered(name)
        template = ConsumerRunner(
            projection=projection,
            sessions=core.sessions,
            registry=registry,
            jetstream=lambda: js,
            subjects=core.subjects,
            batch_size=20,
            fetch_timeout=0.2,
            ack_wait=2.0,
            retry=RetryPolicy(max_attempts=3, delays=(0.05,)),
        )
        self.runners = [template.for_partition(p, PARTITIONS, self.leases) for p in range(PARTITIONS)]
        for runner in self.runners:
            self.coordinator.add(runner.slot())
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self.coordinator.run())

    async def crash(self) -> None:
        """Die without a word: tasks killed, leases left to expire, messages unacked."""
        tasks = [self.task, *(s.task for s in self.coordinator.slots.values())]
        for task in tasks:
            while task is not None and not task.done():
                task.cancel()
                await asyncio.wait([task], timeout=0.5)

    async def stop(self) -> None:
        await self.coordinator.stop(timeout=5.0)
        await self.crash()


async def partitioned_stream(core: Core, js: Any) -> str:
    name = core.subjects.stream(SERVICE)
    spec = StreamSpec(
        name=name,
        subjects=[core.subjects.all_of(SERVICE)],
        subject_transform=core.subjects.partition_transform(SERVICE, PARTITIONS),
    )
    await ensure_stream(js, spec)
    return name


async def create_views(core: Core) -> None:
    async with core.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)


async def rows(core: Core, table: Table) -> list[Any]:
    async with core.sessions() as session:
        return list((await session.execute(select(table))).all())


async def test_the_stream_knows_its_partitions_and_every_aggregate_stays_in_one(core: Core, js: Any) -> None:
    stream = await partitioned_stream(core, js)
    assert await stream_partitions(js, stream) == PARTITIONS
    for i in range(12):
        await core.append(f"c-{i % 6}", i)
    await drain(OutboxRelay(sessions=core.sessions, stream=stream, jetstream=lambda: js))
    info = await js.stream_info(stream, subjects_filter=">")
    partition_of: dict[str, set[str]] = {}
    for subject in info.state.subjects:
        *_, aggregate, partition = subject.split(".")
        partition_of.setdefault(aggregate, set()).add(partition)
    assert len(partition_of) == 6 and all(len(p) == 1 for p in partition_of.values())
    assert len({p for ps in partition_of.values() for p in ps}) > 1  # spread over partitions


async def test_two_instances_split_the_partitions_and_keep_each_aggregate_in_order_through_a_crash(
    core: Core, js: Any
) -> None:
    stream = await partitioned_stream(core, js)
    await create_views(core)
    relay = OutboxRelay(sessions=core.sessions, stream=stream, jetstream=lambda: js)
    first, second = Instance(core, js, "first"), Instance(core, js, "second")
    first.start()
    second.start()
    counters, rounds = 24, 12
    try:
        for version in range(1, rounds + 1):
            for c in range(counters):
                await core.append(f"c-{c}", version)
            await drain(relay)
            if version == rounds // 2:
                await eventually(lambda: _both_hold(first, second), timeout=15)
                await first.crash()  # its partitions come back to the second after the lease expires
            await asyncio.sleep(0.05)

        async def all_applied() -> bool:
            done = await rows(core, applied)
            return len(done) == counters and all(r.version == rounds for r in done)

        await eventually(all_applied, timeout=40)
        assert len(second.coordinator.held) == PARTITIONS  # it took the dead one's share over
    finally:
        await first.crash()
        await second.stop()
    assert await rows(core, out_of_order) == []
    assert {r.applications for r in await rows(core, applied)} == {rounds}  # each event once
    work = {r.instance: r.applications for r in await rows(core, by_instance)}
    assert work.get("first", 0) > 0 and work.get("second", 0) > 0, work
    assert sum(work.values()) == counters * rounds


async def _both_hold(first: Instance, second: Instance) -> bool:
    return bool(first.coordinator.held) and bool(second.coordinator.held)


async def test_an_instance_whose_lease_was_taken_over_cannot_commit_and_hands_its_batch_back(
    core: Core, js: Any
) -> None:
    stream = await partitioned_stream(core, js)
    await create_views(core)
    leases = Leases(core.sessions, holder="zombie", ttl=30)
    runner = Instance(core, js, "zombie").runners[0]
    runner.leases = leases
    assert await leases.acquire(runner.lease_name)
    async with core.sessions() as session, session.begin():  # someone else took it over
        await session.execute(
            update(consumer_leases)
            .where(consumer_leases.c.name == runner.lease_name)
            .values(holder="successor")
        )
    with contextlib.suppress(LeaseLost):
        async with core.sessions() as session, session.begin():
            await leases.renew(session, runner.lease_name)
            raise AssertionError("renewing a lease held by another must fail")
    for i in range(40):
        await core.append(f"c-{i}", i)
    await drain(OutboxRelay(sessions=core.sessions, stream=stream, jetstream=lambda: js))
    task = asyncio.create_task(runner.run())
    await asyncio.wait_for(task, timeout=10)  # returns on its own: the lease is not its
    async with core.sessions() as session:
        assert (await session.execute(select(func.count()).select_from(applied))).scalar_one() == 0
    # handed back at once (naked), not left to time out (ack wait 2 s): a successor gets them now
    spec = runner.spec()
    successor = await js.pull_subscribe_bind(spec.durable, spec.stream)
    in_flight = (await js.consumer_info(stream, spec.durable)).num_ack_pending
    returned: list[Any] = []
    # the naks may still be on their way when the runner returns (CI once got 2 of 11 in
    # the first fetch): collect for well under the ack wait, which is what "at once" means
    until = asyncio.get_running_loop().time() + 1.5
    while len(returned) < in_flight and asyncio.get_running_loop().time() < until:
        with contextlib.suppress(TimeoutError, NatsTimeoutError):
            returned += await successor.fetch(100, timeout=0.5)
    assert len(returned) == in_flight > 0


async def test_a_slow_hand_back_does_not_let_the_instance_heartbeat_lapse(core: Core) -> None:
    """Handing partitions back waits for their runners' batches; meanwhile the instance must
    stay counted as live, or the others would take every partition it still holds."""
    ttl = 0.9

    def slot(name: str) -> Slot:
        asked = asyncio.Event()

        async def work() -> None:  # a long batch: returns a while after it is asked to stop
            await asked.wait()
            await asyncio.sleep(3 * ttl)

        return Slot(lease=name, start=lambda _took_over: asyncio.create_task(work()), stop=asked.set)

    first = PartitionCoordinator(Leases(core.sessions, holder="first", ttl=ttl), service=SERVICE)
    for i in range(4):
        first.add(slot(f"consumer/slow/{i}"))
    first_task = asyncio.create_task(first.run())
    await eventually(lambda: _holds(first, 4))

    second_leases = Leases(core.sessions, holder="second", ttl=ttl)
    second = PartitionCoordinator(second_leases, service=SERVICE)
    for i in range(4):
        second.add(slot(f"consumer/slow/{i}"))
    second_task = asyncio.create_task(second.run())
    try:
        await eventually(lambda: _live(second_leases, 2))
        # first hands two back, which takes about 3 ttl; meanwhile it stays live and keeps
        # the other two, so second takes only what was handed back
        kept = set(sorted(first.held)[:2])
        deadline = asyncio.get_running_loop().time() + 5 * ttl
        while asyncio.get_running_loop().time() < deadline:
            assert await _live(second_leases, 2)
            assert not second.held & kept, (second.held, kept)
            await asyncio.sleep(ttl / 6)
        assert first.held == kept and len(second.held) == 2
    finally:
        for coordinator, task in ((first, first_task), (second, second_task)):
            await coordinator.stop(timeout=5 * ttl)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def _holds(coordinator: PartitionCoordinator, count: int) -> bool:
    return len(coordinator.held) == count


async def _live(leases: Leases, count: int) -> bool:
    return await leases.live(f"instance/{SERVICE}/") == count


class _FlakyRelease(Leases):
    """Leases whose first ``failures`` releases fail, as on a connection broken by a
    runner cancelled mid-query."""

    def __init__(self, *args: Any, failures: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.failures = failures

    async def release(self, name: str) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionResetError("connection was closed in the middle of operation")
        await super().release(name)


async def test_a_hand_back_that_fails_once_is_retried_so_the_partition_is_free_at_once(core: Core) -> None:
    leases = _FlakyRelease(core.sessions, holder="flaky", ttl=30.0, failures=1)
    coordinator = PartitionCoordinator(leases, service=SERVICE)
    coordinator.add(
        Slot(
            lease="consumer/flaky/0", start=lambda _: asyncio.create_task(asyncio.sleep(0)), stop=lambda: None
        )
    )
    task = asyncio.create_task(coordinator.run())
    await eventually(lambda: _holds(coordinator, 1))
    await coordinator.stop(timeout=2.0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    async with core.sessions() as session:
        left = (
            (await session.execute(select(consumer_leases.c.name).where(consumer_leases.c.holder == "flaky")))
            .scalars()
            .all()
        )
    assert left == []  # not held until the lease's 30 s expire


async def test_a_hand_back_that_keeps_failing_is_logged_and_does_not_stop_the_shutdown(core: Core) -> None:
    leases = _FlakyRelease(core.sessions, holder="broken", ttl=30.0, failures=100)
    coordinator = PartitionCoordinator(leases, service=SERVICE)
    coordinator.add(
        Slot(
            lease="consumer/broken/0",
            start=lambda _: asyncio.create_task(asyncio.sleep(0)),
            stop=lambda: None,
        )
    )
    task = asyncio.create_task(coordinator.run())
    await eventually(lambda: _holds(coordinator, 1))
    with structlog.testing.capture_logs() as logs:
        await coordinator.stop(timeout=2.0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    failed = [entry for entry in logs if entry["event"] == "leases.release_failed"]
    assert {entry["lease"] for entry in failed} == {"consumer/broken/0", coordinator.heartbeat_lease}
    assert all(entry["log_level"] == "error" for entry in failed)
