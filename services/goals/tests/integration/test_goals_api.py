"""The goals service end to end: HTTP in, events through the real stream, read views out."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import nats
from sqlalchemy import func, select

from trellis.contracts.onboarding import EmployeeHired
from trellis.core.rebuild.rebuilder import rebuild
from trellis.core.store.tables import events, processed_events
from trellis.goals.views.tables import goal_key_results, goal_nodes
from trellis.testing import eventually

from ..conftest import ADMIN, TENANT, GoalsService, auth

MANAGER = auth("mia", "manager", "employee")  # manages emil (see the goals fixture)
EMPLOYEE = auth("emil", "employee")


async def create(client: Any, headers: dict[str, str], **body: Any) -> str:
    body.setdefault("period", "Q4")  # no dates: no pace decisions in tests not about pace
    resp = await client.post("/v1/goals", json=body, headers=headers)
    assert resp.status_code == 201, resp.text
    return resp.json()["goal_id"]


async def find_in_tree(client: Any, goal_id: str) -> dict[str, Any] | None:
    resp = await client.get("/v1/alignment-tree", headers=ADMIN)
    stack = list(resp.json()["roots"])
    while stack:
        node = stack.pop()
        if node["id"] == goal_id:
            return node
        stack.extend(node["children"])
    return None


async def test_progress_rolls_up_and_retiring_the_objective_asks_both_descendants_to_realign(
    goals: GoalsService, nats_url: str
) -> None:
    client = goals.client
    objective = await create(client, ADMIN, level="company", title="Win the mid-market")
    team = await create(
        client, MANAGER, level="team", title="Ship self-serve onboarding", parent_id=objective
    )
    mine = await create(client, EMPLOYEE, level="individual", title="Cut signup to 3 steps", parent_id=team)
    resp = await client.post(
        f"/v1/goals/{mine}/key-results",
        json={"name": "signup steps", "start": 9, "target": 3, "unit": "steps"},
        headers=EMPLOYEE,
    )
    assert resp.status_code == 201, resp.text
    kr = resp.json()["key_result_id"]
    resp = await client.post(
        f"/v1/goals/{mine}/key-results/{kr}/progress",
        json={"value": 6, "confidence": 4, "comment": "two steps merged"},
        headers=EMPLOYEE,
    )
    assert resp.status_code == 200, resp.text

    started = asyncio.get_running_loop().time()

    async def rolled_up() -> bool:
        node = await find_in_tree(client, objective)
        return node is not None and node["progress"] == 0.5

    await eventually(rolled_up, timeout=1.0)
    assert asyncio.get_running_loop().time() - started < 1.0
    tree_objective = await find_in_tree(client, objective)
    assert tree_objective is not None
    assert tree_objective["children"][0]["progress"] == 0.5
    assert tree_objective["children"][0]["children"][0]["key_results"][0]["progress"] == 0.5

    objectives = (await client.get("/v1/objectives", headers=EMPLOYEE)).json()["objectives"]
    assert objectives == [
        {
            "id": objective,
            "title": "Win the mid-market",
            "owner_id": "ceo",
            "period": "Q4",
            "status": "on_track",
            "progress": 0.5,
            "goals_aligned": 2,
            "people_aligned": 2,
        }
    ]

    resp = await client.post(f"/v1/goals/{objective}/retire", json={"reason": "pivot"}, headers=ADMIN)
    assert resp.status_code == 200, resp.text

    async def realignment_requested(goal_id: str) -> list[dict[str, Any]]:
        history = (await client.get(f"/v1/goals/{goal_id}/history", headers=EMPLOYEE)).json()
        return [e for e in history["events"] if e["type"] == "RealignmentRequested"]

    for goal_id in (team, mine):
        requests = await eventually(lambda g=goal_id: realignment_requested(g))
        assert len(requests) == 1
        assert requests[0]["data"]["cause_goal_id"] == objective
        assert requests[0]["data"]["reason"] == "ancestor_retired"
        assert requests[0]["actor_id"] == "ceo"

    async def flagged() -> bool:
        body = (await client.get(f"/v1/goals/{mine}", headers=EMPLOYEE)).json()
        return body["needs_realignment"]

    await eventually(flagged)

    # The events are on the service's stream, each with Nats-Msg-Id = its event id.
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        stream = goals.runtime.stream.name
        await eventually(lambda: _stream_count(js, stream, 8))
        sub = await js.pull_subscribe(f"{goals.runtime.subjects.root}.goals.>", stream=stream)
        msgs = await sub.fetch(50, timeout=2)
        for msg in msgs:
            envelope = json.loads(msg.data)
            assert msg.headers["Nats-Msg-Id"] == envelope["event_id"]
            assert envelope["tenant_id"] == TENANT
        types = [json.loads(m.data)["event_type"] for m in msgs]
        assert types.count("RealignmentRequested") == 2
        assert "GoalRetired" in types
    finally:
        await nc.close()


async def _stream_count(js: Any, stream: str, at_least: int) -> bool:
    info = await js.stream_info(stream)
    return info.state.messages >= at_least


async def test_relinking_a_flagged_goal_clears_its_realignment(goals: GoalsService) -> None:
    client = goals.client
    old = await create(client, ADMIN, level="company", title="Old objective")
    new = await create(client, ADMIN, level="company", title="New objective")
    team = await create(client, MANAGER, level="team", title="Team goal", parent_id=old)
    await client.patch(f"/v1/goals/{old}", json={"title": "Old objective, reworded"}, headers=ADMIN)

    async def pending() -> bool:
        return (await client.get(f"/v1/goals/{team}", headers=ADMIN)).json()["needs_realignment"]

    await eventually(pending)
    resp = await client.put(f"/v1/goals/{team}/alignment", json={"parent_id": new}, headers=MANAGER)
    assert resp.status_code == 200, resp.text
    assert resp.json()["events"] == ["GoalAligned", "RealignmentResolved"]

    async def cleared() -> bool:
        body = (await client.get(f"/v1/goals/{team}", headers=ADMIN)).json()
        return not body["needs_realignment"] and body["parent_id"] == new

    await eventually(cleared)


async def test_commands_sharing_a_commit_each_get_their_own_answer_and_nothing_of_the_refused_stays(
    goals: GoalsService,
) -> None:
    # Under group commit (SQLite's default) concurrent commands share transactions: the
    # winners, the conflicts and the refusals among them must each come out as if alone.
    client = goals.client
    goal = await create(client, EMPLOYEE, level="individual", title="Start")
    group = goals.runtime.sessions.group
    if group is not None:
        group.max_age = 60  # batches as long as commands wait, however slow the machine
    before = (group.batches, group.commands) if group else (0, 0)

    async def rename(i: int) -> tuple[str, int, str | None]:
        headers = {**EMPLOYEE, "If-Match": "1"}
        resp = await client.patch(f"/v1/goals/{goal}", json={"title": f"Renamed {i}"}, headers=headers)
        return "rename", resp.status_code, None

    async def new(i: int) -> tuple[str, int, str | None]:
        body = {"level": "individual", "title": f"New {i}", "period": "Q4"}
        resp = await client.post("/v1/goals", json=body, headers=EMPLOYEE)
        return "new", resp.status_code, resp.json().get("goal_id")

    async def refused(i: int) -> tuple[str, int, str | None]:
        body = {"level": "company", "title": f"Not yours {i}", "period": "Q4"}
        resp = await client.post("/v1/goals", json=body, headers=EMPLOYEE)
        return "refused", resp.status_code, None

    results = await asyncio.gather(*(f(i) for i in range(6) for f in (rename, new, refused)))
    statuses = {
        kind: sorted(status for k, status, _ in results if k == kind) for kind in ("rename", "new", "refused")
    }
    assert statuses == {"rename": [200] + [409] * 5, "new": [201] * 6, "refused": [403] * 6}
    if group is not None:
        assert group.commands - before[1] > group.batches - before[0]  # some of them shared a commit
    created = [goal_id for kind, _, goal_id in results if kind == "new"]
    history = (await client.get(f"/v1/goals/{goal}/history", headers=EMPLOYEE)).json()["events"]
    assert [e["version"] for e in history] == [1, 2]

    async def all_in_views() -> bool:
        titles = set()
        for goal_id in created:
            resp = await client.get(f"/v1/goals/{goal_id}", headers=EMPLOYEE)
            if resp.status_code != 200:
                return False
            titles.add(resp.json()["title"])
        return titles == {f"New {i}" for i in range(6)}

    await eventually(all_in_views)
    async with goals.runtime.sessions() as session:
        stored = (
            await session.execute(select(events.c.aggregate_id, events.c.event_type, events.c.payload))
        ).all()
    created_events = [(a, p["title"]) for a, t, p in stored if t == "GoalCreated"]
    assert sorted(created_events) == sorted(
        [(goal, "Start"), *zip(created, [f"New {i}" for i in range(6)], strict=True)]
    )


async def test_concurrent_writers_each_version_written_once_and_losers_get_409(
    goals: GoalsService,
) -> None:
    client = goals.client
    goal = await create(client, EMPLOYEE, level="individual", title="Start")

    async def rename(i: int) -> int:
        resp = await client.patch(
            f"/v1/goals/{goal}", json={"title": f"Title {i}"}, headers={**EMPLOYEE, "If-Match": "1"}
        )
        assert resp.status_code in (200, 409), resp.text
        if resp.status_code == 409:
            assert resp.json()["error"]["code"] == "concurrency_conflict"
        return resp.status_code

    statuses = await asyncio.gather(*(rename(i) for i in range(20)))
    assert statuses.count(200) == 1
    assert statuses.count(409) == 19

    # Without If-Match, racing writers still never merge: every stored version is unique.
    async def rename_free(i: int) -> int:
        resp = await client.patch(f"/v1/goals/{goal}", json={"title": f"Free {i}"}, headers=EMPLOYEE)
        return resp.status_code

    free = await asyncio.gather(*(rename_free(i) for i in range(20)))
    assert set(free) <= {200, 409}
    history = (await client.get(f"/v1/goals/{goal}/history", headers=EMPLOYEE)).json()["events"]
    versions = [e["version"] for e in history]
    assert versions == list(range(1, len(versions) + 1))
    assert len(versions) == 2 + free.count(200)
    last_title = [e for e in history if e["type"] == "GoalChanged"][-1]["data"]["changes"]["title"]

    async def view_caught_up() -> bool:
        body = (await client.get(f"/v1/goals/{goal}", headers=EMPLOYEE)).json()
        return body["version"] == len(versions) and body["title"] == last_title

    await eventually(view_caught_up)


async def test_bad_input_gets_a_clear_4xx_and_never_a_500(goals: GoalsService) -> None:
    client = goals.client
    objective = await create(client, ADMIN, level="company", title="Objective")
    team = await create(client, MANAGER, level="team", title="Team", parent_id=objective)

    cases: list[tuple[str, str, dict[str, Any] | None, dict[str, str], int, str]] = [
        ("POST", "/v1/goals", {"level": "team"}, ADMIN, 422, "invalid_input"),
        ("POST", "/v1/goals", {"level": "galaxy", "title": "x", "period": "Q"}, ADMIN, 422, "invalid_input"),
        ("POST", "/v1/goals", {"level": "team", "title": 5, "period": []}, ADMIN, 422, "invalid_input"),
        (
            "POST",
            "/v1/goals",
            {"level": "team", "title": "x", "period": "Q", "bogus": 1},
            ADMIN,
            422,
            "invalid_input",
        ),
        ("GET", "/v1/goals/does-not-exist", None, ADMIN, 404, "not_found"),
        ("PUT", f"/v1/goals/{team}/alignment", {"parent_id": "nope"}, ADMIN, 404, "not_found"),
        # a company objective cannot align under its own team goal (level rule, and a cycle)
        ("PUT", f"/v1/goals/{objective}/alignment", {"parent_id": team}, ADMIN, 409, "rule_violation"),
        ("PUT", f"/v1/goals/{team}/alignment", {"parent_id": team}, ADMIN, 409, "rule_violation"),
        ("POST", "/v1/goals", {"level": "company", "title": "x", "period": "Q"}, EMPLOYEE, 403, "forbidden"),
        ("GET", f"/v1/goals/{team}", None, auth("eve", "admin", tenant="other"), 404, "not_found"),
        (
            "PATCH",
            f"/v1/goals/{team}",
            {"title": "mine"},
            auth("eve", "admin", tenant="other"),
            404,
            "not_found",
        ),
        ("GET", "/v1/alignment-tree", None, {}, 401, "unauthenticated"),
        ("GET", "/v1/alignment-tree", None, {"Authorization": "Bearer not-a-jwt"}, 401, "unauthenticated"),
        ("PATCH", f"/v1/goals/{team}", {"title": ""}, MANAGER, 422, "invalid_input"),
        ("PATCH", f"/v1/goals/{team}", {"title": "x"}, {**MANAGER, "If-Match": "abc"}, 422, "invalid_input"),
        ("POST", f"/v1/goals/{team}/key-results/nope/progress", {"value": 1}, MANAGER, 404, "not_found"),
        (
            "POST",
            f"/v1/goals/{team}/key-results",
            {"name": "kr", "start": "a", "target": 1},
            MANAGER,
            422,
            "invalid_input",
        ),
    ]
    for method, url, body, headers, expected, code in cases:
        resp = await client.request(method, url, json=body, headers=headers)
        assert resp.status_code == expected, (method, url, body, resp.status_code, resp.text)
        error = resp.json()["error"]
        assert error["code"] == code, (url, error)
        assert error["message"]

    # A foreign tenant's goal cannot be used as a parent, and is reported as not found.
    foreign = await create(client, auth("eve", "admin", tenant="other"), level="company", title="Theirs")
    resp = await client.put(f"/v1/goals/{team}/alignment", json={"parent_id": foreign}, headers=ADMIN)
    assert resp.status_code == 404
    # Retired goals accept no new children.
    await client.post(f"/v1/goals/{objective}/retire", json={}, headers=ADMIN)
    resp = await client.post(
        "/v1/goals",
        json={"level": "team", "title": "late", "period": "Q", "parent_id": objective},
        headers=MANAGER,
    )
    assert resp.status_code == 409
    assert "retired" in resp.json()["error"]["message"]


async def test_who_may_change_what(goals: GoalsService) -> None:
    client = goals.client
    mine = await create(client, EMPLOYEE, level="individual", title="Mine")
    other = auth("olga", "employee")
    assert (await client.patch(f"/v1/goals/{mine}", json={"title": "x"}, headers=other)).status_code == 403
    assert (
        await client.patch(f"/v1/goals/{mine}", json={"title": "by manager"}, headers=MANAGER)
    ).status_code == 200
    assert (
        await client.patch(f"/v1/goals/{mine}", json={"title": "by hr"}, headers=auth("h", "hr"))
    ).status_code == 200
    # everyone in the tenant reads goals
    assert (await client.get(f"/v1/goals/{mine}/history", headers=other)).status_code == 200
    team = await create(client, MANAGER, level="team", title="Team")
    assert (await client.patch(f"/v1/goals/{team}", json={"title": "y"}, headers=EMPLOYEE)).status_code == 403


async def test_a_manager_change_in_the_org_changes_who_may_edit_the_goals(goals: GoalsService) -> None:
    client = goals.client
    mine = await create(client, EMPLOYEE, level="individual", title="Mine")
    olga = auth("olga", "manager", "employee")
    assert (await client.patch(f"/v1/goals/{mine}", json={"title": "x"}, headers=olga)).status_code == 403
    await goals.change_manager("emil", "olga", previous="mia")
    await goals.until_managed("olga", "emil")
    assert (
        await client.patch(f"/v1/goals/{mine}", json={"title": "by olga"}, headers=olga)
    ).status_code == 200
    resp = await client.patch(f"/v1/goals/{mine}", json={"title": "by mia"}, headers=MANAGER)
    assert resp.status_code == 403  # mia no longer manages emil


async def test_coverage_and_employee_goals(goals: GoalsService) -> None:
    client = goals.client
    objective = await create(client, ADMIN, level="company", title="Aligned objective")
    lonely = await create(client, ADMIN, level="company", title="Nobody on it")
    team = await create(client, MANAGER, level="team", title="Team", parent_id=objective)
    await create(client, EMPLOYEE, level="individual", title="Aligned", parent_id=team)
    await create(client, auth("olga", "employee"), level="individual", title="Floating")

    async def coverage() -> dict[str, Any] | None:
        body = (await client.get("/v1/alignment-coverage", headers=EMPLOYEE)).json()
        return body if body["goals"] == 3 else None

    body = await eventually(coverage)
    assert body["goals_aligned"] == 2
    assert body["goal_coverage"] == round(2 / 3, 4)
    assert body["people_without_aligned_goal"] == ["olga"]
    assert body["objectives_without_aligned_goals"] == [{"id": lonely, "title": "Nobody on it"}]

    # everyone counts, not only goal owners: someone hired with no goal at all is not aligned
    await goals.org.emit(
        "noor",
        EmployeeHired(
            employee_id="noor",
            name="Noor",
            email="noor@acme.test",
            start_date=dt.date(2026, 2, 1),
            team_id="platform",
            manager_id="mia",
        ),
    )

    async def with_noor() -> dict[str, Any] | None:
        body = (await client.get("/v1/alignment-coverage", headers=EMPLOYEE)).json()
        return body if body["people"] == 4 else None

    body = await eventually(with_noor)
    assert (body["people_aligned"], body["people_coverage"]) == (2, 0.5)  # mia and emil of 4
    assert body["people_without_aligned_goal"] == ["noor", "olga"]
    assert body["per_team"] == [
        {"team_id": "platform", "people": 1, "people_aligned": 0, "people_coverage": 0.0},
        {"team_id": None, "people": 3, "people_aligned": 2, "people_coverage": round(2 / 3, 4)},
    ]
    mine = (await client.get("/v1/alignment-coverage?manager_id=mia", headers=MANAGER)).json()
    assert (mine["manager_id"], mine["people"], mine["people_without_aligned_goal"]) == ("mia", 2, ["noor"])
    later = (await client.get("/v1/alignment-coverage?period=2027-Q1", headers=EMPLOYEE)).json()
    assert (later["period"], later["goals"], later["people_aligned"]) == ("2027-Q1", 0, 0)
    goals_of_emil = (await client.get("/v1/employees/emil/goals", headers=MANAGER)).json()["goals"]
    assert [g["title"] for g in goals_of_emil] == ["Aligned"]


async def test_alignment_tree_dropped_and_rebuilt_equals_the_original(goals: GoalsService) -> None:
    client = goals.client
    objective = await create(client, ADMIN, level="company", title="O")
    team = await create(client, MANAGER, level="team", title="T", parent_id=objective)
    for i in range(3):
        goal = await create(client, EMPLOYEE, level="individual", title=f"I{i}", parent_id=team)
        kr = (
            await client.post(
                f"/v1/goals/{goal}/key-results",
                json={"name": "k", "start": 0, "target": 10},
                headers=EMPLOYEE,
            )
        ).json()["key_result_id"]
        await client.post(
            f"/v1/goals/{goal}/key-results/{kr}/progress", json={"value": 3 * i}, headers=EMPLOYEE
        )
    await client.post(f"/v1/goals/{objective}/retire", json={}, headers=ADMIN)
    tree = next(r for r in goals.runtime.runners if r.name == "goals-alignment-tree")

    async def snapshot() -> tuple[list[Any], list[Any]]:
        async with goals.runtime.sessions() as session:
            nodes = (await session.execute(select(goal_nodes).order_by(goal_nodes.c.goal_id))).all()
            krs = (
                await session.execute(select(goal_key_results).order_by(goal_key_results.c.key_result_id))
            ).all()
        return [tuple(n) for n in nodes], [tuple(k) for k in krs]

    async def settled() -> bool:
        # every event of the stream has been applied to the tree (realignment requests too)
        async with goals.runtime.sessions() as session:
            done = (
                await session.execute(
                    select(func.count())
                    .select_from(processed_events)
                    .where(processed_events.c.consumer == tree.name)
                )
            ).scalar()
        return done == await goals.runtime.store.head()

    await eventually(settled)
    before = await snapshot()
    for task in goals.runtime._tasks:
        if task.get_name() == f"consumer-{tree.name}":
            task.cancel()
    applied = await rebuild(tree.projection, goals.runtime.store)
    assert applied == await goals.runtime.store.head()
    assert await snapshot() == before


async def test_the_same_change_processed_twice_asks_each_goal_to_realign_once(goals: GoalsService) -> None:
    """Beyond the processed-event record (a replay, a record lost), the aggregate refuses a second ask."""
    client = goals.client
    objective = await create(client, ADMIN, level="company", title="O")
    team = await create(client, MANAGER, level="team", title="T", parent_id=objective)
    mine = await create(client, EMPLOYEE, level="individual", title="I", parent_id=team)
    await client.post(f"/v1/goals/{objective}/retire", json={}, headers=ADMIN)

    async def requests(goal_id: str) -> int:
        history = (await client.get(f"/v1/goals/{goal_id}/history", headers=ADMIN)).json()["events"]
        return sum(e["type"] == "RealignmentRequested" for e in history)

    await eventually(lambda: _all_one(requests, team, mine))
    realignment = next(r for r in goals.runtime.runners if r.name == "goals-realignment").projection
    async with goals.runtime.sessions() as session:
        retired = [
            r
            for r in await goals.runtime.store.load(session, objective)
            if r.envelope.event_type == "GoalRetired"
        ]
    async with goals.runtime.sessions() as session, session.begin():
        await realignment.handle(session, retired[0])  # the same GoalRetired, once more
    assert await requests(team) == 1
    assert await requests(mine) == 1


async def _all_one(count: Any, *goal_ids: str) -> bool:
    return all([await count(g) == 1 for g in goal_ids])


async def test_the_asyncapi_document_describes_what_goals_publishes_and_consumes(goals: GoalsService) -> None:
    doc = (await goals.client.get("/v1/asyncapi.json")).json()
    assert doc["asyncapi"] == "3.0.0"
    retired = doc["channels"]["GoalRetired"]
    root = goals.runtime.subjects.root
    assert retired["address"] == f"{root}.goals.goal.GoalRetired.{{tenant_id}}.{{aggregate_id}}"
    assert doc["operations"]["GoalRetired"]["action"] == "send"
    assert doc["operations"]["onboarding.EmployeeManagerChanged"]["action"] == "receive"
    envelope = doc["components"]["schemas"]["GoalRetired.envelope"]
    assert envelope["properties"]["event_type"]["const"] == "GoalRetired"
    assert "goal_id" in doc["components"]["schemas"]["GoalRetired"]["properties"]
