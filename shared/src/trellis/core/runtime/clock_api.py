"""``POST /v1/test-clock``: move a service's clock forward (only with ``test_clock`` set).

For tests of whole running services and for demonstrations: an admin moves time so a
due date passes now instead of in thirty days. Never mounted unless the service's
``TEST_CLOCK`` setting is true, and a service process refuses that setting outside the
embedded run (``ServiceSettings.refuse_development_values``).

Single-tenant tests only: the clock is the process's, so an admin of one tenant moves
time for every tenant of the service. One move goes at most ``MAX_MOVE`` ahead.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field

from trellis.core.consuming.clock import TestClock
from trellis.core.errors import Forbidden, InvalidInput
from trellis.core.runtime.http import CurrentActor, api_router

router = api_router(prefix="/v1/test-clock", tags=["testing"])

MAX_MOVE = dt.timedelta(days=3660)  # about ten years: any deadline a test needs, far from overflow


class Move(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: float = Field(default=0, ge=0, le=MAX_MOVE.days, allow_inf_nan=False)
    hours: float = Field(default=0, ge=0, le=MAX_MOVE.days * 24, allow_inf_nan=False)
    to: dt.datetime | None = Field(
        default=None, description=f"move to this moment instead (at most {MAX_MOVE.days} days ahead)"
    )


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
        now = clock.now()
        if body.to is not None:
            if body.to.tzinfo is None:
                raise ValueError("give an aware datetime")
            delta = body.to - now
        else:
            delta = dt.timedelta(days=body.days, hours=body.hours)
        if delta > MAX_MOVE:
            raise ValueError(f"one move goes at most {MAX_MOVE.days} days ahead")
        clock.advance(delta)
    except (ValueError, OverflowError) as exc:
        raise InvalidInput(str(exc), details={"max_days": MAX_MOVE.days}) from exc
    return {"now": clock.now().isoformat()}
