"""The AsyncAPI 3.0 document of a service's events, generated from its event registry.

What a service publishes (one channel per event type, on the subject scheme of
``subjects.py``, with the envelope and the typed payload as the message) and what it
consumes from other services (its projections' event types). Payload schemas come
from the same pydantic models the code validates with, so the document cannot drift
from the code.

Versions have holes by design: ``aggregate_version`` numbers every event of the
aggregate in its service's store, private ones (``published=False``) included, and
private events never reach the stream. A consumer of check-ins sees version 1
``CheckInScheduled`` then 3 ``CheckInCompleted``: version 2 was a private
``CheckInNotesRecorded``. The document says so (``VERSION_GAPS``), and names, per
aggregate type, the private event types that make the holes (``x-private-events``), so
that a consumer of an aggregate type without any knows every hole is a lost event.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from trellis.contracts.envelope import DomainEvent, EventEnvelope, EventRegistry
from trellis.contracts.subjects import Subjects

_REF = "#/components/schemas/{model}"

VERSION_GAPS = (
    "`aggregate_version` numbers every event of the aggregate in its service's own store, "
    "private events (never published) included: the versions a consumer sees of one aggregate "
    "increase but may skip numbers, wherever a private event sits (a check-in's 1 "
    "`CheckInScheduled`, then 3 `CheckInCompleted`, 2 being its private notes). A hole is "
    "not a lost event. `x-private-events` lists, per aggregate type, the private event types; "
    "for an aggregate type not listed there every version is published, and a hole would be a "
    "lost event. The stream itself has no holes: the relay publishes each service's events in "
    "commit order with `Nats-Expected-Last-Sequence`, so a consumer reading the stream in "
    "order misses nothing."
)


def _schema(model: type[Any], schemas: dict[str, Any]) -> dict[str, Any]:
    """``model``'s JSON Schema with its definitions hoisted into ``schemas``."""
    schema: dict[str, Any] = model.model_json_schema(ref_template=_REF)
    schemas.update(schema.pop("$defs", {}))
    return schema


def _channel_address(subjects: Subjects, service: str, cls: type[DomainEvent]) -> str:
    aggregate = cls.aggregate_type or "{aggregate_type}"
    return f"{subjects.root}.{service}.{aggregate}.{cls.event_type}.{{tenant_id}}.{{aggregate_id}}"


def asyncapi_document(
    *,
    service: str,
    title: str,
    version: str,
    description: str,
    registry: EventRegistry,
    subjects: Subjects,
    consumes: Iterable[tuple[str, EventRegistry, Iterable[str]]] = (),
    nats_url: str = "nats://127.0.0.1:14222",
) -> dict[str, Any]:
    """The document. ``consumes`` lists (source service, its registry, event types)."""
    schemas: dict[str, Any] = {}
    envelope = _schema(EventEnvelope, schemas)
    envelope["properties"]["aggregate_version"]["description"] = VERSION_GAPS
    private = private_events(registry)
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    operations: dict[str, Any] = {}

    def add(source: str, cls: type[DomainEvent], action: str) -> None:
        key = cls.event_type if source == service else f"{source}.{cls.event_type}"
        payload = _schema(cls, schemas)
        schemas[f"{key}.payload"] = payload
        body = copy.deepcopy(envelope)
        body["title"] = f"{cls.event_type} envelope"
        body["properties"]["event_type"] = {"const": cls.event_type}
        body["properties"]["schema_version"] = {"const": cls.schema_version}
        body["properties"]["payload"] = {"$ref": _REF.format(model=f"{key}.payload")}
        if cls.aggregate_type:
            body["properties"]["aggregate_type"] = {"const": cls.aggregate_type}
        holes = private.get(cls.aggregate_type or "", []) if source == service else []
        messages[key] = {
            "name": cls.event_type,
            "title": cls.event_type,
            "summary": (cls.__doc__ or "").strip().split("\n")[0],
            **(
                {
                    "description": f"`aggregate_version` skips the versions of this aggregate's "
                    f"private events ({', '.join(holes)}): a hole is not a lost event."
                }
                if holes
                else {}
            ),
            "contentType": "application/json",
            "headers": {
                "type": "object",
                "properties": {"Nats-Msg-Id": {"type": "string", "description": "the event id"}},
            },
            "payload": body,
        }
        channels[key] = {
            "address": _channel_address(subjects, source, cls),
            "parameters": {
                "tenant_id": {"description": "the organisation"},
                "aggregate_id": {"description": "the aggregate the event belongs to"},
            },
            "messages": {cls.event_type: {"$ref": f"#/components/messages/{key}"}},
        }
        verb = "publish" if action == "send" else "consume"
        operations[f"{verb}.{key}"] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{key}"},
            "messages": [{"$ref": f"#/channels/{key}/messages/{cls.event_type}"}],
        }

    for cls in sorted(registry.types(), key=lambda c: c.event_type):
        if cls.published:  # private events never leave the service
            add(service, cls, "send")
    for source, source_registry, event_types in consumes:
        wanted = set(event_types)
        for cls in sorted(source_registry.types(), key=lambda c: c.event_type):
            if cls.event_type in wanted:
                add(source, cls, "receive")
    schemas["EventEnvelope"] = envelope
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": f"{title} events",
            "version": version,
            "description": (
                f"{description}\n\nEvery message is an event envelope (JSON) on "
                f"`{subjects.root}.<service>.<aggregate_type>.<event_type>.<tenant_id>.<aggregate_id>`, "
                f"stored on the service's JetStream stream `{subjects.stream(service)}`, "
                "with `Nats-Msg-Id` = the event id. Consumers must be idempotent by event id.\n\n"
                + VERSION_GAPS
            ),
        },
        "x-private-events": private,
        "defaultContentType": "application/json",
        "servers": {"nats": {"host": nats_url.split("://", 1)[-1].split(",")[0], "protocol": "nats"}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def private_events(registry: EventRegistry) -> dict[str, list[str]]:
    """Per aggregate type, the event types that stay in the store (the holes in its versions)."""
    found: dict[str, list[str]] = {}
    for cls in sorted(registry.types(), key=lambda c: c.event_type):
        if not cls.published:
            found.setdefault(cls.aggregate_type or "*", []).append(cls.event_type)
    return found
