"""The CheckInSchedule aggregate: recurring 1:1 check-ins between a manager and a report.

The schedule holds the rule (cadence, weekday, time of day, time zone, grace period) and
who the pair is. It does not hold its check-ins: each occurrence becomes a ``CheckIn``
aggregate of its own when it falls due (see ``trellis.feedback.application.checkin_deadlines``).
``revision`` counts rule changes, so a deadline armed under an older rule can tell it is stale.
"""

from __future__ import annotations

import datetime as dt

from trellis.contracts.envelope import DomainEvent
from trellis.contracts.feedback import (
    CheckInScheduleChanged,
    CheckInScheduleCreated,
    CheckInScheduleEnded,
    CheckInScheduleReassigned,
)
from trellis.core.errors import InvalidInput, NotFound, RuleViolation
from trellis.core.store.aggregate import Aggregate
from trellis.feedback.domain.recurrence import Recurrence

MAX_GRACE_HOURS = 24 * 14
EARLIEST_START, LATEST_START = dt.date(2000, 1, 1), dt.date(2999, 12, 31)


class CheckInSchedule(Aggregate):
    aggregate_type = "checkin_schedule"

    def __init__(self, aggregate_id: str, tenant_id: str) -> None:
        super().__init__(aggregate_id, tenant_id)
        self.manager_id = ""
        self.report_id = ""
        self.cadence = "weekly"
        self.weekday = 0
        self.time_of_day = "09:00"
        self.timezone = "UTC"
        self.grace_hours = 0
        self.starts_on = dt.date.min
        self.ended = False
        self.end_reason = ""
        self.revision = 0

    @property
    def recurrence(self) -> Recurrence:
        return Recurrence(self.cadence, self.weekday, self.time_of_day, self.timezone, self.starts_on)

    @property
    def grace(self) -> dt.timedelta:
        return dt.timedelta(hours=self.grace_hours)

    def involves(self, employee_id: str) -> bool:
        return employee_id in (self.manager_id, self.report_id)

    def apply(self, event: DomainEvent) -> None:
        match event:
            case CheckInScheduleCreated():
                self.manager_id = event.manager_id
                self.report_id = event.report_id
                self._set_rule(event)
                self.starts_on = event.starts_on
            case CheckInScheduleChanged():
                self._set_rule(event)
            case CheckInScheduleReassigned():
                self.manager_id = event.manager_id
            case CheckInScheduleEnded():
                self.ended = True
                self.end_reason = event.reason
            case _:
                raise TypeError(f"CheckInSchedule cannot apply {type(event).__name__}")

    def _set_rule(self, event: CheckInScheduleCreated | CheckInScheduleChanged) -> None:
        self.cadence = event.cadence
        self.weekday = event.weekday
        self.time_of_day = event.time_of_day
        self.timezone = event.timezone
        self.grace_hours = event.grace_hours
        self.revision += 1

    # ---- commands --------------------------------------------------------------------

    def create(
        self,
        *,
        manager_id: str,
        report_id: str,
        cadence: str,
        weekday: int,
        time_of_day: str,
        timezone: str,
        grace_hours: int,
        starts_on: dt.date,
    ) -> None:
        if self.exists:
            raise RuleViolation(f"check-in schedule {self.id} already exists")
        if manager_id == report_id:
            raise InvalidInput("a check-in needs two people: the manager and the report differ")
        if not EARLIEST_START <= starts_on <= LATEST_START:
            raise InvalidInput(f"starts_on must be between {EARLIEST_START} and {LATEST_START}")
        Recurrence(cadence, weekday, time_of_day, timezone, starts_on)  # validates the rule
        _check_grace(grace_hours)
        self.record(
            CheckInScheduleCreated(
                schedule_id=self.id,
                manager_id=manager_id,
                report_id=report_id,
                cadence=cadence,
                weekday=weekday,
                time_of_day=time_of_day,
                timezone=timezone,
                grace_hours=grace_hours,
                starts_on=starts_on,
            )
        )

    def change(
        self,
        *,
        cadence: str | None = None,
        weekday: int | None = None,
        time_of_day: str | None = None,
        timezone: str | None = None,
        grace_hours: int | None = None,
    ) -> None:
        """Change the rule from the next occurrence on; a change that changes nothing records nothing."""
        self._require_live()
        rule = Recurrence(
            self.cadence if cadence is None else cadence,
            self.weekday if weekday is None else weekday,
            self.time_of_day if time_of_day is None else time_of_day,
            self.timezone if timezone is None else timezone,
            self.starts_on,
        )
        grace = self.grace_hours if grace_hours is None else grace_hours
        if rule == self.recurrence and grace == self.grace_hours:
            return
        _check_grace(grace)
        self.record(
            CheckInScheduleChanged(
                schedule_id=self.id,
                cadence=rule.cadence,
                weekday=rule.weekday,
                time_of_day=rule.time_of_day,
                timezone=rule.timezone,
                grace_hours=grace,
            )
        )

    def reassign(self, manager_id: str) -> None:
        """The report has a new manager: the schedule pairs them from now on."""
        self._require_live()
        if manager_id == self.manager_id:
            return
        if manager_id == self.report_id:
            raise RuleViolation("a report cannot hold check-ins with themself")
        self.record(
            CheckInScheduleReassigned(
                schedule_id=self.id,
                report_id=self.report_id,
                manager_id=manager_id,
                previous_manager_id=self.manager_id,
            )
        )

    def end(self, reason: str) -> None:
        """No more check-ins from this schedule. Ending an ended schedule records nothing."""
        if not self.exists:
            raise NotFound(f"check-in schedule {self.id} not found")
        if self.ended:
            return
        self.record(
            CheckInScheduleEnded(
                schedule_id=self.id, manager_id=self.manager_id, report_id=self.report_id, reason=reason
            )
        )

    def _require_live(self) -> None:
        if not self.exists:
            raise NotFound(f"check-in schedule {self.id} not found")
        if self.ended:
            raise RuleViolation("the check-in schedule has ended")


def _check_grace(hours: int) -> None:
    if not 0 <= hours <= MAX_GRACE_HOURS:
        raise InvalidInput(f"grace_hours must be between 0 and {MAX_GRACE_HOURS}")
