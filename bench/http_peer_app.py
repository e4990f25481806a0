"""The HTTP peer of ``bench/http_peers.py``: what a team would write instead of Trellis for
"create a goal" with FastAPI: a bearer JWT checked with PyJWT, a pydantic body, one row
inserted with SQLAlchemy async (SQLite in WAL mode with ``synchronous=NORMAL``, as
Trellis), a 201 with the id. No event store, no outbox, no permissions, no audit trail.

    PEER_DATABASE=/tmp/peer.db PEER_JWT_SECRET=... uvicorn http_peer_app:app --port 9001
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Literal

import jwt
from fastapi import Depends, FastAPI, Header, HTTPException
from pydantic import BaseModel, Field
from sqlalchemy import Column, MetaData, String, Table, event, insert
from sqlalchemy.ext.asyncio import create_async_engine

SECRET = os.environ.get("PEER_JWT_SECRET", "trellis-dev-secret-change-me-in-production")
engine = create_async_engine(f"sqlite+aiosqlite:///{os.environ.get('PEER_DATABASE', 'peer.db')}")


@event.listens_for(engine.sync_engine, "connect")
def _pragmas(connection: object, _record: object) -> None:
    cursor = connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


metadata = MetaData()
goals = Table(
    "goals",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("owner_id", String(64), nullable=False),
    Column("level", String(20), nullable=False),
    Column("title", String(500), nullable=False),
    Column("period", String(50), nullable=False),
)


@contextlib.asynccontextmanager
async def _tables(_app: FastAPI) -> AsyncIterator[None]:
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield
    await engine.dispose()


app = FastAPI(lifespan=_tables)


async def claims(authorization: Annotated[str, Header()]) -> dict[str, object]:
    try:
        found: dict[str, object] = jwt.decode(
            authorization.removeprefix("Bearer "), SECRET, algorithms=["HS256"]
        )
    except jwt.PyJWTError as exc:
        raise HTTPException(401, "invalid token") from exc
    return found


class CreateGoal(BaseModel):
    level: Literal["company", "team", "individual"]
    title: str = Field(min_length=1, max_length=500)
    period: str = Field(min_length=1, max_length=50)


@app.post("/v1/goals", status_code=201)
async def create_goal(body: CreateGoal, who: Annotated[dict[str, object], Depends(claims)]) -> dict[str, str]:
    goal_id = str(uuid.uuid4())
    async with engine.begin() as conn:
        await conn.execute(
            insert(goals).values(
                id=goal_id,
                tenant_id=str(who.get("tenant")),
                owner_id=str(who.get("sub")),
                level=body.level,
                title=body.title,
                period=body.period,
            )
        )
    return {"goal_id": goal_id}


@app.get("/hello")
async def hello() -> dict[str, str]:
    return {"hello": "world"}
