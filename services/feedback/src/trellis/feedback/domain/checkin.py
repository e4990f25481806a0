"""The CheckIn aggregate: one due 1:1 between a manager and a report.

Created by its schedule when it falls due (``scheduled``); then exactly one of
``completed`` (within grace or late), ``missed`` (its grace period passed first; it may
still be completed late afterwards) or ``cancelled`` (the schedule ended or moved to
another manager before it was held).

What the pair wrote is kept in private events: the shared notes (both participants read
them) and each participant's private notes (only their author reads them). The published
``CheckInCompleted`` carries the confidence and the key-result updates only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from trellis.contracts.envelope import DomainEvent
from trellis.contracts.feedback import (
    CheckInCancelled,
    CheckInCompleted,
    CheckInMissed,
    CheckInNotesRecorded,
    CheckInPrivateNoteRecorded,
    CheckInScheduled,
    KeyResultUpdate,
)
from trellis.core.errors import Forbidden, InvalidInput, NotFound, RuleViolation
from trellis.core.store.aggregate import Aggregate

MAX_UPDATES = 50


def checkin_id_for(schedule_id: str, occurrence: dt.datetime) -> str:
    """The id of a schedule's check-in at ``occurrence``: the same however often it is asked."""
    return f"{schedule_id}-{occurrence.astimezone(dt.UTC):%Y%m%dT%H%MZ}"


@dataclass
class SharedNotes:
    """What both participants wrote and may read."""

    progress: str = ""
    blockers: str = ""
    shared_notes: str = ""
    goal_progress: dict[str, str] = field(default_factory=dict)


class CheckIn(Aggregate):
    aggregate_type = "checkin"

    def __init__(self, aggregate_id: str, tenant_id: str) -> None:
        super().__init__(aggregate_id, tenant_id)
        self.schedule_id = ""
        self.manager_id = ""
        self.report_id = ""
        self.due_at = dt.datetime.min.replace(tzinfo=dt.UTC)
        self.grace_until = self.due_at
        self.status = "scheduled"
        self.was_missed = False
        self.consecutive_misses = 0
        self.completed_by: str | None = None
        self.completed_at: dt.datetime | None = None
        self.confidence: int | None = None
        self.key_result_updates: list[KeyResultUpdate] = []
        self.late = False
        self.cancel_reason = ""
        self.notes = SharedNotes()
        self.private_notes: dict[str, list[str]] = {}

    @property
    def participants(self) -> tuple[str, str]:
        return self.manager_id, self.report_id

    @property
    def is_open(self) -> bool:
        """Due and neither held, missed nor cancelled: its grace period decides."""
        return self.exists and self.status == "scheduled"

    def private_notes_of(self, author_id: str) -> list[str]:
        return list(self.private_notes.get(author_id, []))

    def apply(self, event: DomainEvent) -> None:
        match event:
            case CheckInScheduled():
                self.schedule_id = event.schedule_id
                self.manager_id = event.manager_id
                self.report_id = event.report_id
                self.due_at = event.due_at
                self.grace_until = event.grace_until
            case CheckInCompleted():
                self.status = "completed"
                self.completed_by = event.completed_by
                self.completed_at = event.completed_at
                self.confidence = event.confidence
                self.key_result_updates = list(event.key_result_updates)
                self.late = event.late
            case CheckInNotesRecorded():
                self.notes = SharedNotes(
                    event.progress, event.blockers, event.shared_notes, dict(event.goal_progress)
                )
            case CheckInPrivateNoteRecorded():
                self.private_notes.setdefault(event.author_id, []).append(event.note)
            case CheckInMissed():
                self.status = "missed"
                self.was_missed = True
                self.consecutive_misses = event.consecutive_misses
            case CheckInCancelled():
                self.status = "cancelled"
                self.cancel_reason = event.reason
            case _:
                raise TypeError(f"CheckIn cannot apply {type(event).__name__}")

    # ---- commands --------------------------------------------------------------------

    def schedule(
        self,
        *,
        schedule_id: str,
        manager_id: str,
        report_id: str,
        due_at: dt.datetime,
        grace_until: dt.datetime,
    ) -> None:
        """The check-in falls due. Asking twice records it once."""
        if self.exists:
            return
        self.record(
            CheckInScheduled(
                checkin_id=self.id,
                schedule_id=schedule_id,
                manager_id=manager_id,
                report_id=report_id,
                due_at=due_at,
                grace_until=grace_until,
            )
        )

    def complete(
        self,
        *,
        by: str,
        at: dt.datetime,
        confidence: int,
        key_result_updates: list[KeyResultUpdate] | None = None,
        progress: str = "",
        blockers: str = "",
        shared_notes: str = "",
        goal_progress: dict[str, str] | None = None,
        private_note: str = "",
    ) -> None:
        """The pair met. A missed check-in may still be completed (``late``); twice, never."""
        self._require_exists()
        self.require_participant(by)
        if self.status == "completed":
            raise RuleViolation("the check-in is already completed")
        if self.status == "cancelled":
            raise RuleViolation(f"the check-in was cancelled ({self.cancel_reason})")
        if not 1 <= confidence <= 5:
            raise InvalidInput("confidence must be between 1 and 5")
        updates = list(key_result_updates or [])
        if len(updates) > MAX_UPDATES:
            raise InvalidInput(f"at most {MAX_UPDATES} key-result updates per check-in")
        self.record(
            CheckInCompleted(
                checkin_id=self.id,
                schedule_id=self.schedule_id,
                manager_id=self.manager_id,
                report_id=self.report_id,
                completed_by=by,
                completed_at=at,
                confidence=confidence,
                key_result_updates=updates,
                late=self.was_missed or at > self.grace_until,
            )
        )
        notes = SharedNotes(progress, blockers, shared_notes, dict(goal_progress or {}))
        if notes != SharedNotes():
            self.record(
                CheckInNotesRecorded(
                    checkin_id=self.id,
                    progress=progress,
                    blockers=blockers,
                    shared_notes=shared_notes,
                    goal_progress=notes.goal_progress,
                )
            )
        if private_note:
            self.add_private_note(by, private_note)

    def add_private_note(self, author_id: str, note: str) -> None:
        """A note only ``author_id`` will ever read (before, at or after the check-in)."""
        self._require_exists()
        self.require_participant(author_id)
        if not note.strip():
            raise InvalidInput("a private note needs some text")
        self.record(CheckInPrivateNoteRecorded(checkin_id=self.id, author_id=author_id, note=note))

    def miss(self, consecutive_misses: int) -> None:
        """The grace period passed without the check-in. Only an open check-in is missed."""
        if not self.is_open:
            return
        self.record(
            CheckInMissed(
                checkin_id=self.id,
                schedule_id=self.schedule_id,
                manager_id=self.manager_id,
                report_id=self.report_id,
                due_at=self.due_at,
                consecutive_misses=consecutive_misses,
            )
        )

    def cancel(self, reason: str) -> None:
        """The pair will not hold it (schedule ended or moved). Only an open check-in is cancelled."""
        if not self.is_open:
            return
        self.record(
            CheckInCancelled(
                checkin_id=self.id,
                schedule_id=self.schedule_id,
                manager_id=self.manager_id,
                report_id=self.report_id,
                due_at=self.due_at,
                reason=reason,
            )
        )

    def require_participant(self, employee_id: str) -> None:
        if employee_id not in self.participants:
            raise Forbidden("only the manager and the report of a check-in may do this")

    def _require_exists(self) -> None:
        if not self.exists:
            raise NotFound(f"check-in {self.id} not found")
