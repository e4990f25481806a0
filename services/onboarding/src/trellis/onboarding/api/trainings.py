"""The training catalogue, enrolments and the training KPIs.

Everyone in the tenant reads the catalogue; admin and hr keep it. An enrolment is read
only by its person, their managers (any depth), admin and hr: one through
``EnrolmentCommands.visible`` (on the aggregates), lists through
``development_queries`` (the same rule in SQL over the org chart replica).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, status

from trellis.contracts.onboarding import TrainingKind
from trellis.core.errors import InvalidInput
from trellis.core.runtime.api_kit import RuntimeDep, audit_trail
from trellis.core.runtime.cursors import Cursor
from trellis.core.runtime.http import CorrelationId, CurrentActor, Date, api_router
from trellis.onboarding.api.dependencies import (
    Catalogue,
    Enrolments,
    OnboardingAnswer,
    aggregates,
    answer,
    today_of,
)
from trellis.onboarding.api.development_answers import (
    EnrolmentHistory,
    EnrolmentStatusFilter,
    EnrolmentView,
    TrainingHistory,
    TrainingKpis,
    Trainings,
    TrainingView,
)
from trellis.onboarding.api.development_answers import Enrolments as EnrolmentList
from trellis.onboarding.api.development_schemas import CompleteEnrolment, Enrol, TrainingBody, Withdraw
from trellis.onboarding.views import development_queries, training_kpis
from trellis.orgchart import OrgDirectory

router = api_router(prefix="/v1", tags=["development"])

Limit = Annotated[int, Query(ge=1, le=200)]
From = Annotated[Date | None, Query(alias="from", description="enrolled on or after; default: ever")]
To = Annotated[Date | None, Query(alias="to", description="enrolled before; default: now")]

# ---- the catalogue ----------------------------------------------------------------------


@router.post(
    "/trainings",
    status_code=status.HTTP_201_CREATED,
    response_model=OnboardingAnswer,
    summary="Add a training to the catalogue (admin, hr)",
)
async def create_training(
    body: TrainingBody, actor: CurrentActor, cid: CorrelationId, catalogue: Catalogue
) -> OnboardingAnswer:
    return answer(await catalogue.create(actor, cid, body.details()))


@router.get("/trainings", response_model=Trainings, summary="The training catalogue")
async def list_trainings(
    actor: CurrentActor,
    runtime: RuntimeDep,
    kind: TrainingKind | None = None,
    skill: Annotated[str | None, Query(max_length=40, description="trainings with this tag")] = None,
    include_retired: bool = False,
) -> dict[str, Any]:
    async with runtime.sessions() as session:
        found = await development_queries.catalogue(
            session, actor.tenant_id, kind=kind, skill=skill, include_retired=include_retired
        )
    return {"trainings": found}


@router.get("/trainings/{training_id}", response_model=TrainingView, summary="A training")
async def get_training(training_id: str, actor: CurrentActor, runtime: RuntimeDep) -> dict[str, Any]:
    async with runtime.sessions() as session:
        training = await aggregates(runtime).training(session, actor.tenant_id, training_id)
    return development_queries.training_view(training)


@router.put(
    "/trainings/{training_id}",
    response_model=OnboardingAnswer,
    summary="Change a training (admin, hr; open enrolments keep going)",
)
async def change_training(
    training_id: str, body: TrainingBody, actor: CurrentActor, cid: CorrelationId, catalogue: Catalogue
) -> OnboardingAnswer:
    return answer(await catalogue.change(actor, cid, training_id, body.details()))


@router.post(
    "/trainings/{training_id}/retire",
    response_model=OnboardingAnswer,
    summary="Retire a training (admin, hr): it enrols nobody any more",
)
async def retire_training(
    training_id: str, actor: CurrentActor, cid: CorrelationId, catalogue: Catalogue
) -> OnboardingAnswer:
    return answer(await catalogue.retire(actor, cid, training_id))


@router.get("/trainings/{training_id}/history", summary="The training's audit trail")
async def training_history(training_id: str, actor: CurrentActor, runtime: RuntimeDep) -> TrainingHistory:
    events = await audit_trail(
        runtime, training_id, actor, f"training {training_id}", aggregate_type="training"
    )
    return TrainingHistory(training_id=training_id, events=events)


# ---- enrolments -------------------------------------------------------------------------


@router.post(
    "/training-enrolments",
    status_code=status.HTTP_201_CREATED,
    response_model=OnboardingAnswer,
    summary="Enrol someone in a training (themself, their managers, admin, hr)",
)
async def enrol(
    body: Enrol, actor: CurrentActor, cid: CorrelationId, enrolments: Enrolments
) -> OnboardingAnswer:
    return answer(await enrolments.enrol(actor, cid, body.employee_id, body.training_id, body.target_date))


@router.get(
    "/training-enrolments",
    response_model=EnrolmentList,
    summary="The enrolments you may read (yours, your reports', all for admin and hr)",
)
async def list_enrolments(
    actor: CurrentActor,
    runtime: RuntimeDep,
    employee_id: str | None = None,
    training_id: str | None = None,
    status: EnrolmentStatusFilter | None = None,
    limit: Limit = 50,
    before: Cursor = None,
) -> dict[str, Any]:
    async with runtime.sessions() as session:
        return await development_queries.enrolments_page(
            session,
            actor,
            today=today_of(runtime),
            employee_id=employee_id,
            training_id=training_id,
            status=status,
            limit=limit,
            cursor=before,
        )


@router.get("/training-enrolments/{enrolment_id}", response_model=EnrolmentView, summary="An enrolment")
async def get_enrolment(
    enrolment_id: str, actor: CurrentActor, runtime: RuntimeDep, enrolments: Enrolments
) -> dict[str, Any]:
    async with runtime.sessions() as session:
        enrolment, _ = await enrolments.visible(session, actor, enrolment_id)
    return development_queries.enrolment_view(enrolment, today=today_of(runtime))


@router.post(
    "/training-enrolments/{enrolment_id}/complete",
    response_model=OnboardingAnswer,
    summary="Complete it, with evidence (a note and/or a link)",
)
async def complete_enrolment(
    enrolment_id: str,
    body: CompleteEnrolment,
    actor: CurrentActor,
    cid: CorrelationId,
    enrolments: Enrolments,
) -> OnboardingAnswer:
    return answer(await enrolments.complete(actor, cid, enrolment_id, body.note, body.url))


@router.post(
    "/training-enrolments/{enrolment_id}/withdraw",
    response_model=OnboardingAnswer,
    summary="Withdraw an open enrolment",
)
async def withdraw_enrolment(
    enrolment_id: str, body: Withdraw, actor: CurrentActor, cid: CorrelationId, enrolments: Enrolments
) -> OnboardingAnswer:
    return answer(await enrolments.withdraw(actor, cid, enrolment_id, body.reason))


@router.get("/training-enrolments/{enrolment_id}/history", summary="The enrolment's audit trail")
async def enrolment_history(
    enrolment_id: str, actor: CurrentActor, runtime: RuntimeDep, enrolments: Enrolments
) -> EnrolmentHistory:
    async with runtime.sessions() as session:
        await enrolments.visible(session, actor, enrolment_id)
    events = await audit_trail(
        runtime, enrolment_id, actor, f"enrolment {enrolment_id}", aggregate_type="training_enrolment"
    )
    return EnrolmentHistory(enrolment_id=enrolment_id, events=events)


# ---- KPIs -------------------------------------------------------------------------------


@router.get(
    "/kpis/training",
    response_model=TrainingKpis,
    summary="Enrolments, completions and completions on time, per team and training",
)
async def get_training_kpis(
    actor: CurrentActor,
    runtime: RuntimeDep,
    start: From = None,
    end: To = None,
    training_id: str | None = None,
) -> dict[str, Any]:
    if start is not None and end is not None and start >= end:
        raise InvalidInput("`from` must be before `to`")
    async with runtime.sessions() as session:
        scope = None
        if not actor.is_admin_or_hr:
            reports = await OrgDirectory().reports(session, actor.tenant_id, actor.employee_id, indirect=True)
            scope = {actor.employee_id, *reports}
        return await training_kpis.training_kpis(
            session,
            actor.tenant_id,
            scope,
            today=today_of(runtime),
            start=start,
            end=end,
            training_id=training_id,
        )
