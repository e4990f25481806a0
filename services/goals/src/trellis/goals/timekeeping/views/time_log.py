"""``TimeLog``: the time log kept from the timesheet's events, in the appending transaction.

The core's projections follow a stream, and these events never reach one (they are
private). So the log is written by an append hook of the goals service's event store
(``EventStore.after_append``, as the core's inline projections are): whatever appends a
timesheet event, the log changes with it, in the same commit, and reads its own writes.
It is a view all the same: ``rebuild`` makes a person's log again from their events.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import delete, insert, update

from trellis.contracts.envelope import DomainEvent, EventEnvelope, EventRegistry
from trellis.contracts.timekeeping import (
    TimeEntryChanged,
    TimeEntryDeleted,
    TimeEntryLogged,
    TimesheetErased,
)
from trellis.core.store.event_store import EventStore
from trellis.core.store.tenancy import scoped
from trellis.core.store.transaction import Transaction
from trellis.goals.timekeeping.domain.entry import Content
from trellis.goals.timekeeping.domain.timesheet import Timesheet, timesheet_id
from trellis.goals.timekeeping.views.tables import time_entries


class Opener(Protocol):
    """Opens an entry's sealed content with its key (``application/entry_keys.py``)."""

    async def open(
        self, session: Transaction, tenant_id: str, entry_id: str, sealed: str
    ) -> Content | None: ...


class TimeLog:
    def __init__(self, registry: EventRegistry, opener: Opener) -> None:
        self.registry = registry
        self.opener = opener

    async def after_append(self, session: Transaction, stored: list[EventEnvelope]) -> None:
        """The append hook: applies the timesheet events among ``stored``."""
        for envelope in stored:
            if envelope.aggregate_type == Timesheet.aggregate_type:
                await self.apply(session, self.registry.decode(envelope), envelope)

    async def apply(self, session: Transaction, event: DomainEvent, envelope: EventEnvelope) -> None:
        tenant = envelope.tenant_id
        c = time_entries.c
        match event:
            case TimeEntryLogged():
                content = await self._content(session, tenant, event.entry_id, event.sealed)
                await session.execute(
                    insert(time_entries).values(
                        entry_id=event.entry_id,
                        tenant_id=tenant,
                        person_id=event.person_id,
                        day=event.day,
                        minutes=event.minutes,
                        **_columns(content),
                        logged_at=envelope.occurred_at,
                        changed_at=None,
                    )
                )
            case TimeEntryChanged():
                content = await self._content(session, tenant, event.entry_id, event.sealed)
                await session.execute(
                    scoped(tenant, update(time_entries).where(c.entry_id == event.entry_id)).values(
                        day=event.day,
                        minutes=event.minutes,
                        **_columns(content),
                        changed_at=envelope.occurred_at,
                    )
                )
            case TimeEntryDeleted():
                await session.execute(
                    scoped(tenant, delete(time_entries).where(c.entry_id == event.entry_id))
                )
            case TimesheetErased():
                await session.execute(
                    scoped(tenant, delete(time_entries).where(c.person_id == event.person_id))
                )

    async def rebuild(self, session: Transaction, store: EventStore, tenant_id: str, person_id: str) -> None:
        """Make ``person_id``'s log again from their timesheet's events."""
        c = time_entries.c
        await session.execute(scoped(tenant_id, delete(time_entries).where(c.person_id == person_id)))
        recorded = await store.load(session, timesheet_id(tenant_id, person_id))
        if not recorded or recorded[0].tenant_id != tenant_id:
            return
        for r in recorded:
            await self.apply(session, r.event, r.envelope)

    async def _content(
        self, session: Transaction, tenant_id: str, entry_id: str, sealed: str
    ) -> Content | None:
        return await self.opener.open(session, tenant_id, entry_id, sealed)


def _columns(content: Content | None) -> dict[str, str | None]:
    """The subject and the note, or nothing where the key is gone (only a rebuild meets one:
    an entry whose key is deleted is deleted or erased by a later event)."""
    if content is None:
        return {"goal_id": None, "key_result_id": None, "label": None, "note": ""}
    subject = content.subject
    return {
        "goal_id": subject.goal_id,
        "key_result_id": subject.key_result_id,
        "label": subject.label,
        "note": content.note,
    }
