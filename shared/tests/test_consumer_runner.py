"""Consumer runner conformance: exactly-once effects, dead letters, ordering, rebuilds."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from trellis.core.consuming.consumer import ConsumerRunner, RetryPolicy
from trellis.core.messaging.outbox import OutboxRelay
from trellis.core.rebuild.rebuilder import rebuild
from trellis.core.store.tables import dead_letters
from trellis.testing import eventually

from .conftest import Core, CounterTotals, registry, totals
from .test_outbox_relay import drain, provision

FAST_RETRY = RetryPolicy(max_attempts=3, delays=(0.05,))


def runner_for(core: Core, js: Any, projection: CounterTotals, cls: type = ConsumerRunner, **kw: Any) -> Any:
    kw.setdefault("retry", FAST_RETRY)
    return cls(
        projection=projection,
        sessions=core.sessions,
        registry=registry,
        jetstream=lambda: js,
        subjects=core.subjects,
        fetch_timeout=0.2,
        ack_wait=2.0,
        **kw,
    )


async def publish(core: Core, js: Any, events: list[tuple[str, int]]) -> None:
    stream = await provision(js, core)
    for counter, amount in events:
        await core.append(counter, amount)
    await drain(OutboxRelay(sessions=core.sessions, stream=stream, jetstream=lambda: js))


async def stop(task: asyncio.Task[Any]) -> None:
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=0.5)


async def dead(core: Core) -> list[Any]:
    async with core.sessions() as session:
        return list((await session.execute(select(dead_letters).order_by(dead_letters.c.id))).all())


EVENTS = [(f"c-{i % 4}", i) for i in range(40)]
EXPECTED = {f"c-{k}": (sum(i for i in range(40) if i % 4 == k), 10) for k in range(4)}


def totals_of(events: list[tuple[str, int]]) -> dict[str, tuple[int, int]]:
    """What ``CounterTotals`` holds once ``events`` are applied, each once."""
    out: dict[str, tuple[int, int]] = {}
    for counter, amount in events:
        total, applications = out.get(counter, (0, 0))
        out[counter] = (total + amount, applications + 1)
    return out


async def test_every_event_is_applied_exactly_once(core: Core, js: Any) -> None:
    await publish(core, js, EVENTS)
    task = asyncio.create_task(runner_for(core, js, CounterTotals(), batch_size=7).run())
    try:
        await eventually(lambda: _equals(core.totals(), EXPECTED))
    finally:
        await stop(task)


class Blocking(CounterTotals):
    """Hangs in the middle of a batch, as a process does when it is killed: after applying
    ``after`` events of the first batch that has more. A batch is what has arrived (up to
    its size), so earlier, smaller batches may have committed; ``committed`` counts them."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.after = after
        self.committed = 0  # events of the batches before the one being applied
        self.stuck = asyncio.Event()

    async def handle_batch(self, session: Any, batch: list[Any]) -> None:
        self.committed = self.calls
        await super().handle_batch(session, batch)

    async def handle(self, session: Any, recorded: Any) -> None:
        if self.calls - self.committed == self.after:
            self.stuck.set()
            await asyncio.Event().wait()
        await super().handle(session, recorded)


async def test_a_projection_killed_mid_batch_and_restarted_applies_every_event_once(
    core: Core, js: Any
) -> None:
    await publish(core, js, EVENTS)
    blocking = Blocking(after=3)
    task = asyncio.create_task(runner_for(core, js, blocking, batch_size=25).run())
    await asyncio.wait_for(blocking.stuck.wait(), 10)
    await stop(task)  # killed mid-batch: the batch's transaction never commits
    # only the batches before it are there: none of the three events it had applied
    assert await core.totals() == totals_of(EVENTS[: blocking.committed])
    task = asyncio.create_task(runner_for(core, js, CounterTotals(), batch_size=25).run())
    try:
        await eventually(lambda: _equals(core.totals(), EXPECTED), timeout=15)
    finally:
        await stop(task)


