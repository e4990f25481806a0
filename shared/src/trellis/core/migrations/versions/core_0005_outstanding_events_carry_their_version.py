"""Outstanding events (failing or waiting) record their aggregate version, so an aggregate's
events are applied in version order however they are redelivered.

Revision ID: core_0005
Revises: core_0004
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "core_0005"
down_revision = "core_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("consumer_failures") as batch:
        batch.add_column(sa.Column("aggregate_version", sa.Integer))


def downgrade() -> None:
    with op.batch_alter_table("consumer_failures") as batch:
        batch.drop_column("aggregate_version")
