"""The Goal aggregate: a company objective, team goal or individual goal.

Command methods check the rules against the current state and record the events of
the decision; ``apply`` is the only place state changes. A command that would change
nothing records nothing (so retries and duplicates are harmless).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from trellis.contracts.envelope import DomainEvent
from trellis.contracts.goals import (
    LEVELS,
    MANUAL_STATUSES,
    CareerObjectiveRecorded,
    GoalAligned,
    GoalChanged,
    GoalCompleted,
    GoalCreated,
    GoalPaceChanged,
    GoalRetired,
    GoalStatusChanged,
    GoalUnaligned,
    KeyResultAdded,
    KeyResultChanged,
    KeyResultProgressRecorded,
    KeyResultRemoved,
    RealignmentRequested,
    RealignmentResolved,
)
from trellis.core.errors import InvalidInput, NotFound, RuleViolation
from trellis.core.store.aggregate import Aggregate
from trellis.goals.domain.pace import period_bounds
from trellis.goals.domain.progress import ROLLUPS, check_weight, key_result_progress

# Which levels a goal of each level may align to.
ALLOWED_PARENTS = {"company": (), "team": ("company",), "individual": ("team", "company")}
MATERIAL_FIELDS = ("title", "description", "period")
KEY_RESULT_FIELDS = ("name", "start", "target", "unit", "weight")
KINDS = ("performance", "development")
MAX_CAREER_OBJECTIVE = 2000


@dataclass(slots=True)
class KeyResult:
    """A key result's state inside its Goal (mutated only by ``Goal.apply``)."""

    name: str
    start: float
    target: float
    current: float
    unit: str
    weight: float
    confidence: int | None = None  # as of the last recorded progress, like the read view

    @property
    def progress(self) -> float:
        return key_result_progress(self.start, self.target, self.current)


