"""Fixtures for the notifications service's tests: the running service on real NATS and a real
database, the other services' streams (written as their relays would), and a real HTTP
webhook receiver on loopback."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from trellis.contracts import SERVICES
from trellis.contracts.onboarding import EmployeeHired
from trellis.contracts.subjects import Subjects
from trellis.core.messaging.jetstream import StreamSpec, connect, ensure_stream
from trellis.core.runtime.auth import mint_token
from trellis.core.runtime.service import Runtime, create_app
from trellis.core.runtime.settings import DEV_JWT_SECRET
from trellis.core.store.tables import events
from trellis.notifications.bootstrap import SERVICE
from trellis.notifications.settings import NotificationsSettings
from trellis.notifications.testing import Received, Receiver
from trellis.orgchart import OrgDirectory
from trellis.testing import Database, StreamWriter, eventually

TENANT = "acme"


def token(employee: str, *roles: str, tenant: str = TENANT) -> str:
    return mint_token(secret=DEV_JWT_SECRET, tenant=tenant, employee=employee, roles=list(roles))


def auth(employee: str, *roles: str, **kw: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(employee, *roles, **kw)}"}


ADMIN = auth("ceo", "admin", "employee")

# ceo manages mia and olga; mia manages emil and nora; olga manages piet (team ops).
ORG = [
    ("ceo", None, "board"),
    ("mia", "ceo", "growth"),
    ("olga", "ceo", "ops"),
    ("emil", "mia", "growth"),
    ("nora", "mia", "growth"),
    ("piet", "olga", "ops"),
]


def test_settings(db: Database, nats_url: str, subject_root: str, data_dir: Path, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "database_url": db.url,
        "database_schema": db.schema,
        "nats_url": nats_url,
        "subject_root": subject_root,
        "data_dir": data_dir,
        "consumer_batch_size": 100,
        "webhook_retry_schedule": [0.05, 0.1, 0.2, 0.3],
        "webhook_retry_jitter": 0.0,
        "webhook_poll_interval": 0.05,
        "webhook_timeout": 3.0,
        "webhook_allow_private_urls": True,  # the receiver listens on loopback
        **overrides,
    }
    return NotificationsSettings(**values)


async def start_notifications(
    settings: NotificationsSettings, *, ack_wait: float | None = None
) -> tuple[Runtime, httpx.AsyncClient]:
    app = create_app(SERVICE, settings)
    runtime: Runtime = app.state.runtime
    if ack_wait is not None:
        for runner in runtime.runners:
            runner.ack_wait = ack_wait
    await runtime.start()
    await runtime.wait_ready()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://notifications")
    return runtime, client


@dataclass
class NotificationsService:
    runtime: Runtime
    client: httpx.AsyncClient
    js: Any
    settings: NotificationsSettings
    writers: dict[str, StreamWriter] = field(default_factory=dict)

    def stream(self, service: str) -> StreamWriter:
        """Puts events on ``service``'s stream (of this test's subject root)."""
        if service not in self.writers:
            self.writers[service] = StreamWriter(self.js, self.runtime.subjects, service)
        return self.writers[service]

    async def hire_org(self, org: list[tuple[str, str | None, str]] = ORG) -> None:
        for employee, manager, team in org:
            await self.stream("onboarding").emit(
                employee,
                EmployeeHired(
                    employee_id=employee,
                    name=employee.title(),
                    email=f"{employee}@acme.test",
                    start_date=dt.date(2026, 1, 5),
                    manager_id=manager,
                    team_id=team,
                ),
            )
        last, manager = org[-1][0], org[-1][1]

        async def known() -> bool:
            async with self.runtime.sessions() as session:
                found = await OrgDirectory().employee(session, TENANT, last)
                return found is not None and found.manager_id == manager

        await eventually(known)

    async def inbox(self, employee: str, *roles: str, **params: Any) -> dict[str, Any]:
        resp = await self.client.get(
            "/v1/inbox", params=params, headers=auth(employee, *roles or ("employee",))
        )
        assert resp.status_code == 200, resp.text
        return resp.json()

    async def inbox_items(self, employee: str, *roles: str) -> list[dict[str, Any]]:
        return (await self.inbox(employee, *roles, limit=200))["items"]

    async def count_events(self, event_type: str) -> int:
        async with self.runtime.sessions() as session:
            query = select(func.count()).select_from(events).where(events.c.event_type == event_type)
            return int((await session.execute(query)).scalar_one())


async def new_service(
    db: Database,
    nats_url: str,
    subject_root: str,
    data_dir: Path,
    js: Any,
    ack_wait: float | None = None,
    **overrides: Any,
) -> NotificationsService:
    settings = test_settings(db, nats_url, subject_root, data_dir, **overrides)
    subjects = Subjects(subject_root)
    for source in SERVICES:  # the other services' streams exist, as when they run
        await ensure_stream(js, StreamSpec(name=subjects.stream(source), subjects=[subjects.all_of(source)]))
    runtime, client = await start_notifications(settings, ack_wait=ack_wait)
    return NotificationsService(runtime, client, js, settings)


async def stop_service(service: NotificationsService) -> None:
    await service.client.aclose()
    await service.runtime.stop()


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[Any]:
    nc = await connect(nats_url, name="notifications-tests")
    try:
        yield nc.jetstream()
    finally:
        await nc.close()


@pytest.fixture
async def notifications(
    database: Database, nats_url: str, subject_root: str, tmp_path: Path, js: Any
) -> AsyncIterator[NotificationsService]:
    """The notifications service, with the org above hired (on the onboarding stream)."""
    service = await new_service(database, nats_url, subject_root, tmp_path, js)
    try:
        await service.hire_org()
        yield service
    finally:
        await stop_service(service)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    try:
        yield r
    finally:
        await r.stop()


def verify_signature(secret: str, received: Received, *, tolerance: int = 300) -> bool:
    """The Standard Webhooks check, written from the specification (not the library): the key is
    the base64 after ``whsec_``; the signed content is ``{id}.{timestamp}.{body}``; any of the
    space-separated ``v1,<base64>`` signatures may match; the timestamp must be recent."""
    msg_id = received.headers["webhook-id"]
    timestamp = received.headers["webhook-timestamp"]
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    key = base64.b64decode(secret.split("_", 1)[1])
    expected = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + received.body, hashlib.sha256).digest()
    for candidate in received.headers["webhook-signature"].split(" "):
        version, _, sig = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(base64.b64decode(sig), expected):
            return True
    return False


async def subscribe(
    service: NotificationsService, url: str, event_types: list[str], headers: dict[str, str] = ADMIN
) -> dict[str, Any]:
    resp = await service.client.post(
        "/v1/webhooks/subscriptions", json={"url": url, "event_types": event_types}, headers=headers
    )
    assert resp.status_code == 201, resp.text
    return resp.json()
