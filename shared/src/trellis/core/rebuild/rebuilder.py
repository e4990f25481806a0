"""Rebuilding a read view from the events: in place, or without downtime.

``rebuild`` (in place) empties a projection's tables and its processed-event records,
then feeds it every stored event it handles, in global order, in batches, each batch in
one transaction with its processed records, exactly as the live consumer would have.
Run it with the projection's live consumer stopped.

``Rebuild`` (without downtime) builds a shadow copy of the view while the live view
keeps serving, then swaps it in:

1. The shadow (``shadow.py``: the view's tables from the projection's metadata, plus the
   rebuild's own position and failures) is created, and ``projection_rebuilds`` notes the
   rebuild for ``trellis status``.
2. Events are read in order from the source (``event_sources.py``: the service's own
   event store by global position, or another service's stream by stream sequence),
   applied through the projection's ``handle_batch`` into the shadow in large batches
   (``shadow_apply.py``), a few batches a transaction, and the position saved in the
   shadow in the same transaction: an interrupted rebuild resumes exactly where it
   stopped. No processed-event records are written.
3. Once caught up, one transaction takes the consumer's hand-over lock, reads and
   applies what is left up to the head, swaps the tables in and records the watermark
   (``handover.py``): the live consumer skips what the new view holds and applies the
   rest, exactly once.

A rebuild never re-sends notifications or webhooks: it refuses reactions
(``Reaction``), which are not rebuildable. A handler failing during the rebuild follows the
consumer's policy: the event becomes a dead letter and later events of its aggregate are
parked behind it; at the swap those replace the live consumer's dead letters, which are
all for events the new view holds or has dead-lettered again.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import structlog
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from trellis.contracts.envelope import utcnow
from trellis.contracts.ids import uuid7
from trellis.contracts.subjects import Subjects
from trellis.core.consuming.handover import GLOBAL_POSITION
from trellis.core.consuming.ledger import ConsumerLedger
from trellis.core.consuming.projection import Projection, lend_rebuild_memory
from trellis.core.rebuild.event_sources import EventSource, SourceEvent
from trellis.core.rebuild.shadow import ShadowTables, TableDiff
from trellis.core.rebuild.shadow_apply import GoThroughAlone, ShadowApplier
from trellis.core.store.event_store import EventStore
from trellis.core.store.sessions import session_factory
from trellis.core.store.tables import projection_rebuilds

log = structlog.get_logger("trellis.rebuild")

Progress = Callable[[int, int, int], None]  # position, head, events applied


async def rebuild(
    projection: Projection,
    store: EventStore,
    *,
    batch_size: int = 1000,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Rebuild ``projection`` in place from scratch; returns the number of events applied."""
    if not isinstance(projection, Projection):
        raise NotRebuildable(projection.name)
    ledger = ConsumerLedger(store.sessions, projection.name)
    async with store.sessions() as session, session.begin():
        await projection.clear(session)
        await ledger.forget_processed(session)
    head = await store.head()
    applied = 0
    async for batch in store.iterate(0, batch_size=batch_size):
        async with store.sessions() as session, session.begin():
            handled = [store.registry.recorded(e) for e in batch if projection.handles(e.event_type)]
            await ledger.apply_all(session, projection, handled)
            applied += len(handled)
        if progress is not None:
            progress(batch[-1].global_position or 0, head)
    return applied


