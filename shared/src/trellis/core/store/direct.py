"""Hot-path statements run on the driver itself (sqlite3, asyncpg), compiled once by SQLAlchemy.

On SQLite a statement is an in-process call of tens of microseconds, and SQLAlchemy's
execution around it (the execution context, parameter processing, the result) cost
several times that: under a profile of goal creates, two inserts took 160 µs each through
``Connection.execute`` against 18 µs in sqlite3. The event store's append and
rehydration read, run on every command, therefore go to the driver directly there.

SQLAlchemy still writes the SQL (compiled once per dialect from the same Core statement)
and still converts the values: each column's own bind and result processors, taken from
the engine's dialect, so a row written here is the row SQLAlchemy would have written
(``occurred_at``'s text form, the payload through ``strict_json``) and reads back the same
way. Only the engine's inline SQLite connections qualify (``database.inline_sqlite``:
statements on the event loop, in the transaction SQLAlchemy began).

On PostgreSQL the append is one statement (``event_store``) whose parameters are already
the driver's (strings, integers, arrays of them, a datetime), and SQLAlchemy's execution
of it (the compiled cache, the execution context, the asyncpg adapter's cursor, the
greenlet hop) cost more CPU than asyncpg spent on it. ``DriverStatement`` runs it on the
asyncpg connection under the session's transaction: the SQL compiled once by SQLAlchemy,
the same codecs (the dialect sets them on every connection), and errors translated as
SQLAlchemy would (an ``IntegrityError``, a ``DBAPIError`` whose connection is invalidated
when it was lost).
"""

from __future__ import annotations

import sqlite3
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import Table
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

# SQLite allows 32,766 bound values in a statement; a multi-row insert stays well under.
MAX_VALUES = 4_000

Processor = Callable[[Any], Any]
T = TypeVar("T")


class DirectInsert:
    """An ``INSERT … VALUES`` of ``columns`` into ``table`` (optionally ``ON CONFLICT`` and
    ``RETURNING`` as ``statement`` says), for any number of rows in one statement."""

    def __init__(
        self, statement: ClauseElement, table: Table, columns: Sequence[str], dialect: Dialect
    ) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(columns))
        assert isinstance(compiled, SQLCompiler)
        sql = compiled.string
        start = sql.index(" VALUES (") + len(" VALUES ")
        end = sql.index(")", start) + 1
        self._head, self._row, self._tail = sql[:start], sql[start:end], sql[end:]
        self.columns = tuple(compiled.positiontup or ())  # the placeholders' order
        if sorted(self.columns) != sorted(columns):
            raise ValueError(f"{table.name}: the insert binds {self.columns}, not {tuple(columns)}")
        self._processors = _bind_processors(table, self.columns, dialect)
        self._sql: dict[int, str] = {}

    def params(self, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        out: list[Any] = []
        columns, processors = self.columns, self._processors
        for row in rows:
            for name, process in zip(columns, processors, strict=True):
                value = row[name]
                out.append(value if process is None or value is None else process(value))
        return out

    def sql(self, count: int) -> str:
        sql = self._sql.get(count)
        if sql is None:
            sql = self._sql[count] = self._head + ", ".join([self._row] * count) + self._tail
        return sql

    def run(self, raw: sqlite3.Connection, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """Insert ``rows`` (in statements of at most ``MAX_VALUES`` values); what they return."""
        per = max(1, MAX_VALUES // len(self.columns))
        returned: list[Any] = []
        for at in range(0, len(rows), per):
            chunk = rows[at : at + per]
            returned.extend(raw.execute(self.sql(len(chunk)), self.params(chunk)).fetchall())
        return returned


class DirectSelect:
    """A ``SELECT`` with named parameters whose result columns are ``table``'s ``columns``."""

    def __init__(
        self, statement: ClauseElement, table: Table, columns: Sequence[str], dialect: Dialect
    ) -> None:
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        self.sql = compiled.string
        self.names = tuple(compiled.positiontup or ())
        self._processors = [
            (i, process)
            for i, process in enumerate(_result_processors(table, columns, dialect))
            if process is not None
        ]

    def run(self, raw: sqlite3.Connection, params: Mapping[str, Any]) -> list[list[Any]]:
        rows = raw.execute(self.sql, [params[name] for name in self.names]).fetchall()
        if not self._processors:
            return [list(row) for row in rows]
        out = []
        for row in rows:
            values = list(row)
            for i, process in self._processors:
                if values[i] is not None:
                    values[i] = process(values[i])
            out.append(values)
        return out


def _bind_processors(table: Table, columns: Sequence[str], dialect: Dialect) -> list[Processor | None]:
    return [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns]


def _result_processors(table: Table, columns: Sequence[str], dialect: Dialect) -> list[Processor | None]:
    out: list[Processor | None] = []
    for name in columns:
        impl = table.c[name].type.dialect_impl(dialect)
        out.append(impl.result_processor(dialect, None))  # sqlite3 reports no column types
    return out


class PerDialect(Generic[T]):
    """What ``build(dialect)`` makes, built once per dialect (an engine has one)."""

    def __init__(self, build: Callable[[Dialect], T]) -> None:
        self._build = build
        self._built: weakref.WeakKeyDictionary[Dialect, T] = weakref.WeakKeyDictionary()

    def __call__(self, dialect: Dialect) -> T:
        built = self._built.get(dialect)
        if built is None:
            built = self._built[dialect] = self._build(dialect)
        return built


class DriverStatement:
    """A statement run on the asyncpg connection under an ``AsyncConnection``'s transaction
    (PostgreSQL; see the module's doc). Its SQL is compiled once per dialect; ``fetch``
    binds the parameters by name and returns asyncpg's records."""

    def __init__(self, statement: ClauseElement) -> None:
        self._compiled = PerDialect(lambda dialect: _positional(statement, dialect))

    async def fetch(self, connection: AsyncConnection, params: Mapping[str, Any]) -> list[Any]:
        sql, names = self._compiled(connection.dialect)
        sync = connection.sync_connection
        if sync is None or sync.invalidated:  # SQLAlchemy says why it cannot go on
            fairy = await connection.get_raw_connection()
        else:
            fairy = sync.connection
        adapted: Any = fairy.dbapi_connection  # the asyncpg adapter (checked out, transaction begun)
        async with adapted._execute_mutex:  # what the adapter's own cursor holds
            try:
                if adapted._transaction is None:  # begun at checkout, but after a commit
                    await adapted._start_transaction()
                records: list[Any] = await adapted._connection.fetch(sql, *[params[name] for name in names])
                return records
            except Exception as error:
                failure = _translated(adapted, error)
        lost = connection.dialect.is_disconnect(failure, adapted, None)
        if lost:
            await connection.invalidate(failure)
        raise DBAPIError.instance(
            sql,
            None,
            failure,
            connection.dialect.loaded_dbapi.Error,
            connection_invalidated=lost,
            dialect=connection.dialect,
        ) from failure


def _positional(statement: ClauseElement, dialect: Dialect) -> tuple[str, tuple[str, ...]]:
    compiled = statement.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    return compiled.string, tuple(compiled.positiontup or ())


def _translated(adapted: Any, error: Exception) -> Any:
    """``error`` as the asyncpg adapter raises it to SQLAlchemy (its DB-API classes)."""
    try:
        adapted._handle_exception(error)
    except Exception as translated:
        return translated
    return error
