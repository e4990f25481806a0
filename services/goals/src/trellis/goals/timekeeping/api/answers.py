"""What the time-tracking routes answer, each to the person whose time it is and nobody else.

Each is an ``Answer`` of the shared kit: exactly the keys it names.
"""

from __future__ import annotations

from pydantic import Field

from trellis.core.runtime.api_kit import Answer, CommandAnswer


class TimeEntry(Answer):
    """One entry of the caller's time."""

    id: str
    day: str = Field(description="ISO date")
    iso_week: str = Field(description="the ISO week of `day`, e.g. `2027-W03`")
    minutes: int = Field(description="1 to 1440")
    goal_id: str | None = Field(description="the goal it was on (null: on a label)")
    key_result_id: str | None = Field(description="the key result of that goal, if one")
    label: str | None = Field(description="the free label it was on (null: on a goal)")
    note: str
    logged_at: str = Field(description="ISO 8601, with its offset")
    changed_at: str | None = Field(description="when it was last changed (null: never)")


class TimeEntries(Answer):
    """The caller's entries from `from_date` to `to_date` (both included), in day order."""

    from_date: str
    to_date: str
    total_minutes: int
    entries: list[TimeEntry]


class WeekMinutes(Answer):
    week: str = Field(description="ISO week, e.g. `2027-W03`")
    starts_on: str = Field(description="its Monday")
    minutes: int


class KeyResultMinutes(Answer):
    key_result_id: str
    name: str | None = Field(description="null once the key result is removed")
    minutes: int


class GoalMinutes(Answer):
    goal_id: str
    title: str | None = Field(description="null until the goal's view has it")
    minutes: int = Field(description="on the goal, its key results included")
    per_key_result: list[KeyResultMinutes] = Field(description="the part of them on each key result")


class LabelMinutes(Answer):
    label: str
    minutes: int


class TimeSummary(Answer):
    """Where the caller's time went from `from_date` to `to_date`, most first."""

    from_date: str
    to_date: str
    total_minutes: int
    entries: int
    per_week: list[WeekMinutes] = Field(description="ISO weeks, in order, those with time only")
    per_goal: list[GoalMinutes]
    per_label: list[LabelMinutes]


class TimeEntryAnswer(CommandAnswer):
    """What a command did to the caller's timesheet (``id``): ``entry_id`` is the entry."""

    entry_id: str


class TimesheetErasedAnswer(CommandAnswer):
    """The caller's timesheet (``id``) erased: no entry, no text of one, is left to read."""

    entries_erased: int
