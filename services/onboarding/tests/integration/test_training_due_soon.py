"""Trainings due soon, on the test clock: ``TrainingDueSoon`` is recorded once, a few days
before the target date, reaches the stream once, and never for an enrolment completed,
withdrawn or of someone offboarded before the day comes."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import select, update

from trellis.core.runtime.api_kit import application_in
from trellis.core.store.tables import deadlines, events
from trellis.onboarding.application import trainings_due
from trellis.onboarding.application.trainings_due import DUE_SOON_DAYS, TRAINING_DUE_SOON
from trellis.onboarding.application.wiring import OnboardingApplication
from trellis.testing import eventually

from ..conftest import TENANT, OnboardingService, auth

NORA = auth("nora", "employee")
MIA = auth("mia", "manager", "employee")


async def on_stream(onboarding: OnboardingService) -> int:
    runtime = onboarding.runtime
    subject = f"{runtime.subjects.root}.onboarding.training_enrolment.TrainingDueSoon.>"
    info = await runtime.jetstream().stream_info(runtime.stream.name, subjects_filter=subject)
    return sum((info.state.subjects or {}).values())


async def announced(onboarding: OnboardingService) -> list[tuple[str, str, str | None, int]]:
    """(enrolment, target date, manager, days left) of every TrainingDueSoon in the store."""
    async with onboarding.runtime.sessions() as session:
        rows = await session.execute(select(events.c.payload).where(events.c.event_type == "TrainingDueSoon"))
        return [
            (p["enrolment_id"], p["target_date"], p["manager_id"], p["days_left"]) for p in rows.scalars()
        ]


async def settle(onboarding: OnboardingService) -> None:
    """Scheduler passes until nothing due is left (the service's own loop runs too)."""

    async def nothing_due() -> bool:
        await onboarding.runtime.deadlines.fire_due()
        async with onboarding.runtime.sessions() as session:
            due = await session.execute(
                select(deadlines.c.id).where(
                    deadlines.c.fired_at.is_(None), deadlines.c.due_at <= onboarding.clock.now()
                )
            )
            return due.first() is None

    await eventually(nothing_due)


async def test_a_training_due_soon_is_announced_once_days_before_its_target_date(
    onboarding: OnboardingService,
) -> None:
    await onboarding.hire("mia")
    await onboarding.hire("nora", manager="mia")
    sql = await onboarding.create_training()
    target = onboarding.today() + dt.timedelta(days=10)
    enrolment = await onboarding.enrol("nora", sql, target=target, headers=MIA)
    assert DUE_SOON_DAYS == 3

    moment = trainings_due.due_soon_at(target)  # 00:00 UTC, three days before the target
    assert moment == dt.datetime.combine(target - dt.timedelta(days=3), dt.time.min, tzinfo=dt.UTC)
    onboarding.clock.set(moment - dt.timedelta(seconds=1))
    await settle(onboarding)
    assert await announced(onboarding) == []

    onboarding.clock.advance(dt.timedelta(seconds=1))
    await eventually(lambda: _announced_is(onboarding, 1))
    assert await announced(onboarding) == [(enrolment, target.isoformat(), "mia", 3)]
    await eventually(lambda: _on_stream_is(onboarding, 1))

    # Fired again (a replica with a stale view, a crash before the mark): still one.
    async with onboarding.runtime.sessions() as session, session.begin():
        await session.execute(
            update(deadlines).where(deadlines.c.kind == TRAINING_DUE_SOON).values(fired_at=None)
        )
    await settle(onboarding)
    onboarding.clock.advance(dt.timedelta(days=1))
    await settle(onboarding)
    assert len(await announced(onboarding)) == 1
    await asyncio.sleep(0.2)  # nothing more trickles in
    assert await on_stream(onboarding) == 1
    view = await onboarding.call("GET", f"/v1/training-enrolments/{enrolment}", headers=NORA)
    assert (view["due_soon_announced"], view["status"]) == (True, "open")


async def test_nothing_is_announced_for_an_enrolment_completed_withdrawn_or_of_someone_gone(
    onboarding: OnboardingService,
) -> None:
    await onboarding.hire("mia")
    for who in ("nora", "max", "olga", "pia"):
        await onboarding.hire(who, manager="mia")
    sql = await onboarding.create_training()
    target = onboarding.today() + dt.timedelta(days=10)
    completed = await onboarding.enrol("nora", sql, target=target)
    withdrawn = await onboarding.enrol("max", sql, target=target)
    gone = await onboarding.enrol("olga", sql, target=target)
    still_open = await onboarding.enrol("pia", sql, target=target)
    assert await onboarding.runtime.deadlines.pending() == 4
    near = await onboarding.enrol(
        "pia", await onboarding.create_training("Git"), target=onboarding.today() + dt.timedelta(days=2)
    )
    assert await onboarding.runtime.deadlines.pending() == 4  # due within the notice period: no deadline

    await onboarding.call("POST", f"/v1/training-enrolments/{completed}/complete", {"note": "done"}, NORA)
    await onboarding.call("POST", f"/v1/training-enrolments/{withdrawn}/withdraw", {}, MIA)
    await onboarding.call("POST", "/v1/employees/olga/offboard", {"last_day": onboarding.today().isoformat()})
    assert await onboarding.runtime.deadlines.pending() == 2  # closed enrolments take theirs away
    # A deadline left behind for the completed one (armed by hand): the enrolment refuses it.
    application = application_in(onboarding.runtime, OnboardingApplication)
    async with onboarding.runtime.sessions() as session, session.begin():
        enrolment = await application.aggregates.enrolment(session, TENANT, completed)
        await trainings_due.arm(session, enrolment, onboarding.clock.now())

    onboarding.clock.advance(dt.timedelta(days=8))
    await eventually(lambda: _announced_is(onboarding, 1))
    await settle(onboarding)
    assert [a[0] for a in await announced(onboarding)] == [still_open]
    assert near not in [a[0] for a in await announced(onboarding)]
    assert gone not in [a[0] for a in await announced(onboarding)]
    assert await onboarding.runtime.deadlines.pending() == 0


async def _announced_is(onboarding: OnboardingService, expected: int) -> bool:
    await onboarding.runtime.deadlines.fire_due()
    return len(await announced(onboarding)) == expected


async def _on_stream_is(onboarding: OnboardingService, expected: int) -> bool:
    return await on_stream(onboarding) == expected
