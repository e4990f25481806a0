"""Events of the feedback service (stream ``TRELLIS_FEEDBACK``): check-ins, feedback,
recognition, review cycles.

What is confidential never travels on the stream. Text that only some people may read
(feedback bodies, check-in notes, private notes, review answers) is recorded in
*private* events (``published=False``), kept in the feedback service's own store and
shown by its API to exactly the people allowed. The published events carry who, what
kind, when and with which visibility, so other services (notifications) can tell the
right people without ever holding the content. For anonymous feedback the giver's id
is in no event at all, published or private (see ``FeedbackGiven``).

Aggregates: ``checkin_schedule``, ``checkin``, ``checkin_agenda``, ``feedback_request``,
``feedback``, ``recognition``, ``review_cycle`` (and the private ``anonymous_feedback_fingerprint``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from trellis.contracts.envelope import DomainEvent, EventRegistry, event

registry = EventRegistry()

Cadence = Literal["weekly", "biweekly", "monthly"]
Visibility = Literal["private", "manager", "public"]
FeedbackKind = Literal["peer", "manager", "upward", "self"]
ReviewKind = Literal["self", "manager", "peer"]


class Part(BaseModel):
    """A value object inside an event payload."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# ---- check-in schedules and check-ins ------------------------------------------------


@event("CheckInScheduleCreated", version=1, aggregate="checkin_schedule", registry=registry)
class CheckInScheduleCreated(DomainEvent):
    """A manager and a report agreed on recurring 1:1 check-ins."""

    schedule_id: str
    manager_id: str
    report_id: str
    cadence: Cadence
    weekday: int = Field(ge=0, le=6)  # 0 = Monday
    time_of_day: str  # "HH:MM", in ``timezone``
    timezone: str  # IANA name, e.g. "Europe/Berlin"
    grace_hours: int = Field(ge=0)
    starts_on: dt.date


@event("CheckInScheduleChanged", version=1, aggregate="checkin_schedule", registry=registry)
class CheckInScheduleChanged(DomainEvent):
    """The cadence, weekday, time, time zone or grace period of a schedule changed."""

    schedule_id: str
    cadence: Cadence
    weekday: int = Field(ge=0, le=6)
    time_of_day: str
    timezone: str
    grace_hours: int = Field(ge=0)


@event("CheckInScheduleReassigned", version=1, aggregate="checkin_schedule", registry=registry)
class CheckInScheduleReassigned(DomainEvent):
    """The report changed manager: the schedule now pairs them with the new one."""

    schedule_id: str
    report_id: str
    manager_id: str
    previous_manager_id: str


@event("CheckInScheduleEnded", version=1, aggregate="checkin_schedule", registry=registry)
class CheckInScheduleEnded(DomainEvent):
    """No more check-ins from this schedule (ended by hand, report offboarded, no manager)."""

    schedule_id: str
    manager_id: str
    report_id: str
    reason: str


@event("CheckInScheduled", version=1, aggregate="checkin", registry=registry)
class CheckInScheduled(DomainEvent):
    """A check-in is due (created from its schedule); missed if not completed within grace."""

    checkin_id: str
    schedule_id: str
    manager_id: str
    report_id: str
    due_at: dt.datetime
    grace_until: dt.datetime


class KeyResultUpdate(Part):
    """A key result's new value, recorded in a check-in; flows to the goals service."""

    goal_id: str
    key_result_id: str
    value: float
    comment: str = ""


@event("CheckInCompleted", version=2, aggregate="checkin", registry=registry)
class CheckInCompleted(DomainEvent):
    """A check-in took place. Notes are not here: see ``CheckInNotesRecorded`` (private).

    Version 2: every key-result update has a number for ``value`` (version 1 may hold null:
    see its upcaster).
    """

    checkin_id: str
    schedule_id: str
    manager_id: str
    report_id: str
    completed_by: str
    completed_at: dt.datetime
    confidence: int = Field(ge=1, le=5)
    key_result_updates: list[KeyResultUpdate] = Field(default_factory=list)
    late: bool = False  # completed after its grace period (it was missed first)


@registry.upcaster("CheckInCompleted", 1)
def _updates_without_a_value_record_nothing(payload: dict[str, Any]) -> dict[str, Any]:
    """A key-result update whose value is null (a NaN or an Infinity, stored as null before
    requests refused them) records nothing: it is left out, and the key result keeps its
    value. The check-in itself took place."""
    updates = payload.get("key_result_updates")
    if updates:
        payload["key_result_updates"] = [u for u in updates if u.get("value") is not None]
    return payload


