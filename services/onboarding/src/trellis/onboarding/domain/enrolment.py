"""The Enrolment aggregate: one person enrolled in one training, to complete it by a date.

An enrolment is ``open`` until it is ``completed`` (with evidence: a note and/or a link;
on time when on or before the target date) or ``withdrawn``. Both are final: a person
withdrawn, or who wants to take a training again, is enrolled anew (a new enrolment).
Completing a completed enrolment again, or withdrawing a withdrawn one, records nothing.

"Due soon" is decided once per target date, by the aggregate: a deadline that fires
twice, or fires after the enrolment was closed, records nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from trellis.contracts.envelope import DomainEvent
from trellis.contracts.onboarding import (
    TrainingDueSoon,
    TrainingEnrolled,
    TrainingEnrolmentCompleted,
    TrainingEnrolmentWithdrawn,
)
from trellis.core.errors import InvalidInput, NotFound, RuleViolation
from trellis.core.store.aggregate import Aggregate
from trellis.onboarding.domain.training import Training, checked_text, checked_url

EnrolmentStatus = Literal["open", "completed", "withdrawn"]
MAX_NOTE = 2_000


class TargetDateInPast(InvalidInput):
    """A target date before the day of the enrolment."""

    code = "target_date_in_past"


class EvidenceRequired(InvalidInput):
    """A completion without a note or a link."""

    code = "evidence_required"


class EnrolmentClosed(RuleViolation):
    """The enrolment was completed or withdrawn: it cannot become the other."""

    code = "enrolment_closed"


class Enrolment(Aggregate):
    aggregate_type = "training_enrolment"

    def __init__(self, aggregate_id: str, tenant_id: str) -> None:
        super().__init__(aggregate_id, tenant_id)
        self.employee_id = ""
        self.training_id = ""
        self.training_title = ""
        self.manager_id: str | None = None  # when enrolled
        self.team_id: str | None = None  # when enrolled
        self.enrolled_by = ""
        self.enrolled_on: dt.date | None = None
        self.target_date = dt.date.min
        self.plan_id: str | None = None
        self.milestone_id: str | None = None
        self.status: EnrolmentStatus = "open"
        self.completed_on: dt.date | None = None
        self.completed_by: str | None = None
        self.on_time: bool | None = None
        self.evidence_note = ""
        self.evidence_url: str | None = None
        self.withdrawn_on: dt.date | None = None
        self.withdrawn_by: str | None = None
        self.withdrawal_reason = ""
        self.due_soon_dates: list[dt.date] = []

    @property
    def is_open(self) -> bool:
        return self.exists and self.status == "open"

    def apply(self, event: DomainEvent) -> None:
        match event:
            case TrainingEnrolled():
                self.employee_id = event.employee_id
                self.training_id = event.training_id
                self.training_title = event.training_title
                self.manager_id = event.manager_id
                self.team_id = event.team_id
                self.enrolled_by = event.enrolled_by
                self.enrolled_on = event.enrolled_on
                self.target_date = event.target_date
                self.plan_id = event.plan_id
                self.milestone_id = event.milestone_id
            case TrainingDueSoon():
                self.due_soon_dates.append(event.target_date)
            case TrainingEnrolmentCompleted():
                self.status = "completed"
                self.completed_on = event.completed_on
                self.completed_by = event.completed_by
                self.on_time = event.on_time
                self.evidence_note = event.evidence_note
                self.evidence_url = event.evidence_url
            case TrainingEnrolmentWithdrawn():
                self.status = "withdrawn"
                self.withdrawn_on = event.withdrawn_on
                self.withdrawn_by = event.withdrawn_by
                self.withdrawal_reason = event.reason
            case _:
                raise TypeError(f"Enrolment cannot apply {type(event).__name__}")

    # ---- commands --------------------------------------------------------------------

    def enrol(
        self,
        *,
        employee_id: str,
        training: Training,
        manager_id: str | None,
        team_id: str | None,
        by: str,
        today: dt.date,
        target_date: dt.date,
        plan_id: str | None = None,
        milestone_id: str | None = None,
    ) -> None:
        """Enrol ``employee_id``. The target may not be before today, except for a plan's
        milestone: its due date is the plan's (a plan may start in the past)."""
        if self.exists:
            raise RuleViolation(f"enrolment {self.id} exists already")
        training.require_live()
        if plan_id is None and target_date < today:
            raise TargetDateInPast(
                f"the target date {target_date.isoformat()} is before today ({today.isoformat()})",
                details={"target_date": target_date.isoformat(), "today": today.isoformat()},
            )
        self.record(
            TrainingEnrolled(
                enrolment_id=self.id,
                training_id=training.id,
                training_title=training.title,
                employee_id=employee_id,
                manager_id=manager_id,
                team_id=team_id,
                enrolled_by=by,
                enrolled_on=today,
                target_date=target_date,
                plan_id=plan_id,
                milestone_id=milestone_id,
            )
        )

    def complete(
        self, *, by: str, today: dt.date, note: str = "", url: str | None = None, manager_id: str | None
    ) -> None:
        """Complete with evidence (a note, a link, or both). Completed already: nothing."""
        self._require_exists()
        if self.status == "completed":
            return
        if self.status == "withdrawn":
            raise EnrolmentClosed("the enrolment was withdrawn: enrol again to complete the training")
        note = checked_text(note, "evidence note", MAX_NOTE)
        link = checked_url(url, "evidence url")
        if not note and link is None:
            raise EvidenceRequired("give evidence of the completion: a note, a url, or both")
        self.record(
            TrainingEnrolmentCompleted(
                enrolment_id=self.id,
                training_id=self.training_id,
                training_title=self.training_title,
                employee_id=self.employee_id,
                manager_id=manager_id,
                completed_by=by,
                completed_on=today,
                target_date=self.target_date,
                on_time=today <= self.target_date,
                evidence_note=note,
                evidence_url=link,
            )
        )

    def withdraw(self, *, by: str, today: dt.date, reason: str = "") -> None:
        """Withdraw an open enrolment. Withdrawn already: nothing."""
        self._require_exists()
        if self.status == "withdrawn":
            return
        if self.status == "completed":
            raise EnrolmentClosed("the training was completed: a completed enrolment is not withdrawn")
        self.record(
            TrainingEnrolmentWithdrawn(
                enrolment_id=self.id,
                training_id=self.training_id,
                employee_id=self.employee_id,
                withdrawn_by=by,
                withdrawn_on=today,
                reason=checked_text(reason, "reason", MAX_NOTE),
            )
        )

    def announce_due_soon(self, target_date: dt.date, *, today: dt.date, manager_id: str | None) -> None:
        """Record that ``target_date`` is near: at most once per target date, only while the
        enrolment is open, still targets that date, and the date has not passed."""
        self._require_exists()
        if not self.is_open or target_date != self.target_date or target_date in self.due_soon_dates:
            return
        if today > target_date:
            return
        self.record(
            TrainingDueSoon(
                enrolment_id=self.id,
                training_id=self.training_id,
                training_title=self.training_title,
                employee_id=self.employee_id,
                manager_id=manager_id,
                target_date=target_date,
                days_left=(target_date - today).days,
            )
        )

    def _require_exists(self) -> None:
        if not self.exists:
            raise NotFound(f"enrolment {self.id} not found", details={"enrolment_id": self.id})
