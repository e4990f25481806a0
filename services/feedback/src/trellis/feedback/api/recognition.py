"""Recognition (kudos) and the recognition wall over HTTP. Recognition is public in the tenant."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, status
from pydantic import BaseModel, Field

from trellis.core.runtime.api_kit import RuntimeDep
from trellis.core.runtime.cursors import Cursor
from trellis.core.runtime.http import CorrelationId, CurrentActor, Id, RequestBody, api_router
from trellis.feedback.api.dependencies import FeedbackAnswer, Recognitions, accepted
from trellis.feedback.views import recognition_queries

router = api_router(prefix="/v1", tags=["recognition"])


class RecognitionOut(BaseModel):
    id: str
    giver_id: str
    recipient_ids: list[str]
    message: str
    objective_id: str | None
    value: str | None
    given_at: str = Field(description="ISO 8601")


class RecognitionWall(BaseModel):
    items: list[RecognitionOut]
    next: str | None = Field(description="pass as `before` for the next (older) page")


class GiveRecognition(RequestBody):
    recipient_ids: list[Id] = Field(min_length=1, max_length=50)
    message: str = Field(min_length=1, max_length=5_000)
    objective_id: Id | None = Field(default=None, description="a company objective's goal id")
    value: str | None = Field(default=None, max_length=100, description="a company value")


@router.post("/recognition", status_code=status.HTTP_201_CREATED, summary="Recognise colleagues (public)")
async def give_recognition(
    body: GiveRecognition, actor: CurrentActor, cid: CorrelationId, recognition: Recognitions
) -> FeedbackAnswer:
    return accepted(await recognition.give(actor, cid, **body.model_dump()))


@router.get("/recognition", response_model=RecognitionWall, summary="The recognition wall, newest first")
async def recognition_wall(
    actor: CurrentActor,
    runtime: RuntimeDep,
    recipient_id: str | None = None,
    value: str | None = None,
    objective_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Cursor = None,
) -> dict[str, Any]:
    async with runtime.sessions() as session:
        return await recognition_queries.wall(
            session,
            actor.tenant_id,
            recipient_id=recipient_id,
            value=value,
            objective_id=objective_id,
            limit=limit,
            cursor=before,
        )
