"""Feedback and goals together: a check-in falls due, is missed, and the next one, completed with a
key-result update, moves the goal's rolled-up progress in the goals service's alignment tree.

Both services run in this process on one nats-server and subject root, each with its own
database (SQLite file or PostgreSQL schema); the org comes from the onboarding stream. Every
step goes through the services' HTTP APIs; the feedback clock is moved by an admin with
``POST /v1/test-clock``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from trellis.contracts.onboarding import EmployeeHired
from trellis.contracts.subjects import Subjects
from trellis.core.consuming.clock import TestClock
from trellis.core.messaging.jetstream import StreamSpec, connect, ensure_stream
from trellis.core.runtime.auth import mint_token
from trellis.core.runtime.service import Runtime, create_app
from trellis.core.runtime.settings import DEV_JWT_SECRET
from trellis.feedback.bootstrap import SERVICE as FEEDBACK
from trellis.feedback.bootstrap import FeedbackSettings
from trellis.goals.bootstrap import SERVICE as GOALS
from trellis.goals.bootstrap import GoalsSettings
from trellis.orgchart import OrgDirectory
from trellis.testing import Database, StreamWriter, eventually

TENANT = "acme"
START = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC)  # a Monday
MONDAY_9 = START.replace(hour=9)


def auth(employee: str, *roles: str) -> dict[str, str]:
    token = mint_token(
        secret=DEV_JWT_SECRET, tenant=TENANT, employee=employee, roles=list(roles or ("employee",))
    )
    return {"Authorization": f"Bearer {token}"}


ADMIN = auth("ceo", "admin", "manager", "employee")
MIA = auth("mia", "manager", "employee")
EMIL = auth("emil")


@dataclass
class System:
    goals: httpx.AsyncClient
    feedback: httpx.AsyncClient
    goals_runtime: Runtime
    feedback_runtime: Runtime
    nats_url: str


@pytest.fixture
async def system(
    database: Database, nats_url: str, subject_root: str, tmp_path: Path
) -> AsyncIterator[System]:
    feedback_db = database
    if database.backend == "postgres":  # each service owns its schema
        feedback_db = Database("postgres", database.url, f"{database.schema}_feedback")
    else:
        feedback_db = Database("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'feedback.db'}")
    common = {"nats_url": nats_url, "subject_root": subject_root, "consumer_batch_size": 100}
    nc = await connect(nats_url, name="feedback-goals-test")
    subjects = Subjects(subject_root)
    await ensure_stream(  # every stream a consumer follows exists before the services start
        nc.jetstream(),
        StreamSpec(name=subjects.stream("onboarding"), subjects=[subjects.all_of("onboarding")]),
    )

    goals_app = create_app(
        GOALS,
        GoalsSettings(
            database_url=database.url, database_schema=database.schema, data_dir=tmp_path / "g", **common
        ),
    )
    feedback_settings = FeedbackSettings(
        database_url=feedback_db.url,
        database_schema=feedback_db.schema,
        data_dir=tmp_path / "f",
        test_clock=True,
        **common,
    )
    feedback_app = create_app(FEEDBACK, feedback_settings)
    feedback_app.state.runtime = Runtime(FEEDBACK, feedback_settings, clock=TestClock(START))  # frozen
    runtimes: list[Runtime] = [feedback_app.state.runtime, goals_app.state.runtime]
    for runtime in runtimes:
        await runtime.start()
        await runtime.wait_ready()
    clients = [
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{name}")
        for name, app in (("goals", goals_app), ("feedback", feedback_app))
    ]
    try:
        yield System(clients[0], clients[1], runtimes[1], runtimes[0], nats_url)
    finally:
        for client in clients:
            await client.aclose()
        for runtime in runtimes:
            await runtime.stop()
        await nc.close()
        if feedback_db is not database and feedback_db.schema:
            engine = create_async_engine(database.url)
            async with engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{feedback_db.schema}" CASCADE'))
            await engine.dispose()


async def hire_everywhere(system: System, people: list[tuple[str, str | None]]) -> None:
    nc = await connect(system.nats_url, name="onboarding-stand-in")
    try:
        org = StreamWriter(nc.jetstream(), system.goals_runtime.subjects, "onboarding")
        for employee, manager in people:
            await org.emit(
                employee,
                EmployeeHired(
                    employee_id=employee,
                    name=employee.title(),
                    email=f"{employee}@acme.test",
                    start_date=dt.date(2025, 1, 6),
                    manager_id=manager,
                ),
            )
    finally:
        await nc.close()
    for runtime in (system.goals_runtime, system.feedback_runtime):

        async def known(rt: Runtime = runtime) -> bool:
            async with rt.sessions() as session:
                found = await OrgDirectory().employee(session, TENANT, people[-1][0])
            return found is not None

        await eventually(known)


async def move_feedback_clock(system: System, to: dt.datetime) -> None:
    resp = await system.feedback.post("/v1/test-clock", json={"to": to.isoformat()}, headers=ADMIN)
    assert resp.status_code == 200, resp.text


async def checkin(system: System, checkin_id: str, status: str) -> dict[str, Any]:
    async def found() -> dict[str, Any] | None:
        resp = await system.feedback.get("/v1/checkins", params={"employee_id": "emil"}, headers=MIA)
        matching = [c for c in resp.json()["checkins"] if c["id"] == checkin_id and c["status"] == status]
        return matching[0] if matching else None

    return await eventually(found)


async def missed_on_stream(system: System) -> list[dict[str, Any]]:
    nc = await nats.connect(system.nats_url)
    try:
        js = nc.jetstream()
        runtime = system.feedback_runtime
        subject = f"{runtime.subjects.root}.feedback.checkin.CheckInMissed.>"
        info = await js.stream_info(runtime.stream.name, subjects_filter=subject)
        if not sum((info.state.subjects or {}).values()):
            return []
        sub = await js.pull_subscribe(subject, stream=runtime.stream.name)
        return [json.loads(m.data) for m in await sub.fetch(100, timeout=2)]
    finally:
        await nc.close()


async def objective_progress(system: System, objective: str) -> float | None:
    roots = (await system.goals.get("/v1/alignment-tree", headers=EMIL)).json()["roots"]
    return next((node["progress"] for node in roots if node["id"] == objective), None)


async def test_a_missed_checkin_then_a_completed_one_moves_the_goal_up_the_alignment_tree(
    system: System,
) -> None:
    await hire_everywhere(system, [("ceo", None), ("mia", "ceo"), ("emil", "mia")])

    resp = await system.goals.post(
        "/v1/goals",
        json={"level": "company", "title": "Win the mid-market", "period": "2026-Q1"},
        headers=ADMIN,
    )
    objective = resp.json()["goal_id"]
    resp = await system.goals.post(
        "/v1/goals",
        json={"level": "individual", "title": "Run demos", "period": "2026-Q1", "parent_id": objective},
        headers=EMIL,
    )
    assert resp.status_code == 201, resp.text
    goal = resp.json()["goal_id"]
    resp = await system.goals.post(
        f"/v1/goals/{goal}/key-results", json={"name": "demos", "start": 0, "target": 10}, headers=EMIL
    )
    key_result = resp.json()["key_result_id"]

    resp = await system.feedback.post(
        "/v1/checkin-schedules",
        json={
            "report_id": "emil",
            "cadence": "weekly",
            "weekday": 0,
            "time_of_day": "09:00",
            "grace_hours": 24,
        },
        headers=MIA,
    )
    assert resp.status_code == 201, resp.text
    schedule = resp.json()["id"]
    assert resp.json()["next_due_at"] == MONDAY_9.isoformat()

    await move_feedback_clock(system, MONDAY_9 + dt.timedelta(minutes=5))
    first = f"{schedule}-20260105T0900Z"
    await checkin(system, first, "scheduled")
    await move_feedback_clock(system, MONDAY_9 + dt.timedelta(hours=25))
    await checkin(system, first, "missed")
    missed = await eventually(lambda: missed_on_stream(system))
    assert [(m["aggregate_id"], m["payload"]["consecutive_misses"]) for m in missed] == [(first, 1)]

    await move_feedback_clock(system, MONDAY_9 + dt.timedelta(days=7, minutes=5))
    second = f"{schedule}-20260112T0900Z"
    await checkin(system, second, "scheduled")
    assert await objective_progress(system, objective) == 0.0
    resp = await system.feedback.post(
        f"/v1/checkins/{second}/complete",
        json={
            "confidence": 4,
            "key_result_updates": [
                {"goal_id": goal, "key_result_id": key_result, "value": 5, "comment": "5 demos"}
            ],
            "progress": "half the demos done",
        },
        headers=EMIL,
    )
    assert resp.status_code == 200, resp.text

    async def rolled_up() -> bool:
        return await objective_progress(system, objective) == 0.5

    await eventually(rolled_up)
    history = (await system.goals.get(f"/v1/goals/{goal}/history", headers=EMIL)).json()["events"]
    (progress,) = [e for e in history if e["type"] == "KeyResultProgressRecorded"]
    assert progress["data"]["comment"] == f"check-in {second}: 5 demos"
    assert progress["actor_id"] == "emil"
    assert len(await missed_on_stream(system)) == 1  # still exactly one
