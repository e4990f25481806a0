"""Handing a goal to a new owner: only as one may create it for them, and only to an employee."""

from __future__ import annotations

import datetime as dt
from typing import Any

from trellis.contracts.onboarding import EmployeeOffboarded
from trellis.orgchart import OrgDirectory
from trellis.testing import eventually

from ..conftest import ADMIN, TENANT, GoalsService, auth
from .test_goals_api import create

MANAGER = auth("mia", "manager", "employee")  # manages emil (see the goals fixture)
EMPLOYEE = auth("emil", "employee")
HR = auth("hana", "hr")


async def hand_over(client: Any, goal: str, owner: str, headers: dict[str, str]) -> Any:
    return await client.patch(f"/v1/goals/{goal}", json={"owner_id": owner}, headers=headers)


async def owner_of(client: Any, goal: str) -> str:
    return str((await client.get(f"/v1/goals/{goal}", headers=ADMIN)).json()["owner_id"])


async def test_an_employee_cannot_hand_their_goal_to_a_peer(goals: GoalsService) -> None:
    client = goals.client
    mine = await create(client, EMPLOYEE, level="individual", title="Mine")
    resp = await hand_over(client, mine, "olga", EMPLOYEE)
    assert resp.status_code == 403, resp.text
    assert resp.json()["error"]["code"] == "forbidden"
    assert await owner_of(client, mine) == "emil"
    # the same rule as creating it for them
    resp = await client.post(
        "/v1/goals",
        json={"level": "individual", "title": "x", "period": "Q", "owner_id": "olga"},
        headers=EMPLOYEE,
    )
    assert resp.status_code == 403


async def test_a_manager_hands_goals_only_among_their_reports(goals: GoalsService) -> None:
    client = goals.client
    team = await create(client, MANAGER, level="team", title="Team")
    resp = await hand_over(client, team, "olga", MANAGER)  # olga does not report to mia
    assert resp.status_code == 403, resp.text
    resp = await hand_over(client, team, "emil", MANAGER)  # emil does
    assert resp.status_code == 200, resp.text
    assert await owner_of(client, team) == "emil"
    # emil's now: mia still manages its owner, and may take it back
    assert (await hand_over(client, team, "mia", MANAGER)).status_code == 200


async def test_hr_hands_a_goal_to_any_employee_and_the_view_follows(goals: GoalsService) -> None:
    client = goals.client
    mine = await create(client, EMPLOYEE, level="individual", title="Mine")
    resp = await hand_over(client, mine, "olga", HR)
    assert resp.status_code == 200, resp.text
    assert resp.json()["events"] == ["GoalChanged"]

    async def followed() -> bool:
        goals_of_olga = (await client.get("/v1/employees/olga/goals", headers=ADMIN)).json()["goals"]
        return [g["id"] for g in goals_of_olga] == [mine]

    await eventually(followed)


async def test_a_goal_can_only_be_handed_to_an_active_employee(goals: GoalsService) -> None:
    client = goals.client
    objective = await create(client, ADMIN, level="company", title="O")
    resp = await hand_over(client, objective, "ghost", ADMIN)
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["code"] == "unknown_owner"
    assert error["details"] == {"field": "owner_id", "owner_id": "ghost"}
    assert "ghost" in error["message"]

    await goals.hire("ida")
    await goals.org.emit("ida", EmployeeOffboarded(employee_id="ida", last_day=dt.date(2026, 6, 30)))

    async def left() -> bool:
        async with goals.runtime.sessions() as session:
            ida = await OrgDirectory().employee(session, TENANT, "ida")
        return ida is not None and not ida.active

    await eventually(left)
    resp = await hand_over(client, objective, "ida", ADMIN)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["code"] == "unknown_owner"
    assert await owner_of(client, objective) == "ceo"


async def test_who_may_not_hand_over_is_not_told_who_exists(goals: GoalsService) -> None:
    client = goals.client
    mine = await create(client, EMPLOYEE, level="individual", title="Mine")
    resp = await hand_over(client, mine, "ghost", EMPLOYEE)
    assert resp.status_code == 403, resp.text
    assert resp.json()["error"]["code"] == "forbidden"
