"""PostgreSQL connections are not pinged per checkout: a connection the server dropped
fails one request with a 503 the client may retry, and the next request gets a new one."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url

from trellis.core.runtime.http import install_error_handlers
from trellis.core.store.database import create_engine, session_factory
from trellis.testing import Database

pytestmark = pytest.mark.postgres


async def test_a_dropped_connection_answers_503_once_then_the_pool_recovers(pg_database: Database) -> None:
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

            lost = await client.get("/backend")
            assert lost.status_code == 503, lost.text
            assert lost.json()["error"]["code"] == "database_unavailable"
            assert lost.headers["retry-after"] == "1"

            again = await client.get("/backend")
            assert again.status_code == 200 and again.json()["pid"] != first
    finally:
        await admin.close()
        await engine.dispose()