@event("CheckInNotesRecorded", version=1, aggregate="checkin", published=False, registry=registry)
class CheckInNotesRecorded(DomainEvent):
    """Private: what progressed, blockers and shared notes (both participants may read them)."""

    checkin_id: str
    progress: str = ""
    blockers: str = ""
    shared_notes: str = ""
    goal_progress: dict[str, str] = Field(default_factory=dict)  # goal id -> what progressed


@event("CheckInPrivateNoteRecorded", version=1, aggregate="checkin", published=False, registry=registry)
class CheckInPrivateNoteRecorded(DomainEvent):
    """Private: a note only its author may ever read."""

    checkin_id: str
    author_id: str
    note: str


@event("CheckInComingUp", version=1, aggregate="checkin_reminder", registry=registry)
class CheckInComingUp(DomainEvent):
    """A check-in of this schedule falls due within a day (a nudge to both people, once per
    check-in); not recorded if the schedule ended or its rule changed meanwhile. Its
    aggregate is the check-in's reminder (not the schedule, whose commands it would race)."""

    schedule_id: str
    checkin_id: str
    manager_id: str
    report_id: str
    due_at: dt.datetime
    timezone: str  # the schedule's, for showing ``due_at`` on the pair's wall clock


@event("CheckInMissed", version=1, aggregate="checkin", registry=registry)
class CheckInMissed(DomainEvent):
    """A check-in was not completed within its grace period (exactly one per check-in).

    ``consecutive_misses`` counts this pair's misses in a row, this one included.
    """

    checkin_id: str
    schedule_id: str
    manager_id: str
    report_id: str
    due_at: dt.datetime
    consecutive_misses: int = Field(ge=1)


@event("CheckInCancelled", version=1, aggregate="checkin", registry=registry)
class CheckInCancelled(DomainEvent):
    """A due check-in will not be held by this pair: its schedule ended or moved to another
    manager before it was completed. Neither completed nor missed (it counts as neither)."""

    checkin_id: str
    schedule_id: str
    manager_id: str
    report_id: str
    due_at: dt.datetime
    reason: str


# ---- 1:1 agendas --------------------------------------------------------------------
# The agenda of a check-in schedule (aggregate ``checkin_agenda``, id ``<schedule id>-agenda``):
# talking points for the next 1:1 and action items. What the pair wrote (texts, links) and
# how the agenda is arranged are private events; the published ones say who and when only,
# for notifications and webhooks. A private talking point has no published event at all:
# even that it exists is its author's alone.

AgendaOutcome = Literal["completed", "missed", "cancelled"]


@event("AgendaOpened", version=1, aggregate="checkin_agenda", published=False, registry=registry)
class AgendaOpened(DomainEvent):
    """Private: a check-in schedule's agenda got its first talking point or action item."""

    schedule_id: str
    manager_id: str
    report_id: str


@event("TalkingPointAdded", version=1, aggregate="checkin_agenda", registry=registry)
class TalkingPointAdded(DomainEvent):
    """A shared talking point was put on a 1:1's agenda (added shared, or a private one
    shared). Its text is in ``TalkingPointWritten`` (private)."""

    schedule_id: str
    point_id: str
    manager_id: str
    report_id: str
    author_id: str


@event("TalkingPointWritten", version=1, aggregate="checkin_agenda", published=False, registry=registry)
class TalkingPointWritten(DomainEvent):
    """Private: a talking point's content as added or edited; ``private``: its author's alone."""

    point_id: str
    author_id: str
    text: str
    private: bool = False
    goal_id: str | None = None
    key_result_id: str | None = None


@event("TalkingPointRemoved", version=1, aggregate="checkin_agenda", published=False, registry=registry)
class TalkingPointRemoved(DomainEvent):
    """Private: its author took a talking point off the agenda."""

    point_id: str
    removed_by: str


@event("TalkingPointsReordered", version=1, aggregate="checkin_agenda", published=False, registry=registry)
class TalkingPointsReordered(DomainEvent):
    """Private: every open talking point (private ones included), in the agenda's new order."""

    point_ids: list[str]


