"""Applying a rebuild's batches to the shadow copy, failures included (``replay.py``).

A batch goes through the projection's ``handle_batch`` in one savepoint, redirected to
the shadow tables (``shadow.py``). Should it fail, the batch is applied again one event
at a time, each in its own savepoint, as the live consumer does: an event whose handler
fails becomes one of the rebuild's dead letters (written in the shadow, in the batch's
transaction) and the later events of its aggregate are *parked* behind it, dead-lettered
too, so the view never applies an aggregate's events out of order. An event that could not
be decoded becomes a dead letter directly, and parks its aggregate too (as the live
consumer does) when its envelope names one. The database failing is not an event's fault:
that stops the rebuild, which resumes from its last committed batch. The database
refusing a row an event made (a constraint, a value out of range) is the event's fault:
it is dead-lettered, or that one event would stop every rebuild of the view, for every
tenant, for as long as it stays in the store.
"""

from __future__ import annotations

import structlog
from sqlalchemy import insert, select
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from trellis.contracts.envelope import utcnow
from trellis.contracts.subjects import Subjects
from trellis.core.consuming.projection import (
    Projection,
    lend_rebuild_memory,
    rebuild_commits_after,
    rebuild_memory,
)
from trellis.core.consuming.undecodable import Undecodable
from trellis.core.rebuild.event_sources import SourceEvent
from trellis.core.rebuild.shadow import ShadowTables

log = structlog.get_logger("trellis.rebuild")

FATAL = (DBAPIError,)  # the database failing is not the event's fault: stop (resumable)
REFUSED = (IntegrityError, DataError)  # the database refusing an event's row is: dead-letter it


class GoThroughAlone(Exception):
    """A batch failed behind others of its transaction, whose writes may be held back in the
    rebuild's memory: the transaction is rolled back and its batches gone through again,
    one a transaction, so that the failing one can fall back to one event at a time."""


def forget_rebuild_memory(session: AsyncSession) -> None:
    """Empty the rows a projection kept across batches (``rebuild_memory``) and take the
    room away from this transaction: they may hold what a rolled-back batch changed."""
    memory = rebuild_memory(session)
    if memory is not None:
        memory.clear()
    lend_rebuild_memory(session, None)


def _fatal(exc: Exception) -> bool:
    return isinstance(exc, FATAL) and not isinstance(exc, REFUSED)


