"""Rebuilds without downtime, on the core's counter domain: shadow, resume, swap, hand-over.

``CounterTotals`` counts how often any event was applied to a counter (``applications``),
so an event applied twice, or lost, shows up in the totals.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from trellis.contracts.envelope import EventEnvelope
from trellis.core.consuming.consumer import ConsumerRunner
from trellis.core.consuming.projection import Reaction, on, rebuild_commits_after, rebuild_memory
from trellis.core.messaging.jetstream import connect
from trellis.core.messaging.outbox import OutboxRelay
from trellis.core.rebuild.event_sources import StoreSource, StreamSource
from trellis.core.rebuild.rebuilder import NotRebuildable, Rebuild
from trellis.core.store.database import create_engine
from trellis.core.store.tables import (
    dead_letters,
    processed_events,
    projection_rebuilds,
    projection_watermarks,
)
from trellis.testing import eventually

from .conftest import SERVICE, Core, Counted, CounterTotals, registry, totals
from .test_consumer_runner import FAST_RETRY, stop
from .test_outbox_relay import provision


class Running:
    """The counting service's relay and one live consumer, running until stopped."""

    def __init__(self, core: Core, js: Any, projection: CounterTotals) -> None:
        self.core, self.js, self.projection = core, js, projection
        self.tasks: list[asyncio.Task[Any]] = []
        self.appended: dict[str, list[int]] = {}

    async def start(self) -> Running:
        stream = await provision(self.js, self.core)
        relay = OutboxRelay(sessions=self.core.sessions, stream=stream, jetstream=lambda: self.js)
        self.core.store.on_commit(relay.wake)
        runner = ConsumerRunner(
            projection=self.projection,
            sessions=self.core.sessions,
            registry=registry,
            jetstream=lambda: self.js,
            subjects=self.core.subjects,
            retry=FAST_RETRY,
            fetch_timeout=0.2,
            ack_wait=5.0,
            batch_size=20,
        )
        self.tasks = [asyncio.create_task(relay.run()), asyncio.create_task(runner.run())]
        return self

    async def append(self, counter: str, amount: int) -> None:
        await self.core.append(counter, amount)
        self.appended.setdefault(counter, []).append(amount)

    def expected(self) -> dict[str, tuple[int, int]]:
        return {c: (sum(a), len(a)) for c, a in self.appended.items()}

    async def settled(self) -> None:
        await eventually(lambda: _equals(self.core.totals(), self.expected()), timeout=30)

    async def stop(self) -> None:
        for task in self.tasks:
            await stop(task)


@pytest.fixture
async def running(core: Core, js: Any) -> AsyncIterator[Running]:
    service = await Running(core, js, CounterTotals()).start()
    try:
        yield service
    finally:
        await service.stop()


def rebuild_of(core: Core, *, batch_size: int = 7, **kw: Any) -> Rebuild:
    projection = CounterTotals()
    source = StoreSource(core.store, projection.event_types())
    return Rebuild(
        projection, engine=core.engine, source=source, subjects=core.subjects, batch_size=batch_size, **kw
    )


async def test_a_rebuilt_view_is_swapped_in_and_later_events_are_applied_once(running: Running) -> None:
    core = running.core
    for i in range(60):
        await running.append(f"c-{i % 5}", i)
    await running.settled()
    # the live view is wrong (a bug fixed since, say): the rebuild puts it right
    async with core.sessions() as session, session.begin():
        await session.execute(update(totals).where(totals.c.counter_id == "c-1").values(total=-1))
    result = await rebuild_of(core).run()
    assert result.swapped and result.applied == 60 and result.watermark == await core.store.head()
    assert await core.totals() == running.expected()
    for i in range(20):  # the live consumer goes on above the watermark, exactly once
        await running.append(f"c-{i % 7}", 100 + i)
    await running.settled()
    async with core.sessions() as session:
        mark = (await session.execute(select(projection_watermarks))).one()
        records = (await session.execute(select(processed_events.c.event_id))).all()
        assert (await session.execute(select(projection_rebuilds))).first() is None
    assert (mark.consumer, mark.kind, mark.position) == ("counter-totals", "global_position", 60)
    assert len(records) == 20  # only events above the watermark have records; those below were dropped


