"""The core's tables, present in every service's database.

- ``events``: the append-only event store. ``global_position`` orders all events of
  the service; ``(aggregate_id, aggregate_version)`` is unique, which is what makes a
  conflicting append fail instead of merging.
- ``outbox``: one row per event still to be published; written in the same
  transaction as the event. A row NATS can never accept is *parked* (``parked_at``,
  the reason in ``last_error``): see ``outbox.py``.
- ``processed_events``: which events each consumer has applied; written in the same
  transaction as the consumer's effect, so a redelivery is a no-op.
- ``dead_letters``: events a consumer gave up on, with the reason and the raw message.
- ``consumer_failures``: handler failures per consumer and event, for retry limits; an
  event being retried holds back the later events of its aggregate.
- ``consumer_positions``: catch-up position of consumers that read the event store
  directly, so they can resume.
- ``projection_rebuilds``: a rebuild in progress (its shadow copy's position), so an
  interrupted rebuild resumes where it stopped (see ``core/rebuild/rebuilder.py``).
- ``projection_watermarks``: "this consumer's view already holds every event up to this
  position", recorded in the transaction that swapped a rebuilt view in; the consumer
  skips what is below it and applies what is above it.
- The four consumer-state tables above (``processed_events``, ``dead_letters``,
  ``consumer_failures``, ``projection_watermarks``) are written by the consumer's ledger
  (``trellis.core.consuming.ledger``) and nothing else.
- ``consumer_leases``: which instance consumes which partition of a projection, and the
  instances' heartbeats (see ``leases.py``).
- ``deadlines``: what must be decided when a time passes (see ``deadlines.py``), read
  through a partial index on ``due_at`` of the ones not yet fired.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL wants a BIGINT.
Position = BigInteger().with_variant(Integer(), "sqlite")

events = Table(
    "events",
    metadata,
    Column("global_position", Position, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("event_type", String(200), nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("tenant_id", String(64), nullable=False),
    Column("aggregate_type", String(100), nullable=False),
    Column("aggregate_id", String(64), nullable=False),
    Column("aggregate_version", Integer, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("actor_id", String(64), nullable=False),
    Column("correlation_id", String(64), nullable=False),
    Column("causation_id", String(64)),
    Column("payload", JSON, nullable=False),
    UniqueConstraint("aggregate_id", "aggregate_version", name="uq_events_aggregate_version"),
    Index("ix_events_tenant_type", "tenant_id", "event_type"),
    Index("ix_events_occurred_at", "occurred_at"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Position, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("subject", String(500), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("published_at", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
    Column("parked_at", DateTime(timezone=True)),  # never publishable as it is: see outbox.py
    Column("traceparent", String(55)),  # the W3C trace context of the append (``core/tracing.py``)
    # Partial index: the relay only ever scans rows not yet published.
    Index(
        "ix_outbox_unpublished",
        "id",
        sqlite_where=Column("published_at").is_(None),
        postgresql_where=Column("published_at").is_(None),
    ),
    # and whether any row is parked, which it asks every pass (parked rows are rare)
    Index(
        "ix_outbox_parked",
        "id",
        sqlite_where=Column("published_at").is_(None) & Column("parked_at").is_not(None),
        postgresql_where=Column("published_at").is_(None) & Column("parked_at").is_not(None),
    ),
)

processed_events = Table(
    "processed_events",
    metadata,
    Column("consumer", String(200), primary_key=True),
    Column("event_id", String(36), primary_key=True),
    Column("processed_at", DateTime(timezone=True), nullable=False),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Position, primary_key=True, autoincrement=True),
    Column("consumer", String(200), nullable=False),
    Column("event_id", String(36)),
    Column("event_type", String(200)),
    Column("tenant_id", String(64)),
    Column("aggregate_id", String(64)),
    Column("subject", String(500), nullable=False),
    Column("stream_sequence", BigInteger),
    Column("deliveries", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("raw", LargeBinary, nullable=False),
    Column("headers", JSON),
    Column("failed_at", DateTime(timezone=True), nullable=False),
    Column("resolved_at", DateTime(timezone=True)),
    # how it was resolved: "redriven", "dropped" (with the operator's reason) or
    # "superseded" (a rebuilt view was swapped in and holds the event, or dead-lettered it again)
    Column("resolution", String(20)),
    Column("resolution_reason", Text),
    Column("resolved_by", String(200)),
    Index("ix_dead_letters_consumer_aggregate", "consumer", "aggregate_id"),
)

# How often a consumer's handler has failed on an event. Counted here, in the batch's
# transaction, rather than read from JetStream's delivery count, which also counts
# redeliveries caused by the database being down (those must never dead-letter). A row
# lives while its event is being retried and holds back later events of its aggregate,
# which line up behind it with a row each (attempts 0), applied in stream order.
consumer_failures = Table(
    "consumer_failures",
    metadata,
    Column("consumer", String(200), primary_key=True),
    Column("event_id", String(36), primary_key=True),
    Column("aggregate_id", String(64)),
    Column("stream_sequence", BigInteger),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text, nullable=False),
    Column("failed_at", DateTime(timezone=True), nullable=False),
    Index("ix_consumer_failures_aggregate", "consumer", "aggregate_id"),
)

consumer_positions = Table(
    "consumer_positions",
    metadata,
    Column("consumer", String(200), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

projection_rebuilds = Table(
    "projection_rebuilds",
    metadata,
    Column("consumer", String(200), primary_key=True),
    Column("rebuild_id", String(36), nullable=False),
    Column("kind", String(20), nullable=False),  # what ``position`` counts (see rebuild/rebuilder.py)
    Column("position", BigInteger, nullable=False),
    Column("applied", BigInteger, nullable=False),
    Column("fingerprint", String(64), nullable=False),  # of the view's table definitions
    Column("operator", String(200), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

projection_watermarks = Table(
    "projection_watermarks",
    metadata,
    Column("consumer", String(200), primary_key=True),
    Column("kind", String(20), nullable=False),  # "global_position" or "stream_sequence"
    Column("position", BigInteger, nullable=False),
    Column("rebuild_id", String(36), nullable=False),
    Column("swapped_at", DateTime(timezone=True), nullable=False),
)

deadlines = Table(
    "deadlines",
    metadata,
    Column("id", Position, primary_key=True, autoincrement=True),
    Column("key", String(300), nullable=False, unique=True),
    Column("kind", String(100), nullable=False),
    Column("tenant_id", String(64), nullable=False),
    Column("aggregate_id", String(64), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("data", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("fired_at", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
    Index(
        "ix_deadlines_due",
        "due_at",
        sqlite_where=Column("fired_at").is_(None),
        postgresql_where=Column("fired_at").is_(None),
    ),
)

consumer_leases = Table(
    "consumer_leases",
    metadata,
    Column("name", String(300), primary_key=True),  # consumer/<projection>/<partition> or instance/…
    Column("holder", String(100), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("acquired_at", DateTime(timezone=True), nullable=False),
)

idempotency_keys = Table(
    # A client's ``Idempotency-Key`` and the answer its first request got (see
    # ``trellis.core.runtime.idempotency``); ``committed_at`` is set in the command's own
    # transaction, so a key whose command committed is never run again.
    "idempotency_keys",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("actor_id", String(64), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("locked_until", DateTime(timezone=True), nullable=False),
    Column("committed_at", DateTime(timezone=True)),
    Column("status", Integer),
    Column("headers", JSON),
    Column("body", LargeBinary),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_idempotency_keys_expires_at", "expires_at"),
)
