"""Private time tracking through the goals service's API: log, list, change, delete, sum up,
export, erase; bad input refused with a code and nothing written."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
from typing import Any

from sqlalchemy import func, inspect, select, table, text

from trellis.core.store.tables import events, outbox
from trellis.goals.timekeeping.application.entry_keys import time_entry_keys
from trellis.goals.timekeeping.domain.timesheet import timesheet_id
from trellis.goals.timekeeping.views.tables import time_entries
from trellis.testing import eventually

from ..conftest import GoalsService, auth

EMPLOYEE = auth("emil", "employee")
OTHER_TENANT = auth("ceo", "admin", "employee", tenant="globex")
TODAY = dt.datetime.now(dt.UTC).date()
MONDAY = TODAY - dt.timedelta(days=TODAY.weekday() + 7)  # last week's
TUESDAY = MONDAY + dt.timedelta(days=1)
NEXT_MONDAY = MONDAY + dt.timedelta(days=7)


async def log(goals: GoalsService, headers: dict[str, str] = EMPLOYEE, **body: Any) -> dict[str, Any]:
    body.setdefault("day", MONDAY.isoformat())
    resp = await goals.client.post("/v1/timesheet/entries", json=body, headers=headers)
    assert resp.status_code == 201, resp.text
    answer: dict[str, Any] = resp.json()
    return answer


async def get(goals: GoalsService, url: str, headers: dict[str, str] = EMPLOYEE, **params: Any) -> Any:
    resp = await goals.client.get(url, headers=headers, params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def goal_with_key_result(goals: GoalsService, title: str = "Ship the mobile app") -> tuple[str, str]:
    resp = await goals.client.post(
        "/v1/goals", json={"level": "individual", "title": title, "period": "Q4"}, headers=EMPLOYEE
    )
    assert resp.status_code == 201, resp.text
    goal = resp.json()["goal_id"]
    resp = await goals.client.post(
        f"/v1/goals/{goal}/key-results",
        json={"name": "Beta testers", "start": 0, "target": 50},
        headers=EMPLOYEE,
    )
    assert resp.status_code == 201, resp.text
    return goal, resp.json()["key_result_id"]


async def counts(goals: GoalsService) -> tuple[int, int, int, int]:
    """Events, outbox rows, time log rows, entry keys."""
    async with goals.runtime.sessions() as session:
        found = []
        for table in (events, outbox, time_entries, time_entry_keys):
            found.append(int((await session.execute(select(func.count()).select_from(table))).scalar() or 0))
    return found[0], found[1], found[2], found[3]


async def stored_rows(goals: GoalsService) -> str:
    """Every row of every table of the goals service's database."""
    async with goals.runtime.engine.connect() as conn:
        names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        dump = []
        for name in names:
            rows = await conn.execute(select(text("*")).select_from(table(name)))
            dump.extend(f"{name}: {tuple(row)}" for row in rows)
    return "\n".join(dump)


