"""A command's transaction: one connection, no ORM session.

Commands run their Core statements on ``CommandTransaction``, a thin wrapper around the
``AsyncConnection`` of their transaction. Going through an ``AsyncSession`` cost each
command its ORM bookkeeping for nothing (a command never maps an object): the session and
its ``SessionTransaction`` state machine, the ORM execute path per statement, the commit's
flush check and events, and the close's expunge. Measured on a two-statement transaction:
140-230 µs of CPU more than the connection (docs/performance.md).

Reads, projections, the relay and the consumer runner keep their ``AsyncSession``; code
that serves both (repositories, queries, the event store) takes ``Transaction``, either of
the two, and uses what both offer: ``execute``/``scalar``/``scalars``, ``info`` (the
transaction's bookkeeping), ``get_bind()``, ``connection()``, ``begin_nested()``, and
``on_connection`` for one hop into SQLAlchemy's sync world.

``after_commit`` callbacks are kept in ``info`` for both: an ORM session calls them from its
``after_commit`` event, a ``CommandTransaction`` once its commit has succeeded (``committed``);
a rollback forgets them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Concatenate, ParamSpec, TypeAlias, TypeVar

from sqlalchemy import event as sa_event
from sqlalchemy.engine import Connection, CursorResult, Engine
from sqlalchemy.engine.interfaces import _CoreAnyExecuteParams
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, AsyncTransaction
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable
from sqlalchemy.util.typing import TupleAny

P = ParamSpec("P")
T = TypeVar("T")

_AFTER_COMMIT = "trellis.after_commit"


class CommandTransaction:
    """A command's transaction on one ``AsyncConnection`` (see the module's doc)."""

    __slots__ = ("_connection", "info")

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection
        self.info: dict[Any, Any] = {}  # this transaction's bookkeeping, gone with it

    async def execute(
        self, statement: Executable, params: _CoreAnyExecuteParams | None = None
    ) -> CursorResult[*TupleAny]:
        return await self._connection.execute(statement, params)

    async def scalar(self, statement: Executable, params: Mapping[str, Any] | None = None) -> Any:
        return await self._connection.scalar(statement, params)

    async def scalars(self, statement: Executable, params: Mapping[str, Any] | None = None) -> Any:
        return await self._connection.scalars(statement, params)

    async def connection(self) -> AsyncConnection:
        return self._connection

    def get_bind(self) -> Engine:
        return self._connection.sync_engine

    def begin_nested(self) -> AsyncTransaction:
        """A savepoint: released when its block ends, rolled back to if it raises."""
        return self._connection.begin_nested()

    def committed(self) -> None:
        """The transaction has committed: call its ``after_commit`` callbacks."""
        _call_after_commit(self.info)


Transaction: TypeAlias = AsyncSession | CommandTransaction
"""What code serving both commands and projections takes: either kind of transaction."""


async def on_connection(
    session: Transaction, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
) -> T:
    """``fn(connection, ...)`` on the sync ``Connection`` of ``session``'s transaction: one hop
    into SQLAlchemy's sync world for several statements (or the driver itself)."""
    if isinstance(session, CommandTransaction):
        return await session._connection.run_sync(fn, *args, **kwargs)
    return await session.run_sync(lambda sync: fn(sync.connection(), *args, **kwargs))


def after_commit(session: Transaction, callback: Callable[[], None]) -> None:
    """Call ``callback`` once after ``session``'s transaction commits (never if it rolls
    back); asked several times in one transaction, it is still called once."""
    session.info.setdefault(_AFTER_COMMIT, {})[callback] = (callback,)


def after_commit_all(session: Transaction, key: object, callbacks: list[Callable[[], None]]) -> None:
    """``after_commit`` for a list of callbacks registered under one ``key`` (a store's
    listeners: the list is read when the transaction commits)."""
    session.info.setdefault(_AFTER_COMMIT, {})[key] = callbacks


def _call_after_commit(info: dict[Any, Any]) -> None:
    pending = info.pop(_AFTER_COMMIT, None)
    if pending:
        for callbacks in pending.values():
            for callback in callbacks:
                callback()


# Registered once for every ORM session (instead of one listener per appending transaction,
# which cost more than the statements): a session calls its callbacks after its commit, and
# forgets them when its transaction rolls back.
@sa_event.listens_for(Session, "after_commit")
def _session_committed(session: Session) -> None:
    _call_after_commit(session.info)


@sa_event.listens_for(Session, "after_soft_rollback")
def _session_rolled_back(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:  # the outermost: nothing it appended stays
        session.info.pop(_AFTER_COMMIT, None)
