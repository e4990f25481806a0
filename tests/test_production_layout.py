"""The production layout on PostgreSQL: a service's API in processes of their own
(no relay, consumers, deadlines or workers) and its relay and consumers in another, on
one database. A command committed by an API process wakes the relay of the other at
once (LISTEN/NOTIFY), not after its poll interval, and the read view the API serves is
kept by the other process's consumers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest

from trellis.core.runtime.auth import mint_token
from trellis.core.runtime.service import Runtime
from trellis.core.runtime.settings import DEV_JWT_SECRET
from trellis.goals.bootstrap import SERVICE, GoalsSettings
from trellis.testing import Database, eventually, running_service

ADMIN = {
    "Authorization": "Bearer "
    + mint_token(secret=DEV_JWT_SECRET, tenant="acme", employee="ceo", roles=["admin", "employee"])
}
API_ONLY = {"run_relay": False, "run_consumers": False, "run_deadlines": False, "run_workers": False}
POLL = 30.0  # the worker's relay polls this seldom: only a wake-up can make it quick


def _settings(pg: Database, nats_url: str, root: str, data_dir: Path, **overrides: Any) -> GoalsSettings:
    return GoalsSettings(
        database_url=pg.url,
        database_schema=pg.schema,
        nats_url=nats_url,
        subject_root=root,
        data_dir=data_dir,
        relay_poll_interval=POLL,
        **overrides,
    )


@pytest.fixture
async def layout(
    pg_database: Database, nats_url: str, subject_root: str, tmp_path: Path
) -> AsyncIterator[tuple[list[httpx.AsyncClient], Runtime]]:
    async with contextlib.AsyncExitStack() as stack:
        worker, _ = await stack.enter_async_context(
            running_service(SERVICE, _settings(pg_database, nats_url, subject_root, tmp_path / "worker"))
        )
        apis = [
            await stack.enter_async_context(
                running_service(
                    SERVICE, _settings(pg_database, nats_url, subject_root, tmp_path / f"api{i}", **API_ONLY)
                )
            )
            for i in range(2)
        ]
        yield [client for _, client in apis], worker


@pytest.mark.postgres
async def test_commands_in_api_processes_reach_the_stream_and_the_view_through_the_worker(
    layout: tuple[list[httpx.AsyncClient], Runtime], nats_url: str, subject_root: str
) -> None:
    apis, worker = layout
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    stream = f"{subject_root}_goals".upper()
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        created = []
        for i, api in enumerate([*apis, *apis]):
            resp = await api.post(
                "/v1/goals",
                json={"level": "company", "title": f"Objective {i}", "period": "2027-Q1"},
                headers=ADMIN,
            )
            assert resp.status_code == 201, resp.text
            created.append(resp.json()["goal_id"])

        async def on_stream() -> bool:
            return bool((await js.stream_info(stream)).state.messages == len(created))

        await eventually(on_stream, timeout=10)
        assert loop.time() - started < POLL / 3  # woken by the commits, not by its poll
        assert worker.wakeups is not None and worker.wakeups.received >= 1

        async def in_view() -> bool:  # the API processes serve what the worker's consumers wrote
            tree = (await apis[0].get("/v1/objectives", headers=ADMIN)).json()["objectives"]
            return {o["id"] for o in tree} == set(created)

        await eventually(in_view, timeout=10)
    finally:
        await nc.close()
