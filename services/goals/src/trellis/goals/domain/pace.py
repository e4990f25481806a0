"""Pace: where a goal stands against the time it has, not only against its target.

A goal runs from a start to a due date. Either is its own (``start_date``, ``due_date``)
or, by default, its named period's: ``2027-Q1`` (a quarter), ``2027-H2`` (a half),
``2027`` (a year) or ``2027-03`` (a month). A goal with no due date and a period of
another form has no pace.

Expected progress on a day is the linear share of the period elapsed by the end of that
day: 0 before the start, 1 from the due date on. Status by pace compares actual with
expected progress: ``on_track`` while actual >= ``at_risk_below`` x expected,
``at_risk`` while actual >= ``off_track_below`` x expected, ``off_track`` below that
(defaults 0.8 and 0.5). Nothing is judged before ``grace`` of the period has elapsed
(default a tenth): a goal starts on track, not off track on its second day. A completed
or retired goal has no pace.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from trellis.contracts.goals import period_bounds

__all__ = ["period_bounds"]  # defined with the contract: consumers read periods the same way

PaceStatus = Literal["on_track", "at_risk", "off_track"]


@dataclass(frozen=True)
class Thresholds:
    at_risk_below: float = 0.8
    off_track_below: float = 0.5
    grace: float = 0.1

    def __post_init__(self) -> None:
        if not 0 < self.off_track_below < self.at_risk_below <= 1:
            raise ValueError("thresholds must satisfy 0 < off_track_below < at_risk_below <= 1")
        if not 0 <= self.grace < 1:
            raise ValueError("grace must be at least 0 and below 1")


@dataclass(frozen=True)
class Pace:
    start: dt.date
    due: dt.date
    expected: float
    status: PaceStatus
    reason: str


def expected_progress(start: dt.date, due: dt.date, today: dt.date) -> float:
    """The share of [start, due] elapsed by the end of ``today``, in [0, 1]."""
    if today < start:
        return 0.0
    if today >= due:
        return 1.0
    return round(((today - start).days + 1) / ((due - start).days + 1), 4)


def pace_status(actual: float, expected: float, thresholds: Thresholds) -> PaceStatus:
    if expected <= thresholds.grace or actual >= thresholds.at_risk_below * expected:
        return "on_track"
    if actual >= thresholds.off_track_below * expected:
        return "at_risk"
    return "off_track"


def pace_of(
    *,
    period: str,
    due_date: dt.date | None,
    start_date: dt.date | None = None,
    progress: float,
    status: str,
    today: dt.date,
    created_on: dt.date,
    thresholds: Thresholds,
) -> Pace | None:
    """A goal's pace on ``today``; None when it has no due date to measure against, or is done."""
    if status in ("completed", "retired"):
        return None
    bounds = period_bounds(period)
    if bounds is None and due_date is None:
        return None
    start = start_date or (bounds[0] if bounds else created_on)
    due = due_date or (bounds[1] if bounds else start)
    if due < start:
        start = due
    expected = expected_progress(start, due, today)
    status_now = pace_status(progress, expected, thresholds)
    reason = (
        f"{progress:.0%} done, {expected:.0%} expected by {today.isoformat()} "
        f"({start.isoformat()} to {due.isoformat()})"
    )
    return Pace(start, due, expected, status_now, reason)
