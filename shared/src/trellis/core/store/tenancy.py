"""Every read and write of a view is scoped to one tenant: the condition written once.

``scoped(tenant_id, statement)`` adds ``tenant_id = :tenant`` for every table the
statement reads from (each side of a join, each alias) or, for an ``UPDATE`` or
``DELETE``, the table it changes::

    rows = await session.execute(scoped(tenant_id, select(goal_nodes).where(goal_nodes.c.owner_id == me)))

A statement on a hot path is built once, with the tenant as a parameter, and executed
with it: ``scoped(TENANT, select(...))`` run with ``{"tenant": tenant_id, ...}``.

A table without a ``tenant_id`` column is a programming error, raised at once, so a
query cannot silently read across tenants. A subquery used as a value (``in_(...)``)
is a statement of its own: scope it too.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import BindParameter, ColumnElement, Delete, FromClause, Join, Select, Update, bindparam

Statement = TypeVar("Statement", Select[Any], Update, Delete)

# the tenant of a statement built once: ``scoped(TENANT, ...)``, executed with ``{"tenant": ...}``
TENANT: BindParameter[str] = bindparam("tenant")


def _sources(from_: FromClause) -> list[FromClause]:
    if isinstance(from_, Join):
        return [*_sources(from_.left), *_sources(from_.right)]
    return [from_]


def _condition(source: FromClause, tenant_id: str | BindParameter[str]) -> ColumnElement[bool]:
    column = source.c.get("tenant_id")
    if column is None:
        raise TypeError(f"{getattr(source, 'name', source)!s} has no tenant_id column: it cannot be scoped")
    return column == tenant_id


def _select_sources(statement: Select[Any]) -> list[FromClause]:
    """The tables and aliases a select reads: those of its columns, of ``select_from`` and
    of each ``join``. (``Select.get_final_froms()`` says the same but costs ~250 µs a call,
    ten times building the query: measured, and this runs on every read.)"""
    found: dict[int, FromClause] = {}
    candidates = [
        *statement.columns_clause_froms,
        *statement._from_obj,  # select_from(...)
        *(join[0] for join in statement._setup_joins),  # .join(target, ...)
    ]
    for candidate in candidates:
        if not isinstance(candidate, FromClause):
            raise TypeError(f"cannot scope a read of {candidate!r}: join tables, not entities")
        for source in _sources(candidate):
            found.setdefault(id(source), source)
    return list(found.values())


def scoped(tenant_id: str | BindParameter[str], statement: Statement) -> Statement:
    """``statement`` limited to the rows of ``tenant_id`` in every table it touches."""
    if isinstance(statement, Select):
        sources = _select_sources(statement)
    else:
        sources = [statement.table]
    if not sources:
        raise TypeError("the statement reads no table: nothing to scope")
    return statement.where(*(_condition(s, tenant_id) for s in sources))
