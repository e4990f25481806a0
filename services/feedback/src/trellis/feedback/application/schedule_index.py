"""The write side's index of live check-in schedules, kept in the same transactions as their events.

Three questions must be answered *consistently with the events*, not with a read view
that lags them:

- does this report already have a live schedule? (one per report: it follows the report
  from manager to manager);
- which schedules involve this employee? (the org-change reaction, run the moment a
  manager change or offboarding arrives);
- how many check-ins has this pair missed in a row? (``CheckInMissed.consecutive_misses``).

So every command, deadline handler and reaction that changes a schedule or misses or
completes a check-in updates this table in its own transaction, like the deadline rows.
A row lives as long as its schedule: ending the schedule deletes it. It also remembers the
key of the schedule's armed "checkin-due" deadline, so a change or an end can cancel it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Column, Index, Integer, MetaData, String, Table, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from trellis.core.errors import ConcurrencyError, RuleViolation
from trellis.core.store.tenancy import scoped
from trellis.core.store.transaction import Transaction

metadata = MetaData()

checkin_schedule_index = Table(
    "checkin_schedule_index",
    metadata,
    Column("schedule_id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("manager_id", String(64), nullable=False),
    Column("report_id", String(64), nullable=False),
    Column("next_due_key", String(300)),
    Column("consecutive_misses", Integer, nullable=False, default=0),
    Index("ux_checkin_schedule_index_report", "tenant_id", "report_id", unique=True),
    Index("ix_checkin_schedule_index_manager", "tenant_id", "manager_id"),
)

_c = checkin_schedule_index.c


@dataclass(frozen=True)
class LiveSchedule:
    schedule_id: str
    manager_id: str
    report_id: str
    next_due_key: str | None


async def claim(
    session: Transaction, *, tenant_id: str, schedule_id: str, manager_id: str, report_id: str
) -> None:
    """Register a new live schedule; a report with one already is refused."""
    taken = await session.execute(scoped(tenant_id, select(_c.schedule_id).where(_c.report_id == report_id)))
    existing = taken.scalar()
    if existing is not None:
        raise RuleViolation(
            f"{report_id} already has a check-in schedule: change it instead",
            details={"schedule_id": existing},
        )
    try:
        async with session.begin_nested():
            await session.execute(
                insert(checkin_schedule_index).values(
                    schedule_id=schedule_id,
                    tenant_id=tenant_id,
                    manager_id=manager_id,
                    report_id=report_id,
                    consecutive_misses=0,
                )
            )
    except IntegrityError as exc:  # another schedule for the report committed meanwhile
        raise ConcurrencyError(f"{report_id} got a check-in schedule meanwhile: reload and retry") from exc


async def find(session: Transaction, schedule_id: str) -> LiveSchedule | None:
    row = (await session.execute(select(checkin_schedule_index).where(_c.schedule_id == schedule_id))).first()
    return _live(row) if row else None


async def involving(session: Transaction, tenant_id: str, employee_id: str) -> list[LiveSchedule]:
    """Live schedules where ``employee_id`` is the manager or the report."""
    rows = await session.execute(
        scoped(
            tenant_id,
            select(checkin_schedule_index)
            .where(or_(_c.manager_id == employee_id, _c.report_id == employee_id))
            .order_by(_c.schedule_id),
        )
    )
    return [_live(row) for row in rows]


async def set_next_due(session: Transaction, schedule_id: str, key: str | None) -> None:
    await session.execute(
        update(checkin_schedule_index).where(_c.schedule_id == schedule_id).values(next_due_key=key)
    )


async def reassign(session: Transaction, schedule_id: str, manager_id: str) -> None:
    """A new pair: its misses in a row start from zero."""
    await session.execute(
        update(checkin_schedule_index)
        .where(_c.schedule_id == schedule_id)
        .values(manager_id=manager_id, consecutive_misses=0)
    )


async def count_miss(session: Transaction, schedule_id: str) -> int:
    """One more miss in a row for the pair; the new count."""
    await session.execute(
        update(checkin_schedule_index)
        .where(_c.schedule_id == schedule_id)
        .values(consecutive_misses=_c.consecutive_misses + 1)
    )
    result = await session.execute(select(_c.consecutive_misses).where(_c.schedule_id == schedule_id))
    return int(result.scalar_one())


async def reset_misses(session: Transaction, schedule_id: str) -> None:
    await session.execute(
        update(checkin_schedule_index).where(_c.schedule_id == schedule_id).values(consecutive_misses=0)
    )


async def release(session: Transaction, schedule_id: str) -> None:
    await session.execute(delete(checkin_schedule_index).where(_c.schedule_id == schedule_id))


def _live(row: object) -> LiveSchedule:
    return LiveSchedule(row.schedule_id, row.manager_id, row.report_id, row.next_due_key)  # type: ignore[attr-defined]
