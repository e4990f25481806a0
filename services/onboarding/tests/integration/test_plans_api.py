"""Onboarding plans through the HTTP API: templates, milestones, missed milestones, views and KPIs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select

from trellis.core.rebuild.rebuilder import rebuild
from trellis.core.store.tables import events, processed_events
from trellis.onboarding.views.tables import plan_milestones, plan_summaries, template_summaries
from trellis.testing import eventually

from ..conftest import ADMIN, HR, OnboardingService, auth

NORA, MIA, MAX, OLGA = (
    auth("nora", "employee"),
    auth("mia", "manager", "employee"),
    auth("max", "employee"),
    auth("olga", "manager", "employee"),
)
OTHER_ADMIN = auth("eve", "admin", tenant="globex")


async def missed_on_stream(onboarding: OnboardingService) -> int:
    """How many MilestoneMissed events are on the service's JetStream stream."""
    runtime = onboarding.runtime
    subject = f"{runtime.subjects.root}.onboarding.onboarding_plan.MilestoneMissed.>"
    info = await runtime.jetstream().stream_info(runtime.stream.name, subjects_filter=subject)
    return sum((info.state.subjects or {}).values())


async def pass_deadlines(onboarding: OnboardingService) -> None:
    """One scheduler pass now (the service's own loop runs too; this only makes the test wait less)."""
    await onboarding.runtime.deadlines.fire_due()


async def new_hire_with_plan(
    onboarding: OnboardingService, plan: dict[str, Any] | None = None
) -> tuple[str, str]:
    """Team Platform; mia (manager), max (mentor), olga; nora hired into it with a 30/60/90 plan."""
    team = await onboarding.create_team("Platform")
    await onboarding.hire("mia", team=team)
    await onboarding.hire("max", team=team)
    await onboarding.hire("olga", team=team)
    if plan is None:
        plan = {"template_id": await onboarding.create_template(), "mentor_id": "max"}
    hired = await onboarding.hire("nora", team=team, manager="mia", plan=plan)
    assert hired["events"] == ["EmployeeHired", "OnboardingPlanStarted"]
    return team, hired["plan_id"]


def milestone(plan: dict[str, Any], milestone_id: str) -> dict[str, Any]:
    return next(m for m in plan["milestones"] if m["milestone_id"] == milestone_id)


async def team_kpi(onboarding: OnboardingService, team: str) -> dict[str, Any]:
    kpis = await onboarding.call("GET", "/v1/onboarding-kpis", headers=NORA)
    return next((k for k in kpis["by_team"] if k["team_id"] == team), {})


async def test_done_when_day_30_passes_it_is_missed_once_shown_counted_and_later_completed_late(
    onboarding: OnboardingService,
) -> None:
    team, plan_id = await new_hire_with_plan(onboarding)
    plan = await onboarding.call("GET", "/v1/employees/nora/onboarding-plan", headers=NORA)
    assert plan["plan_id"] == plan_id and plan["mentor_id"] == "max" and plan["manager_id"] == "mia"
    assert [m["status"] for m in plan["milestones"]] == ["upcoming"] * 3
    start = dt.date.fromisoformat(plan["start_date"])
    assert milestone(plan, "day-30")["due_date"] == (start + dt.timedelta(days=30)).isoformat()

    # An admin moves the service's clock past day 30 (the end of the due date, UTC).
    moved = await onboarding.call("POST", "/v1/test-clock", {"days": 31})
    assert moved["now"].startswith((start + dt.timedelta(days=31)).isoformat())

    async def one_on_the_stream() -> bool:
        return await missed_on_stream(onboarding) == 1

    await eventually(one_on_the_stream)
    await onboarding.call("POST", "/v1/test-clock", {"hours": 1})  # more scheduler passes: still one
    await pass_deadlines(onboarding)
    assert await onboarding.count_events("MilestoneMissed") == 1
    assert (
        await onboarding.runtime.deadlines.pending() == 4
    )  # day 60 and day 90 wait: each its nudge and its miss

    plan = await onboarding.call("GET", f"/v1/onboarding-plans/{plan_id}", headers=NORA)
    assert [m["status"] for m in plan["milestones"]] == ["missed", "upcoming", "upcoming"]
    assert milestone(plan, "day-30")["missed_due_dates"] == [milestone(plan, "day-30")["due_date"]]

    async def kpi_counts_the_miss() -> dict[str, Any]:
        kpi = await team_kpi(onboarding, team)
        return kpi if kpi.get("missed") == 1 else {}

    kpi = await eventually(kpi_counts_the_miss)
    assert kpi["team_name"] == "Platform"
    assert (kpi["completed_on_time"], kpi["on_time_rate"], kpi["upcoming"]) == (0, 0.0, 2)

    done = await onboarding.call(
        "POST", f"/v1/onboarding-plans/{plan_id}/milestones/day-30/complete", headers=NORA
    )
    assert done["events"] == ["MilestoneCompleted"]
    plan = await onboarding.call("GET", f"/v1/onboarding-plans/{plan_id}", headers=MIA)
    day30 = milestone(plan, "day-30")
    assert (day30["status"], day30["late"], day30["was_missed"], day30["completed_by"]) == (
        "completed_late",
        True,
        True,
        "nora",
    )

    async def kpi_counts_it_late() -> dict[str, Any]:
        kpi = await team_kpi(onboarding, team)
        return kpi if kpi.get("completed_late") == 1 else {}

    kpi = await eventually(kpi_counts_it_late)
    assert (kpi["missed"], kpi["completed_on_time"], kpi["on_time_rate"]) == (0, 0, 0.0)
    kpis = await onboarding.call("GET", "/v1/onboarding-kpis")
    [by_template] = kpis["by_template"]
    assert (by_template["template_name"], by_template["completed_late"]) == ("30/60/90", 1)
    assert await missed_on_stream(onboarding) == 1


