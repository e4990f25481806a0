"""Pytest fixtures for tests against real infrastructure (a pytest plugin).

Infrastructure is found in this order:

1. URLs from the environment: ``TRELLIS_TEST_NATS_URL``, ``TRELLIS_TEST_POSTGRES_URL``
   (``postgresql+asyncpg://user@host:port/db``);
2. testcontainers, when a Docker engine answers;
3. otherwise the packaged nats-server is started for the session, and SQLite is used.
   PostgreSQL tests are skipped, except when ``CI`` is set: then they fail.

Every test isolates itself: its own subject root (so its own streams), its own SQLite
file or PostgreSQL schema.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from trellis.core.runtime.embedded import EmbeddedNats


def docker_available() -> bool:
    if not os.environ.get("DOCKER_HOST") and not Path("/var/run/docker.sock").exists():
        return False
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("TRELLIS_TEST_NATS_URL")
    if url:
        yield url
        return
    if docker_available():
        from testcontainers.nats import NatsContainer

        with NatsContainer("nats:2.10-alpine", jetstream=True) as container:
            yield container.nats_uri()
        return
    server = EmbeddedNats(tmp_path_factory.mktemp("nats"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str | None]:
    url = os.environ.get("TRELLIS_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    if docker_available():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16-alpine", driver="asyncpg") as container:
            yield container.get_connection_url()
        return
    yield None


@pytest.fixture
def embedded_nats(tmp_path: Path) -> Iterator[EmbeddedNats]:
    """A nats-server of this test's own, for tests that stop and restart it."""
    server = EmbeddedNats(tmp_path / "nats")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass(frozen=True)
class Database:
    """Where one test's tables live."""

    backend: str
    url: str
    schema: str | None = None


@pytest.fixture(params=["sqlite", "postgres"])
async def database(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_url: str | None
) -> AsyncIterator[Database]:
    """Each test runs once on SQLite and once on PostgreSQL (the conformance suite)."""
    if request.param == "sqlite":
        yield Database("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
        return
    async with postgres_database(postgres_url) as db:
        yield db


@pytest.fixture
async def sqlite_database(tmp_path: Path) -> Database:
    return Database("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")


@pytest.fixture
async def pg_database(postgres_url: str | None) -> AsyncIterator[Database]:
    async with postgres_database(postgres_url) as db:
        yield db


class postgres_database:
    """A fresh schema on the test PostgreSQL, dropped afterwards."""

    def __init__(self, url: str | None) -> None:
        if url is None:
            if os.environ.get("CI"):
                pytest.fail("PostgreSQL is required when CI is set: set TRELLIS_TEST_POSTGRES_URL")
            pytest.skip("no PostgreSQL: set TRELLIS_TEST_POSTGRES_URL or run a Docker engine")
        self.url = url
        self.schema = f"t_{uuid.uuid4().hex[:12]}"

    async def __aenter__(self) -> Database:
        return Database("postgres", self.url, self.schema)

    async def __aexit__(self, *exc: Any) -> None:
        engine = create_async_engine(self.url)
        try:
            async with engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
        finally:
            await engine.dispose()


@pytest.fixture
def subject_root() -> str:
    """A subject root (and so stream names) of this test's own."""
    return f"t{uuid.uuid4().hex[:10]}"


async def eventually(check: Any, *, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Await ``check()`` until it returns a truthy value, or fail after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Any = None
    while True:
        last = await check()
        if last:
            return last
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")
        await asyncio.sleep(interval)


class StreamWriter:
    """Puts events on a service's stream as that service's relay would (for tests of consumers
    of another service's events, when that service itself is not running)."""

    def __init__(self, js: Any, subjects: Any, service: str, *, tenant_id: str = "acme") -> None:
        self.js = js
        self.subjects = subjects
        self.service = service
        self.tenant_id = tenant_id
        self._versions: dict[str, int] = {}

    async def emit(
        self, aggregate_id: str, *events: Any, actor_id: str = "test", tenant_id: str = ""
    ) -> None:
        from trellis.contracts.envelope import EventEnvelope
        from trellis.core.messaging.jetstream import StreamSpec, ensure_stream

        await ensure_stream(
            self.js,
            StreamSpec(
                name=self.subjects.stream(self.service), subjects=[self.subjects.all_of(self.service)]
            ),
        )
        for ev in events:
            version = self._versions.get(aggregate_id, 0) + 1
            self._versions[aggregate_id] = version
            envelope = EventEnvelope(
                event_type=ev.event_type,
                schema_version=ev.schema_version,
                tenant_id=tenant_id or self.tenant_id,
                aggregate_type=ev.aggregate_type or "unknown",
                aggregate_id=aggregate_id,
                aggregate_version=version,
                actor_id=actor_id,
                correlation_id=f"test-{aggregate_id}-{version}",
                payload=ev.model_dump(mode="json"),
            )
            await self.js.publish(
                self.subjects.for_event(self.service, envelope),
                envelope.model_dump_json().encode(),
                headers={"Nats-Msg-Id": str(envelope.event_id)},
            )


@contextlib.asynccontextmanager
async def running_service(definition: Any, settings: Any) -> AsyncIterator[tuple[Any, Any]]:
    """``definition``'s app started with ``settings`` (real NATS, its database), ready, and an
    HTTP client on it; stopped afterwards. Yields ``(runtime, client)``."""
    import httpx

    from trellis.core.runtime.service import create_app

    app = create_app(definition, settings)
    runtime = app.state.runtime
    await runtime.start()
    try:
        await runtime.wait_ready()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{definition.name}") as client:
            yield runtime, client
    finally:
        await runtime.stop()
