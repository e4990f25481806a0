"""Events of the goals service (stream ``TRELLIS_GOALS``): goals, alignment, key results.

Payloads carry ids as strings and dates as ISO dates; every event names the goal it
belongs to (``goal_id``, equal to the envelope's aggregate id) so a consumer never
needs the envelope to make sense of it.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal

from pydantic import Field

from trellis.contracts.envelope import DomainEvent, EventRegistry, event

registry = EventRegistry()

Level = Literal["company", "team", "individual"]
Kind = Literal["performance", "development"]
Rollup = Literal["key_results", "children", "both"]
ManualStatus = Literal["on_track", "at_risk", "off_track"]
LEVELS: tuple[str, ...] = ("company", "team", "individual")
DEFAULT_WEIGHT = 1.0
UNKNOWN_TARGET_SPAN = 100.0  # a key result whose target was not a number: read as a percentage
MANUAL_STATUSES: tuple[str, ...] = ("on_track", "at_risk", "off_track")


@event("GoalCreated", version=2, aggregate="goal", registry=registry)
class GoalCreated(DomainEvent):
    """A company objective, team goal or individual goal was created (aligned if parent_id is set).

    Version 2: ``weight`` is always a number (version 1 may hold null: see its upcaster).
    """

    goal_id: str
    level: Level
    title: str
    description: str = ""
    owner_id: str
    team_id: str | None = None
    period: str
    start_date: dt.date | None = Field(default=None, description="its own; else its period's first day")
    due_date: dt.date | None = None
    parent_id: str | None = None
    progress_rollup: Rollup = "both"
    weight: float = DEFAULT_WEIGHT
    kind: Kind = Field(
        default="performance",
        description="development: an individual goal of the person's growth, seen only by them, "
        "their manager chain and hr; its career objective is in a private event",
    )


@event("CareerObjectiveRecorded", version=1, aggregate="goal", published=False, registry=registry)
class CareerObjectiveRecorded(DomainEvent):
    """The career objective a development goal serves, in the person's words. Private: kept in
    the goals service's store, never on a stream; read by the person, their manager chain, hr."""

    goal_id: str
    career_objective: str


@event("GoalChanged", version=1, aggregate="goal", registry=registry)
class GoalChanged(DomainEvent):
    """Fields of a goal changed; material when title, description or period did."""

    goal_id: str
    changes: dict[str, Any]
    material: bool


@event("GoalAligned", version=1, aggregate="goal", registry=registry)
class GoalAligned(DomainEvent):
    """A goal was aligned to a (new) parent goal."""

    goal_id: str
    parent_id: str
    previous_parent_id: str | None = None


@event("GoalUnaligned", version=1, aggregate="goal", registry=registry)
class GoalUnaligned(DomainEvent):
    """A goal was unlinked from its parent."""

    goal_id: str
    previous_parent_id: str


@event("KeyResultAdded", version=2, aggregate="goal", registry=registry)
class KeyResultAdded(DomainEvent):
    """A key result (metric from start to target) was added to a goal.

    Version 2: every number is a number (version 1 may hold nulls: see its upcaster).
    """

    goal_id: str
    key_result_id: str
    name: str
    start: float
    target: float
    current: float
    unit: str = ""
    weight: float = DEFAULT_WEIGHT


@event("KeyResultProgressRecorded", version=2, aggregate="goal", registry=registry)
class KeyResultProgressRecorded(DomainEvent):
    """A key result's current value was recorded, with comment and confidence.

    Version 2: ``value`` and ``previous_value`` are numbers (version 1 may hold nulls: see
    its upcaster).
    """

    goal_id: str
    key_result_id: str
    value: float
    previous_value: float
    comment: str = ""
    confidence: int | None = Field(default=None, ge=1, le=5)


