"""Issue 5's "done when", across services: the goals service and the notifications service run
in-process on one nats-server, each on its own database; the org, onboarding and check-ins
come as events on their streams.

- Retire a company objective with two levels of goals beneath it, through the goals API:
  within a second the owners and their managers have one inbox notification each and
  nobody else has any; a webhook subscriber on loopback gets the signed events.
- Miss an onboarding milestone and a check-in: the right people are told.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import standardwebhooks
from sqlalchemy import func, select

from trellis.contracts import SERVICES
from trellis.contracts.feedback import CheckInMissed
from trellis.contracts.onboarding import EmployeeHired, MilestoneMissed
from trellis.core.messaging.jetstream import StreamSpec, connect, ensure_stream
from trellis.core.runtime.auth import mint_token
from trellis.core.runtime.service import Runtime, create_app
from trellis.core.runtime.settings import DEV_JWT_SECRET
from trellis.goals.bootstrap import SERVICE as GOALS
from trellis.goals.bootstrap import GoalsSettings
from trellis.notifications.bootstrap import SERVICE as NOTIFICATIONS
from trellis.notifications.settings import NotificationsSettings
from trellis.notifications.tables import inbox_notifications, ntf_goals
from trellis.notifications.testing import Receiver
from trellis.orgchart import OrgDirectory
from trellis.testing import Database, StreamWriter, eventually, postgres_database

TENANT = "acme"
# ceo manages mia and olga; mia manages emil and nora; olga manages piet.
ORG = [("ceo", None), ("mia", "ceo"), ("olga", "ceo"), ("emil", "mia"), ("nora", "mia"), ("piet", "olga")]
EVERYONE = [e for e, _ in ORG]


def auth(employee: str, *roles: str) -> dict[str, str]:
    token = mint_token(
        secret=DEV_JWT_SECRET, tenant=TENANT, employee=employee, roles=list(roles or ["employee"])
    )
    return {"Authorization": f"Bearer {token}"}


ADMIN = auth("ceo", "admin", "employee")


@dataclass
class System:
    goals: Runtime
    goals_api: httpx.AsyncClient
    notifications: Runtime
    notifications_api: httpx.AsyncClient
    js: Any

    def stream(self, service: str) -> StreamWriter:
        return StreamWriter(self.js, self.notifications.subjects, service)

    async def inbox(self, employee: str, *roles: str) -> list[dict[str, Any]]:
        resp = await self.notifications_api.get("/v1/inbox", headers=auth(employee, *roles))
        assert resp.status_code == 200, resp.text
        return resp.json()["items"]


async def _start(definition: Any, settings: Any) -> tuple[Runtime, httpx.AsyncClient]:
    app = create_app(definition, settings)
    runtime: Runtime = app.state.runtime
    await runtime.start()
    await runtime.wait_ready()
    return runtime, httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=f"http://{definition.name}"
    )


@pytest.fixture
async def system(
    database: Database, postgres_url: str | None, nats_url: str, subject_root: str, tmp_path: Path
) -> AsyncIterator[System]:
    nc = await connect(nats_url, name="done-when")
    js = nc.jetstream()
    probe = NotificationsSettings(subject_root=subject_root)
    root = probe.subject_root
    for source in SERVICES:  # every service's stream exists, as when they all run
        await ensure_stream(js, StreamSpec(name=f"{root}_{source}".upper(), subjects=[f"{root}.{source}.>"]))
    if database.backend == "postgres":
        goals_db_cm: Any = postgres_database(postgres_url)
        goals_db = await goals_db_cm.__aenter__()
    else:
        goals_db_cm, goals_db = None, Database("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'goals.db'}")
    common = {
        "nats_url": nats_url,
        "subject_root": subject_root,
        "data_dir": tmp_path,
        "consumer_batch_size": 100,
    }
    goals, goals_api = await _start(
        GOALS,
        GoalsSettings(database_url=goals_db.url, database_schema=goals_db.schema, test_clock=True, **common),
    )
    notifications, notifications_api = await _start(
        NOTIFICATIONS,
        NotificationsSettings(
            database_url=database.url,
            database_schema=database.schema,
            webhook_allow_private_urls=True,  # the subscriber listens on loopback
            **common,
        ),
    )
    system = System(goals, goals_api, notifications, notifications_api, js)
    try:
        onboarding = system.stream("onboarding")
        for employee, manager in ORG:
            await onboarding.emit(
                employee,
                EmployeeHired(
                    employee_id=employee,
                    name=employee.title(),
                    email=f"{employee}@acme.test",
                    start_date=dt.date(2026, 1, 5),
                    manager_id=manager,
                ),
            )
        for runtime in (goals, notifications):

            async def knows_piet(rt: Runtime = runtime) -> bool:
                async with rt.sessions() as session:
                    return await OrgDirectory().manages(session, TENANT, "olga", "piet")

            await eventually(knows_piet)
        yield system
    finally:
        for client in (goals_api, notifications_api):
            await client.aclose()
        await notifications.stop()
        await goals.stop()
        await nc.close()
        if goals_db_cm is not None:
            await goals_db_cm.__aexit__(None, None, None)


async def create_goal(system: System, headers: dict[str, str], **body: Any) -> str:
    resp = await system.goals_api.post("/v1/goals", json={"period": "Q4", **body}, headers=headers)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["goal_id"])


async def test_retiring_an_objective_tells_the_owners_beneath_and_their_managers_within_a_second(
    system: System,
) -> None:
    receiver = Receiver()
    await receiver.start()
    try:
        resp = await system.notifications_api.post(
            "/v1/webhooks/subscriptions",
            json={"url": receiver.url, "event_types": ["goals.GoalRetired", "goals.Realignment*"]},
            headers=ADMIN,
        )
        assert resp.status_code == 201, resp.text
        secret = resp.json()["secret"]

        objective = await create_goal(system, ADMIN, level="company", title="Win the mid-market")
        team = await create_goal(
            system, auth("mia", "manager", "employee"), level="team", title="Self-serve", parent_id=objective
        )
        for owner in ("emil", "nora"):
            await create_goal(
                system, auth(owner), level="individual", title=f"{owner}'s part", parent_id=team
            )

        async def known() -> bool:  # the notifications service has learnt the tree
            async with system.notifications.sessions() as session:
                return (await session.execute(select(func.count()).select_from(ntf_goals))).scalar_one() == 4

        await eventually(known)
        loop = asyncio.get_running_loop()
        started = loop.time()
        resp = await system.goals_api.post(
            f"/v1/goals/{objective}/retire", json={"reason": "pivot"}, headers=ADMIN
        )
        assert resp.status_code == 200, resp.text

        # owners: mia (team goal), emil and nora (individual goals); managers: ceo (of mia), mia
        # (of emil and nora: told once, as an owner already)
        expected = {"mia", "emil", "nora", "ceo"}

        async def everyone_told() -> bool:
            for employee in expected:
                if len(await system.inbox(employee)) != 1:
                    return False
            return True

        await eventually(everyone_told, timeout=1.0, interval=0.02)
        assert loop.time() - started < 1.0
        for employee in expected:
            [note] = await system.inbox(employee)
            assert note["type"] == "goal.realignment_needed"
            assert "Win the mid-market" in note["text"] and "pivot" in note["text"]
            assert note["subject"]["service"] == "goals" and note["cause_event_type"] == "GoalRetired"
        assert "Mia's goal “Self-serve”" in (await system.inbox("ceo"))[0]["text"]
        await asyncio.sleep(0.3)  # and nobody else, a moment later either
        for employee in set(EVERYONE) - expected:
            assert await system.inbox(employee) == []
        assert await system.inbox("hana", "hr", "admin") == []
        async with system.notifications.sessions() as session:
            assert (
                await session.execute(select(func.count()).select_from(inbox_notifications))
            ).scalar_one() == 4

        async def webhooks_arrived() -> list[Any] | None:
            got = receiver.delivered()
            return got if len(got) >= 4 else None

        got = await eventually(webhooks_arrived)
        official = standardwebhooks.Webhook(secret)
        types = sorted(official.verify(r.body, r.headers)["type"] for r in got)
        assert types == ["goals.GoalRetired", *["goals.RealignmentRequested"] * 3]
    finally:
        await receiver.stop()


async def test_a_goal_falling_behind_pace_tells_its_owners_manager_once_per_change(system: System) -> None:
    """Issue 16's "done when", across services: the goals service's test clock moves through
    the quarter; each change of status by pace reaches the owner's manager once, back on
    track nobody, and a goal still behind a week before its due date its owner."""
    emil = auth("emil")
    goal = await create_goal(system, emil, level="individual", title="Signup in 3 steps", period="2027-Q1")
    resp = await system.goals_api.post(
        f"/v1/goals/{goal}/key-results", json={"name": "steps", "start": 0, "target": 100}, headers=emil
    )
    kr = resp.json()["key_result_id"]

    async def progress(value: float) -> None:
        resp = await system.goals_api.post(
            f"/v1/goals/{goal}/key-results/{kr}/progress", json={"value": value}, headers=emil
        )
        assert resp.status_code == 200, resp.text

    async def move_to(day: str) -> None:
        resp = await system.goals_api.post(
            "/v1/test-clock", json={"to": f"{day}T12:00:00+00:00"}, headers=ADMIN
        )
        assert resp.status_code == 200, resp.text

    async def told(employee: str, type: str, count: int) -> list[dict[str, Any]]:
        async def arrived() -> list[dict[str, Any]] | None:
            found = [n for n in await system.inbox(employee) if n["type"] == type]
            return found if len(found) >= count else None

        found: list[dict[str, Any]] = await eventually(arrived)
        return found

    await progress(10)
    await move_to("2027-01-12")  # 10 % of 13 % expected: at risk
    [at_risk] = await told("mia", "goal.behind_pace", 1)
    assert "Emil's goal “Signup in 3 steps” is at risk by pace" in at_risk["text"]
    await move_to("2027-02-01")  # 10 % of 36 %: off track
    await told("mia", "goal.behind_pace", 2)
    await progress(40)  # back on track: nobody is told

    async def back_on_track() -> bool:
        resp = await system.goals_api.get(f"/v1/goals/{goal}/pace-history", headers=ADMIN)
        return resp.json()["events"][-1]["data"]["status"] == "on_track"

    await eventually(back_on_track)  # decided before the clock moves on
    await move_to("2027-03-24")  # 40 % of 92 %, due in a week: off track, and the owner nudged
    behind = await told("mia", "goal.behind_pace", 3)
    [due_soon] = await told("emil", "goal.due_soon", 1)
    assert due_soon["text"].startswith("Your goal “Signup in 3 steps” is due on 2027-03-31 (in 7 days)")
    await move_to("2027-03-27")
    await asyncio.sleep(0.5)  # nothing more, a moment later
    assert sorted("off track" in n["text"] for n in behind) == [False, True, True]  # at risk, off, off
    assert len([n for n in await system.inbox("mia") if n["type"] == "goal.behind_pace"]) == 3
    assert len([n for n in await system.inbox("emil") if n["type"] == "goal.due_soon"]) == 1
    assert [n for n in await system.inbox("ceo") if n["type"] in ("goal.behind_pace", "goal.due_soon")] == []


async def test_a_missed_milestone_and_a_missed_check_in_tell_the_right_people(system: System) -> None:
    await system.stream("onboarding").emit(
        "plan-piet",
        MilestoneMissed(
            plan_id="plan-piet",
            employee_id="piet",
            milestone_id="day-30",
            title="First customer call",
            due_date=dt.date(2026, 2, 4),
            assignee="new_hire",
            manager_id="olga",
            mentor_id="nora",
        ),
    )
    await system.stream("feedback").emit(
        "checkin-7",
        CheckInMissed(
            checkin_id="checkin-7",
            schedule_id="s-mia-emil",
            manager_id="mia",
            report_id="emil",
            due_at=dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC),
            consecutive_misses=2,
        ),
    )
    told = {
        "piet": ["onboarding.milestone_missed"],
        "olga": ["onboarding.milestone_missed"],
        "nora": ["onboarding.milestone_missed"],
        "emil": ["checkin.missed"],
        "mia": ["checkin.missed"],
        "ceo": ["checkin.missed"],  # mia's manager: the second miss in a row
    }

    async def all_told() -> bool:
        for employee, types in told.items():
            if [n["type"] for n in await system.inbox(employee)] != types:
                return False
        return len(await system.inbox("hana", "hr", "employee")) == 1

    await eventually(all_told)
    [hr] = await system.inbox("hana", "hr", "employee")
    assert hr["recipient_id"] == "role:hr" and "Piet" in hr["text"]
