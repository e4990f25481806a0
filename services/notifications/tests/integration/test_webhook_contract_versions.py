"""Webhook bodies carry each event in its current contract version: an offboarding stored on
the stream with its (now confidential) reason is sent without it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from trellis.contracts.onboarding import EmployeeOffboarded
from trellis.testing import eventually

from ..conftest import NotificationsService, Receiver, subscribe

REASON = "terminated: performance improvement plan failed"


class OffboardedVersion1:
    """``EmployeeOffboarded`` as version 1 published it, reason included."""

    event_type = "EmployeeOffboarded"
    schema_version = 1
    aggregate_type = "employee"

    def model_dump(self, mode: str = "json") -> dict[str, Any]:
        return {"employee_id": "piet", "last_day": "2026-02-01", "reason": REASON}


async def test_an_offboarding_reaches_a_webhook_without_a_reason_whatever_its_stored_version(
    notifications: NotificationsService, receiver: Receiver
) -> None:
    await subscribe(notifications, receiver.url, ["onboarding.EmployeeOffboarded"])
    await notifications.stream("onboarding").emit("piet", OffboardedVersion1())
    await notifications.stream("onboarding").emit(
        "nora", EmployeeOffboarded(employee_id="nora", last_day=dt.date(2026, 3, 1))
    )

    async def both() -> list[Any] | None:
        got = receiver.delivered()
        return got if len(got) >= 2 else None

    bodies = [r.json["data"] for r in await eventually(both)]
    assert {b["payload"]["employee_id"] for b in bodies} == {"piet", "nora"}
    for data in bodies:
        assert data["schema_version"] == 2
        assert set(data["payload"]) == {"employee_id", "last_day"}
    assert all(REASON.encode() not in r.body for r in receiver.requests)
