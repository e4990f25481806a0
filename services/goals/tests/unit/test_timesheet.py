"""Time tracking's rules, given-when-then: the Timesheet aggregate, what an entry may be on,
the sealing of its text, and the CSV cells."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from trellis.contracts.envelope import DomainEvent
from trellis.contracts.timekeeping import (
    TimeEntryChanged,
    TimeEntryDeleted,
    TimeEntryLogged,
    TimesheetErased,
)
from trellis.core.errors import InvalidInput, NotFound
from trellis.goals.timekeeping.application.entry_keys import new_key, seal, unseal
from trellis.goals.timekeeping.domain.entry import (
    Content,
    DayInFuture,
    DayOverLimit,
    InvalidLabel,
    InvalidMinutes,
    KeyResultWithoutGoal,
    Subject,
    SubjectAmbiguous,
    SubjectMissing,
    check_note,
)
from trellis.goals.timekeeping.domain.timesheet import Timesheet, timesheet_id
from trellis.goals.timekeeping.views import csv_export

TENANT = "acme"
TODAY = dt.date(2027, 3, 10)
MONDAY = dt.date(2027, 3, 8)


def given(*events: DomainEvent) -> Timesheet:
    return Timesheet.rehydrate(timesheet_id(TENANT, "emil"), TENANT, events)


def then(sheet: Timesheet, when: Callable[[Timesheet], object], *expected: DomainEvent) -> None:
    when(sheet)
    assert sheet.pending == list(expected)


def then_raises(sheet: Timesheet, when: Callable[[Timesheet], object], error: type[Exception]) -> Exception:
    with pytest.raises(error) as raised:
        when(sheet)
    assert sheet.pending == []
    return raised.value


def logged(entry_id: str, minutes: int, day: dt.date = MONDAY) -> TimeEntryLogged:
    return TimeEntryLogged(person_id="emil", entry_id=entry_id, day=day, minutes=minutes, sealed="s")


def log(entry_id: str, minutes: int, day: dt.date = MONDAY) -> Callable[[Timesheet], None]:
    def when(sheet: Timesheet) -> None:
        sheet.log(person_id="emil", entry_id=entry_id, day=day, minutes=minutes, sealed="s", today=TODAY)

    return when


def test_a_timesheet_is_one_per_person_and_tenant() -> None:
    assert timesheet_id("acme", "emil") == timesheet_id("acme", "emil")
    assert timesheet_id("acme", "emil") != timesheet_id("globex", "emil")
    assert timesheet_id("acme", "emil") != timesheet_id("acme", "mia")


def test_time_is_logged_up_to_a_whole_day() -> None:
    then(given(logged("e1", 1000)), log("e2", 440), logged("e2", 440))
    then(given(), log("e1", 1440), logged("e1", 1440))


def test_a_day_over_1440_minutes_is_refused_naming_what_is_logged() -> None:
    refused = then_raises(given(logged("e1", 1000)), log("e2", 441), DayOverLimit)
    assert isinstance(refused, InvalidInput) and refused.code == "day_over_limit"
    assert refused.details == {
        "field": "minutes",
        "day": "2027-03-08",
        "logged": 1000,
        "requested": 441,
        "limit": 1440,
    }


def test_another_day_and_deleted_or_erased_entries_do_not_count() -> None:
    then(
        given(logged("e1", 1440)),
        log("e2", 600, MONDAY + dt.timedelta(days=1)),
        logged("e2", 600, MONDAY + dt.timedelta(days=1)),
    )
    deleted = TimeEntryDeleted(person_id="emil", entry_id="e1")
    then(given(logged("e1", 1440), deleted), log("e2", 1440), logged("e2", 1440))
    erased = TimesheetErased(person_id="emil", entries=1)
    then(given(logged("e1", 1440), erased), log("e2", 1440), logged("e2", 1440))


@pytest.mark.parametrize("minutes", [0, -5, 1441, 10_000, True, 1.5])
def test_minutes_are_a_whole_number_from_1_to_1440(minutes: Any) -> None:
    then_raises(given(), log("e1", minutes), InvalidMinutes)


def test_time_is_logged_at_the_latest_for_tomorrow() -> None:
    tomorrow = TODAY + dt.timedelta(days=1)
    then(given(), log("e1", 30, tomorrow), logged("e1", 30, tomorrow))
    then_raises(given(), log("e1", 30, TODAY + dt.timedelta(days=2)), DayInFuture)


def test_a_change_is_held_to_the_day_without_counting_the_entry_itself() -> None:
    sheet = given(logged("e1", 1000), logged("e2", 400))

    def change(minutes: int, day: dt.date = MONDAY) -> Callable[[Timesheet], None]:
        return lambda s: s.change("e1", day=day, minutes=minutes, sealed="t", today=TODAY)

    changed = TimeEntryChanged(person_id="emil", entry_id="e1", day=MONDAY, minutes=1040, sealed="t")
    then(sheet, change(1040), changed)
    then_raises(given(logged("e1", 1000), logged("e2", 400)), change(1041), DayOverLimit)
    # moved to a day of its own: the old day's minutes no longer count
    tuesday = MONDAY + dt.timedelta(days=1)
    moved = TimeEntryChanged(person_id="emil", entry_id="e1", day=tuesday, minutes=1440, sealed="t")
    then(given(logged("e1", 1000), logged("e2", 400)), change(1440, tuesday), moved)


def test_only_an_entry_of_the_timesheet_is_changed_or_deleted() -> None:
    sheet = given(logged("e1", 30), TimeEntryDeleted(person_id="emil", entry_id="e1"))
    then_raises(sheet, lambda s: s.delete("e1"), NotFound)
    then_raises(sheet, lambda s: s.change("e1", day=MONDAY, minutes=5, sealed="x", today=TODAY), NotFound)
    then(given(logged("e1", 30)), lambda s: s.delete("e1"), TimeEntryDeleted(person_id="emil", entry_id="e1"))


def test_erasing_is_one_event_for_every_entry() -> None:
    sheet = given(logged("e1", 30), logged("e2", 60), TimeEntryDeleted(person_id="emil", entry_id="e1"))
    then(sheet, lambda s: s.erase("emil"), TimesheetErased(person_id="emil", entries=1))
    assert sheet.entries == {}


@pytest.mark.parametrize(
    ("goal", "key_result", "label", "error"),
    [
        ("g1", None, "hiring", SubjectAmbiguous),
        (None, "kr1", None, KeyResultWithoutGoal),
        (None, "kr1", "hiring", KeyResultWithoutGoal),
        (None, None, None, SubjectMissing),
        (None, None, "   ", SubjectMissing),
        (None, None, "x" * 81, InvalidLabel),
        (None, None, "bell\x07", InvalidLabel),
    ],
)
def test_an_entry_is_on_a_goal_or_a_label(
    goal: str | None, key_result: str | None, label: str | None, error: type[Exception]
) -> None:
    with pytest.raises(error):
        Subject.of(goal, key_result, label)


def test_a_label_is_one_line_with_single_spaces() -> None:
    assert Subject.of(None, None, "  support \n rota ") == Subject(label="support rota")
    assert Subject.of("g1", "kr1", None) == Subject(goal_id="g1", key_result_id="kr1")
    assert Subject.of(None, None, "x" * 80).label == "x" * 80
    with pytest.raises(InvalidInput):
        check_note("n" * 2001)
    with pytest.raises(InvalidInput):
        check_note("half a \ud800 pair")
    with pytest.raises(InvalidLabel):
        Subject.of(None, None, "half a \ud800 pair")


def test_sealed_content_opens_with_its_own_key_only() -> None:
    key = new_key()
    content = Content(Subject(label="job hunting"), note="do not tell anyone")
    sealed = seal(key, content)
    assert "job hunting" not in sealed and "tell" not in sealed
    assert unseal(key, sealed) == content
    assert unseal(new_key(), sealed) is None  # its key deleted: nothing opens it
    assert unseal(key, "not sealed") is None


@pytest.mark.parametrize("text", ['=HYPERLINK("http://x")', "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_a_csv_cell_that_would_be_a_formula_is_text(text: str) -> None:
    assert csv_export.cell(text) == "'" + text
    assert csv_export.cell("plain = fine") == "plain = fine"
    assert csv_export.cell(None) == ""


def test_the_csv_has_a_header_and_quotes_what_needs_it() -> None:
    async def one() -> AsyncIterator[dict[str, Any]]:
        yield {
            "id": "e1",
            "day": "2027-03-08",
            "iso_week": "2027-W10",
            "minutes": 90,
            "goal_id": None,
            "goal_title": None,
            "key_result_id": None,
            "key_result_name": None,
            "label": "=cmd",
            "note": 'said "hi", left',
        }

    async def collect() -> list[str]:
        return [line async for line in csv_export.lines(one())]

    header, row = asyncio.run(collect())
    assert (
        header
        == "date,iso_week,minutes,goal_id,goal_title,key_result_id,key_result_name,label,note,entry_id\r\n"
    )
    assert row == '2027-03-08,2027-W10,90,,,,,\'=cmd,"said ""hi"", left",e1\r\n'
