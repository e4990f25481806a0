"""Events of the onboarding service (stream ``TRELLIS_ONBOARDING``): the org and onboarding.

The onboarding service is the source of truth for who works where and for whom; every
other service learns the org only from these events (see ``trellis.orgchart`` for the
replica each keeps). Ids are strings usable as subject tokens (letters, digits, ``-``,
``_``); an employee id is the ``sub`` of that employee's tokens.

Employee ids are unique within a tenant only, so an employee's (and a plan's) aggregate
id in the envelope and the subject is derived from tenant and employee id (a UUIDv5):
read who an event is about from its payload (``employee_id``), never from the envelope.

Aggregates: ``employee``, ``team``, ``onboarding_template``, ``onboarding_plan``; and for
people's development: ``training`` (the catalogue), ``training_enrolment`` (a person enrolled
in a training, with a target date) and ``mentorship`` (a mentor and a mentee for a period).

Confidential text never travels on the stream: an offboarding's reason is a *private*
event (``published=False``), kept in the onboarding service's store and shown by its API
to admin and hr only.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from trellis.contracts.envelope import DomainEvent, EventRegistry, event

registry = EventRegistry()

Assignee = Literal["new_hire", "manager", "mentor"]
ASSIGNEES: tuple[str, ...] = ("new_hire", "manager", "mentor")


class Part(BaseModel):
    """A value object inside an event payload."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# ---- employees ---------------------------------------------------------------------


@event("EmployeeHired", version=1, aggregate="employee", registry=registry)
class EmployeeHired(DomainEvent):
    """An employee joined: who they are, where they sit and whom they report to."""

    employee_id: str
    name: str
    email: str
    title: str = ""
    start_date: dt.date
    team_id: str | None = None
    manager_id: str | None = None


@event("EmployeeManagerChanged", version=1, aggregate="employee", registry=registry)
class EmployeeManagerChanged(DomainEvent):
    """An employee now reports to another manager (or to nobody)."""

    employee_id: str
    manager_id: str | None
    previous_manager_id: str | None = None


@event("EmployeeTeamChanged", version=1, aggregate="employee", registry=registry)
class EmployeeTeamChanged(DomainEvent):
    """An employee moved to another team (or to none)."""

    employee_id: str
    team_id: str | None
    previous_team_id: str | None = None


@event("EmployeeTitleChanged", version=1, aggregate="employee", registry=registry)
class EmployeeTitleChanged(DomainEvent):
    """An employee's job title changed."""

    employee_id: str
    title: str
    previous_title: str = ""


@event("EmployeeOffboarded", version=2, aggregate="employee", registry=registry)
class EmployeeOffboarded(DomainEvent):
    """An employee left. Nothing about them can change afterwards.

    Why they left is confidential: it is in the private ``EmployeeOffboardingReasonRecorded``
    (version 1 of this event carried it as ``reason``; it is dropped on read).
    """

    employee_id: str
    last_day: dt.date


@registry.upcaster("EmployeeOffboarded", from_version=1)
def _offboarded_without_reason(payload: dict[str, Any]) -> dict[str, Any]:
    payload.pop("reason", None)
    return payload


@event(
    "EmployeeOffboardingReasonRecorded", version=1, aggregate="employee", published=False, registry=registry
)
class EmployeeOffboardingReasonRecorded(DomainEvent):
    """Private (never on the stream): why an employee was offboarded, for admin and hr only."""

    employee_id: str
    reason: str


# ---- teams -------------------------------------------------------------------------


@event("TeamCreated", version=1, aggregate="team", registry=registry)
class TeamCreated(DomainEvent):
    """A team was created, optionally under a parent team and with a lead."""

    team_id: str
    name: str
    parent_team_id: str | None = None
    lead_id: str | None = None


@event("TeamRenamed", version=1, aggregate="team", registry=registry)
class TeamRenamed(DomainEvent):
    """A team got a new name."""

    team_id: str
    name: str
    previous_name: str


@event("TeamMoved", version=1, aggregate="team", registry=registry)
class TeamMoved(DomainEvent):
    """A team moved under another parent team (or to the top)."""

    team_id: str
    parent_team_id: str | None
    previous_parent_team_id: str | None = None


@event("TeamLeadAssigned", version=1, aggregate="team", registry=registry)
class TeamLeadAssigned(DomainEvent):
    """A team's lead changed (None: no lead)."""

    team_id: str
    lead_id: str | None
    previous_lead_id: str | None = None


# ---- onboarding templates ----------------------------------------------------------


class GoalTemplate(Part):
    """A goal to create for the new hire when the plan starts."""

    title: str
    description: str = ""
    period: str | None = None  # None: the quarter the new hire starts in
    align_to: Literal["team_goal", "none"] = "team_goal"  # the team's live team goal, if any


