"""Request bodies of the onboarding API (responses are plain views)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from trellis.contracts.onboarding import GoalTemplate, MilestoneTemplate
from trellis.core.runtime.http import Date, Id, RequestBody
from trellis.onboarding.application.plans import PlanSpec

Name = Annotated[str, Field(min_length=1, max_length=300)]


class GoalSpec(RequestBody):
    title: Annotated[str, Field(min_length=1, max_length=500)]
    description: str = Field(default="", max_length=10_000)
    period: str | None = Field(default=None, max_length=50, description="default: the start date's quarter")
    align_to: Literal["team_goal", "none"] = "team_goal"


class MilestoneSpec(RequestBody):
    key: Id | None = Field(default=None, description="unique in the list; default milestone-<n>")
    title: Annotated[str, Field(min_length=1, max_length=500)]
    due_offset_days: int = Field(ge=0, le=3650, description="days after the start date")
    assignee: Literal["new_hire", "manager", "mentor"] = "new_hire"
    goal: GoalSpec | None = Field(default=None, description="a first goal to create for the new hire")
    training_id: Id | None = Field(
        default=None,
        description="a live training: the plan enrols the new hire in it, to complete by the due date",
    )


def milestone_templates(specs: list[MilestoneSpec]) -> list[MilestoneTemplate]:
    return [
        MilestoneTemplate(
            key=s.key or f"milestone-{i}",
            title=s.title,
            due_offset_days=s.due_offset_days,
            assignee=s.assignee,
            goal=GoalTemplate(**s.goal.model_dump()) if s.goal else None,
            training_id=s.training_id,
        )
        for i, s in enumerate(specs, start=1)
    ]


class HirePlan(RequestBody):
    """Start the new hire's onboarding plan with the hire (one transaction)."""

    template_id: Id | None = None
    milestones: list[MilestoneSpec] | None = Field(
        default=None, max_length=100, description="ad hoc, instead of a template"
    )
    mentor_id: Id | None = None

    def spec(self) -> PlanSpec:
        return PlanSpec(
            template_id=self.template_id,
            milestones=milestone_templates(self.milestones) if self.milestones is not None else None,
            mentor_id=self.mentor_id,
        )


class Hire(RequestBody):
    employee_id: Id | None = Field(
        default=None,
        description="the id their tokens carry (sub); letters, digits, - and _; generated if absent",
        examples=["e-1042"],
    )
    name: Name
    email: str = Field(min_length=3, max_length=320)
    title: str = Field(default="", max_length=300)
    start_date: Date
    team_id: Id | None = None
    manager_id: Id | None = None
    plan: HirePlan | None = Field(default=None, description="start their onboarding plan too")


class ChangeManager(RequestBody):
    manager_id: Id | None = Field(description="None: reports to nobody")


class ChangeTeam(RequestBody):
    team_id: Id | None


class ChangeTitle(RequestBody):
    title: str = Field(max_length=300)


class Offboard(RequestBody):
    last_day: Date
    reason: str = Field(default="", max_length=2_000)


class CreateTeam(RequestBody):
    name: Name
    parent_team_id: Id | None = None
    lead_id: Id | None = None


class RenameTeam(RequestBody):
    name: Name


class MoveTeam(RequestBody):
    parent_team_id: Id | None = Field(description="None: a top-level team")


class AssignLead(RequestBody):
    lead_id: Id | None


class Template(RequestBody):
    name: Name
    milestones: list[MilestoneSpec] = Field(min_length=1, max_length=100)


class StartPlan(HirePlan):
    pass


class AssignMentor(RequestBody):
    mentor_id: Id | None


class Reschedule(RequestBody):
    due_date: Date
    reason: str = Field(min_length=1, max_length=2_000)
