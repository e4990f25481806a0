"""Events of the goals service.

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


@event("GoalCreated", version=1, registry=registry)
class GoalCreated(DomainEvent):
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


@event("GoalChanged", version=1, registry=registry)
class GoalChanged(DomainEvent):
    goal_id: str
    changes: dict[str, Any]
    material: bool


@event("GoalAligned", version=1, registry=registry)
class GoalAligned(DomainEvent):
    goal_id: str
    parent_id: str
    previous_parent_id: str | None = None


@event("GoalUnaligned", version=1, registry=registry)
class GoalUnaligned(DomainEvent):
    goal_id: str
    previous_parent_id: str


@event("KeyResultAdded", version=1, registry=registry)
class KeyResultAdded(DomainEvent):
    goal_id: str
    key_result_id: str
    name: str
    start: float
    target: float
    current: float
    unit: str = ""
    weight: float = 1.0


@event("KeyResultProgressRecorded", version=1, registry=registry)
class KeyResultProgressRecorded(DomainEvent):
    goal_id: str
    key_result_id: str
    value: float
    previous_value: float
    comment: str = ""
    confidence: int | None = Field(default=None, ge=1, le=5)


@event("GoalStatusChanged", version=1, registry=registry)
class GoalStatusChanged(DomainEvent):
    goal_id: str
    status: ManualStatus
    previous_status: str


@event("GoalCompleted", version=1, registry=registry)
class GoalCompleted(DomainEvent):
    goal_id: str


@event("GoalRetired", version=1, registry=registry)
class GoalRetired(DomainEvent):
    goal_id: str
    reason: str = ""


@event("RealignmentRequested", version=1, registry=registry)
class RealignmentRequested(DomainEvent):
    goal_id: str
    cause_goal_id: str
    cause_event_id: str
    reason: Literal["ancestor_retired", "ancestor_changed"]
    ancestor_change: dict[str, Any] = Field(default_factory=dict)


@event("RealignmentResolved", version=1, registry=registry)
class RealignmentResolved(DomainEvent):
    goal_id: str
    cause_event_ids: list[str]
    resolution: Literal["realigned", "unaligned", "confirmed"]
