"""The event contract: nothing is appended that its own contract cannot decode.

Every event type of every service is built with valid values, then with a hostile value
(NaN, an infinity) in each of its numbers, and handed to the store: valid events read
back exactly, hostile ones are refused with ``ContractViolation`` naming the field, and a
refused append stores nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import types
import typing
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError
from sqlalchemy import func, select

from trellis.contracts import SERVICES, registry_of
from trellis.contracts.envelope import DomainEvent, Metadata
from trellis.contracts.goals import GoalChanged, KeyResultAdded
from trellis.contracts.goals import registry as goals_registry
from trellis.contracts.subjects import Subjects
from trellis.core import strict_json
from trellis.core.errors import ContractViolation
from trellis.core.store.database import create_engine
from trellis.core.store.event_store import EventStore
from trellis.core.store.migrate import migrate
from trellis.core.store.sessions import session_factory
from trellis.core.store.tables import events as events_table
from trellis.core.store.tables import outbox as outbox_table

HOSTILE = (math.nan, math.inf, -math.inf)


def sample(annotation: Any) -> Any:
    """A valid value of ``annotation``: the smallest that its type admits."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return sample(args[0])
    if origin is typing.Literal:
        return args[0]
    if origin in (typing.Union, types.UnionType):
        return sample(next(a for a in args if a is not type(None)))
    if origin in (list, tuple, set, frozenset):
        return [sample(args[0])] if args else []
    if origin is dict:
        return {"k": sample(args[1])} if args else {}
    if annotation is Any:
        return "v"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {name: sample(f.annotation) for name, f in annotation.model_fields.items()}
    return {
        str: "x",
        int: 1,
        float: 0.5,  # within every bound an event declares (a share, a weight)
        bool: True,
        dt.datetime: "2026-01-05T09:00:00+00:00",
        dt.date: "2026-01-05",
        uuid.UUID: str(uuid.UUID(int=1)),
    }[annotation]


def every_event_type() -> list[type[DomainEvent]]:
    return [cls for service in SERVICES for cls in registry_of(service).types()]


def valid(cls: type[DomainEvent]) -> DomainEvent:
    return cls.model_validate({name: sample(f.annotation) for name, f in cls.model_fields.items()})


