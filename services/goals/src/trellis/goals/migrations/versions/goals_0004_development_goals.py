"""A goal's kind: ``development`` goals are seen only by their owner, the owner's managers and hr.

Revision ID: goals_0004
Revises: goals_0003
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "goals_0004"
down_revision = "goals_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("goal_nodes") as batch:
        batch.add_column(sa.Column("kind", sa.String(20), nullable=False, server_default="performance"))


def downgrade() -> None:
    with op.batch_alter_table("goal_nodes") as batch:
        batch.drop_column("kind")