async def test_only_the_assignee_completes_a_milestone_and_the_manager_is_todays(
    onboarding: OnboardingService,
) -> None:
    _, plan_id = await new_hire_with_plan(onboarding)

    async def complete(milestone_id: str, headers: dict[str, str]) -> Any:
        return await onboarding.client.post(
            f"/v1/onboarding-plans/{plan_id}/milestones/{milestone_id}/complete", headers=headers
        )

    assert (await complete("day-30", MIA)).status_code == 403
    assert (await complete("day-30", OLGA)).status_code == 403
    assert (await complete("day-30", OTHER_ADMIN)).status_code == 404
    assert (await complete("day-30", NORA)).json()["events"] == ["MilestoneCompleted"]
    assert (await complete("day-30", NORA)).json()["events"] == []  # again: nothing new
    # the manager's milestone follows the org: nora now reports to olga
    assert (await complete("day-60", NORA)).status_code == 403
    await onboarding.call("PUT", "/v1/employees/nora/manager", {"manager_id": "olga"}, HR)
    assert (await complete("day-60", MIA)).status_code == 403
    assert (await complete("day-60", OLGA)).status_code == 200
    assert (await complete("day-90", MIA)).status_code == 403
    resp = await complete("day-90", MAX)
    assert resp.json()["events"] == ["MilestoneCompleted", "OnboardingPlanCompleted"]
    plan = await onboarding.call("GET", f"/v1/onboarding-plans/{plan_id}")
    assert (plan["status"], plan["share_done"], plan["manager_id"]) == ("completed", 1.0, "olga")
    assert [m["status"] for m in plan["milestones"]] == ["on_time"] * 3
    assert await onboarding.runtime.deadlines.pending() == 0  # completing cancelled every deadline


