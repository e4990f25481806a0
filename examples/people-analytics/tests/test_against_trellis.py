"""The example consumer against a running Trellis: the goals service on a real nats-server
and database, goals made through its HTTP API, the consumer written with the kit storing
progress per team. Across a crash of the consumer after a commit but before its ack,
every event is applied exactly once, in each goal's order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from faststream.nats import NatsBroker
from people_analytics.app import build
from people_analytics.store import Store

from trellis.contracts.envelope import EventEnvelope
from trellis.core.runtime.auth import mint_token
from trellis.core.runtime.settings import DEV_JWT_SECRET
from trellis.goals.bootstrap import SERVICE, GoalsSettings
from trellis.testing import Database, eventually, running_service


def _auth(employee: str, *roles: str) -> dict[str, str]:
    token = mint_token(secret=DEV_JWT_SECRET, tenant="acme", employee=employee, roles=list(roles))
    return {"Authorization": f"Bearer {token}"}


ADMIN = _auth("ceo", "admin", "employee")


@pytest.fixture
async def goals_api(
    database: Database, nats_url: str, subject_root: str, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    settings = GoalsSettings(
        database_url=database.url,
        database_schema=database.schema,
        nats_url=nats_url,
        subject_root=subject_root,
        data_dir=tmp_path,
    )
    async with running_service(SERVICE, settings) as (_runtime, client):
        yield client


class CrashingStore(Store):
    """Commits the ``crash_at``-th event, then dies before the ack (the handler never returns)."""

    def __init__(self, path: Path, crash_at: int) -> None:
        super().__init__(path)
        self.crash_at = crash_at
        self.applied_count = 0
        self.crashed = asyncio.Event()

    def apply(self, envelope: EventEnvelope, change: Callable[[Any], Any]) -> None:
        super().apply(envelope, change)
        self.applied_count += 1
        if self.applied_count == self.crash_at:
            self.crashed.set()
            raise _Crash


class _Crash(BaseException):
    """Not an ``Exception``: nothing in the consumer handles it, as with a killed process."""


async def _consumer(nats_url: str, root: str, store: Store) -> NatsBroker:
    broker = NatsBroker(nats_url, graceful_timeout=0.5)
    build(broker, store, root=root, ack_wait=1.0)  # an unacked event comes back after 1 s
    await broker.start()
    return broker


async def test_the_consumer_keeps_team_progress_exactly_once_across_a_crash(
    goals_api: httpx.AsyncClient, nats_url: str, subject_root: str, tmp_path: Path
) -> None:
    async def create(**body: Any) -> str:
        resp = await goals_api.post("/v1/goals", json={"period": "2027-Q1", **body}, headers=ADMIN)
        assert resp.status_code == 201, resp.text
        return str(resp.json()["goal_id"])

    async def add_key_result(goal: str, target: float) -> str:
        resp = await goals_api.post(
            f"/v1/goals/{goal}/key-results",
            json={"name": "metric", "start": 0, "target": target},
            headers=ADMIN,
        )
        assert resp.status_code == 201, resp.text
        return str(resp.json()["related"]["key_result_id"])

    async def record(goal: str, key_result: str, value: float) -> None:
        resp = await goals_api.post(
            f"/v1/goals/{goal}/key-results/{key_result}/progress", json={"value": value}, headers=ADMIN
        )
        assert resp.status_code == 200, resp.text

    growth = await create(level="team", title="Grow", owner_id="mia", team_id="growth")
    users = await add_key_result(growth, 200)
    platform = await create(level="team", title="Stabilise", owner_id="olga", team_id="platform")
    uptime = await add_key_result(platform, 10)
    for value in (20, 40, 60):
        await record(growth, users, value)

    path = tmp_path / "analytics.db"
    # GoalCreated, KeyResultAdded, GoalCreated, KeyResultAdded, then the 1st progress: crash
    first = CrashingStore(path, crash_at=5)
    broker = await _consumer(nats_url, subject_root, first)
    await asyncio.wait_for(first.crashed.wait(), 20)
    await broker.stop()  # the process is gone; its last event is committed but not acked
    first.close()

    for value in (80, 100):
        await record(growth, users, value)  # while the consumer is down
    await record(platform, uptime, 5)

    second = Store(path)
    broker = await _consumer(nats_url, subject_root, second)
    try:

        async def caught_up() -> bool:
            return second.updates(users) == 5 and second.updates(uptime) == 1

        await eventually(caught_up, timeout=20)
        await asyncio.sleep(1.5)  # past the redelivery of the crashed event: nothing more changes
    finally:
        await broker.stop()
    assert second.updates(users) == 5  # 20, 40, 60, 80, 100: each once
    assert second.team_progress("acme") == {"growth": 0.5, "platform": 0.5}  # 100/200 (the last value), 5/10
    second.close()
