"""Employees, teams and the org chart. Only admin and hr change them; the tenant reads them."""

from __future__ import annotations

from typing import Any

from fastapi import status

from trellis.core.runtime.api_kit import RuntimeDep, audit_trail
from trellis.core.runtime.http import CorrelationId, CurrentActor, IfMatch, api_router
from trellis.onboarding.api.answers import (
    EmployeeHistory,
    Employees,
    EmployeeView,
    ManagerChain,
    OrgChart,
    Reports,
    Teams,
    TeamView,
)
from trellis.onboarding.api.dependencies import (
    OnboardingAnswer,
    Org,
    aggregates,
    answer,
)
from trellis.onboarding.api.schemas import (
    AssignLead,
    ChangeManager,
    ChangeTeam,
    ChangeTitle,
    CreateTeam,
    Hire,
    MoveTeam,
    Offboard,
    RenameTeam,
)
from trellis.onboarding.domain.ids import employee_stream_id
from trellis.onboarding.views import org_queries

router = api_router(prefix="/v1", tags=["org"])


@router.post(
    "/employees",
    status_code=status.HTTP_201_CREATED,
    response_model=OnboardingAnswer,
    summary="Hire an employee (and start their onboarding plan)",
)
async def hire(body: Hire, actor: CurrentActor, cid: CorrelationId, org: Org) -> OnboardingAnswer:
    fields = body.model_dump(exclude={"plan"})
    return answer(await org.hire(actor, cid, **fields, plan=body.plan.spec() if body.plan else None))


@router.get("/employees", response_model=Employees, summary="Employees (active ones unless asked)")
async def list_employees(
    actor: CurrentActor, runtime: RuntimeDep, team_id: str | None = None, include_offboarded: bool = False
) -> dict[str, Any]:
    async with runtime.sessions() as session:
        found = await org_queries.employees(
            session, actor.tenant_id, team_id=team_id, include_offboarded=include_offboarded
        )
    return {"employees": found}


@router.get(
    "/employees/{employee_id}", response_model=EmployeeView, summary="An employee, as of their last event"
)
async def get_employee(employee_id: str, actor: CurrentActor, runtime: RuntimeDep) -> dict[str, Any]:
    async with runtime.sessions() as session:
        e = await aggregates(runtime).employee(session, actor.tenant_id, employee_id)
    return {
        "id": e.employee_id,
        "name": e.name,
        "email": e.email,
        "title": e.title,
        "start_date": e.start_date.isoformat() if e.start_date else None,
        "team_id": e.team_id,
        "manager_id": e.manager_id,
        "status": "active" if e.is_active else "offboarded",
        "last_day": e.last_day.isoformat() if e.last_day else None,
        "version": e.version,
    }


@router.get("/employees/{employee_id}/history", summary="The employee's audit trail")
async def employee_history(employee_id: str, actor: CurrentActor, runtime: RuntimeDep) -> EmployeeHistory:
    stream = employee_stream_id(actor.tenant_id, employee_id)
    events = await audit_trail(runtime, stream, actor, f"employee {employee_id}", aggregate_type="employee")
    return EmployeeHistory(employee_id=employee_id, events=events)


@router.put("/employees/{employee_id}/manager", response_model=OnboardingAnswer, summary="Change the manager")
async def change_manager(
    employee_id: str,
    body: ChangeManager,
    actor: CurrentActor,
    cid: CorrelationId,
    org: Org,
    if_match: IfMatch = None,
) -> OnboardingAnswer:
    return answer(await org.change_manager(actor, cid, employee_id, body.manager_id, if_match))


@router.put("/employees/{employee_id}/team", response_model=OnboardingAnswer, summary="Move to another team")
async def change_team(
    employee_id: str,
    body: ChangeTeam,
    actor: CurrentActor,
    cid: CorrelationId,
    org: Org,
    if_match: IfMatch = None,
) -> OnboardingAnswer:
    return answer(await org.change_team(actor, cid, employee_id, body.team_id, if_match))


