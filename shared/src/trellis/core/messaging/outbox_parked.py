"""Outbox rows NATS can never accept: how they are recognised, parked, shown and resolved.

A row is *unpublishable* when no retry can ever get it onto the stream as it is: its
message (body and the relay's headers) is bigger than the server's ``max_payload``
(the client knows it from the server's INFO), the stream's own ``max_msg_size`` refuses it,
or its subject is not a valid publish subject or not one the service's stream captures.
Such a row is *parked* (``outbox.parked_at``, the reason in ``last_error``) and logged at
error level; the relay goes on with the other rows.

Order per aggregate: the rows of the parked row's aggregate that come after it *wait*
behind it (they stay unpublished and unparked, and the relay skips them: they are *held*).
They are neither published before it nor parked themselves. An operator then, after a fix
(a bigger ``max_payload``, the stream's subjects), **retries** it, or **drops** it (its
event stays in the event store, never published, and the followers never see it).
Either way the parked row (when retried) and the rows held behind it are moved, in their
order, to the end of the outbox (deleted and inserted again, with new ids, in one
transaction): so they are published after everything already on the stream, and the
relay's recovery ("every unpublished row up to the stream's last message is already on
it", ``outbox.py``) stays true, as no row it could have skipped keeps an id below a
published one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from trellis.core.store.tables import events, outbox

log = structlog.get_logger("trellis.outbox")

# The relay's headers: an event id and a stream sequence of at most 20 digits.
_HEADERS_SIZE = len(
    b"NATS/1.0\r\nNats-Msg-Id: " + b"0" * 36 + b"\r\nNats-Expected-Last-Sequence: " + b"0" * 20 + b"\r\n\r\n"
)
_VALID_SUBJECT = re.compile(r"[^\s.*>]+(?:\.[^\s.*>]+)*")  # tokens without spaces or wildcards

# JetStream's "message size exceeds maximum allowed" (the stream's max_msg_size).
PERMANENT_API_ERRORS = frozenset({10054})


class Publishability:
    """Why NATS will never accept a row as it is (None if it may), for one pass's limits.

    Built when the limits change (the relay keeps one): the stream's subject patterns
    become one compiled expression, so checking a row costs two matches and a length,
    not a walk over every pattern.
    """

    def __init__(
        self, *, max_payload: int | None, stream_subjects: list[str], max_msg_size: int = -1
    ) -> None:
        self.max_payload = max_payload
        self.max_msg_size = max_msg_size
        self.stream_subjects = stream_subjects
        self._captured = (
            re.compile("|".join(f"(?:{_as_regex(p)})" for p in stream_subjects)) if stream_subjects else None
        )

    def __call__(self, row: Any) -> str | None:
        subject = row.subject or ""
        if _VALID_SUBJECT.fullmatch(subject) is None:
            return f"invalid subject {subject[:200]!r}"
        if self._captured is not None and self._captured.fullmatch(subject) is None:
            captured = ", ".join(self.stream_subjects)
            return f"subject {subject[:200]!r} is not captured by the stream ({captured})"
        size = len(row.body) + _HEADERS_SIZE
        payload, msg_size = self.max_payload, self.max_msg_size
        if payload and size > payload:
            return f"message of {size:,} bytes exceeds the server's max_payload of {payload:,} bytes"
        if msg_size > 0 and size > msg_size:
            return f"message of {size:,} bytes exceeds the stream's max_msg_size of {msg_size:,} bytes"
        return None


def _as_regex(pattern: str) -> str:
    """A NATS subject pattern as a regular expression: ``*`` is one token, a final ``>``
    one or more."""
    parts = []
    for token in pattern.split("."):
        parts.append({"*": r"[^.]+", ">": r".+"}.get(token, re.escape(token)))
    return r"\.".join(parts)


def max_payload_of(js: Any) -> int | None:
    """The connected server's max_payload (from its INFO), if the context tells."""
    nc = getattr(js, "_nc", None)
    value = getattr(nc, "max_payload", None)
    return int(value) if isinstance(value, int) else None


def _unpublished_parked() -> Any:
    return (outbox.c.published_at.is_(None)) & (outbox.c.parked_at.is_not(None))


async def any_parked(session: AsyncSession) -> bool:
    """Whether some row is parked (only then is ``behind_parked`` worth asking)."""
    found = await session.execute(select(outbox.c.id).where(_unpublished_parked()).limit(1))
    return found.first() is not None


