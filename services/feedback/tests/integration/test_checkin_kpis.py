"""Check-in completion rates per manager and per team, over a window, for whom the viewer oversees."""

from __future__ import annotations

import datetime as dt
from typing import Any

from trellis.testing import eventually

from ..conftest import START, FeedbackService, auth

ORG = [
    ("ceo", None, None),
    ("mia", "ceo", "eng"),
    ("max", "ceo", "sales"),
    ("emil", "mia", "eng"),
    ("ella", "mia", "eng"),
    ("sam", "max", "sales"),
]
MONDAY_9 = START.replace(hour=9)
WEEK = dt.timedelta(days=7)
COMPLETED = {0: {"emil", "sam"}, 1: {"ella"}}  # who completes their check-in in week 0 and 1


async def kpis(service: FeedbackService, headers: dict[str, str], **params: str) -> dict[str, Any]:
    resp = await service.client.get("/v1/kpis/checkin-completion", params=params, headers=headers)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def test_completion_rates_per_manager_and_team(feedback: FeedbackService) -> None:
    await feedback.build_org(ORG)
    schedule_ids = {}
    for report, manager in (("emil", "mia"), ("ella", "mia"), ("sam", "max")):
        resp = await feedback.client.post(
            "/v1/checkin-schedules", json={"report_id": report, "grace_hours": 1}, headers=auth(manager)
        )
        schedule_ids[report] = resp.json()["id"]
    for week, completing in COMPLETED.items():
        feedback.clock.set(MONDAY_9 + week * WEEK)
        await feedback.deadlines_fired()
        for report in completing:
            checkin_id = f"{schedule_ids[report]}-{(MONDAY_9 + week * WEEK):%Y%m%dT%H%MZ}"
            resp = await feedback.client.post(
                f"/v1/checkins/{checkin_id}/complete", json={"confidence": 4}, headers=auth(report)
            )
            assert resp.status_code == 200, resp.text
        feedback.clock.advance(dt.timedelta(hours=2))
        await feedback.deadlines_fired()

    window = {"from": START.isoformat(), "to": (START + 2 * WEEK).isoformat()}

    async def all_in() -> dict[str, Any] | None:
        found = await kpis(feedback, auth("hana", "hr"), **window)
        return found if found["overall"]["completed"] + found["overall"]["missed"] == 6 else None

    everyone = await eventually(all_in)
    assert everyone["overall"] == {"due": 6, "completed": 3, "missed": 3, "rate": 0.5}
    assert everyone["per_manager"] == [
        {"manager_id": "max", "due": 2, "completed": 1, "missed": 1, "rate": 0.5},
        {"manager_id": "mia", "due": 4, "completed": 2, "missed": 2, "rate": 0.5},
    ]
    assert [(t["team_id"], t["due"], t["completed"]) for t in everyone["per_team"]] == [
        ("eng", 4, 2),
        ("sales", 2, 1),
    ]
    assert await kpis(feedback, auth("ceo"), **window) == everyone  # everyone reports to the ceo
    mias = await kpis(feedback, auth("mia"), **window)
    assert [m["manager_id"] for m in mias["per_manager"]] == ["mia"]
    assert (await kpis(feedback, auth("emil"), **window))["overall"][
        "due"
    ] == 0  # his manager is not his to see
    assert (await kpis(feedback, auth("hana", "hr", tenant="globex"), **window))["overall"]["due"] == 0
    first_week = await kpis(
        feedback, auth("hana", "hr"), **{"from": START.isoformat(), "to": (START + WEEK).isoformat()}
    )
    assert first_week["overall"] == {"due": 3, "completed": 2, "missed": 1, "rate": 0.6667}
    default_window = await kpis(feedback, auth("hana", "hr"))  # the 30 days before the service's now
    assert default_window["overall"]["due"] == 6
    resp = await feedback.client.get(
        "/v1/kpis/checkin-completion",
        params={"from": window["to"], "to": window["from"]},
        headers=auth("hana", "hr"),
    )
    assert resp.status_code == 422
