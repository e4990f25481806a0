"""Who is affected: one function per event type, saying who is told what.

Each rule gets the event and the ``Facts`` as they stood just before it (the reaction
runs the rule first, then updates what it knows), and returns the notices to give, in
order of importance: when a person would be told twice about one event (an owner who
is also a manager of another owner), only their first notice counts. Recipients are
employee ids, or the shared role inbox ``role:hr``. The README has these rules as a table.

Nobody is told anything about anonymous feedback's giver: the event has no giver then,
and the texts never guess one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from trellis.contracts.envelope import DomainEvent
from trellis.contracts.feedback import (
    ActionItemAssigned,
    ActionItemOverdue,
    CheckInComingUp,
    CheckInCompleted,
    CheckInMissed,
    FeedbackGiven,
    FeedbackRequested,
    PeerReviewersChosen,
    RecognitionGiven,
    ReviewCycleClosingSoon,
    ReviewCycleOpened,
    TalkingPointAdded,
)
from trellis.contracts.goals import (
    GoalChanged,
    GoalCompleted,
    GoalDueSoon,
    GoalPaceChanged,
    GoalRetired,
    GoalStatusChanged,
    RealignmentResolved,
)
from trellis.contracts.notifications import Subject
from trellis.contracts.onboarding import (
    MentorshipArranged,
    MentorshipEnded,
    MilestoneDueSoon,
    MilestoneMissed,
    OnboardingPlanStarted,
    TrainingDueSoon,
    TrainingEnrolled,
    TrainingEnrolmentCompleted,
)
from trellis.notifications.domain.notification import role_inbox
from trellis.notifications.reactions.facts import Facts, GoalFact

MAX_TEXT = 280


@dataclass(frozen=True)
class Notice:
    """Tell ``recipient_id`` ``text`` (a notification of ``type``) about ``subject``."""

    recipient_id: str
    type: str
    text: str
    subject: Subject | None = None


Rule = Callable[[Any, Facts], Awaitable[list[Notice]]]
RULES: dict[str, Rule] = {}
R = TypeVar("R", bound=Rule)


def rule(event_cls: type[DomainEvent]) -> Callable[[R], R]:
    """Register the function as the rule of ``event_cls``."""

    def register(fn: R) -> R:
        if event_cls.event_type in RULES:
            raise ValueError(f"two rules for {event_cls.event_type}")
        RULES[event_cls.event_type] = fn
        return fn

    return register


async def notices_for(event: DomainEvent, facts: Facts) -> list[Notice]:
    """The notices ``event`` calls for: at most one per recipient (the first), none for nobody."""
    fn = RULES.get(event.event_type)
    if fn is None:
        return []
    unique: dict[str, Notice] = {}
    for notice in await fn(event, facts):
        if notice.recipient_id and notice.recipient_id not in unique:
            text = notice.text if len(notice.text) <= MAX_TEXT else notice.text[: MAX_TEXT - 1] + "…"
            unique[notice.recipient_id] = Notice(notice.recipient_id, notice.type, text, notice.subject)
    return list(unique.values())


# ---- goals ----------------------------------------------------------------------------


def _goal_subject(goal_id: str) -> Subject:
    return Subject(service="goals", type="goal", id=goal_id)


def _quote(title: str) -> str:
    return f"“{title}”"


async def _realignment(cause: GoalFact | None, cause_id: str, what: str, facts: Facts) -> list[Notice]:
    """Owners of every live goal beneath ``cause_id``, then each owner's manager."""
    beneath = await facts.goals_beneath(cause_id)
    cause_name = f"{_level_name(cause)} {_quote(cause.title)}" if cause else "A goal above yours"
    by_owner: dict[str, list[GoalFact]] = {}
    for goal in beneath:
        by_owner.setdefault(goal.owner_id, []).append(goal)
    notices: list[Notice] = []
    for owner, goals in by_owner.items():
        first = goals[0]
        more = f" (and {len(goals) - 1} more of your goals)" if len(goals) > 1 else ""
        notices.append(
            Notice(
                owner,
                "goal.realignment_needed",
                f"{cause_name} {what}: your goal {_quote(first.title)}{more} needs realignment.",
                _goal_subject(first.goal_id),
            )
        )
    for owner, goals in by_owner.items():
        manager = await facts.manager_of(owner)
        if manager:
            notices.append(
                Notice(
                    manager,
                    "goal.realignment_needed",
                    f"{cause_name} {what}: {await facts.name(owner)}'s goal {_quote(goals[0].title)} "
                    "needs realignment.",
                    _goal_subject(goals[0].goal_id),
                )
            )
    return notices


