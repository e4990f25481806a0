"""Cascading a goal over HTTP: one individual goal per person, aligned to the source,
with its key results; idempotent per (source, person), so cascading again reaches only
newcomers; refused as a whole for anyone the caller may not give a goal."""

from __future__ import annotations

import datetime as dt
from typing import Any

from trellis.contracts.onboarding import EmployeeHired, TeamCreated
from trellis.goals.application.cascade import cascaded_goal_id
from trellis.testing import eventually

from ..conftest import ADMIN, GoalsService, auth

MANAGER = auth("mia", "manager", "employee")  # manages emil
OLGA = auth("olga", "employee")


async def _team_goal(goals: GoalsService) -> str:
    client = goals.client
    resp = await client.post(
        "/v1/goals", json={"level": "team", "title": "Ship v2", "period": "2027-Q1"}, headers=MANAGER
    )
    assert resp.status_code == 201, resp.text
    team = str(resp.json()["goal_id"])
    for name, target in (("Signups", 1000), ("NPS", 50)):
        resp = await client.post(
            f"/v1/goals/{team}/key-results",
            json={"name": name, "start": 0, "target": target, "unit": "n"},
            headers=MANAGER,
        )
        assert resp.status_code == 201, resp.text
    return team


async def _hire(goals: GoalsService, employee: str, team: str | None = None) -> None:
    await goals.org.emit(
        employee,
        EmployeeHired(
            employee_id=employee,
            name=employee.title(),
            email=f"{employee}@acme.test",
            start_date=dt.date(2026, 3, 1),
            team_id=team,
            manager_id="mia",
        ),
    )
    await goals.until_managed("mia", employee)


async def test_a_manager_cascades_to_their_reports_and_again_only_to_newcomers(goals: GoalsService) -> None:
    client = goals.client
    team = await _team_goal(goals)
    resp = await client.post(f"/v1/goals/{team}/cascade", json={"reports": True}, headers=MANAGER)
    assert resp.status_code == 200, resp.text
    first = resp.json()
    assert set(first["created"]) == {"emil"} and first["existing"] == {}
    emils = first["created"]["emil"]

    goal = (await client.get(f"/v1/goals/{emils}", headers=MANAGER)).json()
    assert (goal["level"], goal["owner_id"], goal["parent_id"], goal["title"], goal["period"]) == (
        "individual",
        "emil",
        team,
        "Ship v2",
        "2027-Q1",
    )
    assert [(kr["name"], kr["target"], kr["current"], kr["unit"]) for kr in goal["key_results"]] == [
        ("Signups", 1000, 0, "n"),
        ("NPS", 50, 0, "n"),
    ]

    again = (await client.post(f"/v1/goals/{team}/cascade", json={"reports": True}, headers=MANAGER)).json()
    assert (again["created"], again["existing"]) == ({}, {"emil": emils})

    await goals.org.emit("platform", TeamCreated(team_id="platform", name="Platform"))
    await _hire(goals, "noor", team="platform")
    later = (await client.post(f"/v1/goals/{team}/cascade", json={"reports": True}, headers=MANAGER)).json()
    assert set(later["created"]) == {"noor"} and later["existing"] == {"emil": emils}
    by_team = (
        await client.post(f"/v1/goals/{team}/cascade", json={"team_id": "platform"}, headers=ADMIN)
    ).json()
    assert (by_team["created"], by_team["existing"]) == ({}, {"noor": later["created"]["noor"]})

    async def under_the_team() -> set[str] | None:
        found = (await client.get("/v1/employees/emil/goals", headers=MANAGER)).json()["goals"]
        parents = {g["parent_id"] for g in found}
        return parents if parents == {team} else None

    await eventually(under_the_team)


async def test_a_cascade_is_refused_as_a_whole_for_anyone_the_caller_may_not_give_a_goal(
    goals: GoalsService,
) -> None:
    client = goals.client
    team = await _team_goal(goals)
    emils = (
        await client.post(f"/v1/goals/{team}/cascade", json={"employee_ids": ["emil"]}, headers=MANAGER)
    ).json()["created"]["emil"]
    cases: list[tuple[Any, int, str]] = [
        (
            client.post(
                f"/v1/goals/{team}/cascade", json={"employee_ids": ["emil", "olga"]}, headers=MANAGER
            ),
            403,
            "forbidden",
        ),
        (
            client.post(f"/v1/goals/{team}/cascade", json={"employee_ids": ["emil"]}, headers=OLGA),
            403,
            "forbidden",
        ),
        (
            client.post(f"/v1/goals/{team}/cascade", json={"employee_ids": ["ghost"]}, headers=ADMIN),
            422,
            "invalid_input",
        ),
        (client.post(f"/v1/goals/{team}/cascade", json={}, headers=ADMIN), 422, "invalid_input"),
        (
            client.post(f"/v1/goals/{team}/cascade", json={"team_id": "nowhere"}, headers=ADMIN),
            404,
            "not_found",
        ),
        (
            client.post(f"/v1/goals/{emils}/cascade", json={"employee_ids": ["emil"]}, headers=ADMIN),
            409,
            "rule_violation",
        ),
        (
            client.post("/v1/goals/nope/cascade", json={"employee_ids": ["emil"]}, headers=ADMIN),
            404,
            "not_found",
        ),
    ]
    for request, status, code in cases:
        resp = await request
        assert (resp.status_code, resp.json()["error"]["code"]) == (status, code), resp.text
    # the refused mix made nothing: olga has no goal (from the events: the view may lag)
    async with goals.runtime.sessions() as session:
        olgas = cascaded_goal_id("acme", team, "olga")
        assert await goals.runtime.store.current_version(session, olgas) == 0
