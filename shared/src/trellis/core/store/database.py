"""Engines for the two supported databases, configured for how the core uses them.

SQLite (embedded default): one connection per engine, so the process's tasks queue for
it in asyncio (FIFO) instead of inside SQLite's busy handler, which polls with sleeps
of up to 100 ms. Statements run inline on the event loop rather than on aiosqlite's
worker thread: in WAL mode with ``synchronous=NORMAL`` a statement takes tens of
microseconds, while the thread round trips cost ~0.6 ms each (measured: 0.66 vs
0.11 ms per statement), which capped a service at a few hundred commands a second.
This relies on one process owning each database file, as in the embedded run; another
process writing the same file would stall the loop for up to the busy timeout.
Production uses PostgreSQL. ``BEGIN IMMEDIATE`` so a transaction never fails to
upgrade its lock; the driver's own transaction handling is switched off so SAVEPOINTs
(used by the consumer runner) work. Code must never hold two sessions at once.

PostgreSQL (production): asyncpg; every checkout begins its transaction at once, and that
``BEGIN`` is the liveness check (``_begin``: no ping of its own); an optional schema puts
every table of a service (or of one test) in its own namespace via ``search_path``. A
connection that runs outside a transaction (``LISTEN``) asks for ``AUTOCOMMIT``.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import aiosqlite
from sqlalchemy import ARRAY, any_, bindparam, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from trellis.core import strict_json


def one_of(column: Any, name: str, *, postgres: bool) -> Any:
    """``column`` is one of the list bound as ``name``. On PostgreSQL ``= ANY(array)``: one
    statement whatever the list's length, where an expanding ``IN`` is rendered anew per
    execution and is a new statement to prepare per length (a batch's 1,000 event ids: 3 to
    4 times slower, measured)."""
    if postgres:
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(
    url: str, *, schema: str | None = None, pool_size: int = 10, immediate: bool = True
) -> AsyncEngine:
    """An async engine for ``url`` (``sqlite+aiosqlite://`` or ``postgresql+asyncpg://``).

    ``immediate=False`` (SQLite): transactions begin DEFERRED, taking the write lock of a
    database file only when they first write to it; a rebuild uses that to write its shadow
    copy (an attached file) while reading the events, without locking the live file.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        path = parsed.database or ":memory:"

        async def connect() -> aiosqlite.Connection:
            return await _InlineConnection(
                lambda: sqlite3.connect(path, timeout=5, check_same_thread=False), 64
            )

        engine = create_async_engine(
            url,
            async_creator=connect,
            pool_size=1,
            max_overflow=0,
            pool_timeout=60,
            json_serializer=strict_json.dumps,
            json_deserializer=strict_json.loads,
        )
        _configure_sqlite(engine, "BEGIN IMMEDIATE" if immediate else "BEGIN")
        return engine
    if backend == "postgresql":
        connect_args: dict[str, Any] = {}
        if schema:
            connect_args["server_settings"] = {"search_path": schema}
        engine = create_async_engine(
            url,
            connect_args=connect_args,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_recycle=1800,
            json_serializer=strict_json.dumps,
            json_deserializer=strict_json.loads,
        )
        event.listen(engine.sync_engine, "checkout", _begin)
        return engine
    raise ValueError(f"unsupported database {backend!r}: use sqlite+aiosqlite or postgresql+asyncpg")


def _begin(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Begin the transaction at checkout (PostgreSQL), as the liveness check: a connection
    the server dropped (a failover, a restart) or left broken (a statement cancelled
    mid-way) fails its ``BEGIN`` here and is replaced before any request uses it
    (tests/test_connection_loss.py); one dropped mid-request answers 503
    (``runtime/http.py``).

    A command is three round trips (``BEGIN``, its statements, ``COMMIT``) instead of four:
    the ``BEGIN`` is the one SQLAlchemy's asyncpg adapter would send before the first
    statement anyway (it sees the transaction begun and sends none). A ping of its own cost
    one round trip more per checkout, and SQLAlchemy's ``pool_pre_ping`` on asyncpg three
    (``BEGIN``, the ping, ``ROLLBACK``: it pings in a transaction for pgbouncer's sake).
    A connection returned unused rolls back (one round trip, as a ping was); one switched
    to ``AUTOCOMMIT`` rolls back before the switch.
    """
    if dbapi_connection.isolation_level == "autocommit" or dbapi_connection._transaction is not None:
        return
    try:
        dbapi_connection.run_async(lambda _driver: dbapi_connection._start_transaction())
    except Exception as exc:  # the pool drops this connection and checks out another
        raise DisconnectionError(f"the connection failed its BEGIN: {exc!r}") from exc


class _InlineConnection(aiosqlite.Connection):
    """aiosqlite's connection, running each call on the event loop instead of its thread."""

    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)


def inline_sqlite(connection: Connection) -> sqlite3.Connection | None:
    """The sqlite3 connection under ``connection`` if statements run inline on it (this
    module's SQLite engines), for the few statements that go to the driver directly."""
    driver = connection.connection.driver_connection
    if isinstance(driver, _InlineConnection):
        raw = driver._connection
        if isinstance(raw, sqlite3.Connection):
            return raw
    return None


def _configure_sqlite(engine: AsyncEngine, begin: str) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Straight to sqlite3 (it runs inline anyway): through ``exec_driver_sql`` the
        # BEGIN cost as much as an insert, once per transaction.
        raw = inline_sqlite(conn)
        if raw is not None:
            raw.execute(begin)
        else:
            conn.exec_driver_sql(begin)
