"""Key-result values recorded in a check-in (the feedback service's CheckInCompleted) become goal progress."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select

from trellis.contracts.feedback import CheckInCompleted, KeyResultUpdate
from trellis.core.messaging.jetstream import connect
from trellis.core.store.tables import dead_letters
from trellis.testing import StreamWriter, eventually

from ..conftest import GoalsService, auth

EMIL = auth("emil", "employee")  # mia manages emil (see the goals fixture)
OLGA = auth("olga", "employee")


async def goal_with_key_result(goals: GoalsService, headers: dict[str, str], title: str) -> tuple[str, str]:
    resp = await goals.client.post(
        "/v1/goals", json={"level": "individual", "title": title, "period": "2026-Q1"}, headers=headers
    )
    goal_id = resp.json()["goal_id"]
    resp = await goals.client.post(
        f"/v1/goals/{goal_id}/key-results", json={"name": "demos", "start": 0, "target": 10}, headers=headers
    )
    return goal_id, resp.json()["key_result_id"]


def completed(checkin_id: str, *updates: KeyResultUpdate) -> CheckInCompleted:
    return CheckInCompleted(
        checkin_id=checkin_id,
        schedule_id="s-1",
        manager_id="mia",
        report_id="emil",
        completed_by="mia",
        completed_at=dt.datetime(2026, 1, 12, 9, 30, tzinfo=dt.UTC),
        confidence=4,
        key_result_updates=list(updates),
    )


async def progress_events(goals: GoalsService, goal_id: str) -> list[dict[str, Any]]:
    history = (await goals.client.get(f"/v1/goals/{goal_id}/history", headers=EMIL)).json()
    return [e for e in history["events"] if e["type"] == "KeyResultProgressRecorded"]


async def test_a_checkin_updates_the_participants_goals_and_skips_everything_else(
    goals: GoalsService,
) -> None:
    emils, emils_kr = await goal_with_key_result(goals, EMIL, "Run demos")
    olgas, olgas_kr = await goal_with_key_result(goals, OLGA, "Olga's demos")
    nc = await connect(goals.runtime.settings.nats_url, name="goals-tests-feedback")
    try:
        feedback = StreamWriter(nc.jetstream(), goals.runtime.subjects, "feedback")
        await feedback.emit(
            "c-1",
            completed(
                "c-1",
                KeyResultUpdate(goal_id=olgas, key_result_id=olgas_kr, value=9),  # neither participant's goal
                KeyResultUpdate(goal_id="no-such-goal", key_result_id="k", value=1),
                KeyResultUpdate(goal_id=emils, key_result_id="no-such-key-result", value=1),
                KeyResultUpdate(goal_id=emils, key_result_id=emils_kr, value=6, comment="two more demos"),
            ),
        )
        recorded = await eventually(lambda: progress_events(goals, emils), timeout=20)
        assert len(recorded) == 1
        assert recorded[0]["data"]["value"] == 6
        assert recorded[0]["data"]["comment"] == "check-in c-1: two more demos"
        assert recorded[0]["data"]["confidence"] == 4
        assert recorded[0]["actor_id"] == "mia"

        async def rolled_up() -> bool:
            body = (await goals.client.get(f"/v1/goals/{emils}", headers=EMIL)).json()
            return body["progress"] == 0.6

        await eventually(rolled_up)

        # the consumer went on: the next check-in is applied too, and nothing was dead-lettered
        await feedback.emit(
            "c-2", completed("c-2", KeyResultUpdate(goal_id=emils, key_result_id=emils_kr, value=8))
        )

        async def second() -> bool:
            return len(await progress_events(goals, emils)) == 2

        await eventually(second)
        assert await progress_events(goals, olgas) == []
        async with goals.runtime.sessions() as session:
            assert (await session.execute(select(func.count()).select_from(dead_letters))).scalar_one() == 0
    finally:
        await nc.close()
