"""The goals service's read views: alignment tree nodes, key results, reporting lines, links.

Revision ID: goals_0001
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "goals_0001"
down_revision = None
branch_labels = ("goals",)
depends_on = "core_0001"

When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "goal_nodes",
        sa.Column("goal_id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("level", sa.String(20), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("description", sa.String, nullable=False),
        sa.Column("owner_id", sa.String(64), nullable=False),
        sa.Column("team_id", sa.String(64)),
        sa.Column("period", sa.String(50), nullable=False),
        sa.Column("due_date", sa.Date),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("parent_id", sa.String(64)),
        sa.Column("progress_rollup", sa.String(20), nullable=False),
        sa.Column("weight", sa.Float, nullable=False),
        sa.Column("progress", sa.Float, nullable=False),
        sa.Column("realignment_causes", sa.JSON, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("updated_at", When, nullable=False),
    )
    op.create_index("ix_goal_nodes_tenant_level", "goal_nodes", ["tenant_id", "level"])
    op.create_index("ix_goal_nodes_parent", "goal_nodes", ["parent_id"])
    op.create_index("ix_goal_nodes_owner", "goal_nodes", ["tenant_id", "owner_id"])
    op.create_table(
        "goal_key_results",
        sa.Column("key_result_id", sa.String(64), primary_key=True),
        sa.Column("goal_id", sa.String(64), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("start", sa.Float, nullable=False),
        sa.Column("target", sa.Float, nullable=False),
        sa.Column("current", sa.Float, nullable=False),
        sa.Column("unit", sa.String(50), nullable=False),
        sa.Column("weight", sa.Float, nullable=False),
        sa.Column("progress", sa.Float, nullable=False),
        sa.Column("confidence", sa.Integer),
        sa.Column("updated_at", When, nullable=False),
    )
    op.create_index("ix_goal_key_results_goal_id", "goal_key_results", ["goal_id"])
    op.create_table(
        "reporting_lines",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("manager_id", sa.String(64), primary_key=True),
        sa.Column("employee_id", sa.String(64), primary_key=True),
        sa.Column("direct", sa.Boolean, nullable=False),
    )
    op.create_table(
        "realignment_links",
        sa.Column("goal_id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("parent_id", sa.String(64)),
        sa.Column("retired", sa.Boolean, nullable=False),
    )
    op.create_index("ix_realignment_links_parent_id", "realignment_links", ["parent_id"])


def downgrade() -> None:
    for table in ("realignment_links", "reporting_lines", "goal_key_results", "goal_nodes"):
        op.drop_table(table)
