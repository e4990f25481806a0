"""Event store conformance: the same tests on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import insert, select

from trellis.contracts.envelope import Metadata, utcnow
from trellis.core.errors import ConcurrencyError, NotFound
from trellis.core.store.repository import Repository
from trellis.core.store.tables import events as events_table

from .conftest import Core, Counted, Counter, CounterNoteTaken


async def test_appended_events_load_back_with_their_whole_envelope(core: Core) -> None:
    stored = await core.append("c-1", 1, 2)
    async with core.sessions() as session:
        loaded = await core.store.load(session, "c-1")
    assert [r.event for r in loaded] == [Counted(amount=1), Counted(amount=2)]
    first = loaded[0].envelope
    assert first.event_id == stored[0].event_id and first.event_id.version == 7
    assert (first.tenant_id, first.aggregate_type, first.aggregate_id) == ("acme", "counter", "c-1")
    assert [r.envelope.aggregate_version for r in loaded] == [1, 2]
    assert first.actor_id == "tester" and first.correlation_id
    assert first.global_position is not None and first.occurred_at.tzinfo is not None


async def test_the_append_writes_exactly_the_rows_sqlalchemy_writes(core: Core) -> None:
    # On SQLite the append runs on sqlite3 itself (``store/direct.py``) with SQLAlchemy's
    # column processors: its rows must be byte for byte what a Core insert of the same
    # values stores (the timestamps' text, the payload's JSON), or readers would differ.
    [stored] = await core.append("c-1", 7)
    note = CounterNoteTaken(note='naïve ☃ "quoted" \u2028')
    async with core.sessions() as session, session.begin():
        [private] = await core.store.append(
            session,
            aggregate_type="counter",
            aggregate_id="c-2",
            expected_version=0,
            events=[note],
            metadata=Metadata(tenant_id="acme", actor_id="tester"),
        )
    async with core.engine.begin() as conn:
        recorded_at = (
            await conn.execute(
                select(events_table.c.recorded_at).where(events_table.c.event_id == str(stored.event_id))
            )
        ).scalar_one()
        for env, twin in ((stored, "twin-1"), (private, "twin-2")):
            await conn.execute(
                insert(events_table).values(
                    event_id=str(uuid.uuid4()),
                    event_type=env.event_type,
                    schema_version=env.schema_version,
                    tenant_id=env.tenant_id,
                    aggregate_type=env.aggregate_type,
                    aggregate_id=twin,
                    aggregate_version=env.aggregate_version,
                    occurred_at=env.occurred_at,
                    recorded_at=recorded_at,
                    actor_id=env.actor_id,
                    correlation_id=env.correlation_id,
                    causation_id=env.causation_id,
                    payload=env.payload,
                )
            )
        columns = "occurred_at, recorded_at, payload, schema_version, causation_id"
        raw = (
            await conn.exec_driver_sql(
                f"SELECT aggregate_id, {columns} FROM events WHERE aggregate_id IN "
                "('c-1', 'twin-1', 'c-2', 'twin-2') ORDER BY aggregate_id"
            )
        ).all()
        rows = {r[0]: tuple(r[1:]) for r in raw}
        assert rows["c-1"] == rows["twin-1"]
        assert rows["c-2"][0] == rows["twin-2"][0] and rows["c-2"][2:] == rows["twin-2"][2:]
        body, outbox_created = (
            await conn.exec_driver_sql(
                f"SELECT body, created_at FROM outbox WHERE event_id = '{stored.event_id}'"
            )
        ).one()
        assert bytes(body) == stored.model_dump_json().encode()  # the envelope, its position included
        assert type(outbox_created) is type(rows["c-1"][1]) and len(str(outbox_created)) == len(
            str(rows["c-1"][1])
        )
    async with core.sessions() as session:
        [loaded] = await core.store.load(session, "c-2")
    assert loaded.event == note and loaded.envelope.occurred_at == private.occurred_at


async def test_concurrent_writers_each_version_is_written_once_and_losers_are_refused(core: Core) -> None:
    repo = Repository(core.store, Counter)
    async with core.sessions() as session, session.begin():
        counter = repo.new("c-1", "acme")
        counter.add(0)
        await repo.save(session, counter, Metadata(tenant_id="acme", actor_id="a"))

    n = 20
    loaded_together = asyncio.Barrier(n)

    async def writer(i: int) -> bool:
        async with core.sessions() as session:
            async with session.begin():
                counter = await repo.get(session, "c-1", "acme")
            await loaded_together.wait()  # every writer now holds the same version
            counter.add(i)
            try:
                async with session.begin():
                    await repo.save(session, counter, Metadata(tenant_id="acme", actor_id=f"w{i}"))
                return True
            except ConcurrencyError:
                return False

    results = await asyncio.gather(*(writer(i) for i in range(1, n + 1)))
    async with core.sessions() as session:
        loaded = await core.store.load(session, "c-1")
        final = await repo.get(session, "c-1", "acme")
    versions = [r.envelope.aggregate_version for r in loaded]
    assert versions == list(range(1, len(versions) + 1))  # each version exactly once
    assert len(versions) == 1 + results.count(True)
    assert results.count(True) == 1 and results.count(False) == n - 1
    assert final.total == sum(r.event.amount for r in loaded)  # type: ignore[attr-defined]


async def test_a_stale_expected_version_is_refused_not_merged(core: Core) -> None:
    await core.append("c-1", 1)
    async with core.sessions() as session:
        with pytest.raises(ConcurrencyError) as info:
            async with session.begin():
                await core.store.append(
                    session,
                    aggregate_type="counter",
                    aggregate_id="c-1",
                    expected_version=0,
                    events=[Counted(amount=5)],
                    metadata=Metadata(tenant_id="acme", actor_id="a"),
                )
    assert info.value.details["actual_version"] == 1


async def test_a_create_of_an_existing_aggregate_leaves_no_row_behind(core: Core) -> None:
    # Expected version 0 skips the version query; the insert skips the rows that exist
    # (version 1) and must not keep the others (version 2) either.
    await core.append("c-1", 1)
    async with core.sessions() as session:
        with pytest.raises(ConcurrencyError) as info:
            async with session.begin():
                await core.store.append(
                    session,
                    aggregate_type="counter",
                    aggregate_id="c-1",
                    expected_version=0,
                    events=[Counted(amount=5), Counted(amount=6)],
                    metadata=Metadata(tenant_id="acme", actor_id="a"),
                )
    assert info.value.details == {"expected_version": 0, "actual_version": 1}
    async with core.sessions() as session:
        assert [r.envelope.aggregate_version for r in await core.store.load(session, "c-1")] == [1]


async def test_reading_after_a_position_returns_every_event_in_order_in_batches(core: Core) -> None:
    for i in range(7):
        await core.append(f"c-{i % 3}", i)
    batches = [batch async for batch in core.store.iterate(0, batch_size=3)]
    assert [len(b) for b in batches] == [3, 3, 1]
    positions = [e.global_position for b in batches for e in b]
    assert positions == sorted(positions) and len(set(positions)) == 7
    assert await core.store.head() == positions[-1]
    assert [e.global_position for e in await core.store.read_after(positions[4])] == positions[5:]


async def test_an_old_schema_version_is_upcast_on_read(core: Core) -> None:
    async with core.sessions() as session, session.begin():
        await session.execute(
            insert(events_table).values(
                event_id=str(uuid.uuid4()),
                event_type="Counted",
                schema_version=1,
                tenant_id="acme",
                aggregate_type="counter",
                aggregate_id="old",
                aggregate_version=1,
                occurred_at=utcnow(),
                recorded_at=utcnow(),
                actor_id="a",
                correlation_id="c",
                payload={"n": 41},
            )
        )
    async with core.sessions() as session:
        loaded = await core.store.load(session, "old")
    assert loaded[0].event == Counted(amount=41)


async def test_another_tenants_aggregate_is_not_found(core: Core) -> None:
    await core.append("c-1", 1, tenant="acme")
    repo = Repository(core.store, Counter)
    async with core.sessions() as session:
        with pytest.raises(NotFound):
            await repo.get(session, "c-1", "globex")
        assert (await repo.get(session, "c-1", "acme")).total == 1


async def test_catch_up_reader_sees_every_event_while_many_writers_commit(core: Core) -> None:
    """The gap problem: a reader following global positions must never skip an event."""
    if core.db.backend == "sqlite":
        pytest.skip("SQLite serialises writers: commit order is position order by construction")
    writers, per_writer = 8, 50
    written: set[str] = set()
    seen: list[tuple[int, str]] = []
    done = asyncio.Event()

    async def writer(w: int) -> None:
        for i in range(per_writer):
            stored = await core.append(f"w{w}-{i % 5}", 1)
            written.add(str(stored[0].event_id))

    async def reader() -> None:
        position = 0
        while True:
            finished = done.is_set()
            batch = await core.store.read_after(position, limit=50)
            for envelope in batch:
                seen.append((envelope.global_position or 0, str(envelope.event_id)))
            if batch:
                position = batch[-1].global_position or position
            elif finished:
                return
            await asyncio.sleep(0)

    reading = asyncio.create_task(reader())
    await asyncio.gather(*(writer(w) for w in range(writers)))
    done.set()
    await reading
    positions = [p for p, _ in seen]
    assert positions == sorted(positions) and len(positions) == len(set(positions))
    assert {e for _, e in seen} == written
    assert len(seen) == writers * per_writer


async def test_events_of_a_rolled_back_transaction_never_reach_the_aggregate_cache(core: Core) -> None:
    repo = Repository(core.store, Counter)
    await core.append("c-1", 1)
    async with core.sessions() as session:
        with pytest.raises(RuntimeError):
            async with session.begin():
                counter = await repo.get(session, "c-1", "acme")
                counter.add(10)
                await repo.save(session, counter, Metadata(tenant_id="acme", actor_id="a"))
                assert (await repo.get(session, "c-1", "acme")).total == 11  # reads its own write
                raise RuntimeError("the transaction fails after the append")
    async with core.sessions() as session, session.begin():
        counter = await repo.get(session, "c-1", "acme")
        assert (counter.version, counter.total) == (1, 1)
        counter.add(5)
        await repo.save(session, counter, Metadata(tenant_id="acme", actor_id="a"))
    async with core.sessions() as session:
        versions = [r.envelope.aggregate_version for r in await core.store.load(session, "c-1")]
    assert versions == [1, 2]
