"""Onboarding, feedback and notifications running together, each on its own database, one
nats-server: the org and a new hire's plan are made through the onboarding API, a check-in
schedule through the feedback API; their clocks are moved by an admin until a milestone
and a check-in are missed, and the right people find it in their inbox."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from trellis.contracts import SERVICES
from trellis.contracts.subjects import Subjects
from trellis.core.consuming.clock import TestClock
from trellis.core.messaging.jetstream import StreamSpec, connect, ensure_stream
from trellis.core.runtime.auth import mint_token
from trellis.core.runtime.service import Runtime, ServiceDefinition, create_app
from trellis.core.runtime.settings import DEV_JWT_SECRET, ServiceSettings
from trellis.feedback.bootstrap import SERVICE as FEEDBACK
from trellis.feedback.bootstrap import FeedbackSettings
from trellis.notifications.bootstrap import SERVICE as NOTIFICATIONS
from trellis.notifications.settings import NotificationsSettings
from trellis.onboarding.bootstrap import SERVICE as ONBOARDING
from trellis.onboarding.bootstrap import OnboardingSettings
from trellis.orgchart import OrgDirectory
from trellis.testing import Database, eventually, postgres_database

TENANT = "acme"
START = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC)  # a Monday
MONDAY_9 = START.replace(hour=9)


def auth(employee: str, *roles: str) -> dict[str, str]:
    token = mint_token(
        secret=DEV_JWT_SECRET, tenant=TENANT, employee=employee, roles=list(roles or ("employee",))
    )
    return {"Authorization": f"Bearer {token}"}


ADMIN = auth("ceo", "admin", "hr", "manager", "employee")
HR = auth("hana", "hr", "employee")
MIA = auth("mia", "manager", "employee")


@dataclass
class System:
    onboarding: httpx.AsyncClient
    feedback: httpx.AsyncClient
    notifications: httpx.AsyncClient
    runtimes: dict[str, Runtime]

    async def call(
        self, client: httpx.AsyncClient, method: str, url: str, body: Any = None, **kw: Any
    ) -> Any:
        headers, expect = kw.get("headers", HR), kw.get("expect", (200, 201))
        resp = await client.request(method, url, json=body, headers=headers)
        assert resp.status_code in expect, (method, url, resp.status_code, resp.text)
        return resp.json()

    async def inbox(self, employee: str, *roles: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (
            await self.call(self.notifications, "GET", "/v1/inbox", headers=auth(employee, *roles))
        )["items"]
        return found


def _runtime_with_clock(definition: ServiceDefinition, settings: ServiceSettings) -> Any:
    app = create_app(definition, settings)
    app.state.runtime = Runtime(definition, settings, clock=TestClock(START))  # frozen, moved by hand
    return app


@contextlib.asynccontextmanager
async def serving(app: Any, name: str) -> AsyncIterator[httpx.AsyncClient]:
    runtime: Runtime = app.state.runtime
    await runtime.start()
    try:
        await runtime.wait_ready()
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=f"http://{name}"
        ) as client:
            yield client
    finally:
        await runtime.stop()


@pytest.fixture
async def system(
    database: Database, postgres_url: str | None, nats_url: str, subject_root: str, tmp_path: Path
) -> AsyncIterator[System]:
    async with contextlib.AsyncExitStack() as stack:
        dbs: dict[str, Database] = {"notifications": database}
        for name in ("onboarding", "feedback"):
            if database.backend == "sqlite":
                dbs[name] = Database("sqlite", f"sqlite+aiosqlite:///{tmp_path / (name + '.db')}")
            else:
                dbs[name] = await stack.enter_async_context(postgres_database(postgres_url))
        nc = await connect(nats_url, name="all-services-test")
        stack.push_async_callback(nc.close)
        subjects = Subjects(subject_root)
        for source in SERVICES:  # every stream exists, as when every service runs
            await ensure_stream(
                nc.jetstream(), StreamSpec(subjects.stream(source), [subjects.all_of(source)])
            )

        def common(name: str) -> dict[str, Any]:
            db = dbs[name]
            return {
                "database_url": db.url,
                "database_schema": db.schema,
                "nats_url": nats_url,
                "subject_root": subject_root,
                "data_dir": tmp_path / name,
                "consumer_batch_size": 100,
            }

        apps = {
            "onboarding": _runtime_with_clock(
                ONBOARDING, OnboardingSettings(test_clock=True, **common("onboarding"))
            ),
            "feedback": _runtime_with_clock(
                FEEDBACK, FeedbackSettings(test_clock=True, **common("feedback"))
            ),
            "notifications": create_app(NOTIFICATIONS, NotificationsSettings(**common("notifications"))),
        }
        clients = {name: await stack.enter_async_context(serving(app, name)) for name, app in apps.items()}
        yield System(
            clients["onboarding"],
            clients["feedback"],
            clients["notifications"],
            {name: app.state.runtime for name, app in apps.items()},
        )


async def knows(runtime: Runtime, manager: str, employee: str) -> bool:
    async with runtime.sessions() as session:
        return await OrgDirectory().manages(session, TENANT, manager, employee)


async def test_a_missed_milestone_and_a_missed_check_in_made_by_their_services_tell_the_right_people(
    system: System,
) -> None:
    hire = {"start_date": "2025-06-02"}
    for employee, manager in (("ceo", None), ("mia", "ceo"), ("nora", "mia"), ("emil", "mia")):
        body = {"employee_id": employee, "name": employee.title(), "email": f"{employee}@acme.test", **hire}
        await system.call(system.onboarding, "POST", "/v1/employees", {**body, "manager_id": manager})
    piet = {
        "employee_id": "piet",
        "name": "Piet",
        "email": "piet@acme.test",
        "start_date": START.date().isoformat(),
        "manager_id": "mia",
        "plan": {
            "mentor_id": "nora",
            "milestones": [{"key": "day-30", "title": "First customer call", "due_offset_days": 30}],
        },
    }
    await system.call(system.onboarding, "POST", "/v1/employees", piet)

    # The plan started: the manager and the mentor are told.
    async def plan_started() -> bool:
        told = [[n["type"] for n in await system.inbox(person)] for person in ("nora", "mia")]
        return told == [["onboarding.plan_started"]] * 2

    await eventually(plan_started)
    # the notifications' org chart names Piet (a name it does not know yet renders as the id)
    await eventually(lambda: knows(system.runtimes["notifications"], "mia", "piet"))

    # The milestone's due date (2026-02-04) passes without it being done.
    await system.call(
        system.onboarding, "POST", "/v1/test-clock", {"to": "2026-02-06T08:00:00+00:00"}, headers=ADMIN
    )

    async def milestone_told() -> bool:
        # each recipient's notification reaches the inbox view on its own: wait for all three
        if [n["type"] for n in await system.inbox("piet")] != ["onboarding.milestone_missed"]:
            return False
        told = [
            "onboarding.milestone_missed" in [n["type"] for n in await system.inbox(person)]
            for person in ("mia", "nora")
        ]
        return all(told) and len(await system.inbox("hana", "hr", "employee")) == 1

    await eventually(milestone_told)
    [hr] = await system.inbox("hana", "hr", "employee")
    assert hr["recipient_id"] == "role:hr"
    assert hr["text"] == "Piet's onboarding milestone “First customer call” (due 2026-02-04) was missed."
    assert hr["subject"] == {
        "service": "onboarding",
        "type": "milestone",
        "id": "day-30",
        "parent_id": hr["subject"]["parent_id"],
    }
    assert await system.inbox("emil") == [] and await system.inbox("ceo") == []

    # A weekly check-in of mia and emil falls due, and its grace period passes.
    await eventually(lambda: knows(system.runtimes["feedback"], "mia", "emil"))
    schedule = {
        "report_id": "emil",
        "cadence": "weekly",
        "weekday": 0,
        "time_of_day": "09:00",
        "grace_hours": 24,
    }
    await system.call(system.feedback, "POST", "/v1/checkin-schedules", schedule, headers=MIA)

    async def nudged() -> bool:  # made on Monday at 08:00: the first one is within the day
        return "checkin.coming_up" in [n["type"] for n in await system.inbox("emil")]

    await eventually(nudged)
    for moment in (MONDAY_9 + dt.timedelta(minutes=5), MONDAY_9 + dt.timedelta(hours=25)):
        await system.call(
            system.feedback, "POST", "/v1/test-clock", {"to": moment.isoformat()}, headers=ADMIN
        )

    async def checkin_told() -> bool:
        return "checkin.missed" in [n["type"] for n in await system.inbox("emil")]

    await eventually(checkin_told)
    told = {n["type"]: n["text"] for n in await system.inbox("emil")}
    assert told["checkin.missed"] == "Your check-in with Mia was missed."
    assert set(told) == {"checkin.missed", "checkin.coming_up"}, told

    async def manager_told() -> bool:
        return "checkin.missed" in [n["type"] for n in await system.inbox("mia")]

    await eventually(manager_told)
    assert await system.inbox("ceo") == []  # a first miss: the manager's manager is not told
