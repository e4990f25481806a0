"""Check-ins end to end: schedules over HTTP, the clock makes them due and missed, the pair completes them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select

from trellis.core.store.tables import events
from trellis.testing import eventually

from ..conftest import START, FeedbackService, auth

MIA = auth("mia", "manager", "employee")  # emil's manager
EMIL = auth("emil")
CEO = auth("ceo", "manager", "employee")  # mia's manager
OLGA = auth("olga")  # unrelated
HR = auth("hana", "hr")
OTHER_TENANT = auth("mia", "manager", tenant="globex")
ORG = [
    ("ceo", None, None),
    ("mia", "ceo", None),
    ("emil", "mia", None),
    ("olga", "ceo", None),
    ("hana", None, None),
]

MONDAY_9 = START.replace(hour=9)


async def schedule(service: FeedbackService, headers: dict[str, str] = MIA, **body: Any) -> dict[str, Any]:
    body = {
        "report_id": "emil",
        "cadence": "weekly",
        "weekday": 0,
        "time_of_day": "09:00",
        "timezone": "UTC",
        **body,
    }
    resp = await service.client.post("/v1/checkin-schedules", json=body, headers=headers)
    assert resp.status_code == 201, resp.text
    return resp.json()


async def checkins_of(
    service: FeedbackService, employee: str = "emil", **params: str
) -> list[dict[str, Any]]:
    resp = await service.client.get("/v1/checkins", params={"employee_id": employee, **params}, headers=HR)
    assert resp.status_code == 200, resp.text
    return resp.json()["checkins"]


async def until_status(service: FeedbackService, checkin_id: str, status: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        found = [c for c in await checkins_of(service) if c["id"] == checkin_id]
        return found[0] if found and found[0]["status"] == status else None

    return await eventually(check)


async def count(service: FeedbackService, event_type: str) -> int:
    async with service.runtime.sessions() as session:
        query = select(func.count()).select_from(events).where(events.c.event_type == event_type)
        return int((await session.execute(query)).scalar_one())


async def test_a_weekly_checkin_falls_due_is_missed_once_and_the_next_is_completed(
    feedback: FeedbackService,
) -> None:
    await feedback.build_org(ORG)
    created = await schedule(feedback, grace_hours=24)
    assert created["next_due_at"] == MONDAY_9.isoformat()
    first_id = f"{created['id']}-20260105T0900Z"

    feedback.clock.set(MONDAY_9 + dt.timedelta(minutes=1))
    first = await until_status(feedback, first_id, "scheduled")
    assert (first["manager_id"], first["report_id"]) == ("mia", "emil")
    assert first["grace_until"] == (MONDAY_9 + dt.timedelta(hours=24)).isoformat()

    feedback.clock.advance(dt.timedelta(hours=24))  # past the grace period
    missed = await until_status(feedback, first_id, "missed")
    assert missed["consecutive_misses"] == 1
    feedback.clock.advance(dt.timedelta(hours=1))  # later passes change nothing
    await feedback.deadlines_fired()
    assert await count(feedback, "CheckInMissed") == 1

    feedback.clock.set(MONDAY_9 + dt.timedelta(days=7, minutes=1))
    second_id = f"{created['id']}-20260112T0900Z"
    await until_status(feedback, second_id, "scheduled")
    resp = await feedback.client.post(
        f"/v1/checkins/{second_id}/complete",
        json={
            "confidence": 4,
            "key_result_updates": [
                {"goal_id": "g-1", "key_result_id": "kr-1", "value": 7, "comment": "faster"}
            ],
            "progress": "shipped the importer",
            "blockers": "waiting on legal",
            "shared_notes": "agreed to pair on reviews",
            "private_note": "emil seems tired",
        },
        headers=MIA,
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["events"] == ["CheckInCompleted", "CheckInNotesRecorded", "CheckInPrivateNoteRecorded"]
    assert resp.json()["late"] is False
    done = await until_status(feedback, second_id, "completed")
    assert done["confidence"] == 4
    resp = await feedback.client.post(
        f"/v1/checkins/{second_id}/complete", json={"confidence": 3}, headers=EMIL
    )
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "rule_violation"

    # completing disarmed its "missed" deadline: the grace period passes, nothing happens
    feedback.clock.advance(dt.timedelta(hours=30))
    await feedback.deadlines_fired()
    assert (await until_status(feedback, second_id, "completed"))["was_missed"] is False
    assert await count(feedback, "CheckInMissed") == 1


async def test_notes_are_read_by_the_pair_and_private_notes_by_their_author_only(
    feedback: FeedbackService,
) -> None:
    await feedback.build_org(ORG)
    created = await schedule(feedback)
    checkin_id = f"{created['id']}-20260105T0900Z"
    feedback.clock.set(MONDAY_9)
    await until_status(feedback, checkin_id, "scheduled")
    resp = await feedback.client.post(
        f"/v1/checkins/{checkin_id}/complete",
        json={"confidence": 2, "blockers": "the build", "private_note": "mia's own thought"},
        headers=MIA,
    )
    assert resp.status_code == 200, resp.text
    resp = await feedback.client.post(
        f"/v1/checkins/{checkin_id}/private-notes", json={"note": "emil's own thought"}, headers=EMIL
    )
    assert resp.status_code == 200, resp.text

    views = {
        name: await feedback.client.get(f"/v1/checkins/{checkin_id}", headers=headers)
        for name, headers in {
            "mia": MIA,
            "emil": EMIL,
            "ceo": CEO,
            "hr": HR,
            "olga": OLGA,
            "globex": OTHER_TENANT,
        }.items()
    }
    assert views["mia"].json()["notes"]["blockers"] == "the build"
    assert views["mia"].json()["private_notes"] == ["mia's own thought"]
    assert views["emil"].json()["notes"]["blockers"] == "the build"
    assert views["emil"].json()["private_notes"] == ["emil's own thought"]
    for name in ("ceo", "hr"):  # they oversee the check-in, never what the pair wrote
        assert views[name].status_code == 200
        assert "notes" not in views[name].json() and "private_notes" not in views[name].json()
        assert "the build" not in views[name].text and "thought" not in views[name].text
    for name in ("olga", "globex"):
        assert views[name].status_code == 404
    resp = await feedback.client.post(
        f"/v1/checkins/{checkin_id}/private-notes", json={"note": "x"}, headers=CEO
    )
    assert resp.status_code == 403


async def test_only_the_manager_or_hr_schedules_and_bad_input_is_refused(feedback: FeedbackService) -> None:
    await feedback.build_org(ORG)
    body = {"report_id": "emil"}
    cases = [
        (EMIL, body, 403, "forbidden"),  # the report themself
        (OLGA, body, 404, "not_found"),  # a stranger learns nothing
        (OTHER_TENANT, body, 404, "not_found"),
        (MIA, {"report_id": "nobody"}, 404, "not_found"),
        (MIA, {**body, "manager_id": "olga"}, 409, "rule_violation"),  # not emil's manager
        (MIA, {**body, "timezone": "Mars/Olympus"}, 422, "invalid_input"),
        (MIA, {**body, "time_of_day": "9am"}, 422, "invalid_input"),
        (MIA, {**body, "weekday": 9}, 422, "invalid_input"),
        (MIA, {**body, "cadence": "daily"}, 422, "invalid_input"),
        (MIA, {**body, "surprise": True}, 422, "invalid_input"),
    ]
    for headers, payload, status, code in cases:
        resp = await feedback.client.post("/v1/checkin-schedules", json=payload, headers=headers)
        assert (resp.status_code, resp.json()["error"]["code"]) == (status, code), (payload, resp.text)
    await schedule(feedback, headers=HR)
    resp = await feedback.client.post("/v1/checkin-schedules", json=body, headers=MIA)
    assert resp.status_code == 409 and "already has a check-in schedule" in resp.json()["error"]["message"]
    resp = await feedback.client.post("/v1/checkin-schedules", json=body)
    assert resp.status_code == 401


async def test_changing_a_schedule_moves_its_next_occurrence_and_the_old_one_never_falls_due(
    feedback: FeedbackService,
) -> None:
    await feedback.build_org(ORG)
    created = await schedule(feedback, timezone="Europe/Berlin", time_of_day="10:00")  # 09:00 UTC in January
    assert created["next_due_at"] == MONDAY_9.isoformat()
    resp = await feedback.client.patch(
        f"/v1/checkin-schedules/{created['id']}", json={"weekday": 2, "time_of_day": "15:30"}, headers=MIA
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["next_due_at"] == "2026-01-07T14:30:00+00:00"
    resp = await feedback.client.patch(
        f"/v1/checkin-schedules/{created['id']}", json={"weekday": 4}, headers=EMIL
    )
    assert resp.status_code == 403

    feedback.clock.set(START + dt.timedelta(days=2, hours=7))  # Wednesday 15:00 UTC
    await feedback.deadlines_fired()
    async with feedback.runtime.sessions() as session:
        scheduled = await session.execute(
            select(events.c.aggregate_id).where(events.c.event_type == "CheckInScheduled")
        )
        assert list(scheduled.scalars()) == [f"{created['id']}-20260107T1430Z"]
    assert await count(feedback, "CheckInScheduled") == 1


async def test_a_schedule_follows_its_report_to_a_new_manager_and_ends_when_they_leave(
    feedback: FeedbackService,
) -> None:
    await feedback.build_org(ORG)
    created = await schedule(feedback, grace_hours=2)
    schedule_id = created["id"]
    feedback.clock.set(MONDAY_9)
    open_one = f"{schedule_id}-20260105T0900Z"
    await until_status(feedback, open_one, "scheduled")

    await feedback.change_manager("emil", "olga", previous="mia")

    async def reassigned() -> bool:
        resp = await feedback.client.get(f"/v1/checkin-schedules/{schedule_id}", headers=HR)
        return resp.json()["manager_id"] == "olga"

    await eventually(reassigned)
    # the check-in due with mia is cancelled when its grace ends, not counted as missed
    feedback.clock.advance(dt.timedelta(hours=3))
    await until_status(feedback, open_one, "cancelled")
    assert await count(feedback, "CheckInMissed") == 0
    # the next one is with olga
    feedback.clock.set(MONDAY_9 + dt.timedelta(days=7))
    nxt = await until_status(feedback, f"{schedule_id}-20260112T0900Z", "scheduled")
    assert nxt["manager_id"] == "olga"
    resp = await feedback.client.get(f"/v1/checkins/{nxt['id']}", headers=MIA)
    assert resp.status_code == 404  # mia no longer manages emil

    await feedback.offboard("emil")

    async def ended() -> dict[str, Any] | None:
        resp = await feedback.client.get(f"/v1/checkin-schedules/{schedule_id}", headers=HR)
        return resp.json() if resp.json()["status"] == "ended" else None

    assert (await eventually(ended))["end_reason"] == "report offboarded"
    feedback.clock.advance(dt.timedelta(days=14))
    await feedback.deadlines_fired()
    assert await count(feedback, "CheckInScheduled") == 2  # nothing after the end


async def test_misses_in_a_row_are_counted_per_pair_and_a_completion_resets_them(
    feedback: FeedbackService,
) -> None:
    await feedback.build_org(ORG)
    created = await schedule(feedback, grace_hours=1)
    ids = [f"{created['id']}-202601{day:02d}T0900Z" for day in (5, 12, 19, 26)]
    for week, checkin_id in enumerate(ids):
        feedback.clock.set(MONDAY_9 + dt.timedelta(days=7 * week))
        await until_status(feedback, checkin_id, "scheduled")
        if week == 2:
            resp = await feedback.client.post(
                f"/v1/checkins/{checkin_id}/complete", json={"confidence": 3}, headers=EMIL
            )
            assert resp.status_code == 200, resp.text
        feedback.clock.advance(dt.timedelta(hours=2))
        await feedback.deadlines_fired()
    expected = [("missed", 1), ("missed", 2), ("completed", 0), ("missed", 1)]

    async def counted() -> bool:
        found = {c["id"]: c for c in await checkins_of(feedback)}
        return [(found[i]["status"], found[i]["consecutive_misses"]) for i in ids] == expected

    await eventually(counted)


async def test_a_missed_checkin_may_be_completed_late(feedback: FeedbackService) -> None:
    await feedback.build_org(ORG)
    created = await schedule(feedback, grace_hours=1)
    checkin_id = f"{created['id']}-20260105T0900Z"
    feedback.clock.set(MONDAY_9 + dt.timedelta(hours=2))
    await until_status(feedback, checkin_id, "missed")
    resp = await feedback.client.post(
        f"/v1/checkins/{checkin_id}/complete", json={"confidence": 3}, headers=EMIL
    )
    assert resp.status_code == 200 and resp.json()["late"] is True
    done = await until_status(feedback, checkin_id, "completed")
    assert done["was_missed"] and done["late"]


async def test_a_report_left_without_a_manager_or_whose_manager_leaves_has_no_schedule(
    feedback: FeedbackService,
) -> None:
    await feedback.build_org([*ORG, ("ella", "mia", None)])
    emils = (await schedule(feedback))["id"]
    ellas = (await schedule(feedback, report_id="ella"))["id"]
    olgas = (await schedule(feedback, headers=CEO, report_id="olga"))["id"]

    await feedback.change_manager("emil", None, previous="mia")
    await feedback.offboard("mia")

    async def reasons() -> dict[str, str] | None:
        found = {}
        for schedule_id in (emils, ellas, olgas):
            body = (await feedback.client.get(f"/v1/checkin-schedules/{schedule_id}", headers=HR)).json()
            found[schedule_id] = body["end_reason"] if body["status"] == "ended" else "active"
        return found if "active" not in (found[emils], found[ellas]) else None

    assert await eventually(reasons) == {emils: "no manager", ellas: "manager offboarded", olgas: "active"}
    # a new schedule for ella may start with her next manager; emil's slot is free again
    await feedback.change_manager("ella", "ceo", previous="mia")
    await feedback.until_org("ella", "ceo")
    await schedule(feedback, headers=CEO, report_id="ella")
    feedback.clock.set(MONDAY_9 + dt.timedelta(days=1))
    await feedback.deadlines_fired()

    async def held_with_the_ceo() -> set[str]:
        found = {c["schedule_id"] for c in await checkins_of(feedback, "ceo")}
        return found if len(found) == 2 else set()

    scheduled = await eventually(held_with_the_ceo)  # olga's, and ella's new one
    assert olgas in scheduled and emils not in scheduled and ellas not in scheduled


async def test_after_a_long_pause_every_occurrence_since_falls_due_and_is_missed_once(
    feedback: FeedbackService,
) -> None:
    await feedback.build_org(ORG)
    await schedule(feedback, grace_hours=1)
    feedback.clock.set(MONDAY_9 + dt.timedelta(days=21, hours=2))  # four Mondays passed

    async def caught_up() -> bool:
        return await count(feedback, "CheckInMissed") == 4

    await eventually(caught_up)
    await feedback.deadlines_fired()
    assert await count(feedback, "CheckInScheduled") == 4
    async with feedback.runtime.sessions() as session:
        rows = await session.execute(
            select(events.c.payload)
            .where(events.c.event_type == "CheckInMissed")
            .order_by(events.c.global_position)
        )
        assert [p["consecutive_misses"] for p in rows.scalars()] == [1, 2, 3, 4]
