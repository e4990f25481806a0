"""Review cycles over HTTP."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import status
from pydantic import AwareDatetime, Field

from trellis.core.errors import NotFound
from trellis.core.runtime.api_kit import RuntimeDep
from trellis.core.runtime.http import CorrelationId, CurrentActor, Id, RequestBody, api_router
from trellis.feedback.api.answers import Cycles, CycleView, ReviewsToWrite, ReviewView
from trellis.feedback.api.dependencies import FeedbackAnswer, OversightDep, Reviews, accepted
from trellis.feedback.views import kpis, review_queries

router = api_router(prefix="/v1", tags=["review cycles"])


class OpenCycle(RequestBody):
    name: str = Field(min_length=1, max_length=300)
    period: str = Field(min_length=1, max_length=50, examples=["2026-Q4"])
    team_id: Id | None = Field(default=None, description="a team and every team beneath it; none: the tenant")
    deadline: AwareDatetime


class ChoosePeers(RequestBody):
    subject_id: Id
    reviewer_ids: list[Id] = Field(min_length=1, max_length=10)


class SubmitReview(RequestBody):
    answers: dict[Annotated[str, Field(max_length=200)], Annotated[str, Field(max_length=10_000)]] = Field(
        min_length=1, max_length=50
    )
    rating: int | None = Field(default=None, ge=1, le=5)


@router.post("/review-cycles", status_code=status.HTTP_201_CREATED, summary="Open a review cycle (hr/admin)")
async def open_cycle(
    body: OpenCycle, actor: CurrentActor, cid: CorrelationId, reviews: Reviews
) -> FeedbackAnswer:
    return accepted(await reviews.open(actor, cid, **body.model_dump()))


@router.get("/review-cycles", response_model=Cycles, summary="The tenant's review cycles")
async def list_cycles(actor: CurrentActor, runtime: RuntimeDep) -> dict[str, Any]:
    async with runtime.sessions() as session:
        return {"cycles": await review_queries.cycles(session, actor.tenant_id)}


@router.get(
    "/review-cycles/{cycle_id}",
    response_model=CycleView,
    summary="A cycle, with completion over the people you oversee",
)
async def get_cycle(
    cycle_id: str, actor: CurrentActor, runtime: RuntimeDep, reviews: Reviews, oversight: OversightDep
) -> dict[str, Any]:
    cycle = await reviews.read_cycle(actor, cycle_id)
    async with runtime.sessions() as session:
        scope = await oversight.scope(session, actor)
        completion = await kpis.review_completion(session, actor.tenant_id, scope, cycle_id)
    return {
        "id": cycle.id,
        "name": cycle.name,
        "period": cycle.period,
        "team_id": cycle.team_id,
        "deadline": cycle.deadline.isoformat(),
        "status": "closed" if cycle.closed else "open",
        "completion": completion[0] if completion else None,
    }


@router.post("/review-cycles/{cycle_id}/peer-reviewers", summary="Choose peer reviewers for a report")
async def choose_peers(
    cycle_id: str, body: ChoosePeers, actor: CurrentActor, cid: CorrelationId, reviews: Reviews
) -> FeedbackAnswer:
    return accepted(
        await reviews.choose_peers(
            actor, cid, cycle_id, subject_id=body.subject_id, peer_ids=body.reviewer_ids
        )
    )


@router.post("/review-cycles/{cycle_id}/reviews/{review_id}/submit", summary="Submit a review you write")
async def submit_review(
    cycle_id: str,
    review_id: str,
    body: SubmitReview,
    actor: CurrentActor,
    cid: CorrelationId,
    reviews: Reviews,
) -> FeedbackAnswer:
    return accepted(
        await reviews.submit(actor, cid, cycle_id, review_id, answers=body.answers, rating=body.rating)
    )


@router.get(
    "/review-cycles/{cycle_id}/reviews/{review_id}",
    response_model=ReviewView,
    summary="A review and its answers, if you may read it",
)
async def get_review(cycle_id: str, review_id: str, actor: CurrentActor, reviews: Reviews) -> dict[str, Any]:
    _cycle, review, answers = await reviews.read_review(actor, cycle_id, review_id)
    return {
        **review.model_dump(),
        "submitted": answers is not None,
        "answers": answers.answers if answers else None,
        "rating": answers.rating if answers else None,
    }


@router.post("/review-cycles/{cycle_id}/close", summary="Close a cycle by hand (hr/admin)")
async def close_cycle(
    cycle_id: str, actor: CurrentActor, cid: CorrelationId, reviews: Reviews
) -> FeedbackAnswer:
    return accepted(await reviews.close(actor, cid, cycle_id))


@router.get(
    "/employees/{employee_id}/reviews-to-write",
    response_model=ReviewsToWrite,
    summary="The reviews someone is asked to write",
)
async def reviews_to_write(
    employee_id: str, actor: CurrentActor, runtime: RuntimeDep, oversight: OversightDep
) -> dict[str, Any]:
    async with runtime.sessions() as session:
        if not await oversight.oversees(session, actor, employee_id):
            raise NotFound(f"employee {employee_id} not found")
        return {"reviews": await review_queries.assignments_of(session, actor.tenant_id, employee_id)}
