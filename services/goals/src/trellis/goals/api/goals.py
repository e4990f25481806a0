"""The goals service's HTTP API: thin translation of requests into commands and queries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import Depends, Query, status
from pydantic import Field, model_validator

from trellis.core.errors import NotFound
from trellis.core.runtime.api_kit import Answer, CommandAnswer, RuntimeDep, application_of, audit_trail
from trellis.core.runtime.http import (
    CorrelationId,
    CurrentActor,
    Date,
    Id,
    IfMatch,
    Measure,
    RequestBody,
    api_router,
)
from trellis.core.store.accepted import Accepted
from trellis.core.store.transaction import Transaction
from trellis.goals.api.answers import (
    AlignmentCoverage,
    AlignmentTree,
    EmployeeGoals,
    GoalHistory,
    GoalView,
    Objectives,
)
from trellis.goals.application.commands import CommandResult
from trellis.goals.application.wiring import GoalsApplication
from trellis.goals.domain.goal import Goal
from trellis.goals.domain.goal_pace import goal_pace_id
from trellis.goals.domain.progress import MAX_WEIGHT
from trellis.goals.views import queries

router = api_router(prefix="/v1", tags=["goals"])

Level = Literal["company", "team", "individual"]
Rollup = Literal["key_results", "children", "both"]
Title = Annotated[str, Field(min_length=1, max_length=500)]
Period = Annotated[str, Field(min_length=1, max_length=50, examples=["2026-Q4"])]
Weight = Annotated[float, Field(gt=0, le=MAX_WEIGHT, description=f"relative weight, 0 < w <= {MAX_WEIGHT:g}")]


class CreateGoal(RequestBody):
    level: Level
    title: Title
    description: str = Field(default="", max_length=10_000)
    owner_id: Id | None = Field(default=None, description="defaults to the caller")
    team_id: Id | None = None
    period: Period
    start_date: Date | None = Field(default=None, description="defaults to the named period's first day")
    due_date: Date | None = Field(default=None, description="defaults to the named period's last day")
    parent_id: Id | None = Field(default=None, description="the goal this one aligns to")
    progress_rollup: Rollup = "both"
    weight: Weight = 1.0
    kind: Literal["performance", "development"] = Field(
        default="performance",
        description="development: an individual goal of the owner's growth, seen only by them, their "
        "managers and hr",
    )
    career_objective: str | None = Field(
        default=None, max_length=2000, description="a development goal's: the career objective it serves"
    )


class ChangeGoal(RequestBody):
    title: Title | None = None
    description: str | None = Field(default=None, max_length=10_000)
    period: Period | None = None
    start_date: Date | None = None
    due_date: Date | None = None
    owner_id: Id | None = None
    weight: Weight | None = None
    progress_rollup: Rollup | None = Field(default=None, description="what its progress is the mean of")
    career_objective: str | None = Field(default=None, max_length=2000, description="a development goal's")


class Align(RequestBody):
    parent_id: Id


class AddKeyResult(RequestBody):
    name: Title
    start: Measure
    target: Measure
    current: Measure | None = None
    unit: str = Field(default="", max_length=50)
    weight: Weight = 1.0

    @model_validator(mode="after")
    def _start_is_not_target(self) -> AddKeyResult:
        if self.start == self.target:
            raise ValueError("start and target must differ: progress is measured from one to the other")
        return self


class ChangeKeyResult(RequestBody):
    """Only the fields given change; the current value stays and is measured on the new scale."""

    name: Title | None = None
    start: Measure | None = None
    target: Measure | None = None
    unit: str | None = Field(default=None, max_length=50)
    weight: Weight | None = None


class Cascade(RequestBody):
    """Who gets the goal: named people, a team and every team beneath it, the caller's
    reports (any depth), or any mix of those."""

    employee_ids: list[Id] = Field(default_factory=list, max_length=500)
    team_id: Id | None = None
    reports: bool = Field(default=False, description="every one of the caller's reports, at any depth")


class CascadeAnswer(Answer):
    """The goal each person has from the cascade: made now, or made by an earlier one."""

    source_id: str
    created: dict[str, str] = Field(description="employee id -> the goal made for them now")
    existing: dict[str, str] = Field(description="employee id -> the goal they had from this source")


class RecordProgress(RequestBody):
    value: Measure
    comment: str = Field(default="", max_length=5_000)
    confidence: int | None = Field(default=None, ge=1, le=5)


class SetStatus(RequestBody):
    status: Literal["on_track", "at_risk", "off_track"]


class Retire(RequestBody):
    reason: str = Field(default="", max_length=5_000)


class GoalAnswer(CommandAnswer):
    """What a command did (``id`` and ``goal_id``: the goal changed)."""

    goal_id: str
    key_result_id: str | None = Field(default=None, description="the key result added, if any")


Goals = Annotated[GoalsApplication, Depends(application_of(GoalsApplication))]


def _accepted(result: CommandResult) -> GoalAnswer:
    related = {"key_result_id": result.key_result_id} if result.key_result_id else {}
    return GoalAnswer.of(
        Accepted(result.goal_id, result.version, result.events, related),
        goal_id=result.goal_id,
        key_result_id=result.key_result_id,
    )


@router.post("/goals", status_code=status.HTTP_201_CREATED, response_model=GoalAnswer)
async def create_goal(body: CreateGoal, actor: CurrentActor, cid: CorrelationId, goals: Goals):
    return _accepted(await goals.commands.create_goal(actor, cid, **body.model_dump()))


@router.patch("/goals/{goal_id}", response_model=GoalAnswer)
async def change_goal(
    goal_id: str,
    body: ChangeGoal,
    actor: CurrentActor,
    cid: CorrelationId,
    goals: Goals,
    if_match: IfMatch = None,
):
    changes = body.model_dump(exclude_unset=True)
    return _accepted(await goals.commands.change(actor, cid, goal_id, if_match, changes))


@router.put("/goals/{goal_id}/alignment", response_model=GoalAnswer)
async def align_goal(
    goal_id: str,
    body: Align,
    actor: CurrentActor,
    cid: CorrelationId,
    goals: Goals,
    if_match: IfMatch = None,
):
    return _accepted(await goals.commands.align(actor, cid, goal_id, body.parent_id, if_match))


@router.delete("/goals/{goal_id}/alignment", response_model=GoalAnswer)
async def unalign_goal(
    goal_id: str, actor: CurrentActor, cid: CorrelationId, goals: Goals, if_match: IfMatch = None
):
    return _accepted(await goals.commands.unalign(actor, cid, goal_id, if_match))


@router.post("/goals/{goal_id}/key-results", status_code=status.HTTP_201_CREATED, response_model=GoalAnswer)
async def add_key_result(
    goal_id: str,
    body: AddKeyResult,
    actor: CurrentActor,
    cid: CorrelationId,
    goals: Goals,
    if_match: IfMatch = None,
):
    return _accepted(await goals.commands.add_key_result(actor, cid, goal_id, if_match, **body.model_dump()))


@router.post(
    "/goals/{goal_id}/cascade",
    response_model=CascadeAnswer,
    summary="Give each of a set of people an individual goal aligned to this one, with its key results",
)
async def cascade(goal_id: str, body: Cascade, actor: CurrentActor, cid: CorrelationId, goals: Goals):
    result = await goals.cascades.cascade(
        actor, cid, goal_id, employee_ids=body.employee_ids, team_id=body.team_id, reports=body.reports
    )
    return CascadeAnswer(source_id=result.source_id, created=result.created, existing=result.existing)


@router.patch(
    "/goals/{goal_id}/key-results/{key_result_id}",
    response_model=GoalAnswer,
    summary="Rename a key result or change its start, target, unit or weight",
)
async def change_key_result(
    goal_id: str,
    key_result_id: str,
    body: ChangeKeyResult,
    actor: CurrentActor,
    cid: CorrelationId,
    goals: Goals,
    if_match: IfMatch = None,
):
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    return _accepted(
        await goals.commands.change_key_result(actor, cid, goal_id, key_result_id, if_match, **changes)
    )


@router.delete(
    "/goals/{goal_id}/key-results/{key_result_id}",
    response_model=GoalAnswer,
    summary="Remove a key result: the goal's progress no longer counts it",
)
async def remove_key_result(
    goal_id: str,
    key_result_id: str,
    actor: CurrentActor,
    cid: CorrelationId,
    goals: Goals,
    if_match: IfMatch = None,
    reason: Annotated[str, Query(max_length=500)] = "",
):
    return _accepted(
        await goals.commands.remove_key_result(actor, cid, goal_id, key_result_id, if_match, reason)
    )


@router.post("/goals/{goal_id}/key-results/{key_result_id}/progress", response_model=GoalAnswer)
async def record_progress(
    goal_id: str,
    key_result_id: str,
    body: RecordProgress,
    actor: CurrentActor,
    cid: CorrelationId,
    goals: Goals,
    if_match: IfMatch = None,
):
    return _accepted(
        await goals.commands.record_progress(
            actor, cid, goal_id, key_result_id, if_match, **body.model_dump()
        )
    )


@router.put("/goals/{goal_id}/status", response_model=GoalAnswer)
async def set_status(
    goal_id: str,
    body: SetStatus,
    actor: CurrentActor,
    cid: CorrelationId,
    goals: Goals,
    if_match: IfMatch = None,
):
    return _accepted(await goals.commands.set_status(actor, cid, goal_id, if_match, body.status))


@router.post("/goals/{goal_id}/complete", response_model=GoalAnswer)
async def complete_goal(
    goal_id: str, actor: CurrentActor, cid: CorrelationId, goals: Goals, if_match: IfMatch = None
):
    return _accepted(await goals.commands.complete(actor, cid, goal_id, if_match))


@router.post("/goals/{goal_id}/retire", response_model=GoalAnswer)
async def retire_goal(
    goal_id: str,
    body: Retire,
    actor: CurrentActor,
    cid: CorrelationId,
    goals: Goals,
    if_match: IfMatch = None,
):
    return _accepted(await goals.commands.retire(actor, cid, goal_id, if_match, body.reason))


@router.get(
    "/goals/{goal_id}", response_model=GoalView, summary="A goal with its key results and rolled-up progress"
)
async def get_goal(goal_id: str, actor: CurrentActor, runtime: RuntimeDep, goals: Goals) -> dict[str, Any]:
    async with runtime.sessions() as session:
        rule = await _pace_rule(session, runtime, goals, actor.tenant_id)
        view = await queries.goal_node(session, actor.tenant_id, goal_id, rule)
        if view is None or view["version"] < await runtime.store.current_version(session, goal_id):
            # The read view lags the write by milliseconds: answer from the events, so a
            # client always reads its own writes.
            goal = await goals.commands.visible(session, actor, goal_id)
            return _with_objective(queries.goal_from_aggregate(goal, view, rule), goal)
        if view["kind"] == "development":  # its owner, their managers and hr only; 404 to others
            return _with_objective(view, await goals.commands.visible(session, actor, goal_id))
    return view


def _with_objective(answer: dict[str, Any], goal: Goal) -> dict[str, Any]:
    return {**answer, "career_objective": goal.career_objective} if goal.is_development else answer


@router.get("/goals/{goal_id}/history", summary="The goal's audit trail: every event, who, when")
async def goal_history(goal_id: str, actor: CurrentActor, runtime: RuntimeDep, goals: Goals) -> GoalHistory:
    await _visible(runtime, goals, actor, goal_id)
    events = await audit_trail(runtime, goal_id, actor, f"goal {goal_id}", aggregate_type="goal")
    return GoalHistory(goal_id=goal_id, events=events)


@router.get(
    "/goals/{goal_id}/pace-history",
    summary="Each change of the goal's status by pace, decided as time passed or progress came",
)
async def goal_pace_history(
    goal_id: str, actor: CurrentActor, runtime: RuntimeDep, goals: Goals
) -> GoalHistory:
    """Kept apart from the goal's own trail: what the clock decides never moves the goal's version."""
    await _visible(runtime, goals, actor, goal_id)
    try:
        decided = await audit_trail(
            runtime, goal_pace_id(goal_id), actor, f"goal {goal_id}", aggregate_type="goal_pace"
        )
    except NotFound:  # nothing decided yet
        decided = []
    return GoalHistory(goal_id=goal_id, events=decided)


async def _visible(runtime: RuntimeDep, goals: GoalsApplication, actor: CurrentActor, goal_id: str) -> None:
    """Not found unless it is a goal of this tenant the actor may see."""
    async with runtime.sessions() as session:
        await goals.commands.visible(session, actor, goal_id)


async def _sees(
    session: Transaction, goals: GoalsApplication, actor: CurrentActor
) -> Callable[[dict[str, Any]], bool]:
    """Which goals of a list the actor may see: a development goal only if theirs, a report's
    (any depth) or for hr."""
    if actor.has_role("hr"):
        return lambda node: True
    reach = {
        actor.employee_id,
        *await goals.commands.org.reports(session, actor.tenant_id, actor.employee_id, indirect=True),
    }
    return lambda node: node["kind"] != "development" or node["owner_id"] in reach


@router.get("/alignment-tree", summary="Every goal in its place under the company objectives")
async def get_alignment_tree(
    actor: CurrentActor, runtime: RuntimeDep, goals: Goals, include_retired: bool = False
) -> AlignmentTree:
    async with runtime.sessions() as session:
        rule = await _pace_rule(session, runtime, goals, actor.tenant_id)
        roots = await queries.alignment_tree(
            session,
            actor.tenant_id,
            include_retired=include_retired,
            rule=rule,
            visible=await _sees(session, goals, actor),
        )
    return AlignmentTree.model_validate({"roots": roots})


@router.get("/objectives", summary="The one-page list of company objectives")
async def get_objectives(actor: CurrentActor, runtime: RuntimeDep) -> Objectives:
    async with runtime.sessions() as session:
        return Objectives.model_validate(
            {"objectives": await queries.company_objectives(session, actor.tenant_id)}
        )


@router.get(
    "/alignment-coverage",
    summary="Share of goals and of everyone active aligned to an objective, per team; who has none",
)
async def get_alignment_coverage(
    actor: CurrentActor,
    runtime: RuntimeDep,
    period: Annotated[str | None, Query(max_length=50, description="only goals of this period")] = None,
    manager_id: Annotated[
        str | None, Query(max_length=64, description="only their reports, any depth")
    ] = None,
) -> AlignmentCoverage:
    async with runtime.sessions() as session:
        found = await queries.alignment_coverage(
            session, actor.tenant_id, period=period, manager_id=manager_id
        )
    return AlignmentCoverage.model_validate(found)


@router.get("/employees/{employee_id}/goals", summary="An employee's goals")
async def get_employee_goals(
    employee_id: str, actor: CurrentActor, runtime: RuntimeDep, goals: Goals
) -> EmployeeGoals:
    async with runtime.sessions() as session:
        rule = await _pace_rule(session, runtime, goals, actor.tenant_id)
        found = await queries.employee_goals(
            session, actor.tenant_id, employee_id, rule, visible=await _sees(session, goals, actor)
        )
    return EmployeeGoals.model_validate({"goals": found})


async def _pace_rule(
    session: Transaction, runtime: RuntimeDep, goals: GoalsApplication, tenant_id: str
) -> queries.PaceRule:
    """Pace as of today by the service's clock (the test clock, where enabled), by the
    tenant's thresholds."""
    thresholds = await goals.pace_policies.thresholds(session, tenant_id)
    return queries.PaceRule(runtime.clock.now().date(), thresholds)
