"""1:1 agendas end to end, on the service clock: a pair prepares an agenda, holds the 1:1,
misses the next, holds the one after; the agenda follows the report to a new manager.

Org: ceo ← mia ← emil; olga, another manager under the ceo.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import nats
from sqlalchemy import func, select

from trellis.core.store.tables import events
from trellis.testing import eventually

from ..conftest import START, FeedbackService, auth
from .test_anonymity import stored_rows

MIA = auth("mia", "manager", "employee")
EMIL = auth("emil")
OLGA = auth("olga", "manager", "employee")
ORG = [("ceo", None, None), ("mia", "ceo", None), ("emil", "mia", None), ("olga", "ceo", None)]
MONDAY_9 = START.replace(hour=9)
WEEK = dt.timedelta(days=7)
SECRET = "ask about unpaid leave"  # emil's private talking point


async def schedule(service: FeedbackService) -> str:
    body = {"report_id": "emil", "weekday": 0, "time_of_day": "09:00", "timezone": "UTC", "grace_hours": 24}
    resp = await service.client.post("/v1/checkin-schedules", json=body, headers=MIA)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


async def add_point(service: FeedbackService, schedule_id: str, headers: dict[str, str], **body: Any) -> str:
    resp = await service.client.post(
        f"/v1/checkin-schedules/{schedule_id}/agenda/points", json=body, headers=headers
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["related"]["talking_point"])


async def agenda(service: FeedbackService, schedule_id: str, headers: dict[str, str]) -> dict[str, Any]:
    resp = await service.client.get(f"/v1/checkin-schedules/{schedule_id}/agenda", headers=headers)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def texts(view: dict[str, Any]) -> list[str]:
    return [p["text"] for p in view["points"]]


async def due(service: FeedbackService, at: dt.datetime) -> None:
    service.clock.set(at)
    await service.deadlines_fired()


async def count(service: FeedbackService, event_type: str) -> int:
    async with service.runtime.sessions() as session:
        query = select(func.count()).select_from(events).where(events.c.event_type == event_type)
        return int((await session.execute(query)).scalar_one())


async def action_items(
    service: FeedbackService, headers: dict[str, str], **params: str
) -> list[dict[str, Any]]:
    resp = await service.client.get("/v1/action-items", params=params, headers=headers)
    assert resp.status_code == 200, resp.text
    return list(resp.json()["action_items"])


async def test_a_pair_prepares_holds_misses_and_holds_again_and_the_agenda_carries_over(
    feedback: FeedbackService, nats_url: str
) -> None:
    await feedback.build_org(ORG)
    schedule_id = await schedule(feedback)
    first, second, third = (f"{schedule_id}-202601{day:02d}T0900Z" for day in (5, 12, 19))

    # before the first 1:1 both prepare: emil a shared and a private point, mia a shared one
    promotion = await add_point(feedback, schedule_id, EMIL, text="my promotion path", goal_id="g-1")
    leave = await add_point(feedback, schedule_id, EMIL, text=SECRET, private=True)
    budget = await add_point(
        feedback, schedule_id, MIA, text="conference budget", goal_id="g-2", key_result_id="kr-1"
    )
    resp = await feedback.client.patch(
        f"/v1/checkin-schedules/{schedule_id}/agenda/points/{budget}",
        json={"text": "conference budget for Q1"},
        headers=MIA,
    )
    assert resp.status_code == 200 and resp.json()["events"] == ["TalkingPointWritten"], resp.text
    resp = await feedback.client.put(
        f"/v1/checkin-schedules/{schedule_id}/agenda/order",
        json={"point_ids": [budget, promotion]},
        headers=MIA,
    )
    assert resp.status_code == 200 and resp.json()["events"] == ["TalkingPointsReordered"], resp.text
    assert texts(await agenda(feedback, schedule_id, MIA)) == [
        "conference budget for Q1",
        "my promotion path",
    ]
    emils = await agenda(feedback, schedule_id, EMIL)
    assert texts(emils) == [
        "conference budget for Q1",
        SECRET,
        "my promotion path",
    ]  # his point kept its place
    assert (emils["points"][0]["goal_id"], emils["points"][0]["key_result_id"]) == ("g-2", "kr-1")

    # the first 1:1: budget and the secret discussed, the promotion path carried over, action items agreed
    await due(feedback, MONDAY_9 + dt.timedelta(minutes=5))
    for owner, text, due_on in (
        ("emil", "write the promotion case", "2026-01-16"),
        ("mia", "ask finance", None),
    ):
        resp = await feedback.client.post(
            f"/v1/checkin-schedules/{schedule_id}/agenda/action-items",
            json={"owner_id": owner, "text": text, "due_on": due_on, "checkin_id": first},
            headers=MIA,
        )
        assert resp.status_code == 201, resp.text
        assert resp.json()["events"] == ["ActionItemAssigned", "ActionItemWritten"]
    resp = await feedback.client.post(
        f"/v1/checkins/{first}/complete",
        json={"confidence": 4, "discussed_point_ids": [budget, leave]},
        headers=EMIL,
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["events"] == ["CheckInCompleted", "TalkingPointsDiscussed", "AgendaCarriedOver"]
    after_first = await agenda(feedback, schedule_id, EMIL)
    assert texts(after_first) == ["my promotion path"] and after_first["points"][0]["carried_over"] == 1
    assert sorted(i["text"] for i in after_first["action_items"]) == [
        "ask finance",
        "write the promotion case",
    ]
    held = (await feedback.client.get(f"/v1/checkins/{first}/agenda", headers=MIA)).json()
    assert held["outcome"] == "completed"
    assert [p["text"] for p in held["discussed"]] == ["conference budget for Q1"]  # not emil's private one
    assert [p["text"] for p in held["carried_over"]] == ["my promotion path"]
    assert {i["owner_id"] for i in held["action_items"]} == {"emil", "mia"}
    emils_view = (await feedback.client.get(f"/v1/checkins/{first}/agenda", headers=EMIL)).json()
    assert [p["text"] for p in emils_view["discussed"]] == ["conference budget for Q1", SECRET]

    # the second 1:1 is missed: everything carries over
    await due(feedback, MONDAY_9 + WEEK + dt.timedelta(minutes=5))
    late_point = await add_point(feedback, schedule_id, MIA, text="team offsite")
    await due(feedback, MONDAY_9 + WEEK + dt.timedelta(hours=25))
    assert await count(feedback, "CheckInMissed") == 1
    missed = (await feedback.client.get(f"/v1/checkins/{second}/agenda", headers=EMIL)).json()
    assert missed["outcome"] == "missed" and missed["discussed"] == []
    assert [p["text"] for p in missed["carried_over"]] == ["my promotion path", "team offsite"]
    carried = await agenda(feedback, schedule_id, MIA)
    assert [(p["text"], p["carried_over"]) for p in carried["points"]] == [
        ("my promotion path", 2),
        ("team offsite", 1),
    ]
    assert len(carried["action_items"]) == 2  # action items stay open, 1:1 after 1:1

    # emil's action item passes its due date (the end of 2026-01-16, UTC): overdue, once
    await due(feedback, dt.datetime(2026, 1, 17, 0, 1, tzinfo=dt.UTC))
    await due(feedback, dt.datetime(2026, 1, 18, 12, tzinfo=dt.UTC))
    assert await count(feedback, "ActionItemOverdue") == 1
    (overdue,) = [i for i in await action_items(feedback, EMIL) if i["owner_id"] == "emil"]
    assert overdue["overdue"] is True and overdue["text"] == "write the promotion case"

    # the third 1:1 is held: both carried points discussed, emil's action item done
    await due(feedback, MONDAY_9 + 2 * WEEK + dt.timedelta(minutes=5))
    resp = await feedback.client.post(
        f"/v1/checkins/{third}/complete",
        json={"confidence": 5, "discussed_point_ids": [late_point, promotion]},
        headers=MIA,
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["events"] == ["CheckInCompleted", "TalkingPointsDiscussed"]  # nothing left to carry
    resp = await feedback.client.post(
        f"/v1/checkin-schedules/{schedule_id}/agenda/action-items/{overdue['id']}/done", headers=EMIL
    )
    assert resp.status_code == 200 and resp.json()["events"] == ["ActionItemCompleted"], resp.text
    final = await agenda(feedback, schedule_id, EMIL)
    assert final["points"] == [] and [i["text"] for i in final["action_items"]] == ["ask finance"]
    third_view = (await feedback.client.get(f"/v1/checkins/{third}/agenda", headers=EMIL)).json()
    assert [(p["text"], p["discussed_in"]) for p in third_view["discussed"]] == [
        ("team offsite", third),
        ("my promotion path", third),
    ]

    # both people's lists: what they own, and what their 1:1 agreed
    async def listed() -> bool:
        mias = await action_items(feedback, MIA)
        done = await action_items(feedback, EMIL, status="done")
        return [i["text"] for i in mias] == ["ask finance"] and [i["text"] for i in done] == [
            "write the promotion case"
        ]

    await eventually(listed)
    assert [i["text"] for i in await action_items(feedback, EMIL, owner_id="mia")] == ["ask finance"]

    # the stream carries who and when, never what was written
    messages = await feedback_stream(feedback, nats_url, "ActionItemCompleted")
    on_stream = b"\n".join(m.data for m in messages)
    published = [json.loads(m.data)["event_type"] for m in messages]
    assert published.count("TalkingPointAdded") == 3  # the shared points only
    assert published.count("ActionItemAssigned") == 2 and published.count("ActionItemOverdue") == 1
    for private_type in (
        "TalkingPointWritten",
        "ActionItemWritten",
        "AgendaCarriedOver",
        "TalkingPointsDiscussed",
    ):
        assert private_type not in published
    for text in (SECRET, "my promotion path", "conference budget", "write the promotion case", "ask finance"):
        assert text.encode() not in on_stream
    assert leave.encode() not in on_stream  # not even the private point's id

    # nor does any row outside the event store itself (read views, outbox, deadlines)
    rows = [line for line in (await stored_rows(feedback)).splitlines() if not line.startswith("events:")]
    assert any("action_items:" in line for line in rows)
    for text in (SECRET, "my promotion path", "write the promotion case"):
        assert not [line for line in rows if text in line]


async def feedback_stream(service: FeedbackService, nats_url: str, last_type: str) -> list[Any]:
    """Every message on the feedback stream, once one of ``last_type`` is there."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        stream = service.runtime.stream.name
        subject = f"{service.runtime.subjects.root}.feedback.*.{last_type}.>"

        async def arrived() -> bool:
            info = await js.stream_info(stream, subjects_filter=subject)
            return bool(info.state.subjects)

        await eventually(arrived)
        total = (await js.stream_info(stream)).state.messages
        sub = await js.pull_subscribe(f"{service.runtime.subjects.root}.feedback.>", stream=stream)
        msgs = await sub.fetch(total, timeout=2)
        assert len(msgs) == total
        return list(msgs)
    finally:
        await nc.close()


