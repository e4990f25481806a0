"""Request bodies of the development routes: trainings, enrolments, mentorships.

Lengths are refused here (422 ``invalid_input``) and again by the domain, which also
checks what a type cannot say (an http(s) address, a target date not before today).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from trellis.contracts.onboarding import TrainingKind
from trellis.core.runtime.http import Date, Id, RequestBody
from trellis.onboarding.domain.enrolment import MAX_NOTE
from trellis.onboarding.domain.mentorship import MAX_GOALS, MAX_OBJECTIVE, MAX_OBJECTIVES, MAX_REASON
from trellis.onboarding.domain.training import (
    MAX_DESCRIPTION,
    MAX_DURATION_MINUTES,
    MAX_SKILL,
    MAX_SKILLS,
    MAX_TITLE,
    MAX_URL,
    TrainingDetails,
)

Skill = Annotated[str, Field(min_length=1, max_length=MAX_SKILL)]
Url = Annotated[str, Field(max_length=MAX_URL, description="an absolute http or https address")]


class TrainingBody(RequestBody):
    """A training of the catalogue, whole (creating one, or replacing what it is)."""

    kind: TrainingKind
    title: str = Field(min_length=1, max_length=MAX_TITLE)
    description: str = Field(default="", max_length=MAX_DESCRIPTION)
    url: Url | None = Field(default=None, description="required for an `external_link`")
    skills: list[Skill] = Field(
        default_factory=list, max_length=MAX_SKILLS, description="short tags, kept in lower case"
    )
    duration_minutes: int | None = Field(default=None, ge=1, le=MAX_DURATION_MINUTES)

    def details(self) -> TrainingDetails:
        return TrainingDetails(
            kind=self.kind,
            title=self.title,
            description=self.description,
            url=self.url,
            skills=tuple(self.skills),
            duration_minutes=self.duration_minutes,
        )


class Enrol(RequestBody):
    employee_id: Id
    training_id: Id
    target_date: Date = Field(description="to complete it by; today or later")


class CompleteEnrolment(RequestBody):
    """The evidence: a note, a link, or both (at least one)."""

    note: str = Field(default="", max_length=MAX_NOTE)
    url: Url | None = None


class Withdraw(RequestBody):
    reason: str = Field(default="", max_length=MAX_NOTE)


class ArrangeMentorship(RequestBody):
    mentor_id: Id
    mentee_id: Id
    starts_on: Date
    ends_on: Date = Field(description="the last day, on or after `starts_on`, not before today")
    objectives: list[Annotated[str, Field(min_length=1, max_length=MAX_OBJECTIVE)]] = Field(
        default_factory=list, max_length=MAX_OBJECTIVES, description="what the mentee works on"
    )
    goal_ids: list[Id] = Field(default_factory=list, max_length=MAX_GOALS, description="goals it serves")


class EndMentorship(RequestBody):
    reason: str = Field(default="", max_length=MAX_REASON)
