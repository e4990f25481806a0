"""The org chart replica's tables (in the database of each service that keeps one).

- ``org_employees``: each employee's team, manager, title and whether they still work here;
- ``org_reporting_lines``: the closure of "reports to": one row per (manager, employee)
  pair at any depth (1 = direct), so "all reports of M" and "the chain above E" are one
  indexed query each;
- ``org_teams`` and ``org_team_tree``: teams and the closure of "is inside" (depth 0 is
  the team itself), for "everyone in this team's subtree".
"""

from __future__ import annotations

from sqlalchemy import Column, Date, Index, Integer, MetaData, String, Table

metadata = MetaData()

org_employees = Table(
    "org_employees",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("employee_id", String(64), primary_key=True),
    Column("name", String(300), nullable=False),
    Column("email", String(320), nullable=False),
    Column("title", String(300), nullable=False, default=""),
    Column("team_id", String(64)),
    Column("manager_id", String(64)),
    Column("start_date", Date, nullable=False),
    Column("status", String(20), nullable=False),  # active | offboarded
    Index("ix_org_employees_team", "tenant_id", "team_id"),
)

org_reporting_lines = Table(
    "org_reporting_lines",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("manager_id", String(64), primary_key=True),
    Column("employee_id", String(64), primary_key=True),
    Column("depth", Integer, nullable=False),
    Index("ix_org_reporting_lines_employee", "tenant_id", "employee_id"),
)

org_teams = Table(
    "org_teams",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("team_id", String(64), primary_key=True),
    Column("name", String(300), nullable=False),
    Column("parent_team_id", String(64)),
    Column("lead_id", String(64)),
)

org_team_tree = Table(
    "org_team_tree",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("ancestor_id", String(64), primary_key=True),
    Column("team_id", String(64), primary_key=True),
    Column("depth", Integer, nullable=False),
    Index("ix_org_team_tree_team", "tenant_id", "team_id"),
)
