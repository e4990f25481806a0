"""Repairing a poisoned aggregate, end to end: events stored with null where a number
belongs (a NaN or an Infinity, as the code before the correction wrote them) are
dead-lettered by every consumer and park their goals; the correction is deployed; the
operators redrive with ``trellis dlq redrive``; then the alignment tree equals a rebuild
and a webhook subscriber has every event of each goal, in order. History is not edited."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import insert, select

from trellis.contracts import registry_of
from trellis.contracts.envelope import DomainEvent, EventEnvelope, EventRegistry, utcnow
from trellis.contracts.feedback import CheckInCompleted
from trellis.contracts.goals import GoalChanged, GoalCreated, KeyResultAdded, KeyResultProgressRecorded
from trellis.contracts.ids import uuid7
from trellis.core.store.tables import dead_letters, outbox
from trellis.core.store.tables import events as events_table
from trellis.goals.views.tables import goal_key_results
from trellis.notifications.testing import Receiver
from trellis.testing import eventually

from .ops_system import OpsSystem

TREE = "goals-alignment-tree"
CORRECTED: list[tuple[EventRegistry, type[DomainEvent]]] = [
    (registry_of("goals"), GoalCreated),
    (registry_of("goals"), KeyResultAdded),
    (registry_of("goals"), KeyResultProgressRecorded),
    (registry_of("feedback"), CheckInCompleted),
]


@contextlib.contextmanager
def code_before_the_correction() -> Iterator[None]:
    """The contracts as they were: version 1 of each corrected event and no upcaster, so a
    null in a number field is invalid (every service in this process shares them)."""
    with pytest.MonkeyPatch.context() as patch:
        for registry, cls in CORRECTED:
            patch.setattr(cls, "schema_version", 1)
            patch.delitem(registry._upcasters, (cls.event_type, 1))  # a test's look inside
        yield


async def write_unchecked(ops: OpsSystem, goal_id: str, event_type: str, payload: dict[str, Any]) -> str:
    """An event row and its outbox row as the old code wrote them: version 1, payload unchecked."""
    async with ops.runtimes["goals"].sessions() as session, session.begin():
        version = await ops.runtimes["goals"].store.current_version(session, goal_id)
        envelope = EventEnvelope(
            event_type=event_type,
            schema_version=1,
            tenant_id="acme",
            aggregate_type="goal",
            aggregate_id=goal_id,
            aggregate_version=version + 1,
            actor_id="ceo",
            correlation_id=f"old-code-{goal_id}-{version + 1}",
            payload=payload,
        )
        row = {**envelope.model_dump(exclude={"global_position"}), "event_id": str(envelope.event_id)}
        await session.execute(insert(events_table).values(**row, recorded_at=utcnow()))
        await session.execute(
            insert(outbox).values(
                event_id=str(envelope.event_id),
                subject=ops.subjects.for_event("goals", envelope),
                body=envelope.model_dump_json().encode(),
                created_at=utcnow(),
            )
        )
    return str(envelope.event_id)


async def letters(ops: OpsSystem) -> dict[str, list[dict[str, Any]]]:
    """Unresolved dead letters of both services, by consumer, oldest first."""
    found: dict[str, list[dict[str, Any]]] = {}
    for runtime in ops.runtimes.values():
        async with runtime.sessions() as session:
            rows = await session.execute(
                select(dead_letters).where(dead_letters.c.resolved_at.is_(None)).order_by(dead_letters.c.id)
            )
            for row in rows.mappings():
                found.setdefault(row["consumer"], []).append(dict(row))
    return found


async def stored_ids(ops: OpsSystem, goal_id: str) -> list[str]:
    async with ops.runtimes["goals"].sessions() as session:
        rows = await session.execute(
            select(events_table.c.event_id)
            .where(events_table.c.aggregate_id == goal_id)
            .order_by(events_table.c.aggregate_version)
        )
        return list(rows.scalars())


async def key_result(ops: OpsSystem, key_result_id: str) -> dict[str, Any]:
    async with ops.runtimes["goals"].sessions() as session:
        kr = goal_key_results.c
        row = (
            await session.execute(select(goal_key_results).where(kr.key_result_id == key_result_id))
        ).first()
    return dict(row._mapping) if row else {}


async def test_a_poisoned_aggregate_is_repaired_by_the_correction_and_a_redrive(ops: OpsSystem) -> None:
    receiver = Receiver()
    await receiver.start()
    try:
        await ops.call(
            "notifications",
            "POST",
            "/v1/webhooks/subscriptions",
            {"url": receiver.url, "event_types": ["goals.*"]},
        )
        await run_the_repair(ops, receiver)
    finally:
        await receiver.stop()


async def run_the_repair(ops: OpsSystem, receiver: Receiver) -> None:
    grow = await ops.create_goal("Grow revenue")
    kr = await ops.call(
        "goals", "POST", f"/v1/goals/{grow}/key-results", {"name": "ARR", "start": 0, "target": 100}
    )
    revenue = kr["key_result_id"]
    await ops.call("goals", "POST", f"/v1/goals/{grow}/key-results/{revenue}/progress", {"value": 10})
    await settled(ops)  # the old code cannot read these (version 2): let every consumer have them first

    # --- poisoned, while the old code runs ------------------------------------------------
    born = str(uuid7())  # a goal created with weight Infinity, and its key result with NaNs
    with code_before_the_correction():
        unknown = await write_unchecked(
            ops,
            grow,
            "KeyResultProgressRecorded",
            {**_progress(grow, revenue), "value": None, "previous_value": 10},
        )
        after = await write_unchecked(
            ops,
            grow,
            "KeyResultProgressRecorded",
            {**_progress(grow, revenue), "value": 40, "previous_value": None},
        )
        changed = GoalChanged(goal_id=grow, changes={"title": "Grow revenue fast"}, material=True)
        await write_unchecked(ops, grow, "GoalChanged", changed.model_dump(mode="json"))
        created = {"goal_id": born, "level": "company", "title": "Born poisoned", "owner_id": "ceo"}
        created |= {"period": "2026-Q4", "progress_rollup": "both", "weight": None}
        await write_unchecked(ops, born, "GoalCreated", created)
        added = {"goal_id": born, "key_result_id": "kr-born", "name": "NPS", "unit": "", "weight": None}
        await write_unchecked(
            ops, born, "KeyResultAdded", {**added, "start": 0, "target": None, "current": None}
        )
        healthy = await ops.create_goal("Healthy")  # its commit wakes the relay, which publishes all

        async def parked() -> dict[str, list[dict[str, Any]]]:
            found = await letters(ops)
            return found if len(found.get(TREE, [])) == 5 and len(found) == 5 else {}

        await eventually(parked, timeout=30)
        await settled(ops)
        before = await letters(ops)

    # Every consumer dead-lettered what it could not decode, and parked the goal behind it.
    assert {c: len(d) for c, d in before.items()} == {
        TREE: 5,
        "goals-realignment": 1,
        "goals-pace-watch": 5,
        "notifications-goals-affected": 1,
        "notifications-webhooks-goals": 5,
    }
    tree = before[TREE]
    assert [(d["event_type"], d["aggregate_id"], d["tenant_id"]) for d in tree] == [
        ("KeyResultProgressRecorded", grow, "acme"),
        ("KeyResultProgressRecorded", grow, "acme"),
        ("GoalChanged", grow, "acme"),
        ("GoalCreated", born, "acme"),
        ("KeyResultAdded", born, "acme"),
    ]
    assert tree[0]["event_id"] == unknown and "Input should be a valid number" in tree[0]["reason"]
    assert (
        tree[1]["event_id"] == after and f"parked behind dead-lettered event {unknown}" in tree[1]["reason"]
    )
    assert "parked behind" in tree[2]["reason"] and "parked behind" in tree[4]["reason"]
    view = await ops.view_rows()  # nothing applied out of line; other goals flow
    assert view[grow]["title"] == "Grow revenue" and healthy in view and born not in view
    assert (await key_result(ops, revenue))["current"] == 10

    # --- the correction is deployed: the goal takes commands again, still parked ------------
    later = f"/v1/goals/{grow}/key-results/{revenue}/progress"
    await ops.call("goals", "POST", later, {"value": 70})
    await ops.call("goals", "POST", f"/v1/goals/{born}/key-results/kr-born/progress", {"value": 25})
    history = await ops.call("goals", "GET", f"/v1/goals/{grow}/history")
    assert [e["type"] for e in history["events"]][-2:] == ["GoalChanged", "KeyResultProgressRecorded"]
    assert [e["data"]["previous_value"] for e in history["events"][3:5]] == [10, 40]  # corrected on read

    async def seven_parked() -> bool:
        return len((await letters(ops)).get(TREE, [])) == 7

    await eventually(seven_parked, timeout=20)
    assert (await key_result(ops, revenue))["current"] == 10

    # --- the operators redrive every parked line, in order ----------------------------------
    for service, consumer, count in (
        ("goals", TREE, 7),
        ("goals", "goals-realignment", 1),
        ("goals", "goals-pace-watch", 7),
        ("notifications", "notifications-goals-affected", 1),
        ("notifications", "notifications-webhooks-goals", 7),
    ):
        report = await ops.trellis_json("dlq", "redrive", "-s", service, "--consumer", consumer, "--all")
        assert report["failed"] == [] and report["skipped"] == [], (consumer, report)
        assert len(report["redriven"]) == count, (consumer, report)
    assert await letters(ops) == {}

    view = await ops.view_rows()
    assert view[grow]["title"] == "Grow revenue fast" and view[born]["weight"] == 1.0
    assert (await key_result(ops, revenue))["current"] == 70
    born_kr = await key_result(ops, "kr-born")
    assert (born_kr["start"], born_kr["target"], born_kr["current"], born_kr["progress"]) == (
        0,
        100,
        25,
        0.25,
    )
    dry = await ops.trellis_json("projections", "rebuild", TREE, "--dry-run")
    assert [(d["table"], d["only_live"], d["only_rebuilt"], d["changed"]) for d in dry["differences"]] == [
        (d["table"], 0, 0, 0) for d in dry["differences"]
    ]

    # The goal is no longer parked: a new event is applied at once.
    await ops.call("goals", "PATCH", f"/v1/goals/{grow}", {"title": "Grow revenue faster"})
    await ops.settled()
    assert (await ops.view_rows())[grow]["title"] == "Grow revenue faster"

    # The subscriber has every event of each goal once, in order, in the current version.
    for goal in (grow, born):
        expected = await stored_ids(ops, goal)

        async def all_of(goal: str = goal, expected: list[str] = expected) -> list[dict[str, Any]]:
            got = [r.json["data"] for r in receiver.delivered() if r.json["data"]["aggregate_id"] == goal]
            return got if len(got) >= len(expected) else []

        got = await eventually(all_of, timeout=20)
        assert [d["event_id"] for d in got] == expected
    sent = {d["event_id"]: d for d in (r.json["data"] for r in receiver.delivered())}
    assert (sent[unknown]["schema_version"], sent[unknown]["payload"]["value"]) == (2, 10)  # no change known
    assert (sent[after]["payload"]["value"], sent[after]["payload"]["previous_value"]) == (40, 40)
    assert [d["payload"]["previous_value"] for d in sent.values() if d["payload"].get("value") == 70] == [40]

    # A replay of the range sends the corrected form too, never the stored nulls.
    subscription = (await ops.call("notifications", "GET", "/v1/webhooks/subscriptions"))[0]["id"]
    since = (utcnow() - dt.timedelta(hours=1)).isoformat()
    argv = ["replay", "webhooks", "--subscription", subscription, "--since", since, "--yes"]
    await ops.trellis_json(*argv)

    async def replayed() -> dict[str, Any] | None:
        found = [r.json["data"] for r in receiver.delivered() if "trellis-replay-id" in r.headers]
        return next((d for d in found if d["event_id"] == unknown), None)

    again = await eventually(replayed, timeout=20)
    assert (again["schema_version"], again["payload"]["value"]) == (2, 10)

    # History is not edited: the stored rows still hold what the old code wrote.
    async with ops.runtimes["goals"].sessions() as session:
        stored = (
            await session.execute(select(events_table.c.payload).where(events_table.c.event_id == unknown))
        ).scalar_one()
    assert stored["value"] is None


async def settled(ops: OpsSystem) -> None:
    """Both services' consumers have everything on their streams."""
    await ops.settled("goals")
    await ops.settled("notifications")


def _progress(goal_id: str, key_result_id: str) -> dict[str, Any]:
    return {"goal_id": goal_id, "key_result_id": key_result_id, "comment": "", "confidence": None}
