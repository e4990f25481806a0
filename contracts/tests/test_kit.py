"""The FastStream kit against a real nats-server with JetStream: typed and upcast events,
the envelope, per-aggregate order through failures, dedupe, dead letters, unknown types
and replay from a sequence."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import nats
import pytest
from faststream.nats import NatsBroker

from trellis.contracts.envelope import EventEnvelope
from trellis.contracts.goals import GoalCreated, GoalRetired, KeyResultAdded
from trellis.contracts.kit import Envelope, RecentlyProcessed, TrellisEvents
from trellis.contracts.subjects import Subjects
from trellis.testing import StreamWriter, eventually

GOAL = {"level": "team", "title": "Ship", "owner_id": "mia", "period": "2027-Q1"}


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[Any]:
    nc = await nats.connect(nats_url)
    yield nc.jetstream()
    await nc.close()


@pytest.fixture
def goals_stream(js: Any, subject_root: str) -> StreamWriter:
    return StreamWriter(js, Subjects(subject_root), "goals")


async def _running(broker: NatsBroker) -> NatsBroker:
    await broker.start()
    return broker


async def test_a_handler_gets_typed_events_and_their_envelopes_in_order_per_aggregate(
    nats_url: str, subject_root: str, goals_stream: StreamWriter
) -> None:
    for goal in ("g1", "g2"):
        await goals_stream.emit(goal, GoalCreated(goal_id=goal, **GOAL))
    await goals_stream.emit("g1", GoalRetired(goal_id="g1", reason="done"))
    await goals_stream.emit("g3", GoalCreated(goal_id="g3", **GOAL), tenant_id="globex")

    broker = NatsBroker(nats_url)
    trellis = TrellisEvents(broker, root=subject_root)
    seen: list[tuple[str, str, int, str]] = []

    @trellis.subscriber(GoalCreated, GoalRetired, durable="typed", tenant="acme")
    async def on_goal(event: GoalCreated | GoalRetired, envelope: Envelope) -> None:
        assert isinstance(envelope, EventEnvelope) and envelope.aggregate_id == event.goal_id
        seen.append((type(event).__name__, event.goal_id, envelope.aggregate_version, envelope.tenant_id))

    await _running(broker)
    try:
        await eventually(lambda: _count(seen, 3))
    finally:
        await broker.stop()
    assert seen == [
        ("GoalCreated", "g1", 1, "acme"),
        ("GoalCreated", "g2", 1, "acme"),
        ("GoalRetired", "g1", 2, "acme"),
    ]  # the other tenant's goal is not this subscription's


async def test_an_old_version_arrives_upcast_and_a_failing_handler_holds_back_what_follows(
    nats_url: str, subject_root: str, js: Any, goals_stream: StreamWriter
) -> None:
    await goals_stream.emit("g1", GoalCreated(goal_id="g1", **GOAL))
    # a version 1 GoalCreated, as recorded years ago: weight may be null
    old = EventEnvelope(
        event_type="GoalCreated",
        schema_version=1,
        tenant_id="acme",
        aggregate_type="goal",
        aggregate_id="g0",
        aggregate_version=1,
        actor_id="test",
        correlation_id="c",
        payload={"goal_id": "g0", **GOAL, "weight": None},
    )
    await js.publish(Subjects(subject_root).for_event("goals", old), old.model_dump_json().encode())
    await goals_stream.emit("g1", GoalRetired(goal_id="g1", reason="done"))

    broker = NatsBroker(nats_url)
    trellis = TrellisEvents(broker, root=subject_root, max_deliver=5)
    attempts: dict[str, int] = {}
    handled: list[tuple[str, float | None]] = []

    @trellis.subscriber(GoalCreated, GoalRetired, durable="ordered")
    async def on_goal(event: GoalCreated | GoalRetired) -> None:
        attempts[event.goal_id + type(event).__name__] = (
            attempts.get(event.goal_id + type(event).__name__, 0) + 1
        )
        if event.goal_id == "g0" and attempts["g0GoalCreated"] < 3:
            raise RuntimeError("the sink is down")
        handled.append((type(event).__name__ + ":" + event.goal_id, getattr(event, "weight", None)))

    await _running(broker)
    try:
        await eventually(lambda: _count(handled, 3))
    finally:
        await broker.stop()
    assert handled == [("GoalCreated:g1", 1.0), ("GoalCreated:g0", 1.0), ("GoalRetired:g1", None)]
    assert attempts["g0GoalCreated"] == 3  # retried in place: nothing later overtook it


async def test_a_handler_that_keeps_failing_sends_the_event_to_the_dead_letter_hook_and_goes_on(
    nats_url: str, subject_root: str, js: Any, goals_stream: StreamWriter
) -> None:
    await goals_stream.emit("g1", GoalCreated(goal_id="g1", **GOAL))
    await js.publish(f"{subject_root}.goals.goal.GoalCreated.acme.junk", b"{not json")
    await goals_stream.emit("g2", GoalCreated(goal_id="g2", **GOAL))

    broker = NatsBroker(nats_url)
    dead: list[tuple[str, str]] = []

    async def dead_letter(body: bytes, envelope: EventEnvelope | None, error: BaseException) -> None:
        dead.append((envelope.aggregate_id if envelope else body.decode(), type(error).__name__))

    trellis = TrellisEvents(broker, root=subject_root, max_deliver=2, dead_letter=dead_letter)
    handled: list[str] = []

    @trellis.subscriber(GoalCreated, durable="dead")
    async def on_goal(event: GoalCreated) -> None:
        if event.goal_id == "g1":
            raise ValueError("cannot store this one")
        handled.append(event.goal_id)

    await _running(broker)
    try:
        await eventually(lambda: _count(handled, 1))
    finally:
        await broker.stop()
    assert handled == ["g2"]
    assert dead == [("g1", "ValueError"), ("{not json", "MalformedEvent")]


async def test_a_redelivered_event_is_handled_once_and_an_unknown_type_is_skipped(
    nats_url: str, subject_root: str, js: Any, goals_stream: StreamWriter
) -> None:
    await goals_stream.emit("g1", GoalCreated(goal_id="g1", **GOAL))
    newer = json.loads(
        EventEnvelope(
            event_type="GoalCelebrated",  # a type a newer Trellis publishes
            schema_version=1,
            tenant_id="acme",
            aggregate_type="goal",
            aggregate_id="g1",
            aggregate_version=2,
            actor_id="test",
            correlation_id="c",
            payload={"goal_id": "g1"},
        ).model_dump_json()
    )
    await js.publish(f"{subject_root}.goals.goal.GoalCelebrated.acme.g1", json.dumps(newer).encode())
    await goals_stream.emit(
        "g1", KeyResultAdded(goal_id="g1", key_result_id="kr1", name="Users", start=0, target=10, current=0)
    )
    [first] = [m async for m in _stream_messages(js, subject_root, count=1)]
    await js.publish(first.subject, first.data)  # the same event again (no Nats-Msg-Id: stored twice)

    broker = NatsBroker(nats_url)
    unknown: list[str] = []

    async def on_unknown(envelope: EventEnvelope) -> None:
        unknown.append(envelope.event_type)

    trellis = TrellisEvents(broker, root=subject_root, unknown=on_unknown)
    processed = RecentlyProcessed()
    handled: list[str] = []

    @trellis.subscriber(GoalCreated, KeyResultAdded, durable="dedupe", processed=processed)
    async def on_goal(event: GoalCreated | KeyResultAdded) -> None:
        handled.append(type(event).__name__)

    await _running(broker)
    try:
        await eventually(lambda: _count(handled, 2))
        await eventually(lambda: _count(unknown, 1))
        info = await js.consumer_info(Subjects(subject_root).stream("goals"), "dedupe")
        await eventually(lambda: _drained(js, subject_root, "dedupe"))
    finally:
        await broker.stop()
    assert handled == ["GoalCreated", "KeyResultAdded"]  # the copy of GoalCreated: acked, not handled
    assert unknown == ["GoalCelebrated"]
    assert info.config.max_ack_pending == 1


async def test_a_new_durable_can_start_from_a_stream_sequence(
    nats_url: str, subject_root: str, goals_stream: StreamWriter
) -> None:
    for goal in ("g1", "g2", "g3"):
        await goals_stream.emit(goal, GoalCreated(goal_id=goal, **GOAL))
    broker = NatsBroker(nats_url)
    trellis = TrellisEvents(broker, root=subject_root)
    handled: list[str] = []

    @trellis.subscriber(GoalCreated, durable="replay", deliver_from=2)
    async def on_goal(event: GoalCreated) -> None:
        handled.append(event.goal_id)

    await _running(broker)
    try:
        await eventually(lambda: _count(handled, 2))
    finally:
        await broker.stop()
    assert handled == ["g2", "g3"]


async def _count(items: list[Any], count: int) -> bool:
    return len(items) >= count


async def _drained(js: Any, root: str, durable: str) -> bool:
    info = await js.consumer_info(Subjects(root).stream("goals"), durable)
    return bool(info.num_pending == 0 and info.num_ack_pending == 0)


async def _stream_messages(js: Any, root: str, *, count: int) -> AsyncIterator[Any]:
    stream = Subjects(root).stream("goals")
    for seq in range(1, count + 1):
        yield await js.get_msg(stream, seq)
