"""CheckInSchedule and CheckIn, given-when-then."""

from __future__ import annotations

import datetime as dt

import pytest

from trellis.contracts.feedback import (
    CheckInCancelled,
    CheckInCompleted,
    CheckInMissed,
    CheckInNotesRecorded,
    CheckInPrivateNoteRecorded,
    CheckInScheduleChanged,
    CheckInScheduleCreated,
    CheckInScheduled,
    CheckInScheduleEnded,
    CheckInScheduleReassigned,
    KeyResultUpdate,
)
from trellis.core.errors import Forbidden, InvalidInput, RuleViolation
from trellis.feedback.domain.checkin import CheckIn, checkin_id_for
from trellis.feedback.domain.checkin_schedule import CheckInSchedule

from .given_when_then import TENANT, given, then, then_raises

DUE = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
GRACE_END = DUE + dt.timedelta(hours=24)

CREATED = CheckInScheduleCreated(
    schedule_id="s",
    manager_id="mia",
    report_id="emil",
    cadence="weekly",
    weekday=0,
    time_of_day="09:00",
    timezone="UTC",
    grace_hours=24,
    starts_on=dt.date(2026, 1, 1),
)
SCHEDULED = CheckInScheduled(
    checkin_id="c", schedule_id="s", manager_id="mia", report_id="emil", due_at=DUE, grace_until=GRACE_END
)


def test_creating_a_schedule() -> None:
    then(
        CheckInSchedule("s", TENANT),
        lambda s: s.create(
            manager_id="mia",
            report_id="emil",
            cadence="weekly",
            weekday=0,
            time_of_day="09:00",
            timezone="UTC",
            grace_hours=24,
            starts_on=dt.date(2026, 1, 1),
        ),
        CREATED,
    )


def test_a_schedule_needs_two_people_and_a_sane_grace_period() -> None:
    fields = {
        "cadence": "weekly",
        "weekday": 0,
        "time_of_day": "09:00",
        "timezone": "UTC",
        "starts_on": dt.date(2026, 1, 1),
    }
    then_raises(
        CheckInSchedule("s", TENANT),
        lambda s: s.create(manager_id="mia", report_id="mia", grace_hours=1, **fields),  # type: ignore[arg-type]
        InvalidInput,
    )
    then_raises(
        CheckInSchedule("s", TENANT),
        lambda s: s.create(manager_id="mia", report_id="emil", grace_hours=10_000, **fields),  # type: ignore[arg-type]
        InvalidInput,
    )


def test_changing_the_rule_bumps_the_revision_and_a_change_to_nothing_records_nothing() -> None:
    schedule = given(CheckInSchedule, "s", CREATED)
    assert schedule.revision == 1
    then(schedule, lambda s: s.change(weekday=0, time_of_day="09:00"))
    then(
        schedule,
        lambda s: s.change(time_of_day="10:30"),
        CheckInScheduleChanged(
            schedule_id="s", cadence="weekly", weekday=0, time_of_day="10:30", timezone="UTC", grace_hours=24
        ),
    )
    assert schedule.revision == 2


def test_reassigning_moves_the_pair_and_to_the_same_manager_records_nothing() -> None:
    schedule = given(CheckInSchedule, "s", CREATED)
    then(schedule, lambda s: s.reassign("mia"))
    then(
        schedule,
        lambda s: s.reassign("olga"),
        CheckInScheduleReassigned(
            schedule_id="s", report_id="emil", manager_id="olga", previous_manager_id="mia"
        ),
    )


def test_an_ended_schedule_ends_once_and_refuses_changes() -> None:
    ended = CheckInScheduleEnded(schedule_id="s", manager_id="mia", report_id="emil", reason="no manager")
    then(given(CheckInSchedule, "s", CREATED), lambda s: s.end("no manager"), ended)
    schedule = given(CheckInSchedule, "s", CREATED, ended)
    then(schedule, lambda s: s.end("again"))
    then_raises(schedule, lambda s: s.change(weekday=3), RuleViolation)
    then_raises(schedule, lambda s: s.reassign("olga"), RuleViolation)


def test_a_checkin_id_names_its_schedule_and_occurrence() -> None:
    assert checkin_id_for("s-1", DUE) == "s-1-20260105T0900Z"
    berlin = DUE.astimezone(dt.timezone(dt.timedelta(hours=1)))
    assert checkin_id_for("s-1", berlin) == "s-1-20260105T0900Z"