async def test_the_agenda_follows_the_report_to_a_new_manager(feedback: FeedbackService) -> None:
    await feedback.build_org(ORG)
    schedule_id = await schedule(feedback)
    shared = await add_point(feedback, schedule_id, MIA, text="hand-over notes")
    await add_point(feedback, schedule_id, MIA, text="mia's worry", private=True)
    await add_point(feedback, schedule_id, EMIL, text="emil's prep", private=True)
    resp = await feedback.client.post(
        f"/v1/checkin-schedules/{schedule_id}/agenda/action-items",
        json={"owner_id": "mia", "text": "send the review packet", "due_on": "2026-02-02"},
        headers=EMIL,
    )
    assert resp.status_code == 201, resp.text
    item = resp.json()["related"]["action_item"]

    await feedback.change_manager("emil", "olga", previous="mia")

    async def handed_over() -> dict[str, Any] | None:
        resp = await feedback.client.get(f"/v1/checkin-schedules/{schedule_id}/agenda", headers=OLGA)
        return resp.json() if resp.status_code == 200 else None

    olgas = await eventually(handed_over)
    assert olgas["manager_id"] == "olga"
    assert texts(olgas) == ["hand-over notes"]  # mia's private point withdrawn, emil's his own
    assert [(i["owner_id"], i["text"]) for i in olgas["action_items"]] == [("mia", "send the review packet")]
    assert texts(await agenda(feedback, schedule_id, EMIL)) == ["hand-over notes", "emil's prep"]
    assert (
        await feedback.client.get(f"/v1/checkin-schedules/{schedule_id}/agenda", headers=MIA)
    ).status_code == 404
    resp = await feedback.client.patch(
        f"/v1/checkin-schedules/{schedule_id}/agenda/points/{shared}", json={"text": "x"}, headers=MIA
    )
    assert resp.status_code == 404  # no longer hers to change

    # mia still owns her action item: on her list, and hers to complete
    async def on_mias_list() -> list[dict[str, Any]]:
        return await action_items(feedback, MIA)

    assert [i["id"] for i in await eventually(on_mias_list)] == [item]
    resp = await feedback.client.post(
        f"/v1/checkin-schedules/{schedule_id}/agenda/action-items/{item}/done", headers=MIA
    )
    assert resp.status_code == 200, resp.text
    assert await count(feedback, "AgendaHandedOver") == 1
