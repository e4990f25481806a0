"""Deadline conformance: each due deadline decides exactly once, by a clock tests move."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from sqlalchemy import func, select, text

from trellis.core.consuming import deadlines
from trellis.core.consuming.clock import TestClock
from trellis.core.consuming.deadlines import Deadline, DeadlineScheduler
from trellis.core.store.database import create_engine
from trellis.core.store.repository import Repository
from trellis.core.store.sessions import session_factory
from trellis.core.store.tables import deadlines as deadlines_table
from trellis.core.store.tables import events, outbox

from .conftest import Core, Counter

START = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


def scheduler(core: Core, clock: TestClock, sessions: Any = None, **kw: Any) -> DeadlineScheduler:
    """A scheduler whose handler expires the counter named by the deadline."""
    counters = Repository(core.store, Counter)
    sched = DeadlineScheduler(sessions=sessions or core.sessions, clock=clock, **kw)

    @sched.handler("counter-expiry")
    async def expire(session: Any, deadline: Deadline, now: dt.datetime) -> None:
        counter = await counters.find(session, deadline.aggregate_id, deadline.tenant_id)
        if counter is None:
            counter = counters.new(deadline.aggregate_id, deadline.tenant_id)
        counter.expire(deadline.key)
        if counter.pending:
            await counters.save(session, counter, _metadata(deadline))

    return sched


def _metadata(deadline: Deadline) -> Any:
    from trellis.contracts.envelope import Metadata

    return Metadata(tenant_id=deadline.tenant_id, actor_id="deadlines")


async def arm(core: Core, count: int, *, per_counter: int = 1, due: dt.datetime = START) -> None:
    async with core.sessions() as session, session.begin():
        for i in range(count):
            for k in range(per_counter):
                await deadlines.schedule(
                    session,
                    key=f"expiry:c-{i}:{k}",
                    kind="counter-expiry",
                    tenant_id="acme",
                    aggregate_id=f"c-{i}",
                    due_at=due + dt.timedelta(minutes=k),
                )


async def expired_events(core: Core) -> int:
    async with core.sessions() as session:
        query = select(func.count()).select_from(events).where(events.c.event_type == "CounterExpired")
        return int((await session.execute(query)).scalar_one())


async def test_a_deadline_fires_once_its_time_has_passed_by_the_clock(core: Core) -> None:
    clock = TestClock(START - dt.timedelta(days=1))
    sched = scheduler(core, clock)
    await arm(core, 1)
    async with core.sessions() as session, session.begin():
        await deadlines.schedule(
            session,
            key="later",
            kind="counter-expiry",
            tenant_id="acme",
            aggregate_id="c-later",
            due_at=START + dt.timedelta(days=30),
        )
    assert await sched.fire_due() == 0  # nothing due yet
    clock.advance(dt.timedelta(days=2))
    assert await sched.fire_due() == 1
    assert await sched.fire_due() == 0  # fired: never again
    assert await expired_events(core) == 1
    assert await sched.pending() == 1  # the one thirty days out waits


async def test_two_schedulers_running_at_once_fire_each_deadline_exactly_once(core: Core) -> None:
    """Two deadlines per counter, two schedulers (separate connections on PostgreSQL)."""
    await arm(core, 150, per_counter=2)
    clock = TestClock(START + dt.timedelta(hours=1))
    if core.db.backend == "postgres":
        other = create_engine(core.db.url, schema=core.db.schema)
        second = scheduler(core, clock, sessions=session_factory(other), batch_size=25)
    else:  # one process owns a SQLite file: the second scheduler shares its connection
        other, second = None, scheduler(core, clock, batch_size=25)
    first = scheduler(core, clock, batch_size=25)
    try:
        tasks = [asyncio.create_task(s.run()) for s in (first, second)]
        try:
            for _ in range(400):
                if await first.pending() == 0:
                    break
                await asyncio.sleep(0.05)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        if other is not None:
            await other.dispose()
    assert await first.pending() == 0
    assert await expired_events(core) == 150  # one per counter, whoever fired what
    if core.db.backend == "postgres":
        assert first.fired > 0 and second.fired > 0  # the work was shared


class Hangs(Exception):
    pass


async def test_a_scheduler_killed_mid_pass_leaves_nothing_half_done(core: Core) -> None:
    await arm(core, 20)
    clock = TestClock(START + dt.timedelta(hours=1))
    stuck = asyncio.Event()
    calls = 0
    counters = Repository(core.store, Counter)
    dying = DeadlineScheduler(sessions=core.sessions, clock=clock)

    @dying.handler("counter-expiry")
    async def slow(session: Any, deadline: Deadline, now: dt.datetime) -> None:
        nonlocal calls
        calls += 1
        counter = counters.new(deadline.aggregate_id, deadline.tenant_id)
        counter.expire(deadline.key)
        await counters.save(session, counter, _metadata(deadline))
        if calls == 10:
            stuck.set()
            await asyncio.Event().wait()  # killed here, halfway through the pass

    task = asyncio.create_task(dying.fire_due())
    await asyncio.wait_for(stuck.wait(), 10)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    # A pass commits in several transactions (``transaction_budget``): the ones before the
    # kill stand, each deadline's events with its mark; the tenth's and its batch-mates' not.
    committed = await expired_events(core)
    assert committed < 10
    async with core.sessions() as session:
        marked = (
            await session.execute(
                select(func.count())
                .select_from(deadlines_table)
                .where(deadlines_table.c.fired_at.is_not(None))
            )
        ).scalar_one()
    assert marked == committed
    assert await scheduler(core, clock).fire_due() == 20 - committed  # a restart fires the rest, once
    assert await expired_events(core) == 20


async def test_a_failing_deadline_is_retried_later_and_the_others_go_on(core: Core) -> None:
    await arm(core, 3)
    clock = TestClock(START + dt.timedelta(hours=1))
    counters = Repository(core.store, Counter)
    failing = {"c-1"}
    sched = DeadlineScheduler(sessions=core.sessions, clock=clock, retry_delays=(60.0,))

    @sched.handler("counter-expiry")
    async def handle(session: Any, deadline: Deadline, now: dt.datetime) -> None:
        if deadline.aggregate_id in failing:
            raise RuntimeError("the database said no")
        counter = counters.new(deadline.aggregate_id, deadline.tenant_id)
        counter.expire(deadline.key)
        await counters.save(session, counter, _metadata(deadline))

    await sched.fire_due()
    assert await expired_events(core) == 2 and await sched.pending() == 1
    failing.clear()
    assert await sched.fire_due() == 0  # retried a minute later, not at once
    clock.advance(dt.timedelta(minutes=2))
    await sched.fire_due()
    assert await expired_events(core) == 3 and await sched.pending() == 0


async def test_moving_a_deadline_before_it_fires_moves_it_and_cancelling_removes_it(core: Core) -> None:
    await arm(core, 2)
    async with core.sessions() as session, session.begin():
        await deadlines.schedule(
            session,
            key="expiry:c-0:0",
            kind="counter-expiry",
            tenant_id="acme",
            aggregate_id="c-0",
            due_at=START + dt.timedelta(days=10),
        )
        await deadlines.cancel(session, "expiry:c-1:0")
    clock = TestClock(START + dt.timedelta(days=1))
    sched = scheduler(core, clock)
    assert await sched.fire_due() == 0
    clock.advance(dt.timedelta(days=10))
    assert await sched.fire_due() == 1
    assert await expired_events(core) == 1


async def test_a_command_that_disarms_a_deadline_while_its_handler_runs_waits_and_neither_fails(
    core: Core,
) -> None:
    """The CI failure of 2026-12-04: a command appended (taking the append lock) and then
    cancelled a deadline the scheduler had claimed, whose handler was about to append. On
    PostgreSQL the two waited for each other and the command died of a deadlock (a 500).
    Every transaction now takes the append lock before a deadline row: the command waits."""
    await arm(core, 1)  # expiry:c-0:0, due at START
    counters = Repository(core.store, Counter)
    sched = DeadlineScheduler(sessions=core.sessions, clock=TestClock(START + dt.timedelta(hours=1)))
    claimed = asyncio.Event()

    @sched.handler("counter-expiry")
    async def expire(session: Any, deadline: Deadline, now: dt.datetime) -> None:
        claimed.set()
        await asyncio.sleep(0.5)  # the command runs meanwhile
        await _expire(counters, session, deadline)

    async def command() -> None:
        await claimed.wait()
        async with core.sessions() as session, session.begin():
            await _count_other(counters, session)
            await deadlines.cancel(session, "expiry:c-0:0")

    fired, _ = await asyncio.wait_for(asyncio.gather(sched.fire_due(), command()), timeout=30)
    assert fired == 1
    assert await expired_events(core) == 1  # the handler's append was not the victim either
    assert await sched.pending() == 0  # fired, then cancelled by the command


async def test_a_long_pass_lets_commands_in_between_its_transactions(core: Core) -> None:
    """A pass commits once its handlers have run ``transaction_budget`` seconds. In one
    transaction, a pass held SQLite's one connection (on PostgreSQL, the append lock) for
    all its handlers, and every command of the service waited for the whole pass: the pace
    checks of forty goals stopped the goals service for 100-200 ms every five seconds."""
    await arm(core, 4)
    counters = Repository(core.store, Counter)
    sched = DeadlineScheduler(sessions=core.sessions, clock=TestClock(START + dt.timedelta(hours=1)))
    seen: list[str] = []
    first = asyncio.Event()

    @sched.handler("counter-expiry")
    async def expire(session: Any, deadline: Deadline, now: dt.datetime) -> None:
        seen.append(f"handler {deadline.aggregate_id}")
        first.set()
        await asyncio.sleep(0.05)  # over the budget (20 ms): one deadline a transaction
        await _expire(counters, session, deadline)

    async def command() -> None:
        await first.wait()
        async with core.sessions() as session, session.begin():
            await _count_other(counters, session)
        seen.append("command")

    fired, _ = await asyncio.wait_for(asyncio.gather(sched.fire_due(), command()), timeout=30)
    assert fired == 4 and await expired_events(core) == 4
    assert seen.index("command") < seen.index("handler c-3"), seen  # not after the whole pass


async def _expire(counters: Repository[Counter], session: Any, deadline: Deadline) -> None:
    """What the handlers of the tests above decide: the counter expires (one event)."""
    counter = counters.new(deadline.aggregate_id, deadline.tenant_id)
    counter.expire(deadline.key)
    await counters.save(session, counter, _metadata(deadline))


async def _count_other(counters: Repository[Counter], session: Any) -> None:
    """A command's append, on a counter no deadline names."""
    other = counters.new("c-other", "acme")
    other.add(1)
    await counters.save(session, other, _metadata_for("acme"))


