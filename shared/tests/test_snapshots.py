"""Snapshots of aggregates in memory (``core/store/repository.py``): a command gets the
state its committed events give, never more or less, however the snapshot was taken.
On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from trellis.contracts.envelope import Metadata
from trellis.core.store.event_store import EventStore
from trellis.core.store.repository import Repository
from trellis.core.store.transaction import Transaction

from .conftest import SERVICE, Core, Counter, registry

META = Metadata(tenant_id="acme", actor_id="tester")


class CountingCounter(Counter):
    """A counter that counts the events replayed into any instance."""

    applied = 0

    def apply(self, event: object) -> None:  # type: ignore[override]
        CountingCounter.applied += 1
        super().apply(event)  # type: ignore[arg-type]


@pytest.fixture
def counters(core: Core) -> Repository[CountingCounter]:
    CountingCounter.applied = 0
    return Repository(core.store, CountingCounter, snapshot_every=4)


def elsewhere(core: Core) -> EventStore:
    """The same events' store as another process has it (its own caches)."""
    return EventStore(service=SERVICE, registry=registry, sessions=core.sessions, subjects=core.subjects)


async def add(core: Core, repo: Repository[CountingCounter], counter_id: str, *amounts: int) -> None:
    async with core.sessions.transaction() as tx:
        counter = await repo.find(tx, counter_id, "acme") or repo.new(counter_id, "acme")
        for amount in amounts:
            counter.add(amount)
        await repo.save(tx, counter, META)


async def total(core: Core, repo: Repository[CountingCounter], counter_id: str) -> tuple[int, int]:
    async with core.sessions.transaction() as tx:
        counter = await repo.get(tx, counter_id, "acme")
        return counter.total, counter.version


async def test_a_command_replays_only_the_events_after_the_snapshot(
    core: Core, counters: Repository[CountingCounter]
) -> None:
    await add(core, counters, "c", *range(1, 11))  # ten events
    assert await total(core, counters, "c") == (55, 10)  # replays ten: a snapshot at 10
    CountingCounter.applied = 0
    assert await total(core, counters, "c") == (55, 10)
    assert CountingCounter.applied == 0  # a copy of the snapshot, nothing replayed
    await add(core, counters, "c", 100)  # its load replays nothing, then records one
    CountingCounter.applied = 0
    assert await total(core, counters, "c") == (155, 11)
    assert CountingCounter.applied == 1  # the one event since the snapshot


async def test_a_command_that_changes_its_copy_and_fails_leaves_the_snapshot_as_it_was(
    core: Core, counters: Repository[CountingCounter]
) -> None:
    await add(core, counters, "c", *range(1, 11))
    assert await total(core, counters, "c") == (55, 10)
    with pytest.raises(RuntimeError):
        async with core.sessions.transaction() as tx:
            counter = await counters.get(tx, "c", "acme")
            counter.add(1000)
            await counters.save(tx, counter, META)
            raise RuntimeError("refused after saving")
    # version 11 again, another event, appended where this repository does not see it
    await add(core, Repository(elsewhere(core), CountingCounter), "c", 1)
    assert await total(core, counters, "c") == (56, 11)


async def test_no_snapshot_is_taken_past_events_the_transaction_appended_itself(
    core: Core, counters: Repository[CountingCounter]
) -> None:
    await add(core, counters, "c", 1)
    with pytest.raises(RuntimeError):
        async with core.sessions.transaction() as tx:
            counter = await counters.get(tx, "c", "acme")
            for _ in range(8):
                counter.add(1000)
            await counters.save(tx, counter, META)
            # loaded again in the same transaction: eight events past the last snapshot,
            # but not committed; a snapshot of them would outlive the rollback
            assert (await counters.get(tx, "c", "acme")).total == 8001
            raise RuntimeError("rolled back")
    await add(core, counters, "c", *[2] * 8)  # the same versions, other events
    assert await total(core, counters, "c") == (17, 9)


async def test_events_another_process_appended_are_applied_to_the_snapshot(
    core: Core, counters: Repository[CountingCounter]
) -> None:
    await add(core, counters, "c", *range(1, 11))
    assert await total(core, counters, "c") == (55, 10)  # snapshot at 10
    await add(core, Repository(elsewhere(core), CountingCounter), "c", 1000)
    assert await total(core, counters, "c") == (1055, 11)


async def test_another_tenant_does_not_get_a_snapshot(
    core: Core, counters: Repository[CountingCounter]
) -> None:
    await add(core, counters, "c", *range(1, 11))
    assert await total(core, counters, "c") == (55, 10)
    tx: Transaction
    async with core.sessions.transaction() as tx:
        assert await counters.find(tx, "c", "globex") is None
