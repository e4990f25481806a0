"""Version 1 payloads that hold null for a number (a NaN or an Infinity, as the old code
stored them) decode into the current version with a defined meaning for each null; every
float field of every published event is covered, and the documents describe the current
version."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import BaseModel

from trellis.contracts import SERVICES, registry_of
from trellis.contracts.envelope import DomainEvent, EventEnvelope
from trellis.contracts.feedback import CheckInCompleted, KeyResultUpdate
from trellis.contracts.goals import GoalCreated, KeyResultAdded, KeyResultProgressRecorded
from trellis.contracts.subjects import Subjects
from trellis.core.errors import MalformedEvent
from trellis.core.messaging.asyncapi import asyncapi_document

goals = registry_of("goals")
feedback = registry_of("feedback")

GOAL = {"goal_id": "g-1", "level": "company", "title": "Grow", "owner_id": "e-1", "period": "2026-Q4"}
KEY_RESULT = {"goal_id": "g-1", "key_result_id": "kr-1", "name": "Revenue"}
PROGRESS = {"goal_id": "g-1", "key_result_id": "kr-1"}


def test_a_goal_created_with_a_null_weight_has_the_default_weight() -> None:
    decoded = goals.decode_payload("GoalCreated", 1, {**GOAL, "weight": None})
    assert decoded == GoalCreated(**GOAL, weight=1.0)
    assert goals.decode_payload("GoalCreated", 1, {**GOAL, "weight": 3.0}).weight == 3.0  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "numbers, expected",
    [
        ({"start": None, "target": 10.0, "current": 4.0}, (0.0, 10.0, 4.0, 1.0)),
        ({"start": 8.0, "target": None, "current": 8.0}, (8.0, 108.0, 8.0, 1.0)),
        ({"start": 5.0, "target": 10.0, "current": None}, (5.0, 10.0, 5.0, 1.0)),
        ({"start": 0.0, "target": 10.0, "current": 0.0, "weight": None}, (0.0, 10.0, 0.0, 1.0)),
        ({"start": None, "target": None, "current": None, "weight": None}, (0.0, 100.0, 0.0, 1.0)),
        ({"start": 1.0, "target": 2.0, "current": 1.5, "weight": 2.0}, (1.0, 2.0, 1.5, 2.0)),
    ],
)
def test_a_key_result_added_with_null_numbers_gets_a_defined_start_target_current_and_weight(
    numbers: dict[str, Any], expected: tuple[float, float, float, float]
) -> None:
    decoded = goals.decode_payload("KeyResultAdded", 1, {**KEY_RESULT, **numbers})
    assert isinstance(decoded, KeyResultAdded)
    assert (decoded.start, decoded.target, decoded.current, decoded.weight) == expected


@pytest.mark.parametrize(
    "value, previous, expected",
    [
        (None, 3.0, (3.0, 3.0)),  # nothing known was recorded: the key result keeps its value
        (5.0, None, (5.0, 5.0)),  # the value before was unknown: no change is known
        (None, None, (0.0, 0.0)),
        (5.0, 3.0, (5.0, 3.0)),
    ],
)
def test_progress_with_a_null_value_or_previous_value_is_an_unknown_value(
    value: float | None, previous: float | None, expected: tuple[float, float]
) -> None:
    payload = {**PROGRESS, "value": value, "previous_value": previous, "comment": "c", "confidence": 3}
    decoded = goals.decode_payload("KeyResultProgressRecorded", 1, payload)
    assert isinstance(decoded, KeyResultProgressRecorded)
    assert (decoded.value, decoded.previous_value, decoded.comment, decoded.confidence) == (*expected, "c", 3)


def test_a_check_in_update_without_a_value_records_nothing() -> None:
    updates = [
        {"goal_id": "g-1", "key_result_id": "kr-1", "value": None, "comment": "lost"},
        {"goal_id": "g-1", "key_result_id": "kr-2", "value": 4.0},
    ]
    payload = {
        "checkin_id": "c-1",
        "schedule_id": "s-1",
        "manager_id": "m-1",
        "report_id": "r-1",
        "completed_by": "m-1",
        "completed_at": "2026-12-01T10:00:00+00:00",
        "confidence": 4,
        "key_result_updates": updates,
    }
    decoded = feedback.decode_payload("CheckInCompleted", 1, payload)
    assert isinstance(decoded, CheckInCompleted)
    assert decoded.key_result_updates == [KeyResultUpdate(goal_id="g-1", key_result_id="kr-2", value=4.0)]
    assert decoded.completed_at == dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC)
    assert updates[0]["value"] is None and len(updates) == 2  # the stored payload is left as it was


def test_a_payload_its_upcaster_cannot_read_is_malformed() -> None:
    with pytest.raises(MalformedEvent, match="cannot be upcast"):
        goals.decode_payload("KeyResultAdded", 1, {**KEY_RESULT, "start": "x", "target": None, "current": 1})
    with pytest.raises(MalformedEvent, match="payload invalid"):
        goals.decode_payload("KeyResultProgressRecorded", 2, {**PROGRESS, "value": None, "previous_value": 1})


# Event types first published after the contract became strict: no null was ever stored
# in their numbers, so there is nothing to correct.
BORN_STRICT = {"GoalPaceChanged", "GoalDueSoon", "PaceThresholdsSet"}


def _float_fields(model: type[BaseModel], path: str = "") -> list[str]:
    found = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        inner = getattr(annotation, "__args__", (annotation,))
        if float in inner and type(None) not in inner:  # an optional number: null has its meaning
            found.append(path + name)
        for arg in inner:
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                found.extend(_float_fields(arg, f"{path}{name}[]."))
    return found


def test_every_float_field_of_a_published_event_has_a_correction() -> None:
    """A new float field in a published event needs a meaning for the null an old payload may
    hold: this lists them, so adding one without deciding fails here. (A field declared
    ``float | None``, such as ``KeyResultChanged.target``, says what null means itself.)"""
    corrected: dict[str, list[str]] = {}
    for service in SERVICES:
        registry = registry_of(service)
        for cls in registry.types():
            fields = _float_fields(cls)
            if fields and cls.published and cls.event_type not in BORN_STRICT:
                corrected[cls.event_type] = fields
                assert registry.upcast_from(cls.event_type), cls.event_type
    assert corrected == {
        "GoalCreated": ["weight"],
        "KeyResultAdded": ["start", "target", "current", "weight"],
        "KeyResultProgressRecorded": ["value", "previous_value"],
        "CheckInCompleted": ["key_result_updates[].value"],
    }


@pytest.mark.parametrize(
    "service, cls",
    [
        ("goals", GoalCreated),
        ("goals", KeyResultAdded),
        ("goals", KeyResultProgressRecorded),
        ("feedback", CheckInCompleted),
    ],
)
def test_json_schemas_and_asyncapi_describe_the_current_version(service: str, cls: type[DomainEvent]) -> None:
    registry = registry_of(service)
    schema = registry.json_schemas()[cls.event_type]
    assert (schema["x-schema-version"], schema["x-upcast-from"]) == (2, [1])
    document = asyncapi_document(
        service=service,
        title=service,
        version="1",
        description="",
        registry=registry,
        subjects=Subjects("trellis"),
    )
    envelope = document["components"]["schemas"][f"{cls.event_type}.envelope"]
    assert envelope["properties"]["schema_version"]["const"] == 2


def test_a_recorded_old_event_shows_the_current_version_and_the_corrected_payload() -> None:
    stored = {**PROGRESS, "value": None, "previous_value": 2.0, "comment": "", "confidence": None}
    envelope = EventEnvelope(
        event_type="KeyResultProgressRecorded",
        schema_version=1,
        tenant_id="acme",
        aggregate_type="goal",
        aggregate_id="g-1",
        aggregate_version=3,
        actor_id="e-1",
        correlation_id="c-1",
        payload=stored,
        global_position=7,
    )
    recorded = goals.recorded(envelope)
    assert recorded.envelope.schema_version == 2 and recorded.envelope.payload["value"] == 2.0
    assert recorded.envelope.event_id == envelope.event_id and recorded.envelope.global_position == 7
    assert envelope.payload["value"] is None  # what is stored stays as it was
