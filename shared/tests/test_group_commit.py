"""Group commit (``core/store/sessions.py``): commands that arrive together share a commit,
and none of them pays for another's failure. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from trellis.contracts.envelope import EventEnvelope, Metadata
from trellis.core.errors import ConcurrencyError
from trellis.core.store import append_lock
from trellis.core.store.repository import Repository
from trellis.core.store.sessions import Sessions, session_factory
from trellis.core.store.tables import events as events_table
from trellis.core.store.tables import outbox as outbox_table
from trellis.core.store.transaction import Transaction, after_commit
from trellis.testing import eventually

from .conftest import Core, Counted, Counter

Command = Callable[[Transaction], Awaitable[Any]]


@pytest.fixture
def grouped(core: Core) -> Sessions:
    # No age limit to speak of: which commands share a batch must not depend on the
    # machine's speed here (the limit has a test of its own).
    sessions = session_factory(core.engine, group_commit=True, max_age=60)
    assert sessions.group is not None
    return sessions


def append(
    core: Core, session: Transaction, counter_id: str, amount: int = 1
) -> Awaitable[list[EventEnvelope]]:
    return core.append_in(session, counter_id, amount)


async def together(sessions: Sessions, *commands: Command) -> list[Any]:
    """Run ``commands`` concurrently, each in a command transaction; their results or errors."""

    async def run(command: Command) -> Any:
        async with sessions.transaction() as session:
            return await command(session)

    return await asyncio.gather(*(run(c) for c in commands), return_exceptions=True)


async def stored(core: Core) -> dict[str, list[int]]:
    async with core.sessions() as session:
        rows = (
            await session.execute(
                select(events_table.c.aggregate_id, events_table.c.aggregate_version).order_by(
                    events_table.c.global_position
                )
            )
        ).all()
    out: dict[str, list[int]] = {}
    for aggregate_id, version in rows:
        out.setdefault(aggregate_id, []).append(version)
    return out


async def outboxed(core: Core) -> int:
    async with core.sessions() as session:
        return (await session.execute(select(func.count()).select_from(outbox_table))).scalar_one()


async def test_commands_that_arrive_together_share_one_commit_each_with_its_own_result(
    core: Core, grouped: Sessions
) -> None:
    results = await together(grouped, *(lambda s, i=i: append(core, s, f"c-{i}", i) for i in range(8)))
    assert grouped.group is not None and grouped.group.commands == 8
    assert grouped.group.batches < 8  # shared: on both databases the eight run in one or two
    assert [r[0].aggregate_id for r in results] == [f"c-{i}" for i in range(8)]
    assert [r[0].payload["amount"] for r in results] == list(range(8))
    positions = [r[0].global_position for r in results]
    assert positions == sorted(positions) and len(set(positions)) == 8
    assert await stored(core) == {f"c-{i}": [1] for i in range(8)}
    assert await outboxed(core) == 8


async def test_a_command_that_fails_takes_back_only_its_own_writes(core: Core, grouped: Sessions) -> None:
    [existing] = await core.append("taken", 1)

    async def fails_after_writing(session: Transaction) -> None:
        await append(core, session, "b")
        raise RuntimeError("the command fails after its append")

    async def breaks_a_constraint(session: Transaction) -> None:
        await append(core, session, "c")
        # A statement the database refuses: on PostgreSQL it aborts the transaction, which
        # the command's savepoint must repair for the commands after it.
        row = {c.name: getattr(existing, c.name, None) for c in events_table.c if c.name != "global_position"}
        row.update(
            event_id=str(existing.event_id), payload=existing.payload, recorded_at=existing.occurred_at
        )
        await session.execute(insert(events_table).values(row))

    async def conflicts(session: Transaction) -> None:
        await core.store.append(
            session,
            aggregate_type="counter",
            aggregate_id="taken",
            expected_version=0,
            events=[Counted(amount=5)],
            metadata=Metadata(tenant_id="acme", actor_id="tester"),
        )

    results = await together(
        grouped,
        lambda s: append(core, s, "a"),
        fails_after_writing,
        breaks_a_constraint,
        conflicts,
        lambda s: append(core, s, "d"),
    )
    assert grouped.group is not None and grouped.group.batches == 1 and grouped.group.commands == 5
    assert isinstance(results[1], RuntimeError)
    assert isinstance(results[2], IntegrityError)
    assert isinstance(results[3], ConcurrencyError)
    assert [r[0].aggregate_id for r in (results[0], results[4])] == ["a", "d"]
    assert await stored(core) == {"taken": [1], "a": [1], "d": [1]}
    assert await outboxed(core) == 3


async def test_a_first_command_that_fails_rolls_its_batch_back_and_the_others_commit_in_the_next(
    core: Core, grouped: Sessions
) -> None:
    # The first command of a batch runs without a savepoint (nothing else is in the
    # transaction yet): if it fails, the transaction is rolled back and the next opens anew.
    called: list[str] = []

    async def fails_first(session: Transaction) -> None:
        await append(core, session, "first")
        after_commit(session, lambda: called.append("first"))
        raise RuntimeError("refused")

    results = await together(
        grouped, fails_first, lambda s: append(core, s, "b"), lambda s: append(core, s, "c")
    )
    assert isinstance(results[0], RuntimeError)
    assert [r[0].aggregate_id for r in results[1:]] == ["b", "c"]
    assert await stored(core) == {"b": [1], "c": [1]}
    assert called == []
    assert grouped.group is not None and (grouped.group.batches, grouped.group.commands) == (2, 3)


async def test_a_failed_command_leaves_no_after_commit_callback_and_the_others_keep_theirs(
    core: Core, grouped: Sessions
) -> None:
    called: list[str] = []

    def calls(name: str) -> Command:
        async def command(session: Transaction) -> None:
            await append(core, session, name)
            after_commit(session, lambda: called.append(name))
            if name == "fails":
                raise RuntimeError("refused")

        return command

    await together(grouped, calls("a"), calls("fails"), calls("b"))
    assert sorted(called) == ["a", "b"]


async def test_a_cancelled_command_takes_back_its_writes_and_its_batch_mates_commit(
    core: Core, grouped: Sessions
) -> None:
    appended = asyncio.Event()

    async def hangs(session: Transaction) -> None:
        await append(core, session, "hangs")
        appended.set()
        await asyncio.Event().wait()  # until cancelled

    async def hang() -> None:
        async with grouped.transaction() as session:
            await hangs(session)

    # Once as a batch's first command (its batch rolls back), once behind a savepoint:
    # then a command is in the batch before it, held until the others wait to join.
    assert grouped.group is not None
    group = grouped.group
    for first in (None, "first"):
        before = await stored(core)
        batches = group.batches
        inside, go = asyncio.Event(), asyncio.Event()

        async def ahead(
            session: Transaction,
            name: str = first or "",
            inside: asyncio.Event = inside,
            go: asyncio.Event = go,
        ) -> list[EventEnvelope]:
            written = await append(core, session, name)
            inside.set()
            await go.wait()
            return written

        async def three_wait() -> bool:
            return group._waiting >= 3

        leading = asyncio.create_task(together(grouped, ahead)) if first else None
        if first:
            await inside.wait()  # the first command holds the batch's turn
        hanging = asyncio.create_task(hang())
        others = asyncio.create_task(
            together(grouped, lambda s: append(core, s, "a"), lambda s: append(core, s, "b"))
        )
        if first:
            await eventually(three_wait, interval=0.001)  # the three queue behind it
        go.set()
        await appended.wait()
        appended.clear()
        hanging.cancel()
        results = await others
        with pytest.raises(asyncio.CancelledError):
            await hanging
        assert [r[0].aggregate_id for r in results] == ["a", "b"]
        if leading is not None:
            [result] = await leading
            assert result[0].aggregate_id == first
        # first: all four in one batch; else its batch rolled back, the others in the next
        assert group.batches - batches == (1 if first else 2)
        after_round = await stored(core)
        assert "hangs" not in after_round
        assert {k: len(v) for k, v in after_round.items()} == {
            **{k: len(v) for k, v in before.items()},
            "a": len(before.get("a", [])) + 1,
            "b": len(before.get("b", [])) + 1,
            **({first: 1} if first else {}),
        }
    # The group is free again: a command after them runs and commits.
    [after] = await together(grouped, lambda s: append(core, s, "after"))
    assert after[0].aggregate_id == "after"


async def test_when_the_shared_commit_fails_every_member_is_told(
    core: Core, grouped: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = DBAPIError("COMMIT", None, Exception("the server refused the commit"))

    async def commit_refused(self: AsyncConnection) -> None:
        raise refused

    monkeypatch.setattr(AsyncConnection, "commit", commit_refused)
    results = await together(grouped, lambda s: append(core, s, "a"), lambda s: append(core, s, "b"))
    assert results == [refused, refused]
    monkeypatch.undo()
    assert await stored(core) == {}


async def test_a_command_asking_for_a_transaction_inside_its_own_is_refused_not_deadlocked(
    grouped: Sessions,
) -> None:
    async def nested(session: Transaction) -> None:
        async with grouped.transaction():
            pass

    [outcome] = await asyncio.wait_for(together(grouped, nested), timeout=10)
    assert isinstance(outcome, RuntimeError) and "inside another" in str(outcome)


async def test_a_command_reads_what_its_batch_mates_wrote_before_it(core: Core, grouped: Sessions) -> None:
    repo = Repository(core.store, Counter)
    await core.append("c-1", 1)

    async def add(session: Transaction) -> int:
        counter = await repo.get(session, "c-1", "acme")
        counter.add(1)
        await repo.save(session, counter, Metadata(tenant_id="acme", actor_id="a"))
        return counter.total

    totals = await together(grouped, *(add for _ in range(5)))
    assert totals == [2, 3, 4, 5, 6]  # one after another, none refused, none lost
    assert await stored(core) == {"c-1": [1, 2, 3, 4, 5, 6]}


async def test_grouped_and_ungrouped_writers_leave_no_gap_for_a_catch_up_reader(
    core: Core, grouped: Sessions
) -> None:
    """The gap problem with batches: other processes (here, ungrouped sessions) append too."""
    if core.db.backend == "sqlite":
        pytest.skip("SQLite serialises writers: commit order is position order by construction")
    written: set[str] = set()
    seen: list[tuple[int, str]] = []
    done = asyncio.Event()

    async def writer(w: int) -> None:
        for i in range(40):
            counter = f"w{w}-{i % 5}"
            if w % 2:
                async with grouped.transaction() as session:
                    [event] = await append(core, session, counter)
            else:
                [event] = await core.append(counter, 1)
            written.add(str(event.event_id))

    async def reader() -> None:
        position = 0
        while True:
            finished = done.is_set()
            batch = await core.store.read_after(position, limit=50)
            seen.extend((e.global_position or 0, str(e.event_id)) for e in batch)
            if batch:
                position = batch[-1].global_position or position
            elif finished:
                return
            await asyncio.sleep(0)

    reading = asyncio.create_task(reader())
    await asyncio.gather(*(writer(w) for w in range(8)))
    done.set()
    await reading
    positions = [p for p, _ in seen]
    assert positions == sorted(positions) and len(positions) == len(set(positions))
    assert {e for _, e in seen} == written and len(seen) == 8 * 40
    assert grouped.group is not None and grouped.group.commands == 4 * 40


async def test_a_failed_command_does_not_leave_the_append_lock_marked_as_held(
    core: Core, grouped: Sessions
) -> None:
    # On PostgreSQL a lock taken after a savepoint is released by ROLLBACK TO it: a command
    # after the failed one must take the append lock again, not trust the failed one's mark.
    marks: list[bool] = []

    async def takes_the_lock_and_fails(session: Transaction) -> None:
        await append_lock.hold(session)
        raise RuntimeError("refused")

    async def looks(session: Transaction) -> None:
        marks.append(bool(session.info.get("trellis.append_lock_held")))

    await together(grouped, takes_the_lock_and_fails, looks)
    assert marks == [False]


async def test_the_commits_and_their_commands_are_counted_for_the_service(core: Core) -> None:
    service = f"grouped-{id(core)}"
    counted = session_factory(core.engine, group_commit=True, max_age=60, service=service)
    await together(counted, *(lambda s, i=i: append(core, s, f"c-{i}") for i in range(5)))
    assert counted.group is not None
    labels = {"service": service}
    assert REGISTRY.get_sample_value("trellis_group_commit_commands_total", labels) == 5
    assert REGISTRY.get_sample_value("trellis_group_commits_total", labels) == counted.group.batches


async def test_a_batch_takes_no_command_once_it_is_older_than_its_age_limit(core: Core) -> None:
    aged = session_factory(core.engine, group_commit=True, max_age=0)
    results = await together(aged, *(lambda s, i=i: append(core, s, f"c-{i}") for i in range(4)))
    assert [r[0].aggregate_id for r in results] == ["c-0", "c-1", "c-2", "c-3"]
    assert aged.group is not None and aged.group.batches == aged.group.commands == 4


def test_a_batch_holds_at_least_one_command() -> None:
    from trellis.core.store.sessions import GroupCommit

    with pytest.raises(ValueError):
        GroupCommit(lambda: None, max_batch=0)  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError):
        GroupCommit(lambda: None, max_age=-1)  # type: ignore[arg-type,return-value]
