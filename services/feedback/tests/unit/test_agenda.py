"""The Agenda of a 1:1, given-when-then: talking points, what a check-in does to them, action items."""

from __future__ import annotations

import datetime as dt

import pytest

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
    TalkingPointAdded,
    TalkingPointRemoved,
    TalkingPointsDiscussed,
    TalkingPointsReordered,
    TalkingPointWritten,
)
from trellis.core.errors import Forbidden, InvalidInput, NotFound, RuleViolation
from trellis.feedback.domain.agenda import Agenda, agenda_id_for
from trellis.feedback.domain.agenda_entries import (
    MAX_OPEN_POINTS,
    MAX_TEXT,
    ActionItemNotFound,
    AgendaFull,
    AgendaOrderMismatch,
    EmptyText,
    KeyResultWithoutGoal,
    NotInPair,
    TalkingPointNotFound,
    UnknownTalkingPoints,
)

from .given_when_then import TENANT, given, then, then_raises

A = agenda_id_for("s")
OPENED = AgendaOpened(schedule_id="s", manager_id="mia", report_id="emil")
DUE = dt.date(2026, 1, 20)


def shared(point_id: str, author: str, text: str = "topic") -> tuple[TalkingPointAdded, TalkingPointWritten]:
    return (
        TalkingPointAdded(
            schedule_id="s", point_id=point_id, manager_id="mia", report_id="emil", author_id=author
        ),
        TalkingPointWritten(point_id=point_id, author_id=author, text=text),
    )


def private(point_id: str, author: str, text: str = "mine") -> TalkingPointWritten:
    return TalkingPointWritten(point_id=point_id, author_id=author, text=text, private=True)


def assigned(
    item_id: str = "a1", owner: str = "emil", by: str = "mia", due: dt.date | None = DUE
) -> ActionItemAssigned:
    return ActionItemAssigned(
        schedule_id="s",
        action_item_id=item_id,
        manager_id="mia",
        report_id="emil",
        owner_id=owner,
        assigned_by=by,
        due_on=due,
        checkin_id="c1",
    )


# ---- talking points ------------------------------------------------------------------


def test_opening_an_agenda_names_the_pair_once() -> None:
    then(Agenda(A, TENANT), lambda a: a.open(schedule_id="s", manager_id="mia", report_id="emil"), OPENED)
    then(given(Agenda, A, OPENED), lambda a: a.open(schedule_id="s", manager_id="x", report_id="y"))


def test_a_shared_point_publishes_that_it_was_added_and_keeps_its_text_private() -> None:
    then(
        given(Agenda, A, OPENED),
        lambda a: a.add_point(point_id="p1", author_id="emil", text="promotion path", goal_id="g1"),
        TalkingPointAdded(
            schedule_id="s", point_id="p1", manager_id="mia", report_id="emil", author_id="emil"
        ),
        TalkingPointWritten(point_id="p1", author_id="emil", text="promotion path", goal_id="g1"),
    )
    assert not TalkingPointWritten.published and TalkingPointAdded.published
    assert "text" not in TalkingPointAdded.model_fields


def test_a_private_point_publishes_nothing_and_only_its_author_sees_it() -> None:
    agenda = given(Agenda, A, OPENED)
    then(
        agenda,
        lambda a: a.add_point(point_id="p1", author_id="mia", text="raise?", private=True),
        TalkingPointWritten(point_id="p1", author_id="mia", text="raise?", private=True),
    )
    assert [p.point_id for p in agenda.open_points_for("mia")] == ["p1"]
    assert agenda.open_points_for("emil") == []
    assert [p.point_id for p in agenda.open_points_for(None)] == ["p1"]  # an audit lists it


def test_points_need_the_pair_some_text_and_room() -> None:
    agenda = given(Agenda, A, OPENED)
    then_raises(agenda, lambda a: a.add_point(point_id="p", author_id="olga", text="x"), Forbidden)
    then_raises(agenda, lambda a: a.add_point(point_id="p", author_id="emil", text="  \n"), EmptyText)
    then_raises(
        agenda, lambda a: a.add_point(point_id="p", author_id="emil", text="x" * (MAX_TEXT + 1)), InvalidInput
    )
    then_raises(
        agenda,
        lambda a: a.add_point(point_id="p", author_id="emil", text="x", key_result_id="kr"),
        KeyResultWithoutGoal,
    )
    then_raises(Agenda(A, TENANT), lambda a: a.add_point(point_id="p", author_id="emil", text="x"), NotFound)
    full = given(Agenda, A, OPENED, *(private(f"p{i}", "emil") for i in range(MAX_OPEN_POINTS)))
    then_raises(full, lambda a: a.add_point(point_id="px", author_id="mia", text="x"), AgendaFull)


