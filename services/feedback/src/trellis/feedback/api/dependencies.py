"""What the routers take from the running service, and the shapes they share."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import Depends, Request

from trellis.core.errors import InvalidInput
from trellis.core.runtime.service import Runtime
from trellis.feedback.application.accepted import Accepted
from trellis.feedback.application.checkins import CheckInCommands
from trellis.feedback.application.feedback import FeedbackCommands
from trellis.feedback.application.oversight import Oversight
from trellis.feedback.application.recognition import RecognitionCommands
from trellis.feedback.application.reviews import ReviewCommands


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def _extra(name: str) -> Any:
    def get(request: Request) -> Any:
        return request.app.state.runtime.extras[name]

    return get


RuntimeDep = Annotated[Runtime, Depends(_runtime)]
CheckIns = Annotated[CheckInCommands, Depends(_extra("checkins"))]
Feedbacks = Annotated[FeedbackCommands, Depends(_extra("feedback"))]
Recognitions = Annotated[RecognitionCommands, Depends(_extra("recognition"))]
Reviews = Annotated[ReviewCommands, Depends(_extra("reviews"))]
OversightDep = Annotated[Oversight, Depends(_extra("oversight"))]


def accepted(result: Accepted) -> dict[str, Any]:
    return {"id": result.id, "version": result.version, "events": result.events, **result.details}


def utc(value: dt.datetime) -> dt.datetime:
    """A time from a query string; without an offset it is taken as UTC."""
    try:
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    except OverflowError as exc:
        raise InvalidInput(f"{value.isoformat()} is out of range") from exc
