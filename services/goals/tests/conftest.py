"""Fixtures for the goals service's tests: a running service on real NATS and a real database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from trellis.core.auth import mint_token
from trellis.core.service import Runtime, create_app
from trellis.core.settings import DEV_JWT_SECRET
from trellis.core.testing import Database
from trellis.goals.bootstrap import SERVICE, GoalsSettings

TENANT = "acme"


def token(employee: str, *roles: str, tenant: str = TENANT, reports: list[str] | None = None) -> str:
    return mint_token(
        secret=DEV_JWT_SECRET, tenant=tenant, employee=employee, roles=list(roles), reports=reports
    )


def auth(employee: str, *roles: str, **kw: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(employee, *roles, **kw)}"}


ADMIN = auth("ceo", "admin", "employee")


@dataclass
class GoalsService:
    runtime: Runtime
    client: httpx.AsyncClient


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
    runtime, client = await start_goals(database, nats_url, subject_root, tmp_path)
    try:
        yield GoalsService(runtime, client)
    finally:
        await client.aclose()
        await runtime.stop()
