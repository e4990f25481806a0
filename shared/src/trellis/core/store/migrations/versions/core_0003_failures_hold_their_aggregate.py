"""A failing event holds its aggregate: consumer_failures records the aggregate id.

Revision ID: core_0003
Revises: core_0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "core_0003"
down_revision = "core_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("consumer_failures") as batch:
        batch.add_column(sa.Column("aggregate_id", sa.String(64)))
    op.create_index("ix_consumer_failures_aggregate", "consumer_failures", ["consumer", "aggregate_id"])


def downgrade() -> None:
    op.drop_index("ix_consumer_failures_aggregate", "consumer_failures")
    with op.batch_alter_table("consumer_failures") as batch:
        batch.drop_column("aggregate_id")
