"""Goals have a start date of their own; the view knows whether the status was set by hand
since the last progress update (a status set by hand wins until then).

Revision ID: goals_0003
Revises: goals_0002
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "goals_0003"
down_revision = "goals_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("goal_nodes") as batch:
        batch.add_column(sa.Column("start_date", sa.Date, nullable=True))
        batch.add_column(sa.Column("status_by_hand", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("goal_nodes") as batch:
        batch.drop_column("status_by_hand")
        batch.drop_column("start_date")
