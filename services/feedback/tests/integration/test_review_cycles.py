"""Review cycles: opened for a team subtree, reviews submitted, "closing soon", closed at the deadline."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from trellis.core.store.tables import events
from trellis.testing import eventually

from ..conftest import START, FeedbackService, auth

ORG = [  # (employee, manager, team); web sits inside eng
    ("ceo", None, None),
    ("mia", "ceo", "eng"),
    ("emil", "mia", "web"),
    ("ella", "mia", "web"),
    ("sam", "ceo", "sales"),
    ("hana", "ceo", "people"),
]
HR = auth("hana", "hr", "employee")
MIA = auth("mia", "manager", "employee")
EMIL, ELLA, SAM = auth("emil"), auth("ella"), auth("sam")
CEO = auth("ceo", "manager", "employee")
DEADLINE = START + dt.timedelta(days=10, hours=9)


async def org_with_teams(service: FeedbackService) -> None:
    await service.team("eng")
    await service.team("web", parent="eng")
    await service.team("sales")
    await service.team("people")
    await service.build_org(ORG)


async def open_cycle(service: FeedbackService, **body: Any) -> str:
    body = {"name": "Q1 reviews", "period": "2026-Q1", "deadline": DEADLINE.isoformat(), **body}
    resp = await service.client.post("/v1/review-cycles", json=body, headers=HR)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


async def submit(service: FeedbackService, cycle: str, review: str, headers: dict[str, str]) -> int:
    resp = await service.client.post(
        f"/v1/review-cycles/{cycle}/reviews/{review}/submit",
        json={"answers": {"strengths": f"{review} strengths"}, "rating": 4},
        headers=headers,
    )
    return resp.status_code


async def readers(service: FeedbackService, cycle: str, review: str) -> set[str]:
    who = {"emil": EMIL, "ella": ELLA, "mia": MIA, "ceo": CEO, "sam": SAM, "hana": HR}
    found = set()
    for name, headers in who.items():
        resp = await service.client.get(f"/v1/review-cycles/{cycle}/reviews/{review}", headers=headers)
        assert resp.status_code in (200, 404), resp.text
        if resp.status_code == 200:
            found.add(name)
            assert resp.json()["answers"] == {"strengths": f"{review} strengths"}
    return found


async def stored(service: FeedbackService, event_type: str, cycle: str) -> list[dict[str, Any]]:
    async with service.runtime.sessions() as session:
        rows = await session.execute(
            select(events.c.payload).where(events.c.event_type == event_type, events.c.aggregate_id == cycle)
        )
        return list(rows.scalars())


async def test_a_team_cycle_from_opening_to_closing_at_its_deadline(feedback: FeedbackService) -> None:
    await org_with_teams(feedback)
    resp = await feedback.client.post(
        "/v1/review-cycles",
        json={"name": "x", "period": "p", "deadline": DEADLINE.isoformat()},
        headers=MIA,
    )
    assert resp.status_code == 403
    cycle = await open_cycle(feedback, team_id="eng")

    resp = await feedback.client.post(
        f"/v1/review-cycles/{cycle}/peer-reviewers",
        json={"subject_id": "emil", "reviewer_ids": ["ella", "sam"]},
        headers=ELLA,
    )
    assert resp.status_code == 403  # only emil's manager (or hr) chooses his peers
    resp = await feedback.client.post(
        f"/v1/review-cycles/{cycle}/peer-reviewers",
        json={"subject_id": "emil", "reviewer_ids": ["ella", "sam"]},
        headers=MIA,
    )
    assert resp.status_code == 200, resp.text

    assert await submit(feedback, cycle, "self:emil", EMIL) == 200
    assert await submit(feedback, cycle, "manager:emil", EMIL) == 403  # mia writes that one
    assert await submit(feedback, cycle, "manager:emil", MIA) == 200
    assert await submit(feedback, cycle, "peer:emil:ella", ELLA) == 200
    assert await submit(feedback, cycle, "self:emil", EMIL) == 409  # once

    assert await readers(feedback, cycle, "self:emil") == {"emil", "mia", "ceo", "hana"}
    assert await readers(feedback, cycle, "manager:emil") == {"mia", "ceo", "hana"}  # emil: once closed
    assert await readers(feedback, cycle, "peer:emil:ella") == {"ella", "mia", "ceo", "hana"}  # never emil

    async def to_write() -> set[str]:
        resp = await feedback.client.get("/v1/employees/ella/reviews-to-write", headers=ELLA)
        return {r["review_id"] for r in resp.json()["reviews"] if not r["submitted"]}

    assert await eventually(to_write) == {"self:ella"}
    assert (await feedback.client.get("/v1/employees/ella/reviews-to-write", headers=SAM)).status_code == 404

    async def completion(headers: dict[str, str]) -> dict[str, Any]:
        resp = await feedback.client.get(f"/v1/review-cycles/{cycle}", headers=headers)
        body: dict[str, Any] = resp.json()["completion"]
        return body

    async def counted() -> bool:
        return (await completion(HR))["submitted"] == 3

    await eventually(counted)
    everyone = await completion(HR)
    assert (everyone["expected"], everyone["submitted"]) == (8, 3)
    assert [(t["team_id"], t["expected"], t["submitted"]) for t in everyone["per_team"]] == [
        ("eng", 2, 0),  # mia's own reviews
        ("web", 6, 3),
    ]
    assert [(k["kind"], k["expected"], k["submitted"]) for k in everyone["per_kind"]] == [
        ("manager", 3, 1),
        ("peer", 2, 1),
        ("self", 3, 1),
    ]
    assert await completion(MIA) == everyone  # she oversees everyone reviewed
    mine = await completion(EMIL)  # only the reviews about himself
    assert (mine["expected"], mine["submitted"]) == (4, 3)

    feedback.clock.set(DEADLINE - dt.timedelta(days=2))
    await feedback.deadlines_fired()
    (soon,) = await stored(feedback, "ReviewCycleClosingSoon", cycle)
    assert soon["pending_reviewer_ids"] == ["ceo", "ella", "mia", "sam"]

    assert await submit(feedback, cycle, "self:ella", ELLA) == 200
    feedback.clock.set(DEADLINE + dt.timedelta(minutes=1))
    assert await submit(feedback, cycle, "self:mia", MIA) == 409  # late, even before the deadline fires
    await feedback.deadlines_fired()
    (closed,) = await stored(feedback, "ReviewCycleClosed", cycle)
    assert closed == {"cycle_id": cycle, "closed_by": "deadline", "submitted": 4, "expected": 8}
    assert await readers(feedback, cycle, "manager:emil") == {"emil", "mia", "ceo", "hana"}

    async def listed_closed() -> bool:
        resp = await feedback.client.get("/v1/review-cycles", headers=EMIL)
        return resp.json()["cycles"][0]["status"] == "closed"

    await eventually(listed_closed)


async def test_a_cycle_closed_by_hand_is_closed_once_and_a_tenant_cycle_takes_everyone(
    feedback: FeedbackService,
) -> None:
    await org_with_teams(feedback)
    cycle = await open_cycle(feedback)  # the whole tenant
    resp = await feedback.client.get(f"/v1/review-cycles/{cycle}", headers=HR)
    # six self reviews, five manager reviews (the ceo has no manager)
    assert resp.status_code == 200 and resp.json()["status"] == "open"
    (opened,) = await stored(feedback, "ReviewCycleOpened", cycle)
    assert opened["participant_ids"] == ["ceo", "ella", "emil", "hana", "mia", "sam"]
    assert len(opened["reviews"]) == 11

    assert (await feedback.client.post(f"/v1/review-cycles/{cycle}/close", headers=MIA)).status_code == 403
    resp = await feedback.client.post(f"/v1/review-cycles/{cycle}/close", headers=HR)
    assert resp.status_code == 200 and resp.json()["events"] == ["ReviewCycleClosed"]
    assert await submit(feedback, cycle, "self:emil", EMIL) == 409
    feedback.clock.set(DEADLINE + dt.timedelta(days=1))
    await feedback.deadlines_fired()
    assert [c["closed_by"] for c in await stored(feedback, "ReviewCycleClosed", cycle)] == ["hand"]
    assert await stored(feedback, "ReviewCycleClosingSoon", cycle) == []


async def test_bad_cycles_are_refused(feedback: FeedbackService) -> None:
    await org_with_teams(feedback)
    for body, status in [
        ({"team_id": "nope"}, 404),
        ({"deadline": (START - dt.timedelta(days=1)).isoformat()}, 422),
        ({"deadline": "2026-03-01T10:00:00"}, 422),  # no time zone
        ({"name": ""}, 422),
    ]:
        payload = {"name": "Q1", "period": "2026-Q1", "deadline": DEADLINE.isoformat(), **body}
        resp = await feedback.client.post("/v1/review-cycles", json=payload, headers=HR)
        assert resp.status_code == status, (body, resp.text)
    other = auth("hana", "hr", tenant="globex")
    cycle = await open_cycle(feedback, team_id="web")
    assert (await feedback.client.get(f"/v1/review-cycles/{cycle}", headers=other)).status_code == 404
    assert (
        await feedback.client.get(f"/v1/review-cycles/{cycle}/reviews/self:emil", headers=other)
    ).status_code == 404
