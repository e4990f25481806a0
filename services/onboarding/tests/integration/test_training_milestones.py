"""Onboarding templates that name trainings as milestones: a plan started from one enrols the
new hire in each training, exactly once, with the milestone's due date as the target; and
completing the enrolment completes the milestone."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select

from trellis.core.rebuild.rebuilder import rebuild
from trellis.core.runtime.api_kit import application_in
from trellis.core.store.tables import deadlines
from trellis.onboarding.application.trainings_due import TRAINING_DUE_SOON
from trellis.onboarding.application.wiring import OnboardingApplication
from trellis.onboarding.domain.ids import plan_enrolment_id
from trellis.onboarding.views.development_tables import training_enrolments
from trellis.testing import eventually

from ..conftest import HR, TENANT, OnboardingService, auth

NORA, MIA = auth("nora", "employee"), auth("mia", "manager", "employee")


def milestones(security: str) -> list[dict[str, Any]]:
    return [
        {"key": "security", "title": "Security basics", "due_offset_days": 14, "training_id": security},
        {"key": "day-30", "title": "First change in production", "due_offset_days": 30},
    ]


def milestone(plan: dict[str, Any], milestone_id: str) -> dict[str, Any]:
    return next(m for m in plan["milestones"] if m["milestone_id"] == milestone_id)


async def enrolments_in_view(onboarding: OnboardingService) -> list[tuple[str, str]]:
    async with onboarding.runtime.sessions() as session:
        rows = await session.execute(
            select(training_enrolments.c.enrolment_id, training_enrolments.c.employee_id)
        )
        return sorted((r[0], r[1]) for r in rows)


async def deadline_keys(onboarding: OnboardingService, *parts: str) -> list[str]:
    """The armed deadlines whose key holds ``parts`` (``:plan:milestone:``, ``:enrolment:``)."""
    async with onboarding.runtime.sessions() as session:
        rows = await session.execute(select(deadlines.c.key).where(deadlines.c.fired_at.is_(None)))
        return [key for key in rows.scalars() if f":{':'.join(parts)}:" in key]


async def test_a_plan_from_a_template_naming_a_training_enrols_the_new_hire_once(
    onboarding: OnboardingService,
) -> None:
    security = await onboarding.create_training("Security basics", skills=["security"])
    template = await onboarding.create_template("With training", milestones(security))
    read = await onboarding.call("GET", f"/v1/onboarding-templates/{template}", headers=NORA)
    assert [m["training_id"] for m in read["milestones"]] == [security, None]
    await onboarding.hire("mia")
    hired = await onboarding.hire("nora", manager="mia", plan={"template_id": template})
    plan_id = hired["plan_id"]
    enrolment_id = hired["related"]["enrolment:security"]
    assert enrolment_id == plan_enrolment_id(plan_id, security)  # derived: the same every time
    assert await onboarding.count_events("TrainingEnrolled") == 1

    enrolment = await onboarding.call("GET", f"/v1/training-enrolments/{enrolment_id}", headers=NORA)
    due = (onboarding.today() + dt.timedelta(days=14)).isoformat()
    assert (enrolment["target_date"], enrolment["plan_id"], enrolment["milestone_id"]) == (
        due,
        plan_id,
        "security",
    )
    plan = await onboarding.call("GET", f"/v1/onboarding-plans/{plan_id}", headers=NORA)
    assert (milestone(plan, "security")["training_id"], milestone(plan, "security")["enrolment_id"]) == (
        security,
        enrolment_id,
    )
    assert milestone(plan, "day-30")["enrolment_id"] is None

    # Starting the plan again is refused; the enrolment stays the one.
    again = await onboarding.call(
        "POST", "/v1/employees/nora/onboarding-plan", {"template_id": template}, HR, 409
    )
    assert again["error"]["code"] == "rule_violation"
    # The plan's enrolments decided once more (a retried start, a replay of the same plan):
    # the derived id names the enrolment that exists, nothing new is enrolled.
    application = application_in(onboarding.runtime, OnboardingApplication)
    async with onboarding.runtime.sessions() as session:
        employee = await application.aggregates.employee(session, TENANT, "nora")
        template_milestones = (await application.aggregates.template(session, TENANT, template)).milestones
        planned = await application.enrolments.plan_enrolments(
            session,
            employee=employee,
            plan_id=plan_id,
            milestones=template_milestones,
            from_template=True,
            by="x",
        )
    assert (planned.links, planned.new) == ({security: enrolment_id}, [])

    # Redelivered and rebuilt: the view has the one enrolment, the store one TrainingEnrolled.
    await eventually(lambda: _equals(enrolments_in_view(onboarding), [(enrolment_id, "nora")]))
    runner = next(r for r in onboarding.runtime.runners if r.name == "onboarding-development")
    for task in onboarding.runtime._tasks:
        if task.get_name() == f"consumer-{runner.name}":
            task.cancel()
    assert await rebuild(runner.projection, onboarding.runtime.store) > 0
    assert await enrolments_in_view(onboarding) == [(enrolment_id, "nora")]
    assert await onboarding.count_events("TrainingEnrolled") == 1

    # Completing the enrolment completes the milestone (and its missed-deadline goes).
    assert await deadline_keys(onboarding, plan_id, "security") and await deadline_keys(
        onboarding, enrolment_id
    )
    done = await onboarding.call(
        "POST", f"/v1/training-enrolments/{enrolment_id}/complete", {"note": "passed the quiz"}, NORA
    )
    assert (done["events"], done["plan_id"]) == (["TrainingEnrolmentCompleted"], plan_id)
    plan = await onboarding.call("GET", f"/v1/onboarding-plans/{plan_id}", headers=MIA)
    assert (milestone(plan, "security")["status"], milestone(plan, "security")["completed_by"]) == (
        "on_time",
        "nora",
    )
    assert milestone(plan, "day-30")["status"] == "upcoming"
    # the milestone's deadlines and the enrolment's due-soon went with it; day 30's stay
    assert await deadline_keys(onboarding, plan_id, "security") == []
    assert await deadline_keys(onboarding, enrolment_id) == []
    assert await deadline_keys(onboarding, plan_id, "day-30")
    async with onboarding.runtime.sessions() as session:
        planned = await application.enrolments.plan_enrolments(
            session,
            employee=employee,
            plan_id=plan_id,
            milestones=template_milestones,
            from_template=True,
            by="x",
        )
    assert (planned.links, planned.new) == ({security: enrolment_id}, [])  # closed, still not twice


async def test_a_training_the_new_hire_has_already_is_linked_and_a_retired_one_enrols_nobody(
    onboarding: OnboardingService,
) -> None:
    security = await onboarding.create_training("Security basics")
    git = await onboarding.create_training("Git")
    steps = [
        *milestones(security),
        {"key": "git", "title": "Git course", "due_offset_days": 20, "training_id": git},
    ]
    template = await onboarding.create_template("Two trainings", steps)
    await onboarding.hire("mia")
    await onboarding.hire("nora", manager="mia")
    existing = await onboarding.enrol("nora", security, headers=MIA)
    await onboarding.call("POST", f"/v1/trainings/{git}/retire", headers=HR)

    started = await onboarding.call(
        "POST", "/v1/employees/nora/onboarding-plan", {"template_id": template}, MIA, 201
    )
    assert started["related"] == {"enrolment:security": existing}
    assert await onboarding.count_events("TrainingEnrolled") == 1  # the one she had
    plan = await onboarding.call("GET", f"/v1/onboarding-plans/{started['id']}", headers=NORA)
    assert (milestone(plan, "git")["training_id"], milestone(plan, "git")["enrolment_id"]) == (git, None)
    done = await onboarding.call(
        "POST", f"/v1/training-enrolments/{existing}/complete", {"note": "done"}, NORA
    )
    assert done["plan_id"] == started["id"]


async def test_templates_and_ad_hoc_plans_name_only_live_trainings_of_the_tenant(
    onboarding: OnboardingService,
) -> None:
    security = await onboarding.create_training("Security basics")
    old = await onboarding.create_training("Old")
    await onboarding.call("POST", f"/v1/trainings/{old}/retire", headers=HR)
    other_tenant = auth("eve", "admin", tenant="globex")
    foreign = await onboarding.create_training("Theirs", headers=other_tenant)
    url = "/v1/onboarding-templates"
    for training_id, status, code in (
        ("nope", 404, "not_found"),
        (foreign, 404, "not_found"),
        (old, 409, "training_retired"),
        ("not an id", 422, "invalid_input"),
    ):
        body = {"name": "T", "milestones": milestones(training_id)}
        assert await onboarding.refused("POST", url, body, HR, status) == code, training_id
    twice = [
        *milestones(security),
        {"key": "again", "title": "Again", "due_offset_days": 40, "training_id": security},
    ]
    assert await onboarding.refused("POST", url, {"name": "T", "milestones": twice}, HR) == "invalid_input"
    template = await onboarding.create_template("Fine", milestones(security))
    revised = {"name": "Fine", "milestones": milestones(old)}
    assert await onboarding.refused("PUT", f"{url}/{template}", revised, HR, 409) == "training_retired"

    await onboarding.hire("nora")
    ad_hoc = {"milestones": milestones(old)}
    assert await onboarding.refused("POST", "/v1/employees/nora/onboarding-plan", ad_hoc, HR, 409) == (
        "training_retired"
    )
    started = await onboarding.call(
        "POST", "/v1/employees/nora/onboarding-plan", {"milestones": milestones(security)}, HR, 201
    )
    assert list(started["related"]) == ["enrolment:security"]


async def test_a_plan_started_in_the_past_enrols_with_its_due_date_and_no_due_soon_notice(
    onboarding: OnboardingService,
) -> None:
    security = await onboarding.create_training("Security basics")
    template = await onboarding.create_template("With training", milestones(security))
    start = onboarding.today() - dt.timedelta(days=20)
    hired = await onboarding.hire("nora", start_date=start, plan={"template_id": template})
    enrolment = await onboarding.call(
        "GET", f"/v1/training-enrolments/{hired['related']['enrolment:security']}"
    )
    assert (enrolment["target_date"], enrolment["overdue"]) == (
        (start + dt.timedelta(days=14)).isoformat(),
        True,
    )
    async with onboarding.runtime.sessions() as session:  # its due-soon moment has gone by: none armed
        due_soon = select(func.count()).select_from(deadlines).where(deadlines.c.kind == TRAINING_DUE_SOON)
        assert (await session.execute(due_soon)).scalar_one() == 0


async def _equals(found: Any, expected: Any) -> bool:
    return bool(await found == expected)
