"""A service's sessions, and group commit: commands that arrive together share one commit.

``Sessions`` is the service's ``async_sessionmaker``: ``sessions()`` for a session of its
own (reads, projections, the relay), ``sessions.transaction()`` for a command's
transaction, a ``CommandTransaction`` on one connection, with no ORM session
(``transaction``). Every command handler takes the latter, so the service decides how
commands commit:

- one transaction per command, or
- **group commit** (``GroupCommit``): the commands that arrive while a transaction is open
  run in it, one after another, and one commit answers them all. Each but the first runs
  between a ``SAVEPOINT`` and, if it fails, a ``ROLLBACK TO`` that savepoint (the first,
  if it fails, rolls the transaction back: nothing else is in it yet): a command that
  fails (a conflict, a refusal, a contract violation) takes its own writes back and none
  of its batch-mates'. The others are answered only once the shared commit has succeeded; if it
  fails, each of them gets its error. A command in a batch reads what the commands before
  it wrote, as it would had they committed first: they commit together or not at all.

A batch closes when no command is waiting to join it (after one turn of the event loop,
so commands that are ready can join even on SQLite, whose statements never suspend) or
when it holds ``max_batch`` commands or has been open ``max_age`` seconds (which bounds
what grouping adds to the first command's latency); the next opens once it has committed.

Which pays is measured (``bench/group_commit.py``, docs/performance.md). On SQLite, where
commands queue for the one connection anyway, eight concurrent writers commit 1.2 to 1.9
times as many commands a second grouped. On PostgreSQL commands grouped lose more than
they save: in a batch they run one after another on one connection, where alone their
round trips overlap on several. So ``ServiceSettings.group_commit`` defaults to on for
SQLite and off for PostgreSQL.

The global order stays gap-free either way: a batch is one transaction, and on PostgreSQL
each append in it takes the append lock (``append_lock``), held until the commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from trellis.core import metrics
from trellis.core.store.database import inline_sqlite
from trellis.core.store.transaction import CommandTransaction

_SAVEPOINT = "SAVEPOINT trellis_command"
_ROLLBACK_TO = "ROLLBACK TO SAVEPOINT trellis_command"


class Sessions(async_sessionmaker[AsyncSession]):
    """A service's sessions; ``transaction()`` is a command's (grouped if ``group`` is set)."""

    group: GroupCommit | None = None

    def transaction(self) -> AbstractAsyncContextManager[CommandTransaction]:
        """A transaction for one command: committed when the block ends without an
        exception (with its batch-mates' under group commit), rolled back otherwise."""
        if self.group is not None:
            return self.group.member()
        return self._own_transaction()

    def connect(self) -> AsyncConnection:
        """A connection of the service's engine (not yet checked out)."""
        engine: AsyncEngine = self.kw["bind"]
        return engine.connect()

    @asynccontextmanager
    async def _own_transaction(self) -> AsyncIterator[CommandTransaction]:
        async with self.connect() as connection:
            transaction = CommandTransaction(connection)
            async with connection.begin():
                yield transaction
        transaction.committed()


def session_factory(
    engine: AsyncEngine,
    *,
    group_commit: bool = False,
    max_batch: int = 32,
    max_age: float = 0.005,
    service: str = "",
) -> Sessions:
    """A service's sessions; with ``group_commit``, its commands commit in groups
    (counted in ``trellis_group_commits_total`` for ``service``)."""
    sessions = Sessions(engine, expire_on_commit=False)
    if group_commit:
        sessions.group = GroupCommit(sessions.connect, max_batch=max_batch, max_age=max_age, service=service)
    return sessions


class GroupCommit:
    """Runs the commands that arrive together in one transaction (see the module's doc)."""

    def __init__(
        self,
        connect: Callable[[], AsyncConnection],
        *,
        max_batch: int = 32,
        max_age: float = 0.005,
        service: str = "",
    ) -> None:
        if max_batch < 1 or max_age < 0:
            raise ValueError("a batch holds at least one command, for no negative time")
        self.connect = connect
        self.max_batch = max_batch
        self.max_age = max_age
        self._commits = metrics.GROUP_COMMITS.labels(service)
        self._commands = metrics.GROUP_COMMIT_COMMANDS.labels(service)
        self.batches = 0  # committed or failed: with ``commands``, the mean batch size
        self.commands = 0
        self._turn = asyncio.Lock()  # held by the command running in the open batch
        self._open: _Batch | None = None
        self._waiting = 0
        self._holder: asyncio.Task[Any] | None = None
        self._closing: set[asyncio.Future[None]] = set()  # commits under way

    def member(self) -> AbstractAsyncContextManager[CommandTransaction]:
        return _Member(self)

    def _may_grow(self, batch: _Batch) -> bool:
        """Whether a turn of the loop could still bring ``batch`` members: none waiting
        yet, room left, nothing broken."""
        return self._waiting == 0 and not self._closes(batch)

    def _closes(self, batch: _Batch) -> bool:
        """Whether ``batch`` takes no more commands: full, old enough, or broken."""
        return (
            batch.members >= self.max_batch
            or asyncio.get_running_loop().time() - batch.opened >= self.max_age
            or batch.failed is not None
        )


class BatchRolledBack(ConnectionError):
    """The transaction a command shared was rolled back because a batch-mate's connection
    failed mid-statement (or it was stopped there): the command did not happen; retry.
    (A ``ConnectionError``: the HTTP layer answers 503 with Retry-After.)"""


class _Batch:
    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection
        self.transaction = CommandTransaction(connection)
        self.members = 0
        self.raw: Any = None  # the inline sqlite3 connection: savepoints go straight to it
        self.failed: BaseException | None = None  # the batch cannot commit
        loop = asyncio.get_running_loop()
        self.opened = loop.time()
        self.done: asyncio.Future[None] = loop.create_future()

    async def start(self) -> None:
        await self.connection.start()
        await self.connection.begin()
        self.raw = await self.connection.run_sync(inline_sqlite)

    async def execute(self, statement: str) -> None:
        if self.raw is not None:
            self.raw.execute(statement)
        else:
            await self.connection.exec_driver_sql(statement)

    async def finish(self) -> None:
        """Commit (roll back if a command broke the batch) and tell every member how it went."""
        try:
            if self.failed is not None:
                if isinstance(self.failed, Exception):
                    raise self.failed
                raise BatchRolledBack("the transaction this command shared was rolled back; retry")
            await self.connection.commit()
        except Exception as exc:
            self.done.set_exception(exc)
            self.done.exception()  # retrieved: a batch whose members all failed awaits it nowhere
        else:
            self.done.set_result(None)
            self.transaction.committed()
        finally:
            await self.connection.close()


class _Member:
    """One command's place in a batch: its turn on the batch's transaction, its savepoint."""

    def __init__(self, group: GroupCommit) -> None:
        self.group = group
        self.batch: _Batch | None = None
        self.info: dict[str, Any] = {}

    async def __aenter__(self) -> CommandTransaction:
        group = self.group
        if group._holder is not None and group._holder is asyncio.current_task():
            raise RuntimeError(
                "a command's transaction was asked for inside another's: pass its session down"
            )
        group._waiting += 1
        try:
            await group._turn.acquire()
        finally:
            group._waiting -= 1
        group._holder = asyncio.current_task()
        batch = group._open
        try:
            if batch is None:
                batch = group._open = _Batch(group.connect())
                await batch.start()
            batch.members += 1
            if batch.members > 1:  # the first needs no savepoint: if it fails, so does its batch
                # What the transaction's bookkeeping holds before this command (after-commit
                # callbacks, the append lock taken, aggregates appended): put back if it fails.
                self.info = {
                    k: v.copy() if isinstance(v, dict | set) else v for k, v in batch.transaction.info.items()
                }
                await batch.execute(_SAVEPOINT)
        except BaseException as exc:
            if batch is not None:  # could not start, or no savepoint: the connection is unusable
                batch.failed = exc
                self._leave(batch)
            else:
                group._holder = None
                group._turn.release()
            raise
        self.batch = batch
        return batch.transaction

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, _tb: object
    ) -> None:
        batch = self.batch
        assert batch is not None
        try:
            if exc is not None and batch.members == 1:
                batch.failed = exc  # it wrote alone: the batch rolls back, the next opens anew
            elif exc is not None:
                try:
                    await batch.execute(_ROLLBACK_TO)
                except BaseException as broken:  # the connection is gone: nobody in the batch commits
                    batch.failed = broken
                batch.transaction.info.clear()
                batch.transaction.info.update(self.info)
            elif self.group._may_grow(batch):
                await asyncio.sleep(0)  # commands that are ready join before the commit
        finally:
            self._leave(batch)
        if exc is None:  # answered once the batch has committed (a cancelled wait leaves it be)
            await asyncio.shield(batch.done)

    def _leave(self, batch: _Batch) -> None:
        """Hand the turn on; the last command in closes the batch (the commit runs on in a
        task of its own: the others' answers depend on it, whatever becomes of this one)."""
        group = self.group
        if group._waiting == 0 or group._closes(batch):
            group._open = None
            group.batches += 1
            group.commands += batch.members
            group._commits.inc()
            group._commands.inc(batch.members)
            group._closing.add(task := asyncio.ensure_future(batch.finish()))
            task.add_done_callback(group._closing.discard)
        group._holder = None
        group._turn.release()