def _level_name(goal: GoalFact | None) -> str:
    return {"company": "Company objective", "team": "Team goal"}.get(goal.level if goal else "", "Goal")


@rule(GoalRetired)
async def goal_retired(ev: GoalRetired, facts: Facts) -> list[Notice]:
    """Owners of every goal beneath it (any depth) and those owners' managers."""
    reason = f" ({ev.reason})" if ev.reason else ""
    return await _realignment(await facts.goal(ev.goal_id), ev.goal_id, f"was retired{reason}", facts)


@rule(GoalChanged)
async def goal_changed(ev: GoalChanged, facts: Facts) -> list[Notice]:
    """Materially changed (title, description, period): as retired. Other changes: nobody."""
    if not ev.material:
        return []
    fields = ", ".join(sorted(k for k in ev.changes if k in ("title", "description", "period")))
    return await _realignment(await facts.goal(ev.goal_id), ev.goal_id, f"changed ({fields})", facts)


@rule(RealignmentResolved)
async def realignment_resolved(ev: RealignmentResolved, facts: Facts) -> list[Notice]:
    """The owner's manager."""
    goal = await facts.goal(ev.goal_id)
    if goal is None:
        return []
    manager = await facts.manager_of(goal.owner_id)
    if not manager:
        return []
    how = {"realigned": "realigned", "unaligned": "unlinked", "confirmed": "confirmed the alignment of"}
    text = f"{await facts.name(goal.owner_id)} {how[ev.resolution]} goal {_quote(goal.title)}."
    return [Notice(manager, "goal.realignment_resolved", text, _goal_subject(goal.goal_id))]


@rule(GoalStatusChanged)
async def goal_status_changed(ev: GoalStatusChanged, facts: Facts) -> list[Notice]:
    """At risk or off track: the owner's manager. Back on track: nobody."""
    if ev.status not in ("at_risk", "off_track"):
        return []
    goal = await facts.goal(ev.goal_id)
    if goal is None:
        return []
    manager = await facts.manager_of(goal.owner_id)
    if not manager:
        return []
    status = ev.status.replace("_", " ")
    text = f"{await facts.name(goal.owner_id)}'s goal {_quote(goal.title)} is {status}."
    return [Notice(manager, "goal.at_risk", text, _goal_subject(goal.goal_id))]


@rule(GoalPaceChanged)
async def goal_pace_changed(ev: GoalPaceChanged, facts: Facts) -> list[Notice]:
    """Fallen to at risk or off track by pace: the owner's manager, once per change (the
    goals service records a change once). Back on track: nobody."""
    if ev.status not in ("at_risk", "off_track"):
        return []
    goal = await facts.goal(ev.goal_id)
    if goal is None:
        return []
    manager = await facts.manager_of(goal.owner_id)
    if not manager:
        return []
    text = (
        f"{await facts.name(goal.owner_id)}'s goal {_quote(goal.title)} is {ev.status.replace('_', ' ')} "
        f"by pace: {ev.progress:.0%} done, {ev.expected_progress:.0%} expected by {ev.as_of.isoformat()}."
    )
    return [Notice(manager, "goal.behind_pace", text, _goal_subject(goal.goal_id))]


