"""Due and missed check-ins are decided exactly once: with two instances, and across a restart."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

import nats
from sqlalchemy import select

from trellis.contracts.subjects import Subjects
from trellis.core.consuming.clock import TestClock
from trellis.core.consuming.deadlines import DeadlineScheduler
from trellis.core.messaging.jetstream import StreamSpec, connect, ensure_stream
from trellis.core.runtime.service import Runtime
from trellis.core.store.tables import events
from trellis.testing import Database, StreamWriter, eventually

from ..conftest import START, FeedbackService, auth, start_feedback

MANAGERS = ("mia", "max", "moe")
REPORTS = {f"r{i:02d}": MANAGERS[i % 3] for i in range(12)}
MONDAY_9 = START.replace(hour=9)


async def decisions(runtime: Runtime) -> dict[str, Counter[str]]:
    """Event type → how many of it each check-in has."""
    async with runtime.sessions() as session:
        rows = await session.execute(
            select(events.c.event_type, events.c.aggregate_id).where(
                events.c.event_type.in_(["CheckInScheduled", "CheckInMissed"])
            )
        )
        found: dict[str, Counter[str]] = {"CheckInScheduled": Counter(), "CheckInMissed": Counter()}
        for event_type, aggregate_id in rows:
            found[event_type][aggregate_id] += 1
    return found


async def missed_on_stream(runtime: Runtime, nats_url: str, expected: int) -> list[dict[str, Any]]:
    import json

    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        subject = f"{runtime.subjects.root}.feedback.checkin.CheckInMissed.>"

        async def published() -> bool:
            info = await js.stream_info(runtime.stream.name, subjects_filter=subject)
            return sum((info.state.subjects or {}).values()) >= expected

        await eventually(published)
        sub = await js.pull_subscribe(subject, stream=runtime.stream.name)
        msgs = await sub.fetch(expected + 10, timeout=2)
        return [json.loads(m.data) for m in msgs]
    finally:
        await nc.close()


async def test_two_instances_decide_each_due_and_missed_checkin_once_and_a_restart_goes_on(
    database: Database, nats_url: str, subject_root: str, tmp_path: Path
) -> None:
    nc = await connect(nats_url, name="feedback-tests-org")
    subjects = Subjects(subject_root)
    await ensure_stream(
        nc.jetstream(),
        StreamSpec(name=subjects.stream("onboarding"), subjects=[subjects.all_of("onboarding")]),
    )
    clock = TestClock(START)
    first, client = await start_feedback(database, nats_url, subject_root, tmp_path / "a", clock)
    service = FeedbackService(first, client, StreamWriter(nc.jetstream(), subjects, "onboarding"), clock)
    stop_second: Any
    if database.backend == "postgres":  # a second replica: its own process state and connections
        second, second_client = await start_feedback(database, nats_url, subject_root, tmp_path / "b", clock)
        for runtime in (first, second):
            runtime.deadlines.batch_size = 3  # small passes, so the replicas interleave

        async def stop_second() -> None:
            await second_client.aclose()
            await second.stop()

    else:  # one process owns a SQLite file: a second scheduler shares its connection
        extra = DeadlineScheduler(sessions=first.sessions, clock=clock, batch_size=3)
        for kind, handler in first.application.deadlines.items():
            extra.add_handler(kind, handler)
        task = asyncio.create_task(extra.run())

        async def stop_second() -> None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    try:
        await service.build_org(
            [(m, None, None) for m in MANAGERS] + [(r, m, None) for r, m in REPORTS.items()]
        )
        for report, manager in REPORTS.items():
            resp = await client.post(
                "/v1/checkin-schedules",
                json={"report_id": report, "grace_hours": 1},
                headers=auth(manager, "manager"),
            )
            assert resp.status_code == 201, resp.text

        clock.set(MONDAY_9 + dt.timedelta(hours=2))  # due at 09:00, missed at 10:00: both now
        await eventually(lambda: _missed(first, len(REPORTS)))
        await service.deadlines_fired()
        found = await decisions(first)
        assert len(found["CheckInScheduled"]) == len(REPORTS) and set(found["CheckInScheduled"].values()) == {
            1
        }
        assert found["CheckInMissed"] == found["CheckInScheduled"]
        if database.backend == "postgres":
            assert first.deadlines.fired > 0 and second.deadlines.fired > 0  # the work was shared
    finally:
        await stop_second()
        await client.aclose()
        await first.stop()

    # a restart (a new process) carries on from the armed deadlines: next week's, once each
    restarted, client = await start_feedback(database, nats_url, subject_root, tmp_path / "c", clock)
    try:
        clock.set(MONDAY_9 + dt.timedelta(days=7, hours=2))
        await eventually(lambda: _missed(restarted, 2 * len(REPORTS)))
        found = await decisions(restarted)
        assert (
            sum(found["CheckInScheduled"].values())
            == sum(found["CheckInMissed"].values())
            == 2 * len(REPORTS)
        )
        assert set(found["CheckInMissed"].values()) == {1}

        on_stream = await missed_on_stream(restarted, nats_url, 2 * len(REPORTS))
        assert len(on_stream) == 2 * len(REPORTS)
        assert Counter(e["aggregate_id"] for e in on_stream).most_common(1)[0][1] == 1
        assert Counter(e["payload"]["consecutive_misses"] for e in on_stream) == {1: 12, 2: 12}
        assert {e["actor_id"] for e in on_stream} == {"scheduler"}
    finally:
        await client.aclose()
        await restarted.stop()
        await nc.close()


async def _missed(runtime: Runtime, expected: int) -> bool:
    return sum((await decisions(runtime))["CheckInMissed"].values()) >= expected
