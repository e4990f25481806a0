"""What a time entry is on, and the rules for its day, minutes, label and note (no I/O).

An entry is on **either a goal** (optionally one of its key results) **or a free label**,
never both and never neither: a label beside a goal would make the per-goal and the
per-label summaries count the same minutes twice, and an entry on nothing cannot be
summarised at all. A key result is named with its goal (``goal_id`` and
``key_result_id``), as everywhere in the goals API.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from trellis.contracts.timekeeping import MINUTES_PER_DAY
from trellis.core.errors import InvalidInput

MAX_LABEL = 80  # a short tag ("support rota", "hiring"), not a description: that is the note
MAX_NOTE = 2000
FUTURE_DAYS = 1  # today by the service's clock, and tomorrow: someone east of UTC is there already


class InvalidMinutes(InvalidInput):
    code = "invalid_minutes"


class DayInFuture(InvalidInput):
    code = "day_in_future"


class DayOverLimit(InvalidInput):
    """The entries of one person on one day would add up to more than a day."""

    code = "day_over_limit"


class SubjectMissing(InvalidInput):
    code = "subject_missing"


class SubjectAmbiguous(InvalidInput):
    code = "subject_ambiguous"


class KeyResultWithoutGoal(InvalidInput):
    code = "key_result_without_goal"


class InvalidLabel(InvalidInput):
    code = "invalid_label"


class InvalidNote(InvalidInput):
    code = "invalid_note"


class UnknownGoal(InvalidInput):
    """No such goal in the caller's tenant, or one they may not see (never said which)."""

    code = "unknown_goal"


class UnknownKeyResult(InvalidInput):
    """The goal has no such key result (or no longer has it)."""

    code = "unknown_key_result"


@dataclass(frozen=True)
class Subject:
    """What the time was on: a goal (and perhaps one of its key results), or a label."""

    goal_id: str | None = None
    key_result_id: str | None = None
    label: str | None = None

    @classmethod
    def of(cls, goal_id: str | None, key_result_id: str | None, label: str | None) -> Subject:
        label = _label(label)
        if goal_id and label:
            raise SubjectAmbiguous(
                "an entry is on a goal (or one of its key results) or on a label, not both",
                details={"fields": ["goal_id", "label"]},
            )
        if key_result_id and not goal_id:
            raise KeyResultWithoutGoal(
                "name the key result's goal too (goal_id)", details={"fields": ["goal_id", "key_result_id"]}
            )
        if not goal_id and not label:
            raise SubjectMissing(
                "say what the time was on: a goal_id (with a key_result_id or not) or a label",
                details={"fields": ["goal_id", "key_result_id", "label"]},
            )
        return cls(goal_id or None, key_result_id or None, label)


@dataclass(frozen=True)
class Content:
    """What is sealed in an entry's events: its subject and its note."""

    subject: Subject
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self.subject), "note": self.note}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Content:
        subject = Subject(data.get("goal_id"), data.get("key_result_id"), data.get("label"))
        return cls(subject, str(data.get("note") or ""))


def check_minutes(minutes: object) -> int:
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= MINUTES_PER_DAY:
        raise InvalidMinutes(
            f"minutes are a whole number from 1 to {MINUTES_PER_DAY}",
            details={"field": "minutes", "minutes": str(minutes)},
        )
    return minutes


def check_day(day: dt.date, today: dt.date) -> dt.date:
    latest = today + dt.timedelta(days=FUTURE_DAYS)
    if day > latest:
        raise DayInFuture(
            f"time is logged once spent: {day.isoformat()} is after {latest.isoformat()}",
            details={"field": "day", "day": day.isoformat(), "latest": latest.isoformat()},
        )
    return day


def check_note(note: str | None) -> str:
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise InvalidNote(f"a note has at most {MAX_NOTE} characters", details={"field": "note"})
    try:
        note.encode()
    except UnicodeEncodeError:  # a lone surrogate (JSON lets "\ud800" through): not text
        raise InvalidNote("a note is text: it holds a lone surrogate", details={"field": "note"}) from None
    return note


def _label(label: str | None) -> str | None:
    if label is None:
        return None
    label = " ".join(label.split())  # one line, single spaces: labels group the summaries
    if not label:
        return None
    if len(label) > MAX_LABEL:
        raise InvalidLabel(f"a label has at most {MAX_LABEL} characters", details={"field": "label"})
    if not label.isprintable():
        raise InvalidLabel("a label is printable text", details={"field": "label"})
    return label
