"""The notifications service's tables (besides the core's and the org chart replica).

What the reactions know about the other services, kept by the reaction that consumes
their stream, in the transaction that decides who an event affects (so the answer is
exactly as of that event, whatever the lag of any other view):

- ``ntf_goals``: goal ownership and the alignment tree (goal → parent, owner, level, status);
- ``ntf_onboarding_plans``: whose plan it is, their manager and mentor;
- ``ntf_review_assignments``: who reviews whom in a cycle and what is still to submit.

The inbox read view (a projection of this service's own notification events):

- ``inbox_notifications``.

Webhooks (state, not views: written by the commands and the delivery worker):

- ``webhook_subscriptions``: each subscription's current settings (projected inline from
  its events, in the command's transaction) and its delivery health (the worker's);
- ``webhook_secrets``: signing secrets, never in an event, so a rotated one can be dropped;
- ``webhook_deliveries``: one row per (event, subscription), or per replayed event, with
  the exact body to send on every attempt and where its retries stand;
- ``webhook_attempts``: the delivery log, one row per HTTP attempt.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()
When = DateTime(timezone=True)
# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL wants a BIGINT.
Sequence = BigInteger().with_variant(Integer(), "sqlite")

ntf_goals = Table(
    "ntf_goals",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("goal_id", String(64), primary_key=True),
    Column("level", String(20), nullable=False),
    Column("title", String(500), nullable=False),
    Column("owner_id", String(64), nullable=False),
    Column("parent_id", String(64)),
    Column("status", String(20), nullable=False),
    Index("ix_ntf_goals_parent", "tenant_id", "parent_id"),
)

ntf_onboarding_plans = Table(
    "ntf_onboarding_plans",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("plan_id", String(64), primary_key=True),
    Column("employee_id", String(64), nullable=False),
    Column("manager_id", String(64)),
    Column("mentor_id", String(64)),
)

ntf_review_assignments = Table(
    "ntf_review_assignments",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("review_id", String(64), primary_key=True),
    Column("cycle_id", String(64), nullable=False),
    Column("reviewer_id", String(64), nullable=False),
    Column("subject_id", String(64), nullable=False),
    Column("submitted", Boolean, nullable=False),
    Index("ix_ntf_review_assignments_cycle", "tenant_id", "cycle_id"),
)

inbox_notifications = Table(
    "inbox_notifications",
    metadata,
    Column("notification_id", String(36), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("recipient_id", String(80), nullable=False),
    Column("type", String(100), nullable=False),
    Column("text", Text, nullable=False),
    Column("subject", JSON),
    Column("cause_event_id", String(36), nullable=False),
    Column("cause_event_type", String(200), nullable=False),
    Column("cause_service", String(50), nullable=False),
    Column("held_for_digest", Boolean, nullable=False),
    Column("digest_date", Date),
    Column("items", JSON, nullable=False),
    Column("created_at", When, nullable=False),
    Column("read_at", When),
    Column("read_by", String(64)),
    Index("ix_inbox_recipient_created", "tenant_id", "recipient_id", "created_at"),
)

webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("subscription_id", String(36), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("url", String(2000), nullable=False),
    Column("event_types", JSON, nullable=False),
    Column("description", Text, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("disabled_reason", String(50)),
    Column("deleted", Boolean, nullable=False),
    Column("consecutive_failures", Integer, nullable=False),
    Column("created_at", When, nullable=False),
    Column("updated_at", When, nullable=False),
    Index("ix_webhook_subscriptions_tenant", "tenant_id"),
)

webhook_secrets = Table(
    "webhook_secrets",
    metadata,
    Column("id", Sequence, primary_key=True, autoincrement=True),
    Column("subscription_id", String(36), nullable=False, index=True),
    Column("secret", Text, nullable=False),  # sealed: webhooks/secret_box.py
    Column("created_at", When, nullable=False),
    Column("expires_at", When),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    # Order of creation: deliveries of one aggregate to one subscription go out in this order.
    Column("seq", Sequence, primary_key=True, autoincrement=True),
    Column("delivery_id", String(36), nullable=False, unique=True),
    Column("tenant_id", String(64), nullable=False),
    Column("subscription_id", String(36), nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("event_type", String(200), nullable=False),
    Column("aggregate_id", String(64), nullable=False),
    Column("occurred_at", When, nullable=False),
    Column("webhook_id", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(20), nullable=False),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False),  # in the current round (manual redelivery starts one)
    Column("total_attempts", Integer, nullable=False),
    Column("next_attempt_at", When, nullable=False),
    Column("leased_until", When),
    Column("last_status_code", Integer),
    Column("last_error", Text),
    Column("replay_id", String(36)),
    Column("created_at", When, nullable=False),
    Column("finished_at", When),
    Column("traceparent", String(55)),  # the trace of the event it delivers (core/tracing.py)
    Index(
        "ix_webhook_deliveries_due",
        "next_attempt_at",
        sqlite_where=Column("status") == "pending",
        postgresql_where=Column("status") == "pending",
    ),
    Index("ix_webhook_deliveries_order", "subscription_id", "aggregate_id", "seq"),
    Index("ix_webhook_deliveries_subscription", "subscription_id", "seq"),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", Sequence, primary_key=True, autoincrement=True),
    Column("delivery_id", String(36), nullable=False, index=True),
    Column("subscription_id", String(36), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("attempted_at", When, nullable=False),
    Column("status_code", Integer),
    Column("latency_ms", Float, nullable=False),
    Column("response_excerpt", Text, nullable=False),
    Column("error", Text),
    Column("outcome", String(20), nullable=False),  # delivered | retrying | failed
)
