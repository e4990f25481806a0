"""Fixtures for the feedback service's tests: a running service on real NATS and a real database.

The org comes from the onboarding stream, which these tests write to with ``StreamWriter``
(the onboarding service itself need not run); the service's clock is a frozen ``TestClock``
the tests move (directly, or as an admin through ``POST /v1/test-clock``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from trellis.contracts.onboarding import (
    EmployeeHired,
    EmployeeManagerChanged,
    EmployeeOffboarded,
    TeamCreated,
)
from trellis.contracts.subjects import Subjects
from trellis.core.consuming.clock import TestClock
from trellis.core.consuming.consumer import RetryPolicy
from trellis.core.messaging.jetstream import StreamSpec, connect, ensure_stream
from trellis.core.runtime.auth import mint_token
from trellis.core.runtime.service import Runtime, create_app
from trellis.core.runtime.settings import DEV_JWT_SECRET
from trellis.core.store.tables import deadlines
from trellis.feedback.bootstrap import SERVICE, FeedbackSettings
from trellis.orgchart import OrgDirectory
from trellis.testing import Database, StreamWriter, eventually

TENANT = "acme"
START = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC)  # a Monday, 08:00 UTC


def token(employee: str, *roles: str, tenant: str = TENANT) -> str:
    return mint_token(
        secret=DEV_JWT_SECRET, tenant=tenant, employee=employee, roles=list(roles or ("employee",))
    )


def auth(employee: str, *roles: str, tenant: str = TENANT) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(employee, *roles, tenant=tenant)}"}


@dataclass
class FeedbackService:
    runtime: Runtime
    client: httpx.AsyncClient
    org: StreamWriter  # puts onboarding events on the (test's) onboarding stream
    clock: TestClock
    responses: list[httpx.Response] = field(default_factory=list)  # every response, for the anonymity test

    async def hire(
        self, employee: str, manager: str | None = None, team: str | None = None, tenant: str = TENANT
    ) -> None:
        await self.org.emit(
            f"{tenant}-{employee}",
            EmployeeHired(
                employee_id=employee,
                name=employee.title(),
                email=f"{employee}@{tenant}.test",
                start_date=dt.date(2025, 6, 2),
                team_id=team,
                manager_id=manager,
            ),
            tenant_id=tenant,
        )

    async def team(self, team: str, parent: str | None = None) -> None:
        await self.org.emit(team, TeamCreated(team_id=team, name=team.title(), parent_team_id=parent))

    async def change_manager(self, employee: str, manager: str | None, previous: str | None) -> None:
        await self.org.emit(
            f"{TENANT}-{employee}",
            EmployeeManagerChanged(employee_id=employee, manager_id=manager, previous_manager_id=previous),
        )

    async def offboard(self, employee: str) -> None:
        await self.org.emit(
            f"{TENANT}-{employee}", EmployeeOffboarded(employee_id=employee, last_day=dt.date(2026, 1, 30))
        )

    async def until_org(self, employee: str, manager: str | None = None, tenant: str = TENANT) -> None:
        """Wait until the service's org chart replica has ``employee`` (reporting to ``manager``)."""

        async def check() -> bool:
            async with self.runtime.sessions() as session:
                found = await OrgDirectory().employee(session, tenant, employee)
            return found is not None and found.manager_id == manager

        await eventually(check)

    async def until_offboarded(self, employee: str) -> None:
        async def check() -> bool:
            async with self.runtime.sessions() as session:
                found = await OrgDirectory().employee(session, TENANT, employee)
            return found is not None and not found.active

        await eventually(check)

    async def deadlines_fired(self) -> None:
        """Wait until every deadline due by the clock has fired (the service's own scheduler)."""
        c = deadlines.c

        async def none_due() -> bool:
            async with self.runtime.sessions() as session:
                query = select(func.count()).where(c.fired_at.is_(None), c.due_at <= self.clock.now())
                return (await session.execute(query)).scalar_one() == 0

        await eventually(none_due)

    async def build_org(self, people: list[tuple[str, str | None, str | None]]) -> None:
        """(employee, manager, team) in order; waits until the replica has them all."""
        for employee, manager, team in people:
            await self.hire(employee, manager, team)
        for employee, manager, _team in people:
            await self.until_org(employee, manager)


async def start_feedback(
    db: Database,
    nats_url: str,
    subject_root: str,
    data_dir: Path,
    clock: TestClock,
    responses: list[httpx.Response] | None = None,
    **overrides: Any,
) -> tuple[Runtime, httpx.AsyncClient]:
    """A running feedback service on ``clock`` (its HTTP API in process)."""
    settings = FeedbackSettings(
        database_url=db.url,
        database_schema=db.schema,
        nats_url=nats_url,
        subject_root=subject_root,
        data_dir=data_dir,
        consumer_batch_size=100,
        test_clock=True,
        **overrides,
    )
    app = create_app(SERVICE, settings)
    # The app's routes use app.state.runtime: give it one on the test's frozen clock.
    runtime = Runtime(SERVICE, settings, clock=clock, retry=RetryPolicy(max_attempts=3, delays=(0.2,)))
    app.state.runtime = runtime
    await runtime.start()
    await runtime.wait_ready()
    hooks: dict[str, list[Any]] = {}
    if responses is not None:

        async def keep(response: httpx.Response) -> None:
            await response.aread()
            responses.append(response)

        hooks["response"] = [keep]
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://feedback", event_hooks=hooks
    )
    return runtime, client


@pytest.fixture
def feedback_settings() -> dict[str, Any]:
    """Settings the ``feedback`` fixture starts the service with (a test module may override it)."""
    return {}


@pytest.fixture
async def feedback(
    database: Database, nats_url: str, subject_root: str, tmp_path: Path, feedback_settings: dict[str, Any]
) -> AsyncIterator[FeedbackService]:
    """The feedback service on a frozen clock at ``START``, with an empty org."""
    nc = await connect(nats_url, name="feedback-tests-org")
    subjects = Subjects(subject_root)
    writer = StreamWriter(nc.jetstream(), subjects, "onboarding")
    onboarding = StreamSpec(name=subjects.stream("onboarding"), subjects=[subjects.all_of("onboarding")])
    await ensure_stream(nc.jetstream(), onboarding)  # so the org consumers find their stream at once
    clock = TestClock(START)
    responses: list[httpx.Response] = []
    runtime, client = await start_feedback(
        database, nats_url, subject_root, tmp_path, clock, responses, **feedback_settings
    )
    try:
        yield FeedbackService(runtime, client, writer, clock, responses)
    finally:
        await client.aclose()
        await runtime.stop()
        await nc.close()
