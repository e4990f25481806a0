"""The Mentorship aggregate: a mentor and a mentee, paired for a period, with objectives.

Beyond the onboarding plan's mentor (who guides a new hire through their milestones), a
mentorship is a development arrangement between any two people of the tenant: from
``starts_on`` to ``ends_on`` (both included), for free-text objectives and, optionally,
goals (by id, as the goals service names them). It can be ended before its period is
over; after its last day it is simply ``finished``.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from trellis.contracts.envelope import DomainEvent
from trellis.contracts.onboarding import MentorshipArranged, MentorshipEnded
from trellis.core.errors import InvalidInput, NotFound, RuleViolation
from trellis.core.store.aggregate import Aggregate
from trellis.onboarding.domain.ids import checked_id
from trellis.onboarding.domain.training import checked_text

MentorshipStatus = Literal["upcoming", "active", "finished", "ended"]
MAX_OBJECTIVES = 20
MAX_OBJECTIVE = 500
MAX_GOALS = 20
MAX_REASON = 2_000


class SelfMentorship(InvalidInput):
    """A mentor and a mentee who are the same person."""

    code = "self_mentorship"


class EndBeforeStart(InvalidInput):
    """A period that ends before it starts."""

    code = "end_before_start"


class PeriodInPast(InvalidInput):
    """A mentorship whose period is over before it is arranged."""

    code = "period_in_past"


class MentorshipFinished(RuleViolation):
    """The mentorship's period is over: there is nothing left to end."""

    code = "mentorship_finished"


def status_of(
    starts_on: dt.date, ends_on: dt.date, ended_on: dt.date | None, today: dt.date
) -> MentorshipStatus:
    """``ended`` early, else ``upcoming``, ``active`` or ``finished`` by ``today``."""
    if ended_on is not None:
        return "ended"
    if today < starts_on:
        return "upcoming"
    return "active" if today <= ends_on else "finished"


class Mentorship(Aggregate):
    aggregate_type = "mentorship"

    def __init__(self, aggregate_id: str, tenant_id: str) -> None:
        super().__init__(aggregate_id, tenant_id)
        self.mentor_id = ""
        self.mentee_id = ""
        self.starts_on = dt.date.min
        self.ends_on = dt.date.min
        self.objectives: list[str] = []
        self.goal_ids: list[str] = []
        self.ended_on: dt.date | None = None
        self.ended_by: str | None = None
        self.end_reason = ""

    def status(self, today: dt.date) -> MentorshipStatus:
        return status_of(self.starts_on, self.ends_on, self.ended_on, today)

    def involves(self, employee_id: str) -> bool:
        return employee_id in (self.mentor_id, self.mentee_id)

    def apply(self, event: DomainEvent) -> None:
        match event:
            case MentorshipArranged():
                self.mentor_id = event.mentor_id
                self.mentee_id = event.mentee_id
                self.starts_on = event.starts_on
                self.ends_on = event.ends_on
                self.objectives = list(event.objectives)
                self.goal_ids = list(event.goal_ids)
            case MentorshipEnded():
                self.ended_on = event.ended_on
                self.ended_by = event.ended_by
                self.end_reason = event.reason
            case _:
                raise TypeError(f"Mentorship cannot apply {type(event).__name__}")

    def arrange(
        self,
        *,
        mentor_id: str,
        mentee_id: str,
        starts_on: dt.date,
        ends_on: dt.date,
        objectives: list[str],
        goal_ids: list[str],
        today: dt.date,
    ) -> None:
        if self.exists:
            raise RuleViolation(f"mentorship {self.id} exists already")
        if mentor_id == mentee_id:
            raise SelfMentorship(f"{mentor_id} cannot mentor themself", details={"mentor_id": mentor_id})
        if ends_on < starts_on:
            raise EndBeforeStart(
                f"the mentorship ends ({ends_on.isoformat()}) before it starts ({starts_on.isoformat()})",
                details={"starts_on": starts_on.isoformat(), "ends_on": ends_on.isoformat()},
            )
        if ends_on < today:
            raise PeriodInPast(
                f"the period ended on {ends_on.isoformat()}, before today ({today.isoformat()})",
                details={"ends_on": ends_on.isoformat(), "today": today.isoformat()},
            )
        goals = _checked_goals(goal_ids)
        aims = _checked_objectives(objectives)
        if not aims and not goals:
            raise InvalidInput("say what the mentorship is for: an objective or a goal")
        self.record(
            MentorshipArranged(
                mentorship_id=self.id,
                mentor_id=mentor_id,
                mentee_id=mentee_id,
                starts_on=starts_on,
                ends_on=ends_on,
                objectives=aims,
                goal_ids=goals,
            )
        )

    def end(self, *, by: str, today: dt.date, reason: str = "") -> None:
        """End it before its period is over (ended already: nothing)."""
        if not self.exists:
            raise NotFound(f"mentorship {self.id} not found")
        if self.ended_on is not None:
            return
        if today > self.ends_on:
            raise MentorshipFinished(
                f"the mentorship finished on {self.ends_on.isoformat()}",
                details={"ends_on": self.ends_on.isoformat()},
            )
        self.record(
            MentorshipEnded(
                mentorship_id=self.id,
                mentor_id=self.mentor_id,
                mentee_id=self.mentee_id,
                ended_on=today,
                ends_on=self.ends_on,
                ended_by=by,
                reason=checked_text(reason, "reason", MAX_REASON),
            )
        )


def _checked_objectives(objectives: list[str]) -> list[str]:
    if len(objectives) > MAX_OBJECTIVES:
        raise InvalidInput(f"at most {MAX_OBJECTIVES} objectives", details={"field": "objectives"})
    return [checked_text(o, "objective", MAX_OBJECTIVE, required=True) for o in objectives]


def _checked_goals(goal_ids: list[str]) -> list[str]:
    if len(goal_ids) > MAX_GOALS:
        raise InvalidInput(f"at most {MAX_GOALS} goals", details={"field": "goal_ids"})
    out: list[str] = []
    for goal_id in goal_ids:
        checked_id(goal_id, "goal id")
        if goal_id not in out:
            out.append(goal_id)
    return out