async def test_an_employee_logs_lists_changes_and_deletes_their_time(goals: GoalsService) -> None:
    goal, kr = await goal_with_key_result(goals)
    on_goal = await log(goals, minutes=90, goal_id=goal, note="planning")
    assert on_goal["events"] == ["TimeEntryLogged"]
    assert on_goal["related"] == {"entry_id": on_goal["entry_id"]}
    on_kr = await log(goals, minutes=45, goal_id=goal, key_result_id=kr)
    on_label = await log(goals, day=TUESDAY.isoformat(), minutes=30, label="  support   rota ")
    assert on_label["version"] == 3  # one timesheet, three events

    listed = await get(
        goals, "/v1/timesheet/entries", **{"from": MONDAY.isoformat(), "to": TUESDAY.isoformat()}
    )
    assert listed["total_minutes"] == 165
    assert [
        (e["day"], e["minutes"], e["goal_id"], e["key_result_id"], e["label"]) for e in listed["entries"]
    ] == [
        (MONDAY.isoformat(), 90, goal, None, None),
        (MONDAY.isoformat(), 45, goal, kr, None),
        (TUESDAY.isoformat(), 30, None, None, "support rota"),
    ]
    one = await get(goals, f"/v1/timesheet/entries/{on_goal['entry_id']}")
    assert one["note"] == "planning" and one["changed_at"] is None
    assert one["iso_week"] == f"{MONDAY.isocalendar()[0]}-W{MONDAY.isocalendar()[1]:02d}"

    # the range is what it says: Monday alone
    monday = await get(
        goals, "/v1/timesheet/entries", **{"from": MONDAY.isoformat(), "to": MONDAY.isoformat()}
    )
    assert [e["minutes"] for e in monday["entries"]] == [90, 45]

    # change: minutes and day; then what it is on, as a whole
    resp = await goals.client.patch(
        f"/v1/timesheet/entries/{on_goal['entry_id']}",
        json={"minutes": 120, "day": TUESDAY.isoformat()},
        headers=EMPLOYEE,
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["events"] == ["TimeEntryChanged"]
    resp = await goals.client.patch(
        f"/v1/timesheet/entries/{on_goal['entry_id']}", json={"label": "hiring"}, headers=EMPLOYEE
    )
    assert resp.status_code == 200, resp.text
    changed = await get(goals, f"/v1/timesheet/entries/{on_goal['entry_id']}")
    assert (changed["day"], changed["minutes"], changed["goal_id"], changed["label"], changed["note"]) == (
        TUESDAY.isoformat(),
        120,
        None,
        "hiring",
        "planning",
    )
    assert changed["changed_at"] is not None
    # the same again changes nothing and records nothing
    resp = await goals.client.patch(
        f"/v1/timesheet/entries/{on_goal['entry_id']}",
        json={"label": "hiring", "minutes": 120},
        headers=EMPLOYEE,
    )
    assert resp.status_code == 200 and resp.json()["events"] == []

    resp = await goals.client.delete(f"/v1/timesheet/entries/{on_kr['entry_id']}", headers=EMPLOYEE)
    assert resp.status_code == 200, resp.text
    assert resp.json()["events"] == ["TimeEntryDeleted"]
    assert (
        await goals.client.get(f"/v1/timesheet/entries/{on_kr['entry_id']}", headers=EMPLOYEE)
    ).status_code == 404
    again = await goals.client.delete(f"/v1/timesheet/entries/{on_kr['entry_id']}", headers=EMPLOYEE)
    assert again.status_code == 404 and again.json()["error"]["code"] == "not_found"
    listed = await get(
        goals, "/v1/timesheet/entries", **{"from": MONDAY.isoformat(), "to": TUESDAY.isoformat()}
    )
    assert sorted(e["minutes"] for e in listed["entries"]) == [30, 120]

    # without a range: the four weeks up to today
    recent = await get(goals, "/v1/timesheet/entries")
    assert recent["to_date"] == TODAY.isoformat()
    assert recent["from_date"] == (TODAY - dt.timedelta(days=27)).isoformat()
    assert recent["total_minutes"] == 150


async def test_summaries_per_iso_week_goal_and_label(goals: GoalsService) -> None:
    goal, kr = await goal_with_key_result(goals)
    other, _ = await goal_with_key_result(goals, "Hire two engineers")
    await log(goals, minutes=60, goal_id=goal)
    await log(goals, minutes=30, goal_id=goal, key_result_id=kr)
    await log(goals, day=TUESDAY.isoformat(), minutes=15, goal_id=other)
    await log(goals, day=TUESDAY.isoformat(), minutes=20, label="support")
    await log(goals, day=NEXT_MONDAY.isoformat(), minutes=25, label="support")
    await log(goals, day=NEXT_MONDAY.isoformat(), minutes=40, label="email")

    async def titled() -> Any:  # goals' titles come from their view, a few milliseconds behind
        span = {"from": MONDAY.isoformat(), "to": NEXT_MONDAY.isoformat()}
        found = await get(goals, "/v1/timesheet/summary", **span)
        named = [k["name"] for g in found["per_goal"] for k in g["per_key_result"]]
        return found if all(g["title"] for g in found["per_goal"]) and all(named) else None

    summary = await eventually(titled)
    week = lambda d: f"{d.isocalendar()[0]}-W{d.isocalendar()[1]:02d}"  # noqa: E731
    assert summary["total_minutes"] == 190 and summary["entries"] == 6
    assert summary["per_week"] == [
        {"week": week(MONDAY), "starts_on": MONDAY.isoformat(), "minutes": 125},
        {"week": week(NEXT_MONDAY), "starts_on": NEXT_MONDAY.isoformat(), "minutes": 65},
    ]
    assert summary["per_goal"] == [
        {
            "goal_id": goal,
            "title": "Ship the mobile app",
            "minutes": 90,
            "per_key_result": [{"key_result_id": kr, "name": "Beta testers", "minutes": 30}],
        },
        {"goal_id": other, "title": "Hire two engineers", "minutes": 15, "per_key_result": []},
    ]
    assert summary["per_label"] == [{"label": "support", "minutes": 45}, {"label": "email", "minutes": 40}]
    # a range of one day
    tuesday = await get(
        goals, "/v1/timesheet/summary", **{"from": TUESDAY.isoformat(), "to": TUESDAY.isoformat()}
    )
    assert tuesday["total_minutes"] == 35 and [g["goal_id"] for g in tuesday["per_goal"]] == [other]


async def test_the_csv_export_has_a_header_and_no_cell_runs_as_a_formula(goals: GoalsService) -> None:
    goal, kr = await goal_with_key_result(goals, "=cmd|' /C calc'!A0")
    await log(goals, minutes=45, goal_id=goal, key_result_id=kr, note='@SUM(1+1), "quoted"')
    await log(goals, day=TUESDAY.isoformat(), minutes=30, label="+49 call", note="-2")

    async def titled() -> Any:  # goals' titles come from their view, a few milliseconds behind
        resp = await goals.client.get("/v1/timesheet/export.csv", headers=EMPLOYEE)
        assert resp.status_code == 200, resp.text
        return resp if "calc" in resp.text and "Beta testers" in resp.text else None

    resp = await eventually(titled)
    assert resp.headers["content-type"].startswith("text/csv")
    assert "attachment" in resp.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(resp.text)))
    assert rows[0] == [
        "date",
        "iso_week",
        "minutes",
        "goal_id",
        "goal_title",
        "key_result_id",
        "key_result_name",
        "label",
        "note",
        "entry_id",
    ]
    assert [r[:9] for r in rows[1:]] == [
        [
            MONDAY.isoformat(),
            rows[1][1],
            "45",
            goal,
            "'=cmd|' /C calc'!A0",
            kr,
            "Beta testers",
            "",
            '\'@SUM(1+1), "quoted"',
        ],
        [TUESDAY.isoformat(), rows[2][1], "30", "", "", "", "", "'+49 call", "'-2"],
    ]
    # from a day
    later = await goals.client.get(
        "/v1/timesheet/export.csv", headers=EMPLOYEE, params={"from": TUESDAY.isoformat()}
    )
    assert len(list(csv.reader(io.StringIO(later.text)))) == 2
    # nobody else's: another employee gets the header alone
    olga = await goals.client.get("/v1/timesheet/export.csv", headers=auth("olga", "employee"))
    assert list(csv.reader(io.StringIO(olga.text))) == [rows[0]]