class DiesBeforeAcking(ConsumerRunner):
    crashed = 0

    async def _answer(self, msgs: list[Any], outcomes: list[Any]) -> None:
        if DiesBeforeAcking.crashed == 0:
            DiesBeforeAcking.crashed += 1
            raise RuntimeError("killed after the commit, before the acks")
        await super()._answer(msgs, outcomes)


async def test_a_redelivered_event_is_applied_once(core: Core, js: Any) -> None:
    await publish(core, js, EVENTS)
    projection = CounterTotals()
    DiesBeforeAcking.crashed = 0
    task = asyncio.create_task(runner_for(core, js, projection, DiesBeforeAcking, batch_size=50).run())
    try:
        await eventually(lambda: _equals(core.totals(), EXPECTED), timeout=15)
        # the redelivered batch came back after ack_wait and was skipped, not re-applied
        await eventually(lambda: _true(projection.calls == 40 and DiesBeforeAcking.crashed == 1))
        await asyncio.sleep(2.5)  # past another ack_wait: nothing more arrives
        assert await core.totals() == EXPECTED
    finally:
        await stop(task)


class DatabaseDown(ConsumerRunner):
    """Every batch fails as if the database connection were gone, until each of its
    messages has been delivered more than ``down_until`` times."""

    down_until = 0
    failures = 0
    most_deliveries = 0

    async def _apply(self, msgs: list[Any]) -> list[Any]:
        delivered = [m.metadata.num_delivered for m in msgs]
        DatabaseDown.most_deliveries = max(DatabaseDown.most_deliveries, *delivered)
        if min(delivered) <= DatabaseDown.down_until:
            DatabaseDown.failures += 1
            raise OperationalError("BEGIN", {}, ConnectionRefusedError("database unreachable"))
        return await super()._apply(msgs)


async def test_a_database_outage_loses_nothing_and_dead_letters_nothing(core: Core, js: Any) -> None:
    """Redeliveries caused by the outage outnumber any retry limit; none of them counts.

    The outage lasts until every event has been delivered more often than the old
    MaxDeliver (attempts + 3): were the server still capping deliveries, it would drop
    them and the totals would never be reached. (An outage counted in failed batches
    spread its redeliveries over however the server split the batches.)"""
    await publish(core, js, EVENTS)
    DatabaseDown.down_until = FAST_RETRY.max_attempts + 3
    DatabaseDown.failures = DatabaseDown.most_deliveries = 0
    runner = runner_for(core, js, CounterTotals(), DatabaseDown, batch_size=40)
    task = asyncio.create_task(runner.run())
    try:
        await eventually(lambda: _equals(core.totals(), EXPECTED), timeout=20)
    finally:
        await stop(task)
    assert DatabaseDown.failures >= DatabaseDown.down_until
    assert await dead(core) == []
    assert DatabaseDown.most_deliveries > FAST_RETRY.max_attempts + 3
    info = await js.consumer_info(core.subjects.stream("counting"), "counter-totals")
    assert info.num_ack_pending == 0 and info.num_pending == 0


async def test_a_poison_message_is_dead_lettered_and_the_consumer_keeps_going(core: Core, js: Any) -> None:
    await provision(js, core)
    subject = f"{core.subjects.root}.counting.counter.Counted.acme.junk"
    await js.publish(subject, b"\x00 not json", headers={"Nats-Msg-Id": "junk-1"})
    await js.publish(subject, b'{"event_type": "Counted"}')
    await publish(core, js, EVENTS)
    task = asyncio.create_task(runner_for(core, js, CounterTotals()).run())
    try:
        await eventually(lambda: _equals(core.totals(), EXPECTED))
        letters = await eventually(lambda: _at_least(dead(core), 2))
    finally:
        await stop(task)
    assert letters[0].raw == b"\x00 not json"
    assert letters[0].event_id == "junk-1"
    assert "not a Trellis event envelope" in letters[0].reason
    assert letters[0].consumer == "counter-totals" and letters[0].stream_sequence == 1
    assert "validation error" in letters[1].reason


