"""Who manages whom now comes from the org chart replica (trellis.orgchart): drop reporting_lines.

Revision ID: goals_0002
Revises: goals_0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "goals_0002"
down_revision = "goals_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("reporting_lines")


def downgrade() -> None:
    op.create_table(
        "reporting_lines",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("manager_id", sa.String(64), primary_key=True),
        sa.Column("employee_id", sa.String(64), primary_key=True),
        sa.Column("direct", sa.Boolean, nullable=False),
    )
