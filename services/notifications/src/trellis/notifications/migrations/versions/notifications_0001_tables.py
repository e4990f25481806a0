"""The notifications service's tables: what it knows of the other services, the inbox, webhooks.

Revision ID: notifications_0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "notifications_0001"
down_revision = None
branch_labels = ("notifications",)
depends_on = "core_0001"

When = sa.DateTime(timezone=True)
Sequence = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    op.create_table(
        "ntf_goals",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("goal_id", sa.String(64), primary_key=True),
        sa.Column("level", sa.String(20), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("owner_id", sa.String(64), nullable=False),
        sa.Column("parent_id", sa.String(64)),
        sa.Column("status", sa.String(20), nullable=False),
    )
    op.create_index("ix_ntf_goals_parent", "ntf_goals", ["tenant_id", "parent_id"])
    op.create_table(
        "ntf_onboarding_plans",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("plan_id", sa.String(64), primary_key=True),
        sa.Column("employee_id", sa.String(64), nullable=False),
        sa.Column("manager_id", sa.String(64)),
        sa.Column("mentor_id", sa.String(64)),
    )
    op.create_table(
        "ntf_review_assignments",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("review_id", sa.String(64), primary_key=True),
        sa.Column("cycle_id", sa.String(64), nullable=False),
        sa.Column("reviewer_id", sa.String(64), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("submitted", sa.Boolean, nullable=False),
    )
    op.create_index("ix_ntf_review_assignments_cycle", "ntf_review_assignments", ["tenant_id", "cycle_id"])
    op.create_table(
        "inbox_notifications",
        sa.Column("notification_id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("recipient_id", sa.String(80), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("subject", sa.JSON),
        sa.Column("cause_event_id", sa.String(36), nullable=False),
        sa.Column("cause_event_type", sa.String(200), nullable=False),
        sa.Column("cause_service", sa.String(50), nullable=False),
        sa.Column("held_for_digest", sa.Boolean, nullable=False),
        sa.Column("digest_date", sa.Date),
        sa.Column("items", sa.JSON, nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("read_at", When),
        sa.Column("read_by", sa.String(64)),
    )
    op.create_index(
        "ix_inbox_recipient_created", "inbox_notifications", ["tenant_id", "recipient_id", "created_at"]
    )
    op.create_table(
        "webhook_subscriptions",
        sa.Column("subscription_id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("event_types", sa.JSON, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("disabled_reason", sa.String(50)),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("consecutive_failures", sa.Integer, nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("updated_at", When, nullable=False),
    )
    op.create_index("ix_webhook_subscriptions_tenant", "webhook_subscriptions", ["tenant_id"])
    op.create_table(
        "webhook_secrets",
        sa.Column("id", Sequence, primary_key=True, autoincrement=True),
        sa.Column("subscription_id", sa.String(36), nullable=False),
        sa.Column("secret", sa.String(200), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("expires_at", When),
    )
    op.create_index("ix_webhook_secrets_subscription_id", "webhook_secrets", ["subscription_id"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("seq", Sequence, primary_key=True, autoincrement=True),
        sa.Column("delivery_id", sa.String(36), nullable=False, unique=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("subscription_id", sa.String(36), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("aggregate_id", sa.String(64), nullable=False),
        sa.Column("occurred_at", When, nullable=False),
        sa.Column("webhook_id", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("total_attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", When, nullable=False),
        sa.Column("leased_until", When),
        sa.Column("last_status_code", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("replay_id", sa.String(36)),
        sa.Column("created_at", When, nullable=False),
        sa.Column("finished_at", When),
    )
    op.create_index(
        "ix_webhook_deliveries_due",
        "webhook_deliveries",
        ["next_attempt_at"],
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )
    op.create_index(
        "ix_webhook_deliveries_order", "webhook_deliveries", ["subscription_id", "aggregate_id", "seq"]
    )
    op.create_index("ix_webhook_deliveries_subscription", "webhook_deliveries", ["subscription_id", "seq"])
    op.create_table(
        "webhook_attempts",
        sa.Column("id", Sequence, primary_key=True, autoincrement=True),
        sa.Column("delivery_id", sa.String(36), nullable=False),
        sa.Column("subscription_id", sa.String(36), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("attempted_at", When, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("response_excerpt", sa.Text, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("outcome", sa.String(20), nullable=False),
    )
    op.create_index("ix_webhook_attempts_delivery_id", "webhook_attempts", ["delivery_id"])


def downgrade() -> None:
    for table in (
        "webhook_attempts",
        "webhook_deliveries",
        "webhook_secrets",
        "webhook_subscriptions",
        "inbox_notifications",
        "ntf_review_assignments",
        "ntf_onboarding_plans",
        "ntf_goals",
    ):
        op.drop_table(table)
