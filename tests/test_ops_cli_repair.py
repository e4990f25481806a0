"""The operators' changing commands against a running system: ``projections rebuild | reset``,
``dlq list | show | redrive | drop``, ``outbox relay``, ``replay webhooks``; each audited in
the log and on the bus."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import delete, insert, update

from trellis.contracts.goals import GoalStatusChanged
from trellis.goals.views.tables import goal_nodes
from trellis.notifications.testing import Receiver
from trellis.testing import StreamWriter, eventually

from .ops_system import OPERATOR, OpsSystem

TREE = "goals-alignment-tree"


def audited(ops: OpsSystem, events: list[dict[str, Any]], command: str) -> list[dict[str, Any]]:
    """The ops events of ``command`` on the bus, checked against the log's audit lines."""
    on_bus = [e for e in events if e["command"] == command]
    assert [e["audit_id"] for e in on_bus] == [e["audit_id"] for e in ops.audit_lines(command)]
    for e in on_bus:
        assert e["subject"] == f"{ops.subjects.root}.ops.audit.{command}" and e["operator"] == OPERATOR
    return on_bus


async def test_rebuild_under_live_traffic_dry_run_differences_and_from_scratch(ops: OpsSystem) -> None:
    goals = [await ops.create_goal(f"Goal {i}") for i in range(20)]
    await ops.settled()

    # Live traffic during the rebuild: none of it is lost across the swap.
    rebuild = asyncio.create_task(ops.trellis_json("projections", "rebuild", TREE, "--batch-size", "5"))
    while not rebuild.done():
        goals.append(await ops.create_goal(f"During {len(goals)}"))
    for _ in range(3):
        goals.append(await ops.create_goal(f"After {len(goals)}"))
    result = await rebuild
    assert result["swapped"] and result["service"] == "goals" and result["applied"] >= 20
    await ops.settled()
    assert set(await ops.view_rows()) == set(goals)

    # Corrupt the live view by hand; the dry run reports exactly that, and changes nothing.
    changed, lost = goals[0], goals[1]
    async with ops.runtimes["goals"].sessions() as session, session.begin():
        await session.execute(update(goal_nodes).where(goal_nodes.c.goal_id == changed).values(title="oops"))
        await session.execute(delete(goal_nodes).where(goal_nodes.c.goal_id == lost))
    dry = await ops.trellis_json("projections", "rebuild", TREE, "--dry-run")
    assert not dry["swapped"]
    [nodes] = [d for d in dry["differences"] if d["table"] == "goal_nodes"]
    assert (nodes["only_live"], nodes["only_rebuilt"], nodes["changed"]) == (0, 1, 1)
    assert (nodes["live_rows"], nodes["rebuilt_rows"]) == (len(goals) - 1, len(goals))
    assert (await ops.view_rows())[changed]["title"] == "oops"
    table = (await ops.trellis("projections", "rebuild", TREE, "--dry-run")).stdout
    assert "rebuilt vs live" in table and "goal_nodes" in table

    # Without --dry-run it resumes from the kept shadow copy and swaps the repair in.
    repaired = await ops.trellis_json("projections", "rebuild", TREE)
    assert repaired["swapped"] and repaired["resumed_from"] is not None
    view = await ops.view_rows()
    assert set(view) == set(goals) and view[changed]["title"] == "Goal 0"

    scratch = await ops.trellis_json("projections", "rebuild", TREE, "--from-scratch")
    assert scratch["swapped"] and scratch["resumed_from"] is None and scratch["applied"] == len(goals)
    refused = await ops.trellis("projections", "rebuild", "notifications-webhooks-goals", exit_code=1)
    assert "not rebuildable" in refused.stderr and "trellis replay webhooks" in refused.stderr

    events = await ops.audit_events()
    rebuilds = audited(ops, events, "projections-rebuild")
    assert [(e["arguments"]["dry_run"], e["arguments"]["from_scratch"], e["outcome"]) for e in rebuilds] == [
        (False, False, "done"),
        (True, False, "done"),
        (True, False, "done"),
        (False, False, "done"),
        (False, True, "done"),
        (False, False, "refused: not rebuildable"),
    ]


async def test_projections_reset_refuses_while_read_and_without_yes_then_resets(ops: OpsSystem) -> None:
    goals = [await ops.create_goal(f"Goal {i}") for i in range(3)]
    await ops.settled()
    busy = await ops.trellis("projections", "reset", TREE, "--yes", exit_code=1)
    assert "is being read" in busy.stderr and len(await ops.view_rows()) == 3

    await ops.stop("goals")  # the service is stopped for the repair with downtime
    plan = await ops.trellis("projections", "reset", TREE, exit_code=1)
    assert "empty goal_nodes (3 rows)" in plan.stderr
    assert "forget 3 processed-event records" in plan.stderr
    assert "nothing done: pass --yes" in plan.stderr
    await ops.start("goals")
    assert len(await ops.view_rows()) == 3
    await ops.stop("goals")

    done = await ops.trellis_json("projections", "reset", TREE, "--yes")
    assert done["tables"]["goal_nodes"] == 3 and done["processed"] == 3
    await ops.start("goals")  # its consumer re-reads the whole stream into the empty view
    await eventually(lambda: _has(ops, goals))

    resets = audited(ops, await ops.audit_events(), "projections-reset")
    assert [e["outcome"] for e in resets] == ["refused: consumer in use", "done"]
    assert resets[1]["details"]["tables"] == {"goal_nodes": 3, "goal_key_results": 0}


