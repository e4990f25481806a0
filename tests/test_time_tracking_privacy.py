"""Time tracking never reaches the notifications service, its inboxes or any webhook.

The four services run together. An admin subscribes a webhook to every event type (``*``)
and another to the time-tracking names themselves (``goals.TimeEntry*``, ``goals.Timesheet*``:
patterns are not checked against the types that exist). An employee whose manager is told
about many things creates a goal (the control: its event is delivered), logs, changes,
deletes and erases time, then creates another goal (the marker: once its delivery is in,
everything the goals service published before it has been through the fan-out). No
delivery, no inbox, no row of the notifications service holds a time-tracking event or a
word of one, and the list of event types a subscription can match names none.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import inspect, select, table, text

from trellis.contracts.timekeeping import TimeEntryChanged, TimeEntryDeleted, TimeEntryLogged, TimesheetErased
from trellis.goals.timekeeping.domain.timesheet import timesheet_id
from trellis.notifications.testing import Receiver
from trellis.testing import eventually

from .four_services import auth, client_of, four_services

TYPES = {cls.event_type for cls in (TimeEntryLogged, TimeEntryChanged, TimeEntryDeleted, TimesheetErased)}
HR = auth("hana", "admin", "hr", "employee")
EMIL = auth("emil", "employee")
TEXTS = ("tk-xs-label-side-project", "tk-xs-note-doctor-visits", "tk-xs-note-changed")


async def _ok(
    client: httpx.AsyncClient, method: str, url: str, headers: dict[str, str], body: Any = None
) -> Any:
    resp = await client.request(method, url, json=body, headers=headers)
    assert resp.status_code in (200, 201), (method, url, resp.status_code, resp.text)
    return resp.json()


async def _rows(runtime: Any) -> str:
    """Every row of every table of a service's database."""
    async with runtime.engine.connect() as conn:
        names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        dump = []
        for name in names:
            rows = await conn.execute(select(text("*")).select_from(table(name)))
            dump.extend(f"{name}: {tuple(row)}" for row in rows)
    return "\n".join(dump)


async def test_time_tracking_never_reaches_notifications_or_webhooks(
    nats_url: str, subject_root: str, tmp_path: Path
) -> None:
    receiver = Receiver()
    await receiver.start()
    try:
        async with four_services(nats_url, subject_root, tmp_path) as apps:
            clients = {name: client_of(app) for name, app in apps.items()}
            onboarding, goals, notifications = (
                clients["onboarding"],
                clients["goals"],
                clients["notifications"],
            )
            for employee, manager in (("mia", None), ("emil", "mia")):
                body = {
                    "employee_id": employee,
                    "name": employee.title(),
                    "email": f"{employee}@acme.test",
                    "start_date": "2026-01-05",
                    "manager_id": manager,
                }
                await _ok(onboarding, "POST", "/v1/employees", HR, body)
            everything = await _ok(
                notifications,
                "POST",
                "/v1/webhooks/subscriptions",
                HR,
                {"url": receiver.url, "event_types": ["*"]},
            )
            by_name = await _ok(
                notifications,
                "POST",
                "/v1/webhooks/subscriptions",
                HR,
                {
                    "url": receiver.url,
                    "event_types": ["goals.TimeEntry*", "goals.Timesheet*", "*.TimeEntryLogged"],
                },
            )
            listed = await _ok(notifications, "GET", "/v1/webhooks/event-types", HR)
            assert "goals.GoalCreated" in listed
            assert not any(name.split(".", 1)[1] in TYPES for name in listed), listed

            goal = (
                await _ok(
                    goals, "POST", "/v1/goals", EMIL, {"level": "individual", "title": "Mine", "period": "Q4"}
                )
            )["goal_id"]
            day = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=3)).isoformat()
            labelled = await _ok(
                goals,
                "POST",
                "/v1/timesheet/entries",
                EMIL,
                {"day": day, "minutes": 90, "label": TEXTS[0], "note": TEXTS[1]},
            )
            on_goal = await _ok(
                goals, "POST", "/v1/timesheet/entries", EMIL, {"day": day, "minutes": 60, "goal_id": goal}
            )
            url = f"/v1/timesheet/entries/{on_goal['entry_id']}"
            await _ok(goals, "PATCH", url, EMIL, {"note": TEXTS[2]})
            await _ok(goals, "DELETE", f"/v1/timesheet/entries/{labelled['entry_id']}", EMIL)
            await _ok(goals, "DELETE", "/v1/timesheet", EMIL)
            marker = (
                await _ok(
                    goals,
                    "POST",
                    "/v1/goals",
                    EMIL,
                    {"level": "individual", "title": "Marker", "period": "Q4"},
                )
            )["goal_id"]

            async def marker_delivered() -> bool:
                return any(marker.encode() in r.body for r in receiver.delivered())

            await eventually(marker_delivered, timeout=20)
            secrets = (*TEXTS, labelled["entry_id"], on_goal["entry_id"], timesheet_id("acme", "emil"))

            bodies = [r.json for r in receiver.requests]
            assert {b["type"] for b in bodies} >= {"goals.GoalCreated"}  # the control
            assert not any(b["type"].split(".", 1)[-1] in TYPES for b in bodies), [b["type"] for b in bodies]
            sent = b"\n".join(r.body + json.dumps(r.headers).encode() for r in receiver.requests)
            assert b"timesheet" not in sent
            for secret in secrets:
                assert secret.encode() not in sent, secret

            # the subscription to the time-tracking names matched nothing, ever
            url = f"/v1/webhooks/subscriptions/{by_name['id']}/deliveries"
            assert (await _ok(notifications, "GET", url, HR))["items"] == []
            url = f"/v1/webhooks/subscriptions/{everything['id']}/deliveries"
            delivered = (await _ok(notifications, "GET", url, HR))["items"]
            assert delivered and not any(d["event_type"] in TYPES for d in delivered)

            # nobody's inbox, and no row of the notifications service, knows of it
            for person, roles in (
                ("emil", ("employee",)),
                ("mia", ("manager", "employee")),
                ("hana", ("hr",)),
            ):
                inbox = await notifications.get("/v1/inbox", headers=auth(person, *roles))
                assert not any(s in inbox.text for s in secrets), person
            stored = await _rows(apps["notifications"].state.runtime)
            assert marker in stored  # the control: the marker's delivery is stored
            for secret in secrets:  # (the types themselves are in the second subscription's patterns)
                assert secret not in stored, secret
            for client in clients.values():
                await client.aclose()
    finally:
        await receiver.stop()