def test_its_author_edits_a_point_and_the_other_one_may_not() -> None:
    agenda = given(Agenda, A, OPENED, *shared("p1", "emil", "old"))
    then(
        agenda,
        lambda a: a.edit_point("p1", "emil", {"text": "new", "goal_id": "g1", "key_result_id": "kr1"}),
        TalkingPointWritten(point_id="p1", author_id="emil", text="new", goal_id="g1", key_result_id="kr1"),
    )
    then_raises(
        given(Agenda, A, OPENED, *shared("p1", "emil")),
        lambda a: a.edit_point("p1", "mia", {"text": "x"}),
        Forbidden,
    )
    then(
        given(Agenda, A, OPENED, *shared("p1", "emil", "same")),
        lambda a: a.edit_point("p1", "emil", {"text": "same"}),
    )


def test_changing_the_goal_unlinks_the_key_result_of_the_old_one() -> None:
    linked = TalkingPointWritten(point_id="p1", author_id="emil", text="t", goal_id="g1", key_result_id="kr1")
    then(
        given(Agenda, A, OPENED, linked),
        lambda a: a.edit_point("p1", "emil", {"goal_id": "g2"}),
        TalkingPointWritten(point_id="p1", author_id="emil", text="t", private=False, goal_id="g2"),
    )


def test_a_private_point_may_be_shared_and_a_shared_one_stays_shared() -> None:
    then(
        given(Agenda, A, OPENED, private("p1", "mia", "raise?")),
        lambda a: a.edit_point("p1", "mia", {"private": False}),
        TalkingPointAdded(
            schedule_id="s", point_id="p1", manager_id="mia", report_id="emil", author_id="mia"
        ),
        TalkingPointWritten(point_id="p1", author_id="mia", text="raise?"),
    )
    then_raises(
        given(Agenda, A, OPENED, *shared("p1", "mia")),
        lambda a: a.edit_point("p1", "mia", {"private": True}),
        RuleViolation,
    )


def test_the_others_private_point_is_not_found_for_any_change() -> None:
    agenda = given(Agenda, A, OPENED, private("p1", "mia"))
    then_raises(agenda, lambda a: a.edit_point("p1", "emil", {"text": "x"}), TalkingPointNotFound)
    then_raises(agenda, lambda a: a.remove_point("p1", "emil"), TalkingPointNotFound)
    then_raises(agenda, lambda a: a.remove_point("nope", "mia"), TalkingPointNotFound)


def test_its_author_removes_a_point() -> None:
    agenda = given(Agenda, A, OPENED, *shared("p1", "emil"))
    then(
        agenda, lambda a: a.remove_point("p1", "emil"), TalkingPointRemoved(point_id="p1", removed_by="emil")
    )
    assert agenda.open_points_for("emil") == [] and agenda.points["p1"].status == "removed"


def test_reordering_moves_the_points_one_sees_and_leaves_the_hidden_ones_in_place() -> None:
    agenda = given(
        Agenda,
        A,
        OPENED,
        *shared("p1", "emil"),
        private("h", "mia"),
        *shared("p2", "mia"),
        *shared("p3", "emil"),
    )
    then(
        agenda,
        lambda a: a.reorder("emil", ["p3", "p1", "p2"]),
        TalkingPointsReordered(point_ids=["p3", "h", "p1", "p2"]),
    )
    assert [p.point_id for p in agenda.open_points_for("emil")] == ["p3", "p1", "p2"]
    agenda.pending.clear()
    then(agenda, lambda a: a.reorder("emil", ["p3", "p1", "p2"]))  # the same order: nothing


@pytest.mark.parametrize(
    "order, missing, unexpected, repeated",
    [
        (["p1"], ["p2"], [], []),
        (["p1", "p2", "h"], [], ["h"], []),  # the other's private point is not theirs to name
        (["p1", "p2", "p2"], [], [], ["p2"]),
        (["p1", "p2", "zz"], [], ["zz"], []),
    ],
)
def test_a_reorder_must_name_each_visible_open_point_once(
    order: list[str], missing: list[str], unexpected: list[str], repeated: list[str]
) -> None:
    agenda = given(Agenda, A, OPENED, *shared("p1", "emil"), private("h", "mia"), *shared("p2", "mia"))
    with pytest.raises(AgendaOrderMismatch) as refused:
        agenda.reorder("emil", order)
    assert refused.value.details == {"missing": missing, "unexpected": unexpected, "repeated": repeated}
    assert agenda.pending == []