@event("KeyResultChanged", version=1, aggregate="goal", registry=registry)
class KeyResultChanged(DomainEvent):
    """A key result's definition changed: each field given is its new value, each null
    field is unchanged. Its current value stays; its progress follows the new scale."""

    goal_id: str
    key_result_id: str
    name: str | None = None
    start: float | None = None
    target: float | None = None
    unit: str | None = None
    weight: float | None = None


@event("KeyResultRemoved", version=1, aggregate="goal", registry=registry)
class KeyResultRemoved(DomainEvent):
    """A key result was taken off its goal; the goal's progress no longer counts it."""

    goal_id: str
    key_result_id: str
    name: str
    reason: str = ""


PaceStatus = Literal["on_track", "at_risk", "off_track"]


@event("GoalPaceChanged", version=1, aggregate="goal_pace", registry=registry)
class GoalPaceChanged(DomainEvent):
    """A goal's status by pace changed: its progress against the share of its period
    elapsed on ``as_of`` (the goals service's thresholds). Decided once per change, when
    progress is recorded or when time passes; the status set by hand is another thing.

    Its aggregate is the goal's pace (``goal_pace``, an id derived from ``goal_id``), not
    the goal: what the clock decides never changes the goal's version."""

    goal_id: str
    status: PaceStatus
    previous_status: PaceStatus
    progress: float = Field(description="0 to 1, rolled up")
    expected_progress: float = Field(description="0 to 1: the share of the goal's span elapsed")
    as_of: dt.date


@event("GoalDueSoon", version=1, aggregate="goal_pace", registry=registry)
class GoalDueSoon(DomainEvent):
    """A goal is due within a few days (the goals service's ``NUDGE_DAYS_BEFORE_DUE``) and
    still behind by pace: decided once per due date, of the goal's pace like
    ``GoalPaceChanged``. Not recorded for a goal on track, completed or retired."""

    goal_id: str
    owner_id: str
    due_date: dt.date
    status: Literal["at_risk", "off_track"]
    progress: float = Field(description="0 to 1, rolled up")
    expected_progress: float = Field(description="0 to 1: the share of the goal's span elapsed")
    as_of: dt.date


@event("PaceThresholdsSet", version=1, aggregate="pace_policy", registry=registry)
class PaceThresholdsSet(DomainEvent):
    """A tenant's thresholds of status by pace, set by an admin (the service's settings are
    the defaults until then): on track while progress >= ``at_risk_below`` x expected, at
    risk down to ``off_track_below`` x expected, nothing judged before ``grace`` of a goal's
    span has elapsed. They apply from now on, to the views and to the next decisions."""

    at_risk_below: float = Field(gt=0, le=1)
    off_track_below: float = Field(gt=0, le=1)
    grace: float = Field(ge=0, lt=1)


@event("GoalStatusChanged", version=1, aggregate="goal", registry=registry)
class GoalStatusChanged(DomainEvent):
    """The owner set a goal's status by hand (on track, at risk, off track)."""

    goal_id: str
    status: ManualStatus
    previous_status: str


@event("GoalCompleted", version=1, aggregate="goal", registry=registry)
class GoalCompleted(DomainEvent):
    """A goal was completed."""

    goal_id: str


@event("GoalRetired", version=1, aggregate="goal", registry=registry)
class GoalRetired(DomainEvent):
    """A goal was retired; goals beneath it are asked to realign."""

    goal_id: str
    reason: str = ""


@event("RealignmentRequested", version=1, aggregate="goal", registry=registry)
class RealignmentRequested(DomainEvent):
    """A goal beneath a retired or materially changed goal must be realigned."""

    goal_id: str
    cause_goal_id: str
    cause_event_id: str
    reason: Literal["ancestor_retired", "ancestor_changed"]
    ancestor_change: dict[str, Any] = Field(default_factory=dict)


@event("RealignmentResolved", version=1, aggregate="goal", registry=registry)
class RealignmentResolved(DomainEvent):
    """A goal's pending realignment requests were resolved by relinking it."""

    goal_id: str
    cause_event_ids: list[str]
    resolution: Literal["realigned", "unaligned", "confirmed"]


