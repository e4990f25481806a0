"""The Agenda aggregate: what a manager and a report bring to their 1:1s, and what they agree.

One per check-in schedule (id ``<schedule id>-agenda``, ``agenda_id_for``), opened by its
first talking point or action item. It holds:

- **talking points** for the next 1:1, in the pair's order. Either of the pair adds them;
  their author edits and removes them; either reorders them. A point is shared, or private
  to its author (the other one never learns it exists); a private point may be shared
  later, a shared one stays shared. A point may name a goal, or a goal and a key result;
- what became of the points at each **check-in**: those ticked were discussed, the others
  are carried over to the next 1:1; a missed (or cancelled) check-in carries them all;
- **action items**: one of the pair owns each, with an optional due date; they stay open,
  1:1 after 1:1, until done. Either of the pair (or the owner) edits, completes, reopens
  or removes one; an open one past its due date is overdue, once per due date.

The pair follows the schedule: when the report gets a new manager, the agenda is handed
over; the previous manager's private points are withdrawn (nobody else may read them),
their shared points and action items stay.

Who may reach an agenda at all (the pair; admins, to audit, without private text) is the
application's question; what a participant sees of it is the domain's
(``TalkingPoint.visible_to``, in ``agenda_entries.py`` with the agenda's other parts and limits).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from trellis.contracts.envelope import DomainEvent
from trellis.contracts.feedback import (
    ActionItemAssigned,
    ActionItemCompleted,
    ActionItemDueChanged,
    ActionItemOverdue,
    ActionItemRemoved,
    ActionItemReopened,
    ActionItemWritten,
    AgendaCarriedOver,
    AgendaHandedOver,
    AgendaOpened,
    AgendaOutcome,
    TalkingPointAdded,
    TalkingPointRemoved,
    TalkingPointsDiscussed,
    TalkingPointsReordered,
    TalkingPointWritten,
)
from trellis.core.errors import Forbidden, InvalidInput, NotFound, RuleViolation
from trellis.core.store.aggregate import Aggregate
from trellis.feedback.domain.agenda_entries import (
    MAX_OPEN_ACTION_ITEMS,
    MAX_OPEN_POINTS,
    ActionItem,
    ActionItemNotFound,
    AgendaFull,
    AgendaOrderMismatch,
    NotInPair,
    PointStatus,
    Settlement,
    TalkingPoint,
    TalkingPointNotFound,
    UnknownTalkingPoints,
    checked_due,
    checked_key_result,
    checked_text,
)


def agenda_id_for(schedule_id: str) -> str:
    """The id of a schedule's agenda (never a check-in's: theirs end in a time)."""
    return f"{schedule_id}-agenda"


class Agenda(Aggregate):
    aggregate_type = "checkin_agenda"

    def __init__(self, aggregate_id: str, tenant_id: str) -> None:
        super().__init__(aggregate_id, tenant_id)
        self.schedule_id = ""
        self.manager_id = ""
        self.report_id = ""
        self.points: dict[str, TalkingPoint] = {}
        self.order: list[str] = []  # the open points, in the pair's order
        self.action_items: dict[str, ActionItem] = {}
        self.settlements: dict[str, Settlement] = {}  # by check-in id

    @property
    def pair(self) -> tuple[str, str]:
        return self.manager_id, self.report_id

    def involves(self, employee_id: str) -> bool:
        return employee_id in self.pair

    def open_points_for(self, viewer_id: str | None) -> list[TalkingPoint]:
        """The open points in order: those ``viewer_id`` sees; every one for None (an audit)."""
        return [
            self.points[p] for p in self.order if viewer_id is None or self.points[p].visible_to(viewer_id)
        ]

    def open_action_items(self) -> list[ActionItem]:
        return [i for i in self.action_items.values() if i.status == "open"]

    def apply(self, event: DomainEvent) -> None:
        match event:
            case AgendaOpened():
                self.schedule_id = event.schedule_id
                self.manager_id = event.manager_id
                self.report_id = event.report_id
            case TalkingPointAdded():
                pass  # the published fact; the content comes with TalkingPointWritten
            case TalkingPointWritten():
                self._written(event)
            case TalkingPointRemoved():
                self._close_point(event.point_id, "removed")
            case TalkingPointsReordered():
                self.order = list(event.point_ids)
            case TalkingPointsDiscussed():
                for point_id in event.point_ids:
                    self._close_point(point_id, "discussed")
                    self.points[point_id].discussed_in = event.checkin_id
                self.settlements.setdefault(event.checkin_id, Settlement()).discussed.extend(event.point_ids)
            case AgendaCarriedOver():
                for point_id in event.point_ids:
                    self.points[point_id].carried_over += 1
                settled = self.settlements.setdefault(event.checkin_id, Settlement())
                settled.outcome = event.outcome
                settled.carried_over = list(event.point_ids)
            case AgendaHandedOver():
                self.manager_id = event.manager_id
                for point_id in event.withdrawn_point_ids:
                    self._close_point(point_id, "withdrawn")
            case ActionItemAssigned():
                self.action_items[event.action_item_id] = ActionItem(
                    event.action_item_id,
                    event.owner_id,
                    event.assigned_by,
                    "",
                    event.due_on,
                    event.checkin_id,
                )
            case ActionItemWritten():
                self.action_items[event.action_item_id].text = event.text
            case ActionItemDueChanged():
                item = self.action_items[event.action_item_id]
                item.due_on, item.overdue = event.due_on, False
            case ActionItemCompleted():
                item = self.action_items[event.action_item_id]
                item.status, item.completed_by = "done", event.completed_by
            case ActionItemReopened():
                item = self.action_items[event.action_item_id]
                item.status, item.completed_by = "open", None
            case ActionItemRemoved():
                self.action_items[event.action_item_id].status = "removed"
            case ActionItemOverdue():
                self.action_items[event.action_item_id].overdue = True
            case _:
                raise TypeError(f"Agenda cannot apply {type(event).__name__}")

    def _written(self, event: TalkingPointWritten) -> None:
        point = self.points.get(event.point_id)
        if point is None:
            self.points[event.point_id] = TalkingPoint(
                event.point_id, event.author_id, event.text, event.private, event.goal_id, event.key_result_id
            )
            self.order.append(event.point_id)
        else:
            point.text, point.private = event.text, event.private
            point.goal_id, point.key_result_id = event.goal_id, event.key_result_id

    def _close_point(self, point_id: str, status: PointStatus) -> None:
        self.points[point_id].status = status
        if point_id in self.order:
            self.order.remove(point_id)

    # ---- the agenda itself -------------------------------------------------------------

    def open(self, *, schedule_id: str, manager_id: str, report_id: str) -> None:
        """Open the agenda of a schedule; opening an open agenda records nothing."""
        if not self.exists:
            self.record(AgendaOpened(schedule_id=schedule_id, manager_id=manager_id, report_id=report_id))

    def hand_over(self, manager_id: str) -> None:
        """The schedule now pairs the report with ``manager_id``: the open agenda goes along."""
        if not self.exists or manager_id == self.manager_id:
            return
        withdrawn = [
            p.point_id for p in self.open_points_for(None) if p.private and p.author_id == self.manager_id
        ]
        self.record(
            AgendaHandedOver(
                schedule_id=self.schedule_id,
                manager_id=manager_id,
                previous_manager_id=self.manager_id,
                withdrawn_point_ids=withdrawn,
            )
        )

    def settle(
        self, *, checkin_id: str, outcome: AgendaOutcome, by: str | None = None, discussed: Iterable[str] = ()
    ) -> None:
        """After a check-in of this pair: ``discussed`` (points ``by`` sees) were discussed,
        every other open point is carried over to the next 1:1. A check-in carries the agenda
        over once: completing a missed one late records only what was discussed."""
        ticked = list(discussed)
        if ticked:
            if not self.exists:
                raise UnknownTalkingPoints("this agenda has no talking points", details={"point_ids": ticked})
            if by is None or not self.involves(by):
                raise Forbidden("only the pair records what their 1:1 discussed")
            self._require_open_points(ticked, by)
            self.record(TalkingPointsDiscussed(checkin_id=checkin_id, point_ids=ticked))
        settled = self.settlements.get(checkin_id)
        if self.order and (settled is None or settled.outcome is None):
            self.record(AgendaCarriedOver(checkin_id=checkin_id, outcome=outcome, point_ids=list(self.order)))

    def _require_open_points(self, point_ids: list[str], by: str) -> None:
        if len(set(point_ids)) != len(point_ids):
            raise InvalidInput("each talking point is named once")
        unknown = [p for p in point_ids if p not in self.order or not self.points[p].visible_to(by)]
        if unknown:
            raise UnknownTalkingPoints(
                "these are not open talking points of this agenda", details={"point_ids": unknown}
            )

    # ---- talking points ----------------------------------------------------------------

    def add_point(
        self,
        *,
        point_id: str,
        author_id: str,
        text: str,
        private: bool = False,
        goal_id: str | None = None,
        key_result_id: str | None = None,
    ) -> None:
        self._require_participant(author_id)
        if point_id in self.points:
            raise RuleViolation(f"talking point {point_id} exists already")
        if len(self.order) >= MAX_OPEN_POINTS:
            raise AgendaFull(f"an agenda holds at most {MAX_OPEN_POINTS} open talking points")
        written = TalkingPointWritten(
            point_id=point_id,
            author_id=author_id,
            text=checked_text(text),
            private=private,
            goal_id=goal_id,
            key_result_id=checked_key_result(goal_id, key_result_id),
        )
        if not private:
            self.record(self._added(point_id, author_id))
        self.record(written)

    def edit_point(self, point_id: str, by: str, changes: Mapping[str, Any]) -> None:
        """Change a point's ``text``, ``goal_id``, ``key_result_id`` or share it
        (``private: False``); its author only. A change that changes nothing records nothing."""
        point = self._own_open_point(point_id, by)
        if changes.get("private") is True and not point.private:
            raise RuleViolation("a shared talking point stays shared: remove it instead")
        text = point.text if changes.get("text") is None else checked_text(changes["text"])
        goal_id = changes["goal_id"] if "goal_id" in changes else point.goal_id
        key_result_id = changes["key_result_id"] if "key_result_id" in changes else point.key_result_id
        if "goal_id" in changes and "key_result_id" not in changes and goal_id != point.goal_id:
            key_result_id = None  # a key result belongs to the goal it was linked with
        private = point.private and changes.get("private") is not False
        written = TalkingPointWritten(
            point_id=point_id,
            author_id=point.author_id,
            text=text,
            private=private,
            goal_id=goal_id,
            key_result_id=checked_key_result(goal_id, key_result_id),
        )
        if (written.text, written.private, written.goal_id, written.key_result_id) == (
            point.text,
            point.private,
            point.goal_id,
            point.key_result_id,
        ):
            return
        if point.private and not private:
            self.record(self._added(point_id, point.author_id))  # the other one sees it from now on
        self.record(written)

    def remove_point(self, point_id: str, by: str) -> None:
        self._own_open_point(point_id, by)
        self.record(TalkingPointRemoved(point_id=point_id, removed_by=by))

    def reorder(self, by: str, point_ids: list[str]) -> None:
        """``point_ids``: every open point ``by`` sees, once, in the new order. The points
        they do not see (the other one's private points) keep their places."""
        self._require_participant(by)
        seen = [p.point_id for p in self.open_points_for(by)]
        if len(set(point_ids)) != len(point_ids) or set(point_ids) != set(seen):
            raise AgendaOrderMismatch(
                "name each open talking point of the agenda once",
                details={
                    "missing": [p for p in seen if p not in point_ids],
                    "unexpected": sorted({p for p in point_ids if p not in seen}),
                    "repeated": sorted({p for p in point_ids if point_ids.count(p) > 1}),
                },
            )
        placed = iter(point_ids)
        order = [next(placed) if self.points[p].visible_to(by) else p for p in self.order]
        if order != self.order:
            self.record(TalkingPointsReordered(point_ids=order))

    def _added(self, point_id: str, author_id: str) -> TalkingPointAdded:
        return TalkingPointAdded(
            schedule_id=self.schedule_id,
            point_id=point_id,
            manager_id=self.manager_id,
            report_id=self.report_id,
            author_id=author_id,
        )

    def _own_open_point(self, point_id: str, by: str) -> TalkingPoint:
        self._require_participant(by)
        point = self.points.get(point_id)
        if point is None or point.status != "open" or not point.visible_to(by):
            raise TalkingPointNotFound(f"talking point {point_id} not found")
        if point.author_id != by:
            raise Forbidden("only its author changes or removes a talking point")
        return point

    # ---- action items ------------------------------------------------------------------

    def add_action_item(
        self,
        *,
        action_item_id: str,
        by: str,
        owner_id: str,
        text: str,
        due_on: dt.date | None = None,
        checkin_id: str | None = None,
    ) -> None:
        self._require_participant(by)
        if not self.involves(owner_id):
            raise NotInPair(f"an action item is owned by {self.manager_id} or {self.report_id}")
        if action_item_id in self.action_items:
            raise RuleViolation(f"action item {action_item_id} exists already")
        if len(self.open_action_items()) >= MAX_OPEN_ACTION_ITEMS:
            raise AgendaFull(f"an agenda holds at most {MAX_OPEN_ACTION_ITEMS} open action items")
        written = ActionItemWritten(action_item_id=action_item_id, text=checked_text(text))
        self.record(
            ActionItemAssigned(
                schedule_id=self.schedule_id,
                action_item_id=action_item_id,
                manager_id=self.manager_id,
                report_id=self.report_id,
                owner_id=owner_id,
                assigned_by=by,
                due_on=checked_due(due_on),
                checkin_id=checkin_id,
            ),
            written,
        )

    def edit_action_item(self, action_item_id: str, by: str, changes: Mapping[str, Any]) -> None:
        """Change an open item's ``text`` or ``due_on`` (None: no due date)."""
        item = self._item(action_item_id, by)
        if item.status != "open":
            raise RuleViolation("only an open action item is edited: reopen it first")
        written = None if changes.get("text") is None else checked_text(changes["text"])
        if written is not None and written != item.text:
            self.record(ActionItemWritten(action_item_id=action_item_id, text=written))
        if "due_on" in changes and changes["due_on"] != item.due_on:
            self.record(
                ActionItemDueChanged(
                    schedule_id=self.schedule_id,
                    action_item_id=action_item_id,
                    owner_id=item.owner_id,
                    due_on=checked_due(changes["due_on"]),
                )
            )

    def complete_action_item(self, action_item_id: str, by: str) -> None:
        """Done; completing a done item records nothing."""
        item = self._item(action_item_id, by)
        if item.status == "open":
            self.record(
                ActionItemCompleted(
                    schedule_id=self.schedule_id,
                    action_item_id=action_item_id,
                    owner_id=item.owner_id,
                    completed_by=by,
                )
            )

    def reopen_action_item(self, action_item_id: str, by: str) -> None:
        """Open again; reopening an open item records nothing."""
        item = self._item(action_item_id, by)
        if item.status == "done":
            self.record(
                ActionItemReopened(
                    schedule_id=self.schedule_id,
                    action_item_id=action_item_id,
                    owner_id=item.owner_id,
                    reopened_by=by,
                )
            )

    def remove_action_item(self, action_item_id: str, by: str) -> None:
        item = self._item(action_item_id, by)
        self.record(
            ActionItemRemoved(
                schedule_id=self.schedule_id,
                action_item_id=action_item_id,
                owner_id=item.owner_id,
                removed_by=by,
            )
        )

    def mark_overdue(self, action_item_id: str, due_on: dt.date) -> None:
        """Its due date ``due_on`` passed: overdue, if still open and still due then, once."""
        item = self.action_items.get(action_item_id)
        if item is None or item.status != "open" or item.due_on != due_on or item.overdue:
            return
        self.record(
            ActionItemOverdue(
                schedule_id=self.schedule_id,
                action_item_id=action_item_id,
                manager_id=self.manager_id,
                report_id=self.report_id,
                owner_id=item.owner_id,
                due_on=due_on,
            )
        )

    def may_act_on(self, item: ActionItem, employee_id: str) -> bool:
        """The pair, and the owner (who keeps their item after leaving the pair)."""
        return self.involves(employee_id) or item.owner_id == employee_id

    def _item(self, action_item_id: str, by: str) -> ActionItem:
        item = self.action_items.get(action_item_id)
        if item is None or item.status == "removed" or not self.may_act_on(item, by):
            raise ActionItemNotFound(f"action item {action_item_id} not found")
        return item

    def _require_participant(self, employee_id: str) -> None:
        if not self.exists:
            raise NotFound(f"agenda {self.id} not found")
        if not self.involves(employee_id):
            raise Forbidden("only the manager and the report of a 1:1 change its agenda")
