"""The missed-milestone detector: exactly one MilestoneMissed per missed due date, with two
detectors at once, across a restart, and when the clock jumps past thousands of due dates."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from trellis.contracts.envelope import Metadata
from trellis.contracts.onboarding import MilestoneTemplate
from trellis.core.consuming.clock import TestClock
from trellis.core.consuming.deadlines import DeadlineScheduler
from trellis.core.runtime.api_kit import application_in
from trellis.core.runtime.auth import Actor
from trellis.core.runtime.service import Runtime
from trellis.core.store.tables import deadlines, events
from trellis.onboarding.application.missed_milestones import MILESTONE_DUE, MissedMilestones, arm
from trellis.onboarding.application.plans import PlanSpec
from trellis.onboarding.application.wiring import OnboardingApplication
from trellis.onboarding.bootstrap import SERVICE
from trellis.onboarding.domain.ids import plan_id_of
from trellis.testing import Database, eventually

from ..conftest import TENANT, settings_for

START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
HR = Actor(employee_id="hana", tenant_id=TENANT, roles=frozenset({"hr"}))
MILESTONES = [
    MilestoneTemplate(key=f"day-{days}", title=f"Day {days}", due_offset_days=days) for days in (30, 60, 90)
]


async def running(settings: Any, clock: TestClock) -> Runtime:
    runtime = Runtime(SERVICE, settings, clock=clock)
    await runtime.start()
    await runtime.wait_ready()
    return runtime


@contextlib.asynccontextmanager
async def detectors(db: Database, settings: Any, clock: TestClock) -> AsyncIterator[Runtime]:
    """Two missed-milestone detectors running at once on one database.

    PostgreSQL: two runtimes, each with its own engine (replicas of the service).
    SQLite: one process owns the file, so the second scheduler shares the runtime's engine.
    """
    first = await running(settings, clock)
    second: Runtime | None = None
    extra: asyncio.Task[None] | None = None
    if db.backend == "postgres":
        second = await running(settings, clock)
    else:
        scheduler = DeadlineScheduler(sessions=first.sessions, clock=clock)
        scheduler.add_handler(
            MILESTONE_DUE, MissedMilestones(application_in(first, OnboardingApplication).aggregates)
        )
        extra = asyncio.create_task(scheduler.run())
    try:
        yield first
    finally:
        if extra is not None:
            extra.cancel()
            await asyncio.gather(extra, return_exceptions=True)
        for runtime in (second, first):
            if runtime is not None:
                await runtime.stop()


async def missed(runtime: Runtime) -> list[tuple[str, str, str]]:
    """(plan, milestone, due date) of every MilestoneMissed in the store."""
    async with runtime.sessions() as session:
        rows = await session.execute(select(events.c.payload).where(events.c.event_type == "MilestoneMissed"))
        return [(p["plan_id"], p["milestone_id"], p["due_date"]) for p in rows.scalars()]


async def armed(runtime: Runtime) -> int:
    return await runtime.deadlines.pending()


async def on_stream(runtime: Runtime) -> int:
    subject = f"{runtime.subjects.root}.onboarding.onboarding_plan.MilestoneMissed.>"
    info = await runtime.jetstream().stream_info(runtime.stream.name, subjects_filter=subject)
    return sum((info.state.subjects or {}).values())


async def test_two_detectors_and_a_restart_between_due_dates_miss_each_milestone_exactly_once(
    database: Database, nats_url: str, subject_root: str, tmp_path: Path
) -> None:
    clock = TestClock(START)
    settings = settings_for(database, nats_url, subject_root, tmp_path)
    hires = 30
    async with detectors(database, settings, clock) as runtime:
        org = application_in(runtime, OnboardingApplication).org
        for i in range(hires):
            await org.hire(
                HR,
                f"seed-{i}",
                employee_id=f"n-{i}",
                name=f"New hire {i}",
                email=f"n{i}@acme.test",
                start_date=START.date(),
                plan=PlanSpec(milestones=MILESTONES),
            )
        assert await armed(runtime) == 2 * 3 * hires  # each due date: its nudge and its miss
        clock.advance(dt.timedelta(days=31))
        await eventually(lambda: _armed_is(runtime, 2 * 2 * hires))
        assert len(await missed(runtime)) == hires

    # The whole service restarts between the due dates (both detectors with it).
    async with detectors(database, settings, clock) as runtime:
        assert len(await missed(runtime)) == hires
        # Fire day 30's deadlines a second time, as a replica with a stale view could:
        # the plans refuse to decide twice.
        async with runtime.sessions() as session, session.begin():
            await session.execute(
                update(deadlines).where(deadlines.c.fired_at.is_not(None)).values(fired_at=None)
            )
        clock.advance(dt.timedelta(days=30))  # and day 60 passes
        await eventually(lambda: _armed_is(runtime, 2 * hires))
        clock.advance(dt.timedelta(days=30))  # and day 90
        await eventually(lambda: _armed_is(runtime, 0))
        found = await missed(runtime)
        assert len(found) == 3 * hires
        assert len(set(found)) == 3 * hires  # one per plan, milestone and due date
        await eventually(lambda: _on_stream_is(runtime, 3 * hires))
        await asyncio.sleep(0.2)  # nothing more trickles in
        assert await on_stream(runtime) == 3 * hires


async def _armed_is(runtime: Runtime, expected: int) -> bool:
    return await armed(runtime) == expected


async def _on_stream_is(runtime: Runtime, expected: int) -> bool:
    return await on_stream(runtime) == expected


@pytest.mark.slow
async def test_moving_the_clock_past_thousands_of_due_dates_misses_each_once_through_the_due_index(
    database: Database, nats_url: str, subject_root: str, tmp_path: Path
) -> None:
    """No timing assertions (speed is for bench/): it completes, each once, via the index."""
    clock = TestClock(START)
    settings = settings_for(
        database, nats_url, subject_root, tmp_path, run_relay=False, run_consumers=False, run_deadlines=False
    )
    runtime = await running(settings, clock)
    plans = application_in(runtime, OnboardingApplication).aggregates.plans
    count = 1000  # three milestones each
    try:
        for chunk in range(0, count, 250):  # seeded a chunk a transaction: the setup, not the subject
            async with runtime.sessions() as session, session.begin():
                for i in range(chunk, chunk + 250):
                    plan = plans.new(plan_id_of(TENANT, f"bulk-{i}"), TENANT)
                    plan.start(
                        employee_id=f"bulk-{i}",
                        manager_id=None,
                        mentor_id=None,
                        team_id=None,
                        template_id=None,
                        start_date=START.date(),
                        milestones=MILESTONES,
                    )
                    await plans.save(session, plan, Metadata(tenant_id=TENANT, actor_id="seed"))
                    for milestone in plan.milestones.values():
                        await arm(session, plan, milestone)
        clock.advance(dt.timedelta(days=91))
        await _assert_due_query_uses_the_index(runtime, database)
        while await runtime.deadlines.fire_due():
            pass
        found = await missed(runtime)
        assert len(found) == len(set(found)) == 3 * count
        assert await armed(runtime) == 0
    finally:
        await runtime.stop()


async def _assert_due_query_uses_the_index(runtime: Runtime, db: Database) -> None:
    c = deadlines.c
    query = (
        select(c.id)
        .where(c.fired_at.is_(None), c.due_at <= START, c.kind.in_([MILESTONE_DUE]))
        .order_by(c.due_at, c.id)
        .limit(200)
    )
    async with runtime.sessions() as session:
        compiled = query.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
        prefix = "EXPLAIN QUERY PLAN " if db.backend == "sqlite" else "EXPLAIN "
        if db.backend == "postgres":
            await session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = " ".join(str(r) for r in (await session.execute(text(prefix + str(compiled)))).all())
        total = (await session.execute(select(func.count()).select_from(deadlines))).scalar_one()
    assert total == 2 * 3000  # a nudge and a miss per due date
    assert "ix_deadlines_due" in plan, plan


async def nudged(runtime: Runtime) -> list[tuple[str, str, str]]:
    async with runtime.sessions() as session:
        rows = await session.execute(
            select(events.c.payload).where(events.c.event_type == "MilestoneDueSoon")
        )
        return [(p["milestone_id"], p["due_date"], p["assignee"]) for p in rows.scalars()]


async def test_a_milestone_due_in_two_days_is_nudged_once_and_not_once_completed(
    database: Database, nats_url: str, subject_root: str, tmp_path: Path
) -> None:
    clock = TestClock(START)
    settings = settings_for(database, nats_url, subject_root, tmp_path)
    async with detectors(database, settings, clock) as runtime:
        app = application_in(runtime, OnboardingApplication)
        await app.org.hire(
            HR,
            "seed-n",
            employee_id="n-1",
            name="New hire",
            email="n1@acme.test",
            start_date=START.date(),
            plan=PlanSpec(milestones=MILESTONES),
        )
        clock.advance(dt.timedelta(days=27))  # day 27: nothing due in two days yet
        await _fired(runtime)
        assert await nudged(runtime) == []
        clock.advance(dt.timedelta(days=1))  # day 28: day 30 is due in two days
        found = await eventually(lambda: _nudged(runtime, 1))
        assert found == [("day-30", "2026-04-01", "new_hire")]
        clock.advance(dt.timedelta(days=1))
        await _fired(runtime)
        assert len(await nudged(runtime)) == 1  # once
        plan_id = plan_id_of(TENANT, "n-1")
        await app.plans.complete_milestone(HR, "c-60", plan_id, "day-60")  # done early
        clock.advance(dt.timedelta(days=32))  # past day 60's nudge and due date
        await _fired(runtime)
        assert [m for m, _, _ in await nudged(runtime)] == ["day-30"]


async def _fired(runtime: Runtime) -> None:
    while await runtime.deadlines.fire_due():
        pass


async def _nudged(runtime: Runtime, expected: int) -> list[tuple[str, str, str]] | None:
    found = await nudged(runtime)
    return found if len(found) >= expected else None
