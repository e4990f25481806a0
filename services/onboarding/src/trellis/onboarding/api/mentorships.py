"""Mentorships: arranged by admin, hr or the mentee's managers; read and ended early by
the pair, the mentee's managers (any depth), admin and hr. Anyone else gets 404."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, status

from trellis.core.runtime.api_kit import RuntimeDep, audit_trail
from trellis.core.runtime.cursors import Cursor
from trellis.core.runtime.http import CorrelationId, CurrentActor, api_router
from trellis.onboarding.api.dependencies import Mentorships, OnboardingAnswer, answer, today_of
from trellis.onboarding.api.development_answers import MentorshipHistory, MentorshipView
from trellis.onboarding.api.development_answers import Mentorships as MentorshipList
from trellis.onboarding.api.development_schemas import ArrangeMentorship, EndMentorship
from trellis.onboarding.views import development_queries

router = api_router(prefix="/v1", tags=["development"])

Limit = Annotated[int, Query(ge=1, le=200)]


@router.post(
    "/mentorships",
    status_code=status.HTTP_201_CREATED,
    response_model=OnboardingAnswer,
    summary="Pair a mentor and a mentee for a period (admin, hr, the mentee's managers)",
)
async def arrange_mentorship(
    body: ArrangeMentorship, actor: CurrentActor, cid: CorrelationId, mentorships: Mentorships
) -> OnboardingAnswer:
    return answer(await mentorships.arrange(actor, cid, **body.model_dump()))


@router.get(
    "/mentorships",
    response_model=MentorshipList,
    summary="The mentorships you may read (`employee_id`: as mentor or mentee)",
)
async def list_mentorships(
    actor: CurrentActor,
    runtime: RuntimeDep,
    employee_id: str | None = None,
    limit: Limit = 50,
    before: Cursor = None,
) -> dict[str, Any]:
    async with runtime.sessions() as session:
        return await development_queries.mentorships_page(
            session, actor, today=today_of(runtime), employee_id=employee_id, limit=limit, cursor=before
        )


@router.get("/mentorships/{mentorship_id}", response_model=MentorshipView, summary="A mentorship")
async def get_mentorship(
    mentorship_id: str, actor: CurrentActor, runtime: RuntimeDep, mentorships: Mentorships
) -> dict[str, Any]:
    async with runtime.sessions() as session:
        mentorship = await mentorships.visible(session, actor, mentorship_id)
    return development_queries.mentorship_view(mentorship, today=today_of(runtime))


@router.post(
    "/mentorships/{mentorship_id}/end",
    response_model=OnboardingAnswer,
    summary="End a mentorship before its period is over",
)
async def end_mentorship(
    mentorship_id: str, body: EndMentorship, actor: CurrentActor, cid: CorrelationId, mentorships: Mentorships
) -> OnboardingAnswer:
    return answer(await mentorships.end(actor, cid, mentorship_id, body.reason))


@router.get("/mentorships/{mentorship_id}/history", summary="The mentorship's audit trail")
async def mentorship_history(
    mentorship_id: str, actor: CurrentActor, runtime: RuntimeDep, mentorships: Mentorships
) -> MentorshipHistory:
    async with runtime.sessions() as session:
        await mentorships.visible(session, actor, mentorship_id)
    events = await audit_trail(
        runtime, mentorship_id, actor, f"mentorship {mentorship_id}", aggregate_type="mentorship"
    )
    return MentorshipHistory(mentorship_id=mentorship_id, events=events)