async def test_rescheduling_moves_the_deadline_and_completing_cancels_it(
    onboarding: OnboardingService,
) -> None:
    adhoc = {
        "milestones": [
            {"key": "laptop", "title": "Laptop set up", "due_offset_days": 10},
            {"key": "buddy", "title": "Buddy lunch", "due_offset_days": 20},
        ]
    }
    _, plan_id = await new_hire_with_plan(onboarding, adhoc)
    start = onboarding.today()
    moved_to = start + dt.timedelta(days=25)
    body = {"due_date": moved_to.isoformat(), "reason": "laptop on back order"}
    await onboarding.call("POST", f"/v1/onboarding-plans/{plan_id}/milestones/laptop/reschedule", body, MIA)
    await onboarding.call("POST", f"/v1/onboarding-plans/{plan_id}/milestones/buddy/complete", headers=NORA)
    assert await onboarding.runtime.deadlines.pending() == 2  # the laptop's new date: its nudge and its miss

    onboarding.clock.advance(dt.timedelta(days=21))  # past both original due dates
    await pass_deadlines(onboarding)
    assert await onboarding.count_events("MilestoneMissed") == 0
    plan = await onboarding.call("GET", f"/v1/onboarding-plans/{plan_id}")
    assert [(m["milestone_id"], m["status"]) for m in plan["milestones"]] == [
        ("buddy", "on_time"),
        ("laptop", "upcoming"),
    ]

    onboarding.clock.advance(dt.timedelta(days=5))  # past the new date
    await eventually(lambda: _count(onboarding, "MilestoneMissed", 1))
    history = await onboarding.call("GET", f"/v1/onboarding-plans/{plan_id}/history")
    [miss] = [e for e in history["events"] if e["type"] == "MilestoneMissed"]
    assert miss["data"]["due_date"] == moved_to.isoformat()
    assert (miss["data"]["manager_id"], miss["actor_id"]) == ("mia", "trellis-onboarding")
    # rescheduling a missed milestone gives it a new chance (and a new deadline)
    later = onboarding.today() + dt.timedelta(days=7)
    body = {"due_date": later.isoformat(), "reason": "back from leave"}
    await onboarding.call("POST", f"/v1/onboarding-plans/{plan_id}/milestones/laptop/reschedule", body, HR)
    plan = await onboarding.call("GET", f"/v1/onboarding-plans/{plan_id}")
    assert milestone(plan, "laptop")["status"] == "upcoming" and milestone(plan, "laptop")["was_missed"]


async def _count(onboarding: OnboardingService, event_type: str, expected: int) -> bool:
    await pass_deadlines(onboarding)
    return await onboarding.count_events(event_type) == expected


async def test_upcoming_milestones_per_manager_and_per_mentor(onboarding: OnboardingService) -> None:
    team, plan_id = await new_hire_with_plan(onboarding)
    await onboarding.hire(
        "omar",
        team=team,
        manager="mia",
        plan={
            "template_id": (
                await onboarding.create_template(
                    "Short", [{"key": "intro", "title": "Intro", "due_offset_days": 5, "assignee": "manager"}]
                )
            )
        },
    )

    async def for_mia() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (
            await onboarding.call("GET", "/v1/managers/mia/upcoming-milestones", headers=MIA)
        )["milestones"]
        return found if len(found) == 4 else []

    upcoming = await eventually(for_mia)
    assert [(m["employee_id"], m["milestone_id"]) for m in upcoming] == [
        ("omar", "intro"),
        ("nora", "day-30"),
        ("nora", "day-60"),
        ("nora", "day-90"),
    ]
    assert [m["responsible_id"] for m in upcoming] == ["mia", "nora", "mia", "max"]
    assert upcoming[1]["employee_name"] == "Nora" and upcoming[1]["status"] == "upcoming"
    soon = await onboarding.call("GET", "/v1/managers/mia/upcoming-milestones?within_days=30", headers=MIA)
    assert [m["milestone_id"] for m in soon["milestones"]] == ["intro", "day-30"]
    mentor = await onboarding.call("GET", "/v1/mentors/max/upcoming-milestones", headers=MAX)
    assert [m["milestone_id"] for m in mentor["milestones"]] == ["day-30", "day-60", "day-90"]

    await onboarding.call("POST", f"/v1/onboarding-plans/{plan_id}/milestones/day-30/complete", headers=NORA)
    onboarding.clock.advance(dt.timedelta(days=6))  # omar's intro is now overdue

    async def overdue_and_done() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (
            await onboarding.call("GET", "/v1/managers/mia/upcoming-milestones", headers=MIA)
        )["milestones"]
        return found if len(found) == 3 and found[0]["status"] != "upcoming" else []

    upcoming = await eventually(overdue_and_done)
    assert upcoming[0]["milestone_id"] == "intro" and upcoming[0]["status"] in ("late", "missed")
    assert (await onboarding.call("GET", "/v1/mentors/nobody/upcoming-milestones"))["milestones"] == []