def test_scheduling_a_checkin_twice_records_it_once() -> None:
    fields = {
        "schedule_id": "s",
        "manager_id": "mia",
        "report_id": "emil",
        "due_at": DUE,
        "grace_until": GRACE_END,
    }
    then(CheckIn("c", TENANT), lambda c: c.schedule(**fields), SCHEDULED)  # type: ignore[arg-type]
    then(given(CheckIn, "c", SCHEDULED), lambda c: c.schedule(**fields))  # type: ignore[arg-type]


def test_completing_records_what_is_published_and_what_is_private_apart() -> None:
    update = KeyResultUpdate(goal_id="g", key_result_id="k", value=7, comment="shipped")
    at = DUE + dt.timedelta(hours=1)
    then(
        given(CheckIn, "c", SCHEDULED),
        lambda c: c.complete(
            by="emil",
            at=at,
            confidence=4,
            key_result_updates=[update],
            blockers="waiting on legal",
            private_note="ask for a raise",
        ),
        CheckInCompleted(
            checkin_id="c",
            schedule_id="s",
            manager_id="mia",
            report_id="emil",
            completed_by="emil",
            completed_at=at,
            confidence=4,
            key_result_updates=[update],
            late=False,
        ),
        CheckInNotesRecorded(checkin_id="c", blockers="waiting on legal"),
        CheckInPrivateNoteRecorded(checkin_id="c", author_id="emil", note="ask for a raise"),
    )


def test_only_the_pair_completes_and_only_once() -> None:
    then_raises(
        given(CheckIn, "c", SCHEDULED), lambda c: c.complete(by="olga", at=DUE, confidence=3), Forbidden
    )
    then_raises(
        given(CheckIn, "c", SCHEDULED), lambda c: c.complete(by="mia", at=DUE, confidence=6), InvalidInput
    )
    done = CheckInCompleted(
        checkin_id="c",
        schedule_id="s",
        manager_id="mia",
        report_id="emil",
        completed_by="mia",
        completed_at=DUE,
        confidence=3,
    )
    then_raises(
        given(CheckIn, "c", SCHEDULED, done),
        lambda c: c.complete(by="mia", at=DUE, confidence=3),
        RuleViolation,
    )


def test_a_missed_checkin_is_missed_once_and_may_still_be_completed_late() -> None:
    missed = CheckInMissed(
        checkin_id="c", schedule_id="s", manager_id="mia", report_id="emil", due_at=DUE, consecutive_misses=2
    )
    then(given(CheckIn, "c", SCHEDULED), lambda c: c.miss(2), missed)
    checkin = given(CheckIn, "c", SCHEDULED, missed)
    then(checkin, lambda c: c.miss(3))
    then(checkin, lambda c: c.cancel("too late to cancel"))
    late = GRACE_END + dt.timedelta(days=1)
    checkin.complete(by="mia", at=late, confidence=2)
    assert isinstance(checkin.pending[0], CheckInCompleted) and checkin.pending[0].late


def test_a_completed_or_cancelled_checkin_is_never_missed() -> None:
    done = CheckInCompleted(
        checkin_id="c",
        schedule_id="s",
        manager_id="mia",
        report_id="emil",
        completed_by="mia",
        completed_at=DUE,
        confidence=3,
    )
    then(given(CheckIn, "c", SCHEDULED, done), lambda c: c.miss(1))
    cancelled = CheckInCancelled(
        checkin_id="c", schedule_id="s", manager_id="mia", report_id="emil", due_at=DUE, reason="ended"
    )
    then(given(CheckIn, "c", SCHEDULED), lambda c: c.cancel("ended"), cancelled)
    then(given(CheckIn, "c", SCHEDULED, cancelled), lambda c: c.miss(1))
    then_raises(
        given(CheckIn, "c", SCHEDULED, cancelled),
        lambda c: c.complete(by="mia", at=DUE, confidence=3),
        RuleViolation,
    )


@pytest.mark.parametrize("author", ["mia", "emil"])
def test_private_notes_belong_to_their_author(author: str) -> None:
    checkin = given(
        CheckIn, "c", SCHEDULED, CheckInPrivateNoteRecorded(checkin_id="c", author_id=author, note="mine")
    )
    other = "emil" if author == "mia" else "mia"
    assert checkin.private_notes_of(author) == ["mine"]
    assert checkin.private_notes_of(other) == []
    then_raises(checkin, lambda c: c.add_private_note("olga", "hi"), Forbidden)
