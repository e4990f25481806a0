"""Webhooks end to end: events on the streams in, signed POSTs to a real receiver on loopback out."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import standardwebhooks
from sqlalchemy import select

from trellis.contracts.goals import GoalCompleted, GoalCreated, GoalStatusChanged
from trellis.core.errors import NotFound
from trellis.core.runtime.api_kit import application_in
from trellis.notifications.application.wiring import NotificationsApplication
from trellis.notifications.operations import replay_to_subscription
from trellis.notifications.tables import webhook_secrets
from trellis.notifications.webhooks.secret_box import SecretBox
from trellis.testing import Database, eventually

from ..conftest import (
    ADMIN,
    NotificationsService,
    Received,
    Receiver,
    auth,
    new_service,
    stop_service,
    subscribe,
    verify_signature,
)


def created(goal_id: str, owner: str = "emil") -> GoalCreated:
    return GoalCreated(
        goal_id=goal_id, level="individual", title=f"Goal {goal_id}", owner_id=owner, period="Q1"
    )


def at_risk(goal_id: str) -> GoalStatusChanged:
    return GoalStatusChanged(goal_id=goal_id, status="at_risk", previous_status="on_track")


async def received(
    receiver: Receiver, n: int, *, delivered: bool = True, timeout: float = 10.0
) -> list[Received]:
    async def enough() -> list[Received] | None:
        got = receiver.delivered() if delivered else receiver.requests
        return got if len(got) >= n else None

    return await eventually(enough, timeout=timeout)


async def subscription(service: NotificationsService, sub_id: str) -> dict[str, Any]:
    resp = await service.client.get(f"/v1/webhooks/subscriptions/{sub_id}", headers=ADMIN)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_deliveries_are_signed_per_standard_webhooks_and_logged(
    notifications: NotificationsService, receiver: Receiver
) -> None:
    sub = await subscribe(notifications, receiver.url, ["goals.*"])
    secret = sub["secret"]
    assert secret.startswith("whsec_")
    assert "secret" not in await subscription(notifications, sub["id"])  # shown once
    goals = notifications.stream("goals")
    await goals.emit("g1", created("g1"), at_risk("g1"))
    await notifications.stream("feedback").emit("x", *[])  # nothing matching on other streams

    got = await received(receiver, 2)
    official = standardwebhooks.Webhook(secret)
    for request in got:
        assert verify_signature(secret, request)  # the spec, implemented independently
        official.verify(request.body, request.headers)  # the official library
        assert request.headers["content-type"] == "application/json"
        assert request.webhook_id.startswith("msg_")
    assert [r.json["type"] for r in got] == ["goals.GoalCreated", "goals.GoalStatusChanged"]
    body = got[1].json
    assert body["data"]["payload"] == {"goal_id": "g1", "status": "at_risk", "previous_status": "on_track"}
    assert body["data"]["aggregate_id"] == "g1" and body["data"]["aggregate_version"] == 2
    tampered = Received(dict(got[0].headers), got[0].body.replace(b"g1", b"g2"), 0)
    assert not verify_signature(secret, tampered)

    # The delivery log: each attempt with time, status, latency and the response's beginning.
    resp = await notifications.client.get(f"/v1/webhooks/subscriptions/{sub['id']}/deliveries", headers=ADMIN)
    page = resp.json()

    async def both_delivered() -> bool:
        items = (
            await notifications.client.get(
                f"/v1/webhooks/subscriptions/{sub['id']}/deliveries", headers=ADMIN
            )
        ).json()["items"]
        return len(items) == 2 and all(d["status"] == "delivered" for d in items)

    await eventually(both_delivered)
    page = (
        await notifications.client.get(f"/v1/webhooks/subscriptions/{sub['id']}/deliveries", headers=ADMIN)
    ).json()
    one = page["items"][0]
    detail = (
        await notifications.client.get(
            f"/v1/webhooks/subscriptions/{sub['id']}/deliveries/{one['id']}", headers=ADMIN
        )
    ).json()
    assert detail["webhook_id"] == got[1].webhook_id
    assert detail["body"] == got[1].body.decode()
    [attempt] = detail["log"]
    assert attempt["status_code"] == 200 and attempt["outcome"] == "delivered"
    assert attempt["response_excerpt"] == '{"ok":true}' and attempt["latency_ms"] >= 0
    await eventually(lambda: _count(notifications, "WebhookDelivered", 2))


async def _count(service: NotificationsService, event_type: str, n: int) -> bool:
    return await service.count_events(event_type) == n


async def test_a_receiver_down_for_a_while_then_back_gets_every_delivery_once_in_order_even_across_a_restart(
    database: Database, nats_url: str, subject_root: str, tmp_path: Path, js: Any, receiver: Receiver
) -> None:
    service = await new_service(
        database,
        nats_url,
        subject_root,
        tmp_path,
        js,
        webhook_retry_schedule=[0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0],
    )
    try:
        await service.hire_org()
        sub = await subscribe(service, receiver.url, ["goals.*"])
        await receiver.stop()  # down: connections refused
        goals = service.stream("goals")
        for i in range(5):
            await goals.emit(f"g{i}", created(f"g{i}"), at_risk(f"g{i}"), GoalCompleted(goal_id=f"g{i}"))

        async def retrying() -> bool:
            page = (
                await service.client.get(
                    f"/v1/webhooks/subscriptions/{sub['id']}/deliveries", params={"limit": 200}, headers=ADMIN
                )
            ).json()["items"]
            return len(page) == 15 and any(d["attempts"] >= 2 for d in page)

        await eventually(retrying)
    finally:
        await stop_service(service)  # restarted mid-retry: the state is in the database

    # Back, but answering 503 to a third of the requests at first.
    answered: dict[str, int] = {}

    def flaky(request: Received) -> int:
        answered[request.webhook_id] = answered.get(request.webhook_id, 0) + 1
        return 503 if answered[request.webhook_id] == 1 and len(answered) % 3 == 0 else 200

    receiver.respond = flaky
    await receiver.start()
    service = await new_service(
        database,
        nats_url,
        subject_root,
        tmp_path,
        js,
        webhook_retry_schedule=[0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0],
    )
    try:
        got = await received(receiver, 15, timeout=20)
        ids = [r.webhook_id for r in got]
        assert len(ids) == len(set(ids)) == 15  # every delivery, each once (by webhook-id)
        by_goal: dict[str, list[int]] = {}
        for r in got:
            by_goal.setdefault(r.json["data"]["aggregate_id"], []).append(r.json["data"]["aggregate_version"])
        assert all(versions == [1, 2, 3] for versions in by_goal.values()), by_goal  # order per aggregate
        assert (await subscription(service, sub["id"]))["enabled"] is True
        await asyncio.sleep(0.5)
        assert len(receiver.delivered()) == 15  # and nothing more arrives
    finally:
        await stop_service(service)


async def test_a_receiver_that_always_fails_ends_disabled_and_admin_is_told(
    database: Database, nats_url: str, subject_root: str, tmp_path: Path, js: Any, receiver: Receiver
) -> None:
    service = await new_service(
        database,
        nats_url,
        subject_root,
        tmp_path,
        js,
        webhook_disable_after_failures=2,
        webhook_retry_schedule=[0.05],
    )
    try:
        await service.hire_org()
        receiver.respond = lambda _r: 500
        sub = await subscribe(service, receiver.url, ["goals.GoalCreated"])
        await service.stream("goals").emit("g1", created("g1"))
        await service.stream("goals").emit("g2", created("g2"))

        async def disabled() -> dict[str, Any] | None:
            found = await subscription(service, sub["id"])
            return found if not found["enabled"] else None

        found = await eventually(disabled)
        assert found["disabled_reason"] == "failing" and found["consecutive_failures"] == 2
        assert len(receiver.requests) == 4  # two attempts each (the first, one retry)

        async def admin_told() -> list[dict[str, Any]]:
            return (await service.inbox("ann", "admin", "employee"))["items"]

        [note] = await eventually(admin_told)
        assert note["type"] == "webhook.subscription_disabled" and note["recipient_id"] == "role:admin"
        assert receiver.url in note["text"]
        assert (await service.inbox("emil"))["unread_count"] == 0
        assert await service.count_events("WebhookDeliveryFailed") == 2
        assert await service.count_events("WebhookSubscriptionDisabled") == 1

        # Nothing is sent while disabled; re-enabled by the admin, it gets new events again.
        await service.stream("goals").emit("g3", created("g3"))
        await asyncio.sleep(0.3)
        assert len(receiver.requests) == 4
        receiver.respond = lambda _r: 200
        resp = await service.client.patch(
            f"/v1/webhooks/subscriptions/{sub['id']}", json={"enabled": True}, headers=ADMIN
        )
        assert resp.json()["enabled"] is True
        await service.stream("goals").emit("g4", created("g4"))
        [fresh] = await received(receiver, 1)
        assert fresh.json["data"]["aggregate_id"] == "g4"
    finally:
        await stop_service(service)


async def test_gone_disables_at_once_and_other_4xx_are_not_retried(
    notifications: NotificationsService, receiver: Receiver
) -> None:
    gone, bad = Receiver(), receiver
    await gone.start()
    try:
        gone.respond = lambda _r: 410
        bad.respond = lambda _r: 400
        gone_sub = await subscribe(notifications, gone.url, ["goals.*"])
        bad_sub = await subscribe(notifications, bad.url, ["goals.*"])
        await notifications.stream("goals").emit("g1", created("g1"))

        async def gone_disabled() -> bool:
            return not (await subscription(notifications, gone_sub["id"]))["enabled"]

        await eventually(gone_disabled)
        assert (await subscription(notifications, gone_sub["id"]))["disabled_reason"] == "endpoint_gone"
        await eventually(lambda: _count(notifications, "WebhookDeliveryFailed", 2))
        await asyncio.sleep(0.3)
        assert len(gone.requests) == 1 and len(bad.requests) == 1  # not retried
        assert (await subscription(notifications, bad_sub["id"]))["enabled"] is True  # one failure of 5
    finally:
        await gone.stop()


async def test_retry_after_is_honoured(notifications: NotificationsService, receiver: Receiver) -> None:
    receiver.respond = lambda r: (429, {"Retry-After": "1"}) if len(receiver.requests) == 0 else 200
    await subscribe(notifications, receiver.url, ["goals.*"])
    await notifications.stream("goals").emit("g1", created("g1"))
    await received(receiver, 1)
    first, second = receiver.requests
    assert first.status == 429 and second.status == 200
    assert second.at - first.at >= 0.9  # not the 0.05 s of the (shrunk) schedule
    assert first.webhook_id == second.webhook_id and first.body == second.body


async def test_a_slow_endpoint_does_not_hold_up_the_others(
    notifications: NotificationsService, receiver: Receiver
) -> None:
    slow = Receiver()
    await slow.start()
    release = asyncio.Event()

    async def stall(_r: Received) -> int:
        await release.wait()
        return 200

    slow.respond = stall
    try:
        await subscribe(notifications, slow.url, ["goals.*"])
        await subscribe(notifications, receiver.url, ["goals.*"])
        for i in range(12):
            await notifications.stream("goals").emit(f"g{i}", created(f"g{i}"))
        got = await received(receiver, 12)  # all of them, while the slow endpoint holds its share
        assert len(got) == 12
        assert len(slow.requests) == 0
        release.set()
        await received(slow, 12)
    finally:
        release.set()
        await slow.stop()


async def test_rotated_secrets_both_sign_during_the_overlap(
    notifications: NotificationsService, receiver: Receiver
) -> None:
    sub = await subscribe(notifications, receiver.url, ["goals.*"])
    old = sub["secret"]
    resp = await notifications.client.post(
        f"/v1/webhooks/subscriptions/{sub['id']}/rotate-secret", json={"overlap_hours": 1}, headers=ADMIN
    )
    assert resp.status_code == 200, resp.text
    new = resp.json()["secret"]
    assert new != old and new.startswith("whsec_")
    await notifications.stream("goals").emit("g1", created("g1"))
    [request] = await received(receiver, 1)
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        assert verify_signature(secret, request)
        standardwebhooks.Webhook(secret).verify(request.body, request.headers)

    resp = await notifications.client.post(
        f"/v1/webhooks/subscriptions/{sub['id']}/rotate-secret", json={"overlap_hours": 0}, headers=ADMIN
    )
    newest = resp.json()["secret"]
    await notifications.stream("goals").emit("g2", created("g2"))
    got = await received(receiver, 2)
    assert got[1].headers["webhook-signature"].count("v1,") == 1
    assert verify_signature(newest, got[1]) and not verify_signature(old, got[1])


async def test_signing_secrets_are_sealed_at_rest_and_resealed_under_a_new_key(
    database: Database, nats_url: str, subject_root: str, tmp_path: Path, js: Any, receiver: Receiver
) -> None:
    old_key, new_key = "old-key-" + "a" * 40, "new-key-" + "b" * 40
    first = await new_service(database, nats_url, subject_root, tmp_path, js, webhook_secret_keys=old_key)
    try:
        await first.hire_org()
        sub = await subscribe(first, receiver.url, ["goals.*"])
        stored = await _stored_secrets(first)
    finally:
        await stop_service(first)
    assert len(stored) == 1 and sub["secret"] not in stored[0] and stored[0].startswith("fernet:")

    # rotation: the new key first, the old one still listed; the worker reseals at start
    second = await new_service(
        database, nats_url, subject_root, tmp_path, js, webhook_secret_keys=f"{new_key},{old_key}"
    )
    try:
        await eventually(lambda: _changed(second, stored))
        assert SecretBox([new_key]).open((await _stored_secrets(second))[0]) == sub["secret"]
        await second.stream("goals").emit("g1", created("g1"))
        [request] = await received(receiver, 1)
        assert verify_signature(sub["secret"], request)
    finally:
        await stop_service(second)


async def _stored_secrets(service: NotificationsService) -> list[str]:
    async with service.runtime.sessions() as session:
        return list((await session.execute(select(webhook_secrets.c.secret))).scalars())


async def _changed(service: NotificationsService, before: list[str]) -> bool:
    return await _stored_secrets(service) != before


async def test_manual_redelivery_and_replay_send_the_stored_body_again_with_the_same_webhook_id(
    notifications: NotificationsService, receiver: Receiver
) -> None:
    sub = await subscribe(notifications, receiver.url, ["goals.GoalCreated", "goals.GoalCompleted"])
    start = dt.datetime.now(dt.UTC)
    await notifications.stream("goals").emit("g1", created("g1"), at_risk("g1"), GoalCompleted(goal_id="g1"))
    await notifications.stream("goals").emit("g2", created("g2"))
    first = sorted(
        await received(receiver, 3),
        key=lambda r: (r.json["data"]["aggregate_id"], r.json["data"]["aggregate_version"]),
    )  # across aggregates, deliveries run in parallel
    assert [r.json["type"] for r in first] == [
        "goals.GoalCreated",
        "goals.GoalCompleted",
        "goals.GoalCreated",
    ]

    base = f"/v1/webhooks/subscriptions/{sub['id']}"

    async def delivered_ids() -> list[dict[str, Any]] | None:
        items = (await notifications.client.get(f"{base}/deliveries", headers=ADMIN)).json()["items"]
        return items if len(items) == 3 and all(d["status"] == "delivered" for d in items) else None

    items = await eventually(delivered_ids)
    target = next(d for d in items if d["webhook_id"] == first[0].webhook_id)
    resp = await notifications.client.post(f"{base}/deliveries/{target['id']}/redeliver", headers=ADMIN)
    assert resp.status_code == 202, resp.text
    again = (await received(receiver, 4))[3]
    assert again.webhook_id == first[0].webhook_id and again.body == first[0].body
    standardwebhooks.Webhook(sub["secret"]).verify(again.body, again.headers)

    resp = await notifications.client.post(
        f"{base}/replays",
        json={
            "since": start.isoformat(),
            "until": dt.datetime.now(dt.UTC).isoformat(),
            "event_types": ["*.GoalCreated"],
        },
        headers=ADMIN,
    )
    assert resp.status_code == 202, resp.text
    assert resp.json()["scheduled"] == 2
    replayed = (await received(receiver, 6))[4:]
    assert {r.webhook_id for r in replayed} == {first[0].webhook_id, first[2].webhook_id}
    assert all(r.headers["trellis-replay-id"] == resp.json()["replay_id"] for r in replayed)
    assert {r.body for r in replayed} == {first[0].body, first[2].body}
    for r in replayed:
        assert verify_signature(sub["secret"], r)


async def test_subscriptions_are_admin_only_tenant_scoped_and_refuse_bad_urls(
    notifications: NotificationsService, receiver: Receiver
) -> None:
    client = notifications.client
    body = {"url": receiver.url, "event_types": ["goals.*"]}
    assert (
        await client.post("/v1/webhooks/subscriptions", json=body, headers=auth("mia", "manager"))
    ).status_code == 403
    sub = await subscribe(notifications, receiver.url, ["goals.*"])
    other = auth("boss", "admin", tenant="globex")
    assert (await client.get(f"/v1/webhooks/subscriptions/{sub['id']}", headers=other)).status_code == 404
    assert (await client.get("/v1/webhooks/subscriptions", headers=other)).json() == []
    for bad in (
        {"url": "ftp://x.example/a", "event_types": ["goals.*"]},
        {"url": receiver.url, "event_types": ["x.*"]},
    ):
        resp = await client.post("/v1/webhooks/subscriptions", json=bad, headers=ADMIN)
        assert resp.status_code == 422 and resp.json()["error"]["code"] == "invalid_input"
    types = (await client.get("/v1/webhooks/event-types", headers=ADMIN)).json()
    assert "goals.GoalRetired" in types and "notifications.NotificationCreated" in types
    assert not any(t.startswith("notifications.Webhook") for t in types)
    assert (await client.delete(f"/v1/webhooks/subscriptions/{sub['id']}", headers=ADMIN)).status_code == 204
    assert (await client.get(f"/v1/webhooks/subscriptions/{sub['id']}", headers=ADMIN)).status_code == 404


async def test_private_addresses_are_refused_when_the_setting_does_not_allow_them(
    database: Database, nats_url: str, subject_root: str, tmp_path: Path, js: Any, receiver: Receiver
) -> None:
    service = await new_service(
        database, nats_url, subject_root, tmp_path, js, webhook_allow_private_urls=False
    )
    try:
        for url in (receiver.url, "http://10.0.0.8/hook", "http://169.254.169.254/latest"):
            resp = await service.client.post(
                "/v1/webhooks/subscriptions", json={"url": url, "event_types": ["goals.*"]}, headers=ADMIN
            )
            assert resp.status_code == 422, resp.text
            assert resp.json()["error"]["code"] == "webhook_destination_refused"
    finally:
        await stop_service(service)


async def test_the_operators_replay_function_schedules_deliveries_the_running_service_sends(
    notifications: NotificationsService, receiver: Receiver, tmp_path: Path
) -> None:
    sub = await subscribe(notifications, receiver.url, ["goals.GoalCreated"])
    start = dt.datetime.now(dt.UTC)
    await notifications.stream("goals").emit("g1", created("g1"))
    [original] = await received(receiver, 1)
    if notifications.settings.database_url.startswith("sqlite"):
        # one process owns an SQLite file (see core/database.py): ask the service's own admin
        result = await application_in(notifications.runtime, NotificationsApplication).webhooks.replay(
            "acme", sub["id"], since=start, until=dt.datetime.now(dt.UTC)
        )
    else:
        result = await replay_to_subscription(
            "acme", sub["id"], since=start, until=dt.datetime.now(dt.UTC), settings=notifications.settings
        )
    assert result.scheduled == 1
    replayed = (await received(receiver, 2))[1]
    assert replayed.webhook_id == original.webhook_id and replayed.body == original.body
    assert replayed.headers["trellis-replay-id"] == result.replay_id
    with pytest.raises(NotFound):
        await application_in(notifications.runtime, NotificationsApplication).webhooks.replay(
            "globex", sub["id"], since=start
        )