class MilestoneTemplate(Part):
    """One milestone of a template: due ``due_offset_days`` after the start date.

    ``training_id``: the milestone is a training of the catalogue; a plan started from the
    template enrols the new hire in it, with the milestone's due date as the target.
    """

    key: str
    title: str
    due_offset_days: int = Field(ge=0)
    assignee: Assignee = "new_hire"
    goal: GoalTemplate | None = None
    training_id: str | None = None


@event("OnboardingTemplateCreated", version=2, aggregate="onboarding_template", registry=registry)
class OnboardingTemplateCreated(DomainEvent):
    """A named list of milestones (for example day 30/60/90) to start plans from.

    Version 2: a milestone may name a training (``training_id``); version 1 named none.
    """

    template_id: str
    name: str
    milestones: list[MilestoneTemplate]


@event("OnboardingTemplateRevised", version=2, aggregate="onboarding_template", registry=registry)
class OnboardingTemplateRevised(DomainEvent):
    """A template's milestones were replaced; plans already started keep theirs.

    Version 2: a milestone may name a training (``training_id``); version 1 named none.
    """

    template_id: str
    name: str
    milestones: list[MilestoneTemplate]


def _without_trainings(payload: dict[str, Any]) -> dict[str, Any]:
    """Version 1 of the template and plan events had no trainings: the same payload reads as
    version 2 with none (every milestone's ``training_id`` absent, so None)."""
    return payload


registry.upcaster("OnboardingTemplateCreated", from_version=1)(_without_trainings)
registry.upcaster("OnboardingTemplateRevised", from_version=1)(_without_trainings)


@event("OnboardingTemplateRetired", version=1, aggregate="onboarding_template", registry=registry)
class OnboardingTemplateRetired(DomainEvent):
    """A template can no longer start plans."""

    template_id: str


# ---- onboarding plans --------------------------------------------------------------


class PlannedMilestone(Part):
    """A concrete milestone of a plan; a training milestone names the training and the
    enrolment that stands for it (None when the training was retired when the plan started)."""

    milestone_id: str
    title: str
    due_date: dt.date
    assignee: Assignee
    template_key: str | None = None
    training_id: str | None = None
    enrolment_id: str | None = None


class PlannedGoal(Part):
    """A first goal for the new hire, created by the goals service with this id."""

    goal_id: str  # chosen here (deterministic), so creating it twice creates it once
    title: str
    description: str = ""
    period: str
    align_to: Literal["team_goal", "none"] = "team_goal"
    milestone_id: str | None = None


@event("OnboardingPlanStarted", version=2, aggregate="onboarding_plan", registry=registry)
class OnboardingPlanStarted(DomainEvent):
    """A new hire's onboarding plan started: milestones with due dates, people, first goals.

    Version 2: a milestone may be a training (``training_id``, ``enrolment_id``); version 1
    had none.
    """

    plan_id: str
    employee_id: str
    manager_id: str | None
    mentor_id: str | None = None
    team_id: str | None = None
    template_id: str | None = None  # None: an ad hoc plan
    start_date: dt.date
    milestones: list[PlannedMilestone]
    goals: list[PlannedGoal] = Field(default_factory=list)


@event("MentorAssigned", version=1, aggregate="onboarding_plan", registry=registry)
class MentorAssigned(DomainEvent):
    """A plan's mentor changed (None: no mentor)."""

    plan_id: str
    employee_id: str
    mentor_id: str | None
    previous_mentor_id: str | None = None


@event("MilestoneCompleted", version=1, aggregate="onboarding_plan", registry=registry)
class MilestoneCompleted(DomainEvent):
    """A milestone was completed; ``late`` when after its due date (``was_missed`` if flagged)."""

    plan_id: str
    employee_id: str
    milestone_id: str
    completed_by: str
    completed_on: dt.date
    due_date: dt.date
    late: bool
    was_missed: bool = False


@event("MilestoneRescheduled", version=1, aggregate="onboarding_plan", registry=registry)
class MilestoneRescheduled(DomainEvent):
    """A milestone got a new due date, with the reason."""

    plan_id: str
    employee_id: str
    milestone_id: str
    due_date: dt.date
    previous_due_date: dt.date
    reason: str


@event("MilestoneDueSoon", version=1, aggregate="onboarding_plan", registry=registry)
class MilestoneDueSoon(DomainEvent):
    """An open milestone is due in two days (a nudge to whoever completes it): once per due
    date; not recorded for a milestone completed or moved meanwhile."""

    plan_id: str
    employee_id: str
    milestone_id: str
    title: str
    due_date: dt.date
    assignee: Assignee
    manager_id: str | None = None
    mentor_id: str | None = None


@event("MilestoneMissed", version=1, aggregate="onboarding_plan", registry=registry)
class MilestoneMissed(DomainEvent):
    """A milestone's due date passed without completion (exactly one per due date)."""

    plan_id: str
    employee_id: str
    milestone_id: str
    title: str
    due_date: dt.date
    assignee: Assignee
    manager_id: str | None = None
    mentor_id: str | None = None


