"""Development goals over HTTP: an individual goal of the owner's growth, linked to a career
objective they write, aligned like any goal, and seen only by the owner, their managers (any
depth) and hr; to anyone else, admins included, it does not exist, on every read and write."""

from __future__ import annotations

from typing import Any

from trellis.testing import eventually

from ..conftest import GoalsService, auth

EMIL = auth("emil")
MIA = auth("mia", "manager", "employee")  # emil's manager
CEO = auth("ceo", "manager", "employee")  # mia's manager
HR = auth("hana", "hr")
OLGA = auth("olga")  # a peer
OTHER_TENANT = auth("emil", tenant="globex")
ADA = auth("ada", "admin", "employee")  # an admin outside emil's chain


async def test_a_development_goal_is_seen_by_its_owner_their_managers_and_hr_only(
    goals: GoalsService,
) -> None:
    await goals.hire("ceo")
    await goals.change_manager("mia", "ceo", None)  # ceo → mia → emil; olga manages nobody
    await goals.until_managed("ceo", "emil")
    client = goals.client
    team = (
        await client.post("/v1/goals", json={"level": "team", "title": "Ship", "period": "2027"}, headers=MIA)
    ).json()["goal_id"]
    body = {
        "level": "individual",
        "title": "Lead a design review",
        "period": "2027",
        "kind": "development",
        "career_objective": "Become a staff engineer",
        "parent_id": team,
    }
    resp = await client.post("/v1/goals", json=body, headers=EMIL)
    assert resp.status_code == 201, resp.text
    goal = resp.json()["goal_id"]
    performance = (
        await client.post(
            "/v1/goals",
            json={"level": "individual", "title": "Ship the importer", "period": "2027"},
            headers=EMIL,
        )
    ).json()["goal_id"]

    for who in (EMIL, MIA, CEO, HR):
        seen = await client.get(f"/v1/goals/{goal}", headers=who)
        assert seen.status_code == 200, seen.text
        assert (seen.json()["kind"], seen.json()["career_objective"]) == (
            "development",
            "Become a staff engineer",
        )
        assert seen.json()["parent_id"] == team  # aligned like any goal
        assert (await client.get(f"/v1/goals/{goal}/history", headers=who)).status_code == 200

        async def listed(who: dict[str, str] = who) -> Any:
            tree = (await client.get("/v1/alignment-tree", headers=who)).json()["roots"]
            return goal in _ids(tree) or None

        await eventually(listed)

        async def both(who: dict[str, str] = who) -> Any:  # the list is the read view: it may lag
            mine = (await client.get("/v1/employees/emil/goals", headers=who)).json()["goals"]
            return {g["id"] for g in mine} == {goal, performance} or None

        await eventually(both)

    for who in (OLGA, ADA, OTHER_TENANT):
        for path in (f"/v1/goals/{goal}", f"/v1/goals/{goal}/history", f"/v1/goals/{goal}/pace-history"):
            resp = await client.get(path, headers=who)
            assert resp.status_code == 404, (path, resp.text)
        tree = (await client.get("/v1/alignment-tree", headers=who)).json()["roots"]
        assert goal not in _ids(tree)
        listed = (await client.get("/v1/employees/emil/goals", headers=who)).json()["goals"]
        assert goal not in {g["id"] for g in listed}
        for method, path, payload in (
            ("PATCH", f"/v1/goals/{goal}", {"title": "x"}),
            ("POST", f"/v1/goals/{goal}/key-results", {"name": "n", "start": 0, "target": 1}),
            ("PUT", f"/v1/goals/{goal}/status", {"status": "at_risk"}),
            ("POST", f"/v1/goals/{goal}/cascade", {"employee_ids": ["olga"]}),
        ):
            resp = await client.request(method, path, json=payload, headers=who)
            assert resp.status_code == 404, (method, path, resp.text)
    text = str([(await client.get("/v1/alignment-tree", headers=OLGA)).json()])
    assert "Lead a design review" not in text and "staff engineer" not in text

    # the owner rewrites the objective; a performance goal has none
    resp = await client.patch(
        f"/v1/goals/{goal}", json={"career_objective": "Become a tech lead"}, headers=EMIL
    )
    assert resp.status_code == 200, resp.text
    assert (await client.get(f"/v1/goals/{goal}", headers=MIA)).json()[
        "career_objective"
    ] == "Become a tech lead"
    resp = await client.patch(f"/v1/goals/{performance}", json={"career_objective": "x"}, headers=EMIL)
    assert resp.status_code == 422, resp.text


async def test_bad_development_goals_are_refused_and_nothing_is_written(goals: GoalsService) -> None:
    client = goals.client
    base = {"level": "individual", "title": "Grow", "period": "2027", "kind": "development"}
    for body, who, status in (
        (base, EMIL, 422),  # no career objective
        ({**base, "career_objective": "  "}, EMIL, 422),
        ({**base, "career_objective": "x" * 2001}, EMIL, 422),
        ({**base, "level": "team", "career_objective": "Lead"}, MIA, 422),
        ({**base, "kind": "performance", "career_objective": "Lead"}, EMIL, 422),
        ({**base, "kind": "hobby", "career_objective": "Lead"}, EMIL, 422),
        ({**base, "career_objective": "Lead", "owner_id": "emil"}, ADA, 403),  # an admin is not hr
        ({**base, "career_objective": "Lead", "owner_id": "emil"}, OLGA, 403),
    ):
        resp = await client.post("/v1/goals", json=body, headers=who)
        assert resp.status_code == status, (body, resp.text)
        assert "code" in resp.json()["error"]
    resp = await client.post(
        "/v1/goals", json={**base, "career_objective": "Lead", "owner_id": "emil"}, headers=MIA
    )
    assert resp.status_code == 201, resp.text  # a manager sets one for their report

    async def only_that_one() -> list[str] | None:
        goals_of_emil = (await client.get("/v1/employees/emil/goals", headers=HR)).json()["goals"]
        return [g["kind"] for g in goals_of_emil] or None

    assert await eventually(only_that_one) == ["development"]  # the refused ones wrote nothing


def _ids(nodes: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()
    for node in nodes:
        found.add(node["id"])
        found |= _ids(node["children"])
    return found
