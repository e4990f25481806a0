"""The Timesheet aggregate: one person's time entries, a day never over 1440 minutes.

One timesheet per person and tenant (``timesheet_id``: derived, so there is nothing to
look up and no way to address anyone else's: every command names the caller's own).
It knows each live entry's day and minutes, which is all its rules need; what an entry is
on and its note arrive sealed (``Content``, sealed by the application with the entry's key)
and are kept, and carried into the events, as they are.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from trellis.contracts.envelope import DomainEvent
from trellis.contracts.timekeeping import (
    MINUTES_PER_DAY,
    TimeEntryChanged,
    TimeEntryDeleted,
    TimeEntryLogged,
    TimesheetErased,
)
from trellis.core.errors import NotFound, RuleViolation
from trellis.core.store.aggregate import Aggregate
from trellis.goals.timekeeping.domain.entry import DayOverLimit, check_day, check_minutes

_NAMESPACE = uuid.UUID("5f0c2a8e-3b7d-4e61-9a0f-8c1d2e3b4a57")


def timesheet_id(tenant_id: str, person_id: str) -> str:
    """The id of ``person_id``'s timesheet in ``tenant_id``: the same every time."""
    return str(uuid.uuid5(_NAMESPACE, f"{tenant_id}/{person_id}"))


@dataclass(frozen=True, slots=True)
class Logged:
    """A live entry as the timesheet knows it: its day, its minutes, its sealed content."""

    day: dt.date
    minutes: int
    sealed: str


class Timesheet(Aggregate):
    aggregate_type = "timesheet"

    def __init__(self, aggregate_id: str, tenant_id: str) -> None:
        super().__init__(aggregate_id, tenant_id)
        self.person_id = ""
        self.entries: dict[str, Logged] = {}

    def apply(self, event: DomainEvent) -> None:
        match event:
            case TimeEntryLogged() | TimeEntryChanged():
                self.person_id = event.person_id
                self.entries[event.entry_id] = Logged(event.day, event.minutes, event.sealed)
            case TimeEntryDeleted():
                self.entries.pop(event.entry_id, None)
            case TimesheetErased():
                self.entries.clear()
            case _:
                raise TypeError(f"Timesheet cannot apply {type(event).__name__}")

    def minutes_on(self, day: dt.date, *, besides: str | None = None) -> int:
        """The minutes logged on ``day``, leaving out the entry ``besides``."""
        return sum(e.minutes for entry_id, e in self.entries.items() if e.day == day and entry_id != besides)

    # ---- commands --------------------------------------------------------------------

    def log(
        self, *, person_id: str, entry_id: str, day: dt.date, minutes: int, sealed: str, today: dt.date
    ) -> None:
        if entry_id in self.entries:
            raise RuleViolation(f"time entry {entry_id} exists already")
        self._check(day, minutes, today, besides=None)
        self.record(
            TimeEntryLogged(person_id=person_id, entry_id=entry_id, day=day, minutes=minutes, sealed=sealed)
        )

    def change(self, entry_id: str, *, day: dt.date, minutes: int, sealed: str, today: dt.date) -> None:
        self.entry(entry_id)
        self._check(day, minutes, today, besides=entry_id)
        self.record(
            TimeEntryChanged(
                person_id=self.person_id, entry_id=entry_id, day=day, minutes=minutes, sealed=sealed
            )
        )

    def delete(self, entry_id: str) -> None:
        self.entry(entry_id)
        self.record(TimeEntryDeleted(person_id=self.person_id, entry_id=entry_id))

    def erase(self, person_id: str) -> int:
        """Erase every entry (recorded even when none is left: the person asked); how many."""
        erased = len(self.entries)
        self.record(TimesheetErased(person_id=person_id, entries=erased))
        return erased

    def entry(self, entry_id: str) -> Logged:
        """A live entry (``NotFound`` for one deleted, erased or never logged here)."""
        found = self.entries.get(entry_id)
        if found is None:
            raise NotFound(f"time entry {entry_id} not found")
        return found

    def _check(self, day: dt.date, minutes: int, today: dt.date, *, besides: str | None) -> None:
        check_minutes(minutes)
        check_day(day, today)
        others = self.minutes_on(day, besides=besides)
        if others + minutes > MINUTES_PER_DAY:
            raise DayOverLimit(
                f"{day.isoformat()} would have {others + minutes} minutes logged, "
                f"more than the {MINUTES_PER_DAY} of a day",
                details={
                    "field": "minutes",
                    "day": day.isoformat(),
                    "logged": others,
                    "requested": minutes,
                    "limit": MINUTES_PER_DAY,
                },
            )
