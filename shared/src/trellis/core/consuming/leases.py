"""Leases in the service's database: who consumes which partition, with several instances.

A projection whose source stream has ``n`` partitions (``subjects.py``) runs ``n``
durable consumers, ``<projection>-p0`` … ``-p<n-1>``. Each is consumed by the one
instance holding its lease (a row of ``consumer_leases``: name, holder, expiry), so the
events of an aggregate, all in one partition, are applied in order, one at a time.

- **Fencing**: every batch a partition's runner commits renews its lease *in the batch's
  own transaction*, as its last statement (``Leases.renew``, an ``UPDATE … WHERE holder
  = me``); an instance that lost its lease (paused past the expiry, cut off from the
  database) cannot commit another batch, it rolls back, hands its messages back and
  stops. On PostgreSQL the renewal holds the row until commit, so a competitor's
  takeover waits for it.
- **Balance**: each instance keeps an ``instance/<service>/<id>`` lease of its own as a
  heartbeat. A heartbeat task renews it and every partition the instance holds every
  ``ttl / 3`` seconds, apart from the balancing, which may wait seconds for runners to
  finish their batches (had renewals waited with it, the others would have counted the
  instance out and taken its idle partitions). Every ``ttl / 3`` seconds the
  ``PartitionCoordinator`` also counts the live instances, takes free or expired
  partitions up to its fair share (``ceil(partitions / instances)``) and hands back what
  it holds beyond it, all together (each runner finishes its batch, naks what it
  prefetched, then its lease is deleted).
- **Takeover**: an instance taking a partition over from one that died waits until the
  messages the dead one had in flight are redelivered first (``ConsumerRunner``), so
  a newer event never overtakes them.

Times are the instances' wall clocks (UTC); the lease is several seconds long, so the
usual clock skew between hosts does not matter.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import math
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import structlog
from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from trellis.contracts.envelope import utcnow
from trellis.core.store.tables import consumer_leases

log = structlog.get_logger("trellis.leases")


def instance_id() -> str:
    """This process's name among the instances of its service (host, pid, a random part)."""
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class LeaseLost(Exception):
    """The lease a runner consumes under was taken over: it must not commit."""


class Leases:
    """Named leases, each held by at most one holder until it expires unless renewed."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, holder: str, ttl: float) -> None:
        self.sessions = sessions
        self.holder = holder
        self.ttl = dt.timedelta(seconds=ttl)

    async def acquire(self, name: str) -> bool:
        """Take ``name`` if it is free, expired or already ours (then it is renewed)."""
        now = utcnow()
        async with self.sessions() as session, session.begin():
            taken = cast(
                "CursorResult[Any]",
                await session.execute(
                    update(consumer_leases)
                    .where(consumer_leases.c.name == name)
                    .where((consumer_leases.c.holder == self.holder) | (consumer_leases.c.expires_at < now))
                    .values(holder=self.holder, expires_at=now + self.ttl, acquired_at=now)
                ),
            )
            if taken.rowcount:
                return True
            try:
                async with session.begin_nested():
                    await session.execute(
                        insert(consumer_leases).values(
                            name=name, holder=self.holder, expires_at=now + self.ttl, acquired_at=now
                        )
                    )
            except IntegrityError:
                return False  # someone else holds it
            return True

    async def renew_held(self, names: set[str]) -> None:
        """Renew the leases of ``names`` that are still ours, in one transaction.

        A row locked by a runner's batch is skipped (that batch renews it as it commits):
        waiting for it would hold every other lease of the instance, and every batch that
        renews one, behind the slowest batch; and two instances renewing at once while a
        partition changes hands could deadlock (seen on PostgreSQL)."""
        if not names:
            return
        async with self.sessions() as session, session.begin():
            free = (
                await session.execute(
                    select(consumer_leases.c.name)
                    .where(consumer_leases.c.name.in_(sorted(names)), consumer_leases.c.holder == self.holder)
                    .with_for_update(skip_locked=True)
                )
            ).scalars()
            locked = sorted(free)
            if locked:
                await session.execute(
                    update(consumer_leases)
                    .where(consumer_leases.c.name.in_(locked))
                    .values(expires_at=utcnow() + self.ttl)
                )

    async def renew(self, session: AsyncSession, name: str) -> None:
        """Renew ``name`` inside the caller's transaction; raise ``LeaseLost`` if not ours."""
        renewed = await session.execute(
            _RENEW, {"lease": name, "lease_holder": self.holder, "expires": utcnow() + self.ttl}
        )
        if not renewed.rowcount:  # type: ignore[attr-defined]
            raise LeaseLost(name)

    async def release(self, name: str) -> None:
        async with self.sessions() as session, session.begin():
            await session.execute(
                delete(consumer_leases).where(
                    consumer_leases.c.name == name, consumer_leases.c.holder == self.holder
                )
            )

    async def live(self, prefix: str) -> int:
        """How many unexpired leases are named ``prefix…`` (the live instances)."""
        async with self.sessions() as session:
            found = await session.execute(
                select(func.count())
                .select_from(consumer_leases)
                .where(consumer_leases.c.name.startswith(prefix, autoescape=True))
                .where(consumer_leases.c.expires_at >= utcnow())
            )
            return int(found.scalar_one())

    async def holders(self, prefix: str) -> dict[str, tuple[str, dt.datetime]]:
        """name → (holder, expiry) of the leases named ``prefix…``."""
        async with self.sessions() as session:
            rows = await session.execute(
                select(consumer_leases.c.name, consumer_leases.c.holder, consumer_leases.c.expires_at).where(
                    consumer_leases.c.name.startswith(prefix, autoescape=True)
                )
            )
            return {row.name: (row.holder, row.expires_at) for row in rows}


