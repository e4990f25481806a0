"""Events of the goals service (stream ``TRELLIS_GOALS``): goals, alignment, key results.

Payloads carry ids as strings and dates as ISO dates; every event names the goal it
belongs to (``goal_id``, equal to the envelope's aggregate id) so a consumer never
needs the envelope to make sense of it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field

from trellis.core.events import DomainEvent, EventRegistry, event

registry = EventRegistry()

Level = Literal["company", "team", "individual"]
Rollup = Literal["key_results", "children", "both"]
ManualStatus = Literal["on_track", "at_risk", "off_track"]
LEVELS: tuple[str, ...] = ("company", "team", "individual")
MANUAL_STATUSES: tuple[str, ...] = ("on_track", "at_risk", "off_track")


@event("GoalCreated", version=1, aggregate="goal", registry=registry)
class GoalCreated(DomainEvent):
    """A company objective, team goal or individual goal was created (aligned if parent_id is set)."""

    goal_id: str
    level: Level
    title: str
    description: str = ""
    owner_id: str
    team_id: str | None = None
    period: str
    due_date: dt.date | None = None
    parent_id: str | None = None
    progress_rollup: Rollup = "both"
    weight: float = 1.0


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


@event("KeyResultAdded", version=1, aggregate="goal", registry=registry)
class KeyResultAdded(DomainEvent):
    """A key result (metric from start to target) was added to a goal."""

    goal_id: str
    key_result_id: str
    name: str
    start: float
    target: float
    current: float
    unit: str = ""
    weight: float = 1.0


@event("KeyResultProgressRecorded", version=1, aggregate="goal", registry=registry)
class KeyResultProgressRecorded(DomainEvent):
    """A key result's current value was recorded, with comment and confidence."""

    goal_id: str
    key_result_id: str
    value: float
    previous_value: float
    comment: str = ""
    confidence: int | None = Field(default=None, ge=1, le=5)


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
