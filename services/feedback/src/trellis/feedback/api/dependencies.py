"""What the routers take from the running service, and the shapes they share."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Depends
from pydantic import Field

from trellis.core.errors import InvalidInput
from trellis.core.runtime.api_kit import CommandAnswer, application_of
from trellis.feedback.application.accepted import Accepted
from trellis.feedback.application.agendas import AgendaCommands
from trellis.feedback.application.checkins import CheckInCommands
from trellis.feedback.application.feedback import FeedbackCommands
from trellis.feedback.application.oversight import Oversight
from trellis.feedback.application.recognition import RecognitionCommands
from trellis.feedback.application.reviews import ReviewCommands
from trellis.feedback.application.wiring import FeedbackApplication

Feedback = Annotated[FeedbackApplication, Depends(application_of(FeedbackApplication))]


async def _checkins(feedback: Feedback) -> CheckInCommands:
    return feedback.checkins


async def _agendas(feedback: Feedback) -> AgendaCommands:
    return feedback.agendas


async def _feedback(feedback: Feedback) -> FeedbackCommands:
    return feedback.feedback


async def _recognition(feedback: Feedback) -> RecognitionCommands:
    return feedback.recognition


async def _reviews(feedback: Feedback) -> ReviewCommands:
    return feedback.reviews


async def _oversight(feedback: Feedback) -> Oversight:
    return feedback.oversight


CheckIns = Annotated[CheckInCommands, Depends(_checkins)]
Agendas = Annotated[AgendaCommands, Depends(_agendas)]
Feedbacks = Annotated[FeedbackCommands, Depends(_feedback)]
Recognitions = Annotated[RecognitionCommands, Depends(_recognition)]
Reviews = Annotated[ReviewCommands, Depends(_reviews)]
OversightDep = Annotated[Oversight, Depends(_oversight)]


class FeedbackAnswer(CommandAnswer):
    """What a command did, with what some commands say besides."""

    next_due_at: str | None = Field(default=None, description="a schedule's next check-in (ISO 8601)")
    late: bool | None = Field(default=None, description="a check-in completed after its due time")
    reviews: int | None = Field(default=None, description="the reviews a cycle opened with")
    kind: str | None = Field(default=None, description="feedback given: `manager`, `upward` or `peer`")


def accepted(result: Accepted) -> FeedbackAnswer:
    return FeedbackAnswer(
        id=result.id, version=result.version, events=result.events, related=result.related, **result.details
    )


def utc(value: dt.datetime) -> dt.datetime:
    """A time from a query string; without an offset it is taken as UTC."""
    try:
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    except OverflowError as exc:
        raise InvalidInput(f"{value.isoformat()} is out of range") from exc
