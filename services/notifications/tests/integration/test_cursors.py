"""The inbox and the delivery log take the one cursor: pages follow each other, and a cursor
the service never gave out is refused (a delivery cursor past any BIGINT was a 500)."""

from __future__ import annotations

import datetime as dt

from trellis.contracts.goals import GoalCreated
from trellis.core.runtime import cursors
from trellis.testing import eventually

from ..conftest import ADMIN, NotificationsService, Receiver, subscribe

NEVER_ISSUED = [
    "zzz",
    "99999999999999999999999",
    cursors.encode(99999999999999999999999),
    cursors.encode("n-1"),
    cursors.encode(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "n-1", "extra"),
]


async def test_the_delivery_log_pages_and_refuses_cursors_it_never_gave_out(
    notifications: NotificationsService, receiver: Receiver
) -> None:
    sub = await subscribe(notifications, receiver.url, ["goals.*"])
    await notifications.stream("goals").emit(
        "g1",
        *[
            GoalCreated(goal_id=f"g{n}", level="individual", title="t", owner_id="emil", period="Q1")
            for n in range(3)
        ],
    )
    log = f"/v1/webhooks/subscriptions/{sub['id']}/deliveries"

    async def three() -> list[str] | None:
        items = (await notifications.client.get(log, headers=ADMIN)).json()["items"]
        return [d["id"] for d in items] if len(items) == 3 else None

    everything = await eventually(three)
    first = (await notifications.client.get(log, params={"limit": 2}, headers=ADMIN)).json()
    rest = (
        await notifications.client.get(
            log, params={"limit": 2, "cursor": first["next_cursor"]}, headers=ADMIN
        )
    ).json()
    assert [d["id"] for d in first["items"] + rest["items"]] == everything and rest["next_cursor"] is None

    for cursor in NEVER_ISSUED:
        for path in (log, "/v1/inbox"):
            resp = await notifications.client.get(path, params={"cursor": cursor}, headers=ADMIN)
            assert resp.status_code == 422, (path, cursor, resp.text)
            assert resp.json()["error"]["code"] == "invalid_cursor"
