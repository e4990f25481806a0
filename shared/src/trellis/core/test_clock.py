"""``POST /v1/test-clock``: move a service's clock forward (only with ``test_clock`` set).

For tests of whole running services and for demonstrations: an admin moves time so a
due date passes now instead of in thirty days. Never mounted unless the service's
``TEST_CLOCK`` setting is true.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field

from trellis.core.clock import TestClock
from trellis.core.errors import Forbidden, InvalidInput
from trellis.core.http import CurrentActor, api_router

router = api_router(prefix="/v1/test-clock", tags=["testing"])


class Move(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: float = Field(default=0, ge=0)
    hours: float = Field(default=0, ge=0)
    to: dt.datetime | None = Field(default=None, description="move to this moment instead")


def _clock(request: Request) -> TestClock:
    clock = request.app.state.runtime.clock
    if not isinstance(clock, TestClock):
        raise InvalidInput("this service runs on real time")
    return clock


@router.get("", summary="The service's current time")
async def now(request: Request, actor: CurrentActor) -> dict[str, Any]:
    return {"now": _clock(request).now().isoformat()}


@router.post("", summary="Move the service's clock forward")
async def move(body: Move, request: Request, actor: CurrentActor) -> dict[str, Any]:
    if not actor.has_role("admin"):
        raise Forbidden("only an admin moves the clock")
    clock = _clock(request)
    try:
        if body.to is not None:
            clock.set(body.to)
        else:
            clock.advance(dt.timedelta(days=body.days, hours=body.hours))
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    return {"now": clock.now().isoformat()}