@event("TalkingPointsDiscussed", version=1, aggregate="checkin_agenda", published=False, registry=registry)
class TalkingPointsDiscussed(DomainEvent):
    """Private: these talking points were discussed at check-in ``checkin_id``."""

    checkin_id: str
    point_ids: list[str]


@event("AgendaCarriedOver", version=1, aggregate="checkin_agenda", published=False, registry=registry)
class AgendaCarriedOver(DomainEvent):
    """Private: after check-in ``checkin_id`` (completed, missed or cancelled) these open
    talking points stay on the agenda for the next 1:1."""

    checkin_id: str
    outcome: AgendaOutcome
    point_ids: list[str]


@event("AgendaHandedOver", version=1, aggregate="checkin_agenda", published=False, registry=registry)
class AgendaHandedOver(DomainEvent):
    """Private: the schedule moved to a new manager and its open agenda went with it; the
    previous manager's private talking points were withdrawn (nobody else may read them)."""

    schedule_id: str
    manager_id: str
    previous_manager_id: str
    withdrawn_point_ids: list[str]


@event("ActionItemAssigned", version=1, aggregate="checkin_agenda", registry=registry)
class ActionItemAssigned(DomainEvent):
    """An action item of a 1:1 was given to ``owner_id`` (one of the pair); it stays open,
    1:1 after 1:1, until done. Its text is in ``ActionItemWritten`` (private)."""

    schedule_id: str
    action_item_id: str
    manager_id: str
    report_id: str
    owner_id: str
    assigned_by: str
    due_on: dt.date | None = None
    checkin_id: str | None = None  # the check-in it came from, if any


@event("ActionItemWritten", version=1, aggregate="checkin_agenda", published=False, registry=registry)
class ActionItemWritten(DomainEvent):
    """Private: an action item's text, as created or edited."""

    action_item_id: str
    text: str


@event("ActionItemDueChanged", version=1, aggregate="checkin_agenda", registry=registry)
class ActionItemDueChanged(DomainEvent):
    """An open action item got another due date (None: no due date any more)."""

    schedule_id: str
    action_item_id: str
    owner_id: str
    due_on: dt.date | None = None


@event("ActionItemCompleted", version=1, aggregate="checkin_agenda", registry=registry)
class ActionItemCompleted(DomainEvent):
    """An action item was marked done (by its owner or the other one of the pair)."""

    schedule_id: str
    action_item_id: str
    owner_id: str
    completed_by: str


@event("ActionItemReopened", version=1, aggregate="checkin_agenda", registry=registry)
class ActionItemReopened(DomainEvent):
    """An action item marked done is open again."""

    schedule_id: str
    action_item_id: str
    owner_id: str
    reopened_by: str


@event("ActionItemRemoved", version=1, aggregate="checkin_agenda", registry=registry)
class ActionItemRemoved(DomainEvent):
    """An action item was taken off the agenda (made by mistake, or no longer wanted)."""

    schedule_id: str
    action_item_id: str
    owner_id: str
    removed_by: str


@event("ActionItemOverdue", version=1, aggregate="checkin_agenda", registry=registry)
class ActionItemOverdue(DomainEvent):
    """An open action item's due date passed (once per due date)."""

    schedule_id: str
    action_item_id: str
    manager_id: str
    report_id: str
    owner_id: str
    due_on: dt.date


# ---- feedback -----------------------------------------------------------------------


@event("FeedbackRequested", version=1, aggregate="feedback_request", registry=registry)
class FeedbackRequested(DomainEvent):
    """``requester_id`` asked ``giver_id`` for feedback about ``about_id`` (themself or another)."""

    request_id: str
    requester_id: str
    giver_id: str
    about_id: str
    goal_id: str | None = None
    message: str = ""


@event("FeedbackRequestDeclined", version=1, aggregate="feedback_request", registry=registry)
class FeedbackRequestDeclined(DomainEvent):
    """The person asked declined to give the requested feedback."""

    request_id: str
    requester_id: str
    giver_id: str
    reason: str = ""


@event("FeedbackRequestAnswered", version=1, aggregate="feedback_request", registry=registry)
class FeedbackRequestAnswered(DomainEvent):
    """The person asked gave the requested feedback (``feedback_id``); the request is closed."""

    request_id: str
    feedback_id: str


