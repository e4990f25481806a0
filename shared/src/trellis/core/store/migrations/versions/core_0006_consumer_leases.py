"""Leases: which instance consumes which partition of a projection; instances' heartbeats.

Revision ID: core_0006
Revises: core_0005
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "core_0006"
down_revision = "core_0005"
branch_labels = None
depends_on = None

When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "consumer_leases",
        sa.Column("name", sa.String(300), primary_key=True),
        sa.Column("holder", sa.String(100), nullable=False),
        sa.Column("expires_at", When, nullable=False),
        sa.Column("acquired_at", When, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("consumer_leases")
