"""Deadlines: what must be decided when a time passes, read by a partial index on due_at.

Revision ID: core_0004
Revises: core_0003
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "core_0004"
down_revision = "core_0003"
branch_labels = None
depends_on = None

When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "deadlines",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("key", sa.String(300), nullable=False, unique=True),
        sa.Column("kind", sa.String(100), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("aggregate_id", sa.String(64), nullable=False),
        sa.Column("due_at", When, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("fired_at", When),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
    )
    armed = sa.text("fired_at IS NULL")
    op.create_index("ix_deadlines_due", "deadlines", ["due_at"], sqlite_where=armed, postgresql_where=armed)


def downgrade() -> None:
    op.drop_table("deadlines")
