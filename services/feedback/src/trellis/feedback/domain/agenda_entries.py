"""What a 1:1 agenda holds (talking points, action items, what a check-in made of them),
its limits, and what it refuses: the parts of ``agenda.py``'s aggregate, without I/O."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

from trellis.contracts.feedback import AgendaOutcome
from trellis.core.errors import InvalidInput, NotFound, RuleViolation

MAX_TEXT = 2_000
MAX_OPEN_POINTS = 100
MAX_OPEN_ACTION_ITEMS = 100
EARLIEST_DUE, LATEST_DUE = dt.date(2000, 1, 1), dt.date(2999, 12, 31)

PointStatus = Literal["open", "discussed", "removed", "withdrawn"]
ItemStatus = Literal["open", "done", "removed"]


class EmptyText(InvalidInput):
    code = "empty_text"


class KeyResultWithoutGoal(InvalidInput):
    code = "key_result_needs_goal"


class NotInPair(InvalidInput):
    """An action item's owner must be the manager or the report of the 1:1."""

    code = "not_in_pair"


class TalkingPointNotFound(NotFound):
    """No open talking point of this id that the caller may see, on this agenda."""

    code = "talking_point_not_found"


class UnknownTalkingPoints(InvalidInput):
    """A request names talking points that are not open on this agenda for the caller."""

    code = "unknown_talking_points"


class AgendaOrderMismatch(InvalidInput):
    """A new order must name each open talking point the caller sees, once."""

    code = "agenda_order_mismatch"


class ActionItemNotFound(NotFound):
    code = "action_item_not_found"


class AgendaFull(RuleViolation):
    code = "agenda_full"


@dataclass
class TalkingPoint:
    point_id: str
    author_id: str
    text: str
    private: bool
    goal_id: str | None = None
    key_result_id: str | None = None
    status: PointStatus = "open"
    discussed_in: str | None = None  # the check-in
    carried_over: int = 0  # how many check-ins it was carried past

    def visible_to(self, employee_id: str) -> bool:
        """Shared points are the pair's; a private one is its author's alone."""
        return not self.private or self.author_id == employee_id


@dataclass
class ActionItem:
    action_item_id: str
    owner_id: str
    assigned_by: str
    text: str = ""
    due_on: dt.date | None = None
    checkin_id: str | None = None
    status: ItemStatus = "open"
    overdue: bool = False  # reported overdue for its current due date
    completed_by: str | None = None


@dataclass
class Settlement:
    """What became of the agenda at one check-in."""

    outcome: AgendaOutcome | None = None  # None: points discussed, nothing carried (yet)
    discussed: list[str] = field(default_factory=list)
    carried_over: list[str] = field(default_factory=list)


def checked_text(value: str) -> str:
    if not value.strip():
        raise EmptyText("the text is empty")
    if len(value) > MAX_TEXT:
        raise InvalidInput(f"at most {MAX_TEXT} characters")
    return value


def checked_key_result(goal_id: str | None, key_result_id: str | None) -> str | None:
    if key_result_id is not None and goal_id is None:
        raise KeyResultWithoutGoal("a key result is linked together with its goal_id")
    return key_result_id


def checked_due(value: dt.date | None) -> dt.date | None:
    if value is not None and not EARLIEST_DUE <= value <= LATEST_DUE:
        raise InvalidInput(f"due_on must be between {EARLIEST_DUE} and {LATEST_DUE}")
    return value
