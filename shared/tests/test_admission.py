"""Admission at the edge of a real service: bounded work in flight, tenant rates, body size.

The goals service runs on a real database and nats-server with one extra router whose
routes wait on a gate the test opens: requests are held in flight deterministically,
without timing anything.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import APIRouter, Request
from sqlalchemy import func, select

from trellis.core.runtime.admission import Admission
from trellis.core.runtime.auth import mint_token
from trellis.core.runtime.embedded import free_port
from trellis.core.runtime.service import Runtime, create_app
from trellis.core.runtime.settings import DEV_JWT_SECRET
from trellis.core.store.tables import events
from trellis.goals.bootstrap import SERVICE, GoalsSettings
from trellis.testing import Database, eventually


def auth(tenant: str = "acme", secret: str = DEV_JWT_SECRET) -> dict[str, str]:
    token = mint_token(secret=secret, tenant=tenant, employee="ceo", roles=["admin", "employee"])
    return {"Authorization": f"Bearer {token}"}


JSON = {"Content-Type": "application/json"}
GOAL = {"level": "company", "title": "Win the mid-market", "period": "2026-Q4"}


class Gate:
    """Holds requests to ``/test/held`` until opened."""

    def __init__(self) -> None:
        self.entered = 0
        self.opened = asyncio.Event()

    async def until_entered(self, count: int) -> None:
        async def entered() -> bool:
            return self.entered >= count

        await eventually(entered, interval=0.01)


gate_router = APIRouter()


@gate_router.post("/test/held")
@gate_router.get("/test/held")
async def held(request: Request) -> dict[str, bool]:
    gate: Gate = request.app.state.gate
    gate.entered += 1
    await gate.opened.wait()
    return {"held": True}


GATED = dataclasses.replace(SERVICE, routers=lambda: [*SERVICE.routers(), gate_router])


@dataclasses.dataclass
class Service:
    runtime: Runtime
    client: httpx.AsyncClient
    gate: Gate
    app: Any

    async def stored_events(self) -> int:
        async with self.runtime.sessions() as session:
            return int((await session.execute(select(func.count()).select_from(events))).scalar_one())

    def hold(self, method: str = "POST") -> asyncio.Task[httpx.Response]:
        return asyncio.create_task(self.client.request(method, "/test/held", headers=auth()))


Start = Callable[..., Awaitable[Service]]


@pytest.fixture
async def start(nats_url: str, subject_root: str, tmp_path: Path) -> AsyncIterator[Start]:
    """Starts the gated goals service on a database with the given settings."""
    started: list[Service] = []

    async def _start(db: Database, **overrides: Any) -> Service:
        settings = GoalsSettings(
            database_url=db.url,
            database_schema=db.schema,
            nats_url=nats_url,
            subject_root=subject_root,
            data_dir=tmp_path,
            **overrides,
        )
        app = create_app(GATED, settings)
        app.state.gate = Gate()
        runtime: Runtime = app.state.runtime
        await runtime.start()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://goals")
        service = Service(runtime, client, app.state.gate, app)
        started.append(service)
        return service

    try:
        yield _start
    finally:
        for service in started:
            service.gate.opened.set()
            await service.client.aclose()
            await service.runtime.stop()


async def at_once(request: Awaitable[httpx.Response]) -> httpx.Response:
    """The answer, which must come while the requests in flight are still held."""
    return await asyncio.wait_for(request, timeout=5)


async def test_a_command_beyond_the_bound_is_refused_at_once_with_503_and_stores_nothing(
    database: Database, start: Start
) -> None:
    service = await start(database, max_commands_in_flight=2)
    held = [service.hold(), service.hold()]
    await service.gate.until_entered(2)
    before = await service.stored_events()

    refused = await at_once(service.client.post("/v1/goals", json=GOAL, headers=auth()))

    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["error"]["code"] == "overloaded"
    assert set(refused.json()["error"]) == {"code", "message", "details"}
    assert await service.stored_events() == before
    # reads have their own bound: they still go through
    assert (await at_once(service.client.get("/v1/alignment-tree", headers=auth()))).status_code == 200

    service.gate.opened.set()
    assert [r.status_code for r in await asyncio.gather(*held)] == [200, 200]
    accepted = await service.client.post("/v1/goals", json=GOAL, headers=auth())
    assert accepted.status_code == 201, accepted.text
    assert await service.stored_events() > before


async def test_reads_beyond_their_bound_are_refused_while_commands_still_run(
    sqlite_database: Database, start: Start
) -> None:
    service = await start(sqlite_database, max_commands_in_flight=2, max_reads_in_flight=1)
    held = service.hold("GET")
    await service.gate.until_entered(1)

    refused = await at_once(service.client.get("/v1/alignment-tree", headers=auth()))
    assert refused.status_code == 503
    assert refused.json()["error"]["details"] == {"in_flight": 1, "kind": "reads"}
    accepted = await at_once(service.client.post("/v1/goals", json=GOAL, headers=auth()))
    assert accepted.status_code == 201, accepted.text

    service.gate.opened.set()
    assert (await held).status_code == 200


async def test_readiness_reports_overload_until_a_second_after_the_last_refusal(
    sqlite_database: Database, start: Start
) -> None:
    service = await start(sqlite_database, max_commands_in_flight=1)
    await service.runtime.wait_ready()
    now = [1000.0]
    service.app.state.admission.clock = lambda: now[0]
    ready = await service.client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"]["load"]["status"] == "ok"

    held = service.hold()
    await service.gate.until_entered(1)
    ready = await at_once(service.client.get("/ready"))  # never refused itself
    assert ready.status_code == 503
    assert ready.json()["status"] == "overloaded"
    assert ready.json()["checks"]["load"]["commands_in_flight"] == 1
    assert (await service.client.post("/v1/goals", json=GOAL, headers=auth())).status_code == 503
    assert (await service.client.get("/health")).status_code == 200

    service.gate.opened.set()
    await held
    now[0] += 0.5  # the bound is free again, but a request was refused half a second ago
    assert (await service.client.get("/ready")).json()["status"] == "overloaded"
    now[0] += 0.6
    ready = await service.client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"]["load"]["refused"] == 1


async def test_a_tenant_over_its_command_rate_gets_429_and_other_tenants_do_not(
    sqlite_database: Database, start: Start
) -> None:
    # one command every 1000 s, bursts of 2: the third is refused however fast the test runs
    service = await start(sqlite_database, tenant_command_rate=0.001, tenant_command_burst=2)
    for _ in range(2):
        assert (await service.client.post("/v1/goals", json=GOAL, headers=auth("acme"))).status_code == 201
    before = await service.stored_events()

    refused = await service.client.post("/v1/goals", json=GOAL, headers=auth("acme"))
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert refused.json()["error"]["details"]["tenant"] == "acme"
    assert int(refused.headers["retry-after"]) > 900
    assert await service.stored_events() == before
    # reads are not rate-limited
    assert (await service.client.get("/v1/alignment-tree", headers=auth("acme"))).status_code == 200

    # a token that does not verify is never bucketed: forged ones cannot drain a tenant
    for _ in range(3):
        forged = auth("globex", secret="not-the-secret-of-this-service-at-all")
        assert (await service.client.post("/v1/goals", json=GOAL, headers=forged)).status_code == 401
    for _ in range(2):
        accepted = await service.client.post("/v1/goals", json=GOAL, headers=auth("globex"))
        assert accepted.status_code == 201, accepted.text


@pytest.fixture
def served(sqlite_database: Database, nats_url: str, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """The goals app behind a real uvicorn, for requests written byte by byte."""
    settings = GoalsSettings(
        database_url=sqlite_database.url, nats_url=nats_url, data_dir=tmp_path, max_body_bytes=10_000
    )
    app = create_app(GATED, settings)
    yield lambda: uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=free_port(), lifespan="off", log_level="warning")
    )


async def test_a_huge_declared_body_is_refused_with_413_before_it_is_read_and_without_a_token(
    served: Callable[[], uvicorn.Server],
) -> None:
    server = served()
    serving = asyncio.create_task(server.serve())
    try:

        async def started() -> bool:
            return bool(server.started)

        await eventually(started, interval=0.01)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.config.port)
        # only the headers of a 150 MB body are sent: the answer cannot have waited for it
        writer.write(
            b"POST /v1/goals HTTP/1.1\r\nHost: goals\r\nContent-Type: application/json\r\n"
            b"Content-Length: 150000000\r\n\r\n{"
        )
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=5)  # and the connection closes
        writer.close()
    finally:
        server.should_exit = True
        await serving
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"code":"payload_too_large"' in body
    assert b'"content_length":150000000' in body


async def test_a_chunked_body_over_the_limit_is_refused_and_not_read_to_its_end(
    sqlite_database: Database, start: Start
) -> None:
    service = await start(sqlite_database, max_body_bytes=10_000)
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: sent chunked
        nonlocal sent
        yield b'{"title": "'
        for _ in range(1000):
            sent += 1
            yield b"x" * 1000
        yield b'"}'

    refused = await service.client.post("/v1/goals", content=chunks(), headers=JSON | auth())
    assert refused.status_code == 413
    assert refused.json()["error"] == {
        "code": "payload_too_large",
        "message": "the request body is larger than 10000 bytes",
        "details": {"max_bytes": 10000},
    }
    assert sent <= 11  # reading stopped at the limit, not at the megabyte's end
    assert await service.stored_events() == 0


async def test_a_body_within_the_limit_still_works(sqlite_database: Database, start: Start) -> None:
    service = await start(sqlite_database, max_body_bytes=10_000)
    small = await service.client.post("/v1/goals", json={**GOAL, "description": "x" * 9000}, headers=auth())
    assert small.status_code == 201, small.text

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"level": "company", "period": "2026-Q4", '
        yield b'"title": "chunked but small"}'

    chunked = await service.client.post("/v1/goals", content=chunks(), headers=JSON | auth())
    assert chunked.status_code == 201, chunked.text


def test_the_commands_bound_shrinks_while_commands_are_slow_and_grows_back_when_they_are_fast() -> None:
    now = [0.0]
    admission = Admission(
        max_commands=64, max_reads=0, retry_after=1, latency_target=0.1, clock=lambda: now[0]
    )
    admission.commands = 3  # slow with few in flight: not the queue's doing
    for _ in range(10):
        now[0] += 0.1
        admission.command_done(0.5)
    assert admission.command_bound == 64

    admission.commands = 40
    for _ in range(10):  # a slow burst within one target interval counts once
        admission.command_done(0.5)
    assert int(admission.command_bound) == 57
    for _ in range(40):
        now[0] += 0.1
        admission.commands = int(admission.command_bound)
        admission.command_done(0.5)
    assert admission.command_bound == 2  # the floor
    admission.commands = 2
    assert admission.commands_full and admission.overloaded

    for _ in range(200):
        admission.command_done(0.01)
    assert 15 < admission.command_bound < 25  # about +1 per round of commands
    assert not admission.commands_full
    for _ in range(10_000):
        admission.command_done(0.01)
    assert admission.command_bound == 64  # the ceiling
