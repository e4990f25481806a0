"""A replay from the first day of year 1 was a 500; the API takes years 1900 to 2200."""

from __future__ import annotations

from ..conftest import ADMIN, NotificationsService, Receiver, subscribe


async def test_a_replay_or_read_all_outside_the_calendar_is_refused(
    notifications: NotificationsService, receiver: Receiver
) -> None:
    sub = await subscribe(notifications, receiver.url, ["goals.*"])
    replays = f"/v1/webhooks/subscriptions/{sub['id']}/replays"
    for body in (
        {"since": "0001-01-01T00:00:00Z"},
        {"since": "2026-01-01T00:00:00Z", "until": "9999-12-31T23:59:59Z"},
    ):
        resp = await notifications.client.post(replays, json=body, headers=ADMIN)
        assert resp.status_code == 422, (body, resp.text)
        assert resp.json()["error"]["code"] == "invalid_input"
    resp = await notifications.client.post(
        "/v1/inbox/read-all", json={"up_to": "0001-01-01T00:00:00Z"}, headers=ADMIN
    )
    assert resp.status_code == 422, resp.text
    resp = await notifications.client.post(replays, json={"since": "1900-01-01T00:00:00Z"}, headers=ADMIN)
    assert resp.status_code in (200, 201, 202), resp.text