class NotRebuildable(Exception):
    """The projection has side effects (it appends events, sends messages): never replayed."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"{name} is a reaction, not rebuildable: it has side effects (it appends events or makes "
            "notifications and webhooks go out), and a rebuild would cause them again"
        )


class RebuildRefused(Exception):
    """The rebuild cannot go on as asked (say its view's tables changed since it started)."""


@dataclass(frozen=True)
class RebuildState:
    """A rebuild in progress, as noted in ``projection_rebuilds`` (position refreshed every
    few seconds; the shadow holds the exact one)."""

    rebuild_id: str
    kind: str
    position: int
    applied: int
    fingerprint: str
    operator: str
    started_at: dt.datetime
    updated_at: dt.datetime


@dataclass
class RebuildResult:
    """What a rebuild did: swapped (or, for a dry run, how the views differ)."""

    projection: str
    rebuild_id: str
    kind: str
    watermark: int
    applied: int
    dead_lettered: int
    resumed_from: int | None
    swapped: bool
    seconds: float
    differences: list[TableDiff] | None = None


class Rebuild:
    """Rebuilds one projection's view beside the live one and swaps it in (see the module doc).

    ``engine`` is the service's; on SQLite the rebuild opens its own connection to the same
    file, with the shadow file attached. ``batch_size`` events are read and applied at once
    (what a rebuild holds in memory: about 3 KB an event, twice that where the next page is
    read ahead); a transaction takes batches up to ``commit_every`` events, which a
    projection may write once (``rebuild_commits_after``), and is what an interrupted
    rebuild goes through again.
    """

    def __init__(
        self,
        projection: Projection,
        *,
        engine: AsyncEngine,
        source: EventSource,
        subjects: Subjects,
        operator: str = "",
        batch_size: int = 50_000,
        commit_every: int = 1_000_000,
        lock_timeout: float = 5.0,
        hand_over_attempts: int = 5,
        report_every: float = 2.0,
    ) -> None:
        self.projection = projection
        self.name = projection.name
        self.engine = engine
        self.main = session_factory(engine)
        self.ledger = ConsumerLedger(self.main, self.name)
        self.source = source
        self.subjects = subjects
        self.operator = operator or "unknown"
        self.batch_size = batch_size
        self.commit_every = commit_every
        self.lock_timeout = lock_timeout
        self.hand_over_attempts = hand_over_attempts
        self.report_every = report_every
        self._shadow: ShadowTables | None = None
        self._applier_: ShadowApplier | None = None
        self._reported = 0.0

    async def shadow(self) -> ShadowTables:
        if self._shadow is None:
            self._shadow = await ShadowTables.of(self.engine, self.projection.tables, self.name)
            self._applier_ = ShadowApplier(self.projection, self._shadow, self.subjects)
        return self._shadow

    @property
    def _applier(self) -> ShadowApplier:
        assert self._applier_ is not None, "shadow() first"
        return self._applier_

    async def state(self) -> RebuildState | None:
        r = projection_rebuilds.c
        async with self.main() as session:
            row = (await session.execute(select(projection_rebuilds).where(r.consumer == self.name))).first()
        if row is None:
            return None
        return RebuildState(
            row.rebuild_id,
            row.kind,
            int(row.position),
            int(row.applied),
            row.fingerprint,
            row.operator,
            row.started_at,
            row.updated_at,
        )

    async def discard(self) -> bool:
        """Drop the shadow copy and forget the rebuild in progress; whether there was one."""
        shadow = await self.shadow()
        async with self.main() as session, session.begin():
            found = await session.execute(
                delete(projection_rebuilds).where(projection_rebuilds.c.consumer == self.name)
            )
            if shadow.dialect == "postgresql":
                await shadow.drop(session)
        shadow.remove_file()
        return bool(cast("CursorResult[Any]", found).rowcount)

    async def run(
        self, *, from_scratch: bool = False, dry_run: bool = False, progress: Progress | None = None
    ) -> RebuildResult:
        """Build (or resume) the shadow copy, catch up, then swap it in, or compare it (dry run)."""
        if not isinstance(self.projection, Projection):
            raise NotRebuildable(self.name)
        started = time.monotonic()
        shadow = await self.shadow()
        noted = await self.state()
        if noted is not None and (
            noted.fingerprint != shadow.fingerprint() or noted.kind != self.source.kind
        ):
            if not from_scratch:
                raise RebuildRefused(
                    f"the rebuild of {self.name} in progress was started for other table definitions "
                    "(or another source): start again with --from-scratch"
                )
        if noted is not None and (from_scratch or not shadow.exists_on_disk()):
            await self.discard()
            noted = None
        async with shadow.sessions(self.engine) as sessions:
            resumed = await self._resume(sessions, noted)
            if resumed is None:
                rebuild_id, position, applied = await self._start(sessions), 0, 0
            else:
                rebuild_id, position, applied = resumed
                log.info("rebuild.resumed", projection=self.name, position=position)
            await self._applier.load_parked(sessions)
            position, applied = await self._catch_up(sessions, position, applied, progress)
            if dry_run:
                return await self._compare(sessions, rebuild_id, position, applied, resumed, started)
            position, applied, dead_lettered = await self._hand_over_retrying(sessions, position, applied)
        shadow.remove_file()
        if progress:
            progress(position, position, applied)
        if self.source.kind == GLOBAL_POSITION:
            await self.ledger.forget_covered(position)
        log.info("rebuild.swapped", projection=self.name, watermark=position, applied=applied)
        return RebuildResult(
            self.name,
            rebuild_id,
            self.source.kind,
            position,
            applied,
            dead_lettered,
            resumed[1] if resumed else None,
            swapped=True,
            seconds=time.monotonic() - started,
        )

    async def _resume(
        self, sessions: async_sessionmaker[AsyncSession], noted: RebuildState | None
    ) -> tuple[str, int, int] | None:
        """(rebuild id, position, applied) of the shadow to go on with, if it is whole."""
        if noted is None:
            return None
        shadow = await self.shadow()
        async with sessions() as session:
            if not await shadow.exists(session):
                return None
            row = (await session.execute(select(shadow.state))).first()
        if row is None or row.rebuild_id != noted.rebuild_id:
            return None
        return row.rebuild_id, int(row.position), int(row.applied)

    async def _start(self, sessions: async_sessionmaker[AsyncSession]) -> str:
        shadow = await self.shadow()
        rebuild_id, now = str(uuid7()), utcnow()
        async with self.main() as session, session.begin():
            await session.execute(
                delete(projection_rebuilds).where(projection_rebuilds.c.consumer == self.name)
            )
            await session.execute(
                insert(projection_rebuilds).values(
                    consumer=self.name,
                    rebuild_id=rebuild_id,
                    kind=self.source.kind,
                    position=0,
                    applied=0,
                    fingerprint=shadow.fingerprint(),
                    operator=self.operator,
                    started_at=now,
                    updated_at=now,
                )
            )
        async with sessions() as session, session.begin():
            await shadow.create(session, rebuild_id)
        log.info("rebuild.started", projection=self.name, shadow=shadow.names, rebuild_id=rebuild_id)
        return rebuild_id

    async def _catch_up(
        self,
        sessions: async_sessionmaker[AsyncSession],
        position: int,
        applied: int,
        progress: Progress | None,
    ) -> tuple[int, int]:
        """Passes, each to the head as it was when the pass began. A pass that found little to
        do means the rest fits in the hand-over (which holds the live consumer back while it
        runs); writes coming faster than the rebuild are handed over after a few passes."""
        memory: dict[str, Any] = {}  # rows a projection keeps between batches (``rebuild_memory``)
        reader = _Reader(self.source, self.batch_size)
        alone_until = -1  # one batch a transaction up to here: a batch failed behind others
        try:
            for attempt in range(1, _PASSES + 1):
                async with sessions() as session:
                    head = await self.source.head(session)
                before = applied
                reached = False
                while not reached:
                    with _collector_paused():
                        try:
                            position, applied, reached = await self._transaction(
                                sessions,
                                reader,
                                memory,
                                position,
                                applied,
                                head,
                                alone=position < alone_until,
                                progress=progress,
                            )
                        except _GoneThroughAgain as again:
                            memory.clear()  # the transaction did not commit: neither did what it kept
                            alone_until = again.until
                            log.info("rebuild.batches_go_alone", projection=self.name, position=position)
                            continue
                        except BaseException:
                            memory.clear()
                            raise
                    await self._report(position, applied, force=False)
                if applied - before < self.batch_size or attempt == _PASSES:
                    break
        finally:  # interrupted too: note where the shadow is (best effort)
            await reader.close()
            with contextlib.suppress(Exception):
                await self._report(position, applied, force=True)
        return position, applied

    async def _transaction(
        self,
        sessions: async_sessionmaker[AsyncSession],
        reader: _Reader,
        memory: dict[str, Any],
        position: int,
        applied: int,
        head: int,
        *,
        alone: bool,
        progress: Progress | None,
    ) -> tuple[int, int, bool]:
        """Batches up to ``commit_every`` events (one, ``alone``) in one transaction, with the
        position they reached: (position, applied, whether the head is reached). ``progress``
        hears of every batch (a progress bar); ``trellis status`` of what commits."""
        batches = 1 if alone else max(1, self.commit_every // self.batch_size)
        reached = False
        async with sessions() as session, session.begin():
            for n in range(batches):
                events, scanned, reached = await reader.page(position, head, session)
                lend_rebuild_memory(session, memory, commits_after=reached or n == batches - 1)
                try:
                    applied += await self._applier.apply(session, events, alone=n == 0)
                except GoThroughAlone as exc:
                    raise _GoneThroughAgain(scanned) from exc
                del events
                position = max(position, scanned)
                if progress:
                    progress(position, max(head, position), applied)
                if reached:
                    break
            await self._save(session, position, applied)
        return position, applied, reached

    async def _save(self, session: AsyncSession, position: int, applied: int) -> None:
        shadow = await self.shadow()
        await session.execute(update(shadow.state).values(position=position, applied=applied))

    async def _report(self, position: int, applied: int, *, force: bool) -> None:
        """Refresh the position ``trellis status`` shows (not atomic with the shadow: a note)."""
        if not force and time.monotonic() - self._reported < self.report_every:
            return
        self._reported = time.monotonic()
        async with self.main() as session, session.begin():
            await session.execute(
                update(projection_rebuilds)
                .where(projection_rebuilds.c.consumer == self.name)
                .values(position=position, applied=applied, updated_at=utcnow())
            )

    async def _hand_over_retrying(
        self, sessions: async_sessionmaker[AsyncSession], position: int, applied: int
    ) -> tuple[int, int, int]:
        for attempt in range(1, self.hand_over_attempts + 1):
            await self._applier.load_parked(sessions)  # as committed: a failed try rolled back
            try:
                return await self._hand_over(sessions, position, applied)
            except DBAPIError as exc:  # a lock timeout: a reader held the live tables
                if attempt == self.hand_over_attempts or isinstance(exc, IntegrityError):
                    raise
                log.warning("rebuild.hand_over_retried", projection=self.name, error=str(exc.orig))
                await asyncio.sleep(0.5 * attempt)
        raise AssertionError("unreachable")

    async def _hand_over(
        self, sessions: async_sessionmaker[AsyncSession], position: int, applied: int
    ) -> tuple[int, int, int]:
        """Under the consumer's lock: apply the rest up to the head, swap, record the watermark."""
        shadow = await self.shadow()
        async with sessions() as session, session.begin():
            if shadow.dialect == "postgresql":
                await self.ledger.lock(session, exclusive=True)
                await session.execute(text(f"SET LOCAL lock_timeout = '{int(self.lock_timeout * 1000)}ms'"))
            else:  # the first statement writes the service's file: its write lock, held to the commit
                await session.execute(
                    update(projection_rebuilds)
                    .where(projection_rebuilds.c.consumer == self.name)
                    .values(updated_at=utcnow())
                )
            head = await self.source.head(session)  # read under the lock: see handover.py
            reached = False
            while not reached:
                events, scanned, reached = await self.source.fetch(
                    position, self.batch_size, until=head, session=session
                )
                applied += await self._applier.apply(session, events)
                position = max(position, scanned)
            dead_lettered = int(
                (await session.execute(select(func.count()).select_from(shadow.failures))).scalar_one()
            )
            await shadow.swap(session)
            await self._finish_swap(session, position)
        return position, applied, dead_lettered

    async def _finish_swap(self, session: AsyncSession, position: int) -> None:
        """The rest of the swap's transaction: the watermark, dead letters and held events as
        the swapped-in view makes them (the ledger's), and the rebuild's bookkeeping gone."""
        shadow = await self.shadow()
        rebuild_id = (await session.execute(select(shadow.state.c.rebuild_id))).scalar_one()
        await self.ledger.hand_over(
            session,
            failures=shadow.failures,
            rebuild_id=rebuild_id,
            kind=self.source.kind,
            position=position,
            operator=self.operator,
        )
        await session.execute(delete(projection_rebuilds).where(projection_rebuilds.c.consumer == self.name))
        if shadow.dialect == "postgresql":
            await shadow.drop(session)  # what is left of it: the rebuild's bookkeeping

    async def _compare(
        self,
        sessions: async_sessionmaker[AsyncSession],
        rebuild_id: str,
        position: int,
        applied: int,
        resumed: tuple[str, int, int] | None,
        started: float,
    ) -> RebuildResult:
        shadow = await self.shadow()
        async with sessions() as session:
            differences = await shadow.diff(session)
            dead_lettered = int(
                (await session.execute(select(func.count()).select_from(shadow.failures))).scalar_one()
            )
        return RebuildResult(
            self.name,
            rebuild_id,
            self.source.kind,
            position,
            applied,
            dead_lettered,
            resumed[1] if resumed else None,
            swapped=False,
            seconds=time.monotonic() - started,
            differences=differences,
        )


class _GoneThroughAgain(Exception):
    """A transaction's batches go through again, one a transaction, up to ``until``."""

    def __init__(self, until: int) -> None:
        super().__init__(until)
        self.until = until


class _Reader:
    """The source's pages in order; where it can (``reads_ahead``), the next one is read, and
    decoded, while this one is applied: a page's reads wait on the database, and so do its
    writes, and one after the other they add up. Two pages are in memory at once then."""

    def __init__(self, source: EventSource, batch_size: int) -> None:
        self.source = source
        self.batch_size = batch_size
        self._ahead: asyncio.Task[tuple[list[SourceEvent], int, bool]] | None = None
        self._ahead_of = (-1, -1)  # (after, until) of the page read ahead

    async def page(
        self, after: int, until: int, session: AsyncSession
    ) -> tuple[list[SourceEvent], int, bool]:
        ahead, self._ahead = self._ahead, None
        if ahead is not None and self._ahead_of == (after, until):
            found = await ahead
        else:  # none read ahead, or not from here (a transaction rolled back)
            if ahead is not None:
                await _abandon(ahead)
            found = await self.source.fetch(after, self.batch_size, until=until, session=session)
        _, scanned, reached = found
        if not reached and self.source.reads_ahead:
            self._ahead_of = (scanned, until)
            self._ahead = asyncio.create_task(self.source.fetch(scanned, self.batch_size, until=until))
        return found

    async def close(self) -> None:
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            await _abandon(ahead)


async def _abandon(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait until it has let go of what it holds (its connection); its
    own failure, if it had one, is of no interest any more."""
    task.cancel()
    await asyncio.wait([task])
    if not task.cancelled():
        task.exception()  # retrieved: not reported as never retrieved


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a batch is in memory, one young collection after.

    A batch holds a few hundred thousand live objects (rows, envelopes, events) that the
    collector would scan again and again, promoting them to older generations and
    triggering full collections: a tenth of a rebuild's time (bench/rebuild.py). They are
    freed by reference counting once the batch is done; what a batch left in cycles goes
    with the collection that follows it. The rebuild runs in the operator's process.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
            gc.collect(0)


_PASSES = 5  # catch-up passes before the hand-over at most
