"""Shadow copies of a read view's tables: built beside the live ones, swapped in atomically.

A rebuild writes into a shadow copy of each of the projection's tables while the live
view keeps serving. The copies come from the projection's own ``Table`` metadata, so
their columns, keys, indexes and constraints are the live table's:

- PostgreSQL: the same table names in a schema of their own
  (``<live schema>__<projection>``); the swap drops each live table and moves its copy
  in with ``ALTER TABLE ... SET SCHEMA``, which brings indexes, constraints and owned
  sequences along under their own names;
- SQLite: the same file, tables named ``rebuild__<table>`` (index names prefixed too, as
  they share one namespace); the swap drops each live table, renames its copy, and
  recreates its indexes under their original names (SQLite cannot rename an index),
  so later migrations find them.

Either swap runs inside the caller's transaction, so readers see the old view or the
new one, never neither.

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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import JSON as JSONType
from sqlalchemy import Column, Float, MetaData, String, Table, and_, cast, event, exists, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState
from sqlalchemy.schema import CreateIndex, CreateTable, DropTable
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import conv
from sqlalchemy.types import Numeric

SQLITE_PREFIX = "rebuild__"
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

    def __init__(self, tables: Sequence[Table], *, dialect: str, live_schema: str | None, projection: str):
        if not tables:
            raise ValueError(f"{projection} lists no tables: there is nothing to rebuild")
        self.dialect = dialect
        self.live_schema = live_schema
        self.projection = projection
        self.live = tuple(tables)
        metadata = MetaData()
        if dialect == "postgresql":
            if live_schema is None:
                raise ValueError("the live schema is needed on PostgreSQL")
            self.schema: str | None = shadow_schema_name(live_schema, projection)
            self.shadow = tuple(t.to_metadata(metadata, schema=self.schema) for t in tables)
        else:
            self.schema = None
            self.shadow = tuple(t.to_metadata(metadata, name=SQLITE_PREFIX + t.name) for t in tables)
            taken = {str(i.name) for t in tables for i in t.indexes}
            for copy in self.shadow:
                for index in copy.indexes:
                    # explicit names are shared with the live index; generated ones already
                    # carry the prefixed table name
                    if str(index.name) in taken:
                        index.name = conv(SQLITE_PREFIX + str(index.name))
        self.mapping: dict[Table, Table] = dict(zip(self.live, self.shadow, strict=True))

    @classmethod
    async def of(cls, session: AsyncSession, tables: Sequence[Table], projection: str) -> ShadowTables:
        dialect = session.get_bind().dialect.name
        schema = None
        if dialect == "postgresql":
            schema = (await session.execute(text("SELECT current_schema()"))).scalar_one()
        return cls(tables, dialect=dialect, live_schema=schema, projection=projection)

    @property
    def names(self) -> list[str]:
        return [_qualified(t) for t in self.shadow]

    def fingerprint(self) -> str:
        """Changes when the view's table definitions change (a resume must not mix the two)."""
        digest = hashlib.sha256()
        for table in self.live:
            digest.update(str(CreateTable(table).compile(dialect=_dialect(self.dialect))).encode())
            for index in sorted(table.indexes, key=lambda i: str(i.name)):
                digest.update(str(CreateIndex(index).compile(dialect=_dialect(self.dialect))).encode())
        return digest.hexdigest()[:32]

    async def exists(self, session: AsyncSession) -> bool:
        conn = await session.connection()
        found = await conn.run_sync(
            lambda c: [c.dialect.has_table(c, t.name, schema=t.schema) for t in self.shadow]
        )
        return all(found)

    async def create(self, session: AsyncSession) -> None:
        """Create empty copies (dropping any left over)."""
        await self.drop(session)
        if self.schema:
            await session.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))
        conn = await session.connection()
        await conn.run_sync(lambda c: self.shadow[0].metadata.create_all(c, tables=list(self.shadow)))

    async def drop(self, session: AsyncSession) -> None:
        if self.schema:
            await session.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
            return
        for table in reversed(self.shadow):
            await session.execute(text(f'DROP TABLE IF EXISTS "{table.name}"'))

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
        if self.schema:
            for table in self.shadow:
                await session.execute(
                    text(f'ALTER TABLE "{self.schema}"."{table.name}" SET SCHEMA "{self.live_schema}"')
                )
            await session.execute(text(f'DROP SCHEMA "{self.schema}"'))
            return
        for copy, live in zip(self.shadow, self.live, strict=True):
            await session.execute(text(f'ALTER TABLE "{copy.name}" RENAME TO "{live.name}"'))
            leftovers = await session.execute(
                text(
                    "SELECT name FROM sqlite_master"
                    " WHERE type = 'index' AND tbl_name = :t AND sql IS NOT NULL"
                ),
                {"t": live.name},
            )
            for (name,) in leftovers.all():
                await session.execute(text(f'DROP INDEX "{name}"'))
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
            rows = await session.execute(select(*[sub.c[k] for k in keys]).where(in_copy).limit(samples))
            result.samples["changed"] = [dict(r) for r in rows.mappings().all()]
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
    clean = re.sub(r"[^a-z0-9_]", "_", projection.lower())
    name = f"{live_schema}__{clean}"
    if len(name) > 63:
        name = f"{name[:54]}_{hashlib.sha1(name.encode()).hexdigest()[:8]}"
    return name


def _qualified(table: Table) -> str:
    return f"{table.schema}.{table.name}" if table.schema else table.name


def _dialect(name: str) -> Any:
    if name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.dialect()
    from sqlalchemy.dialects import sqlite

    return sqlite.dialect()
