"""A PostgreSQL connection the server dropped never reaches a request: the pool replaces it
at checkout; one lost in the middle of a request answers 503 with ``Retry-After``."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from trellis.contracts.envelope import Metadata
from trellis.contracts.subjects import Subjects
from trellis.core.runtime.http import install_error_handlers
from trellis.core.store.database import create_engine
from trellis.core.store.event_store import EventStore
from trellis.core.store.migrate import migrate
from trellis.core.store.sessions import session_factory
from trellis.testing import Database

from .conftest import SERVICE, Counted, registry

pytestmark = pytest.mark.postgres


async def test_a_dropped_connection_is_replaced_before_any_request_uses_it(pg_database: Database) -> None:
    engine = create_engine(pg_database.url, schema=pg_database.schema, pool_size=2)
    sessions = session_factory(engine)
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/backend")
    async def backend() -> dict[str, int]:
        async with sessions() as session:
            return {"pid": (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()}

    url = make_url(pg_database.url).set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(url)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            first = (await client.get("/backend")).json()["pid"]
            await admin.execute("SELECT pg_terminate_backend($1)", first)
            again = await client.get("/backend")
            assert again.status_code == 200 and again.json()["pid"] != first
    finally:
        await admin.close()
        await engine.dispose()


async def test_a_connection_whose_query_was_cancelled_is_not_handed_out_broken(pg_database: Database) -> None:
    # A consumer stopped mid-statement leaves its connection to the pool; the next session
    # on the pool's one connection must work (the checkout's BEGIN finds a broken one and
    # the pool replaces it), never fail with "another operation is in progress".
    engine = create_engine(pg_database.url, schema=pg_database.schema, pool_size=1)
    sessions = session_factory(engine)

    async def stopped_mid_query() -> None:
        async with sessions() as session, session.begin():
            await session.execute(text("SELECT pg_sleep(2)"))

    try:
        for _ in range(3):
            task = asyncio.create_task(stopped_mid_query())
            await asyncio.sleep(0.2)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            async with sessions() as session, session.begin():
                assert (await session.execute(text("SELECT 41 + 1"))).scalar_one() == 42
    finally:
        await engine.dispose()


async def test_a_connection_lost_under_the_append_fails_as_sqlalchemy_would(pg_database: Database) -> None:
    # The append runs on asyncpg itself (``store/direct.py``). A connection lost under it must
    # fail as one lost under SQLAlchemy's own statements: a DBAPIError whose connection is
    # invalidated (the API answers 503, below), the pool's one connection replaced after.
    engine = create_engine(pg_database.url, schema=pg_database.schema, pool_size=1)
    await migrate(engine, schema=pg_database.schema)
    sessions = session_factory(engine)
    store = EventStore(service=SERVICE, registry=registry, sessions=sessions, subjects=Subjects("lost"))
    url = make_url(pg_database.url).set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(url)

    async def append(session: Any, counter_id: str) -> list[Any]:
        return await store.append(
            session,
            aggregate_type="counter",
            aggregate_id=counter_id,
            expected_version=0,
            events=[Counted(amount=1)],
            metadata=Metadata(tenant_id="acme", actor_id="tester"),
        )

    try:
        with pytest.raises(DBAPIError) as lost:
            async with sessions() as session, session.begin():
                pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
                await admin.execute("SELECT pg_terminate_backend($1)", pid)
                await append(session, "c-lost")
        assert lost.value.connection_invalidated
        async with sessions() as session, session.begin():
            [stored] = await append(session, "c-next")
        assert stored.global_position is not None
        async with sessions() as session:
            ids = (await session.execute(text("SELECT aggregate_id FROM events"))).scalars().all()
        assert ids == ["c-next"]
    finally:
        await admin.close()
        await engine.dispose()


async def test_a_connection_lost_mid_request_answers_503_with_retry_after() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/lost")
    async def lost() -> None:
        raise DBAPIError("SELECT 1", None, ConnectionResetError("server closed"), connection_invalidated=True)

    @app.get("/failed")
    async def failed() -> None:
        raise DBAPIError("SELECT 1", None, ValueError("a statement failed"))

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://t"
    ) as client:
        resp = await client.get("/lost")
        assert resp.status_code == 503 and resp.headers["retry-after"] == "1"
        assert resp.json()["error"]["code"] == "database_unavailable"
        other = await client.get("/failed")  # not the connection: an unexpected error
        assert other.status_code == 500 and other.json()["error"]["code"] == "internal_error"