def _metadata_for(tenant_id: str) -> Any:
    from trellis.contracts.envelope import Metadata

    return Metadata(tenant_id=tenant_id, actor_id="someone")


async def test_a_handler_that_re_arms_its_own_deadline_leaves_the_new_one_armed(core: Core) -> None:
    """A recurring check (the goals' pace watch): the occurrence handled is marked fired,
    the one the handler armed for later under the same key waits for its time."""
    clock = TestClock(START)
    sched = DeadlineScheduler(sessions=core.sessions, clock=clock)
    fired: list[dt.datetime] = []

    @sched.handler("recurring")
    async def again(session: Any, deadline: Deadline, now: dt.datetime) -> None:
        fired.append(now)
        if len(fired) < 3:
            await deadlines.schedule(
                session,
                key=deadline.key,
                kind=deadline.kind,
                tenant_id=deadline.tenant_id,
                aggregate_id=deadline.aggregate_id,
                due_at=now + dt.timedelta(days=1),
            )

    async with core.sessions() as session, session.begin():
        await deadlines.schedule(
            session, key="every-day", kind="recurring", tenant_id="acme", aggregate_id="a", due_at=START
        )
    for _ in range(4):
        assert await sched.fire_due() <= 1
        assert await sched.fire_due() == 0  # nothing more until the clock moves
        clock.advance(dt.timedelta(days=1))
    assert fired == [START + dt.timedelta(days=d) for d in range(3)]
    assert await sched.pending() == 0


async def test_due_deadlines_are_found_through_the_index_not_a_scan(core: Core) -> None:
    await arm(core, 50)
    c = deadlines_table.c
    query = select(deadlines_table.c.id).where(c.fired_at.is_(None), c.due_at <= START).order_by(c.due_at)
    async with core.sessions() as session:
        compiled = query.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
        prefix = "EXPLAIN QUERY PLAN " if core.db.backend == "sqlite" else "EXPLAIN "
        if core.db.backend == "postgres":
            await session.execute(text("SET LOCAL enable_seqscan = off"))  # tiny tables: ask for the plan
        plan = " ".join(str(r) for r in (await session.execute(text(prefix + str(compiled)))).all())
    assert "ix_deadlines_due" in plan, plan


async def test_a_private_event_is_stored_but_never_queued_for_the_stream(core: Core) -> None:
    from trellis.contracts.envelope import Metadata

    from .conftest import Counted, CounterNoteTaken

    async with core.sessions() as session, session.begin():
        await core.store.append(
            session,
            aggregate_type="counter",
            aggregate_id="c-private",
            expected_version=0,
            events=[Counted(amount=1), CounterNoteTaken(note="for my eyes only")],
            metadata=Metadata(tenant_id="acme", actor_id="tester"),
        )
    async with core.sessions() as session:
        stored = await core.store.load(session, "c-private")
        queued = (await session.execute(select(outbox.c.body))).scalars().all()
    assert [r.envelope.event_type for r in stored] == ["Counted", "CounterNoteTaken"]
    assert len(queued) == 1 and b"for my eyes only" not in queued[0]