@dataclass
class Slot:
    """One partition of one projection: the unit of work an instance holds a lease on."""

    lease: str
    start: Callable[[bool], asyncio.Task[None]]  # starts the runner (taking over from a dead holder?)
    stop: Callable[[], None]  # asks it to finish its batch and return
    task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()


class PartitionCoordinator:
    """Keeps this instance's fair share of partitions, each run under its lease."""

    def __init__(self, leases: Leases, *, service: str) -> None:
        self.leases = leases
        self.instances = f"instance/{service}/"
        self.slots: dict[str, Slot] = {}
        self.held: set[str] = set()
        self._stopping = False
        self._turn = asyncio.Lock()
        self._heartbeat: asyncio.Task[None] | None = None
        self.interval = leases.ttl.total_seconds() / 3

    def add(self, slot: Slot) -> None:
        self.slots.setdefault(slot.lease, slot)

    @property
    def heartbeat_lease(self) -> str:
        return self.instances + self.leases.holder

    async def run(self, discover: Callable[[], Awaitable[bool]] | None = None) -> None:
        """Balance until stopped. ``discover`` may add slots each round; it answers whether
        it found everything (until then, rounds come quickly: a source stream is awaited).

        Started after ``stop`` (a service stopped while it was still connecting), it takes
        nothing; stopped while taking its heartbeat lease, it hands that back: a lease left
        behind would count a dead instance as live until it expired, and the next instance
        would take only its share of the partitions (CI caught it: a restarted service left
        half of them unread).
        """
        if self._stopping:
            return
        with contextlib.suppress(Exception):  # counted from the first round on
            await self.leases.acquire(self.heartbeat_lease)
        self._heartbeat = asyncio.create_task(self._beat(), name="leases-heartbeat")
        try:
            await self._balance_rounds(discover)
        finally:
            await self._stop_heartbeat()
            if self._stopping:  # stop() may have handed the lease back before it was taken
                await self._hand_back(self.heartbeat_lease)

    async def _stop_heartbeat(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)

    async def _beat(self) -> None:
        """Renew the instance's lease and every partition it holds (those being handed back
        included: their runners still commit their last batch under them)."""
        while not self._stopping:
            await asyncio.sleep(self.interval)
            try:
                await self.leases.acquire(self.heartbeat_lease)
                await self.leases.renew_held(set(self.held))
            except Exception as exc:  # the database is down: partitions will be lost
                log.warning("leases.heartbeat_failed", error=f"{type(exc).__name__}: {exc}")

    async def _balance_rounds(self, discover: Callable[[], Awaitable[bool]] | None) -> None:
        soon = 0.1
        while not self._stopping:
            complete = True
            try:
                if discover is not None:
                    complete = await discover()
                async with self._turn:  # stop() waits for a round in progress
                    if not self._stopping:
                        await self.balance()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is down: keep what runs, try again
                log.warning("leases.balance_failed", error=f"{type(exc).__name__}: {exc}")
            if complete:
                await asyncio.sleep(self.interval)
            else:
                await asyncio.sleep(soon)
                soon = min(soon * 2, self.interval)

    async def balance(self) -> None:
        live = max(1, await self.leases.live(self.instances))
        share = math.ceil(len(self.slots) / live) if self.slots else 0
        holders = await self.leases.holders("consumer/")  # (the heartbeat renews what is held)
        mine = self.leases.holder
        lost = sorted(
            n for n in self.held if n not in holders or holders[n][0] != mine or not self.slots[n].running
        )
        surplus = sorted(n for n in self.held if n not in lost)[share:]
        # all together: each runner finishes its batch, and a takeover's wait is cut short
        await asyncio.gather(*(self._drop(name) for name in [*lost, *surplus]))
        if surplus:
            log.info("leases.handed_back", partitions=surplus, instances=live)
        if len(self.held) >= share:
            return
        now = utcnow()
        free = [
            name
            for name in self._preferred_order()
            if name not in self.held and (name not in holders or _as_utc(holders[name][1]) < now)
        ]
        for name in free:
            if len(self.held) >= share or self._stopping:
                break
            if await self.leases.acquire(name):
                self.held.add(name)
                took_over = name in holders and holders[name][0] != self.leases.holder
                self.slots[name].task = self.slots[name].start(took_over)
                log.info("leases.taken", partition=name, instances=live)

    def _preferred_order(self) -> list[str]:
        """The slots in an order of this instance's own, so instances start apart."""
        names = sorted(self.slots)
        if not names:
            return names
        turn = int(uuid.uuid5(uuid.NAMESPACE_OID, self.leases.holder).int % len(names))
        return names[turn:] + names[:turn]

    async def _drop(self, name: str, wait: float = 10.0) -> None:
        slot = self.slots[name]
        slot.stop()
        task, slot.task = slot.task, None
        if task is not None:
            await asyncio.wait([task], timeout=wait)
            while not task.done():  # nats-py may turn a cancellation inside a fetch into a timeout
                task.cancel()
                await asyncio.wait([task], timeout=0.5)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                task.result()
        self.held.discard(name)
        await self._hand_back(name)

    async def _hand_back(self, name: str, attempts: int = 3) -> None:
        """Release a lease, retried: a connection broken under a cancelled task is dropped
        from the pool by the failure, so the next attempt has a fresh one. A lease that
        still cannot be handed back stays held until it expires, and the other instances
        wait that long for its partition: said loudly, never swallowed."""
        for attempt in range(1, attempts + 1):
            try:
                await self.leases.release(name)
                return
            except Exception as exc:
                if attempt == attempts:
                    log.error("leases.release_failed", lease=name, error=repr(exc), attempts=attempts)
                    return
                log.warning("leases.release_retried", lease=name, error=repr(exc), attempt=attempt)
                await asyncio.sleep(0.05 * attempt)

    async def stop(self, timeout: float) -> None:
        """Stop every runner (each finishes its batch), then hand the leases back. A round
        of balancing in progress is let finish first: it could otherwise renew (re-create)
        a lease just handed back, which would then stay held until it expired."""
        self._stopping = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        await self._stop_heartbeat()  # before its lease is handed back, never after
        async with self._turn:
            await self._stop_slots(deadline - loop.time())

    async def _stop_slots(self, timeout: float) -> None:
        for slot in self.slots.values():
            slot.stop()
        tasks = [s.task for s in self.slots.values() if s.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=max(0.0, timeout))
        for name in [n for n, slot in self.slots.items() if n in self.held or slot.task is not None]:
            await self._drop(name, wait=0.0)
        await self._hand_back(self.heartbeat_lease)


def _as_utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


# every batch's last statement (``renew``): built once
_RENEW = (
    update(consumer_leases)
    .where(
        consumer_leases.c.name == bindparam("lease"), consumer_leases.c.holder == bindparam("lease_holder")
    )
    .values(expires_at=bindparam("expires"))
)
