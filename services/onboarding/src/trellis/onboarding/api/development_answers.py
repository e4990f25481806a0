"""What the development routes answer: trainings, enrolments, mentorships, the training KPIs.
Each is an ``Answer`` of the shared kit: exactly the keys it names. Dates are ISO 8601."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from trellis.contracts.onboarding import TrainingKind
from trellis.core.runtime.api_kit import Answer, AuditEntry
from trellis.onboarding.domain.enrolment import EnrolmentStatus
from trellis.onboarding.domain.mentorship import MentorshipStatus

Rate = float | None


class TrainingSummary(Answer):
    training_id: str
    kind: TrainingKind
    title: str
    description: str
    url: str | None
    skills: list[str]
    duration_minutes: int | None = Field(description="the expected effort, if known")
    retired: bool


class Trainings(Answer):
    """The catalogue (live trainings unless asked), by title."""

    trainings: list[TrainingSummary]


class TrainingView(TrainingSummary):
    """A training, as of its last event."""

    version: int = Field(description="the training's version (its events so far)")


class TrainingHistory(Answer):
    training_id: str
    events: list[AuditEntry]


class EnrolmentView(Answer):
    """An enrolment as of its last event, with whether it is overdue on `as_of`."""

    enrolment_id: str
    training_id: str
    training_title: str = Field(description="the training's title when enrolled")
    employee_id: str
    enrolled_by: str
    enrolled_on: str | None
    target_date: str
    status: EnrolmentStatus
    overdue: bool = Field(description="open, and the target date has passed")
    completed_on: str | None
    completed_by: str | None
    on_time: bool | None = Field(description="completed on or before the target date")
    evidence_note: str
    evidence_url: str | None
    withdrawn_on: str | None
    withdrawn_by: str | None
    withdrawal_reason: str
    plan_id: str | None = Field(description="the onboarding plan that enrolled them, if one did")
    milestone_id: str | None
    due_soon_announced: bool = Field(description="the due-soon notice went out for this target date")
    version: int
    as_of: str


class EnrolmentItem(Answer):
    enrolment_id: str
    training_id: str
    training_title: str
    employee_id: str
    enrolled_on: str
    target_date: str
    status: EnrolmentStatus
    overdue: bool
    completed_on: str | None
    on_time: bool | None
    plan_id: str | None


class Enrolments(Answer):
    """The enrolments you may read, newest first."""

    items: list[EnrolmentItem]
    next: str | None = Field(description="pass as `before` for the next (older) page")
    as_of: str


class EnrolmentHistory(Answer):
    enrolment_id: str
    events: list[AuditEntry]


class MentorshipView(Answer):
    """A mentorship as of its last event, with its status on `as_of`."""

    mentorship_id: str
    mentor_id: str
    mentee_id: str
    starts_on: str
    ends_on: str
    objectives: list[str]
    goal_ids: list[str]
    status: MentorshipStatus
    ended_on: str | None = Field(description="set when ended before its period was over")
    ended_by: str | None
    end_reason: str
    version: int
    as_of: str


class MentorshipItem(Answer):
    mentorship_id: str
    mentor_id: str
    mentee_id: str
    starts_on: str
    ends_on: str
    objectives: list[str]
    goal_ids: list[str]
    status: MentorshipStatus
    ended_on: str | None


class Mentorships(Answer):
    """The mentorships you may read, newest first."""

    items: list[MentorshipItem]
    next: str | None = Field(description="pass as `before` for the next (older) page")
    as_of: str


class MentorshipHistory(Answer):
    mentorship_id: str
    events: list[AuditEntry]


class TrainingCounts(Answer):
    enrolments: int
    open: int
    completed: int
    completed_on_time: int
    completed_late: int
    withdrawn: int
    overdue: int = Field(description="open, past the target date")
    completion_rate: Rate = Field(description="completed / (enrolments - withdrawn); null without any")
    on_time_rate: Rate = Field(description="on time / (completed + overdue); null without any")


class TeamTrainingCounts(TrainingCounts):
    team_id: str | None = Field(description="the person's team when enrolled; null: none")
    team_name: str | None


class TrainingKpiRow(TrainingCounts):
    training_id: str
    title: str


class TrainingKpis(Answer):
    """Enrolments and completions (on time) over the people you oversee, enrolled in [from, to)."""

    as_of: str
    from_: str | None = Field(alias="from")
    to: str | None
    overall: TrainingCounts
    per_team: list[TeamTrainingCounts]
    per_training: list[TrainingKpiRow]


EnrolmentStatusFilter = Literal["open", "completed", "withdrawn", "overdue"]
