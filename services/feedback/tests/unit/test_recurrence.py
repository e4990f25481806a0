"""When check-ins fall: cadences, time zones, daylight saving."""

from __future__ import annotations

import datetime as dt

import pytest

from trellis.core.errors import InvalidInput
from trellis.feedback.domain.recurrence import Recurrence

UTC = dt.UTC


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def test_weekly_falls_on_the_weekday_at_the_local_time() -> None:
    rule = Recurrence("weekly", 0, "09:00", "Europe/Berlin", dt.date(2026, 1, 1))  # a Thursday
    first = rule.next_after(at(2026, 1, 1, 0, 0))
    assert first == at(2026, 1, 5, 8, 0)  # Monday 09:00 CET
    assert rule.next_after(first) == at(2026, 1, 12, 8, 0)


def test_a_local_time_keeps_its_wall_clock_across_daylight_saving() -> None:
    rule = Recurrence("weekly", 0, "09:00", "Europe/Berlin", dt.date(2026, 3, 23))
    before = rule.next_after(at(2026, 3, 22))
    after = rule.next_after(before)
    assert before == at(2026, 3, 23, 8, 0)  # CET, UTC+1
    assert after == at(2026, 3, 30, 7, 0)  # CEST, UTC+2: still 09:00 in Berlin


def test_biweekly_counts_every_other_week_from_the_first_occurrence() -> None:
    rule = Recurrence("biweekly", 2, "14:30", "UTC", dt.date(2026, 1, 5))
    first = rule.next_after(at(2026, 1, 5))
    second = rule.next_after(first)
    assert (first, second) == (at(2026, 1, 7, 14, 30), at(2026, 1, 21, 14, 30))
    assert rule.next_after(at(2026, 1, 10)) == at(2026, 1, 21, 14, 30)  # not the 14th


def test_monthly_falls_on_the_first_weekday_of_each_month() -> None:
    rule = Recurrence("monthly", 0, "10:00", "UTC", dt.date(2026, 1, 10))
    first = rule.next_after(at(2026, 1, 10))
    assert first == at(2026, 2, 2, 10, 0)  # the first Monday of January (the 5th) is before the start
    assert rule.next_after(first) == at(2026, 3, 2, 10, 0)
    assert rule.next_after(at(2026, 12, 15)) == at(2027, 1, 4, 10, 0)


def test_a_time_zone_behind_utc_on_the_local_date_before() -> None:
    rule = Recurrence("weekly", 0, "20:00", "America/New_York", dt.date(2026, 1, 1))
    # Tuesday 00:30 UTC is still Monday 19:30 in New York: the Monday 20:00 is ahead.
    assert rule.next_after(at(2026, 1, 6, 0, 30)) == at(2026, 1, 6, 1, 0)


def test_the_next_occurrence_is_strictly_after() -> None:
    rule = Recurrence("weekly", 0, "09:00", "UTC", dt.date(2026, 1, 5))
    assert rule.next_after(at(2026, 1, 5, 9, 0)) == at(2026, 1, 12, 9, 0)


@pytest.mark.parametrize(
    ("cadence", "weekday", "time", "zone"),
    [
        ("daily", 0, "09:00", "UTC"),
        ("weekly", 7, "09:00", "UTC"),
        ("weekly", 0, "9am", "UTC"),
        ("weekly", 0, "25:00", "UTC"),
        ("weekly", 0, "09:00", "Mars/Olympus"),
        ("weekly", 0, "09:00", "../etc/passwd"),
    ],
)
def test_a_bad_rule_is_invalid_input(cadence: str, weekday: int, time: str, zone: str) -> None:
    with pytest.raises(InvalidInput):
        Recurrence(cadence, weekday, time, zone, dt.date(2026, 1, 1))