async def test_a_failing_event_is_retried_then_dead_lettered_and_its_aggregate_parks_behind_it(
    core: Core, js: Any
) -> None:
    projection = CounterTotals()
    projection.fail_for = {"bad"}
    await publish(core, js, [("bad", 1), ("good", 1), ("bad", 2), ("good", 2)])
    task = asyncio.create_task(runner_for(core, js, projection).run())
    try:
        await eventually(lambda: _equals(core.totals(), {"good": (3, 2)}))
        letters = await eventually(lambda: _at_least(dead(core), 2))
    finally:
        await stop(task)
    first, second = letters
    assert first.aggregate_id == "bad" and first.deliveries == FAST_RETRY.max_attempts
    assert "RuntimeError: cannot count bad" in first.reason
    assert second.aggregate_id == "bad" and "parked behind" in second.reason
    assert first.event_id in second.reason


class Flaky(CounterTotals):
    """Fails the first ``failures`` attempts at one event; notes any event applied out of order."""

    def __init__(self, event_id: str, failures: int) -> None:
        super().__init__()
        self.flaky, self.failures = event_id, failures
        self.out_of_order: list[tuple[str, int]] = []

    async def handle(self, session: Any, recorded: Any) -> None:
        env = recorded.envelope
        if str(env.event_id) == self.flaky and self.failures > 0:
            self.failures -= 1
            raise RuntimeError("transient failure")
        row = (
            await session.execute(
                select(totals.c.applications).where(totals.c.counter_id == env.aggregate_id)
            )
        ).first()
        if env.aggregate_version != (row[0] if row else 0) + 1:
            self.out_of_order.append((env.aggregate_id, env.aggregate_version))
        await super().handle(session, recorded)


async def test_an_event_being_retried_holds_back_the_later_events_of_its_aggregate(
    core: Core, js: Any
) -> None:
    await publish(core, js, [(c, i) for i in range(1, 11) for c in ("a", "b")])
    stored = await core.store.read_after(0)
    second_of_a = next(e for e in stored if e.aggregate_id == "a" and e.aggregate_version == 2)
    projection = Flaky(str(second_of_a.event_id), failures=3)
    # One event a batch: the later events of "a" arrive in later batches than the failing one,
    # are naked while it is retried (each on its own timer, the failing one on a longer one),
    # and come back in whatever order JetStream redelivers them.
    slow_retry = RetryPolicy(max_attempts=6, delays=(0.05, 0.3, 0.6))
    task = asyncio.create_task(runner_for(core, js, projection, batch_size=1, retry=slow_retry).run())
    try:
        await eventually(lambda: _equals(core.totals(), {"a": (55, 10), "b": (55, 10)}), timeout=30)
    finally:
        await stop(task)
    assert projection.out_of_order == []
    assert projection.failures == 0 and await dead(core) == []


async def test_a_view_dropped_and_rebuilt_from_the_events_equals_the_original(core: Core, js: Any) -> None:
    await publish(core, js, EVENTS)
    projection = CounterTotals()
    task = asyncio.create_task(runner_for(core, js, projection).run())
    try:
        await eventually(lambda: _equals(core.totals(), EXPECTED))
    finally:
        await stop(task)
    before = await core.totals()
    progress: list[tuple[int, int]] = []
    applied = await rebuild(
        projection, core.store, batch_size=16, progress=lambda p, h: progress.append((p, h))
    )
    assert applied == 40
    assert await core.totals() == before
    assert progress[-1][0] == progress[-1][1]


async def _equals(value: Any, expected: Any) -> bool:
    return await value == expected


async def _true(value: bool) -> bool:
    return value


async def _at_least(rows: Any, n: int) -> Any:
    found = await rows
    return found if len(found) >= n else None
