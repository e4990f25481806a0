"""Onboarding templates, plans and milestones; upcoming milestones; the on-time KPI."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, status

from trellis.core.errors import NotFound
from trellis.core.runtime.api_kit import RuntimeDep, audit_trail
from trellis.core.runtime.http import CorrelationId, CurrentActor, api_router
from trellis.onboarding.api.answers import (
    ManagerUpcoming,
    MentorUpcoming,
    OnboardingKpis,
    PlanHistory,
    PlanView,
    Templates,
    TemplateView,
)
from trellis.onboarding.api.dependencies import (
    OnboardingAnswer,
    Plans,
    aggregates,
    answer,
    today_of,
)
from trellis.onboarding.api.schemas import AssignMentor, Reschedule, StartPlan, Template, milestone_templates
from trellis.onboarding.domain.plan import OnboardingPlan
from trellis.onboarding.views import plan_queries

router = api_router(prefix="/v1", tags=["onboarding"])

WithinDays = Annotated[int | None, Query(ge=0, le=3650, description="only those due within this many days")]


@router.post(
    "/onboarding-templates",
    status_code=status.HTTP_201_CREATED,
    response_model=OnboardingAnswer,
    summary="Create a template (e.g. day 30/60/90 milestones)",
)
async def create_template(
    body: Template, actor: CurrentActor, cid: CorrelationId, plans: Plans
) -> OnboardingAnswer:
    return answer(await plans.create_template(actor, cid, body.name, milestone_templates(body.milestones)))


@router.get("/onboarding-templates", response_model=Templates, summary="Templates")
async def list_templates(
    actor: CurrentActor, runtime: RuntimeDep, include_retired: bool = False
) -> dict[str, Any]:
    async with runtime.sessions() as session:
        found = await plan_queries.templates(session, actor.tenant_id, include_retired=include_retired)
    return {"templates": found}


@router.get(
    "/onboarding-templates/{template_id}",
    response_model=TemplateView,
    summary="A template with its milestones",
)
async def get_template(template_id: str, actor: CurrentActor, runtime: RuntimeDep) -> dict[str, Any]:
    async with runtime.sessions() as session:
        t = await aggregates(runtime).template(session, actor.tenant_id, template_id)
    return {
        "template_id": t.id,
        "name": t.name,
        "retired": t.retired,
        "version": t.version,
        "milestones": [m.model_dump(mode="json") for m in t.milestones],
    }


@router.put(
    "/onboarding-templates/{template_id}",
    response_model=OnboardingAnswer,
    summary="Revise a template (running plans keep their milestones)",
)
async def revise_template(
    template_id: str, body: Template, actor: CurrentActor, cid: CorrelationId, plans: Plans
) -> OnboardingAnswer:
    milestones = milestone_templates(body.milestones)
    return answer(await plans.revise_template(actor, cid, template_id, body.name, milestones))


@router.post(
    "/onboarding-templates/{template_id}/retire", response_model=OnboardingAnswer, summary="Retire a template"
)
async def retire_template(
    template_id: str, actor: CurrentActor, cid: CorrelationId, plans: Plans
) -> OnboardingAnswer:
    return answer(await plans.retire_template(actor, cid, template_id))


@router.post(
    "/employees/{employee_id}/onboarding-plan",
    status_code=status.HTTP_201_CREATED,
    response_model=OnboardingAnswer,
    summary="Start a new hire's plan (from a template, or ad hoc)",
)
async def start_plan(
    employee_id: str, body: StartPlan, actor: CurrentActor, cid: CorrelationId, plans: Plans
) -> OnboardingAnswer:
    return answer(await plans.start_plan(actor, cid, employee_id, body.spec()))


@router.get(
    "/employees/{employee_id}/onboarding-plan",
    response_model=PlanView,
    summary="A new hire's plan with each milestone's status",
)
async def get_employee_plan(employee_id: str, actor: CurrentActor, runtime: RuntimeDep) -> dict[str, Any]:
    async with runtime.sessions() as session:
        plan = await aggregates(runtime).plan_of(session, actor.tenant_id, employee_id)
        if not plan.exists:
            raise NotFound(f"{employee_id} has no onboarding plan")
        return await _plan_view(runtime, session, plan)


@router.get(
    "/onboarding-plans/{plan_id}", response_model=PlanView, summary="A plan with each milestone's status"
)
async def get_plan(plan_id: str, actor: CurrentActor, runtime: RuntimeDep) -> dict[str, Any]:
    async with runtime.sessions() as session:
        plan = await aggregates(runtime).plan(session, actor.tenant_id, plan_id)
        return await _plan_view(runtime, session, plan)


async def _plan_view(runtime: RuntimeDep, session: Any, plan: OnboardingPlan) -> dict[str, Any]:
    employee = await aggregates(runtime).find_employee(session, plan.tenant_id, plan.employee_id)
    manager_id = employee.manager_id if employee is not None else plan.manager_id
    return plan_queries.plan_view(plan, today=today_of(runtime), manager_id=manager_id)


@router.get("/onboarding-plans/{plan_id}/history", summary="The plan's audit trail")
async def plan_history(plan_id: str, actor: CurrentActor, runtime: RuntimeDep) -> PlanHistory:
    # a plan's: another aggregate's id (a restricted enrolment's) is not found
    events = await audit_trail(runtime, plan_id, actor, f"plan {plan_id}", aggregate_type="onboarding_plan")
    return PlanHistory(plan_id=plan_id, events=events)


@router.put(
    "/onboarding-plans/{plan_id}/mentor", response_model=OnboardingAnswer, summary="Assign the mentor"
)
async def assign_mentor(
    plan_id: str, body: AssignMentor, actor: CurrentActor, cid: CorrelationId, plans: Plans
) -> OnboardingAnswer:
    return answer(await plans.assign_mentor(actor, cid, plan_id, body.mentor_id))


@router.post(
    "/onboarding-plans/{plan_id}/milestones/{milestone_id}/complete",
    response_model=OnboardingAnswer,
    summary="Complete a milestone (its assignee, or admin/hr)",
)
async def complete_milestone(
    plan_id: str, milestone_id: str, actor: CurrentActor, cid: CorrelationId, plans: Plans
) -> OnboardingAnswer:
    return answer(await plans.complete_milestone(actor, cid, plan_id, milestone_id))


@router.post(
    "/onboarding-plans/{plan_id}/milestones/{milestone_id}/reschedule",
    response_model=OnboardingAnswer,
    summary="Give a milestone a new due date, with the reason",
)
async def reschedule_milestone(
    plan_id: str, milestone_id: str, body: Reschedule, actor: CurrentActor, cid: CorrelationId, plans: Plans
) -> OnboardingAnswer:
    return answer(
        await plans.reschedule_milestone(actor, cid, plan_id, milestone_id, body.due_date, body.reason)
    )


@router.get(
    "/managers/{manager_id}/upcoming-milestones",
    response_model=ManagerUpcoming,
    summary="Open milestones of a manager's new hires",
)
async def manager_upcoming(
    manager_id: str, actor: CurrentActor, runtime: RuntimeDep, within_days: WithinDays = None
) -> dict[str, Any]:
    async with runtime.sessions() as session:
        found = await plan_queries.upcoming_for_manager(
            session, actor.tenant_id, manager_id, today=today_of(runtime), within_days=within_days
        )
    return {"manager_id": manager_id, "milestones": found}


@router.get(
    "/mentors/{mentor_id}/upcoming-milestones",
    response_model=MentorUpcoming,
    summary="Open milestones of a mentor's new hires",
)
async def mentor_upcoming(
    mentor_id: str, actor: CurrentActor, runtime: RuntimeDep, within_days: WithinDays = None
) -> dict[str, Any]:
    async with runtime.sessions() as session:
        found = await plan_queries.upcoming_for_mentor(
            session, actor.tenant_id, mentor_id, today=today_of(runtime), within_days=within_days
        )
    return {"mentor_id": mentor_id, "milestones": found}


@router.get(
    "/onboarding-kpis",
    response_model=OnboardingKpis,
    summary="Milestones completed on time, per team and per template",
)
async def get_kpis(actor: CurrentActor, runtime: RuntimeDep) -> dict[str, Any]:
    async with runtime.sessions() as session:
        return await plan_queries.kpis(session, actor.tenant_id, today=today_of(runtime))