async def _has(ops: OpsSystem, goals: list[str]) -> bool:
    return set(await ops.view_rows()) == set(goals)


async def test_dead_letters_listed_shown_redriven_after_a_fix_and_dropped_with_a_reason(
    ops: OpsSystem,
) -> None:
    real = await ops.create_goal("A real goal")
    await ops.settled()
    # Events the view cannot apply (its goal is missing), and a message that is no event.
    writer = StreamWriter(ops.js, ops.subjects, "goals")
    await writer.emit(
        "ghost",
        GoalStatusChanged(goal_id="ghost", status="at_risk", previous_status="on_track"),
        GoalStatusChanged(goal_id="ghost", status="off_track", previous_status="at_risk"),
    )
    await ops.js.publish(f"{ops.subjects.root}.goals.goal.GoalCreated.acme.junk", b"{not json")

    async def letters() -> list[dict[str, Any]]:
        found = await ops.trellis_json("dlq", "list", "-s", "goals", "--consumer", TREE)
        return found if len(found) == 3 else []

    found = await eventually(letters, timeout=20)
    [junk] = [e for e in found if e["aggregate_id"] is None]  # dead-lettered at once
    first, parked = [e for e in found if e["aggregate_id"] == "ghost"]  # after its retries
    assert "LookupError: goal ghost is not in the alignment tree" in first["reason"]
    assert "parked behind dead-lettered event" in parked["reason"]
    assert (first["aggregate_id"], parked["aggregate_id"]) == ("ghost", "ghost")
    assert "not a Trellis event envelope" in junk["reason"]
    status = await ops.trellis_json("status", "-s", "goals")
    # the junk too, in every consumer of its subject's type
    assert status["services"][0]["dead_letters"] == {TREE: 3, "goals-realignment": 1, "goals-pace-watch": 1}
    listed = (await ops.trellis("dlq", "list", "-s", "goals")).stdout
    assert f"goals {TREE}: 3" in listed

    # notifications dead-lettered the junk too: an id both services have needs --service
    in_notifications = await eventually(lambda: ops.trellis_json("dlq", "list", "-s", "notifications"))
    in_goals = await ops.trellis_json("dlq", "list", "-s", "goals")
    shared_id = min({e["id"] for e in in_goals} & {e["id"] for e in in_notifications})
    ambiguous = await ops.trellis("dlq", "show", str(shared_id), exit_code=1)
    assert "exists in several services (goals, notifications): pass --service" in ambiguous.stderr
    shown = await ops.trellis_json("dlq", "show", "-s", "goals", str(first["id"]))
    assert shown["message"]["event_type"] == "GoalStatusChanged"
    assert shown["message"]["payload"]["status"] == "at_risk"
    assert (
        "raw message: {not json" in (await ops.trellis("dlq", "show", "-s", "goals", str(junk["id"]))).stdout
    )

    # Before the fix, redriving fails again and keeps the chain parked.
    again = json.loads(
        (await ops.trellis("dlq", "redrive", "-s", "goals", str(first["id"]), "--json", exit_code=1)).stdout
    )
    assert [f["id"] for f in again["failed"]] == [first["id"]]
    assert [s["id"] for s in again["skipped"]] == [parked["id"]]

    # The fix: the missing goal is put into the view. Redrive applies the chain in order.
    row = (await ops.view_rows())[real]
    async with ops.runtimes["goals"].sessions() as session, session.begin():
        await session.execute(insert(goal_nodes).values({**row, "goal_id": "ghost", "title": "Ghost"}))
    redriven = json.loads(
        (
            await ops.trellis(
                "dlq", "redrive", "-s", "goals", "--consumer", TREE, "--all", "--json", exit_code=1
            )
        ).stdout
    )
    assert [f["id"] for f in redriven["failed"]] == [junk["id"]]  # still undecodable
    assert (await ops.view_rows())["ghost"]["status"] == "off_track"

    dropped = await ops.trellis_json(
        "dlq", "drop", "-s", "goals", str(junk["id"]), "--reason", "junk from a test publisher"
    )
    assert [e["id"] for e in dropped["dropped"]] == [junk["id"]]
    assert await ops.trellis_json("dlq", "list", "-s", "goals", "--consumer", TREE) == []
    reason = ["--reason", "junk from a test publisher"]
    for consumer in ("goals-realignment", "goals-pace-watch"):  # the junk, in its other consumers
        await ops.trellis("dlq", "drop", "-s", "goals", "--consumer", consumer, "--all", *reason)
    assert await ops.trellis_json("dlq", "list", "-s", "goals") == []
    resolved = await ops.trellis_json("dlq", "list", "-s", "goals", "--all", "--consumer", TREE)
    assert {e["id"]: e["resolution"] for e in resolved} == {
        first["id"]: "redriven",
        parked["id"]: "redriven",
        junk["id"]: "dropped",
    }
    assert next(e for e in resolved if e["id"] == junk["id"])["resolution_reason"] == (
        "junk from a test publisher"
    )
    assert {e["resolved_by"] for e in resolved} == {OPERATOR}
    no_reason = await ops.trellis("dlq", "drop", "-s", "goals", str(junk["id"]), exit_code=1)
    assert "--reason" in no_reason.stderr

    events = await ops.audit_events()
    assert [e["outcome"] for e in audited(ops, events, "dlq-redrive")] == [
        "partly failed",
        "partly failed",
    ]
    drops = audited(ops, events, "dlq-drop")
    assert [(d["arguments"]["ids"], d["arguments"]["consumer"]) for d in drops] == [
        ([junk["id"]], None),
        ([], "goals-realignment"),
        ([], "goals-pace-watch"),
    ]
    assert {d["arguments"]["reason"] for d in drops} == {"junk from a test publisher"}


