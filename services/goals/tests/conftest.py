"""Fixtures for the goals service's tests: a running service on real NATS and a real database."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from trellis.contracts.onboarding import EmployeeHired, EmployeeManagerChanged
from trellis.core.messaging.jetstream import connect
from trellis.core.runtime.auth import mint_token
from trellis.core.runtime.service import Runtime, create_app
from trellis.core.runtime.settings import DEV_JWT_SECRET
from trellis.goals.bootstrap import SERVICE, GoalsSettings
from trellis.orgchart import OrgDirectory
from trellis.testing import Database, StreamWriter, eventually

TENANT = "acme"


def token(employee: str, *roles: str, tenant: str = TENANT) -> str:
    return mint_token(secret=DEV_JWT_SECRET, tenant=tenant, employee=employee, roles=list(roles))


def auth(employee: str, *roles: str, **kw: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(employee, *roles, **kw)}"}


ADMIN = auth("ceo", "admin", "employee")


@dataclass
class GoalsService:
    runtime: Runtime
    client: httpx.AsyncClient
    org: StreamWriter  # puts onboarding events on the (test's) onboarding stream

    async def hire(self, employee: str, manager: str | None = None) -> None:
        await self.org.emit(
            employee,
            EmployeeHired(
                employee_id=employee,
                name=employee.title(),
                email=f"{employee}@acme.test",
                start_date=dt.date(2026, 1, 5),
                manager_id=manager,
            ),
        )

    async def change_manager(self, employee: str, manager: str, previous: str | None) -> None:
        await self.org.emit(
            employee,
            EmployeeManagerChanged(employee_id=employee, manager_id=manager, previous_manager_id=previous),
        )

    async def until_managed(self, manager: str, employee: str) -> None:
        """Wait until the goals service's org chart replica says ``manager`` manages ``employee``."""

        async def check() -> bool:
            async with self.runtime.sessions() as session:
                return await OrgDirectory().manages(session, TENANT, manager, employee)

        await eventually(check)


async def start_goals(
    db: Database, nats_url: str, subject_root: str, data_dir: Path
) -> tuple[Runtime, httpx.AsyncClient]:
    settings = GoalsSettings(
        database_url=db.url,
        database_schema=db.schema,
        nats_url=nats_url,
        subject_root=subject_root,
        data_dir=data_dir,
        consumer_batch_size=100,
    )
    app = create_app(SERVICE, settings)
    runtime: Runtime = app.state.runtime
    await runtime.start()
    await runtime.wait_ready()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://goals")
    return runtime, client


@pytest.fixture
async def goals(
    database: Database, nats_url: str, subject_root: str, tmp_path: Path
) -> AsyncIterator[GoalsService]:
    """The goals service, with mia managing emil in the org (olga manages nobody)."""
    runtime, client = await start_goals(database, nats_url, subject_root, tmp_path)
    nc = await connect(nats_url, name="goals-tests-org")
    service = GoalsService(runtime, client, StreamWriter(nc.jetstream(), runtime.subjects, "onboarding"))
    try:
        for employee, manager in (("mia", None), ("emil", "mia"), ("olga", None)):
            await service.hire(employee, manager)
        await service.until_managed("mia", "emil")
        yield service
    finally:
        await client.aclose()
        await runtime.stop()
        await nc.close()
