"""Shadow copies of a read view's tables: built beside the live ones, swapped in atomically.

A rebuild writes into a shadow copy of each of the projection's tables while the live
view keeps serving. The copies come from the projection's own ``Table`` metadata, so
their columns, keys, indexes and constraints are the live table's, under the same
names, in a namespace of their own:

- PostgreSQL: a schema ``<live schema>__<projection>`` in the same database. The swap
  drops each live table and moves its copy in with ``ALTER TABLE ... SET SCHEMA``, which
  brings its indexes, constraints and owned sequences along: no data is copied.
- SQLite: a file of its own next to the service's (``<file>.rebuild-<projection>``),
  attached to the rebuild's connection as ``rebuild``. Transactions that write only to
  it do not lock the service's file, so the service writes on while the view is rebuilt
  in batches of any size. SQLite cannot move a table between files: the swap drops each
  live table, creates it again from the metadata, copies the rows over and creates its
  indexes, all in one transaction (the write lock is held for about a second per few
  hundred thousand rows of view; measured by ``bench/rebuild.py``).

Either swap runs inside the caller's transaction, so readers see the old view or the
new one, never neither. The shadow also holds the rebuild's own bookkeeping, written in
the same transactions as the rows: its position (``trellis_rebuild_state``) and the
events it could not apply (``trellis_rebuild_dead_letters``), so a resume is exact.

The projection's handlers stay as they are: ``redirect`` rewrites every statement a
session executes so that references to the live tables point at their copies
(``do_orm_execute`` sees every ``session.execute``), leaving every other table alone.
Handlers must therefore build their statements from the ``Table`` objects the
projection lists in ``tables`` (no SQL text naming them).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import JSON as JSONType
from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    MetaData,
    String,
    Table,
    and_,
    cast,
    event,
    exists,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import ORMExecuteState
from sqlalchemy.schema import CreateIndex, CreateTable, DropTable
from sqlalchemy.sql import visitors
from sqlalchemy.types import Numeric

from trellis.core.store.database import create_engine
from trellis.core.store.sessions import session_factory
from trellis.core.store.tables import dead_letters

SQLITE_SCHEMA = "rebuild"  # the shadow file's name on the rebuild's connection
_NO_OPTIONS: dict[str, Any] = {}


@dataclass
class TableDiff:
    """How a rebuilt table differs from the live one (rows compared by primary key)."""

    table: str
    live_rows: int
    rebuilt_rows: int
    only_live: int
    only_rebuilt: int
    changed: int
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def same(self) -> bool:
        return self.only_live == 0 and self.only_rebuilt == 0 and self.changed == 0


class ShadowTables:
    """The shadow copies of ``tables`` for one projection, on one database."""

    def __init__(
        self,
        tables: Sequence[Table],
        *,
        dialect: str,
        projection: str,
        live_schema: str | None = None,
        sqlite_file: str | None = None,
    ):
        if not tables:
            raise ValueError(f"{projection} lists no tables: there is nothing to rebuild")
        self.dialect = dialect
        self.projection = projection
        self.live_schema = live_schema
        self.live = tuple(tables)
        self.file: str | None = None
        if dialect == "postgresql":
            if live_schema is None:
                raise ValueError("the live schema is needed on PostgreSQL")
            self.schema = shadow_schema_name(live_schema, projection)
        else:
            if not sqlite_file:
                raise ValueError("the SQLite file is needed")
            self.schema = SQLITE_SCHEMA
            self.file = f"{sqlite_file}.rebuild-{_clean(projection)}"
        metadata = MetaData()
        self.shadow = tuple(t.to_metadata(metadata, schema=self.schema) for t in tables)
        self.mapping: dict[Table, Table] = dict(zip(self.live, self.shadow, strict=True))
        self.state = Table(
            "trellis_rebuild_state",
            metadata,
            Column("rebuild_id", String(36), primary_key=True),
            Column("position", BigInteger, nullable=False),
            Column("applied", BigInteger, nullable=False),
            schema=self.schema,
        )
        self.failures = dead_letters.to_metadata(
            metadata, schema=self.schema, name="trellis_rebuild_dead_letters"
        )

    @classmethod
    async def of(cls, engine: AsyncEngine, tables: Sequence[Table], projection: str) -> ShadowTables:
        dialect = engine.dialect.name
        if dialect == "postgresql":
            async with engine.connect() as conn:
                schema = (await conn.execute(text("SELECT current_schema()"))).scalar_one()
            return cls(tables, dialect=dialect, projection=projection, live_schema=schema)
        return cls(tables, dialect=dialect, projection=projection, sqlite_file=make_url(engine.url).database)

    @property
    def names(self) -> list[str]:
        where = self.file if self.file else self.schema
        return [f"{where}:{t.name}" for t in self.shadow]

    def fingerprint(self) -> str:
        """Changes when the view's table definitions change (a resume must not mix the two)."""
        digest = hashlib.sha256()
        dialect = _dialect(self.dialect)
        for table in self.live:
            digest.update(str(CreateTable(table).compile(dialect=dialect)).encode())
            for index in sorted(table.indexes, key=lambda i: str(i.name)):
                digest.update(str(CreateIndex(index).compile(dialect=dialect)).encode())
        return digest.hexdigest()[:32]

    @contextlib.asynccontextmanager
    async def sessions(self, engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
        """Sessions that see the live tables and the shadow. SQLite: a connection of the
        rebuild's own, with the shadow file attached, whose transactions begin deferred."""
        if self.dialect == "postgresql":
            yield session_factory(engine)
            return
        own = create_engine(str(engine.url), immediate=False)
        path = self.file

        @event.listens_for(own.sync_engine, "connect")
        def _attach(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute(f"ATTACH DATABASE '{path}' AS {SQLITE_SCHEMA}")
            cursor.execute(f"PRAGMA {SQLITE_SCHEMA}.journal_mode=WAL")
            cursor.execute(f"PRAGMA {SQLITE_SCHEMA}.synchronous=NORMAL")
            cursor.close()

        try:
            yield session_factory(own)
        finally:
            await own.dispose()

    def exists_on_disk(self) -> bool:
        """SQLite: whether the shadow file is there (attaching would create it)."""
        return self.file is None or Path(self.file).exists()

    async def exists(self, session: AsyncSession) -> bool:
        conn = await session.connection()
        tables = [*self.shadow, self.state, self.failures]
        found = await conn.run_sync(
            lambda c: [c.dialect.has_table(c, t.name, schema=t.schema) for t in tables]
        )
        return all(found)

    async def create(self, session: AsyncSession, rebuild_id: str) -> None:
        """Create empty copies and the bookkeeping (dropping whatever was left)."""
        await self.drop(session)
        if self.dialect == "postgresql":
            await session.execute(text(f'CREATE SCHEMA "{self.schema}"'))
        conn = await session.connection()
        tables = [*self.shadow, self.state, self.failures]
        await conn.run_sync(lambda c: self.state.metadata.create_all(c, tables=tables))
        await session.execute(insert(self.state).values(rebuild_id=rebuild_id, position=0, applied=0))

    async def drop(self, session: AsyncSession) -> None:
        if self.dialect == "postgresql":
            await session.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
            return
        for table in [self.failures, self.state, *reversed(self.shadow)]:
            await session.execute(text(f'DROP TABLE IF EXISTS {SQLITE_SCHEMA}."{table.name}"'))

    def remove_file(self) -> None:
        """SQLite: delete the shadow file (after the rebuild's connection is closed)."""
        if self.file:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(self.file + suffix).unlink(missing_ok=True)

    @contextlib.contextmanager
    def redirect(self, session: AsyncSession) -> Iterator[None]:
        """While inside, statements ``session`` executes use the copies instead of the live tables."""
        mapping = self.mapping

        def replace(element: Any, **_kw: Any) -> Any:
            if isinstance(element, Table):
                return mapping.get(element)
            if isinstance(element, Column):
                table = getattr(element, "table", None)
                if table in mapping:
                    return mapping[table].c[element.key]
            return None

        def rewrite(state: ORMExecuteState) -> None:
            statement: Any = state.statement
            state.statement = visitors.replacement_traverse(statement, _NO_OPTIONS, replace)

        sync_session = session.sync_session
        event.listen(sync_session, "do_orm_execute", rewrite)
        try:
            yield
        finally:
            event.remove(sync_session, "do_orm_execute", rewrite)

    async def swap(self, session: AsyncSession) -> None:
        """Replace the live tables by their copies, in the caller's transaction."""
        for table in reversed(self.live):
            await session.execute(DropTable(table))
        if self.dialect == "postgresql":
            for table in self.shadow:
                await session.execute(
                    text(f'ALTER TABLE "{self.schema}"."{table.name}" SET SCHEMA "{self.live_schema}"')
                )
            return
        for live, copy in self.mapping.items():
            await session.execute(CreateTable(live))
            columns = [c.name for c in live.columns]
            await session.execute(insert(live).from_select(columns, select(*[copy.c[c] for c in columns])))
            for index in live.indexes:
                await session.execute(CreateIndex(index))

    async def diff(self, session: AsyncSession, *, samples: int = 5) -> list[TableDiff]:
        """Compare each copy with its live table (floats to 9 places, JSON as text)."""
        return [await self._diff_table(session, live, copy, samples) for live, copy in self.mapping.items()]

    async def _diff_table(self, session: AsyncSession, live: Table, copy: Table, samples: int) -> TableDiff:
        keys = list(live.primary_key.columns.keys()) or [c.name for c in live.columns]

        def norm(table: Table) -> list[Any]:
            return [self._comparable(table.c[c.name]) for c in live.columns]

        async def count(query: Any) -> int:
            return int(
                (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
            )

        def keys_of(table: Table) -> Any:
            return select(*[table.c[k] for k in keys])

        only_live_q = keys_of(live).except_(keys_of(copy))
        only_rebuilt_q = keys_of(copy).except_(keys_of(live))
        differing_q = select(*norm(live)).except_(select(*norm(copy)))
        only_live = await count(only_live_q)
        only_rebuilt = await count(only_rebuilt_q)
        changed = await count(differing_q) - only_live
        result = TableDiff(
            table=live.name,
            live_rows=await count(select(live)),
            rebuilt_rows=await count(select(copy)),
            only_live=only_live,
            only_rebuilt=only_rebuilt,
            changed=changed,
        )
        for label, query in (("only_live", only_live_q), ("only_rebuilt", only_rebuilt_q)):
            rows = (await session.execute(query.limit(samples))).mappings().all()
            if rows:
                result.samples[label] = [dict(r) for r in rows]
        if changed:
            sub = differing_q.subquery()
            in_copy = exists().where(and_(*[copy.c[k] == sub.c[k] for k in keys]))
            found = await session.execute(select(*[sub.c[k] for k in keys]).where(in_copy).limit(samples))
            result.samples["changed"] = [dict(r) for r in found.mappings().all()]
        return result

    def _comparable(self, column: Any) -> Any:
        if isinstance(column.type, JSONType):
            return cast(column, String).label(column.name)
        if isinstance(column.type, Float):
            value = cast(column, Numeric) if self.dialect == "postgresql" else column
            return func.round(value, 9).label(column.name)
        return column


def shadow_schema_name(live_schema: str, projection: str) -> str:
    """``<live>__<projection>``, within PostgreSQL's 63 characters."""
    name = f"{live_schema}__{_clean(projection)}"
    if len(name) > 63:
        name = f"{name[:54]}_{hashlib.sha1(name.encode()).hexdigest()[:8]}"
    return name


def _clean(name: str) -> str:
    return re.sub(r"[^a-z0-9_]", "_", name.lower())


def _dialect(name: str) -> Dialect:
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql.base import PGDialect

        postgresql: Callable[[], Dialect] = PGDialect  # its __init__ is not annotated
        return postgresql()
    from sqlalchemy.dialects.sqlite.base import SQLiteDialect

    return SQLiteDialect()