def _in_days(due: dt.date, as_of: dt.date) -> str:
    days = (due - as_of).days
    return "today" if days <= 0 else "tomorrow" if days == 1 else f"in {days} days"


@rule(GoalDueSoon)
async def goal_due_soon(ev: GoalDueSoon, facts: Facts) -> list[Notice]:
    """A goal due within days and still behind by pace: its owner (recorded once per due date;
    never for a goal on track or done)."""
    goal = await facts.goal(ev.goal_id)
    if goal is not None and goal.status in ("completed", "retired"):
        return []  # done since (this service learns it in order, before this event if so)
    which = f"Your goal {_quote(goal.title)}" if goal else "One of your goals"  # not learnt yet
    text = (
        f"{which} is due on {ev.due_date.isoformat()} ({_in_days(ev.due_date, ev.as_of)}) "
        f"and {ev.status.replace('_', ' ')} by pace: {ev.progress:.0%} done, "
        f"{ev.expected_progress:.0%} expected."
    )
    return [Notice(ev.owner_id, "goal.due_soon", text, _goal_subject(ev.goal_id))]


@rule(GoalCompleted)
async def goal_completed(ev: GoalCompleted, facts: Facts) -> list[Notice]:
    """The owner, the owner's manager, and the owner of the goal it aligns to."""
    goal = await facts.goal(ev.goal_id)
    if goal is None:
        return []
    subject = _goal_subject(goal.goal_id)
    owner_name = await facts.name(goal.owner_id)
    notices = [
        Notice(goal.owner_id, "goal.completed", f"Your goal {_quote(goal.title)} is completed.", subject)
    ]
    manager = await facts.manager_of(goal.owner_id)
    if manager:
        text = f"{owner_name} completed the goal {_quote(goal.title)}."
        notices.append(Notice(manager, "goal.completed", text, subject))
    parent = await facts.goal(goal.parent_id) if goal.parent_id else None
    if parent is not None:
        text = f"{owner_name} completed {_quote(goal.title)}, aligned to your goal {_quote(parent.title)}."
        notices.append(Notice(parent.owner_id, "goal.completed", text, subject))
    return notices


# ---- check-ins ------------------------------------------------------------------------


def _checkin_subject(checkin_id: str) -> Subject:
    return Subject(service="feedback", type="checkin", id=checkin_id)


@rule(CheckInComingUp)
async def checkin_coming_up(ev: CheckInComingUp, facts: Facts) -> list[Notice]:
    """Both participants, a day before (on the schedule's wall clock)."""
    subject = _checkin_subject(ev.checkin_id)
    try:
        local = ev.due_at.astimezone(ZoneInfo(ev.timezone))
        when = f"{local:%A %Y-%m-%d %H:%M} ({ev.timezone})"
    except (ZoneInfoNotFoundError, ValueError):
        when = f"{ev.due_at.astimezone(dt.UTC):%A %Y-%m-%d %H:%M} (UTC)"
    manager, report = await facts.name(ev.manager_id), await facts.name(ev.report_id)
    kind = "checkin.coming_up"
    return [
        Notice(ev.report_id, kind, f"Your check-in with {manager} is coming up: {when}.", subject),
        Notice(ev.manager_id, kind, f"Your check-in with {report} is coming up: {when}.", subject),
    ]


@rule(CheckInCompleted)
async def checkin_completed(ev: CheckInCompleted, facts: Facts) -> list[Notice]:
    """Both participants."""
    subject = _checkin_subject(ev.checkin_id)
    manager, report = await facts.name(ev.manager_id), await facts.name(ev.report_id)
    return [
        Notice(ev.report_id, "checkin.completed", f"Your check-in with {manager} is completed.", subject),
        Notice(ev.manager_id, "checkin.completed", f"Your check-in with {report} is completed.", subject),
    ]