async def test_plans_are_refused_with_a_clear_4xx(onboarding: OnboardingService) -> None:
    team, plan_id = await new_hire_with_plan(onboarding)
    template = await onboarding.create_template("Retiring")
    await onboarding.call("POST", f"/v1/onboarding-templates/{template}/retire")
    await onboarding.call(
        "POST",
        "/v1/employees",
        {"employee_id": "stranger", "name": "S", "email": "s@globex.test", "start_date": "2026-01-05"},
        OTHER_ADMIN,
        201,
    )
    await onboarding.hire("omar", team=team, manager="mia")
    await onboarding.hire("leaver", team=team)
    await onboarding.call(
        "POST", "/v1/employees/leaver/offboard", {"last_day": onboarding.today().isoformat()}
    )
    adhoc = {"milestones": [{"key": "x", "title": "X", "due_offset_days": 3}]}
    cases: list[tuple[str, str, Any, dict[str, str], int, str]] = [
        ("POST", "/v1/employees/nora/onboarding-plan", adhoc, ADMIN, 409, "rule_violation"),  # has one
        (
            "POST",
            "/v1/employees/omar/onboarding-plan",
            {"template_id": template},
            ADMIN,
            409,
            "rule_violation",
        ),
        (
            "POST",
            "/v1/employees/omar/onboarding-plan",
            {**adhoc, "mentor_id": "stranger"},
            ADMIN,
            404,
            "not_found",
        ),
        (
            "POST",
            "/v1/employees/omar/onboarding-plan",
            {**adhoc, "mentor_id": "leaver"},
            ADMIN,
            409,
            "employee_offboarded",
        ),
        (
            "POST",
            "/v1/employees/omar/onboarding-plan",
            {**adhoc, "mentor_id": "omar"},
            ADMIN,
            409,
            "rule_violation",
        ),
        (
            "POST",
            "/v1/employees/omar/onboarding-plan",
            {**adhoc, "template_id": template},
            ADMIN,
            422,
            "invalid_input",
        ),
        ("POST", "/v1/employees/omar/onboarding-plan", {}, ADMIN, 422, "invalid_input"),
        (
            "POST",
            "/v1/employees/omar/onboarding-plan",
            {"milestones": [{"key": "a", "title": "A", "due_offset_days": 1}] * 2},
            ADMIN,
            422,
            "invalid_input",
        ),
        ("POST", "/v1/employees/omar/onboarding-plan", {"template_id": "nope"}, ADMIN, 404, "not_found"),
        ("POST", "/v1/employees/omar/onboarding-plan", adhoc, OLGA, 403, "forbidden"),  # not omar's manager
        ("POST", "/v1/employees/omar/onboarding-plan", adhoc, auth("omar", "employee"), 403, "forbidden"),
        ("POST", "/v1/employees/leaver/onboarding-plan", adhoc, ADMIN, 409, "employee_offboarded"),
        ("POST", "/v1/employees/stranger/onboarding-plan", adhoc, ADMIN, 404, "not_found"),
        ("GET", "/v1/employees/omar/onboarding-plan", None, ADMIN, 404, "not_found"),
        ("GET", f"/v1/onboarding-plans/{plan_id}", None, OTHER_ADMIN, 404, "not_found"),
        ("POST", f"/v1/onboarding-plans/{plan_id}/milestones/day-99/complete", None, ADMIN, 404, "not_found"),
        (
            "POST",
            f"/v1/onboarding-plans/{plan_id}/milestones/day-30/reschedule",
            {"due_date": "2020-01-01", "reason": "r"},
            MIA,
            422,
            "invalid_input",
        ),
        (
            "POST",
            f"/v1/onboarding-plans/{plan_id}/milestones/day-30/reschedule",
            {"due_date": "2099-01-01", "reason": "r"},
            NORA,
            403,
            "forbidden",
        ),
        ("PUT", f"/v1/onboarding-plans/{plan_id}/mentor", {"mentor_id": "nora"}, MIA, 409, "rule_violation"),
        ("PUT", f"/v1/onboarding-plans/{plan_id}/mentor", {"mentor_id": "olga"}, NORA, 403, "forbidden"),
        ("POST", "/v1/onboarding-templates", {"name": "T", "milestones": []}, ADMIN, 422, "invalid_input"),
        (
            "POST",
            "/v1/onboarding-templates",
            {"name": "T", "milestones": [{"title": "A", "due_offset_days": -1}]},
            ADMIN,
            422,
            "invalid_input",
        ),
        (
            "POST",
            "/v1/onboarding-templates",
            {"name": "T", "milestones": [{"title": "A", "due_offset_days": 1}]},
            MIA,
            403,
            "forbidden",
        ),
        ("GET", "/v1/onboarding-templates/nope", None, ADMIN, 404, "not_found"),
    ]
    for method, url, body, headers, expected, code in cases:
        resp = await onboarding.client.request(method, url, json=body, headers=headers)
        assert resp.status_code == expected, (method, url, body, resp.status_code, resp.text)
        assert resp.json()["error"]["code"] == code, (url, resp.json())
    # mia, omar's manager, may start his plan and choose its mentor
    started = await onboarding.call("POST", "/v1/employees/omar/onboarding-plan", adhoc, MIA, 201)
    await onboarding.call("PUT", f"/v1/onboarding-plans/{started['id']}/mentor", {"mentor_id": "max"}, MIA)
    # once nora leaves, her plan no longer changes
    await onboarding.call("POST", "/v1/employees/nora/offboard", {"last_day": onboarding.today().isoformat()})
    resp = await onboarding.client.post(
        f"/v1/onboarding-plans/{plan_id}/milestones/day-30/complete", headers=ADMIN
    )
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "employee_offboarded"