async def test_erasing_is_one_command_and_leaves_nothing_readable(goals: GoalsService) -> None:
    goal, kr = await goal_with_key_result(goals)
    first = await log(goals, minutes=60, goal_id=goal, key_result_id=kr, note="tk-erase-note-51")
    await log(goals, minutes=30, label="tk-erase-label-51")
    await goals.client.delete(f"/v1/timesheet/entries/{first['entry_id']}", headers=EMPLOYEE)
    await log(goals, day=TUESDAY.isoformat(), minutes=30, goal_id=goal, note="tk-erase-note-52")
    olga = await log(goals, auth("olga", "employee"), minutes=10, label="olga keeps hers")

    resp = await goals.client.delete("/v1/timesheet", headers=EMPLOYEE)
    assert resp.status_code == 200, resp.text
    erased = resp.json()
    assert erased["events"] == ["TimesheetErased"] and erased["entries_erased"] == 2

    assert (await get(goals, "/v1/timesheet/entries", **{"from": MONDAY.isoformat()}))["entries"] == []
    summary = await get(goals, "/v1/timesheet/summary", **{"from": MONDAY.isoformat()})
    assert (summary["total_minutes"], summary["per_goal"], summary["per_label"]) == (0, [], [])
    assert (await goals.client.get("/v1/timesheet/export.csv", headers=EMPLOYEE)).text.count("\n") == 1
    assert (
        await goals.client.get(f"/v1/timesheet/entries/{first['entry_id']}", headers=EMPLOYEE)
    ).status_code == 404

    # nothing of the text is left anywhere in the database: the events hold it sealed, and
    # the keys that opened it are gone
    dump = await stored_rows(goals)
    assert "tk-erase" not in dump
    async with goals.runtime.sessions() as session:
        keys = (await session.execute(select(time_entry_keys.c.person_id))).scalars().all()
        logged = (await session.execute(select(time_entries.c.person_id))).scalars().all()
    assert keys == ["olga"] and logged == ["olga"]  # someone else's erase leaves hers alone
    assert (await get(goals, f"/v1/timesheet/entries/{olga['entry_id']}", auth("olga", "employee")))[
        "label"
    ] == ("olga keeps hers")

    # erasing is recorded, and the timesheet goes on
    again = await log(goals, minutes=15, label="fresh start")
    assert again["version"] == erased["version"] + 1
    assert (await get(goals, "/v1/timesheet/entries", **{"from": MONDAY.isoformat()}))["total_minutes"] == 15
    # erasing a timesheet never used records nothing
    nobody = await goals.client.delete("/v1/timesheet", headers=auth("ida", "employee"))
    assert (
        nobody.status_code == 200 and nobody.json()["events"] == [] and nobody.json()["entries_erased"] == 0
    )