registry.upcaster("OnboardingPlanStarted", from_version=1)(_without_trainings)


@event("OnboardingPlanCompleted", version=1, aggregate="onboarding_plan", registry=registry)
class OnboardingPlanCompleted(DomainEvent):
    """Every milestone of a plan is done."""

    plan_id: str
    employee_id: str
    completed_on: dt.date
    on_time: int
    late: int


# ---- development: the training catalogue -------------------------------------------

TrainingKind = Literal["course", "workshop", "mentorship_programme", "external_link"]
TRAINING_KINDS: tuple[str, ...] = ("course", "workshop", "mentorship_programme", "external_link")


@event("TrainingCreated", version=1, aggregate="training", registry=registry)
class TrainingCreated(DomainEvent):
    """A training joined the catalogue: what it is, where it is, which skills it builds."""

    training_id: str
    kind: TrainingKind
    title: str
    description: str = ""
    url: str | None = None  # http(s)
    skills: list[str] = Field(default_factory=list)  # short tags, lower case
    duration_minutes: int | None = None  # the expected effort, if known


@event("TrainingChanged", version=1, aggregate="training", registry=registry)
class TrainingChanged(DomainEvent):
    """A training was changed: the training as it is now (every field)."""

    training_id: str
    kind: TrainingKind
    title: str
    description: str = ""
    url: str | None = None
    skills: list[str] = Field(default_factory=list)
    duration_minutes: int | None = None


@event("TrainingRetired", version=1, aggregate="training", registry=registry)
class TrainingRetired(DomainEvent):
    """A training left the catalogue: nobody is enrolled in it any more; enrolments already
    open stay open and can be completed."""

    training_id: str


# ---- development: enrolments -------------------------------------------------------


@event("TrainingEnrolled", version=1, aggregate="training_enrolment", registry=registry)
class TrainingEnrolled(DomainEvent):
    """Someone was enrolled in a training, to complete it by ``target_date``.

    ``manager_id`` and ``team_id``: the person's, when enrolled. ``plan_id`` and
    ``milestone_id``: the onboarding plan milestone that enrolled them, if one did.
    """

    enrolment_id: str
    training_id: str
    training_title: str
    employee_id: str
    manager_id: str | None = None
    team_id: str | None = None
    enrolled_by: str
    enrolled_on: dt.date
    target_date: dt.date
    plan_id: str | None = None
    milestone_id: str | None = None


@event("TrainingDueSoon", version=1, aggregate="training_enrolment", registry=registry)
class TrainingDueSoon(DomainEvent):
    """An open enrolment's target date is near (recorded once per target date; never for
    an enrolment completed or withdrawn). ``manager_id``: the person's manager now."""

    enrolment_id: str
    training_id: str
    training_title: str
    employee_id: str
    manager_id: str | None = None
    target_date: dt.date
    days_left: int


@event("TrainingEnrolmentCompleted", version=1, aggregate="training_enrolment", registry=registry)
class TrainingEnrolmentCompleted(DomainEvent):
    """The training was completed, with its evidence (a note and/or a link).
    ``on_time``: completed on or before the target date."""

    enrolment_id: str
    training_id: str
    training_title: str
    employee_id: str
    manager_id: str | None = None
    completed_by: str
    completed_on: dt.date
    target_date: dt.date
    on_time: bool
    evidence_note: str = ""
    evidence_url: str | None = None


@event("TrainingEnrolmentWithdrawn", version=1, aggregate="training_enrolment", registry=registry)
class TrainingEnrolmentWithdrawn(DomainEvent):
    """An open enrolment was withdrawn (the person may be enrolled again later)."""

    enrolment_id: str
    training_id: str
    employee_id: str
    withdrawn_by: str
    withdrawn_on: dt.date
    reason: str = ""


# ---- development: mentorships ------------------------------------------------------


@event("MentorshipArranged", version=1, aggregate="mentorship", registry=registry)
class MentorshipArranged(DomainEvent):
    """A mentor and a mentee were paired from ``starts_on`` to ``ends_on`` (inclusive),
    with what the mentorship is for: free-text objectives and, optionally, goals."""

    mentorship_id: str
    mentor_id: str
    mentee_id: str
    starts_on: dt.date
    ends_on: dt.date
    objectives: list[str] = Field(default_factory=list)
    goal_ids: list[str] = Field(default_factory=list)


@event("MentorshipEnded", version=1, aggregate="mentorship", registry=registry)
class MentorshipEnded(DomainEvent):
    """A mentorship was ended before the end of its period (``ends_on``: as planned)."""

    mentorship_id: str
    mentor_id: str
    mentee_id: str
    ended_on: dt.date
    ends_on: dt.date
    ended_by: str
    reason: str = ""
