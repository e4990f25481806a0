"""The tenant's thresholds of status by pace: everyone reads them, an admin sets them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from pydantic import Field

from trellis.core.runtime.api_kit import Answer, RuntimeDep, application_of
from trellis.core.runtime.http import CorrelationId, CurrentActor, RequestBody, api_router
from trellis.goals.application.pace_policies import InForce
from trellis.goals.application.wiring import GoalsApplication

router = api_router(prefix="/v1", tags=["goals"])
Goals = Annotated[GoalsApplication, Depends(application_of(GoalsApplication))]


class SetPaceThresholds(RequestBody):
    at_risk_below: float = Field(gt=0, le=1, description="on track while progress >= this x expected")
    off_track_below: float = Field(
        gt=0, le=1, description="at risk down to this x expected; below it off track"
    )
    grace: float = Field(ge=0, lt=1, description="the share of a goal's span before which nothing is judged")


class PaceThresholds(Answer):
    """The thresholds of status by pace in force for the caller's tenant."""

    at_risk_below: float
    off_track_below: float
    grace: float
    set_by_tenant: bool = Field(description="false: the service's defaults")
    version: int = Field(description="0 until an admin sets them")


def _answer(found: InForce) -> PaceThresholds:
    t = found.thresholds
    return PaceThresholds(
        at_risk_below=t.at_risk_below,
        off_track_below=t.off_track_below,
        grace=t.grace,
        set_by_tenant=found.set_by_tenant,
        version=found.version,
    )


@router.get("/pace-thresholds", summary="The thresholds of status by pace in force for this tenant")
async def get_pace_thresholds(actor: CurrentActor, runtime: RuntimeDep, goals: Goals) -> PaceThresholds:
    async with runtime.sessions() as session:
        return _answer(await goals.pace_policies.in_force(session, actor.tenant_id))


@router.put("/pace-thresholds", summary="Set this tenant's thresholds of status by pace (admin)")
async def set_pace_thresholds(
    body: SetPaceThresholds, actor: CurrentActor, cid: CorrelationId, goals: Goals
) -> PaceThresholds:
    return _answer(await goals.pace_policies.set(actor, cid, **body.model_dump()))
