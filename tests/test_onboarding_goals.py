"""Onboarding and goals running together on one nats-server and subject root, each on its
own database: the org made in onboarding drives goals' permissions, and a new hire's plan
creates their first goal, aligned to their team's goal."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from trellis.core.consuming.clock import TestClock
from trellis.core.runtime.auth import mint_token
from trellis.core.runtime.service import Runtime, create_app
from trellis.core.runtime.settings import DEV_JWT_SECRET
from trellis.goals.bootstrap import SERVICE as GOALS
from trellis.goals.bootstrap import GoalsSettings
from trellis.onboarding.bootstrap import SERVICE as ONBOARDING
from trellis.onboarding.bootstrap import OnboardingSettings
from trellis.testing import Database, eventually, postgres_database

TENANT = "acme"


def auth(employee: str, *roles: str) -> dict[str, str]:
    token = mint_token(secret=DEV_JWT_SECRET, tenant=TENANT, employee=employee, roles=list(roles))
    return {"Authorization": f"Bearer {token}"}


HR = auth("hana", "hr", "employee")
MIA, OLGA = auth("mia", "manager", "employee"), auth("olga", "manager", "employee")


@dataclass
class System:
    onboarding: httpx.AsyncClient
    goals: httpx.AsyncClient

    async def call(
        self,
        client: httpx.AsyncClient,
        method: str,
        url: str,
        body: Any = None,
        headers: dict[str, str] = HR,
        expect: int = 200,
    ) -> Any:
        resp = await client.request(method, url, json=body, headers=headers)
        assert resp.status_code == expect, (method, url, resp.status_code, resp.text)
        return resp.json()

    async def hire(self, employee: str, **fields: Any) -> dict[str, Any]:
        body = {
            "employee_id": employee,
            "name": employee.title(),
            "email": f"{employee}@acme.test",
            "start_date": "2026-03-02",
            **fields,
        }
        result: dict[str, Any] = await self.call(self.onboarding, "POST", "/v1/employees", body, expect=201)
        return result


@contextlib.asynccontextmanager
async def serving(app: Any, name: str) -> AsyncIterator[httpx.AsyncClient]:
    runtime: Runtime = app.state.runtime
    if isinstance(runtime.clock, TestClock):
        runtime.clock.frozen = True
    await runtime.start()
    try:
        await runtime.wait_ready()
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=f"http://{name}"
        ) as client:
            yield client
    finally:
        await runtime.stop()


@pytest.fixture
async def system(
    database: Database, postgres_url: str | None, nats_url: str, subject_root: str, tmp_path: Path
) -> AsyncIterator[System]:
    """Both services on the same NATS and subject root; each its own SQLite file or PG schema."""
    async with contextlib.AsyncExitStack() as stack:
        if database.backend == "sqlite":
            goals_db = Database("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'goals.db'}")
        else:
            goals_db = await stack.enter_async_context(postgres_database(postgres_url))
        common = {
            "nats_url": nats_url,
            "subject_root": subject_root,
            "data_dir": tmp_path,
            "consumer_batch_size": 100,
        }
        onboarding = create_app(
            ONBOARDING,
            OnboardingSettings(
                database_url=database.url, database_schema=database.schema, test_clock=True, **common
            ),
        )
        goals = create_app(
            GOALS, GoalsSettings(database_url=goals_db.url, database_schema=goals_db.schema, **common)
        )
        yield System(
            onboarding=await stack.enter_async_context(serving(onboarding, "onboarding")),
            goals=await stack.enter_async_context(serving(goals, "goals")),
        )


async def test_a_manager_change_made_in_onboarding_changes_who_may_edit_the_goals(system: System) -> None:
    await system.hire("mia")
    await system.hire("olga")
    await system.hire("emil", manager_id="mia")
    emil = auth("emil", "employee")
    goal = (
        await system.call(
            system.goals,
            "POST",
            "/v1/goals",
            {"level": "individual", "title": "Mine", "period": "2026-Q1"},
            emil,
            201,
        )
    )["goal_id"]

    async def may_edit(headers: dict[str, str], title: str) -> bool:
        resp = await system.goals.patch(f"/v1/goals/{goal}", json={"title": title}, headers=headers)
        assert resp.status_code in (200, 403), resp.text
        return resp.status_code == 200

    await eventually(lambda: may_edit(MIA, "by mia"), timeout=5)
    assert not await may_edit(OLGA, "by olga")

    await system.call(system.onboarding, "PUT", "/v1/employees/emil/manager", {"manager_id": "olga"})
    await eventually(lambda: may_edit(OLGA, "by olga"), timeout=5)
    assert not await may_edit(MIA, "by mia, no longer")


async def test_a_plan_from_a_template_with_a_goal_creates_the_new_hires_goal_aligned_to_the_team_goal(
    system: System,
) -> None:
    team = (await system.call(system.onboarding, "POST", "/v1/teams", {"name": "Platform"}, expect=201))["id"]
    await system.hire("mia", team_id=team)
    body = {"level": "team", "title": "Make the platform self-serve", "period": "2026-Q1", "team_id": team}
    team_goal = (await system.call(system.goals, "POST", "/v1/goals", body, MIA, 201))["goal_id"]

    async def team_goal_in_the_tree() -> bool:
        roots = (await system.call(system.goals, "GET", "/v1/alignment-tree"))["roots"]
        return any(r["id"] == team_goal for r in roots)

    await eventually(team_goal_in_the_tree)
    template = {
        "name": "30/60/90",
        "milestones": [
            {
                "key": "day-30",
                "title": "First fix shipped",
                "due_offset_days": 30,
                "goal": {"title": "Ship a first fix"},
            },
            {"key": "day-60", "title": "Owns a feature", "due_offset_days": 60, "assignee": "manager"},
        ],
    }
    template_id = (
        await system.call(system.onboarding, "POST", "/v1/onboarding-templates", template, expect=201)
    )["id"]
    await system.hire("nora", team_id=team, manager_id="mia", plan={"template_id": template_id})
    plan = await system.call(system.onboarding, "GET", "/v1/employees/nora/onboarding-plan")
    planned_goal = next(m["goal_id"] for m in plan["milestones"] if m["milestone_id"] == "day-30")

    async def noras_goals() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (await system.call(system.goals, "GET", "/v1/employees/nora/goals"))[
            "goals"
        ]
        return found

    [goal] = await eventually(noras_goals, timeout=5)
    assert (goal["id"], goal["title"], goal["level"], goal["parent_id"], goal["period"]) == (
        planned_goal,
        "Ship a first fix",
        "individual",
        team_goal,
        "2026-Q1",
    )
    history = (await system.call(system.goals, "GET", f"/v1/goals/{planned_goal}/history"))["events"]
    assert [(e["type"], e["actor_id"]) for e in history] == [("GoalCreated", "hana")]  # who started the plan