class Goal(Aggregate):
    aggregate_type = "goal"

    def __init__(self, aggregate_id: str, tenant_id: str) -> None:
        super().__init__(aggregate_id, tenant_id)
        self.level = ""
        self.title = ""
        self.description = ""
        self.owner_id = ""
        self.team_id: str | None = None
        self.period = ""
        self.start_date: dt.date | None = None
        self.due_date: dt.date | None = None
        self.status = "on_track"
        self.status_by_hand = False  # set by hand since the last progress update: it wins until then
        self.kind = "performance"
        self.career_objective = ""  # a development goal's (private: CareerObjectiveRecorded)
        self.parent_id: str | None = None
        self.progress_rollup = "both"
        self.weight = 1.0
        self.key_results: dict[str, KeyResult] = {}
        self.pending_realignments: list[str] = []

    # ---- state -----------------------------------------------------------------------

    @property
    def is_retired(self) -> bool:
        return self.status == "retired"

    @property
    def is_completed(self) -> bool:
        return self.status == "completed"

    def progress_of_key_results(self) -> list[tuple[float, float]]:
        return [(kr.progress, kr.weight) for kr in self.key_results.values()]

    def apply(self, event: DomainEvent) -> None:
        match event:
            case GoalCreated():
                self.level = event.level
                self.title = event.title
                self.description = event.description
                self.owner_id = event.owner_id
                self.team_id = event.team_id
                self.period = event.period
                self.start_date = event.start_date
                self.due_date = event.due_date
                self.parent_id = event.parent_id
                self.progress_rollup = event.progress_rollup
                self.weight = event.weight
                self.kind = event.kind
            case CareerObjectiveRecorded():
                self.career_objective = event.career_objective
            case GoalChanged():
                for key, value in event.changes.items():
                    if key in ("start_date", "due_date"):
                        value = dt.date.fromisoformat(value) if value else None
                    elif key == "weight":
                        value = float(value)
                    setattr(self, key, value)
            case GoalAligned():
                self.parent_id = event.parent_id
            case GoalUnaligned():
                self.parent_id = None
            case KeyResultAdded():
                self.key_results[event.key_result_id] = KeyResult(
                    event.name, event.start, event.target, event.current, event.unit, event.weight
                )
            case KeyResultProgressRecorded():
                kr = self.key_results[event.key_result_id]
                kr.current = event.value
                kr.confidence = event.confidence
                self.status_by_hand = False
            case KeyResultChanged():
                kr = self.key_results[event.key_result_id]
                for field in KEY_RESULT_FIELDS:
                    value = getattr(event, field)
                    if value is not None:
                        setattr(kr, field, value)
            case KeyResultRemoved():
                del self.key_results[event.key_result_id]
            case GoalStatusChanged():
                self.status = event.status
                self.status_by_hand = True
            case GoalPaceChanged():
                pass  # an earlier build kept pace in the goal's stream: now a GoalPace of its own
            case GoalCompleted():
                self.status = "completed"
            case GoalRetired():
                self.status = "retired"
            case RealignmentRequested():
                self.pending_realignments.append(event.cause_event_id)
            case RealignmentResolved():
                self.pending_realignments = [
                    c for c in self.pending_realignments if c not in event.cause_event_ids
                ]
            case _:
                raise TypeError(f"Goal cannot apply {type(event).__name__}")

    # ---- commands --------------------------------------------------------------------

    def create(
        self,
        *,
        level: str,
        title: str,
        description: str = "",
        owner_id: str,
        team_id: str | None = None,
        period: str,
        start_date: dt.date | None = None,
        due_date: dt.date | None = None,
        parent: Goal | None = None,
        parent_ancestor_ids: list[str] | None = None,
        progress_rollup: str = "both",
        weight: float = 1.0,
        kind: str = "performance",
        career_objective: str | None = None,
    ) -> None:
        if self.exists:
            raise RuleViolation(f"goal {self.id} already exists")
        if level not in LEVELS:
            raise InvalidInput(f"level must be one of {', '.join(LEVELS)}")
        if not title.strip():
            raise InvalidInput("a goal needs a title")
        if not period.strip():
            raise InvalidInput("a goal needs a period")
        if progress_rollup not in ROLLUPS:
            raise InvalidInput(f"progress_rollup must be one of {', '.join(ROLLUPS)}")
        check_weight(weight)
        _check_span(period.strip(), start_date, due_date)
        objective = _check_kind(kind, level, career_objective)
        self.level = level  # the alignment check reads it
        if parent is not None:
            self._check_parent(parent, parent_ancestor_ids or [])
        self.record(
            GoalCreated(
                goal_id=self.id,
                level=level,
                title=title.strip(),
                description=description,
                owner_id=owner_id,
                team_id=team_id,
                period=period.strip(),
                start_date=start_date,
                due_date=due_date,
                parent_id=parent.id if parent else None,
                progress_rollup=progress_rollup,
                weight=weight,
                kind=kind,
            )
        )
        if objective:
            self.record(CareerObjectiveRecorded(goal_id=self.id, career_objective=objective))

    @property
    def is_development(self) -> bool:
        return self.kind == "development"

    def set_career_objective(self, career_objective: str) -> None:
        """Rewrite the career objective of a development goal (nothing if unchanged)."""
        self._require_exists()
        if not self.is_development:
            raise InvalidInput(
                "only a development goal has a career objective", details={"field": "career_objective"}
            )
        objective = _check_kind(self.kind, self.level, career_objective)
        if objective != self.career_objective:
            self.record(CareerObjectiveRecorded(goal_id=self.id, career_objective=objective))

    def align(self, parent: Goal, parent_ancestor_ids: list[str]) -> None:
        self._require_exists()
        self._require_open("aligned")
        self._check_parent(parent, parent_ancestor_ids)
        same = parent.id == self.parent_id
        if same and not self.pending_realignments:
            return
        if not same:
            self.record(GoalAligned(goal_id=self.id, parent_id=parent.id, previous_parent_id=self.parent_id))
        if self.pending_realignments:
            self.record(
                RealignmentResolved(
                    goal_id=self.id,
                    cause_event_ids=list(self.pending_realignments),
                    resolution="confirmed" if same else "realigned",
                )
            )

    def unalign(self) -> None:
        self._require_exists()
        if self.parent_id is None:
            raise RuleViolation("the goal is not aligned to anything")
        self.record(GoalUnaligned(goal_id=self.id, previous_parent_id=self.parent_id))
        if self.pending_realignments:
            self.record(
                RealignmentResolved(
                    goal_id=self.id, cause_event_ids=list(self.pending_realignments), resolution="unaligned"
                )
            )

    def change(
        self,
        *,
        title: str | None = None,
        description: str | None = None,
        period: str | None = None,
        start_date: dt.date | None = None,
        due_date: dt.date | None = None,
        owner_id: str | None = None,
        weight: float | None = None,
        progress_rollup: str | None = None,
    ) -> None:
        self._require_exists()
        if self.is_retired:
            raise RuleViolation("a retired goal cannot be changed")
        if weight is not None:
            check_weight(weight)
        if progress_rollup is not None and progress_rollup not in ROLLUPS:
            raise InvalidInput(f"progress_rollup must be one of {', '.join(ROLLUPS)}")
        if owner_id is not None and not owner_id.strip():
            raise InvalidInput("a goal needs an owner", details={"field": "owner_id"})
        if title is not None and not title.strip():
            raise InvalidInput("a goal needs a title")
        if period is not None and not period.strip():
            raise InvalidInput("a goal needs a period")
        _check_span(
            period.strip() if period is not None else self.period,
            start_date or self.start_date,
            due_date or self.due_date,
        )
        proposed: dict[str, Any] = {
            "title": title.strip() if title is not None else None,
            "description": description,
            "period": period.strip() if period is not None else None,
            "start_date": start_date,
            "due_date": due_date,
            "owner_id": owner_id,
            "weight": float(weight) if weight is not None else None,
            "progress_rollup": progress_rollup,
        }
        changes: dict[str, Any] = {}
        for key, value in proposed.items():
            if value is not None and value != getattr(self, key):
                changes[key] = value.isoformat() if isinstance(value, dt.date) else value
        if not changes:
            return
        material = any(key in changes for key in MATERIAL_FIELDS)
        self.record(GoalChanged(goal_id=self.id, changes=changes, material=material))

    def add_key_result(
        self,
        key_result_id: str,
        name: str,
        start: float,
        target: float,
        current: float | None = None,
        unit: str = "",
        weight: float = 1.0,
    ) -> None:
        self._require_exists()
        self._require_open("given key results")
        if not name.strip():
            raise InvalidInput("a key result needs a name")
        check_weight(weight)
        _check_finite(start=start, target=target, current=start if current is None else current)
        if start == target:
            raise InvalidInput(
                "a key result needs a target different from its start",
                details={"field": "target", "start": start, "target": target},
            )
        if key_result_id in self.key_results:
            raise RuleViolation(f"key result {key_result_id} already exists")
        self.record(
            KeyResultAdded(
                goal_id=self.id,
                key_result_id=key_result_id,
                name=name.strip(),
                start=start,
                target=target,
                current=start if current is None else current,
                unit=unit,
                weight=weight,
            )
        )

    def change_key_result(
        self,
        key_result_id: str,
        *,
        name: str | None = None,
        start: float | None = None,
        target: float | None = None,
        unit: str | None = None,
        weight: float | None = None,
    ) -> None:
        """Rename a key result or change its scale, unit or weight (only what differs)."""
        self._require_exists()
        self._require_open("given changed key results")
        kr = self._key_result(key_result_id)
        if name is not None and not name.strip():
            raise InvalidInput("a key result needs a name", details={"field": "name"})
        if weight is not None:
            check_weight(weight)
        _check_finite(**{k: v for k, v in (("start", start), ("target", target)) if v is not None})
        new_start = kr.start if start is None else start
        new_target = kr.target if target is None else target
        if new_start == new_target:
            raise InvalidInput(
                "a key result needs a target different from its start",
                details={"field": "target", "start": new_start, "target": new_target},
            )
        proposed = {
            "name": name.strip() if name is not None else None,
            "start": start,
            "target": target,
            "unit": unit,
            "weight": float(weight) if weight is not None else None,
        }
        changes = {k: v for k, v in proposed.items() if v is not None and v != getattr(kr, k)}
        if not changes:
            return
        self.record(KeyResultChanged(goal_id=self.id, key_result_id=key_result_id, **changes))

    def remove_key_result(self, key_result_id: str, reason: str = "") -> None:
        self._require_exists()
        self._require_open("given changed key results")
        kr = self._key_result(key_result_id)
        self.record(
            KeyResultRemoved(goal_id=self.id, key_result_id=key_result_id, name=kr.name, reason=reason)
        )

    def _key_result(self, key_result_id: str) -> KeyResult:
        kr = self.key_results.get(key_result_id)
        if kr is None:
            raise NotFound(f"key result {key_result_id} not found on goal {self.id}")
        return kr

    def record_progress(
        self, key_result_id: str, value: float, comment: str = "", confidence: int | None = None
    ) -> None:
        self._require_exists()
        kr = self.key_results.get(key_result_id)
        if kr is None:
            raise NotFound(f"key result {key_result_id} not found on goal {self.id}")
        if self.is_retired:
            raise RuleViolation("progress cannot be recorded on a retired goal")
        if confidence is not None and not 1 <= confidence <= 5:
            raise InvalidInput("confidence must be between 1 and 5")
        _check_finite(value=value)
        if value == kr.current and not comment:
            return
        self.record(
            KeyResultProgressRecorded(
                goal_id=self.id,
                key_result_id=key_result_id,
                value=value,
                previous_value=kr.current,
                comment=comment,
                confidence=confidence,
            )
        )

    def set_status(self, status: str) -> None:
        self._require_exists()
        if status not in MANUAL_STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(MANUAL_STATUSES)}")
        self._require_open("given a status")
        if status == self.status and self.status_by_hand:
            return  # the same, set by hand since the last progress update: nothing new
        self.record(GoalStatusChanged(goal_id=self.id, status=status, previous_status=self.status))

    def complete(self) -> None:
        self._require_exists()
        if self.is_retired:
            raise RuleViolation("a retired goal cannot be completed")
        if self.is_completed:
            return
        self.record(GoalCompleted(goal_id=self.id))

    def retire(self, reason: str = "") -> None:
        self._require_exists()
        if self.is_retired:
            return
        self.record(GoalRetired(goal_id=self.id, reason=reason))

    def request_realignment(
        self,
        *,
        cause_goal_id: str,
        cause_event_id: str,
        reason: str,
        ancestor_change: dict[str, Any] | None = None,
    ) -> None:
        self._require_exists()
        if self.is_retired or cause_event_id in self.pending_realignments:
            return
        self.record(
            RealignmentRequested(
                goal_id=self.id,
                cause_goal_id=cause_goal_id,
                cause_event_id=cause_event_id,
                reason=reason,
                ancestor_change=ancestor_change or {},
            )
        )

    # ---- rules -----------------------------------------------------------------------

    def _require_exists(self) -> None:
        if not self.exists:
            raise NotFound(f"goal {self.id} not found")

    def _require_open(self, what: str) -> None:
        if self.is_retired:
            raise RuleViolation(f"a retired goal cannot be {what}")
        if self.is_completed:
            raise RuleViolation(f"a completed goal cannot be {what}")

    def _check_parent(self, parent: Goal, parent_ancestor_ids: list[str]) -> None:
        if parent.tenant_id != self.tenant_id or not parent.exists:
            raise NotFound(f"parent goal {parent.id} not found")
        if parent.id == self.id or self.id in parent_ancestor_ids:
            raise RuleViolation("alignment would create a cycle")
        if parent.is_retired:
            raise RuleViolation(f"goal {parent.id} is retired: align to a live goal")
        allowed = ALLOWED_PARENTS[self.level]
        if parent.level not in allowed:
            if not allowed:
                raise RuleViolation("a company objective cannot be aligned to another goal")
            raise RuleViolation(
                f"a {self.level} goal aligns to a {' or '.join(allowed)} goal, not a {parent.level} goal"
            )


