"""The HTTP kit every service shares: the command answer and the tenant scope."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, MetaData, String, Table, delete, func, select, update
from sqlalchemy.dialects import sqlite

from trellis.core.runtime.api_kit import CommandAnswer
from trellis.core.store.accepted import Accepted
from trellis.core.store.tenancy import scoped

metadata = MetaData()
things = Table("things", metadata, Column("tenant_id", String), Column("name", String))
owners = Table("owners", metadata, Column("tenant_id", String), Column("name", String))


def test_a_command_answer_carries_what_the_command_created() -> None:
    accepted = Accepted(id="g1", version=3, events=["GoalCreated"], related={"key_result_id": "kr1"})
    answer = CommandAnswer.of(accepted)
    assert answer.model_dump() == {
        "id": "g1",
        "version": 3,
        "events": ["GoalCreated"],
        "related": {"key_result_id": "kr1"},
    }


def _sql(statement: object) -> str:
    return str(statement.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))  # type: ignore[attr-defined]


def test_every_table_a_query_reads_is_scoped_to_the_tenant() -> None:
    other = owners.alias("other")
    query = scoped(
        "acme",
        select(things.c.name)
        .join(owners, owners.c.name == things.c.name)
        .join(other, other.c.name == owners.c.name)
        .where(things.c.name == "x"),
    )
    sql = _sql(query)
    assert "things.tenant_id = 'acme'" in sql
    assert "owners.tenant_id = 'acme'" in sql
    assert "other.tenant_id = 'acme'" in sql
    assert "things.name = 'x'" in sql


def test_a_joined_table_without_selected_columns_and_a_select_from_are_scoped_too() -> None:
    joined = _sql(scoped("acme", select(things.c.name).join(owners, owners.c.name == things.c.name)))
    assert "things.tenant_id = 'acme'" in joined and "owners.tenant_id = 'acme'" in joined
    counted = _sql(scoped("acme", select(func.count()).select_from(owners)))
    assert "WHERE owners.tenant_id = 'acme'" in counted


def test_a_write_is_scoped_to_the_tenant_too() -> None:
    assert "WHERE things.name = 'x' AND things.tenant_id = 'acme'" in _sql(
        scoped("acme", delete(things).where(things.c.name == "x"))
    )
    assert "WHERE things.tenant_id = 'acme'" in _sql(scoped("acme", update(things).values(name="y")))


def test_a_table_without_a_tenant_cannot_be_read_as_if_scoped() -> None:
    loose = Table("loose", metadata, Column("name", String))
    with pytest.raises(TypeError, match="loose has no tenant_id"):
        scoped("acme", select(loose))
