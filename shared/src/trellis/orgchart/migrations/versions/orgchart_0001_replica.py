"""The org chart replica: employees, reporting lines (closure), teams, team tree (closure).

Revision ID: orgchart_0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "orgchart_0001"
down_revision = None
branch_labels = ("orgchart",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "org_employees",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("employee_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("team_id", sa.String(64)),
        sa.Column("manager_id", sa.String(64)),
        sa.Column("start_date", sa.Date, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
    )
    op.create_index("ix_org_employees_team", "org_employees", ["tenant_id", "team_id"])
    op.create_table(
        "org_reporting_lines",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("manager_id", sa.String(64), primary_key=True),
        sa.Column("employee_id", sa.String(64), primary_key=True),
        sa.Column("depth", sa.Integer, nullable=False),
    )
    op.create_index("ix_org_reporting_lines_employee", "org_reporting_lines", ["tenant_id", "employee_id"])
    op.create_table(
        "org_teams",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("team_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("parent_team_id", sa.String(64)),
        sa.Column("lead_id", sa.String(64)),
    )
    op.create_table(
        "org_team_tree",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("ancestor_id", sa.String(64), primary_key=True),
        sa.Column("team_id", sa.String(64), primary_key=True),
        sa.Column("depth", sa.Integer, nullable=False),
    )
    op.create_index("ix_org_team_tree_team", "org_team_tree", ["tenant_id", "team_id"])


def downgrade() -> None:
    for table in ("org_team_tree", "org_teams", "org_reporting_lines", "org_employees"):
        op.drop_table(table)