async def test_the_time_log_is_what_the_events_say(goals: GoalsService) -> None:
    goal, kr = await goal_with_key_result(goals)
    kept = await log(goals, minutes=60, goal_id=goal, key_result_id=kr, note="kept")
    gone = await log(goals, minutes=30, label="gone")
    await goals.client.patch(
        f"/v1/timesheet/entries/{kept['entry_id']}", json={"minutes": 75}, headers=EMPLOYEE
    )
    await goals.client.delete(f"/v1/timesheet/entries/{gone['entry_id']}", headers=EMPLOYEE)
    before = await get(goals, "/v1/timesheet/entries", **{"from": MONDAY.isoformat()})

    timekeeping = goals.runtime.application.timekeeping  # type: ignore[attr-defined]
    async with goals.runtime.sessions() as session, session.begin():
        await timekeeping.time_log.rebuild(session, goals.runtime.store, "acme", "emil")
    assert await get(goals, "/v1/timesheet/entries", **{"from": MONDAY.isoformat()}) == before
    assert [e["minutes"] for e in before["entries"]] == [75]


def _raw(text: str) -> dict[str, Any]:
    return {"content": text, "headers": {**EMPLOYEE, "Content-Type": "application/json"}}


BAD_LOGS: list[tuple[str, Any, int, str]] = [
    ("zero minutes", {"minutes": 0, "label": "x"}, 422, "invalid_input"),
    ("over a day", {"minutes": 1441, "label": "x"}, 422, "invalid_input"),
    ("negative minutes", {"minutes": -30, "label": "x"}, 422, "invalid_input"),
    ("fractional minutes", {"minutes": 30.5, "label": "x"}, 422, "invalid_input"),
    ("minutes as a float", {"minutes": 30.0, "label": "x"}, 422, "invalid_input"),
    ("minutes as text", {"minutes": "30", "label": "x"}, 422, "invalid_input"),
    ("minutes as a boolean", {"minutes": True, "label": "x"}, 422, "invalid_input"),
    ("no minutes", {"label": "x"}, 422, "invalid_input"),
    ("in two days", {"minutes": 30, "label": "x", "day": "+2"}, 422, "day_in_future"),
    ("a day as a number", {"minutes": 30, "label": "x", "day": 20270101}, 422, "invalid_input"),
    ("goal and label", {"minutes": 30, "label": "x", "goal_id": "GOAL"}, 422, "subject_ambiguous"),
    ("neither", {"minutes": 30}, 422, "subject_missing"),
    ("a blank label", {"minutes": 30, "label": "   "}, 422, "subject_missing"),
    ("key result alone", {"minutes": 30, "key_result_id": "KR"}, 422, "key_result_without_goal"),
    ("unknown goal", {"minutes": 30, "goal_id": "no-such-goal"}, 422, "unknown_goal"),
    ("another tenant's goal", {"minutes": 30, "goal_id": "GLOBEX"}, 422, "unknown_goal"),
    ("someone else's development goal", {"minutes": 30, "goal_id": "HIDDEN"}, 422, "unknown_goal"),
    ("a timesheet's id for a goal", {"minutes": 30, "goal_id": "SHEET"}, 422, "unknown_goal"),
    (
        "unknown key result",
        {"minutes": 30, "goal_id": "GOAL", "key_result_id": "nope"},
        422,
        "unknown_key_result",
    ),
    (
        "another goal's key result",
        {"minutes": 30, "goal_id": "OTHER", "key_result_id": "KR"},
        422,
        "unknown_key_result",
    ),
    ("a long label", {"minutes": 30, "label": "x" * 81}, 422, "invalid_label"),
    ("a label with a control character", {"minutes": 30, "label": "a\x1bb"}, 422, "invalid_label"),
    ("a long note", {"minutes": 30, "label": "x", "note": "n" * 2001}, 422, "invalid_input"),
    ("an unknown field", {"minutes": 30, "label": "x", "person_id": "olga"}, 422, "invalid_input"),
    ("a goal id that is no id", {"minutes": 30, "goal_id": "a b"}, 422, "invalid_input"),
]


