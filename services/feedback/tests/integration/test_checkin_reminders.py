"""A day before each check-in, the pair is nudged: ``CheckInComingUp`` once per check-in,
with the pair as it is then, and none for a schedule that ended."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from trellis.core.store.tables import events
from trellis.testing import eventually

from ..conftest import START, FeedbackService, auth

MIA = auth("mia", "manager", "employee")
ORG = [("ceo", None, None), ("mia", "ceo", None), ("emil", "mia", None)]
MONDAY_9 = START.replace(hour=9)


async def coming_up(service: FeedbackService) -> list[dict[str, Any]]:
    async with service.runtime.sessions() as session:
        rows = await session.execute(
            select(events.c.payload)
            .where(events.c.event_type == "CheckInComingUp")
            .order_by(events.c.global_position)
        )
        return [dict(r.payload) for r in rows]


async def test_the_pair_is_nudged_a_day_before_each_check_in_once_and_not_after_the_schedule_ends(
    feedback: FeedbackService,
) -> None:
    await feedback.build_org(ORG)
    body = {
        "report_id": "emil",
        "cadence": "weekly",
        "weekday": 0,
        "time_of_day": "10:00",
        "timezone": "Europe/Berlin",
    }
    resp = await feedback.client.post("/v1/checkin-schedules", json=body, headers=MIA)
    assert resp.status_code == 201, resp.text
    schedule = resp.json()["id"]

    # created an hour before the first one (09:00 UTC): its nudge is due at once
    first = await eventually(lambda: _count(feedback, 1))
    assert (first[0]["manager_id"], first[0]["report_id"]) == ("mia", "emil")
    assert first[0]["checkin_id"] == f"{schedule}-20260105T0900Z"
    assert (first[0]["timezone"], dt.datetime.fromisoformat(first[0]["due_at"])) == (
        "Europe/Berlin",
        MONDAY_9,
    )

    feedback.clock.set(MONDAY_9 + dt.timedelta(minutes=1))  # the first falls due: the next is armed
    feedback.clock.set(MONDAY_9 + dt.timedelta(days=6) - dt.timedelta(minutes=1))
    await feedback.deadlines_fired()
    assert len(await coming_up(feedback)) == 1  # not yet: a day before is Sunday 09:00
    feedback.clock.set(MONDAY_9 + dt.timedelta(days=6, minutes=1))
    second = await eventually(lambda: _count(feedback, 2))
    assert second[1]["checkin_id"] == f"{schedule}-20260112T0900Z"
    feedback.clock.set(MONDAY_9 + dt.timedelta(days=6, hours=12))
    await feedback.deadlines_fired()
    assert len(await coming_up(feedback)) == 2  # once

    feedback.clock.set(MONDAY_9 + dt.timedelta(days=7, minutes=1))  # the second falls due
    await feedback.deadlines_fired()
    resp = await feedback.client.post(f"/v1/checkin-schedules/{schedule}/end", json={}, headers=MIA)
    assert resp.status_code == 200, resp.text
    feedback.clock.set(MONDAY_9 + dt.timedelta(days=14, minutes=1))  # past the third's nudge and due
    await feedback.deadlines_fired()
    assert len(await coming_up(feedback)) == 2  # the schedule ended: nobody is nudged


async def _count(service: FeedbackService, expected: int) -> list[dict[str, Any]] | None:
    found = await coming_up(service)
    return found if len(found) >= expected else None