@rule(CheckInMissed)
async def checkin_missed(ev: CheckInMissed, facts: Facts) -> list[Notice]:
    """Both participants; from the second miss in a row, the manager's manager too."""
    subject = _checkin_subject(ev.checkin_id)
    manager, report = await facts.name(ev.manager_id), await facts.name(ev.report_id)
    streak = f" ({ev.consecutive_misses} in a row)" if ev.consecutive_misses > 1 else ""
    notices = [
        Notice(ev.report_id, "checkin.missed", f"Your check-in with {manager} was missed{streak}.", subject),
        Notice(ev.manager_id, "checkin.missed", f"Your check-in with {report} was missed{streak}.", subject),
    ]
    if ev.consecutive_misses >= 2:
        skip_level = await facts.manager_of(ev.manager_id)
        if skip_level:
            text = f"{manager} and {report} missed {ev.consecutive_misses} check-ins in a row."
            notices.append(Notice(skip_level, "checkin.missed", text, subject))
    return notices


# 1:1 agendas: the published events say who and when, never what was written (the texts
# are private events of the feedback service), and a private talking point has no
# published event at all; so these notices name people and dates only.


def _other_one(manager_id: str, report_id: str, employee_id: str) -> str:
    """The one of the pair who is not ``employee_id`` (the report, for a former manager)."""
    return manager_id if employee_id == report_id else report_id


@rule(TalkingPointAdded)
async def talking_point_added(ev: TalkingPointAdded, facts: Facts) -> list[Notice]:
    """The other one of the pair (a shared point: a private one is never published)."""
    if ev.author_id not in (ev.manager_id, ev.report_id):
        return []
    other = _other_one(ev.manager_id, ev.report_id, ev.author_id)
    text = f"{await facts.name(ev.author_id)} added a talking point for your next 1:1."
    subject = Subject(service="feedback", type="checkin_agenda", id=ev.schedule_id)
    return [Notice(other, "checkin.talking_point_added", text, subject)]


def _action_item_subject(action_item_id: str, schedule_id: str) -> Subject:
    return Subject(service="feedback", type="action_item", id=action_item_id, parent_id=schedule_id)


@rule(ActionItemAssigned)
async def action_item_assigned(ev: ActionItemAssigned, facts: Facts) -> list[Notice]:
    """The owner, unless they took it on themself."""
    if ev.owner_id == ev.assigned_by:
        return []
    due = f", due {ev.due_on.isoformat()}" if ev.due_on else ""
    text = f"{await facts.name(ev.assigned_by)} gave you an action item from your 1:1{due}."
    subject = _action_item_subject(ev.action_item_id, ev.schedule_id)
    return [Notice(ev.owner_id, "checkin.action_item_assigned", text, subject)]


@rule(ActionItemOverdue)
async def action_item_overdue(ev: ActionItemOverdue, facts: Facts) -> list[Notice]:
    """The owner (once: the feedback service records it once per due date)."""
    other = await facts.name(_other_one(ev.manager_id, ev.report_id, ev.owner_id))
    text = f"Your action item from your 1:1 with {other} was due {ev.due_on.isoformat()} and is still open."
    subject = _action_item_subject(ev.action_item_id, ev.schedule_id)
    return [Notice(ev.owner_id, "checkin.action_item_overdue", text, subject)]


# ---- onboarding -----------------------------------------------------------------------


@rule(MilestoneMissed)
async def milestone_missed(ev: MilestoneMissed, facts: Facts) -> list[Notice]:
    """The new hire, their manager, their mentor, and the ``hr`` role inbox."""
    plan = await facts.plan(ev.plan_id)
    manager = ev.manager_id or (plan.manager_id if plan else None) or await facts.manager_of(ev.employee_id)
    mentor = ev.mentor_id or (plan.mentor_id if plan else None)
    subject = Subject(service="onboarding", type="milestone", id=ev.milestone_id, parent_id=ev.plan_id)
    hire = await facts.name(ev.employee_id)
    due = ev.due_date.isoformat()
    about = f"{hire}'s onboarding milestone {_quote(ev.title)} (due {due}) was missed."
    notices = [
        Notice(
            ev.employee_id,
            "onboarding.milestone_missed",
            f"Your onboarding milestone {_quote(ev.title)} (due {due}) was missed.",
            subject,
        )
    ]
    for person in (manager, mentor):
        if person:
            notices.append(Notice(person, "onboarding.milestone_missed", about, subject))
    notices.append(Notice(role_inbox("hr"), "onboarding.milestone_missed", about, subject))
    return notices