def behind_parked() -> Any:
    """Whether an outbox row waits behind a parked row of its aggregate (a correlated test)."""
    parked, parked_event, own_event = outbox.alias("parked"), events.alias("pe"), events.alias("oe")
    return (
        select(parked.c.id)
        .select_from(
            parked.join(parked_event, parked_event.c.event_id == parked.c.event_id).join(
                own_event, own_event.c.aggregate_id == parked_event.c.aggregate_id
            )
        )
        .where(
            parked.c.published_at.is_(None),
            parked.c.parked_at.is_not(None),
            parked.c.id < outbox.c.id,
            own_event.c.event_id == outbox.c.event_id,
        )
        .exists()
    )


def held_events(aggregates: set[str]) -> Any:
    """The event ids of ``aggregates``."""
    return select(events.c.event_id).where(events.c.aggregate_id.in_(sorted(aggregates)))


async def park(session: AsyncSession, parked: list[tuple[Any, str]], now: Any) -> None:
    for row, reason in parked:
        await session.execute(
            outbox.update()
            .where(outbox.c.id == row.id)
            .values(parked_at=now, last_error=reason, attempts=outbox.c.attempts + 1)
        )
        log.error(
            "outbox.row_parked",
            event_id=row.event_id,
            subject=row.subject[:200],
            size=len(row.body),
            reason=reason,
            resolve="trellis outbox dead | retry | drop",
        )


@dataclass(frozen=True)
class OutboxFigures:
    unpublished: int  # every row not on the stream yet, parked and held ones included
    oldest: Any  # created_at of the oldest of them
    dead: int  # parked rows
    held: int  # rows waiting behind a parked row of their aggregate


async def figures(session: AsyncSession) -> OutboxFigures:
    count, oldest = (
        await session.execute(
            select(func.count(), func.min(outbox.c.created_at)).where(outbox.c.published_at.is_(None))
        )
    ).one()
    dead = (await session.execute(select(func.count()).where(_unpublished_parked()))).scalar_one()
    held = 0
    if dead:
        held = (
            await session.execute(
                select(func.count()).where(
                    outbox.c.published_at.is_(None), outbox.c.parked_at.is_(None), behind_parked()
                )
            )
        ).scalar_one()
    return OutboxFigures(int(count), oldest, int(dead), int(held))


async def dead_rows(session: AsyncSession) -> list[dict[str, Any]]:
    """Every parked row, oldest first, with its reason and how many rows wait behind it."""
    result = await session.execute(
        select(
            outbox.c.id,
            outbox.c.event_id,
            outbox.c.subject,
            func.length(outbox.c.body).label("size"),
            outbox.c.last_error,
            outbox.c.parked_at,
            outbox.c.created_at,
            events.c.aggregate_id,
            events.c.event_type,
            events.c.tenant_id,
        )
        .select_from(outbox.join(events, events.c.event_id == outbox.c.event_id))
        .where(_unpublished_parked())
        .order_by(outbox.c.id)
    )
    found = []
    for row in result.mappings().all():
        entry = dict(row)
        entry["held_behind"] = len(await _held_behind(session, row["aggregate_id"], row["id"]))
        found.append(entry)
    return found


async def _held_behind(session: AsyncSession, aggregate_id: str, after: int) -> list[Any]:
    result = await session.execute(
        select(outbox)
        .where(
            outbox.c.published_at.is_(None),
            outbox.c.parked_at.is_(None),
            outbox.c.id > after,
            outbox.c.event_id.in_(held_events({aggregate_id})),
        )
        .order_by(outbox.c.id)
    )
    return list(result.all())


async def resolve(session: AsyncSession, event_id: str, *, retry: bool) -> dict[str, Any] | None:
    """Retry (``retry``) or drop the parked row of ``event_id``; None if no such parked row.

    Runs in the caller's transaction, after waiting for the relay's turn on PostgreSQL (so
    no pass is in flight while rows move).
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.trellis_relay'))")
        )
    found = (
        await session.execute(
            select(outbox, events.c.aggregate_id)
            .select_from(outbox.join(events, events.c.event_id == outbox.c.event_id))
            .where(_unpublished_parked(), outbox.c.event_id == event_id)
        )
    ).first()
    if found is None:
        return None
    held = await _held_behind(session, found.aggregate_id, found.id)
    moved = ([found] if retry else []) + held
    await session.execute(delete(outbox).where(outbox.c.id.in_([found.id, *(r.id for r in held)])))
    for r in moved:  # one by one: each takes the next id, in this order
        await session.execute(
            insert(outbox).values(
                event_id=r.event_id, subject=r.subject, body=r.body, created_at=r.created_at
            )
        )
    outcome = "retried" if retry else "dropped"
    log.warning(f"outbox.row_{outcome}", event_id=event_id, requeued=len(moved))
    return {
        "event_id": event_id,
        "aggregate_id": found.aggregate_id,
        "reason": found.last_error,
        "outcome": outcome,
        "requeued": len(moved),
    }
