"""Who is told, end to end: events on the other services' streams in, inbox notifications out."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select

from trellis.contracts.envelope import EventEnvelope
from trellis.contracts.feedback import (
    ActionItemAssigned,
    ActionItemOverdue,
    CheckInCompleted,
    CheckInMissed,
    FeedbackGiven,
    RecognitionGiven,
    TalkingPointAdded,
)
from trellis.contracts.onboarding import (
    EmployeeOffboarded,
    MilestoneMissed,
    TrainingDueSoon,
    TrainingEnrolled,
    TrainingEnrolmentCompleted,
)
from trellis.core.rebuild.rebuilder import rebuild
from trellis.core.store.tables import events, outbox, processed_events
from trellis.notifications.tables import inbox_notifications
from trellis.notifications.views.inbox import Inbox
from trellis.orgchart import OrgDirectory
from trellis.testing import Database, eventually

from ..conftest import TENANT, NotificationsService, auth, new_service, stop_service

DUE = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)
EVENTS = 100


def missed_checkin(n: int = 1, checkin: str = "c1") -> CheckInMissed:
    return CheckInMissed(
        checkin_id=checkin,
        schedule_id="s1",
        manager_id="mia",
        report_id="emil",
        due_at=DUE,
        consecutive_misses=n,
    )


class Recording:
    """A JetStream context that remembers the envelopes published through it."""

    def __init__(self, js: Any) -> None:
        self._js = js
        self.sent: list[EventEnvelope] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._js, name)

    async def publish(self, subject: str, body: bytes, headers: dict[str, str]) -> Any:
        self.sent.append(EventEnvelope.model_validate_json(body))
        return await self._js.publish(subject, body, headers=headers)


async def inbox_rows(service: NotificationsService) -> int:
    async with service.runtime.sessions() as session:
        return int(
            (await session.execute(select(func.count()).select_from(inbox_notifications))).scalar_one()
        )


async def recipients_of(service: NotificationsService, cause_type: str) -> dict[str, int]:
    async with service.runtime.sessions() as session:
        c = inbox_notifications.c
        rows = await session.execute(
            select(c.recipient_id, func.count())
            .where(c.cause_event_type == cause_type)
            .group_by(c.recipient_id)
        )
        return {r[0]: r[1] for r in rows}


async def test_a_missed_milestone_and_missed_check_ins_tell_the_right_people(
    notifications: NotificationsService,
) -> None:
    await notifications.stream("onboarding").emit(
        "plan-1",
        MilestoneMissed(
            plan_id="plan-1",
            employee_id="piet",
            milestone_id="m30",
            title="Ship a first fix",
            due_date=dt.date(2026, 2, 4),
            assignee="new_hire",
            manager_id="olga",
            mentor_id="nora",
        ),
    )
    await notifications.stream("feedback").emit("c1", missed_checkin(1, "c1"))
    await notifications.stream("feedback").emit("c2", missed_checkin(2, "c2"))

    async def all_told() -> bool:
        return await inbox_rows(notifications) == 4 + 2 + 3

    await eventually(all_told)
    assert await recipients_of(notifications, "MilestoneMissed") == {
        "piet": 1,
        "olga": 1,
        "nora": 1,
        "role:hr": 1,
    }
    assert await recipients_of(notifications, "CheckInMissed") == {"emil": 2, "mia": 2, "ceo": 1}

    piet = (await notifications.inbox("piet"))["items"]
    assert [n["type"] for n in piet] == ["onboarding.milestone_missed"]
    assert piet[0]["subject"] == {
        "service": "onboarding",
        "type": "milestone",
        "id": "m30",
        "parent_id": "plan-1",
    }
    assert piet[0]["text"] == "Your onboarding milestone “Ship a first fix” (due 2026-02-04) was missed."
    hr = (await notifications.inbox("hana", "hr", "employee"))["items"]
    assert [n["recipient_id"] for n in hr] == ["role:hr"]  # the hr role inbox: anyone with the role
    assert (await notifications.inbox("emil"))["items"] == (await notifications.inbox("emil"))["items"]
    ceo = (await notifications.inbox("ceo"))["items"]
    assert [n["text"] for n in ceo] == ["Mia and Emil missed 2 check-ins in a row."]
    assert (await notifications.inbox("olga"))["unread_count"] == 1
    assert (await notifications.inbox("hana", "employee"))["items"] == []  # no hr role, no hr inbox


async def test_a_1_1_agenda_tells_the_other_one_of_a_point_and_the_owner_of_an_action_item(
    notifications: NotificationsService,
) -> None:
    pair = {"schedule_id": "s1", "manager_id": "mia", "report_id": "emil"}
    feedback_stream = notifications.stream("feedback")
    await feedback_stream.emit("s1-agenda", TalkingPointAdded(**pair, point_id="p1", author_id="emil"))
    for owner in ("emil", "mia"):  # mia took her own on herself: nobody told
        item = ActionItemAssigned(
            **pair,
            action_item_id=f"a-{owner}",
            owner_id=owner,
            assigned_by="mia",
            due_on=dt.date(2026, 3, 13),
        )
        await feedback_stream.emit("s1-agenda", item)
    await feedback_stream.emit(
        "s1-agenda",
        ActionItemOverdue(**pair, action_item_id="a-emil", owner_id="emil", due_on=dt.date(2026, 3, 13)),
    )

    async def all_told() -> bool:
        return await inbox_rows(notifications) == 3

    await eventually(all_told)
    assert [n["type"] for n in (await notifications.inbox("mia"))["items"]] == ["checkin.talking_point_added"]
    emils = [(n["type"], n["text"]) for n in (await notifications.inbox("emil"))["items"]]
    assert sorted(emils) == [
        ("checkin.action_item_assigned", "Mia gave you an action item from your 1:1, due 2026-03-13."),
        (
            "checkin.action_item_overdue",
            "Your action item from your 1:1 with Mia was due 2026-03-13 and is still open.",
        ),
    ]


async def test_an_enrolment_its_due_soon_and_its_completion_tell_the_person_and_their_manager(
    notifications: NotificationsService,
) -> None:
    about = {
        "enrolment_id": "en-1",
        "training_id": "sql",
        "training_title": "SQL basics",
        "employee_id": "piet",
    }
    target = dt.date(2026, 4, 1)
    onboarding_stream = notifications.stream("onboarding")
    await onboarding_stream.emit(
        "en-1",
        TrainingEnrolled(**about, enrolled_by="olga", enrolled_on=dt.date(2026, 3, 2), target_date=target),
    )
    await onboarding_stream.emit(
        "en-1", TrainingDueSoon(**about, manager_id="olga", target_date=target, days_left=3)
    )
    done = TrainingEnrolmentCompleted(
        **about,
        manager_id="olga",
        completed_by="piet",
        completed_on=dt.date(2026, 3, 30),
        target_date=target,
        on_time=True,
        evidence_note="certificate 42",
    )
    await onboarding_stream.emit("en-1", done)

    async def all_told() -> bool:
        return await inbox_rows(notifications) == 6

    await eventually(all_told)
    for cause in ("TrainingEnrolled", "TrainingDueSoon", "TrainingEnrolmentCompleted"):
        assert await recipients_of(notifications, cause) == {"piet": 1, "olga": 1}
    piet = sorted((n["type"], n["text"]) for n in (await notifications.inbox("piet"))["items"])
    assert piet == [
        ("training.completed", "You completed “SQL basics” on time."),
        ("training.due_soon", "Your training “SQL basics” is due in 3 days (2026-04-01)."),
        ("training.enrolled", "You are enrolled in “SQL basics”, to complete by 2026-04-01."),
    ]


async def test_nobody_who_has_left_is_told_and_the_service_documents_its_api(
    notifications: NotificationsService,
) -> None:
    await notifications.stream("onboarding").emit(
        "piet", EmployeeOffboarded(employee_id="piet", last_day=dt.date(2026, 2, 1))
    )

    async def gone() -> bool:
        async with notifications.runtime.sessions() as session:
            found = await OrgDirectory().employee(session, TENANT, "piet")
            return found is not None and not found.active

    await eventually(gone)
    await notifications.stream("onboarding").emit(
        "plan-1",
        MilestoneMissed(
            plan_id="plan-1",
            employee_id="nora",
            milestone_id="m",
            title="Day 30",
            due_date=dt.date(2026, 2, 4),
            assignee="new_hire",
            manager_id="mia",
            mentor_id="piet",
        ),
    )

    async def three() -> bool:
        return await inbox_rows(notifications) == 3

    await eventually(three)
    assert await recipients_of(notifications, "MilestoneMissed") == {"nora": 1, "mia": 1, "role:hr": 1}
    openapi = (await notifications.client.get("/openapi.json")).json()
    assert {"/v1/inbox", "/v1/preferences", "/v1/webhooks/subscriptions"} <= set(openapi["paths"])
    asyncapi = (await notifications.client.get("/v1/asyncapi.json")).json()
    assert "NotificationCreated" in str(asyncapi) and "GoalRetired" in str(asyncapi)


async def test_the_inbox_pages_counts_unread_and_marks_read(notifications: NotificationsService) -> None:
    for i in range(5):
        await notifications.stream("feedback").emit(
            f"c{i}",
            CheckInCompleted(
                checkin_id=f"c{i}",
                schedule_id="s1",
                manager_id="mia",
                report_id="emil",
                completed_by="mia",
                completed_at=DUE,
                confidence=3,
            ),
        )

    async def five() -> bool:
        return (await notifications.inbox("emil"))["unread_count"] == 5

    await eventually(five)
    client, emil = notifications.client, auth("emil", "employee")
    first = (await client.get("/v1/inbox", params={"limit": 2}, headers=emil)).json()
    second = (
        await client.get("/v1/inbox", params={"limit": 2, "cursor": first["next_cursor"]}, headers=emil)
    ).json()
    third = (
        await client.get("/v1/inbox", params={"limit": 2, "cursor": second["next_cursor"]}, headers=emil)
    ).json()
    ids = [n["id"] for page in (first, second, third) for n in page["items"]]
    assert len(ids) == len(set(ids)) == 5 and third["next_cursor"] is None
    assert [n["subject"]["id"] for n in first["items"]] == ["c4", "c3"]  # newest first
    assert all(n["cause_event_type"] == "CheckInCompleted" and n["cause_event_id"] for n in first["items"])

    resp = await client.post(f"/v1/inbox/{ids[0]}/read", headers=emil)
    assert resp.json() == {"id": ids[0], "read": True, "changed": True}
    assert (await client.post(f"/v1/inbox/{ids[0]}/read", headers=emil)).json()["changed"] is False
    assert (await client.post(f"/v1/inbox/{ids[0]}/read", headers=auth("mia", "employee"))).status_code == 404
    assert (
        await client.post(f"/v1/inbox/{ids[0]}/read", headers=auth("emil", "employee", tenant="globex"))
    ).status_code == 404

    async def unread(n: int) -> bool:
        return (await client.get("/v1/inbox/unread-count", headers=emil)).json()["unread_count"] == n

    await eventually(lambda: unread(4))
    assert (await client.post("/v1/inbox/read-all", headers=emil)).json() == {"marked": 4}
    await eventually(lambda: unread(0))
    assert (await client.get("/v1/inbox", params={"unread": True}, headers=emil)).json()["items"] == []
    assert (await client.get("/v1/inbox", params={"cursor": "nonsense"}, headers=emil)).status_code == 422
    assert (await client.get("/v1/inbox")).status_code == 401
    assert await notifications.count_events("NotificationRead") == 5


async def test_one_notification_per_event_and_recipient_through_redeliveries_and_a_restart(
    database: Database, nats_url: str, subject_root: str, tmp_path: Path, js: Any
) -> None:
    # A message the stopped instance had been handed (and never acked) comes back after the
    # consumer's ack wait: 2 s here instead of 30, so the test need not wait that out.
    service = await new_service(database, nats_url, subject_root, tmp_path, js, ack_wait=2.0)
    await service.hire_org()
    writer = service.stream("feedback")
    recording = Recording(writer.js)
    writer.js = recording
    sent = recording.sent

    async def emit_all() -> None:  # goes on while the service is stopped and started again
        for i in range(EVENTS):
            await writer.emit(
                f"k{i}",
                RecognitionGiven(
                    recognition_id=f"k{i}", giver_id="ceo", recipient_ids=["piet"], message=f"#{i}"
                ),
            )
            await asyncio.sleep(0.005)

    emitting = asyncio.create_task(emit_all())

    async def some() -> bool:
        return await service.count_events("NotificationCreated") >= 10

    await eventually(some)
    await stop_service(service)  # mid-stream: events keep coming, a batch may be half applied
    assert 0 < await service.count_events("NotificationCreated") < 2 * EVENTS
    await service.runtime.engine.dispose()  # that count opened a connection again
    await emitting
    # The same events again, as a relay re-publishing after the duplicate window would.
    for envelope in sent[:30]:
        await js.publish(
            f"{subject_root}.feedback.recognition.RecognitionGiven.{TENANT}.{envelope.aggregate_id}",
            envelope.model_dump_json().encode(),
            headers={"Nats-Msg-Id": str(uuid.uuid4())},
        )
    service = await new_service(database, nats_url, subject_root, tmp_path, js, ack_wait=2.0)
    try:

        async def all_done() -> bool:
            return await inbox_rows(service) >= 2 * EVENTS

        await eventually(all_done, timeout=20)
        # Even with its processed records lost, the reaction tells nobody twice.
        async with service.runtime.sessions() as session, session.begin():
            await session.execute(
                delete(processed_events).where(
                    processed_events.c.consumer == "notifications-feedback-affected"
                )
            )
        for envelope in sent[30:40]:
            await js.publish(
                f"{subject_root}.feedback.recognition.RecognitionGiven.{TENANT}.{envelope.aggregate_id}",
                envelope.model_dump_json().encode(),
                headers={"Nats-Msg-Id": str(uuid.uuid4())},
            )

        async def redelivered_processed() -> bool:
            async with service.runtime.sessions() as session:
                query = (
                    select(func.count())
                    .select_from(processed_events)
                    .where(processed_events.c.consumer == "notifications-feedback-affected")
                )
                return int((await session.execute(query)).scalar_one()) >= 10

        await eventually(redelivered_processed)
        await asyncio.sleep(0.2)
        assert await service.count_events("NotificationCreated") == 2 * EVENTS
        assert await recipients_of(service, "RecognitionGiven") == {"piet": EVENTS, "olga": EVENTS}
        async with service.runtime.sessions() as session:
            pairs = await session.execute(
                select(inbox_notifications.c.cause_event_id, inbox_notifications.c.recipient_id)
            )
            keys = list(pairs)
        assert len(keys) == len(set(keys)) == 2 * EVENTS
        assert {str(e.event_id) for e in sent} == {k[0] for k in keys}
    finally:
        await stop_service(service)


async def test_rebuilding_the_inbox_notifies_nobody_and_gives_the_same_inbox(
    notifications: NotificationsService,
) -> None:
    await notifications.stream("feedback").emit(
        "f1",
        FeedbackGiven(
            feedback_id="f1", recipient_id="emil", giver_id=None, anonymous=True, visibility="manager"
        ),
    )
    await notifications.stream("feedback").emit("c1", missed_checkin(2))

    async def told() -> bool:
        return (await notifications.inbox("mia"))["unread_count"] == 2

    await eventually(told)
    emil = await notifications.inbox("emil")
    anonymous = [n for n in emil["items"] if n["type"] == "feedback.received"]
    assert anonymous[0]["text"] == "You received feedback anonymously."
    before = {e: await notifications.inbox(e) for e in ("emil", "mia", "ceo")}
    async with notifications.runtime.sessions() as session:
        events_before = (await session.execute(select(func.count()).select_from(events))).scalar_one()
        outbox_before = (await session.execute(select(func.count()).select_from(outbox))).scalar_one()

    runner = next(r for r in notifications.runtime.runners if r.name == "notifications-inbox")
    runner.stop()  # a rebuild runs with the view's live consumer paused
    await asyncio.sleep(1.2)
    applied = await rebuild(Inbox(), notifications.runtime.store)
    assert applied == 5  # 5 NotificationCreated: emil, mia (feedback); emil, mia, ceo (check-in)
    async with notifications.runtime.sessions() as session:
        assert (await session.execute(select(func.count()).select_from(events))).scalar_one() == events_before
        assert (await session.execute(select(func.count()).select_from(outbox))).scalar_one() == outbox_before
    assert {e: await notifications.inbox(e) for e in ("emil", "mia", "ceo")} == before


async def test_muted_types_are_not_created_and_a_digest_groups_a_day(
    database: Database, nats_url: str, subject_root: str, tmp_path: Path, js: Any
) -> None:
    service = await new_service(database, nats_url, subject_root, tmp_path, js, test_clock=True)
    try:
        await service.hire_org()
        client = service.client
        resp = await client.put(
            "/v1/preferences",
            json={"muted_types": ["checkin.missed"], "daily_digest": False},
            headers=auth("mia"),
        )
        assert resp.status_code == 200, resp.text
        resp = await client.put("/v1/preferences", json={"daily_digest": True}, headers=auth("emil"))
        assert resp.json() == {"employee_id": "emil", "muted_types": [], "daily_digest": True}
        bad = await client.put("/v1/preferences", json={"muted_types": ["nope"]}, headers=auth("emil"))
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_input"

        await service.stream("feedback").emit("c1", missed_checkin(2, "c1"))
        await service.stream("feedback").emit(
            "f1", FeedbackGiven(feedback_id="f1", recipient_id="emil", giver_id="nora", visibility="private")
        )

        async def three() -> bool:  # emil's two (held), ceo's one
            return await inbox_rows(service) == 3

        await eventually(three)
        assert await recipients_of(service, "CheckInMissed") == {"emil": 1, "ceo": 1}  # mia muted it
        assert (await service.inbox("emil"))["items"] == []  # held for the digest
        today = service.runtime.clock.now().date()
        service.runtime.clock.set(  # type: ignore[attr-defined]
            dt.datetime.combine(today + dt.timedelta(days=1), dt.time(8, 1), tzinfo=dt.UTC)
        )

        async def digest() -> list[dict[str, Any]]:
            return (await service.inbox("emil"))["items"]

        items = await eventually(digest)
        assert [n["type"] for n in items] == ["digest.daily"]
        assert items[0]["text"] == f"Your digest of {today.isoformat()}: 2 notifications."
        assert {i["type"] for i in items[0]["items"]} == {"checkin.missed", "feedback.received"}
    finally:
        await stop_service(service)
