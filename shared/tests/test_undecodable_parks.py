"""An event whose payload cannot be decoded is dead-lettered with its envelope's fields and
parks its aggregate, live and in a rebuild: the aggregate's later events wait behind it
instead of being applied out of line."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import insert, select

from trellis.contracts.envelope import EventEnvelope, utcnow
from trellis.core.consuming.consumer import RetryPolicy
from trellis.core.consuming.undecodable import Undecodable
from trellis.core.messaging.outbox import OutboxRelay
from trellis.core.rebuild.event_sources import StoreSource
from trellis.core.rebuild.rebuilder import Rebuild
from trellis.core.store.tables import dead_letters, outbox
from trellis.core.store.tables import events as events_table
from trellis.testing import eventually

from .conftest import SERVICE, Core, CounterTotals
from .test_consumer_runner import Flaky, dead, runner_for, stop
from .test_outbox_relay import drain, provision


async def poison(core: Core, counter: str) -> str:
    """A ``Counted`` with a null amount, written as code that did not check would have
    (event row and outbox row); its event id."""
    async with core.sessions() as session, session.begin():
        version = await core.store.current_version(session, counter)
        envelope = EventEnvelope(
            event_type="Counted",
            schema_version=2,
            tenant_id="acme",
            aggregate_type="counter",
            aggregate_id=counter,
            aggregate_version=version + 1,
            actor_id="tester",
            correlation_id="poison",
            payload={"amount": None},
        )
        row = envelope.model_dump(exclude={"global_position"})
        row["event_id"] = str(envelope.event_id)
        await session.execute(insert(events_table).values(**row, recorded_at=utcnow()))
        await session.execute(
            insert(outbox).values(
                event_id=str(envelope.event_id),
                subject=core.subjects.for_event(SERVICE, envelope),
                body=envelope.model_dump_json().encode(),
                created_at=utcnow(),
            )
        )
    return str(envelope.event_id)


async def history(core: Core) -> dict[tuple[str, int], str]:
    """Event id by (counter, version)."""
    return {(e.aggregate_id, e.aggregate_version): str(e.event_id) for e in await core.store.read_after(0)}


async def publish_all(core: Core, js: Any) -> None:
    stream = await provision(js, core)
    await drain(OutboxRelay(sessions=core.sessions, stream=stream, jetstream=lambda: js))


async def test_an_undecodable_event_is_dead_lettered_with_its_envelope_and_parks_its_aggregate(
    core: Core, js: Any
) -> None:
    await core.append("a", 1)
    await core.append("b", 10)
    bad = await poison(core, "a")
    await core.append("a", 3)
    await core.append("b", 20)
    await publish_all(core, js)
    task = asyncio.create_task(runner_for(core, js, CounterTotals()).run())
    try:
        await eventually(lambda: _equals(core.totals(), {"a": (1, 1), "b": (30, 2)}))
        letters = await eventually(lambda: _count(dead(core), 2))
        await asyncio.sleep(0.3)
        assert await core.totals() == {"a": (1, 1), "b": (30, 2)}  # a's third event was not applied
    finally:
        await stop(task)
    ids = await history(core)
    first, parked = letters
    assert (first.event_id, first.event_type, first.tenant_id, first.aggregate_id) == (
        bad,
        "Counted",
        "acme",
        "a",
    )
    assert "Counted payload invalid" in first.reason and first.stream_sequence == 3
    assert (parked.event_id, parked.aggregate_id) == (ids[("a", 3)], "a")
    assert f"parked behind dead-lettered event {bad}" in parked.reason


async def test_an_undecodable_event_waits_in_line_behind_an_event_being_retried(core: Core, js: Any) -> None:
    await core.append("a", 1)
    bad = await poison(core, "a")
    await core.append("a", 3)
    await publish_all(core, js)
    first = (await history(core))[("a", 1)]
    projection = Flaky(first, failures=2)
    retry = RetryPolicy(max_attempts=5, delays=(0.05, 0.3))
    task = asyncio.create_task(runner_for(core, js, projection, batch_size=1, retry=retry).run())
    try:
        letters = await eventually(lambda: _count(dead(core), 2), timeout=20)
    finally:
        await stop(task)
    # the retried event went first; the undecodable one was dead-lettered after it, in its place
    assert await core.totals() == {"a": (1, 1)} and projection.failures == 0
    assert [(d.event_id, d.aggregate_id) for d in letters] == [
        (bad, "a"),
        ((await history(core))[("a", 3)], "a"),
    ]
    assert "payload invalid" in letters[0].reason and "parked behind" in letters[1].reason


@pytest.mark.parametrize("broken", [set(), {"b"}], ids=["batch applies", "batch falls back"])
async def test_a_rebuild_parks_an_aggregate_behind_its_undecodable_event(
    core: Core, broken: set[str]
) -> None:
    await core.append("a", 1)
    await core.append("b", 10)
    bad = await poison(core, "a")
    await core.append("a", 3)
    await core.append("c", 100)
    projection = CounterTotals()
    projection.fail_for = broken  # a handler failing makes the batch go one event at a time
    result = await Rebuild(
        projection,
        engine=core.engine,
        source=StoreSource(core.store, projection.event_types()),
        subjects=core.subjects,
        batch_size=50,
    ).run()
    assert result.swapped
    # a's first event came before the undecodable one: applied, whichever way the batch went
    assert await core.totals() == {"a": (1, 1), "c": (100, 1), **({} if broken else {"b": (10, 1)})}
    async with core.sessions() as session:
        letters = (await session.execute(select(dead_letters).order_by(dead_letters.c.id))).all()
    ids = await history(core)
    expected = [(ids[("b", 1)], "b")] if broken else []
    expected += [(bad, "a"), (ids[("a", 3)], "a")]
    assert [(d.event_id, d.aggregate_id) for d in letters] == expected
    assert (
        "payload invalid" in letters[-2].reason
        and f"parked behind dead-lettered event {bad}" in letters[-1].reason
    )
    assert letters[-2].event_type == "Counted" and letters[-2].tenant_id == "acme"


async def _equals(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


async def _count(rows: Any, n: int) -> Any:
    found = await rows
    return found if len(found) >= n else None


def test_the_envelope_of_an_undecodable_message_is_read_leniently() -> None:
    broken = b'{"event_id": "e-1", "event_type": "Counted", "tenant_id": "acme", "aggregate_id": "a",'
    broken += b' "aggregate_type": 7, "aggregate_version": "2", "global_position": 9, "payload": []}'
    found = Undecodable.read(broken, "why", message_id="from-header")
    assert (found.event_id, found.event_type, found.tenant_id, found.aggregate_id) == (
        "e-1",
        "Counted",
        "acme",
        "a",
    )
    assert (found.aggregate_type, found.aggregate_version, found.global_position) == (None, None, 9)
    long_id = ('{"aggregate_id": "' + "x" * 65 + '"}').encode()
    assert Undecodable.read(long_id, "why", message_id="m-1") == Undecodable("why", event_id="m-1")
    assert Undecodable.read(b"\x00 not json", "why") == Undecodable("why")
    assert Undecodable.read(b"[1, 2]", "why", message_id="m-2").event_id == "m-2"
