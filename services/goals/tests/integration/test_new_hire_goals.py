"""New hires' first goals: an onboarding plan that asks for goals creates them here, once,
aligned to the team's live team goal."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from trellis.contracts.envelope import EventEnvelope
from trellis.contracts.onboarding import OnboardingPlanStarted, PlannedGoal, PlannedMilestone, registry
from trellis.goals.views.tables import goal_nodes
from trellis.testing import eventually

from ..conftest import ADMIN, TENANT, GoalsService, auth

MANAGER = auth("mia", "manager", "employee")
START = dt.date(2026, 3, 2)


def plan_started(plan_id: str, team_id: str | None, *goals: PlannedGoal) -> OnboardingPlanStarted:
    return OnboardingPlanStarted(
        plan_id=plan_id,
        employee_id="emil",
        manager_id="mia",
        team_id=team_id,
        template_id="t",
        start_date=START,
        milestones=[
            PlannedMilestone(
                milestone_id="day-30",
                title="First fix",
                due_date=START + dt.timedelta(days=30),
                assignee="new_hire",
            )
        ],
        goals=list(goals),
    )


def planned(goal_id: str, align_to: str = "team_goal") -> PlannedGoal:
    return PlannedGoal(
        goal_id=goal_id, title=f"Goal {goal_id}", period="2026-Q1", align_to=align_to, milestone_id="day-30"
    )  # type: ignore[arg-type]


async def team_goal(goals: GoalsService, title: str, team_id: str) -> str:
    body = {"level": "team", "title": title, "period": "2026-Q1", "team_id": team_id}
    resp = await goals.client.post("/v1/goals", json=body, headers=MANAGER)
    assert resp.status_code == 201, resp.text
    goal_id: str = resp.json()["goal_id"]

    async def in_the_tree() -> bool:
        async with goals.runtime.sessions() as session:
            row = await session.execute(select(goal_nodes.c.goal_id).where(goal_nodes.c.goal_id == goal_id))
            return row.first() is not None

    await eventually(in_the_tree)
    return goal_id


async def goal(goals: GoalsService, goal_id: str) -> dict[str, Any]:
    resp = await goals.client.get(f"/v1/goals/{goal_id}", headers=ADMIN)
    return resp.json() if resp.status_code == 200 else {}


async def test_a_plan_asking_for_goals_creates_them_for_the_new_hire_aligned_to_the_live_team_goal(
    goals: GoalsService,
) -> None:
    await team_goal(goals, "Older platform goal", "platform")
    newest_live = await team_goal(goals, "Platform goal", "platform")
    retired = await team_goal(goals, "Dropped platform goal", "platform")
    assert (await goals.client.post(f"/v1/goals/{retired}/retire", json={}, headers=ADMIN)).status_code == 200
    await team_goal(goals, "Sales goal", "sales")

    await goals.org.emit(
        "plan-1",
        plan_started("plan-1", "platform", planned("g-aligned"), planned("g-free", "none")),
        actor_id="hana",
    )
    aligned = await eventually(lambda: goal(goals, "g-aligned"))
    assert (aligned["level"], aligned["owner_id"], aligned["team_id"], aligned["parent_id"]) == (
        "individual",
        "emil",
        "platform",
        newest_live,
    )
    free = await eventually(lambda: goal(goals, "g-free"))
    assert free["parent_id"] is None
    history = (await goals.client.get("/v1/goals/g-aligned/history", headers=ADMIN)).json()["events"]
    assert [(e["type"], e["actor_id"]) for e in history] == [("GoalCreated", "hana")]
    # the new hire (and their manager) may edit it like any of their goals
    resp = await goals.client.patch(
        "/v1/goals/g-aligned", json={"title": "Mine"}, headers=auth("emil", "employee")
    )
    assert resp.status_code == 200


async def test_a_team_without_a_live_team_goal_gets_an_unaligned_goal(goals: GoalsService) -> None:
    await goals.org.emit("plan-2", plan_started("plan-2", "empty-team", planned("g-lonely")))
    await goals.org.emit("plan-3", plan_started("plan-3", None, planned("g-teamless")))
    for goal_id in ("g-lonely", "g-teamless"):
        created = await eventually(lambda g=goal_id: goal(goals, g))
        assert created["parent_id"] is None and created["owner_id"] == "emil"


async def test_the_same_plan_processed_twice_creates_each_goal_once(goals: GoalsService) -> None:
    started = plan_started("plan-4", None, planned("g-once"), planned("g-twice", "none"))
    await goals.org.emit("plan-4", started)
    await eventually(lambda: goal(goals, "g-twice"))
    reaction = next(r for r in goals.runtime.runners if r.name == "goals-new-hire-goals").projection
    envelope = EventEnvelope(
        event_type=started.event_type,
        schema_version=started.schema_version,
        tenant_id=TENANT,
        aggregate_type="onboarding_plan",
        aggregate_id="plan-4",
        aggregate_version=1,
        actor_id="hana",
        correlation_id="again",
        payload=started.model_dump(mode="json"),
    )
    async with goals.runtime.sessions() as session, session.begin():
        await reaction.handle(session, registry.recorded(envelope))  # a second delivery, past the record
    for goal_id in ("g-once", "g-twice"):
        history = (await goals.client.get(f"/v1/goals/{goal_id}/history", headers=ADMIN)).json()["events"]
        assert len(history) == 1, history