def number_paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Where the numbers are in a payload (any depth), and where an untyped value could go."""
    if isinstance(value, float):
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from number_paths(item, (*path, key))
        if path and value.get("k") == "v":  # a dict[str, Any]: a float may hide in it
            yield (*path, "k")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from number_paths(item, (*path, i))


def with_value(data: Any, path: tuple[Any, ...], value: float) -> Any:
    if not path:
        return value
    copy = dict(data) if isinstance(data, dict) else list(data)
    copy[path[0]] = with_value(data[path[0]], path[1:], value)
    return copy


def hostile_cases() -> Iterator[Any]:
    for cls in every_event_type():
        payload = valid(cls).model_dump(mode="python")
        for path in number_paths(payload):
            for bad in HOSTILE:
                yield pytest.param(cls, path, bad, id=f"{cls.event_type}.{'.'.join(map(str, path))}={bad}")


def store_for(cls: type[DomainEvent]) -> EventStore:
    service = next(s for s in SERVICES if cls.event_type in registry_of(s))
    return EventStore(service=service, registry=registry_of(service), sessions=None, subjects=Subjects())  # type: ignore[arg-type]


@pytest.mark.parametrize("cls", every_event_type(), ids=lambda c: c.event_type)
def test_every_event_type_reads_back_exactly_as_written(cls: type[DomainEvent]) -> None:
    event = valid(cls)
    payload = store_for(cls).checked_payload(event)
    assert (
        registry_of(store_for(cls).service).decode_payload(cls.event_type, cls.schema_version, payload)
        == event
    )
    strict_json.dumps(payload)  # strict JSON, no NaN


@pytest.mark.parametrize(("cls", "path", "bad"), list(hostile_cases()))
def test_a_non_finite_number_in_any_field_is_refused_naming_the_field(
    cls: type[DomainEvent], path: tuple[Any, ...], bad: float
) -> None:
    payload = with_value(valid(cls).model_dump(mode="python"), path, bad)
    try:
        event = cls.model_validate(payload)  # pydantic itself lets it through, unless bounded
    except ValidationError as bounded:  # a field with bounds (0 < x <= 1) refuses it at once
        assert bounded.errors()[0]["loc"][0] == path[0]
        return
    with pytest.raises(ContractViolation) as refused:
        store_for(cls).checked_payload(event)
    assert refused.value.details == {"event_type": cls.event_type, "field": path[0]}


def test_the_hostile_cases_cover_the_numbers_of_the_goals_contract() -> None:
    """A guard on the generator: it finds the float fields it must (a silent miss would pass)."""
    ids = {case.id for case in hostile_cases()}
    for field in ("weight", "start", "target", "current"):
        assert f"KeyResultAdded.{field}=nan" in ids
    assert "GoalCreated.weight=inf" in ids
    assert "KeyResultProgressRecorded.previous_value=-inf" in ids
    assert "GoalChanged.changes.k=nan" in ids


def test_an_event_over_the_size_cap_is_refused_naming_its_largest_field() -> None:
    store = EventStore(service="goals", registry=goals_registry, sessions=None, subjects=Subjects())  # type: ignore[arg-type]
    store.max_event_bytes = 10_000
    event = KeyResultAdded(goal_id="g", key_result_id="k", name="n" * 20_000, start=0, target=1, current=0)
    with pytest.raises(ContractViolation) as refused:
        store.checked_payload(event)
    assert refused.value.details["field"] == "name"


async def test_a_refused_event_aborts_the_append_and_stores_nothing(tmp_path: Any) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    await migrate(engine)
    sessions = session_factory(engine)
    store = EventStore(service="goals", registry=goals_registry, sessions=sessions, subjects=Subjects())
    meta = Metadata(tenant_id="acme", actor_id="ceo")
    fine = KeyResultAdded(goal_id="g", key_result_id="k1", name="a", start=0, target=10, current=0)
    poisoned = GoalChanged(goal_id="g", changes={"weight": math.inf}, material=True)
    try:
        with pytest.raises(ContractViolation):
            async with sessions.begin() as session:
                await store.append(
                    session,
                    aggregate_type="goal",
                    aggregate_id="g",
                    expected_version=0,
                    events=[fine, poisoned],
                    metadata=meta,
                )
        async with sessions() as session:
            assert (await session.execute(select(func.count()).select_from(events_table))).scalar() == 0
            assert (await session.execute(select(func.count()).select_from(outbox_table))).scalar() == 0
    finally:
        await engine.dispose()


def test_strict_json_refuses_non_finite_numbers_both_ways() -> None:
    with pytest.raises(strict_json.NonFiniteNumber):
        strict_json.dumps({"a": [1.0, math.nan]})
    for literal in ("Infinity", "-Infinity", "NaN"):
        with pytest.raises(strict_json.NonFiniteNumber):
            strict_json.loads(f'{{"a": [1, {literal}]}}')
        with pytest.raises(strict_json.NonFiniteNumber):
            strict_json.loads(f'{{"a": {literal}}}'.encode())
    assert strict_json.loads('{"a": 1e3}') == {"a": 1000.0}


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1, "a": 2}',
        "123456789012345678901234567890",
        '[-0, 0.1, 2.5e-3, null, true, "\\u00e9"]',
        '"\\ud800"',  # a lone surrogate: only the standard parser reads it
        '{"k": "v"}'.encode("utf-16"),  # UTF-16 bytes: likewise
    ],
)
def test_strict_json_reads_what_the_standard_parser_reads_exactly_as_it_does(text: str | bytes) -> None:
    assert strict_json.loads(text) == json.loads(text)


@pytest.mark.parametrize("text", ['{"a": 1', '{"a": 1}x', "", "[1,]", "{'a': 1}"])
def test_strict_json_refuses_what_is_not_json_as_the_standard_parser_does(text: str) -> None:
    with pytest.raises(json.JSONDecodeError):
        strict_json.loads(text)
