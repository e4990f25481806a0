"""KPIs over HTTP, each over the people the caller oversees (see ``trellis.feedback.views.kpis``)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import Query

from trellis.core.errors import InvalidInput
from trellis.core.runtime.api_kit import RuntimeDep
from trellis.core.runtime.http import CurrentActor, DateTime, api_router
from trellis.feedback.api.answers import CheckInCompletion, FeedbackCounts, ReviewCompletion
from trellis.feedback.api.dependencies import OversightDep, utc
from trellis.feedback.views import kpis

router = api_router(prefix="/v1/kpis", tags=["kpis"])

DEFAULT_WINDOW = dt.timedelta(days=30)
From = Annotated[DateTime | None, Query(alias="from", description="inclusive; default: 30 days before `to`")]
To = Annotated[DateTime | None, Query(alias="to", description="exclusive; default: now")]


@router.get(
    "/checkin-completion",
    response_model=CheckInCompletion,
    summary="Check-ins completed vs due, per manager and per team",
)
async def checkin_completion(
    actor: CurrentActor, runtime: RuntimeDep, oversight: OversightDep, start: From = None, end: To = None
) -> dict[str, Any]:
    until = utc(end) if end else runtime.clock.now()
    since = utc(start) if start else until - DEFAULT_WINDOW
    if since >= until:
        raise InvalidInput("`from` must be before `to`")
    async with runtime.sessions() as session:
        scope = await oversight.scope(session, actor)
        return await kpis.checkin_completion(session, actor.tenant_id, scope, since, until)


@router.get(
    "/feedback",
    response_model=FeedbackCounts,
    summary="Feedback given and received per person and team (counts only)",
)
async def feedback_counts(
    actor: CurrentActor, runtime: RuntimeDep, oversight: OversightDep, start: From = None, end: To = None
) -> dict[str, Any]:
    async with runtime.sessions() as session:
        scope = await oversight.scope(session, actor)
        return await kpis.feedback_counts(
            session, actor.tenant_id, scope, utc(start) if start else None, utc(end) if end else None
        )


@router.get(
    "/review-completion",
    response_model=ReviewCompletion,
    summary="Reviews submitted vs expected, per cycle, team and kind",
)
async def review_completion(
    actor: CurrentActor, runtime: RuntimeDep, oversight: OversightDep, cycle_id: str | None = None
) -> dict[str, Any]:
    async with runtime.sessions() as session:
        scope = await oversight.scope(session, actor)
        return {"cycles": await kpis.review_completion(session, actor.tenant_id, scope, cycle_id)}