async def test_a_rebuild_interrupted_half_way_resumes_and_equals_the_live_view(running: Running) -> None:
    core = running.core
    for i in range(80):
        await running.append(f"c-{i % 6}", i)
    await running.settled()

    class Interrupted(Exception):
        pass

    def interrupt_half_way(position: int, head: int, applied: int) -> None:
        if applied >= 40:
            raise Interrupted

    with pytest.raises(Interrupted):  # at 45, in the third transaction of two batches of nine
        await rebuild_of(core, batch_size=9, commit_every=18).run(progress=interrupt_half_way)
    state = await rebuild_of(core).state()
    assert state is not None and state.applied == 36  # as committed, noted for `trellis status`
    for i in range(10):  # traffic goes on while the rebuild is stopped
        await running.append("late", i)
    result = await rebuild_of(core, batch_size=9).run()
    assert result.resumed_from == state.position and result.swapped
    assert result.applied == 90
    await running.settled()
    assert await core.totals() == running.expected()


class HeldBackTotals(CounterTotals):
    """Holds a rebuild's sums in its memory and writes them once a transaction, as the
    alignment tree does with its rows (``rebuild_commits_after``)."""

    async def handle_batch(self, session: AsyncSession, batch: list[Any]) -> None:
        memory = rebuild_memory(session)
        if memory is None:
            return await super().handle_batch(session, batch)
        pending: dict[str, tuple[int, int]] = memory.setdefault("pending", {})
        for recorded in batch:
            total, count = pending.get(recorded.aggregate_id, (0, 0))
            pending[recorded.aggregate_id] = (total + recorded.event.amount, count + 1)
        if rebuild_commits_after(session):
            for counter, (total, count) in pending.items():
                c = totals.c
                found = await session.execute(
                    update(totals)
                    .where(c.counter_id == counter)
                    .values(total=c.total + total, applications=c.applications + count)
                )
                if not cast("CursorResult[Any]", found).rowcount:
                    await session.execute(
                        insert(totals).values(counter_id=counter, total=total, applications=count)
                    )
            pending.clear()


async def test_writes_held_back_to_a_transactions_end_are_written_when_its_last_batch_is_empty(
    running: Running,
) -> None:
    """21 events in batches of 7, two batches a transaction: the second transaction's last
    batch reads nothing (the one before it was full), and still writes what its first held
    back; interrupted after the first transaction, the rebuild resumes and equals the live view."""
    core = running.core
    for i in range(21):
        await running.append(f"c-{i % 4}", i)
    await running.settled()

    def rebuild_held_back() -> Rebuild:
        projection = HeldBackTotals()
        return Rebuild(
            projection,
            engine=core.engine,
            source=StoreSource(core.store, projection.event_types()),
            subjects=core.subjects,
            batch_size=7,
            commit_every=14,
        )

    class Interrupted(Exception):
        pass

    def interrupt(position: int, head: int, applied: int) -> None:
        if applied > 14:  # in the second transaction, before it commits
            raise Interrupted

    with pytest.raises(Interrupted):
        await rebuild_held_back().run(progress=interrupt)
    state = await rebuild_held_back().state()
    assert state is not None and state.applied == 14  # the first transaction, as committed
    result = await rebuild_held_back().run()
    assert result.swapped and result.applied == 21
    assert await core.totals() == running.expected()


async def test_a_rebuild_during_live_traffic_loses_no_event_and_applies_none_twice(running: Running) -> None:
    core = running.core
    for i in range(150):
        await running.append(f"c-{i % 8}", i)
    done = asyncio.Event()
    before_swap = after_swap = 0

    async def writer(name: str) -> None:
        nonlocal before_swap, after_swap
        i = 0
        while not done.is_set():
            await running.append(f"{name}-{i % 3}", i)
            if result is None:
                before_swap += 1
            else:
                after_swap += 1
            i += 1
            await asyncio.sleep(0.002)

    result = None
    writers = [asyncio.create_task(writer(f"w{n}")) for n in range(3)]
    try:
        result = await rebuild_of(core, batch_size=5).run()
        await asyncio.sleep(0.3)  # traffic goes on after the swap
    finally:
        done.set()
        await asyncio.gather(*writers)
    assert result.swapped and before_swap > 0 and after_swap > 0
    await running.settled()  # every counter's sum and number of applications is exact
    assert await core.totals() == running.expected()