class ShadowApplier:
    """Applies batches of one projection to its shadow copy; keeps the parked aggregates."""

    def __init__(self, projection: Projection, shadow: ShadowTables, subjects: Subjects) -> None:
        self.projection = projection
        self.name = projection.name
        self.shadow = shadow
        self.subjects = subjects
        self.parked: dict[str, str] = {}  # aggregate -> the event dead-lettered first

    async def load_parked(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        """Aggregates the rebuild has dead-lettered an event of, as committed (kept across a
        resume; a hand-over that rolled back forgets what it parked)."""
        f = self.shadow.failures.c
        async with sessions() as session:
            rows = await session.execute(
                select(f.aggregate_id, f.event_id).where(f.aggregate_id.is_not(None)).order_by(f.id)
            )
            parked: dict[str, str] = {}
            for aggregate, event_id in rows.all():
                parked.setdefault(aggregate, event_id)
        self.parked = parked

    async def apply(self, session: AsyncSession, events: list[SourceEvent], *, alone: bool = True) -> int:
        """Apply a batch to the shadow; failures become the rebuild's dead letters. How many applied.

        The events that apply go through ``handle_batch`` together, the others become dead
        letters in batch order, as long as no handler fails; if one does, the whole batch is
        gone through again one event at a time, in order, so an event parked by a failure
        is never one that came before it. That needs the batch ``alone`` in its transaction
        (the first of it): behind other batches, which may have held their writes back
        (``rebuild_commits_after``), it raises ``GoThroughAlone`` instead."""
        flush = rebuild_commits_after(session) and rebuild_memory(session) is not None
        if not events and not flush:
            return 0
        with self.shadow.redirect(session):
            parked = dict(self.parked)
            plain: list[SourceEvent] = []
            failed: list[tuple[SourceEvent, str]] = []
            for item in events:
                if (reason := self._failure(item, parked)) is None:
                    plain.append(item)
                else:
                    failed.append((item, reason))
            try:
                if plain or flush:  # an empty batch too writes what the batches before it held back
                    async with session.begin_nested():
                        await self.projection.handle_batch(session, [i.recorded for i in plain])  # type: ignore[misc]
            except Exception as exc:
                if _fatal(exc):
                    raise
                if not alone:
                    raise GoThroughAlone(str(exc)) from exc
                log.info("rebuild.batch_falls_back", projection=self.name, error=str(exc))
                forget_rebuild_memory(session)  # what the failed batch changed in it was rolled back
                return await self._apply_one_by_one(session, events)
            for item, reason in failed:
                await self._fail(session, item, reason)
            self.parked = parked
            return len(plain)

    def _failure(self, item: SourceEvent, parked: dict[str, str]) -> str | None:
        """Why ``item`` cannot be applied (and what it parks in ``parked``), or None."""
        if item.recorded is not None:
            aggregate = item.recorded.aggregate_id
            return self._parked_reason(parked, aggregate) if aggregate in parked else None
        reason = item.error or "undecodable"
        fields = self._fields(item)
        if fields.aggregate_id is None or fields.event_id is None:
            return reason
        if fields.aggregate_id in parked:
            return f"{self._parked_reason(parked, fields.aggregate_id)}; undecodable too: {reason}"
        parked[fields.aggregate_id] = fields.event_id
        return reason

    async def _apply_one_by_one(self, session: AsyncSession, items: list[SourceEvent]) -> int:
        applied = 0
        for item in items:
            recorded = item.recorded
            if recorded is None or recorded.aggregate_id in self.parked:
                reason = self._failure(item, self.parked)
                assert reason is not None
                await self._fail(session, item, reason)
                continue
            aggregate = recorded.aggregate_id
            try:
                async with session.begin_nested():
                    await self.projection.handle(session, recorded)
                applied += 1
            except Exception as exc:
                if _fatal(exc):
                    raise
                reason = f"{type(exc).__name__}: {exc}"
                log.warning(
                    "rebuild.dead_lettered",
                    projection=self.name,
                    event_id=str(recorded.event_id),
                    reason=reason,
                )
                await self._fail(session, item, reason)
                self.parked[aggregate] = str(recorded.event_id)
        return applied

    @staticmethod
    def _parked_reason(parked: dict[str, str], aggregate: str) -> str:
        return f"parked behind dead-lettered event {parked[aggregate]} of the same aggregate"

    @staticmethod
    def _fields(item: SourceEvent) -> Undecodable:
        """What the item's envelope tells, read leniently from the message when it has none."""
        envelope = item.envelope
        if envelope is None:
            message_id = (item.headers or {}).get("Nats-Msg-Id")
            return Undecodable.read(item.raw or b"", item.error or "", message_id=message_id)
        return Undecodable(
            item.error or "",
            event_id=str(envelope.event_id),
            event_type=envelope.event_type,
            tenant_id=envelope.tenant_id,
            aggregate_type=envelope.aggregate_type,
            aggregate_id=envelope.aggregate_id,
        )

    async def _fail(self, session: AsyncSession, item: SourceEvent, reason: str) -> None:
        envelope = item.envelope
        raw = item.raw if item.raw is not None else envelope.model_dump_json().encode() if envelope else b""
        subject = item.subject
        if subject is None and envelope is not None:
            subject = self.subjects.for_event(self.projection.source, envelope)
        fields = self._fields(item)
        await session.execute(
            insert(self.shadow.failures).values(
                consumer=self.name,
                event_id=fields.event_id,
                event_type=fields.event_type,
                tenant_id=fields.tenant_id,
                aggregate_id=fields.aggregate_id,
                subject=subject or "",
                stream_sequence=item.stream_sequence,
                deliveries=1,
                reason=reason[:4000],
                raw=raw,
                headers=item.headers or {},
                failed_at=utcnow(),
            )
        )
