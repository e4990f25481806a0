"""A PostgreSQL connection the server dropped never reaches a request: the pool replaces it
at checkout; one lost in the middle of a request answers 503 with ``Retry-After``."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from trellis.core.runtime.http import install_error_handlers
from trellis.core.store.database import create_engine, session_factory
from trellis.testing import Database

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
