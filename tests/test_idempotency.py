"""``Idempotency-Key`` on the goals API, in process on SQLite and PostgreSQL: a retried
create answers the first answer and creates nothing; another request under the same key
is refused; concurrent retries wait for the first; a failure frees the key; a command
that committed is never run twice, even when its answer was lost."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from trellis.contracts.envelope import utcnow
from trellis.core.runtime.idempotency import _RUNNING, IdempotencyKeys, Refused
from trellis.core.runtime.service import create_app
from trellis.core.store.tables import events, idempotency_keys
from trellis.goals.bootstrap import SERVICE, GoalsSettings
from trellis.testing import Database

from .four_services import auth

GOAL = {"level": "individual", "title": "Ship the kit", "period": "2027-Q1"}


@pytest.fixture
async def goals(database: Database, tmp_path: Path) -> AsyncIterator[FastAPI]:
    settings = GoalsSettings(
        database_url=database.url,
        database_schema=database.schema,
        nats_url="nats://127.0.0.1:1",  # commands do not need NATS
        subject_root=f"t{uuid.uuid4().hex[:8]}",
        data_dir=tmp_path,
        run_relay=False,
        run_consumers=False,
    )
    app = create_app(SERVICE, settings)
    await app.state.runtime.start()
    try:
        yield app
    finally:
        await app.state.runtime.stop()


def client(app: FastAPI, employee: str = "mia") -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://goals", headers=auth(employee, "manager")
    )


async def stored_events(app: FastAPI) -> int:
    async with app.state.runtime.sessions() as session:
        return (await session.execute(select(func.count()).select_from(events))).scalar_one()


async def test_a_retried_create_answers_the_first_answer_and_creates_nothing(goals: FastAPI) -> None:
    async with client(goals) as http:
        first = await http.post("/v1/goals", json=GOAL, headers={"Idempotency-Key": "create-1"})
        assert first.status_code == 201 and "idempotent-replayed" not in first.headers
        again = await http.post("/v1/goals", json=GOAL, headers={"Idempotency-Key": "create-1"})
        assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json() and again.headers["content-type"] == first.headers["content-type"]
        assert await stored_events(goals) == 1

        other = await http.post(
            "/v1/goals", json={**GOAL, "title": "Other"}, headers={"Idempotency-Key": "create-1"}
        )
        assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"

        fresh = await http.post("/v1/goals", json=GOAL, headers={"Idempotency-Key": "create-2"})
        assert fresh.status_code == 201 and fresh.json()["goal_id"] != first.json()["goal_id"]
        without = await http.post("/v1/goals", json=GOAL)
        assert without.status_code == 201
        assert await stored_events(goals) == 3

    async with client(goals, "emil") as http:  # keys are per caller: emil's is his own
        his = await http.post("/v1/goals", json=GOAL, headers={"Idempotency-Key": "create-1"})
        assert his.status_code == 201 and "idempotent-replayed" not in his.headers


async def test_concurrent_retries_wait_for_the_first_and_get_its_answer(goals: FastAPI) -> None:
    async with client(goals) as http:
        answers = await asyncio.gather(
            *(http.post("/v1/goals", json=GOAL, headers={"Idempotency-Key": "burst"}) for _ in range(6))
        )
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["goal_id"] for a in answers}) == 1
    assert sum("idempotent-replayed" in a.headers for a in answers) == 5
    assert await stored_events(goals) == 1


async def test_a_refusal_is_replayed_but_a_bad_key_or_no_token_is_not_a_key(goals: FastAPI) -> None:
    async with client(goals) as http:
        bad = {**GOAL, "level": "no-such-level"}
        first = await http.post("/v1/goals", json=bad, headers={"Idempotency-Key": "bad-1"})
        again = await http.post("/v1/goals", json=bad, headers={"Idempotency-Key": "bad-1"})
        assert first.status_code == again.status_code == 422
        assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()

        for key in ("", "x" * 256, "a b", "caf\u00e9"):
            resp = await http.post("/v1/goals", json=GOAL, headers={"Idempotency-Key": key.encode()})
            assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalid_idempotency_key", key
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=goals), base_url="http://goals") as anon:
        resp = await anon.post("/v1/goals", json=GOAL, headers={"Idempotency-Key": "k"})
        assert resp.status_code == 401
    assert await stored_events(goals) == 0


async def test_a_command_that_committed_is_never_run_again_even_without_its_answer(goals: FastAPI) -> None:
    runtime = goals.state.runtime
    clock = [utcnow()]
    # no purge by chance (1 % of reservations): the last one below would take the stopped key
    keys = IdempotencyKeys(
        runtime.sessions, lease=dt.timedelta(seconds=30), now=lambda: clock[0], purge_chance=0.0
    )
    who = ("acme", "mia", "lost-answer")
    assert await keys.reserve(who, "h") is None
    running = _RUNNING.set(who)
    try:  # the command commits (its key marked in its transaction), then the process dies
        async with runtime.sessions() as session, session.begin():
            await keys.mark_committed(session, [])
    finally:
        _RUNNING.reset(running)
    await keys.release(who)  # what a failed request does: a committed key is kept
    clock[0] += dt.timedelta(seconds=31)  # the lease runs out
    refused = await keys.reserve(who, "h")
    assert isinstance(refused, Refused) and (refused.status, refused.code) == (
        409,
        "idempotency_outcome_unknown",
    )

    stopped = ("acme", "mia", "died-before-commit")
    assert await keys.reserve(stopped, "h") is None  # ... and died before its command committed
    clock[0] += dt.timedelta(seconds=31)
    assert await keys.reserve(stopped, "h") is None  # the retry runs it

    clock[0] += dt.timedelta(hours=25)  # after 24 h a key is new again
    assert await keys.reserve(who, "another request") is None
    async with runtime.sessions() as session:
        rows = (await session.execute(select(idempotency_keys.c.key))).scalars().all()
    assert sorted(rows) == ["died-before-commit", "lost-answer"]