RAW_NUMBERS: list[tuple[str, int, str]] = [
    ('{"day": "DAY", "minutes": NaN, "label": "x"}', 400, "invalid_json"),
    ('{"day": "DAY", "minutes": Infinity, "label": "x"}', 400, "invalid_json"),
    ('{"day": "DAY", "minutes": -Infinity, "label": "x"}', 400, "invalid_json"),
    ('{"day": "DAY", "minutes": 1e400, "label": "x"}', 422, "invalid_input"),
    ('{"day": "DAY", "minutes": 3e1, "label": "x"}', 422, "invalid_input"),
]


async def test_bad_time_is_refused_with_a_code_and_nothing_is_written(goals: GoalsService) -> None:
    goal, kr = await goal_with_key_result(goals)
    other, _ = await goal_with_key_result(goals, "Other")
    resp = await goals.client.post(
        "/v1/goals", json={"level": "company", "title": "Theirs", "period": "Q4"}, headers=OTHER_TENANT
    )
    globex = resp.json()["goal_id"]
    development = {
        "level": "individual",
        "title": "Growth",
        "period": "Q4",
        "kind": "development",
        "career_objective": "lead",
    }
    resp = await goals.client.post("/v1/goals", json=development, headers=auth("olga", "employee"))
    assert resp.status_code == 201, resp.text
    hidden = resp.json()["goal_id"]  # olga's: emil may not see it
    await log(goals, minutes=5, label="first")  # emil's timesheet exists
    sheet = timesheet_id("acme", "emil")
    names = {"GOAL": goal, "KR": kr, "OTHER": other, "GLOBEX": globex, "HIDDEN": hidden, "SHEET": sheet}
    before = await counts(goals)
    for case, given, status, code in BAD_LOGS:
        body = {k: names.get(v, v) if isinstance(v, str) else v for k, v in given.items()}
        if body.get("day") == "+2":
            body["day"] = (TODAY + dt.timedelta(days=2)).isoformat()
        body.setdefault("day", MONDAY.isoformat())
        resp = await goals.client.post("/v1/timesheet/entries", json=body, headers=EMPLOYEE)
        assert (resp.status_code, resp.json()["error"]["code"]) == (status, code), (case, resp.text)
    for raw, status, code in RAW_NUMBERS:
        resp = await goals.client.post(
            "/v1/timesheet/entries", **_raw(raw.replace("DAY", MONDAY.isoformat()))
        )
        assert (resp.status_code, resp.json()["error"]["code"]) == (status, code), (raw, resp.text)
    assert await counts(goals) == before  # no event, no outbox row, no log row, no key
    # his own development goal he sees, and logs time on
    resp = await goals.client.post("/v1/goals", json=development, headers=EMPLOYEE)
    await log(goals, minutes=30, goal_id=resp.json()["goal_id"])


async def test_a_day_never_holds_more_than_1440_minutes(goals: GoalsService) -> None:
    first = await log(goals, minutes=1000, label="long day")
    before = await counts(goals)
    resp = await goals.client.post(
        "/v1/timesheet/entries",
        json={"day": MONDAY.isoformat(), "minutes": 441, "label": "x"},
        headers=EMPLOYEE,
    )
    assert resp.status_code == 422
    error = resp.json()["error"]
    assert error["code"] == "day_over_limit"
    assert error["details"] == {
        "field": "minutes",
        "day": MONDAY.isoformat(),
        "logged": 1000,
        "requested": 441,
        "limit": 1440,
    }
    resp = await goals.client.patch(
        f"/v1/timesheet/entries/{first['entry_id']}", json={"minutes": 1441}, headers=EMPLOYEE
    )
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "invalid_input"
    second = await log(goals, day=TUESDAY.isoformat(), minutes=1000, label="another long day")
    resp = await goals.client.patch(
        f"/v1/timesheet/entries/{second['entry_id']}", json={"day": MONDAY.isoformat()}, headers=EMPLOYEE
    )
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "day_over_limit"
    assert await counts(goals) == (before[0] + 1, before[1], before[2] + 1, before[3] + 1)  # the second alone
    # exactly the rest of the day fits
    await log(goals, minutes=440, label="fits")


