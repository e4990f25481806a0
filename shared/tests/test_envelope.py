"""The envelope, the registry and the subject scheme, without I/O."""

from __future__ import annotations

import uuid

import pytest

from trellis.contracts.envelope import DomainEvent, EventEnvelope, EventRegistry, event
from trellis.contracts.ids import uuid7
from trellis.contracts.subjects import Subjects, check_token
from trellis.core.errors import MalformedEvent, UnknownEventType

registry = EventRegistry()


@event("ThingRenamed", version=3, registry=registry)
class ThingRenamed(DomainEvent):
    name: str
    reason: str


@registry.upcaster("ThingRenamed", 1)
def _v1_to_v2(payload: dict) -> dict:
    return {"name": payload["title"]}


@registry.upcaster("ThingRenamed", 2)
def _v2_to_v3(payload: dict) -> dict:
    return {**payload, "reason": "unknown"}


def envelope(payload: dict, version: int, event_type: str = "ThingRenamed") -> EventEnvelope:
    return EventEnvelope(
        event_type=event_type,
        schema_version=version,
        tenant_id="acme",
        aggregate_type="thing",
        aggregate_id="t-1",
        aggregate_version=1,
        actor_id="e-1",
        correlation_id="c-1",
        payload=payload,
    )


def test_event_ids_are_uuid7_and_sort_in_creation_order() -> None:
    ids = [uuid7() for _ in range(2000)]
    assert all(i.version == 7 for i in ids)
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_old_schema_versions_are_upcast_step_by_step_on_read() -> None:
    decoded = registry.decode(envelope({"title": "old"}, 1))
    assert decoded == ThingRenamed(name="old", reason="unknown")
    assert registry.decode(envelope({"name": "n", "reason": "r"}, 3)) == ThingRenamed(name="n", reason="r")


@pytest.mark.parametrize(
    "env, error",
    [
        (envelope({"name": "n"}, 4), MalformedEvent),  # newer than the code
        (envelope({"name": 5, "reason": []}, 3), MalformedEvent),
        (envelope({}, 1, event_type="NoSuchEvent"), UnknownEventType),
    ],
)
def test_undecodable_events_raise_malformed_event(env: EventEnvelope, error: type) -> None:
    with pytest.raises(error):
        registry.decode(env)


def test_every_event_type_exports_a_json_schema() -> None:
    schemas = registry.json_schemas()
    assert schemas["ThingRenamed"]["x-schema-version"] == 3
    assert set(schemas["ThingRenamed"]["required"]) == {"name", "reason"}
    assert "event_id" in EventRegistry.envelope_schema()["properties"]


def test_the_envelope_round_trips_through_json() -> None:
    env = envelope({"name": "n", "reason": "r"}, 3)
    again = EventEnvelope.model_validate_json(env.model_dump_json())
    assert again == env
    assert isinstance(again.event_id, uuid.UUID)


def test_subjects_let_consumers_filter_by_service_type_event_and_tenant() -> None:
    subjects = Subjects("trellis")
    env = envelope({"name": "n", "reason": "r"}, 3)
    assert subjects.for_event("goals", env) == "trellis.goals.thing.ThingRenamed.acme.t-1"
    assert subjects.stream("goals") == "TRELLIS_GOALS"
    assert subjects.matching("goals", event_type="ThingRenamed") == "trellis.goals.*.ThingRenamed.*.>"
    with pytest.raises(ValueError):
        check_token("a.b", "tenant")
