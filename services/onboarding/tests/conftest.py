"""Fixtures for the onboarding service's tests: a running service on real NATS and a real database.

The service runs on a test clock (``TEST_CLOCK``), frozen at the moment it starts and
moved by the tests (directly, or through ``POST /v1/test-clock`` like any admin could).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from trellis.core.consuming.clock import TestClock
from trellis.core.runtime.auth import mint_token
from trellis.core.runtime.service import Runtime, create_app
from trellis.core.runtime.settings import DEV_JWT_SECRET
from trellis.core.store.tables import events
from trellis.onboarding.bootstrap import SERVICE, OnboardingSettings
from trellis.orgchart import OrgDirectory
from trellis.testing import Database, eventually

TENANT = "acme"


def token(employee: str, *roles: str, tenant: str = TENANT) -> str:
    return mint_token(secret=DEV_JWT_SECRET, tenant=tenant, employee=employee, roles=list(roles))


def auth(employee: str, *roles: str, **kw: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(employee, *roles, **kw)}"}


ADMIN = auth("root", "admin", "employee")
HR = auth("hana", "hr", "employee")

THIRTY_SIXTY_NINETY = [
    {"key": "day-30", "title": "First change in production", "due_offset_days": 30},
    {
        "key": "day-60",
        "title": "Review of the first two months",
        "due_offset_days": 60,
        "assignee": "manager",
    },
    {"key": "day-90", "title": "Mentoring wrap-up", "due_offset_days": 90, "assignee": "mentor"},
]


@dataclass
class OnboardingService:
    runtime: Runtime
    client: httpx.AsyncClient

    @property
    def clock(self) -> TestClock:
        assert isinstance(self.runtime.clock, TestClock)
        return self.runtime.clock

    def today(self) -> dt.date:
        return self.clock.now().date()

    async def call(
        self, method: str, url: str, body: Any = None, headers: dict[str, str] = ADMIN, expect: int = 200
    ) -> Any:
        resp = await self.client.request(method, url, json=body, headers=headers)
        assert resp.status_code == expect, (method, url, resp.status_code, resp.text)
        return resp.json()

    async def hire(
        self,
        employee_id: str,
        *,
        manager: str | None = None,
        team: str | None = None,
        email: str | None = None,
        start_date: dt.date | None = None,
        plan: dict[str, Any] | None = None,
        headers: dict[str, str] = ADMIN,
    ) -> dict[str, Any]:
        body = {
            "employee_id": employee_id,
            "name": employee_id.title(),
            "email": email or f"{employee_id}@acme.test",
            "start_date": (start_date or self.today()).isoformat(),
            "team_id": team,
            "manager_id": manager,
            "plan": plan,
        }
        result: dict[str, Any] = await self.call("POST", "/v1/employees", body, headers, 201)
        return result

    async def create_team(self, name: str, parent: str | None = None, lead: str | None = None) -> str:
        body = {"name": name, "parent_team_id": parent, "lead_id": lead}
        team_id: str = (await self.call("POST", "/v1/teams", body, ADMIN, 201))["id"]
        return team_id

    async def create_template(
        self, name: str = "30/60/90", milestones: list[dict[str, Any]] | None = None
    ) -> str:
        body = {"name": name, "milestones": milestones or THIRTY_SIXTY_NINETY}
        template_id: str = (await self.call("POST", "/v1/onboarding-templates", body, ADMIN, 201))["id"]
        return template_id

    async def refused(
        self, method: str, url: str, body: Any = None, headers: dict[str, str] = ADMIN, expect: int = 422
    ) -> str:
        """The machine-readable code of a refused request, checking nothing was stored."""
        before = await self.count_events()
        error = await self.call(method, url, body, headers, expect)
        assert await self.count_events() == before, (method, url, "stored something")
        code: str = error["error"]["code"]
        return code

    async def create_training(
        self,
        title: str = "SQL basics",
        *,
        kind: str = "course",
        skills: list[str] | None = None,
        url: str | None = "https://learn.example.com/sql",
        headers: dict[str, str] = HR,
    ) -> str:
        body = {"kind": kind, "title": title, "url": url, "skills": skills or ["sql"], "duration_minutes": 90}
        training_id: str = (await self.call("POST", "/v1/trainings", body, headers, 201))["id"]
        return training_id

    async def enrol(
        self,
        employee_id: str,
        training_id: str,
        *,
        target: dt.date | None = None,
        headers: dict[str, str] = HR,
    ) -> str:
        body = {
            "employee_id": employee_id,
            "training_id": training_id,
            "target_date": (target or self.today() + dt.timedelta(days=30)).isoformat(),
        }
        enrolment_id: str = (await self.call("POST", "/v1/training-enrolments", body, headers, 201))["id"]
        return enrolment_id

    async def until_managed(self, manager: str, employee: str) -> None:
        """Wait until the service's own org chart view says ``manager`` manages ``employee``."""

        async def check() -> bool:
            async with self.runtime.sessions() as session:
                return await OrgDirectory().manages(session, TENANT, manager, employee, indirect=False)

        await eventually(check)

    async def count_events(self, event_type: str | None = None) -> int:
        """How many events of ``event_type`` (of every type: None) the store holds."""
        async with self.runtime.sessions() as session:
            query = select(func.count()).select_from(events)
            if event_type is not None:
                query = query.where(events.c.event_type == event_type)
            return int((await session.execute(query)).scalar_one())


def settings_for(
    db: Database, nats_url: str, subject_root: str, data_dir: Path, **kw: Any
) -> OnboardingSettings:
    return OnboardingSettings(
        database_url=db.url,
        database_schema=db.schema,
        nats_url=nats_url,
        subject_root=subject_root,
        data_dir=data_dir,
        consumer_batch_size=100,
        test_clock=True,
        **kw,
    )


async def start_onboarding(settings: OnboardingSettings) -> OnboardingService:
    app = create_app(SERVICE, settings)
    runtime: Runtime = app.state.runtime
    assert isinstance(runtime.clock, TestClock)
    runtime.clock.frozen = True  # stands still at start-up until a test moves it
    await runtime.start()
    await runtime.wait_ready()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://onboarding")
    return OnboardingService(runtime, client)


@pytest.fixture
async def onboarding(
    database: Database, nats_url: str, subject_root: str, tmp_path: Path
) -> AsyncIterator[OnboardingService]:
    service = await start_onboarding(settings_for(database, nats_url, subject_root, tmp_path))
    try:
        yield service
    finally:
        await service.client.aclose()
        await service.runtime.stop()
