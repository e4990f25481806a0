"""The core tables: events, outbox, processed events, dead letters, consumer positions.

Revision ID: core_0001
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "core_0001"
down_revision = None
branch_labels = ("core",)
depends_on = None

Position = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("global_position", Position, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("schema_version", sa.Integer, nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("aggregate_type", sa.String(100), nullable=False),
        sa.Column("aggregate_id", sa.String(64), nullable=False),
        sa.Column("aggregate_version", sa.Integer, nullable=False),
        sa.Column("occurred_at", When, nullable=False),
        sa.Column("recorded_at", When, nullable=False),
        sa.Column("actor_id", sa.String(64), nullable=False),
        sa.Column("correlation_id", sa.String(64), nullable=False),
        sa.Column("causation_id", sa.String(64)),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.UniqueConstraint("aggregate_id", "aggregate_version", name="uq_events_aggregate_version"),
    )
    op.create_index("ix_events_tenant_type", "events", ["tenant_id", "event_type"])
    op.create_index("ix_events_occurred_at", "events", ["occurred_at"])
    op.create_table(
        "outbox",
        sa.Column("id", Position, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("subject", sa.String(500), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("published_at", When),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
    )
    unpublished = sa.text("published_at IS NULL")
    op.create_index(
        "ix_outbox_unpublished",
        "outbox",
        ["id"],
        sqlite_where=unpublished,
        postgresql_where=unpublished,
    )
    op.create_table(
        "processed_events",
        sa.Column("consumer", sa.String(200), primary_key=True),
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("processed_at", When, nullable=False),
    )
    op.create_table(
        "dead_letters",
        sa.Column("id", Position, primary_key=True, autoincrement=True),
        sa.Column("consumer", sa.String(200), nullable=False),
        sa.Column("event_id", sa.String(36)),
        sa.Column("event_type", sa.String(200)),
        sa.Column("tenant_id", sa.String(64)),
        sa.Column("aggregate_id", sa.String(64)),
        sa.Column("subject", sa.String(500), nullable=False),
        sa.Column("stream_sequence", sa.BigInteger),
        sa.Column("deliveries", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("raw", sa.LargeBinary, nullable=False),
        sa.Column("headers", sa.JSON),
        sa.Column("failed_at", When, nullable=False),
        sa.Column("resolved_at", When),
    )
    op.create_index("ix_dead_letters_consumer_aggregate", "dead_letters", ["consumer", "aggregate_id"])
    op.create_table(
        "consumer_positions",
        sa.Column("consumer", sa.String(200), primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("updated_at", When, nullable=False),
    )


def downgrade() -> None:
    for table in ("consumer_positions", "dead_letters", "processed_events", "outbox", "events"):
        op.drop_table(table)