# ---- version 1 payloads that hold null for a number ----------------------------------
#
# Before requests and the event store refused non-finite numbers, a NaN or an Infinity
# given for a weight or a value was stored as JSON null: such an event matched no contract,
# and every consumer dead-lettered it (and parked its goal behind it). Version 2 is the
# same shape with every number finite; these upcasters give each null of version 1 the
# meaning below, so those events decode and a redrive applies the parked goals in order.
# A version 1 payload without nulls passes unchanged.


@registry.upcaster("GoalCreated", 1)
def _goal_created_null_weight_is_the_default(payload: dict[str, Any]) -> dict[str, Any]:
    """A null weight is the default weight, 1.0 (as if none had been given)."""
    if "weight" in payload and payload["weight"] is None:
        payload["weight"] = DEFAULT_WEIGHT
    return payload


@registry.upcaster("KeyResultAdded", 1)
def _key_result_added_nulls(payload: dict[str, Any]) -> dict[str, Any]:
    """A null ``start`` is 0.0; a null ``target`` is 100 above the start (the key result is
    read as a percentage from its start: it shows no progress until a value is recorded, and
    never shows as met by accident); a null ``current`` is the start (nothing achieved yet);
    a null ``weight`` is the default weight, 1.0."""
    if payload.get("start") is None:
        payload["start"] = 0.0
    if payload.get("target") is None:
        payload["target"] = payload["start"] + UNKNOWN_TARGET_SPAN
    if payload.get("current") is None:
        payload["current"] = payload["start"]
    if "weight" in payload and payload["weight"] is None:
        payload["weight"] = DEFAULT_WEIGHT
    return payload


@registry.upcaster("KeyResultProgressRecorded", 1)
def _progress_nulls_are_unknown_values(payload: dict[str, Any]) -> dict[str, Any]:
    """A null is a value that is not known. A null ``value``: nothing known was recorded, the
    key result keeps its previous value (``value`` = ``previous_value``). A null
    ``previous_value``: the value before was unknown, so no change is known
    (``previous_value`` = ``value``). Both null: nothing is known; both are 0.0, the start a
    key result with an unknown start is given."""
    value, previous = payload.get("value"), payload.get("previous_value")
    if value is None and previous is None:
        payload["value"] = payload["previous_value"] = 0.0
    elif value is None:
        payload["value"] = previous
    elif previous is None:
        payload["previous_value"] = value
    return payload


# ---- periods ----------------------------------------------------------------------------
# A goal's ``period`` names its span by default: ``2027-Q1`` (a quarter), ``2027-H2`` (a
# half), ``2027`` (a year), ``2027-03`` (a month); a name of another form names none. The
# goals service and its consumers read it with this one function.

_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_HALF = re.compile(r"^(\d{4})-H([12])$")
_YEAR = re.compile(r"^(\d{4})$")
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def period_bounds(period: str) -> tuple[dt.date, dt.date] | None:
    """The first and last day of a named period, or None for a name of another form."""
    period = period.strip().upper()
    if period[:4] == "0000":
        return None  # no year 0 in the calendar
    if found := _QUARTER.match(period):
        year, quarter = int(found[1]), int(found[2])
        return dt.date(year, 3 * quarter - 2, 1), _last_day(year, 3 * quarter)
    if found := _HALF.match(period):
        year, half = int(found[1]), int(found[2])
        return dt.date(year, 6 * half - 5, 1), _last_day(year, 6 * half)
    if found := _YEAR.match(period):
        year = int(found[1])
        return dt.date(year, 1, 1), dt.date(year, 12, 31)
    if found := _MONTH.match(period):
        year, month = int(found[1]), int(found[2])
        return dt.date(year, month, 1), _last_day(year, month)
    return None


def _last_day(year: int, month: int) -> dt.date:
    first_of_next = dt.date(year + month // 12, month % 12 + 1, 1)
    return first_of_next - dt.timedelta(days=1)