async def test_concurrent_logs_never_overfill_a_day(goals: GoalsService) -> None:
    body = {"day": MONDAY.isoformat(), "minutes": 300, "label": "parallel"}
    answers = await asyncio.gather(
        *(goals.client.post("/v1/timesheet/entries", json=body, headers=EMPLOYEE) for _ in range(6))
    )
    codes = sorted(r.json()["error"]["code"] for r in answers if r.status_code != 201)
    assert {r.status_code for r in answers} <= {201, 409, 422}, [r.text for r in answers]
    assert set(codes) <= {"day_over_limit", "concurrency_conflict"}
    listed = await get(
        goals, "/v1/timesheet/entries", **{"from": MONDAY.isoformat(), "to": MONDAY.isoformat()}
    )
    assert listed["total_minutes"] == 300 * sum(r.status_code == 201 for r in answers) <= 1440


BAD_CHANGES: list[tuple[dict[str, Any], int, str]] = [
    ({"minutes": 0}, 422, "invalid_input"),
    ({"minutes": 12.5}, 422, "invalid_input"),
    ({"goal_id": "no-such-goal"}, 422, "unknown_goal"),
    ({"goal_id": "GOAL", "label": "both"}, 422, "subject_ambiguous"),
    ({"key_result_id": "KR"}, 422, "key_result_without_goal"),
    ({"label": None}, 422, "subject_missing"),
    ({"label": "y" * 81}, 422, "invalid_label"),
    ({"day": "+2"}, 422, "day_in_future"),
    ({"entry_id": "other"}, 422, "invalid_input"),
]


async def test_a_bad_change_is_refused_and_the_entry_stays_as_it_was(goals: GoalsService) -> None:
    goal, kr = await goal_with_key_result(goals)
    entry = await log(goals, minutes=30, label="as it was", note="n")
    url = f"/v1/timesheet/entries/{entry['entry_id']}"
    before = await counts(goals)
    for given, status, code in BAD_CHANGES:
        body = {k: {"GOAL": goal, "KR": kr}.get(v, v) if isinstance(v, str) else v for k, v in given.items()}
        if body.get("day") == "+2":
            body["day"] = (TODAY + dt.timedelta(days=2)).isoformat()
        resp = await goals.client.patch(url, json=body, headers=EMPLOYEE)
        assert (resp.status_code, resp.json()["error"]["code"]) == (status, code), (given, resp.text)
    assert await counts(goals) == before
    now = await get(goals, url)
    assert (now["minutes"], now["label"], now["goal_id"], now["note"]) == (30, "as it was", None, "n")
    for method in ("PATCH", "DELETE", "GET"):  # an entry that never was
        resp = await goals.client.request(
            method, "/v1/timesheet/entries/nope", json={} if method == "PATCH" else None, headers=EMPLOYEE
        )
        assert (resp.status_code, resp.json()["error"]["code"]) == (404, "not_found"), (method, resp.text)


async def test_a_bad_range_is_refused(goals: GoalsService) -> None:
    backwards = {"from": "2027-03-10", "to": "2027-03-01"}
    too_long = {"from": "2025-01-01", "to": "2026-12-31"}
    for params in (backwards, too_long):
        for url in ("/v1/timesheet/entries", "/v1/timesheet/summary"):
            resp = await goals.client.get(url, params=params, headers=EMPLOYEE)
            assert (resp.status_code, resp.json()["error"]["code"]) == (422, "invalid_range"), resp.text
    resp = await goals.client.get("/v1/timesheet/export.csv", params=backwards, headers=EMPLOYEE)
    assert (resp.status_code, resp.json()["error"]["code"]) == (422, "invalid_range")
    resp = await goals.client.get("/v1/timesheet/export.csv", params=too_long, headers=EMPLOYEE)
    assert resp.status_code == 200  # the export has no limit
    resp = await goals.client.get("/v1/timesheet/entries", params={"from": "yesterday"}, headers=EMPLOYEE)
    assert (resp.status_code, resp.json()["error"]["code"]) == (422, "invalid_input")
    resp = await goals.client.get("/v1/timesheet/entries", params={"person": "olga"}, headers=EMPLOYEE)
    assert (resp.status_code, resp.json()["error"]["code"]) == (422, "invalid_input")  # no such filter
