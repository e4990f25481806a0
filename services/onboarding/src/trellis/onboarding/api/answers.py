"""What the onboarding service's read routes answer: employees and the org, templates,
plans and their milestones, upcoming milestones and the KPIs. Each is an ``Answer`` of
the shared kit: exactly the keys it names. Dates are ISO 8601 strings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from trellis.contracts.onboarding import Assignee, MilestoneTemplate
from trellis.core.runtime.api_kit import Answer, AuditEntry
from trellis.onboarding.domain.plan import MilestoneStatus

EmployeeStatus = Literal["active", "offboarded"]


class EmployeeView(Answer):
    """An employee, as of their last event."""

    id: str
    name: str
    email: str
    title: str
    start_date: str | None
    team_id: str | None
    manager_id: str | None
    status: EmployeeStatus
    last_day: str | None = Field(description="set once they leave")
    version: int = Field(description="the `If-Match` of the next change")


class Person(Answer):
    """An employee as the org views list them."""

    id: str
    name: str
    email: str
    title: str
    team_id: str | None
    manager_id: str | None
    start_date: str
    status: EmployeeStatus


class Employees(Answer):
    employees: list[Person]


class Report(Person):
    depth: int = Field(description="1: a direct report; 2: a report's report; ...")


class Reports(Answer):
    """Who reports to a manager, directly and at any depth below."""

    manager_id: str
    direct: list[Report]
    indirect: list[Report]


class ManagerChain(Answer):
    """Their manager, that one's manager, ... to the top (nearest first)."""

    employee_id: str
    chain: list[Report]


class EmployeeHistory(Answer):
    """The employee's audit trail (why someone left: admin and hr only)."""

    employee_id: str
    events: list[AuditEntry]


class TeamSummary(Answer):
    id: str
    name: str
    parent_team_id: str | None
    lead_id: str | None


class Teams(Answer):
    teams: list[TeamSummary]


class TeamView(TeamSummary):
    """A team with its members and its direct subteams."""

    members: list[Person]
    subteam_ids: list[str]


class Member(Answer):
    id: str
    name: str
    title: str


class TeamNode(TeamSummary):
    """A team in the tree, with its members and the teams beneath it."""

    members: list[Member]
    teams: list[TeamNode]


class PersonNode(Answer):
    """Someone in the reporting lines, with their reports."""

    id: str
    name: str
    title: str
    team_id: str | None
    reports: list[PersonNode]


class OrgChart(Answer):
    """The tree of teams (with members) and the tree of reporting lines."""

    teams: list[TeamNode]
    without_team: list[Member]
    reporting_lines: list[PersonNode]


class TemplateSummary(Answer):
    template_id: str
    name: str
    milestones: int = Field(description="how many")
    retired: bool


class Templates(Answer):
    templates: list[TemplateSummary]


class TemplateView(Answer):
    """A template with its milestones."""

    template_id: str
    name: str
    retired: bool
    version: int
    milestones: list[MilestoneTemplate]


class Milestone(Answer):
    """A milestone of a plan, with its status as of the plan's `as_of`."""

    milestone_id: str
    title: str
    assignee: Assignee
    responsible_id: str | None = Field(description="who completes it: the new hire, manager or mentor")
    due_date: str
    status: MilestoneStatus
    completed_on: str | None
    completed_by: str | None
    late: bool
    was_missed: bool
    missed_due_dates: list[str]
    goal_id: str | None = Field(description="the goal created for it, if the template named one")
    training_id: str | None = Field(description="the training it is, if it names one")
    enrolment_id: str | None = Field(
        description="the enrolment standing for it (completing it completes the milestone)"
    )


class PlanView(Answer):
    """A new hire's plan with each milestone's status."""

    plan_id: str
    employee_id: str
    manager_id: str | None
    mentor_id: str | None
    team_id: str | None
    template_id: str | None
    start_date: str | None
    status: Literal["active", "completed"]
    completed_on: str | None
    share_done: float = Field(description="0 to 1: milestones done of all")
    version: int
    as_of: str = Field(description="the day the statuses are computed for")
    milestones: list[Milestone]


class PlanHistory(Answer):
    plan_id: str
    events: list[AuditEntry]


class UpcomingMilestone(Answer):
    """An open milestone of a new hire."""

    plan_id: str
    employee_id: str
    employee_name: str
    milestone_id: str
    title: str
    assignee: Assignee
    responsible_id: str | None
    due_date: str
    status: Literal["upcoming", "late", "missed"]


class ManagerUpcoming(Answer):
    """Open milestones of a manager's new hires, overdue ones first."""

    manager_id: str
    milestones: list[UpcomingMilestone]


class MentorUpcoming(Answer):
    """Open milestones of a mentor's new hires, overdue ones first."""

    mentor_id: str
    milestones: list[UpcomingMilestone]


class MilestoneCounts(Answer):
    milestones: int
    completed: int
    completed_on_time: int
    completed_late: int
    missed: int
    overdue: int
    upcoming: int
    on_time_rate: float | None = Field(
        description="on time / (completed + missed + overdue); null while no outcome is known"
    )


class TeamCounts(MilestoneCounts):
    team_id: str | None
    team_name: str | None


class TemplateCounts(MilestoneCounts):
    template_id: str | None
    template_name: str | None


class OnboardingKpis(Answer):
    """Milestones completed on time, per team (the new hire's when the plan started) and template."""

    as_of: str
    by_team: list[TeamCounts]
    by_template: list[TemplateCounts]
