"""Domain events, their envelope, and the registry that maps type names to classes.

One way to define an event::

    @event("GoalCreated", version=1, aggregate="goal", registry=registry)
    class GoalCreated(DomainEvent):
        title: str

An event declared ``published=False`` is private to its service: it is stored (it is
part of the aggregate's history) but never put on the stream, so no other service,
webhook or log of the bus ever sees it. Private notes and anonymous feedback's
protected parts are recorded that way.

The registry knows every event class, turns stored or received JSON back into
typed events (running upcasters from older schema versions first), and exports
a JSON Schema per event type.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from trellis.contracts.errors import MalformedEvent, UnknownEventType
from trellis.contracts.ids import uuid7


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class DomainEvent(BaseModel):
    """The payload of an event: what happened, in the domain's words. Immutable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    schema_version: ClassVar[int]
    aggregate_type: ClassVar[str | None] = None  # the aggregate it belongs to, for the docs
    published: ClassVar[bool] = True  # False: stored, never put on the stream


class Metadata(BaseModel):
    """Who caused a change and why: carried from the command into every event it produces."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    actor_id: str
    correlation_id: str = Field(default_factory=lambda: str(uuid7()))
    causation_id: str | None = None


class EventEnvelope(BaseModel):
    """An event as stored and as sent on the wire (JSON)."""

    model_config = ConfigDict(frozen=True)

    event_id: uuid.UUID = Field(default_factory=uuid7)
    event_type: str
    schema_version: int
    tenant_id: str
    aggregate_type: str
    aggregate_id: str
    aggregate_version: int
    occurred_at: dt.datetime = Field(default_factory=utcnow)
    actor_id: str
    correlation_id: str
    causation_id: str | None = None
    payload: dict[str, Any]
    # Set by the event store on append; None before an event is stored.
    global_position: int | None = None


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """A stored event with its payload decoded into the current schema version."""

    envelope: EventEnvelope
    event: DomainEvent
    traceparent: str | None = None  # the trace it came with (a NATS header), if any

    @property
    def event_id(self) -> uuid.UUID:
        return self.envelope.event_id

    @property
    def aggregate_id(self) -> str:
        return self.envelope.aggregate_id

    @property
    def tenant_id(self) -> str:
        return self.envelope.tenant_id


E = TypeVar("E", bound=type[DomainEvent])
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class EventRegistry:
    """Event type name → class, plus upcasters from each older schema version."""

    def __init__(self) -> None:
        self._classes: dict[str, type[DomainEvent]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}

    def register(self, cls: type[DomainEvent]) -> None:
        existing = self._classes.get(cls.event_type)
        if existing is not None and existing is not cls:
            raise ValueError(f"event type {cls.event_type!r} registered twice")
        self._classes[cls.event_type] = cls

    def upcaster(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Register a function turning a payload of ``from_version`` into ``from_version + 1``."""

        def decorate(fn: Upcaster) -> Upcaster:
            self._upcasters[(event_type, from_version)] = fn
            return fn

        return decorate

    def __contains__(self, event_type: str) -> bool:
        return event_type in self._classes

    def types(self) -> Iterable[type[DomainEvent]]:
        return self._classes.values()

    def upcast_from(self, event_type: str) -> list[int]:
        """The older schema versions of ``event_type`` that are upcast on read."""
        return sorted(v for (name, v) in self._upcasters if name == event_type)

    def decode(self, envelope: EventEnvelope) -> DomainEvent:
        return self.decode_payload(envelope.event_type, envelope.schema_version, envelope.payload)

    def decode_payload(self, event_type: str, schema_version: int, payload: dict[str, Any]) -> DomainEvent:
        """The typed event for a stored payload, upcast to the current schema version."""
        cls = self._classes.get(event_type)
        if cls is None:
            raise UnknownEventType(f"unknown event type {event_type!r}")
        version = schema_version
        if version > cls.schema_version:
            raise MalformedEvent(
                f"{event_type} has schema version {version}, "
                f"newer than the {cls.schema_version} this code knows"
            )
        while version < cls.schema_version:
            up = self._upcasters.get((event_type, version))
            if up is None:
                raise MalformedEvent(f"no upcaster for {event_type} from version {version}")
            try:
                payload = up(dict(payload))
            except Exception as exc:  # a payload its upcaster cannot read is as undecodable
                raise MalformedEvent(f"{event_type} version {version} cannot be upcast: {exc!r}") from exc
            version += 1
        try:
            return cls.model_validate(payload)
        except ValidationError as exc:
            raise MalformedEvent(f"{event_type} payload invalid: {exc}") from exc

    def recorded(self, envelope: EventEnvelope) -> RecordedEvent:
        """The event decoded; an envelope of an older schema version is given the upcast
        payload and the current version, so whoever passes the envelope on (webhooks, the
        history) shows what the current contract describes, never the stored old form (a
        version 1 payload may hold nulls its upcaster gives a meaning to)."""
        decoded = self.decode(envelope)
        if envelope.schema_version < decoded.schema_version:
            envelope = envelope.model_copy(
                update={"schema_version": decoded.schema_version, "payload": decoded.model_dump(mode="json")}
            )
        return RecordedEvent(envelope=envelope, event=decoded)

    def json_schemas(self) -> dict[str, dict[str, Any]]:
        """JSON Schema of each event type's payload, keyed by type name."""
        out: dict[str, dict[str, Any]] = {}
        for name, cls in sorted(self._classes.items()):
            schema = cls.model_json_schema()
            schema["x-event-type"] = name
            schema["x-schema-version"] = cls.schema_version
            if older := self.upcast_from(name):
                schema["x-upcast-from"] = older
            if cls.aggregate_type:
                schema["x-aggregate-type"] = cls.aggregate_type
            schema["x-published"] = cls.published
            out[name] = schema
        return out

    @staticmethod
    def envelope_schema() -> dict[str, Any]:
        return EventEnvelope.model_json_schema()


def event(
    name: str,
    *,
    version: int = 1,
    aggregate: str | None = None,
    published: bool = True,
    registry: EventRegistry | None = None,
) -> Callable[[E], E]:
    """Class decorator naming an event type, its current schema version and its aggregate type.

    ``published=False`` keeps the event in its service's store only (never on the stream).
    """

    def decorate(cls: E) -> E:
        cls.event_type = name
        cls.schema_version = version
        cls.aggregate_type = aggregate
        cls.published = published
        if registry is not None:
            registry.register(cls)
        return cls

    return decorate
