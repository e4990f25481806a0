"""Each time entry's own key, which seals what the entry is on and its note in its events.

The event store is append-only: an entry's events stay in it for good. So the text a
person writes (a label, a note, which goal) goes into the events sealed, as a Fernet token
(AES-128-CBC with HMAC-SHA256, from ``cryptography``) under a key made for that entry
alone and kept here, outside the events. Deleting the entry or erasing the timesheet
deletes its key in the same transaction as the event that records it, and what was
sealed can never be opened again: in the store, in a copy of the store, by an operator.
(Crypto-shredding. A backup of this table taken before the deletion still holds the key
until that backup expires; the read view's row holds the text in the clear until then too.)

These keys are not a read view: nothing derives them from events and nothing rebuilds
them. They are not secret from whoever can read this database either (the time log
beside them holds the same text in the clear); they exist so that erasing can be done.
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Column, DateTime, Index, MetaData, String, Table, delete, insert, select

from trellis.contracts.envelope import utcnow
from trellis.core.store.tenancy import scoped
from trellis.core.store.transaction import Transaction
from trellis.goals.timekeeping.domain.entry import Content

PREFIX = "fernet:"

metadata = MetaData()

time_entry_keys = Table(
    "time_entry_keys",
    metadata,
    Column("entry_id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("person_id", String(64), nullable=False),
    Column("key", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_time_entry_keys_person", "tenant_id", "person_id"),
)


def new_key() -> str:
    return Fernet.generate_key().decode()


def seal(key: str, content: Content) -> str:
    plain = json.dumps(content.to_json(), separators=(",", ":"), ensure_ascii=False)
    return PREFIX + Fernet(key.encode()).encrypt(plain.encode()).decode()


def unseal(key: str, sealed: str) -> Content | None:
    """The content, or None if ``key`` does not open it."""
    if not sealed.startswith(PREFIX):
        return None
    try:
        data: Any = json.loads(Fernet(key.encode()).decrypt(sealed[len(PREFIX) :].encode()))
    except (InvalidToken, ValueError):
        return None
    return Content.from_json(data) if isinstance(data, dict) else None


class EntryKeys:
    """The keys of the time entries, in the goals service's database."""

    async def store(
        self, session: Transaction, tenant_id: str, person_id: str, entry_id: str, key: str
    ) -> None:
        await session.execute(
            insert(time_entry_keys).values(
                entry_id=entry_id, tenant_id=tenant_id, person_id=person_id, key=key, created_at=utcnow()
            )
        )

    async def key_of(self, session: Transaction, tenant_id: str, entry_id: str) -> str | None:
        c = time_entry_keys.c
        found = await session.execute(scoped(tenant_id, select(c.key).where(c.entry_id == entry_id)))
        return found.scalar()

    async def open(self, session: Transaction, tenant_id: str, entry_id: str, sealed: str) -> Content | None:
        """What ``sealed`` holds, while the entry's key exists; None once it is deleted."""
        key = await self.key_of(session, tenant_id, entry_id)
        return unseal(key, sealed) if key else None

    async def forget(self, session: Transaction, tenant_id: str, entry_id: str) -> None:
        c = time_entry_keys.c
        await session.execute(scoped(tenant_id, delete(time_entry_keys).where(c.entry_id == entry_id)))

    async def forget_all(self, session: Transaction, tenant_id: str, person_id: str) -> None:
        c = time_entry_keys.c
        await session.execute(scoped(tenant_id, delete(time_entry_keys).where(c.person_id == person_id)))
