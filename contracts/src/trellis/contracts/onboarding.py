"""Events of the onboarding service (stream ``TRELLIS_ONBOARDING``): the org and onboarding.

The onboarding service is the source of truth for who works where and for whom; every
other service learns the org only from these events (see ``trellis.orgchart`` for the
replica each keeps). Ids are strings usable as subject tokens (letters, digits, ``-``,
``_``); an employee id is the ``sub`` of that employee's tokens.

Employee ids are unique within a tenant only, so an employee's (and a plan's) aggregate
id in the envelope and the subject is derived from tenant and employee id (a UUIDv5):
read who an event is about from its payload (``employee_id``), never from the envelope.

Aggregates: ``employee``, ``team``, ``onboarding_template``, ``onboarding_plan``.

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
    """One milestone of a template: due ``due_offset_days`` after the start date."""

    key: str
    title: str
    due_offset_days: int = Field(ge=0)
    assignee: Assignee = "new_hire"
    goal: GoalTemplate | None = None


@event("OnboardingTemplateCreated", version=1, aggregate="onboarding_template", registry=registry)
class OnboardingTemplateCreated(DomainEvent):
    """A named list of milestones (for example day 30/60/90) to start plans from."""

    template_id: str
    name: str
    milestones: list[MilestoneTemplate]


@event("OnboardingTemplateRevised", version=1, aggregate="onboarding_template", registry=registry)
class OnboardingTemplateRevised(DomainEvent):
    """A template's milestones were replaced; plans already started keep theirs."""

    template_id: str
    name: str
    milestones: list[MilestoneTemplate]


@event("OnboardingTemplateRetired", version=1, aggregate="onboarding_template", registry=registry)
class OnboardingTemplateRetired(DomainEvent):
    """A template can no longer start plans."""

    template_id: str


# ---- onboarding plans --------------------------------------------------------------


class PlannedMilestone(Part):
    """A concrete milestone of a plan."""

    milestone_id: str
    title: str
    due_date: dt.date
    assignee: Assignee
    template_key: str | None = None


class PlannedGoal(Part):
    """A first goal for the new hire, created by the goals service with this id."""

    goal_id: str  # chosen here (deterministic), so creating it twice creates it once
    title: str
    description: str = ""
    period: str
    align_to: Literal["team_goal", "none"] = "team_goal"
    milestone_id: str | None = None


@event("OnboardingPlanStarted", version=1, aggregate="onboarding_plan", registry=registry)
class OnboardingPlanStarted(DomainEvent):
    """A new hire's onboarding plan started: milestones with due dates, people, first goals."""

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


@event("OnboardingPlanCompleted", version=1, aggregate="onboarding_plan", registry=registry)
class OnboardingPlanCompleted(DomainEvent):
    """Every milestone of a plan is done."""

    plan_id: str
    employee_id: str
    completed_on: dt.date
    on_time: int
    late: int
