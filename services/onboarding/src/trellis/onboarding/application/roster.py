"""The roster: command-side tables written in the same transaction as the employee events.

They answer, consistently (never a lagging read view), two questions the org commands
must ask before deciding:

- ``email_reservations``: is this e-mail address taken in the tenant? The primary key
  makes a concurrent second hire with the same address fail at insert time (409).
  Offboarding releases the address (it may be reused, by a re-hire for example).
- ``direct_reports``: who reports to this manager now? Offboarding is refused while
  anyone does.

Org commands also take a per-tenant lock first (``lock_org``): a manager cycle involves
two employees' streams, which optimistic concurrency on one aggregate cannot see (A
reports to B and B to A, decided at the same time, would each pass the check).
"""

from __future__ import annotations

from sqlalchemy import Column, Index, MetaData, String, Table, delete, insert, select, text
from sqlalchemy.exc import IntegrityError

from trellis.core.errors import RuleViolation
from trellis.core.store.tenancy import scoped
from trellis.core.store.transaction import Transaction

metadata = MetaData()

email_reservations = Table(
    "email_reservations",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("email", String(320), primary_key=True),
    Column("employee_id", String(64), nullable=False),
)

direct_reports = Table(
    "direct_reports",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("employee_id", String(64), primary_key=True),
    Column("manager_id", String(64), nullable=False),
    Index("ix_direct_reports_manager", "tenant_id", "manager_id"),
)


class DuplicateEmail(RuleViolation):
    """Another employee of the tenant has this e-mail address."""

    code = "duplicate_email"


async def lock_org(session: Transaction, tenant_id: str) -> None:
    """Serialise org changes within a tenant (PostgreSQL; SQLite has one writer anyway)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
            {"key": f"trellis.onboarding.org.{tenant_id}"},
        )


async def reserve_email(session: Transaction, tenant_id: str, email: str, employee_id: str) -> None:
    try:
        await session.execute(
            insert(email_reservations).values(tenant_id=tenant_id, email=email, employee_id=employee_id)
        )
    except IntegrityError as exc:
        raise DuplicateEmail(
            f"another employee already has the e-mail address {email}", details={"email": email}
        ) from exc


async def release_email(session: Transaction, tenant_id: str, employee_id: str) -> None:
    c = email_reservations.c
    await session.execute(scoped(tenant_id, delete(email_reservations).where(c.employee_id == employee_id)))


async def set_manager(session: Transaction, tenant_id: str, employee_id: str, manager_id: str | None) -> None:
    c = direct_reports.c
    await session.execute(scoped(tenant_id, delete(direct_reports).where(c.employee_id == employee_id)))
    if manager_id is not None:
        await session.execute(
            insert(direct_reports).values(tenant_id=tenant_id, employee_id=employee_id, manager_id=manager_id)
        )


async def reports_of(session: Transaction, tenant_id: str, manager_id: str) -> list[str]:
    c = direct_reports.c
    rows = await session.execute(
        scoped(tenant_id, select(c.employee_id).where(c.manager_id == manager_id).order_by(c.employee_id))
    )
    return list(rows.scalars())
