"""Feedback and feedback requests over HTTP.

Every read path answers only what ``trellis.feedback.domain.visibility`` allows: one item
through ``FeedbackCommands.read`` (the rule on the aggregate), lists through
``feedback_queries.readable`` (the same rule in SQL). Giving feedback authenticates with
``WithheldActor``: the giver is bound to the request's log lines only once the feedback
is known not to be anonymous.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import structlog
from fastapi import Query, status
from pydantic import BaseModel, Field

from trellis.contracts.ids import uuid7
from trellis.core.runtime.api_kit import RuntimeDep
from trellis.core.runtime.cursors import Cursor
from trellis.core.runtime.http import CorrelationId, CurrentActor, Id, RequestBody, WithheldActor, api_router
from trellis.feedback.api.answers import Requests, RequestView
from trellis.feedback.api.dependencies import FeedbackAnswer, Feedbacks, accepted
from trellis.feedback.domain.feedback import ANONYMOUS_ACTOR, Feedback, FeedbackRequest
from trellis.feedback.views import feedback_queries
from trellis.feedback.views.feedback_queries import about_goal, given_by, received_by

router = api_router(prefix="/v1", tags=["feedback"])

Limit = Annotated[int, Query(ge=1, le=200)]


class FeedbackOut(BaseModel):
    id: str
    recipient_id: str
    giver_id: str | None = Field(description="none for anonymous feedback")
    anonymous: bool
    kind: str
    visibility: Literal["private", "manager", "public"]
    goal_id: str | None
    request_id: str | None
    body: str
    given_at: str | None = Field(description="ISO 8601")


class FeedbackPage(BaseModel):
    items: list[FeedbackOut]
    next: str | None = Field(description="pass as `before` for the next (older) page")


class GiveFeedback(RequestBody):
    recipient_id: Id
    body: str = Field(min_length=1, max_length=10_000)
    visibility: Literal["private", "manager", "public"]
    anonymous: bool = Field(default=False, description="peer feedback only; the giver is recorded nowhere")
    goal_id: Id | None = None
    request_id: Id | None = Field(default=None, description="the request this answers")


class RequestFeedback(RequestBody):
    giver_id: Id = Field(description="whom you ask")
    about_id: Id | None = Field(default=None, description="whom the feedback is about; defaults to you")
    goal_id: Id | None = None
    message: str = Field(default="", max_length=2_000)


class Decline(RequestBody):
    reason: str = Field(default="", max_length=2_000)


@router.post("/feedback", status_code=status.HTTP_201_CREATED, summary="Give feedback (optionally anonymous)")
async def give_feedback(
    body: GiveFeedback, actor: WithheldActor, cid: CorrelationId, feedback: Feedbacks
) -> FeedbackAnswer:
    if body.anonymous:
        # Nothing of this request may name the giver: not the actor, not a correlation id
        # the client may reuse across its requests.
        structlog.contextvars.bind_contextvars(actor=ANONYMOUS_ACTOR, correlation_id=str(uuid7()))
    else:
        structlog.contextvars.bind_contextvars(actor=actor.employee_id)
    return accepted(await feedback.give(actor, cid, **body.model_dump()))


@router.get("/feedback/{feedback_id}", response_model=FeedbackOut, summary="One feedback, if you may read it")
async def get_feedback(feedback_id: str, actor: CurrentActor, feedback: Feedbacks) -> dict[str, Any]:
    item, given_at = await feedback.read(actor, feedback_id)
    return _item(item) | {"given_at": given_at.isoformat()}


@router.get(
    "/employees/{employee_id}/feedback/received",
    response_model=FeedbackPage,
    summary="Feedback an employee received that you may read",
)
async def received(
    employee_id: str, actor: CurrentActor, runtime: RuntimeDep, limit: Limit = 50, before: Cursor = None
) -> dict[str, Any]:
    async with runtime.sessions() as session:
        return await feedback_queries.page(
            session, actor, received_by(employee_id), limit=limit, cursor=before
        )


@router.get(
    "/employees/{employee_id}/feedback/given",
    response_model=FeedbackPage,
    summary="Feedback an employee gave that you may read (anonymous feedback has no giver)",
)
async def given(
    employee_id: str, actor: CurrentActor, runtime: RuntimeDep, limit: Limit = 50, before: Cursor = None
) -> dict[str, Any]:
    async with runtime.sessions() as session:
        return await feedback_queries.page(session, actor, given_by(employee_id), limit=limit, cursor=before)


@router.get(
    "/goals/{goal_id}/feedback",
    response_model=FeedbackPage,
    summary="Feedback about a goal that you may read",
)
async def about(
    goal_id: str, actor: CurrentActor, runtime: RuntimeDep, limit: Limit = 50, before: Cursor = None
) -> dict[str, Any]:
    async with runtime.sessions() as session:
        return await feedback_queries.page(session, actor, about_goal(goal_id), limit=limit, cursor=before)


@router.post("/feedback-requests", status_code=status.HTTP_201_CREATED, summary="Ask someone for feedback")
async def request_feedback(
    body: RequestFeedback, actor: CurrentActor, cid: CorrelationId, feedback: Feedbacks
) -> FeedbackAnswer:
    return accepted(await feedback.request(actor, cid, **body.model_dump()))


@router.get(
    "/feedback-requests",
    response_model=Requests,
    summary="Requests you were asked (incoming) or made (outgoing)",
)
async def list_requests(
    actor: CurrentActor,
    runtime: RuntimeDep,
    role: Literal["incoming", "outgoing"] = "incoming",
    request_status: Annotated[Literal["open", "declined", "answered"] | None, Query(alias="status")] = None,
) -> dict[str, Any]:
    async with runtime.sessions() as session:
        return {"requests": await feedback_queries.requests_of(session, actor, role, request_status)}


@router.get(
    "/feedback-requests/{request_id}", response_model=RequestView, summary="A request you made or were asked"
)
async def get_request(request_id: str, actor: CurrentActor, feedback: Feedbacks) -> dict[str, Any]:
    return _request(await feedback.read_request(actor, request_id))


@router.post("/feedback-requests/{request_id}/decline", summary="Decline a request you were asked")
async def decline_request(
    request_id: str, body: Decline, actor: CurrentActor, cid: CorrelationId, feedback: Feedbacks
) -> FeedbackAnswer:
    return accepted(await feedback.decline(actor, cid, request_id, body.reason))


def _item(item: Feedback) -> dict[str, Any]:
    return {
        "id": item.id,
        "recipient_id": item.recipient_id,
        "giver_id": item.giver_id,
        "anonymous": item.anonymous,
        "kind": item.kind,
        "visibility": item.visibility,
        "goal_id": item.goal_id,
        "request_id": item.request_id,
        "body": item.body,
    }


def _request(request: FeedbackRequest) -> dict[str, Any]:
    return {
        "id": request.id,
        "requester_id": request.requester_id,
        "giver_id": request.giver_id,
        "about_id": request.about_id,
        "goal_id": request.goal_id,
        "message": request.message,
        "status": request.status,
        "feedback_id": request.feedback_id,
    }