async def test_a_view_of_another_services_stream_is_rebuilt_from_the_stream(
    running: Running, nats_url: str
) -> None:
    """A stream sequence watermark: what the rebuild read from the stream, the consumer skips."""
    core = running.core
    for i in range(40):
        await running.append(f"c-{i % 4}", i)
    await running.settled()

    async def rebuild_from_stream() -> Any:
        # As the operators' tool does, from a process (here a thread) of its own: on SQLite the
        # hand-over reads the stream while it holds the file's write lock.
        engine = create_engine(core.db.url, schema=core.db.schema)
        nc = await connect(nats_url, name="rebuild-from-stream")
        projection = CounterTotals()
        filters = [core.subjects.matching(SERVICE, event_type=t) for t in projection.event_types()]
        stream = core.subjects.stream(SERVICE)
        source = StreamSource(nc.jetstream(), stream=stream, filter_subjects=filters, registry=registry)
        try:
            return await Rebuild(
                projection, engine=engine, source=source, subjects=core.subjects, batch_size=6
            ).run()
        finally:
            await source.close()
            await nc.close()
            await engine.dispose()

    result = await asyncio.to_thread(asyncio.run, rebuild_from_stream())
    assert result.swapped and result.kind == "stream_sequence" and result.watermark == 40
    assert await core.totals() == running.expected()
    for i in range(10):
        await running.append(f"c-{i % 4}", 1000 + i)
    await running.settled()


async def test_a_dry_run_reports_how_the_rebuilt_view_differs_and_keeps_the_live_one(
    running: Running,
) -> None:
    core = running.core
    for i in range(30):
        await running.append(f"c-{i % 3}", i)
    await running.settled()
    async with core.sessions() as session, session.begin():
        await session.execute(update(totals).where(totals.c.counter_id == "c-1").values(total=-1))
        await session.execute(insert(totals).values(counter_id="ghost", total=1, applications=1))
    result = await rebuild_of(core).run(dry_run=True)
    assert not result.swapped
    (diff,) = result.differences or []
    assert (diff.live_rows, diff.rebuilt_rows) == (4, 3)
    assert (diff.only_live, diff.only_rebuilt, diff.changed) == (1, 0, 1)
    assert diff.samples["only_live"] == [{"counter_id": "ghost"}]
    assert diff.samples["changed"] == [{"counter_id": "c-1"}]
    assert (await core.totals())["ghost"] == (1, 1)  # the live view is untouched
    state = await rebuild_of(core).state()
    assert state is not None and state.applied == 30  # kept: a real rebuild resumes from it
    result = await rebuild_of(core).run()
    assert result.resumed_from is not None and result.applied == 30
    assert await core.totals() == running.expected()


class BrokenFor(CounterTotals):
    def __init__(self, broken: set[str]) -> None:
        super().__init__()
        self.fail_for = broken


async def test_an_event_failing_in_a_rebuild_becomes_a_dead_letter_and_parks_its_aggregate(
    running: Running,
) -> None:
    core = running.core
    for i in range(12):
        await running.append(f"c-{i % 3}", i)
    await running.settled()
    projection = BrokenFor({"c-2"})
    rebuild = Rebuild(
        projection,
        engine=core.engine,
        source=StoreSource(core.store, projection.event_types()),
        subjects=core.subjects,
        batch_size=5,
    )
    result = await rebuild.run()
    assert result.swapped and result.dead_lettered == 4
    async with core.sessions() as session:
        letters = (await session.execute(select(dead_letters).order_by(dead_letters.c.id))).all()
    assert [(d.consumer, d.aggregate_id) for d in letters] == [("counter-totals", "c-2")] * 4
    assert "cannot count c-2" in letters[0].reason and "parked behind" in letters[1].reason
    assert "c-2" not in await core.totals()
    await running.append("c-2", 5)  # the live consumer parks it behind them too
    await eventually(lambda: _count_dead(core, 5))


async def test_a_projection_with_side_effects_is_never_rebuilt(core: Core) -> None:
    class Announce(Reaction):  # acts on each count: running it again would act again
        name = "counter-announcements"
        source = SERVICE

        @on(Counted)
        async def counted(self, session: AsyncSession, ev: Counted, env: EventEnvelope) -> None:
            raise AssertionError("a rebuild must not run a reaction")

    projection = Announce()
    rebuild = Rebuild(
        projection,
        engine=core.engine,
        source=StoreSource(core.store, projection.event_types()),
        subjects=core.subjects,
    )
    with pytest.raises(NotRebuildable, match="reaction, not rebuildable: it has side effects"):
        await rebuild.run()


async def _equals(value: Any, expected: Any) -> bool:
    return await value == expected


async def _count_dead(core: Core, n: int) -> bool:
    async with core.sessions() as session:
        rows = (await session.execute(select(dead_letters.c.id))).all()
    return len(rows) == n
