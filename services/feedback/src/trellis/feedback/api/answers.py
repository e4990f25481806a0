"""What the feedback service's read routes answer: schedules and check-ins, 1:1 agendas, feedback
requests, review cycles and reviews, and the KPIs. Each is an ``Answer`` of the shared
kit: exactly the keys it names. Instants are ISO 8601 strings with their offset."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from trellis.contracts.feedback import KeyResultUpdate, ReviewKind
from trellis.core.runtime.api_kit import Answer

CheckInStatus = Literal["scheduled", "completed", "missed", "cancelled"]


class ScheduleSummary(Answer):
    """A check-in schedule as the list shows it."""

    id: str
    manager_id: str
    report_id: str
    cadence: Literal["weekly", "biweekly", "monthly"]
    weekday: int = Field(description="0 = Monday ... 6 = Sunday")
    time_of_day: str = Field(description="HH:MM in `timezone`")
    timezone: str
    grace_hours: int = Field(description="how long after it is due a check-in may still be completed")
    starts_on: str = Field(description="ISO date")
    status: Literal["active", "ended"]
    end_reason: str


class ScheduleView(ScheduleSummary):
    """A check-in schedule."""

    version: int = Field(description="the `If-Match` of the next change")


class Schedules(Answer):
    """An employee's check-in schedules, as manager or report."""

    schedules: list[ScheduleSummary]


class CheckInSummary(Answer):
    """A check-in as the list shows it (no notes)."""

    id: str
    schedule_id: str
    manager_id: str
    report_id: str
    due_at: str
    grace_until: str
    status: CheckInStatus
    was_missed: bool
    late: bool = Field(description="completed after it was due")
    consecutive_misses: int
    confidence: int | None = Field(description="1 to 5, when completed")
    completed_at: str | None


class CheckInList(Answer):
    """An employee's check-ins, newest due first."""

    checkins: list[CheckInSummary]


class CheckInNotes(Answer):
    """What the pair wrote: only for the two of them."""

    progress: str
    blockers: str
    shared_notes: str
    goal_progress: dict[str, str] = Field(description="goal id -> what progressed")


class CheckInView(Answer):
    """A check-in; `notes` and `private_notes` only for its participants (absent otherwise)."""

    id: str
    schedule_id: str
    manager_id: str
    report_id: str
    due_at: str
    grace_until: str
    status: CheckInStatus
    was_missed: bool
    consecutive_misses: int
    late: bool
    completed_by: str | None
    completed_at: str | None
    confidence: int | None
    key_result_updates: list[KeyResultUpdate]
    version: int
    notes: CheckInNotes | None = None
    private_notes: list[str] | None = Field(default=None, description="the viewer's own, only theirs")


class TalkingPointView(Answer):
    """A talking point of a 1:1 agenda."""

    id: str
    author_id: str
    private: bool = Field(description="only its author reads it")
    text: str | None = Field(description="null: a private point, withheld from an admin's audit")
    goal_id: str | None = Field(description="null when withheld, or not linked")
    key_result_id: str | None
    status: Literal["open", "discussed", "removed", "withdrawn"] = Field(
        description="`withdrawn`: a former manager's private point, when the schedule moved"
    )
    carried_over: int = Field(description="how many 1:1s it was carried past (not discussed, or missed)")
    discussed_in: str | None = Field(description="the check-in it was discussed at")


class ActionItemView(Answer):
    """An action item of a 1:1: open until done, 1:1 after 1:1."""

    id: str
    schedule_id: str
    owner_id: str
    assigned_by: str
    text: str
    due_on: str | None = Field(description="ISO date")
    checkin_id: str | None = Field(description="the check-in it came from")
    status: Literal["open", "done"]
    overdue: bool = Field(description="its due date passed while it was open")
    completed_by: str | None


class AgendaView(Answer):
    """A schedule's agenda for the next 1:1: the open talking points in the pair's order
    (yours and the shared ones) and the open action items."""

    schedule_id: str
    manager_id: str
    report_id: str
    audit: bool = Field(description="read by an admin: private points are listed, their text withheld")
    version: int = Field(description="the agenda's version (0: nothing on it yet)")
    points: list[TalkingPointView]
    action_items: list[ActionItemView]


class CheckInAgendaView(Answer):
    """What became of the agenda at one check-in."""

    checkin_id: str
    schedule_id: str
    outcome: Literal["completed", "missed", "cancelled"] | None = Field(
        description="null: the check-in has not settled the agenda (yet)"
    )
    discussed: list[TalkingPointView]
    carried_over: list[TalkingPointView] = Field(description="open points carried past this check-in")
    action_items: list[ActionItemView] = Field(description="those created at this check-in")


