"""Dead outbox rows for the operators: ``trellis status`` shows them, ``trellis outbox dead``
lists them with their reasons, ``retry`` (after a fix) and ``drop`` resolve them; audited."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update

from trellis.core.store.tables import events, outbox

from .ops_system import OPERATOR, OpsSystem
from .test_ops_cli_repair import audited


async def goal_row(ops: OpsSystem, goal_id: str) -> Any:
    async with ops.runtimes["goals"].sessions() as session:
        return (
            await session.execute(
                select(outbox)
                .join(events, events.c.event_id == outbox.c.event_id)
                .where(events.c.aggregate_id == goal_id)
            )
        ).one()


async def set_row(ops: OpsSystem, event_id: str, **values: Any) -> None:
    async with ops.runtimes["goals"].sessions() as session, session.begin():
        await session.execute(update(outbox).where(outbox.c.event_id == event_id).values(**values))


@pytest.mark.parametrize("goals_overrides", [{"run_relay": False}])
async def test_dead_outbox_rows_are_shown_then_dropped_or_retried_by_the_operator(ops: OpsSystem) -> None:
    goals = [await ops.create_goal(f"Goal {i}") for i in range(4)]
    too_big, bad_subject = await goal_row(ops, goals[1]), await goal_row(ops, goals[2])
    await set_row(ops, too_big.event_id, body=b"x" * (2 * 1024 * 1024))
    await set_row(ops, bad_subject.event_id, subject=f"{ops.subjects.root}.goals.goal.x y.acme.g")

    done = await ops.trellis_json("outbox", "relay", "--yes")  # no longer stuck on them
    assert done == {"published": {"goals": 2}}
    assert await ops.stream_messages("goals") == 2

    status = await ops.trellis_json("status", "-s", "goals")
    box = status["services"][0]["outbox"]
    assert (box["unpublished"], box["dead"], box["held"]) == (2, 2, 0)
    assert "2 dead outbox rows" in (await ops.trellis("status", "-s", "goals")).stdout

    dead = await ops.trellis_json("outbox", "dead")
    assert [(d["service"], d["event_id"], d["aggregate_id"]) for d in dead] == [
        ("goals", too_big.event_id, goals[1]),
        ("goals", bad_subject.event_id, goals[2]),
    ]
    assert "exceeds the server's max_payload" in dead[0]["last_error"]
    assert "invalid subject" in dead[1]["last_error"]
    assert "max_payload" in (await ops.trellis("outbox", "dead")).stdout

    no_reason = await ops.trellis("outbox", "drop", too_big.event_id, exit_code=1)
    assert "--reason" in no_reason.stderr
    dropped = await ops.trellis_json("outbox", "drop", too_big.event_id, "--reason", "oversized, see #19")
    assert [d["event_id"] for d in dropped["dropped"]] == [too_big.event_id]

    # The fix for the other one: its subject corrected by hand; then it goes back in line.
    await set_row(ops, bad_subject.event_id, subject=too_big.subject.replace(goals[1], goals[2]))
    retried = await ops.trellis_json("outbox", "retry", bad_subject.event_id, "--operator", OPERATOR)
    assert [r["requeued"] for r in retried["retried"]] == [1]
    missing = await ops.trellis("outbox", "retry", too_big.event_id, "--operator", OPERATOR, exit_code=1)
    assert "no dead outbox row" in missing.stdout

    assert await ops.trellis_json("outbox", "relay", "--yes") == {"published": {"goals": 1}}
    assert await ops.stream_messages("goals") == 3
    box = (await ops.trellis_json("status", "-s", "goals"))["services"][0]["outbox"]
    assert (box["unpublished"], box["dead"], box["held"]) == (0, 0, 0)  # the dropped one is gone

    events_on_bus = await ops.audit_events()
    [drop] = audited(ops, events_on_bus, "outbox-drop")
    assert drop["arguments"] == {"event_ids": [too_big.event_id], "reason": "oversized, see #19"}
    assert [r["outcome"] for r in audited(ops, events_on_bus, "outbox-retry")] == ["done", "partly not found"]
