"""The append lock, and the one lock order on PostgreSQL: the append lock before deadline rows.

On PostgreSQL every append takes a transaction-scoped advisory lock, so global positions
commit in the order they were handed out (``event_store``). A deadline handler runs in a
transaction that has claimed its deadline rows and then appends; a command appends and
then moves or cancels deadlines. Taken in those two orders, the locks deadlock: the
scheduler holds a deadline row and waits for the append lock, the command holds the
append lock and waits for the row (PostgreSQL aborts one of them, and a client saw a 500).

So every transaction takes the append lock *before* it touches a deadline row: the
scheduler before it claims due rows, ``deadlines.schedule`` and ``deadlines.cancel``
before they write. A transaction takes it at most once (the lock is re-entrant, but each
take is a round trip); it is released when the transaction ends. SQLite has one writer at
a time and needs none of this.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from trellis.core.store.transaction import Transaction

OUTBOX_CHANNEL = "trellis_outbox"  # NOTIFY'd with the schema name by every append

_KEY = "hashtext(current_schema() || '.trellis_events')"
LOCK = text(f"SELECT pg_advisory_xact_lock({_KEY})")
# What an append takes, as a FROM item of its single statement (``event_store``): the lock
# and the wake-up of any process's relay at commit. Every row the append inserts is joined
# with this one row, so the lock is taken before any row is given its position.
LOCKED_AND_NOTIFIED = (
    f"(SELECT pg_advisory_xact_lock({_KEY}) AS locked,"
    f" pg_notify('{OUTBOX_CHANNEL}', current_schema()) AS notified)"
)

_HELD = "trellis.append_lock_held"


def take(info: dict[Any, Any], connection: Connection) -> None:
    """Take the append lock in the transaction whose bookkeeping is ``info`` unless it holds
    it (sync side)."""
    if not info.get(_HELD):
        connection.execute(LOCK)
    info[_HELD] = True


def taken_by_statement(info: dict[Any, Any]) -> None:
    """Record that the transaction whose bookkeeping is ``info`` took the lock in a
    statement of its own making (``LOCKED_AND_NOTIFIED``)."""
    info[_HELD] = True


async def hold(session: Transaction) -> None:
    """Take the append lock in ``session``'s transaction (PostgreSQL; nothing on SQLite)."""
    if session.info.get(_HELD) or session.get_bind().dialect.name != "postgresql":
        return
    await session.execute(LOCK)
    session.info[_HELD] = True


@sa_event.listens_for(Session, "after_commit")
def _released_at_commit(session: Session) -> None:
    session.info.pop(_HELD, None)


@sa_event.listens_for(Session, "after_soft_rollback")
def _released_at_rollback(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:  # a savepoint's rollback keeps the lock
        session.info.pop(_HELD, None)