@rule(MilestoneDueSoon)
async def milestone_due_soon(ev: MilestoneDueSoon, facts: Facts) -> list[Notice]:
    """Whoever completes the milestone: the new hire, their manager or their mentor."""
    plan = await facts.plan(ev.plan_id)
    if ev.assignee == "new_hire":
        who: str | None = ev.employee_id
    elif ev.assignee == "manager":
        who = ev.manager_id or (plan.manager_id if plan else None) or await facts.manager_of(ev.employee_id)
    else:
        who = ev.mentor_id or (plan.mentor_id if plan else None)
    if not who:
        return []
    subject = Subject(service="onboarding", type="milestone", id=ev.milestone_id, parent_id=ev.plan_id)
    whose = "Your" if who == ev.employee_id else f"{await facts.name(ev.employee_id)}'s"
    text = f"{whose} onboarding milestone {_quote(ev.title)} is due on {ev.due_date.isoformat()}."
    return [Notice(who, "onboarding.milestone_due_soon", text, subject)]


@rule(OnboardingPlanStarted)
async def plan_started(ev: OnboardingPlanStarted, facts: Facts) -> list[Notice]:
    """The manager and the mentor."""
    subject = Subject(service="onboarding", type="onboarding_plan", id=ev.plan_id)
    hire = await facts.name(ev.employee_id)
    count = len(ev.milestones)
    notices = []
    if ev.manager_id:
        text = f"{hire}'s onboarding started on {ev.start_date.isoformat()} with {count} milestones."
        notices.append(Notice(ev.manager_id, "onboarding.plan_started", text, subject))
    if ev.mentor_id:
        text = f"You are {hire}'s onboarding mentor; their plan started on {ev.start_date.isoformat()}."
        notices.append(Notice(ev.mentor_id, "onboarding.plan_started", text, subject))
    return notices


# ---- onboarding: trainings ------------------------------------------------------------


def _enrolment_subject(enrolment_id: str, training_id: str) -> Subject:
    return Subject(service="onboarding", type="training_enrolment", id=enrolment_id, parent_id=training_id)


async def _person_and_manager(
    employee_id: str,
    manager_id: str | None,
    kind: str,
    mine: str,
    theirs: str,
    subject: Subject,
    facts: Facts,
) -> list[Notice]:
    """``mine`` to the person; ``theirs``, after their name, to their manager (the event's,
    else the org's)."""
    notices = [Notice(employee_id, kind, mine, subject)]
    manager = manager_id or await facts.manager_of(employee_id)
    if manager:
        notices.append(Notice(manager, kind, f"{await facts.name(employee_id)} {theirs}", subject))
    return notices


@rule(TrainingEnrolled)
async def training_enrolled(ev: TrainingEnrolled, facts: Facts) -> list[Notice]:
    """The person enrolled and their manager."""
    what = f"{_quote(ev.training_title)}, to complete by {ev.target_date.isoformat()}"
    how = " (a milestone of your onboarding plan)" if ev.plan_id else ""
    return await _person_and_manager(
        ev.employee_id,
        ev.manager_id,
        "training.enrolled",
        f"You are enrolled in {what}{how}.",
        f"is enrolled in {what}.",
        _enrolment_subject(ev.enrolment_id, ev.training_id),
        facts,
    )