def _check_finite(**numbers: float) -> None:
    for field, number in numbers.items():
        if not math.isfinite(number):
            raise InvalidInput(f"{field} must be a finite number", details={"field": field})


def _check_span(period: str, start_date: dt.date | None, due_date: dt.date | None) -> None:
    """Refuse a goal that would be due before it starts (its own dates, else its period's)."""
    bounds = period_bounds(period)
    start = start_date or (bounds[0] if bounds else None)
    due = due_date or (bounds[1] if bounds else None)
    if start is not None and due is not None and due < start:
        raise InvalidInput(
            f"the goal would be due ({due.isoformat()}) before it starts ({start.isoformat()})",
            details={"field": "due_date" if due_date else "start_date"},
        )


def _check_kind(kind: str, level: str, career_objective: str | None) -> str:
    """The career objective a goal of ``kind`` carries ("" for a performance goal)."""
    if kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}", details={"field": "kind"})
    objective = (career_objective or "").strip()
    if kind == "performance":
        if objective:
            raise InvalidInput(
                "only a development goal has a career objective", details={"field": "career_objective"}
            )
        return ""
    if level != "individual":
        raise InvalidInput("a development goal is an individual goal", details={"field": "level"})
    if not objective:
        raise InvalidInput(
            "a development goal needs the career objective it serves", details={"field": "career_objective"}
        )
    if len(objective) > MAX_CAREER_OBJECTIVE:
        raise InvalidInput(
            f"a career objective has at most {MAX_CAREER_OBJECTIVE} characters",
            details={"field": "career_objective"},
        )
    return objective
