"""Editable key results over HTTP: a key result renamed and rescaled, one removed, a
goal's roll-up source changed; each an event in the audit trail, the alignment tree
rolled up again."""

from __future__ import annotations

from typing import Any

from trellis.testing import eventually

from ..conftest import ADMIN, GoalsService, auth

MANAGER = auth("mia", "manager", "employee")
EMPLOYEE = auth("emil", "employee")
STRANGER = auth("olga", "employee")


async def _create(goals: GoalsService, headers: dict[str, str], **body: Any) -> str:
    resp = await goals.client.post("/v1/goals", json={"period": "2027-Q1", **body}, headers=headers)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["goal_id"])


async def _key_result(goals: GoalsService, goal: str, target: float, value: float) -> str:
    client = goals.client
    resp = await client.post(
        f"/v1/goals/{goal}/key-results", json={"name": "k", "start": 0, "target": target}, headers=EMPLOYEE
    )
    assert resp.status_code == 201, resp.text
    kr = str(resp.json()["key_result_id"])
    resp = await client.post(
        f"/v1/goals/{goal}/key-results/{kr}/progress", json={"value": value}, headers=EMPLOYEE
    )
    assert resp.status_code == 200, resp.text
    return kr


async def _node(goals: GoalsService, goal: str, **expected: Any) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        tree = (await goals.client.get("/v1/alignment-tree", headers=ADMIN)).json()["roots"]
        stack = list(tree)
        while stack:
            node = stack.pop()
            if node["id"] == goal:
                return node if all(node[k] == v for k, v in expected.items()) else None
            stack.extend(node["children"])
        return None

    found: dict[str, Any] = await eventually(check)
    return found


async def test_key_results_are_edited_and_removed_and_the_tree_rolls_up_again(goals: GoalsService) -> None:
    client = goals.client
    team = await _create(goals, MANAGER, level="team", title="Team", progress_rollup="children")
    mine = await _create(goals, EMPLOYEE, level="individual", title="Mine", parent_id=team)
    users = await _key_result(goals, mine, target=100, value=50)  # 0.5
    revenue = await _key_result(goals, mine, target=10, value=10)  # 1.0
    await _node(goals, mine, progress=0.75)
    await _node(goals, team, progress=0.75)

    version = (await client.get(f"/v1/goals/{mine}", headers=EMPLOYEE)).json()["version"]
    resp = await client.patch(
        f"/v1/goals/{mine}/key-results/{users}",
        json={"target": 200, "name": "Active users", "unit": "people"},
        headers={**EMPLOYEE, "If-Match": str(version)},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["events"] == ["KeyResultChanged"] and resp.json()["version"] == version + 1
    node = await _node(goals, mine, progress=0.625)  # 50/200 = 0.25 and 1.0
    changed = next(kr for kr in node["key_results"] if kr["id"] == users)
    assert (changed["name"], changed["target"], changed["unit"], changed["current"]) == (
        "Active users",
        200,
        "people",
        50,
    )
    await _node(goals, team, progress=0.625)

    resp = await client.delete(f"/v1/goals/{mine}/key-results/{revenue}?reason=dropped", headers=MANAGER)
    assert resp.status_code == 200, resp.text
    node = await _node(goals, mine, progress=0.25)
    assert [kr["id"] for kr in node["key_results"]] == [users]
    await _node(goals, team, progress=0.25)
    own = (await client.get(f"/v1/goals/{mine}", headers=EMPLOYEE)).json()  # read-your-writes
    assert [kr["id"] for kr in own["key_results"]] == [users] and own["progress"] == 0.25

    resp = await client.patch(f"/v1/goals/{team}", json={"progress_rollup": "key_results"}, headers=MANAGER)
    assert resp.status_code == 200, resp.text
    await _node(goals, team, progress=0.0, progress_rollup="key_results")  # it has no key results

    history = (await client.get(f"/v1/goals/{mine}/history", headers=EMPLOYEE)).json()["events"]
    assert [e["type"] for e in history][-2:] == ["KeyResultChanged", "KeyResultRemoved"]
    assert history[-1]["data"] == {
        "goal_id": mine,
        "key_result_id": revenue,
        "name": "k",
        "reason": "dropped",
    }


async def test_bad_edits_get_a_clear_4xx(goals: GoalsService) -> None:
    client = goals.client
    mine = await _create(goals, EMPLOYEE, level="individual", title="Mine")
    kr = await _key_result(goals, mine, target=10, value=5)
    base = f"/v1/goals/{mine}/key-results"
    cases = [
        (client.patch(f"{base}/{kr}", json={"target": 0}, headers=EMPLOYEE), 422),  # target = start
        (client.patch(f"{base}/{kr}", json={"colour": "red"}, headers=EMPLOYEE), 422),
        (client.patch(f"{base}/{kr}", json={"weight": -1}, headers=EMPLOYEE), 422),
        (client.patch(f"{base}/nope", json={"target": 5}, headers=EMPLOYEE), 404),
        (client.delete(f"{base}/nope", headers=EMPLOYEE), 404),
        (client.patch(f"{base}/{kr}", json={"target": 5}, headers=STRANGER), 403),
        (client.delete(f"{base}/{kr}", headers={**EMPLOYEE, "If-Match": "1"}), 409),
        (client.patch(f"/v1/goals/{mine}", json={"progress_rollup": "vibes"}, headers=EMPLOYEE), 422),
    ]
    for request, expected in cases:
        resp = await request
        assert resp.status_code == expected, (resp.status_code, resp.text)
        assert resp.json()["error"]["code"]  # machine-readable, never a stack trace