@pytest.mark.parametrize("goals_overrides", [{"run_relay": False}])
async def test_outbox_relay_refuses_without_yes_then_publishes_what_waits(ops: OpsSystem) -> None:
    goals = [await ops.create_goal(f"Goal {i}") for i in range(4)]
    status = await ops.trellis_json("status", "-s", "goals")
    assert status["services"][0]["outbox"]["unpublished"] == 4
    assert await ops.stream_messages("goals") == 0

    plan = await ops.trellis("outbox", "relay", exit_code=1)
    assert "goals: 4 unpublished events" in plan.stderr and "pass --yes" in plan.stderr
    assert await ops.stream_messages("goals") == 0

    done = await ops.trellis_json("outbox", "relay", "--yes")
    assert done == {"published": {"goals": 4}}
    assert await ops.stream_messages("goals") == 4
    await eventually(lambda: _has(ops, goals))  # the live consumer applies what was published
    assert "every outbox is empty" in (await ops.trellis("outbox", "relay", "--yes")).stderr

    [relayed] = audited(ops, await ops.audit_events(), "outbox-relay")
    assert relayed["details"] == {"published": {"goals": 4}}


async def test_replay_webhooks_delivers_exactly_the_range_marked_as_replays(ops: OpsSystem) -> None:
    receiver = Receiver()
    await receiver.start()
    try:
        sub = await ops.call(
            "notifications",
            "POST",
            "/v1/webhooks/subscriptions",
            {"url": receiver.url, "event_types": ["goals.*"]},
        )
        before = await ops.create_goal("Before")
        since = dt.datetime.now(dt.UTC)
        inside = [await ops.create_goal(f"Inside {i}") for i in range(3)]
        until = dt.datetime.now(dt.UTC)
        await ops.create_goal("After")
        await eventually(lambda: _received(receiver, 5))
        live = {r.json["data"]["aggregate_id"]: r.webhook_id for r in receiver.delivered()}
        assert before in live

        argv = ["replay", "webhooks", "--subscription", sub["id"]]
        argv += ["--since", since.isoformat(), "--until", until.isoformat()]
        plan = await ops.trellis(*argv, exit_code=1)
        assert "3 events from" in plan.stderr and "pass --yes" in plan.stderr
        done = await ops.trellis_json(*argv, "--yes")
        assert (done["events"], done["scheduled"], done["tenant_id"]) == (3, 3, "acme")

        await eventually(lambda: _received(receiver, 8))
        await asyncio.sleep(0.3)  # nothing more arrives
        replayed = [r for r in receiver.delivered() if "trellis-replay-id" in r.headers]
        assert len(receiver.delivered()) == 8 and len(replayed) == 3
        assert {r.headers["trellis-replay-id"] for r in replayed} == {done["replay_id"]}
        assert sorted(r.webhook_id for r in replayed) == sorted(live[g] for g in inside)

        missing = await ops.trellis(
            "replay", "webhooks", "--subscription", "nope", "--since", "1h", exit_code=1
        )
        assert "webhook subscription nope not found" in missing.stderr
        [replay] = audited(ops, await ops.audit_events(), "replay-webhooks")
        assert replay["arguments"]["subscription_id"] == sub["id"] and replay["details"]["scheduled"] == 3
    finally:
        await receiver.stop()


async def _received(receiver: Receiver, count: int) -> bool:
    return len(receiver.delivered()) >= count
