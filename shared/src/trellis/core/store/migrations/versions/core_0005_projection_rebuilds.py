"""Rebuilds without downtime: the shadow's progress, the watermark of a swapped-in view,
and how a dead letter was resolved (redriven, dropped, superseded by a rebuild); the
stream sequence of events lined up behind a retried one (applied in that order).

Revision ID: core_0005
Revises: core_0004
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "core_0005"
down_revision = "core_0004"
branch_labels = None
depends_on = None

When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "projection_rebuilds",
        sa.Column("consumer", sa.String(200), primary_key=True),
        sa.Column("rebuild_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("applied", sa.BigInteger, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("operator", sa.String(200), nullable=False),
        sa.Column("started_at", When, nullable=False),
        sa.Column("updated_at", When, nullable=False),
    )
    op.create_table(
        "projection_watermarks",
        sa.Column("consumer", sa.String(200), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("rebuild_id", sa.String(36), nullable=False),
        sa.Column("swapped_at", When, nullable=False),
    )
    with op.batch_alter_table("dead_letters") as batch:
        batch.add_column(sa.Column("resolution", sa.String(20)))
        batch.add_column(sa.Column("resolution_reason", sa.Text))
        batch.add_column(sa.Column("resolved_by", sa.String(200)))
    with op.batch_alter_table("consumer_failures") as batch:
        batch.add_column(sa.Column("stream_sequence", sa.BigInteger))


def downgrade() -> None:
    with op.batch_alter_table("consumer_failures") as batch:
        batch.drop_column("stream_sequence")
    with op.batch_alter_table("dead_letters") as batch:
        batch.drop_column("resolved_by")
        batch.drop_column("resolution_reason")
        batch.drop_column("resolution")
    op.drop_table("projection_watermarks")
    op.drop_table("projection_rebuilds")
