"""The operators' reading commands against a running system: ``status``, ``events tail``,
``events history``, ``events find`` (the changing ones are in ``test_ops_cli_repair.py``)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

from .ops_system import ADMIN, GLOBEX_ADMIN, OpsSystem, auth

EMIL = auth("emil", "employee")


async def test_status_shows_streams_consumers_outboxes_and_projections_with_real_figures(
    ops: OpsSystem,
) -> None:
    made = 0
    for title in ("Win the mid-market", "Ship the mobile app", "Hire 10 engineers"):
        goal = await ops.create_goal(title)
        made += 1
    await ops.call("goals", "PUT", f"/v1/goals/{goal}/status", {"status": "at_risk"})
    made += 1
    await ops.settled()

    found = await ops.trellis_json("status", "-s", "goals", "-s", "notifications")
    goals = next(s for s in found["services"] if s["name"] == "goals")
    assert found["nats"]["error"] is None
    assert goals["events"]["head"] == made
    assert goals["stream"]["name"] == ops.subjects.stream("goals")
    assert (goals["stream"]["messages"], goals["stream"]["first_seq"], goals["stream"]["last_seq"]) == (
        made,
        1,
        made,
    )
    assert goals["outbox"] == {"unpublished": 0, "oldest_age_seconds": None, "dead": 0, "held": 0}
    tree = next(p for p in goals["projections"] if p["name"] == "goals-alignment-tree")
    assert (tree["lag"], tree["position"], tree["head"], tree["dead_letters"]) == (0, made, made, 0)
    on_goals = {c["name"]: c for c in goals["consumers"]}
    assert on_goals  # the goals projections' and notifications' durable consumers on the goals stream
    assert all(c["num_pending"] == 0 and c["num_ack_pending"] == 0 for c in on_goals.values())
    assert {p["name"] for p in goals["projections"]} >= {"goals-alignment-tree", "goals-realignment"}
    notifications = next(s for s in found["services"] if s["name"] == "notifications")
    webhooks = next(p for p in notifications["projections"] if p["name"] == "notifications-webhooks-goals")
    assert (webhooks["position"], webhooks["head"], webhooks["rebuildable"]) == (made, made, False)

    # The consumer falls behind when its service stops: the lag is what is left to read.
    await ops.stop("notifications")
    await ops.create_goal("Open an office in Lyon")
    await ops.settled()
    found = await ops.trellis_json("status", "-s", "notifications")
    [notifications] = found["services"]
    webhooks = next(p for p in notifications["projections"] if p["name"] == "notifications-webhooks-goals")
    assert (webhooks["lag"], webhooks["position"], webhooks["head"]) == (1, made, made + 1)

    table = (await ops.trellis("status", "-s", "goals")).stdout
    for heading in ("Streams", "Durable consumers", "Outboxes", "Projections"):
        assert heading in table
    stream_row = next(line for line in table.splitlines() if ops.subjects.stream("goals") in line)
    assert stream_row.split("│")[3].strip() == str(made + 1)  # messages


async def test_events_tail_follows_live_events_filtered_and_as_json_lines(ops: OpsSystem) -> None:
    acme = [await ops.create_goal(f"Acme goal {i}") for i in range(2)]
    globex = await ops.create_goal("Globex goal", headers=GLOBEX_ADMIN)
    await ops.call("goals", "PUT", f"/v1/goals/{acme[0]}/status", {"status": "off_track"})
    await ops.settled()

    async def tail(*argv: str) -> list[dict[str, Any]]:
        result = await ops.trellis("events", "tail", "--json", "--all", "--idle-timeout", "0.5", *argv)
        return [json.loads(line) for line in result.stdout.splitlines()]

    every = await tail("-s", "goals")
    assert [e["event"]["event_type"] for e in every] == ["GoalCreated"] * 3 + ["GoalStatusChanged"]
    assert [e["stream_sequence"] for e in every] == [1, 2, 3, 4]
    assert {e["service"] for e in every} == {"goals"}
    created = await tail("--type", "GoalCreated", "--tenant", "acme", "--aggregate-type", "goal")
    assert [e["event"]["aggregate_id"] for e in created] == acme
    assert [e["event"]["aggregate_id"] for e in await tail("--tenant", "globex")] == [globex]
    assert await tail("--aggregate-type", "checkin") == []  # no such events anywhere
    assert len(await tail("-s", "goals", "--limit", "2")) == 2

    # Live: from now on, only what happens after it started.
    follow = asyncio.create_task(
        ops.trellis("events", "tail", "--json", "-s", "goals", "--type", "GoalRetired", "--limit", "1")
    )
    retired = []
    while not follow.done() and len(retired) < 50:
        goal = await ops.create_goal(f"Short-lived {len(retired)}")
        await ops.call("goals", "POST", f"/v1/goals/{goal}/retire", {"reason": "merged"})
        retired.append(goal)
        await asyncio.wait([follow], timeout=0.2)
    [line] = (await follow).stdout.splitlines()
    event = json.loads(line)["event"]
    assert event["event_type"] == "GoalRetired" and event["aggregate_id"] in retired
    assert event["aggregate_id"] not in acme

    pretty = (
        await ops.trellis("events", "tail", "--all", "--idle-timeout", "0.5", "--tenant", "globex")
    ).stdout
    assert "GoalCreated" in pretty and globex in pretty and "globex" in pretty


async def test_events_history_shows_who_what_when_and_the_state_at_any_version(ops: OpsSystem) -> None:
    goal = await ops.create_goal("Run demos", headers=EMIL, level="individual")
    await ops.call("goals", "PATCH", f"/v1/goals/{goal}", {"title": "Run 20 demos"}, headers=EMIL)
    await ops.call("goals", "PUT", f"/v1/goals/{goal}/status", {"status": "at_risk"}, headers=ADMIN)

    found = await ops.trellis_json("events", "history", goal)
    assert (found["service"], found["aggregate_type"], found["tenant_id"]) == ("goals", "goal", "acme")
    assert found["version"] == found["state_version"] == 3
    assert [(e["version"], e["event_type"], e["actor_id"]) for e in found["events"]] == [
        (1, "GoalCreated", "emil"),
        (2, "GoalChanged", "emil"),
        (3, "GoalStatusChanged", "ceo"),
    ]
    times = [dt.datetime.fromisoformat(e["occurred_at"]) for e in found["events"]]
    assert times == sorted(times) and dt.datetime.now(dt.UTC) - times[0] < dt.timedelta(minutes=1)
    assert found["events"][1]["payload"]["changes"] == {"title": "Run 20 demos"}
    assert (found["state"]["title"], found["state"]["status"]) == ("Run 20 demos", "at_risk")

    first = await ops.trellis_json("events", "history", goal, "--at-version", "1")
    assert first["state_version"] == 1 and len(first["events"]) == 3
    assert (first["state"]["title"], first["state"]["status"]) == ("Run demos", "on_track")

    table = (await ops.trellis("events", "history", goal, "--at-version", "2")).stdout
    assert "GoalStatusChanged" in table and "state at version 2" in table and "Run 20 demos" in table
    missing = await ops.trellis("events", "history", "no-such-goal", exit_code=1)
    assert "no events of aggregate 'no-such-goal'" in missing.stderr
    beyond = await ops.trellis("events", "history", goal, "--at-version", "9", exit_code=1)
    assert "has versions 1 to 3" in beyond.stderr


async def test_events_find_searches_by_tenant_type_actor_and_time_range(ops: OpsSystem) -> None:
    early = await ops.create_goal("Before the range", headers=EMIL, level="individual")
    since = dt.datetime.now(dt.UTC)
    inside = [await ops.create_goal(f"In range {i}", headers=EMIL, level="individual") for i in range(2)]
    await ops.call("goals", "PUT", f"/v1/goals/{inside[0]}/status", {"status": "at_risk"}, headers=EMIL)
    by_admin = await ops.create_goal("By the admin")
    globex = await ops.create_goal("Globex's", headers=GLOBEX_ADMIN)
    until = dt.datetime.now(dt.UTC)
    await ops.create_goal("After the range", headers=EMIL, level="individual")

    async def find(*argv: str) -> list[dict[str, Any]]:
        return list(await ops.trellis_json("events", "find", *argv))

    in_range = ["--since", since.isoformat(), "--until", until.isoformat()]
    found = await find(*in_range)
    assert [(e["aggregate_id"], e["event_type"]) for e in found] == [
        (inside[0], "GoalCreated"),
        (inside[1], "GoalCreated"),
        (inside[0], "GoalStatusChanged"),
        (by_admin, "GoalCreated"),
        (globex, "GoalCreated"),
    ]
    emil = await find(*in_range, "--tenant", "acme", "--type", "GoalCreated", "--actor", "emil")
    assert [e["aggregate_id"] for e in emil] == inside
    assert [e["aggregate_id"] for e in await find("--tenant", "globex")] == [globex]
    assert [e["aggregate_id"] for e in await find("--actor", "emil", "--until", since.isoformat())] == [early]
    changed = await find("--type", "GoalStatusChanged", "--type", "GoalRetired", "--aggregate-type", "goal")
    assert [(e["service"], e["actor_id"]) for e in changed] == [("goals", "emil")]
    newest = await find("--tenant", "acme", "--newest-first", "--limit", "1")
    assert newest[0]["payload"]["title"] == "After the range"
    assert await find("--since", "1m", "--tenant", "nobody") == []

    table = (await ops.trellis("events", "find", "--tenant", "globex")).stdout
    assert "1 events" in table and "GoalCreated" in table
    bad = await ops.trellis("events", "find", "--since", "last tuesday", exit_code=2)
    assert "cannot read 'last tuesday' as a time" in bad.stderr