@router.put("/employees/{employee_id}/title", response_model=OnboardingAnswer, summary="Change the job title")
async def change_title(
    employee_id: str,
    body: ChangeTitle,
    actor: CurrentActor,
    cid: CorrelationId,
    org: Org,
    if_match: IfMatch = None,
) -> OnboardingAnswer:
    return answer(await org.change_title(actor, cid, employee_id, body.title, if_match))


@router.post(
    "/employees/{employee_id}/offboard",
    response_model=OnboardingAnswer,
    summary="Offboard (refused while anyone reports to them)",
)
async def offboard(
    employee_id: str,
    body: Offboard,
    actor: CurrentActor,
    cid: CorrelationId,
    org: Org,
    if_match: IfMatch = None,
) -> OnboardingAnswer:
    return answer(await org.offboard(actor, cid, employee_id, body.last_day, body.reason, if_match))


@router.get("/employees/{employee_id}/reports", response_model=Reports, summary="Direct and indirect reports")
async def get_reports(employee_id: str, actor: CurrentActor, runtime: RuntimeDep) -> dict[str, Any]:
    async with runtime.sessions() as session:
        return await org_queries.reports(session, actor.tenant_id, employee_id)


@router.get(
    "/employees/{employee_id}/manager-chain",
    response_model=ManagerChain,
    summary="Their manager, that one's manager, ... to the top",
)
async def get_manager_chain(employee_id: str, actor: CurrentActor, runtime: RuntimeDep) -> dict[str, Any]:
    async with runtime.sessions() as session:
        return await org_queries.manager_chain(session, actor.tenant_id, employee_id)


@router.post(
    "/teams", status_code=status.HTTP_201_CREATED, response_model=OnboardingAnswer, summary="Create a team"
)
async def create_team(
    body: CreateTeam, actor: CurrentActor, cid: CorrelationId, org: Org
) -> OnboardingAnswer:
    return answer(await org.create_team(actor, cid, **body.model_dump()))


@router.get("/teams", response_model=Teams, summary="Every team")
async def list_teams(actor: CurrentActor, runtime: RuntimeDep) -> dict[str, Any]:
    async with runtime.sessions() as session:
        return {"teams": await org_queries.teams(session, actor.tenant_id)}


@router.get("/teams/{team_id}", response_model=TeamView, summary="A team with its members and subteams")
async def get_team(team_id: str, actor: CurrentActor, runtime: RuntimeDep) -> dict[str, Any]:
    async with runtime.sessions() as session:
        return await org_queries.team(session, actor.tenant_id, team_id)


@router.put("/teams/{team_id}/name", response_model=OnboardingAnswer, summary="Rename a team")
async def rename_team(
    team_id: str,
    body: RenameTeam,
    actor: CurrentActor,
    cid: CorrelationId,
    org: Org,
    if_match: IfMatch = None,
) -> OnboardingAnswer:
    return answer(await org.rename_team(actor, cid, team_id, body.name, if_match))


@router.put("/teams/{team_id}/parent", response_model=OnboardingAnswer, summary="Move a team under another")
async def move_team(
    team_id: str, body: MoveTeam, actor: CurrentActor, cid: CorrelationId, org: Org, if_match: IfMatch = None
) -> OnboardingAnswer:
    return answer(await org.move_team(actor, cid, team_id, body.parent_team_id, if_match))


@router.put("/teams/{team_id}/lead", response_model=OnboardingAnswer, summary="Assign a team's lead")
async def assign_lead(
    team_id: str,
    body: AssignLead,
    actor: CurrentActor,
    cid: CorrelationId,
    org: Org,
    if_match: IfMatch = None,
) -> OnboardingAnswer:
    return answer(await org.assign_lead(actor, cid, team_id, body.lead_id, if_match))


@router.get(
    "/org-chart",
    response_model=OrgChart,
    summary="The tree of teams (with members) and the tree of reporting lines",
)
async def get_org_chart(actor: CurrentActor, runtime: RuntimeDep) -> dict[str, Any]:
    async with runtime.sessions() as session:
        return await org_queries.org_chart(session, actor.tenant_id)