# ---- what a check-in does to the agenda -----------------------------------------------


def test_completing_records_the_points_discussed_and_carries_the_rest_over() -> None:
    agenda = given(Agenda, A, OPENED, *shared("p1", "emil"), *shared("p2", "mia"), private("h", "mia"))
    then(
        agenda,
        lambda a: a.settle(checkin_id="c1", outcome="completed", by="emil", discussed=["p1"]),
        TalkingPointsDiscussed(checkin_id="c1", point_ids=["p1"]),
        AgendaCarriedOver(checkin_id="c1", outcome="completed", point_ids=["p2", "h"]),
    )
    assert agenda.points["p1"].discussed_in == "c1" and agenda.points["p2"].carried_over == 1
    assert [p.point_id for p in agenda.open_points_for("mia")] == ["p2", "h"]


def test_a_missed_checkin_carries_everything_over_and_completing_it_late_carries_nothing_twice() -> None:
    agenda = given(Agenda, A, OPENED, *shared("p1", "emil"), *shared("p2", "mia"))
    then(
        agenda,
        lambda a: a.settle(checkin_id="c1", outcome="missed"),
        AgendaCarriedOver(checkin_id="c1", outcome="missed", point_ids=["p1", "p2"]),
    )
    agenda.pending.clear()
    then(
        agenda,
        lambda a: a.settle(checkin_id="c1", outcome="completed", by="mia", discussed=["p2"]),
        TalkingPointsDiscussed(checkin_id="c1", point_ids=["p2"]),
    )
    assert agenda.points["p1"].carried_over == 1


def test_an_empty_agenda_records_nothing_at_a_checkin() -> None:
    then(given(Agenda, A, OPENED), lambda a: a.settle(checkin_id="c1", outcome="missed"))
    then(Agenda(A, TENANT), lambda a: a.settle(checkin_id="c1", outcome="completed", by="mia"))


@pytest.mark.parametrize("ticked", [["nope"], ["h"], ["p1", "p1"], ["gone"]])
def test_only_open_points_the_completer_sees_may_be_ticked(ticked: list[str]) -> None:
    agenda = given(
        Agenda,
        A,
        OPENED,
        *shared("p1", "emil"),
        private("h", "mia"),
        *shared("gone", "emil"),
        TalkingPointRemoved(point_id="gone", removed_by="emil"),
    )
    then_raises(
        agenda,
        lambda a: a.settle(checkin_id="c1", outcome="completed", by="emil", discussed=ticked),
        InvalidInput,
    )
    then_raises(
        Agenda(A, TENANT),
        lambda a: a.settle(checkin_id="c1", outcome="completed", by="emil", discussed=["p1"]),
        UnknownTalkingPoints,
    )


def test_a_new_manager_takes_the_agenda_without_the_former_ones_private_points() -> None:
    agenda = given(
        Agenda,
        A,
        OPENED,
        *shared("p1", "mia"),
        private("h", "mia"),
        private("e", "emil"),
        assigned(owner="mia"),
    )
    then(
        agenda,
        lambda a: a.hand_over("olga"),
        AgendaHandedOver(
            schedule_id="s", manager_id="olga", previous_manager_id="mia", withdrawn_point_ids=["h"]
        ),
    )
    assert agenda.pair == ("olga", "emil")
    assert [p.point_id for p in agenda.open_points_for("olga")] == ["p1"]
    assert [p.point_id for p in agenda.open_points_for("emil")] == ["p1", "e"]
    item = agenda.action_items["a1"]
    assert agenda.may_act_on(item, "mia") and agenda.may_act_on(item, "olga")  # mia still owns it
    agenda.pending.clear()
    then(agenda, lambda a: a.hand_over("olga"))


# ---- action items ----------------------------------------------------------------------