@rule(TrainingDueSoon)
async def training_due_soon(ev: TrainingDueSoon, facts: Facts) -> list[Notice]:
    """The person and their manager, once per target date (the onboarding service records it
    once, and never for an enrolment completed or withdrawn)."""
    when = "today" if ev.days_left <= 0 else "tomorrow" if ev.days_left == 1 else f"in {ev.days_left} days"
    due = f"{_quote(ev.training_title)} is due {when} ({ev.target_date.isoformat()})"
    return await _person_and_manager(
        ev.employee_id,
        ev.manager_id,
        "training.due_soon",
        f"Your training {due}.",
        f"has a training due soon: {due}.",
        _enrolment_subject(ev.enrolment_id, ev.training_id),
        facts,
    )


@rule(TrainingEnrolmentCompleted)
async def training_completed(ev: TrainingEnrolmentCompleted, facts: Facts) -> list[Notice]:
    """The person and their manager."""
    timing = "on time" if ev.on_time else f"after its target date ({ev.target_date.isoformat()})"
    return await _person_and_manager(
        ev.employee_id,
        ev.manager_id,
        "training.completed",
        f"You completed {_quote(ev.training_title)} {timing}.",
        f"completed {_quote(ev.training_title)} {timing}.",
        _enrolment_subject(ev.enrolment_id, ev.training_id),
        facts,
    )


def _mentorship_subject(mentorship_id: str) -> Subject:
    return Subject(service="onboarding", type="mentorship", id=mentorship_id)


@rule(MentorshipArranged)
async def mentorship_arranged(ev: MentorshipArranged, facts: Facts) -> list[Notice]:
    """The mentee and the mentor (whoever arranged it, they are the two it concerns)."""
    span = f"from {ev.starts_on.isoformat()} to {ev.ends_on.isoformat()}"
    mentor, mentee = await facts.name(ev.mentor_id), await facts.name(ev.mentee_id)
    subject = _mentorship_subject(ev.mentorship_id)
    return [
        Notice(ev.mentee_id, "mentorship.arranged", f"{mentor} is your mentor {span}.", subject),
        Notice(ev.mentor_id, "mentorship.arranged", f"You are {mentee}'s mentor {span}.", subject),
    ]


@rule(MentorshipEnded)
async def mentorship_ended(ev: MentorshipEnded, facts: Facts) -> list[Notice]:
    """Ended early: the one of the two who did not end it (both, if someone else did)."""
    mentor, mentee = await facts.name(ev.mentor_id), await facts.name(ev.mentee_id)
    why = f": {ev.reason}" if ev.reason else ""
    when = ev.ended_on.isoformat()
    subject = _mentorship_subject(ev.mentorship_id)
    notices = [
        Notice(
            ev.mentee_id, "mentorship.ended", f"Your mentorship with {mentor} ended on {when}{why}.", subject
        ),
        Notice(
            ev.mentor_id, "mentorship.ended", f"Your mentorship of {mentee} ended on {when}{why}.", subject
        ),
    ]
    return [n for n in notices if n.recipient_id != ev.ended_by]


# ---- feedback, recognition, reviews ---------------------------------------------------


@rule(FeedbackGiven)
async def feedback_given(ev: FeedbackGiven, facts: Facts) -> list[Notice]:
    """The recipient; with visibility ``manager`` or ``public``, also the recipient's direct
    manager (who may read it). ``private``: the recipient only. Anonymous: no giver named."""
    subject = Subject(service="feedback", type="feedback", id=ev.feedback_id)
    giver = None if ev.anonymous or not ev.giver_id else await facts.name(ev.giver_id)
    source = f"from {giver}" if giver else "anonymously"
    notices = []
    if ev.giver_id != ev.recipient_id:  # self-feedback tells nobody it was written
        notices.append(
            Notice(ev.recipient_id, "feedback.received", f"You received feedback {source}.", subject)
        )
    if ev.visibility in ("manager", "public"):
        manager = await facts.manager_of(ev.recipient_id)
        if manager and manager != ev.giver_id:
            text = f"{await facts.name(ev.recipient_id)} received feedback {source}."
            notices.append(Notice(manager, "feedback.received", text, subject))
    return notices


