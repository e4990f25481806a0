"""When check-ins fall: a cadence, a weekday and a time of day in an IANA time zone.

- ``weekly``: every week on ``weekday``, from the first such day on or after ``starts_on``;
- ``biweekly``: every other week, counted from that same first day;
- ``monthly``: the first ``weekday`` of every month (e.g. the first Monday), from
  ``starts_on`` on.

Occurrences are computed in local time and converted to UTC, so a 09:00 check-in stays at
09:00 on the wall clock across daylight-saving changes. A local time that does not exist
on a given day (the hour skipped in spring) takes the offset in force before the change
(``fold=0``), so it falls an hour later on the wall clock that day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from trellis.core.errors import InvalidInput

CADENCES = ("weekly", "biweekly", "monthly")
_STEP_DAYS = {"weekly": 7, "biweekly": 14}


def parse_time_of_day(value: str) -> dt.time:
    """``"HH:MM"`` (24-hour clock) as a time."""
    try:
        hours, minutes = value.split(":")
        if len(hours) != 2 or len(minutes) != 2:
            raise ValueError(value)
        return dt.time(int(hours), int(minutes))
    except ValueError as exc:
        raise InvalidInput(f"time_of_day must be HH:MM (24-hour clock), not {value!r}") from exc


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (e.g. ``Europe/Berlin``)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"unknown time zone {name!r}: use an IANA name such as Europe/Berlin") from exc


@dataclass(frozen=True)
class Recurrence:
    """The rule of a check-in schedule. Validated on construction."""

    cadence: str
    weekday: int  # 0 = Monday
    time_of_day: str  # "HH:MM" in ``timezone``
    timezone: str
    starts_on: dt.date

    def __post_init__(self) -> None:
        if self.cadence not in CADENCES:
            raise InvalidInput(f"cadence must be one of {', '.join(CADENCES)}")
        if not 0 <= self.weekday <= 6:
            raise InvalidInput("weekday must be 0 (Monday) to 6 (Sunday)")
        parse_time_of_day(self.time_of_day)
        zone(self.timezone)

    def next_after(self, moment: dt.datetime) -> dt.datetime:
        """The first occurrence strictly after ``moment`` (aware), in UTC."""
        if moment.tzinfo is None:
            raise ValueError("moment must be timezone-aware")
        tz = zone(self.timezone)
        at = parse_time_of_day(self.time_of_day)
        # A day before the local date covers time zones behind UTC.
        day = max(self.starts_on, moment.astimezone(tz).date() - dt.timedelta(days=1))
        for candidate in self._days_from(day):
            occurrence = dt.datetime.combine(candidate, at, tzinfo=tz).astimezone(dt.UTC)
            if occurrence > moment:
                return occurrence
        raise AssertionError("unreachable: occurrences never end")

    def _days_from(self, day: dt.date) -> Iterator[dt.date]:
        """Local dates of occurrences on or after ``day``, in order (endless)."""
        if self.cadence == "monthly":
            year, month = day.year, day.month
            while True:
                found = _first_weekday_of_month(year, month, self.weekday)
                if found >= day:
                    yield found
                year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        step = _STEP_DAYS[self.cadence]
        # the first ``weekday`` on or after ``starts_on`` anchors the series
        anchor = self.starts_on + dt.timedelta(days=(self.weekday - self.starts_on.weekday()) % 7)
        periods = max(0, -(-(day - anchor).days // step))  # ceiling
        found = anchor + dt.timedelta(days=periods * step)
        while True:
            yield found
            found += dt.timedelta(days=step)


def _first_weekday_of_month(year: int, month: int, weekday: int) -> dt.date:
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(weekday - first.weekday()) % 7)
