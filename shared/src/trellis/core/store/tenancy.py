"""Every read of a view is scoped to one tenant: the conditions written once.

``for_tenant(tenant_id, goals, people)`` is the list of conditions a query over those
tables needs; ``select_for(tenant_id, goals)`` a select of one table's rows of a tenant.
A view table without a ``tenant_id`` column is a programming error, caught at once.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, Table, select


def for_tenant(tenant_id: str, *tables: Table) -> list[ColumnElement[bool]]:
    """The tenant condition of each table a query reads."""
    return [table.c.tenant_id == tenant_id for table in tables]


def select_for(tenant_id: str, table: Table, *conditions: ColumnElement[bool]) -> Select[tuple[object, ...]]:
    """The rows of ``table`` that belong to ``tenant_id`` (and meet ``conditions``)."""
    return select(table).where(*for_tenant(tenant_id, table), *conditions)
