"""What the goals read routes answer: a goal with its key results, the alignment tree,
the company objectives, coverage and an employee's goals.

Each is an ``Answer`` of the shared kit: exactly the keys it names.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from trellis.contracts.goals import Level, Rollup
from trellis.core.runtime.api_kit import Answer, AuditEntry

Status = Literal["on_track", "at_risk", "off_track", "completed", "retired"]


class KeyResultView(Answer):
    """A key result with its current value and progress."""

    id: str
    name: str
    start: float
    target: float
    current: float
    unit: str
    weight: float
    progress: float = Field(description="0 to 1, on the linear scale from start to target")
    confidence: int | None = Field(description="the owner's last confidence, 1 to 10")


class PaceView(Answer):
    """Where the goal stands against the time it has (see the service README, *Pace*)."""

    start_date: str = Field(description="its own, or its named period's first day")
    due_date: str = Field(description="its own, or its named period's last day")
    expected_progress: float = Field(description="the share of the period elapsed by the end of today")
    status: Literal["on_track", "at_risk", "off_track"] = Field(
        description="by pace: actual against expected progress at the service's thresholds"
    )
    reason: str = Field(description="why, in words")
    effective_status: Literal["on_track", "at_risk", "off_track"] = Field(
        description="the status that wins now: one set by hand since the last progress update, else by pace"
    )
    effective_because: Literal["by pace", "set by hand since the last progress update"]


class GoalView(Answer):
    """A goal, its key results and its rolled-up progress."""

    id: str
    level: Level
    title: str
    description: str
    owner_id: str
    team_id: str | None
    period: str
    kind: Literal["performance", "development"] = Field(
        description="development: the owner's growth, seen only by them, their managers and hr"
    )
    career_objective: str | None = Field(
        default=None, description="a development goal's, in a single goal's answer (private)"
    )
    start_date: str | None = Field(description="ISO date: its own (else its period's first day counts)")
    due_date: str | None = Field(description="ISO date")
    status: Status
    parent_id: str | None = Field(description="the goal it is aligned to")
    progress: float = Field(description="0 to 1, rolled up by `progress_rollup`")
    progress_rollup: Rollup
    weight: float = Field(description="its weight in its parent's roll-up")
    needs_realignment: bool = Field(description="its parent was retired or changed materially")
    pace: PaceView | None = Field(
        description="null without a due date or a named period (2027-Q1, 2027-H2, 2027, 2027-03),"
        " or once done; `status` stays the one set by hand"
    )
    version: int = Field(description="the `If-Match` of the next change")
    key_results: list[KeyResultView]


class AlignmentNode(GoalView):
    """A goal in the alignment tree, with the goals aligned to it."""

    children: list[AlignmentNode]


class AlignmentTree(Answer):
    """The forest of goals: company objectives and unaligned goals at the roots."""

    roots: list[AlignmentNode]


class Objective(Answer):
    """A live company objective and how much work ladders up to it."""

    id: str
    title: str
    owner_id: str
    period: str
    status: Status
    progress: float
    goals_aligned: int = Field(description="live goals beneath it, at any depth")
    people_aligned: int = Field(description="distinct owners of those goals")


class Objectives(Answer):
    """The one-page list of company objectives."""

    objectives: list[Objective]


class ObjectiveRef(Answer):
    """A company objective by id and title."""

    id: str
    title: str


class TeamCoverage(Answer):
    """The people of one team (null: no team) and how many have an aligned goal."""

    team_id: str | None
    people: int
    people_aligned: int
    people_coverage: float


class AlignmentCoverage(Answer):
    """How much of the work, and how many of the people, ladder up to a company objective."""

    period: str | None = Field(description="the goals counted are of this period (null: all)")
    manager_id: str | None = Field(description="the people counted report to them (null: everyone)")
    goals: int = Field(description="live team and individual goals")
    goals_aligned: int
    goal_coverage: float = Field(description="goals_aligned / goals, 0 when there are none")
    people: int = Field(description="active employees, whether they own a goal or not")
    people_aligned: int = Field(
        description="those with at least one live goal aligned to a company objective"
    )
    people_coverage: float
    people_without_aligned_goal: list[str] = Field(description="who has none: to talk to")
    per_team: list[TeamCoverage]
    objectives_without_aligned_goals: list[ObjectiveRef]


class EmployeeGoals(Answer):
    """An employee's goals, oldest first."""

    goals: list[GoalView]


class GoalHistory(Answer):
    """A goal's audit trail: every event, who, when."""

    goal_id: str
    events: list[AuditEntry]
