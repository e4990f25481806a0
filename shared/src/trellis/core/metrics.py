"""Prometheus metrics of a Trellis process, served on each service's ``/metrics``.

Counters and histograms are updated where the work happens (the event store, the relay,
the consumer runner and its ledger, admission, the HTTP middleware); the figures that
live in the database or on NATS (outbox backlog, dead letters, due deadlines) are read
when ``/metrics`` is scraped (``core/runtime/metrics_api.py``). Every metric is named
``trellis_*``; docs/operations.md lists them with the alerts built on them.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# --- HTTP and admission -------------------------------------------------------------------
REQUESTS = Counter(
    "trellis_http_requests_total", "HTTP requests answered", ["service", "method", "route", "status"]
)
REQUEST_SECONDS = Histogram(
    "trellis_http_request_seconds",
    "HTTP request latency, to the end of the answer",
    ["service", "method", "route"],
    buckets=LATENCY_BUCKETS,
)
REFUSED = Counter(
    "trellis_overload_refusals_total",
    "Requests refused before any work: overloaded (503), rate limited (429), too large (413)",
    ["reason"],
)

# --- the event store and the outbox ---------------------------------------------------------
EVENTS_APPENDED = Counter("trellis_events_appended_total", "Events appended to the store", ["service"])
GROUP_COMMITS = Counter(
    "trellis_group_commits_total", "Commits of command batches under group commit", ["service"]
)
GROUP_COMMIT_COMMANDS = Counter(
    "trellis_group_commit_commands_total",
    "Commands in those batches (÷ commits: commands a commit)",
    ["service"],
)
CONFLICTS = Counter(
    "trellis_concurrency_conflicts_total", "Appends refused: the aggregate had moved on", ["service"]
)
OUTBOX_UNPUBLISHED = Gauge(
    "trellis_outbox_unpublished", "Outbox rows waiting to be published (not parked)", ["service"]
)
OUTBOX_OLDEST_SECONDS = Gauge(
    "trellis_outbox_oldest_unpublished_seconds", "Age of the oldest row waiting to be published", ["service"]
)
OUTBOX_PARKED = Gauge("trellis_outbox_parked", "Outbox rows parked: NATS can never take them", ["service"])
RELAY_PUBLISHED = Counter("trellis_relay_published_total", "Events the relay put on the stream", ["stream"])
RELAY_ERRORS = Counter(
    "trellis_relay_errors_total", "Relay passes that failed (retried after a backoff)", ["stream"]
)

# --- consumers ----------------------------------------------------------------------------
CONSUMER_LAG = Gauge(
    "trellis_consumer_lag", "Messages on the stream not yet delivered to the consumer", ["consumer"]
)
CONSUMER_BATCH_SECONDS = Histogram(
    "trellis_consumer_batch_seconds",
    "Time to apply one fetched batch and answer its messages",
    ["consumer"],
    buckets=LATENCY_BUCKETS,
)
CONSUMER_MESSAGES = Counter(
    "trellis_consumer_messages_total",
    "Messages answered, by answer (ack, or nak: retried)",
    ["consumer", "answer"],
)
DEAD_LETTERED = Counter("trellis_dead_lettered_total", "Events a consumer gave up on", ["consumer"])
DEAD_LETTERS = Gauge("trellis_dead_letters", "Dead letters waiting for an operator", ["service", "consumer"])
LEASES_HELD = Gauge("trellis_leases_held", "Consumer partitions this instance holds", ["service"])
DEADLINES_DUE = Gauge("trellis_deadlines_due", "Deadlines due and not yet handled", ["service"])

# --- webhooks -----------------------------------------------------------------------------
WEBHOOK_ATTEMPTS = Counter(
    "trellis_webhook_attempts_total", "Webhook delivery attempts, by outcome", ["outcome"]
)
