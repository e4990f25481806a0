"""The handler's logic, with FastStream's in-memory ``TestNatsBroker`` (as FastStream
recommends for handler logic). That the consumer works against Trellis is proven by
``test_against_trellis.py``, on a real nats-server and a running goals service."""

from __future__ import annotations

from pathlib import Path

from faststream.nats import NatsBroker, TestNatsBroker
from people_analytics.app import build
from people_analytics.store import Store

from trellis.contracts.envelope import DomainEvent, EventEnvelope
from trellis.contracts.goals import GoalCreated, KeyResultAdded, KeyResultProgressRecorded
from trellis.contracts.subjects import Subjects

SUBJECTS = Subjects("trellis")


def _message(event: DomainEvent, aggregate_id: str, version: int) -> tuple[str, str]:
    envelope = EventEnvelope(
        event_type=event.event_type,
        schema_version=event.schema_version,
        tenant_id="acme",
        aggregate_type="goal",
        aggregate_id=aggregate_id,
        aggregate_version=version,
        actor_id="mia",
        correlation_id="c",
        payload=event.model_dump(mode="json"),
    )
    return envelope.model_dump_json(), SUBJECTS.for_event("goals", envelope)


async def test_progress_per_team_and_an_event_applied_twice_counts_once(tmp_path: Path) -> None:
    broker = NatsBroker()
    store = Store(tmp_path / "analytics.db")
    build(broker, store)
    created = _message(
        GoalCreated(
            goal_id="g1", level="team", title="Grow", owner_id="mia", team_id="growth", period="2027-Q1"
        ),
        "g1",
        1,
    )
    added = _message(
        KeyResultAdded(goal_id="g1", key_result_id="kr1", name="Users", start=0, target=200, current=0),
        "g1",
        2,
    )
    progress = _message(
        KeyResultProgressRecorded(goal_id="g1", key_result_id="kr1", value=50, previous_value=0), "g1", 3
    )
    async with TestNatsBroker(broker) as test_broker:
        for body, subject in (created, added, progress, progress):  # the last: a redelivery
            await test_broker.publish(body, subject, stream=SUBJECTS.stream("goals"))
    assert store.team_progress("acme") == {"growth": 0.25}
    assert store.updates("kr1") == 1