@event("FeedbackGiven", version=1, aggregate="feedback", registry=registry)
class FeedbackGiven(DomainEvent):
    """Feedback was given to ``recipient_id``.

    ``visibility`` (set by the giver, never changed): ``private`` (the recipient only),
    ``manager`` (the recipient and their manager chain), ``public`` (the tenant). When
    ``anonymous`` (peer feedback only), ``giver_id`` is None and the envelope's actor is
    ``anonymous``: the giver is recorded nowhere. The body is in ``FeedbackBodyRecorded``.
    """

    feedback_id: str
    recipient_id: str
    giver_id: str | None
    anonymous: bool = False
    kind: FeedbackKind = "peer"
    visibility: Visibility
    goal_id: str | None = None
    request_id: str | None = None


@event("FeedbackBodyRecorded", version=1, aggregate="feedback", published=False, registry=registry)
class FeedbackBodyRecorded(DomainEvent):
    """Private: the feedback's text, shown only to those its visibility allows."""

    feedback_id: str
    body: str


@event(
    "AnonymousFeedbackFingerprinted",
    version=1,
    aggregate="anonymous_feedback_fingerprint",
    published=False,
    registry=registry,
)
class AnonymousFeedbackFingerprinted(DomainEvent):
    """Private: someone gave one anonymous feedback to someone in ``window`` (e.g. 2026-Q3).

    The aggregate id is a keyed HMAC of (tenant, giver, recipient, window) made with the
    feedback service's secret; nothing here names the giver, the recipient or the feedback.
    It lets the service refuse a second anonymous feedback from the same person to the same
    recipient in one window (see the feedback service's README).
    """

    window: str


# ---- recognition --------------------------------------------------------------------


@event("RecognitionGiven", version=1, aggregate="recognition", registry=registry)
class RecognitionGiven(DomainEvent):
    """Public kudos to one or more employees, optionally for an objective or a company value."""

    recognition_id: str
    giver_id: str
    recipient_ids: list[str]
    message: str
    objective_id: str | None = None
    value: str | None = None


# ---- review cycles ------------------------------------------------------------------


class ReviewAssignment(Part):
    """One review to submit in a cycle: ``reviewer_id`` reviews ``subject_id``."""

    review_id: str
    kind: ReviewKind
    subject_id: str
    reviewer_id: str


@event("ReviewCycleOpened", version=1, aggregate="review_cycle", registry=registry)
class ReviewCycleOpened(DomainEvent):
    """A review cycle opened for a population (a team subtree, or the whole tenant)."""

    cycle_id: str
    name: str
    period: str
    team_id: str | None = None  # None: everyone in the tenant
    deadline: dt.datetime
    participant_ids: list[str]
    reviews: list[ReviewAssignment]


@event("PeerReviewersChosen", version=1, aggregate="review_cycle", registry=registry)
class PeerReviewersChosen(DomainEvent):
    """A manager chose peers to review one of their reports in a cycle."""

    cycle_id: str
    subject_id: str
    chosen_by: str
    reviews: list[ReviewAssignment]


@event("ReviewSubmitted", version=1, aggregate="review_cycle", registry=registry)
class ReviewSubmitted(DomainEvent):
    """A review of a cycle was submitted. The answers are in ``ReviewAnswersRecorded``."""

    cycle_id: str
    review_id: str
    kind: ReviewKind
    subject_id: str
    reviewer_id: str


@event("ReviewAnswersRecorded", version=1, aggregate="review_cycle", published=False, registry=registry)
class ReviewAnswersRecorded(DomainEvent):
    """Private: a submitted review's answers."""

    cycle_id: str
    review_id: str
    answers: dict[str, str]
    rating: int | None = Field(default=None, ge=1, le=5)


@event("ReviewCycleClosingSoon", version=1, aggregate="review_cycle", registry=registry)
class ReviewCycleClosingSoon(DomainEvent):
    """The cycle's deadline is two days away; these reviewers still have something to submit."""

    cycle_id: str
    deadline: dt.datetime
    pending_reviewer_ids: list[str]


@event("ReviewCycleClosed", version=1, aggregate="review_cycle", registry=registry)
class ReviewCycleClosed(DomainEvent):
    """A cycle closed (at its deadline, or by hand); later submissions are refused."""

    cycle_id: str
    closed_by: Literal["deadline", "hand"]
    submitted: int
    expected: int
