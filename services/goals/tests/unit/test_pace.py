"""Pace: named periods, expected progress as the share of the period elapsed, and the
status it gives at the thresholds."""

from __future__ import annotations

import datetime as dt

import pytest

from trellis.goals.domain.pace import Thresholds, expected_progress, pace_of, pace_status, period_bounds

D = dt.date


@pytest.mark.parametrize(
    "period, bounds",
    [
        ("2027-Q1", (D(2027, 1, 1), D(2027, 3, 31))),
        ("2027-q4", (D(2027, 10, 1), D(2027, 12, 31))),
        ("2028-H1", (D(2028, 1, 1), D(2028, 6, 30))),
        ("2027", (D(2027, 1, 1), D(2027, 12, 31))),
        ("2028-02", (D(2028, 2, 1), D(2028, 2, 29))),
        ("Q1 planning", None),
        ("2027-Q5", None),
    ],
)
def test_named_periods_have_bounds(period: str, bounds: tuple[dt.date, dt.date] | None) -> None:
    assert period_bounds(period) == bounds


def test_expected_progress_is_the_share_of_the_period_elapsed() -> None:
    start, due = D(2027, 1, 1), D(2027, 1, 10)
    assert expected_progress(start, due, D(2026, 12, 31)) == 0.0
    assert expected_progress(start, due, D(2027, 1, 1)) == 0.1  # by the end of the first day
    assert expected_progress(start, due, D(2027, 1, 5)) == 0.5
    assert expected_progress(start, due, D(2027, 1, 10)) == 1.0
    assert expected_progress(start, due, D(2027, 2, 1)) == 1.0


@pytest.mark.parametrize(
    "actual, expected, status",
    [
        (0.0, 0.0, "on_track"),  # nothing expected yet
        (0.0, 0.1, "on_track"),  # within the grace: not judged yet
        (0.0, 0.11, "off_track"),
        (0.4, 0.5, "on_track"),  # 0.8 of expected
        (0.39, 0.5, "at_risk"),
        (0.25, 0.5, "at_risk"),  # 0.5 of expected
        (0.24, 0.5, "off_track"),
        (1.0, 1.0, "on_track"),
    ],
)
def test_the_status_by_pace_at_the_default_thresholds(actual: float, expected: float, status: str) -> None:
    assert pace_status(actual, expected, Thresholds()) == status


def test_thresholds_are_checked_and_configurable() -> None:
    with pytest.raises(ValueError):
        Thresholds(at_risk_below=0.5, off_track_below=0.6)
    assert pace_status(0.3, 0.5, Thresholds(at_risk_below=0.6, off_track_below=0.2)) == "on_track"
    assert pace_status(0.0, 0.05, Thresholds(grace=0.0)) == "off_track"
    with pytest.raises(ValueError):
        Thresholds(grace=1.0)


def test_a_goal_without_a_due_date_or_a_named_period_has_no_pace_nor_a_finished_one() -> None:
    common = {
        "progress": 0.0,
        "today": D(2027, 2, 1),
        "created_on": D(2027, 1, 1),
        "thresholds": Thresholds(),
    }
    assert pace_of(period="someday", due_date=None, status="on_track", **common) is None  # type: ignore[arg-type]
    assert pace_of(period="2027-Q1", due_date=None, status="completed", **common) is None  # type: ignore[arg-type]
    pace = pace_of(period="someday", due_date=D(2027, 1, 31), status="on_track", **common)  # type: ignore[arg-type]
    assert pace is not None and (pace.start, pace.due, pace.expected, pace.status) == (
        D(2027, 1, 1),
        D(2027, 1, 31),
        1.0,
        "off_track",
    )
    quarter = pace_of(period="2027-Q1", due_date=None, status="at_risk", **common)  # type: ignore[arg-type]
    assert quarter is not None and quarter.due == D(2027, 3, 31) and "0% done" in quarter.reason