async def test_an_offboarded_new_hire_misses_nothing(onboarding: OnboardingService) -> None:
    await new_hire_with_plan(onboarding)
    await onboarding.call("POST", "/v1/employees/nora/offboard", {"last_day": onboarding.today().isoformat()})
    onboarding.clock.advance(dt.timedelta(days=100))
    await eventually(lambda: _none_pending(onboarding))
    assert await onboarding.count_events("MilestoneMissed") == 0


async def _none_pending(onboarding: OnboardingService) -> bool:
    await pass_deadlines(onboarding)
    return await onboarding.runtime.deadlines.pending() == 0


async def test_templates_are_listed_read_and_revised_without_touching_running_plans(
    onboarding: OnboardingService,
) -> None:
    template = await onboarding.create_template()
    await onboarding.hire("nora", plan={"template_id": template})
    revised = [{"key": "day-14", "title": "Two weeks in", "due_offset_days": 14}]
    await onboarding.call(
        "PUT", f"/v1/onboarding-templates/{template}", {"name": "Fast", "milestones": revised}, HR
    )
    read = await onboarding.call("GET", f"/v1/onboarding-templates/{template}", headers=NORA)
    assert (read["name"], [m["key"] for m in read["milestones"]], read["version"]) == ("Fast", ["day-14"], 2)

    async def listed() -> bool:
        found = (await onboarding.call("GET", "/v1/onboarding-templates", headers=NORA))["templates"]
        return [(t["name"], t["milestones"]) for t in found] == [("Fast", 1)]

    await eventually(listed)
    plan = await onboarding.call("GET", "/v1/employees/nora/onboarding-plan", headers=NORA)
    assert [m["milestone_id"] for m in plan["milestones"]] == ["day-30", "day-60", "day-90"]


async def test_the_plans_view_dropped_and_rebuilt_equals_the_original(onboarding: OnboardingService) -> None:
    _, plan_id = await new_hire_with_plan(onboarding)
    await onboarding.call("POST", f"/v1/onboarding-plans/{plan_id}/milestones/day-30/complete", headers=NORA)
    later = (onboarding.today() + dt.timedelta(days=70)).isoformat()
    body = {"due_date": later, "reason": "conference"}
    await onboarding.call("POST", f"/v1/onboarding-plans/{plan_id}/milestones/day-60/reschedule", body, MIA)
    await onboarding.call("PUT", f"/v1/onboarding-plans/{plan_id}/mentor", {"mentor_id": "olga"}, MIA)
    onboarding.clock.advance(dt.timedelta(days=100))
    await eventually(lambda: _count(onboarding, "MilestoneMissed", 2))
    runner = next(r for r in onboarding.runtime.runners if r.name == "onboarding-plans")
    handled = runner.projection.event_types()

    async def settled() -> bool:
        async with onboarding.runtime.sessions() as session:
            stored = await session.execute(
                select(func.count()).select_from(events).where(events.c.event_type.in_(handled))
            )
            done = await session.execute(
                select(func.count())
                .select_from(processed_events)
                .where(processed_events.c.consumer == runner.name)
            )
            return stored.scalar_one() == done.scalar_one()

    async def snapshot() -> list[list[tuple[Any, ...]]]:
        async with onboarding.runtime.sessions() as session:
            return [
                [tuple(r) for r in (await session.execute(select(t).order_by(*t.primary_key.columns))).all()]
                for t in (plan_summaries, plan_milestones, template_summaries)
            ]

    await eventually(settled)
    before = await snapshot()
    assert any(row[-2] for row in before[1])  # a milestone is missed in the view
    for task in onboarding.runtime._tasks:
        if task.get_name() == f"consumer-{runner.name}":
            task.cancel()
    applied = await rebuild(runner.projection, onboarding.runtime.store)
    assert applied > 0
    assert await snapshot() == before