@rule(FeedbackRequested)
async def feedback_requested(ev: FeedbackRequested, facts: Facts) -> list[Notice]:
    """The person asked."""
    requester = await facts.name(ev.requester_id)
    if ev.about_id == ev.requester_id:
        about = "them"
    elif ev.about_id == ev.giver_id:
        about = "yourself"
    else:
        about = await facts.name(ev.about_id)
    subject = Subject(service="feedback", type="feedback_request", id=ev.request_id)
    return [
        Notice(
            ev.giver_id, "feedback.requested", f"{requester} asked you for feedback about {about}.", subject
        )
    ]


@rule(RecognitionGiven)
async def recognition_given(ev: RecognitionGiven, facts: Facts) -> list[Notice]:
    """The recipients, then the members of each recipient's team (the giver excepted)."""
    subject = Subject(service="feedback", type="recognition", id=ev.recognition_id)
    giver = await facts.name(ev.giver_id)
    message = ev.message if len(ev.message) <= 120 else ev.message[:119] + "…"
    notices = [
        Notice(r, "recognition.received", f"{giver} recognised you: {message}", subject)
        for r in ev.recipient_ids
        if r != ev.giver_id
    ]
    for recipient in ev.recipient_ids:
        team = await facts.team_of(recipient)
        if team is None:
            continue
        name = await facts.name(recipient)
        for member in await facts.team_members(team):
            if member != ev.giver_id:
                text = f"{giver} recognised your teammate {name}: {message}"
                notices.append(Notice(member, "recognition.received", text, subject))
    return notices


def _cycle_subject(cycle_id: str) -> Subject:
    return Subject(service="feedback", type="review_cycle", id=cycle_id)


@rule(ReviewCycleOpened)
async def review_cycle_opened(ev: ReviewCycleOpened, facts: Facts) -> list[Notice]:
    """Everyone with a review to submit in it."""
    counts: dict[str, int] = {}
    for review in ev.reviews:
        counts[review.reviewer_id] = counts.get(review.reviewer_id, 0) + 1
    deadline = ev.deadline.date().isoformat()
    return [
        Notice(
            reviewer,
            "review.to_submit",
            f"Review cycle {_quote(ev.name)} opened: {_reviews(n)} to submit by {deadline}.",
            _cycle_subject(ev.cycle_id),
        )
        for reviewer, n in counts.items()
    ]


@rule(PeerReviewersChosen)
async def peer_reviewers_chosen(ev: PeerReviewersChosen, facts: Facts) -> list[Notice]:
    """The peers chosen: they now have a review to submit."""
    subject_name = await facts.name(ev.subject_id)
    return [
        Notice(
            r.reviewer_id,
            "review.to_submit",
            f"You were asked to review {subject_name}.",
            _cycle_subject(ev.cycle_id),
        )
        for r in ev.reviews
    ]


@rule(ReviewCycleClosingSoon)
async def review_cycle_closing_soon(ev: ReviewCycleClosingSoon, facts: Facts) -> list[Notice]:
    """Everyone who still has something to submit (as the feedback service counted)."""
    deadline = ev.deadline.date().isoformat()
    notices = []
    for reviewer in ev.pending_reviewer_ids:
        pending = await facts.reviews_to_submit(ev.cycle_id, reviewer)
        what = _reviews(pending) if pending else "reviews"
        text = f"A review cycle closes on {deadline}: you still have {what} to submit."
        notices.append(Notice(reviewer, "review.to_submit", text, _cycle_subject(ev.cycle_id)))
    return notices


def _reviews(n: int) -> str:
    return "1 review" if n == 1 else f"{n} reviews"
