"""One delivered message as the consumer's ledger sees it, and what becomes of it.

A ``Delivery`` is what the ledger needs of a message of the consumer's source, with no
NATS in it: the event decoded from it (or why it could not be, with the envelope fields
still readable), the raw body and headers a dead letter keeps, the stream sequence that
orders an aggregate's line, and how often it was delivered. The runner builds one per
fetched message; a test builds them by hand.

An ``Outcome`` is what to tell the server about it once the batch has committed: ack, or
nak with a delay (to be delivered again).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from trellis.contracts.envelope import EventEnvelope, EventRegistry, RecordedEvent
from trellis.core.consuming.undecodable import Undecodable
from trellis.core.errors import MalformedEvent


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how late a failing event is retried before it is dead-lettered."""

    max_attempts: int = 5
    delays: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0)

    def delay(self, attempt: int) -> float:
        return self.delays[min(attempt - 1, len(self.delays) - 1)]


@dataclass(frozen=True, slots=True)
class Outcome:
    """Ack the message, or nak it to be delivered again after ``nak_delay`` seconds."""

    ack: bool = True
    nak_delay: float = 0.0


ACK = Outcome()


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message of the consumer's source: its event (or why there is none) and the message."""

    event: RecordedEvent | Undecodable
    subject: str
    data: bytes
    headers: Mapping[str, str] | None = None
    stream_sequence: int | None = None
    deliveries: int = 1  # how often the server has delivered it, this time included

    @classmethod
    def of(
        cls,
        registry: EventRegistry,
        *,
        subject: str,
        data: bytes,
        headers: Mapping[str, str] | None = None,
        stream_sequence: int | None = None,
        deliveries: int = 1,
    ) -> Delivery:
        """The delivery of a message, its body decoded with ``registry``."""
        message_id = (headers or {}).get("Nats-Msg-Id")
        event = decode(registry, data, message_id=str(message_id) if message_id is not None else None)
        trace = (headers or {}).get("traceparent")
        if trace and isinstance(event, RecordedEvent):
            event = dataclasses.replace(event, traceparent=trace)
        return cls(event, subject, data, headers, stream_sequence, deliveries)

    @property
    def key(self) -> tuple[str, str] | None:
        """(event id, aggregate) of an event that keeps its place in its aggregate's order;
        None for a message with no aggregate whose order it could keep."""
        item = self.event
        if isinstance(item, RecordedEvent):
            return str(item.event_id), item.aggregate_id
        if item.event_id is not None and item.aggregate_id is not None:
            return item.event_id, item.aggregate_id
        return None

    @property
    def letter(self) -> EventEnvelope | Undecodable:
        """What a dead letter records of the event."""
        return self.event.envelope if isinstance(self.event, RecordedEvent) else self.event


def decode(
    registry: EventRegistry, data: bytes, *, message_id: str | None = None
) -> RecordedEvent | Undecodable:
    """The event in a message body, or why there is none (with what its envelope still tells)."""
    try:
        envelope = EventEnvelope.model_validate_json(data)
    except Exception as exc:
        reason = f"not a Trellis event envelope: {type(exc).__name__}: {exc}"
        return Undecodable.read(data, reason, message_id=message_id)
    try:
        return registry.recorded(envelope)
    except MalformedEvent as exc:
        return _undecodable(envelope, exc.message)
    except Exception as exc:
        return _undecodable(envelope, f"{type(exc).__name__}: {exc}")


def _undecodable(envelope: EventEnvelope, reason: str) -> Undecodable:
    return Undecodable(
        reason,
        event_id=str(envelope.event_id),
        event_type=envelope.event_type,
        tenant_id=envelope.tenant_id,
        aggregate_type=envelope.aggregate_type,
        aggregate_id=envelope.aggregate_id,
        aggregate_version=envelope.aggregate_version,
        global_position=envelope.global_position,
    )
