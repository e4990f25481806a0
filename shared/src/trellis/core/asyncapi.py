"""The AsyncAPI 3.0 document of a service's events, generated from its event registry.

What a service publishes (one channel per event type, on the subject scheme of
``subjects.py``, with the envelope and the typed payload as the message) and what it
consumes from other services (its projections' event types). Payload schemas come
from the same pydantic models the code validates with, so the document cannot drift
from the code.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from trellis.core.events import DomainEvent, EventEnvelope, EventRegistry
from trellis.core.subjects import Subjects

_REF = "#/components/schemas/{model}"


def _schema(model: type[Any], schemas: dict[str, Any]) -> dict[str, Any]:
    """``model``'s JSON Schema with its definitions hoisted into ``schemas``."""
    schema = model.model_json_schema(ref_template=_REF)
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
        messages[key] = {
            "name": cls.event_type,
            "title": cls.event_type,
            "summary": (cls.__doc__ or "").strip().split("\n")[0],
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
                "with `Nats-Msg-Id` = the event id. Consumers must be idempotent by event id."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {"nats": {"host": nats_url.split("://", 1)[-1].split(",")[0], "protocol": "nats"}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }
