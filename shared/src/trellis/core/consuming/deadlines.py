"""Deadlines: "when this time passes and nothing happened, decide" — exactly once.

A service schedules a deadline in the same transaction as the events that create it
(a milestone's due date, a check-in's grace period) and cancels or moves it in the
transaction that makes it moot. The ``DeadlineScheduler`` fires what is due by its
clock: it reads only due rows through an index on ``due_at`` (never a scan of every
plan), claims them, and calls the handler registered for their kind. The handler loads
the aggregate and appends what the domain decides (say ``MilestoneMissed``) in the same
transaction that marks the deadline fired.

Exactly once, with several replicas and across restarts:

- the deadline row and its firing commit together: after a crash nothing is marked,
  so it fires again on the next pass, and nothing was appended either;
- replicas on PostgreSQL claim rows with ``FOR UPDATE SKIP LOCKED``: two schedulers
  never hold the same deadline; SQLite has a single writer anyway;
- on PostgreSQL every transaction takes the append lock before it touches a deadline
  row (the scheduler before it claims, ``schedule`` and ``cancel`` before they write),
  so a handler's append and a command's deadline writes never deadlock
  (``trellis.core.store.append_lock``);
- the handler's append carries the aggregate's expected version and the aggregate
  refuses to decide twice (a milestone already missed records nothing), so even a
  deadline fired twice appends once.

A failing handler is retried with a growing delay (the deadline's ``due_at`` moves
back); its other deadlines go on.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from trellis.contracts.envelope import utcnow
from trellis.core.consuming.clock import Clock, SystemClock
from trellis.core.errors import ConcurrencyError
from trellis.core.store import append_lock
from trellis.core.store.tables import deadlines as deadlines_table
from trellis.core.store.transaction import Transaction, on_connection

log = structlog.get_logger("trellis.deadlines")


@dataclass(frozen=True)
class Deadline:
    """A due deadline as its handler sees it."""

    key: str
    kind: str
    tenant_id: str
    aggregate_id: str
    due_at: dt.datetime
    data: dict[str, Any]


Handler = Callable[[Transaction, Deadline, dt.datetime], Awaitable[None]]


# what every command that arms or disarms a deadline runs: built once
_FIND = select(deadlines_table.c.id).where(deadlines_table.c.key == bindparam("deadline_key"))
_CANCEL = delete(deadlines_table).where(deadlines_table.c.key == bindparam("deadline_key"))
_INSERT = insert(deadlines_table)
_MOVE = update(deadlines_table).where(deadlines_table.c.key == bindparam("deadline_key"))


async def schedule(
    session: Transaction,
    *,
    key: str,
    kind: str,
    tenant_id: str,
    aggregate_id: str,
    due_at: dt.datetime,
    data: dict[str, Any] | None = None,
) -> None:
    """Schedule (or move) the deadline ``key``; it fires once ``due_at`` has passed.

    Rescheduling a deadline that has fired arms it again: give each occurrence its own
    key when it must fire at most once (for example the due date in the key). A handler
    may re-arm its own deadline for later (the same key): the occurrence it handled is
    marked fired, the new one stays armed.
    """
    if due_at.tzinfo is None:
        raise ValueError("due_at must be timezone-aware")
    values = {
        "kind": kind,
        "tenant_id": tenant_id,
        "aggregate_id": aggregate_id,
        "due_at": due_at,
        "data": data or {},
        "fired_at": None,
        "attempts": 0,
        "last_error": None,
    }
    postgres = session.get_bind().dialect.name == "postgresql"

    info = session.info

    def write(connection: Connection) -> None:
        if postgres:  # the lock order: the append lock before any deadline row
            append_lock.take(info, connection)
        found = connection.execute(_FIND, {"deadline_key": key}).first()
        if found is None:
            connection.execute(_INSERT, {"key": key, "created_at": utcnow(), **values})
        else:  # the SET clause: the columns of ``values``
            connection.execute(_MOVE, {"deadline_key": key, **values})

    await on_connection(session, write)


async def cancel(session: Transaction, key: str) -> None:
    """Forget the deadline ``key`` (the thing it waited for happened)."""
    await append_lock.hold(session)  # the lock order: the append lock before any deadline row
    await session.execute(_CANCEL, {"deadline_key": key})


class DeadlineScheduler:
    """Fires due deadlines by ``clock``; ``run`` loops until cancelled."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock | None = None,
        batch_size: int = 200,
        poll_interval: float = 5.0,
        retry_delays: tuple[float, ...] = (5.0, 30.0, 120.0, 600.0),
        transaction_budget: float = 0.02,
    ) -> None:
        self.sessions = sessions
        self.clock = clock or SystemClock()
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.transaction_budget = transaction_budget
        self.retry_delays = retry_delays
        self._handlers: dict[str, Handler] = {}
        self._wake = asyncio.Event()
        self.fired = 0
        self.clock.on_change(self.wake)

    def handler(self, kind: str) -> Callable[[Handler], Handler]:
        """Register the function that decides what a due deadline of ``kind`` means."""

        def register(fn: Handler) -> Handler:
            self.add_handler(kind, fn)
            return fn

        return register

    def add_handler(self, kind: str, fn: Handler) -> None:
        if kind in self._handlers:
            raise ValueError(f"a handler for deadline kind {kind!r} exists already")
        self._handlers[kind] = fn

    @property
    def has_handlers(self) -> bool:
        return bool(self._handlers)

    def wake(self) -> None:
        """Look for due deadlines now (the clock moved, or a deadline was scheduled)."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                fired = await self.fire_due()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("deadlines.pass_failed", error=str(exc))
                fired = 0
            if fired >= self.batch_size:
                continue  # more may be due
            self._wake.clear()
            timeout = await self._sleep_for()  # before the wait's coroutine exists (cancellation)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass

    async def fire_due(self) -> int:
        """One pass: fire up to ``batch_size`` due deadlines; how many it went through.

        A pass commits once its handlers have run ``transaction_budget`` seconds, lets the
        service's other work in, and goes on in a new transaction. One transaction for a
        whole pass held SQLite's one connection (and, on PostgreSQL, the append lock) for
        all of it: the goals' pace checks, forty goals a pass every five seconds, stopped
        every command and consumer of the service for 100-200 ms (bench/cross_service.py).
        """
        total = 0
        while total < self.batch_size:
            went, all_done = await self._fire_some(self.batch_size - total)
            total += went
            if all_done:
                return total
            # The next transaction queues behind whoever waited for the connection (the
            # pool hands it to them first) or, on PostgreSQL, for the append lock.
        return total

    async def _fire_some(self, limit: int) -> tuple[int, bool]:
        """Fire up to ``limit`` due deadlines in one transaction, until ``transaction_budget``
        runs out: how many it went through, and whether that was every one it found."""
        now = self.clock.now()
        c = deadlines_table.c
        due = (c.fired_at.is_(None), c.due_at <= now, c.kind.in_(list(self._handlers)))
        loop = asyncio.get_running_loop()
        went = handled = 0
        async with self.sessions() as session, session.begin():
            if session.get_bind().dialect.name == "postgresql":
                if (await session.execute(select(c.id).where(*due).limit(1))).first() is None:
                    return 0, True  # nothing due: the append lock is not needed
                # The lock order: the append lock before any deadline row, as in every
                # command that arms or disarms one (``append_lock``). The handlers append
                # under it anyway; taking it first means no command holds it while it
                # waits for a row claimed here.
                await append_lock.hold(session)
            query = select(deadlines_table).where(*due).order_by(c.due_at, c.id).limit(limit)
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = list((await session.execute(query)).mappings())
            started = loop.time()
            for row in rows:
                deadline = Deadline(
                    key=row["key"],
                    kind=row["kind"],
                    tenant_id=row["tenant_id"],
                    aggregate_id=row["aggregate_id"],
                    due_at=_aware(row["due_at"]),
                    data=dict(row["data"] or {}),
                )
                if await self._fire(session, row["id"], row["due_at"], row["attempts"], deadline, now):
                    handled += 1
                went += 1
                if loop.time() - started >= self.transaction_budget:
                    break  # the rest wait for the next transaction (on PostgreSQL, unlocked at commit)
        self.fired += handled
        return went, went == len(rows)

    async def _fire(
        self,
        session: Transaction,
        row_id: int,
        due_at: Any,
        attempts: int,
        deadline: Deadline,
        now: dt.datetime,
    ) -> bool:
        c = deadlines_table.c
        bound = structlog.contextvars.bound_contextvars(
            deadline=deadline.key, tenant=deadline.tenant_id, kind=deadline.kind
        )
        with bound:
            try:
                for attempt in range(3):
                    try:
                        async with session.begin_nested():
                            await self._handlers[deadline.kind](session, deadline, now)
                            # a handler that re-armed its own deadline (the same key, a
                            # later due_at) leaves it armed: only the occurrence fired is marked
                            await session.execute(
                                update(deadlines_table)
                                .where(c.id == row_id, c.due_at == due_at)
                                .values(fired_at=utcnow())
                            )
                        return True
                    except ConcurrencyError:
                        # someone appended to the aggregate meanwhile: decide again on the news
                        if attempt == 2:
                            raise
                raise AssertionError("unreachable")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = self.retry_delays[min(attempts, len(self.retry_delays) - 1)]
                log.warning("deadlines.handler_failed", error=f"{type(exc).__name__}: {exc}", retry_in=delay)
                await session.execute(
                    update(deadlines_table)
                    .where(c.id == row_id)
                    .values(
                        attempts=attempts + 1,
                        last_error=f"{type(exc).__name__}: {exc}"[:4000],
                        due_at=now + dt.timedelta(seconds=delay),
                    )
                )
                return False

    async def pending(self) -> int:
        """How many deadlines are armed (due or not)."""
        async with self.sessions() as session:
            result = await session.execute(
                select(func.count()).select_from(deadlines_table).where(deadlines_table.c.fired_at.is_(None))
            )
            return int(result.scalar_one())

    async def _sleep_for(self) -> float:
        """Until the next deadline is due (by the clock), at most ``poll_interval``."""
        c = deadlines_table.c
        async with self.sessions() as session:
            result = await session.execute(
                select(c.due_at).where(c.fired_at.is_(None)).order_by(c.due_at).limit(1)
            )
            due = result.scalar()
        if due is None:
            return self.poll_interval
        wait = (_aware(due) - self.clock.now()).total_seconds()
        return max(0.01, min(self.poll_interval, wait))


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
