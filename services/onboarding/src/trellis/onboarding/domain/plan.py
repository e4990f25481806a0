"""The OnboardingPlan aggregate: a new hire's milestones, their due dates and outcomes.

A milestone is, at any moment, one of:

- ``upcoming``: open, its due date has not passed;
- ``late``: open, its due date has passed, and the missed-milestone deadline has not
  fired yet (a short moment: the deadline fires at the end of the due date, UTC);
- ``missed``: open, and recorded as missed at its current due date;
- ``on_time``: completed on or before its due date, never missed;
- ``completed_late``: completed after its due date, or after it was missed at an
  earlier due date (a missed milestone completed later stays recorded as late).

"Missed" is decided once per due date: the aggregate refuses to decide it twice, so a
deadline that fires twice, or two detectors firing together, append one event.
Rescheduling gives a milestone a new due date (and, when it passes, a new chance to be
missed). The plan is completed when every milestone is.

A milestone may be a training: the plan names the enrolment that stands for it, and
completing that enrolment completes the milestone (the application does both in one
transaction).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from trellis.contracts.envelope import DomainEvent
from trellis.contracts.onboarding import (
    Assignee,
    MentorAssigned,
    MilestoneCompleted,
    MilestoneDueSoon,
    MilestoneMissed,
    MilestoneRescheduled,
    MilestoneTemplate,
    OnboardingPlanCompleted,
    OnboardingPlanStarted,
    PlannedGoal,
    PlannedMilestone,
)
from trellis.core.errors import InvalidInput, NotFound, RuleViolation
from trellis.core.store.aggregate import Aggregate
from trellis.onboarding.domain.calendar import quarter_of
from trellis.onboarding.domain.ids import planned_goal_id
from trellis.onboarding.domain.template import checked_milestones

MilestoneStatus = Literal["upcoming", "late", "missed", "on_time", "completed_late"]


@dataclass(slots=True)
class Milestone:
    """A milestone's state inside its plan (changed only by ``OnboardingPlan.apply``)."""

    milestone_id: str
    title: str
    due_date: dt.date
    assignee: Assignee
    template_key: str | None = None
    goal_id: str | None = None
    training_id: str | None = None
    enrolment_id: str | None = None  # the enrolment whose completion completes it
    completed_on: dt.date | None = None
    completed_by: str | None = None
    late: bool = False
    missed_due_dates: list[dt.date] = field(default_factory=list)
    nudged_due_dates: list[dt.date] = field(default_factory=list)  # MilestoneDueSoon

    @property
    def done(self) -> bool:
        return self.completed_on is not None

    @property
    def was_missed(self) -> bool:
        return bool(self.missed_due_dates)

    def status(self, today: dt.date) -> MilestoneStatus:
        if self.done:
            return "completed_late" if self.late else "on_time"
        if self.due_date in self.missed_due_dates:
            return "missed"
        return "late" if today > self.due_date else "upcoming"


