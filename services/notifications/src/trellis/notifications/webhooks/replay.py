"""Reading a time range of events back from the streams, for a replay to one subscription.

The other services' events are not in this service's database, but every stream keeps
its events for ever, so a replay reads them from JetStream: an ephemeral consumer per
stream, starting at the range's start time (a little earlier, since an event reaches the
stream shortly after it occurred), filtered to the tenant's subjects, read until the
stream's end or well past the range's end. Events are kept when their ``occurred_at``
lies in the range.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import FetchTimeoutError, NotFoundError

from trellis.contracts import registry_of
from trellis.contracts.envelope import EventEnvelope
from trellis.contracts.subjects import Subjects
from trellis.core.errors import MalformedEvent

# How much earlier than the range's start to begin reading, and how far past its end to
# keep reading: the time between an event occurring and its relay putting it on the stream.
PUBLISH_LAG = dt.timedelta(minutes=5)
BATCH = 500


async def events_in_range(
    js: Any,
    subjects: Subjects,
    service: str,
    tenant_id: str,
    since: dt.datetime,
    until: dt.datetime,
) -> AsyncIterator[EventEnvelope]:
    """Every event of ``service``'s stream for ``tenant_id`` that occurred in [since, until), in
    stream order, upcast to the current schema. An event that cannot be read is skipped
    (it was never delivered either: the consumers dead-letter it)."""
    stream = subjects.stream(service)
    registry = registry_of(service)
    name = f"replay-{uuid.uuid4().hex[:16]}"
    config = ConsumerConfig(
        name=name,
        ack_policy=AckPolicy.NONE,
        deliver_policy=DeliverPolicy.BY_START_TIME,
        opt_start_time=since - PUBLISH_LAG,
        filter_subject=subjects.matching(service, tenant_id=tenant_id),
        inactive_threshold=60.0,
        mem_storage=True,
    )
    try:
        await js.add_consumer(stream, config=config)
    except NotFoundError:
        return  # the service has never published anything
    sub = None
    try:
        sub = await js.pull_subscribe_bind(durable=name, stream=stream)
        while True:
            try:
                msgs = await sub.fetch(BATCH, timeout=1.0)
            except (FetchTimeoutError, NatsTimeoutError, TimeoutError):
                return
            for msg in msgs:
                if msg.metadata.timestamp and _aware(msg.metadata.timestamp) > until + PUBLISH_LAG:
                    return
                try:
                    # upcast as a live delivery is: a replayed old event shows the current
                    # contract, never the stored form (a version 1 payload may hold nulls)
                    envelope = registry.recorded(EventEnvelope.model_validate_json(msg.data)).envelope
                except (ValueError, MalformedEvent):
                    continue
                if since <= envelope.occurred_at < until:
                    yield envelope
            if msgs and msgs[-1].metadata.num_pending == 0:
                return
    finally:
        if sub is not None:  # else a connection draining later waits for it (30 s)
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        with contextlib.suppress(Exception):  # it goes away by itself once inactive
            await js.delete_consumer(stream, name)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