class ActionItems(Answer):
    """Your action items: those you own, and those of the 1:1s you hold; due first."""

    action_items: list[ActionItemView]


class RequestView(Answer):
    """A feedback request."""

    id: str
    requester_id: str
    giver_id: str = Field(description="who is asked")
    about_id: str = Field(description="whom the feedback is about")
    goal_id: str | None
    message: str
    status: Literal["open", "declined", "answered"]
    feedback_id: str | None = Field(description="the answer, once given")


class RequestSummary(RequestView):
    """A feedback request as the list shows it."""

    requested_at: str


class Requests(Answer):
    """Requests you were asked (incoming) or made (outgoing), newest first."""

    requests: list[RequestSummary]


class CycleSummary(Answer):
    """A review cycle as the list shows it."""

    id: str
    name: str
    period: str
    team_id: str | None = Field(description="the team it covers; null for the whole tenant")
    deadline: str
    status: Literal["open", "closed"]
    closed_by: str | None = Field(description="what closed it; null while open")


class Cycles(Answer):
    """The tenant's review cycles, newest first."""

    cycles: list[CycleSummary]


ReviewRate = Annotated[float | None, Field(description="submitted / expected, null when none are expected")]


# The key that names a row comes first, as the views send it: each row spells out its
# counts rather than inheriting them (inherited fields would come before the key).


class TeamCompletion(Answer):
    """Reviews submitted of those expected, for the people of one team."""

    team_id: str | None = Field(description="null for the people without a team")
    expected: int
    submitted: int
    rate: ReviewRate


class KindCompletion(Answer):
    """Reviews submitted of those expected, of one kind."""

    kind: ReviewKind
    expected: int
    submitted: int
    rate: ReviewRate


class CycleCompletion(Answer):
    """One cycle's completion over the people the viewer oversees."""

    cycle_id: str
    name: str
    period: str
    status: Literal["open", "closed"]
    expected: int
    submitted: int
    rate: ReviewRate
    per_team: list[TeamCompletion]
    per_kind: list[KindCompletion]


class CycleView(Answer):
    """A review cycle, with completion over the people you oversee."""

    id: str
    name: str
    period: str
    team_id: str | None
    deadline: str
    status: Literal["open", "closed"]
    completion: CycleCompletion | None


class ReviewView(Answer):
    """A review and its answers, once submitted."""

    review_id: str
    kind: ReviewKind
    subject_id: str
    reviewer_id: str
    submitted: bool
    answers: dict[str, str] | None
    rating: int | None


class ReviewToWrite(Answer):
    """A review someone is asked to write, and whether it is done."""

    cycle_id: str
    review_id: str
    kind: ReviewKind
    subject_id: str
    reviewer_id: str
    submitted: bool


class ReviewsToWrite(Answer):
    """The reviews someone is asked to write."""

    reviews: list[ReviewToWrite]


CheckInRate = Annotated[float | None, Field(description="completed / due, null when none were due")]


class CheckInCounts(Answer):
    """Check-ins due in the window and what became of them."""

    due: int
    completed: int
    missed: int
    rate: CheckInRate


class ManagerCheckIns(Answer):
    """Check-ins due in the window and what became of them, for one manager."""

    manager_id: str
    due: int
    completed: int
    missed: int
    rate: CheckInRate


class TeamCheckIns(Answer):
    """Check-ins due in the window and what became of them, by the report's team."""

    team_id: str | None = Field(description="null for the reports without a team")
    due: int
    completed: int
    missed: int
    rate: CheckInRate


class CheckInCompletion(Answer):
    """Check-ins completed vs due in [from, to), over the people the viewer oversees."""

    from_: str = Field(alias="from")
    to: str
    overall: CheckInCounts
    per_manager: list[ManagerCheckIns]
    per_team: list[TeamCheckIns]


class PersonFeedback(Answer):
    """Feedback one person received and gave."""

    employee_id: str
    received: int
    given: int


class TeamFeedback(Answer):
    """Feedback the people of one team received and gave."""

    team_id: str | None = Field(description="null for the people without a team")
    received: int
    given: int


class FeedbackCounts(Answer):
    """Feedback given and received (counts only; anonymous feedback has no giver to count)."""

    per_person: list[PersonFeedback]
    per_team: list[TeamFeedback]


class ReviewCompletion(Answer):
    """Per cycle (one, or every cycle), newest first."""

    cycles: list[CycleCompletion]
