"""The HTTP kit every service shares: the command answer and the tenant scope."""

from __future__ import annotations

from sqlalchemy import Column, MetaData, String, Table
from sqlalchemy.dialects import sqlite

from trellis.core.runtime.api_kit import CommandAnswer
from trellis.core.store.accepted import Accepted
from trellis.core.store.tenancy import for_tenant, select_for

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


def test_every_table_a_query_reads_is_scoped_to_the_tenant() -> None:
    query = select_for("acme", things, things.c.name == "x").where(*for_tenant("acme", owners))
    sql = str(query.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
    assert "things.tenant_id = 'acme'" in sql
    assert "owners.tenant_id = 'acme'" in sql
    assert "things.name = 'x'" in sql