class OnboardingPlan(Aggregate):
    aggregate_type = "onboarding_plan"

    def __init__(self, aggregate_id: str, tenant_id: str) -> None:
        super().__init__(aggregate_id, tenant_id)
        self.employee_id = ""
        self.manager_id: str | None = None  # at the start; the employee's current one may differ
        self.mentor_id: str | None = None
        self.team_id: str | None = None
        self.template_id: str | None = None
        self.start_date: dt.date | None = None
        self.milestones: dict[str, Milestone] = {}
        self.goals: list[PlannedGoal] = []
        self.completed_on: dt.date | None = None

    # ---- state -----------------------------------------------------------------------

    @property
    def is_completed(self) -> bool:
        return self.completed_on is not None

    def apply(self, event: DomainEvent) -> None:
        match event:
            case OnboardingPlanStarted():
                self.employee_id = event.employee_id
                self.manager_id = event.manager_id
                self.mentor_id = event.mentor_id
                self.team_id = event.team_id
                self.template_id = event.template_id
                self.start_date = event.start_date
                goals = {g.milestone_id: g.goal_id for g in event.goals if g.milestone_id}
                self.milestones = {
                    m.milestone_id: Milestone(
                        m.milestone_id,
                        m.title,
                        m.due_date,
                        m.assignee,
                        m.template_key,
                        goals.get(m.milestone_id),
                        m.training_id,
                        m.enrolment_id,
                    )
                    for m in event.milestones
                }
                self.goals = list(event.goals)
            case MentorAssigned():
                self.mentor_id = event.mentor_id
            case MilestoneCompleted():
                m = self.milestones[event.milestone_id]
                m.completed_on = event.completed_on
                m.completed_by = event.completed_by
                m.late = event.late
            case MilestoneRescheduled():
                self.milestones[event.milestone_id].due_date = event.due_date
            case MilestoneMissed():
                self.milestones[event.milestone_id].missed_due_dates.append(event.due_date)
            case MilestoneDueSoon():
                self.milestones[event.milestone_id].nudged_due_dates.append(event.due_date)
            case OnboardingPlanCompleted():
                self.completed_on = event.completed_on
            case _:
                raise TypeError(f"OnboardingPlan cannot apply {type(event).__name__}")

    def milestone(self, milestone_id: str) -> Milestone:
        found = self.milestones.get(milestone_id)
        if found is None:
            raise NotFound(f"milestone {milestone_id} not found in this plan")
        return found

    def open_milestones_of(self, enrolment_id: str) -> list[Milestone]:
        """The open milestones that completing ``enrolment_id`` completes."""
        return [m for m in self.milestones.values() if m.enrolment_id == enrolment_id and not m.done]

    # ---- commands --------------------------------------------------------------------

    def start(
        self,
        *,
        employee_id: str,
        manager_id: str | None,
        mentor_id: str | None,
        team_id: str | None,
        template_id: str | None,
        start_date: dt.date,
        milestones: list[MilestoneTemplate],
        enrolments: Mapping[str, str] | None = None,
    ) -> None:
        """Start from a template's milestones (or ad hoc ones): due dates from the start date.

        ``enrolments``: for each training a milestone names, the enrolment that stands for
        it (one the plan creates, or one the new hire had already); a training missing
        from it (retired since the template named it) leaves a milestone without one.
        """
        enrolments = enrolments or {}
        if self.exists:
            raise RuleViolation(f"{employee_id} has an onboarding plan already", details={"plan_id": self.id})
        if mentor_id is not None and mentor_id == employee_id:
            raise RuleViolation("a new hire cannot mentor themself")
        planned: list[PlannedMilestone] = []
        goals: list[PlannedGoal] = []
        for m in checked_milestones(milestones):
            planned.append(
                PlannedMilestone(
                    milestone_id=m.key,
                    title=m.title,
                    due_date=start_date + dt.timedelta(days=m.due_offset_days),
                    assignee=m.assignee,
                    template_key=m.key if template_id else None,
                    training_id=m.training_id,
                    enrolment_id=enrolments.get(m.training_id) if m.training_id else None,
                )
            )
            if m.goal is not None:
                goals.append(
                    PlannedGoal(
                        goal_id=planned_goal_id(self.id, m.key),
                        title=m.goal.title.strip(),
                        description=m.goal.description,
                        period=m.goal.period or quarter_of(start_date),
                        align_to=m.goal.align_to,
                        milestone_id=m.key,
                    )
                )
        self.record(
            OnboardingPlanStarted(
                plan_id=self.id,
                employee_id=employee_id,
                manager_id=manager_id,
                mentor_id=mentor_id,
                team_id=team_id,
                template_id=template_id,
                start_date=start_date,
                milestones=planned,
                goals=goals,
            )
        )

    def assign_mentor(self, mentor_id: str | None) -> None:
        self._require_open()
        if mentor_id == self.mentor_id:
            return
        if mentor_id is not None and mentor_id == self.employee_id:
            raise RuleViolation("a new hire cannot mentor themself")
        self.record(
            MentorAssigned(
                plan_id=self.id,
                employee_id=self.employee_id,
                mentor_id=mentor_id,
                previous_mentor_id=self.mentor_id,
            )
        )

    def complete_milestone(self, milestone_id: str, *, by: str, today: dt.date) -> None:
        """Complete a milestone (again: nothing). Late if after its due date or once missed."""
        self._require_exists()
        m = self.milestone(milestone_id)
        if m.done:
            return
        self.record(
            MilestoneCompleted(
                plan_id=self.id,
                employee_id=self.employee_id,
                milestone_id=milestone_id,
                completed_by=by,
                completed_on=today,
                due_date=m.due_date,
                late=today > m.due_date or m.was_missed,
                was_missed=m.was_missed,
            )
        )
        if all(x.done for x in self.milestones.values()):
            late = sum(x.late for x in self.milestones.values())
            self.record(
                OnboardingPlanCompleted(
                    plan_id=self.id,
                    employee_id=self.employee_id,
                    completed_on=today,
                    on_time=len(self.milestones) - late,
                    late=late,
                )
            )

    def reschedule_milestone(
        self, milestone_id: str, due_date: dt.date, reason: str, *, today: dt.date
    ) -> None:
        self._require_open()
        m = self.milestone(milestone_id)
        if m.done:
            raise RuleViolation(f"milestone {milestone_id} is completed: it has no due date any more")
        if not reason.strip():
            raise InvalidInput("say why the milestone moves")
        if due_date < today:
            raise InvalidInput("a milestone cannot be rescheduled into the past")
        if due_date == m.due_date:
            return
        self.record(
            MilestoneRescheduled(
                plan_id=self.id,
                employee_id=self.employee_id,
                milestone_id=milestone_id,
                due_date=due_date,
                previous_due_date=m.due_date,
                reason=reason.strip(),
            )
        )

    def miss_milestone(
        self, milestone_id: str, due_date: dt.date, *, today: dt.date, manager_id: str | None
    ) -> None:
        """Record that ``due_date`` passed without completion: at most once per due date.

        Nothing is recorded when the milestone is done, has moved to another due date
        (a deadline left from before a reschedule), was already missed at this date, or
        is not yet due by ``today``.
        """
        self._require_exists()
        m = self._open_on(milestone_id, due_date)
        if m is None or due_date in m.missed_due_dates or today <= due_date:
            return
        self.record(MilestoneMissed(**self._about(m, due_date, manager_id)))

    def nudge_milestone(
        self, milestone_id: str, due_date: dt.date, *, today: dt.date, manager_id: str | None
    ) -> None:
        """Record that ``milestone_id`` is due soon: at most once per due date, nothing when it
        is done, has moved to another date, or is due already. A training milestone has its
        enrolment's own nudge (``TrainingDueSoon``)."""
        self._require_exists()
        m = self._open_on(milestone_id, due_date)
        if m is None or due_date in m.nudged_due_dates or today > due_date or m.enrolment_id:
            return
        self.record(MilestoneDueSoon(**self._about(m, due_date, manager_id)))

    def _open_on(self, milestone_id: str, due_date: dt.date) -> Milestone | None:
        """The milestone, if it is still open and due on ``due_date`` (not moved since)."""
        m = self.milestones.get(milestone_id)
        return None if m is None or m.done or m.due_date != due_date else m

    def _about(self, m: Milestone, due_date: dt.date, manager_id: str | None) -> dict[str, Any]:
        return {
            "plan_id": self.id,
            "employee_id": self.employee_id,
            "milestone_id": m.milestone_id,
            "title": m.title,
            "due_date": due_date,
            "assignee": m.assignee,
            "manager_id": manager_id,
            "mentor_id": self.mentor_id,
        }

    # ---- rules -----------------------------------------------------------------------

    def _require_exists(self) -> None:
        if not self.exists:
            raise NotFound("onboarding plan not found")

    def _require_open(self) -> None:
        self._require_exists()
        if self.is_completed:
            raise RuleViolation("the onboarding plan is completed")