def test_an_action_item_goes_to_one_of_the_pair_with_its_text_private() -> None:
    then(
        given(Agenda, A, OPENED),
        lambda a: a.add_action_item(
            action_item_id="a1", by="mia", owner_id="emil", text="draft the plan", due_on=DUE, checkin_id="c1"
        ),
        assigned(),
        ActionItemWritten(action_item_id="a1", text="draft the plan"),
    )
    assert "text" not in ActionItemAssigned.model_fields and not ActionItemWritten.published
    then_raises(
        given(Agenda, A, OPENED),
        lambda a: a.add_action_item(action_item_id="a1", by="mia", owner_id="olga", text="x"),
        NotInPair,
    )
    then_raises(
        given(Agenda, A, OPENED),
        lambda a: a.add_action_item(action_item_id="a1", by="olga", owner_id="emil", text="x"),
        Forbidden,
    )
    then_raises(
        given(Agenda, A, OPENED),
        lambda a: a.add_action_item(action_item_id="a1", by="mia", owner_id="emil", text=" "),
        EmptyText,
    )


def test_an_action_item_stays_open_until_done_and_may_be_reopened() -> None:
    agenda = given(Agenda, A, OPENED, assigned())
    then(
        agenda,
        lambda a: a.complete_action_item("a1", "mia"),
        ActionItemCompleted(schedule_id="s", action_item_id="a1", owner_id="emil", completed_by="mia"),
    )
    agenda.pending.clear()
    then(agenda, lambda a: a.complete_action_item("a1", "emil"))  # done already
    then(
        agenda,
        lambda a: a.reopen_action_item("a1", "emil"),
        ActionItemReopened(schedule_id="s", action_item_id="a1", owner_id="emil", reopened_by="emil"),
    )
    agenda.pending.clear()
    then(agenda, lambda a: a.reopen_action_item("a1", "emil"))


def test_editing_an_action_item_changes_its_text_and_due_date() -> None:
    agenda = given(Agenda, A, OPENED, assigned(), ActionItemWritten(action_item_id="a1", text="old"))
    later = dt.date(2026, 2, 1)
    then(
        agenda,
        lambda a: a.edit_action_item("a1", "emil", {"text": "new", "due_on": later}),
        ActionItemWritten(action_item_id="a1", text="new"),
        ActionItemDueChanged(schedule_id="s", action_item_id="a1", owner_id="emil", due_on=later),
    )
    then_raises(
        given(
            Agenda,
            A,
            OPENED,
            assigned(),
            ActionItemCompleted(schedule_id="s", action_item_id="a1", owner_id="emil", completed_by="emil"),
        ),
        lambda a: a.edit_action_item("a1", "emil", {"text": "x"}),
        RuleViolation,
    )


def test_an_action_item_is_overdue_once_per_due_date_and_never_when_done() -> None:
    agenda = given(Agenda, A, OPENED, assigned())
    overdue = ActionItemOverdue(
        schedule_id="s", action_item_id="a1", manager_id="mia", report_id="emil", owner_id="emil", due_on=DUE
    )
    then(agenda, lambda a: a.mark_overdue("a1", DUE), overdue)
    agenda.pending.clear()
    then(agenda, lambda a: a.mark_overdue("a1", DUE))  # once
    then(
        given(Agenda, A, OPENED, assigned()), lambda a: a.mark_overdue("a1", dt.date(2026, 1, 19))
    )  # moved since
    done = ActionItemCompleted(schedule_id="s", action_item_id="a1", owner_id="emil", completed_by="emil")
    then(given(Agenda, A, OPENED, assigned(), done), lambda a: a.mark_overdue("a1", DUE))
    moved = ActionItemDueChanged(
        schedule_id="s", action_item_id="a1", owner_id="emil", due_on=dt.date(2026, 2, 1)
    )
    then(
        given(Agenda, A, OPENED, assigned(), overdue, moved),
        lambda a: a.mark_overdue("a1", dt.date(2026, 2, 1)),
        overdue.model_copy(update={"due_on": dt.date(2026, 2, 1)}),
    )


def test_a_removed_action_item_is_gone_and_a_stranger_finds_none() -> None:
    agenda = given(Agenda, A, OPENED, assigned())
    then_raises(agenda, lambda a: a.complete_action_item("a1", "olga"), ActionItemNotFound)
    then(
        agenda,
        lambda a: a.remove_action_item("a1", "emil"),
        ActionItemRemoved(schedule_id="s", action_item_id="a1", owner_id="emil", removed_by="emil"),
    )
    agenda.pending.clear()
    then_raises(agenda, lambda a: a.complete_action_item("a1", "emil"), ActionItemNotFound)
    assert agenda.open_action_items() == []
