"""A command's transaction without an ORM session (``core/store/transaction.py``): it commits
or rolls back as a whole, calls its after-commit callbacks only once it has committed, and
offers what the code shared with projections uses. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from trellis.core.store import append_lock
from trellis.core.store.sessions import Sessions
from trellis.core.store.tables import events as events_table
from trellis.core.store.transaction import CommandTransaction, Transaction, after_commit, on_connection

from .conftest import Core


def _counted(connection: Connection) -> int:
    return connection.execute(select(func.count()).select_from(events_table)).scalar_one()


async def _stored(core: Core) -> int:
    async with core.sessions() as session:
        return await on_connection(session, _counted)


async def test_a_command_commits_then_calls_back_once(core: Core) -> None:
    sessions: Sessions = core.sessions
    called: list[str] = []

    def once() -> None:
        called.append("once")

    async with sessions.transaction() as tx:
        assert isinstance(tx, CommandTransaction)
        await core.append_in(tx, "a", 1, 2)
        after_commit(tx, once)
        after_commit(tx, once)  # asked for twice: called once
        assert called == []  # nothing before the commit
        assert await on_connection(tx, _counted) == 2  # its own writes, on the sync side
    assert called == ["once"]
    assert await _stored(core) == 2


async def test_a_command_that_fails_leaves_nothing_and_calls_nothing_back(core: Core) -> None:
    sessions: Sessions = core.sessions
    called: list[str] = []
    with pytest.raises(RuntimeError, match="refused"):
        async with sessions.transaction() as tx:
            await core.append_in(tx, "a", 1)
            after_commit(tx, lambda: called.append("committed"))
            raise RuntimeError("refused after writing")
    assert called == []
    assert await _stored(core) == 0
    # the next command starts afresh: no callback, lock or loaded version carried over
    async with sessions.transaction() as tx:
        assert tx.info == {}
        await core.append_in(tx, "a", 1)
    assert called == [] and await _stored(core) == 1


async def test_a_savepoint_in_a_command_takes_back_only_its_own_writes(core: Core) -> None:
    sessions: Sessions = core.sessions
    async with sessions.transaction() as tx:
        await core.append_in(tx, "kept", 1)
        with pytest.raises(RuntimeError):
            async with tx.begin_nested():
                await core.append_in(tx, "taken back", 1)
                raise RuntimeError("the savepoint's part fails")
    async with core.sessions() as session:
        ids = (await session.execute(select(events_table.c.aggregate_id))).scalars().all()
    assert ids == ["kept"]


@pytest.mark.parametrize("kind", ["orm session", "command transaction"])
async def test_the_append_lock_is_taken_once_a_transaction_on_either_kind(core: Core, kind: str) -> None:
    async def twice(session: Transaction) -> bool:
        await append_lock.hold(session)
        await append_lock.hold(session)
        return bool(session.info)

    if kind == "orm session":
        async with core.sessions() as session, session.begin():
            held = await twice(session)
    else:
        async with core.sessions.transaction() as tx:
            held = await twice(tx)
    # PostgreSQL records the lock in the transaction's bookkeeping; SQLite needs none
    assert held == (core.engine.dialect.name == "postgresql")
