"""One live enrolment per (person, training): a command-side table, written in the same
transaction as the enrolment's events (like the roster's e-mail reservations).

A row holds the (tenant, person, training) slot while the enrolment is open; completing
or withdrawing it frees the slot, so the person may be enrolled again later. The primary
key makes a second, concurrent enrolment fail at insert time: racing requests enrol
once, and the other is refused with 409 ``already_enrolled`` naming the live enrolment.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, MetaData, String, Table, delete, insert, select
from sqlalchemy.exc import IntegrityError

from trellis.core.errors import RuleViolation
from trellis.core.store.tenancy import scoped
from trellis.core.store.transaction import Transaction

metadata = MetaData()

live_enrolments = Table(
    "live_enrolments",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("employee_id", String(64), primary_key=True),
    Column("training_id", String(64), primary_key=True),
    Column("enrolment_id", String(64), nullable=False),
    Index("ix_live_enrolments_enrolment", "tenant_id", "enrolment_id"),
)


class AlreadyEnrolled(RuleViolation):
    """The person has an open enrolment in the training (``details.enrolment_id``)."""

    code = "already_enrolled"

    def __init__(self, employee_id: str, training_id: str, enrolment_id: str | None) -> None:
        super().__init__(
            f"{employee_id} is enrolled in training {training_id} already",
            details={"enrolment_id": enrolment_id, "employee_id": employee_id, "training_id": training_id},
        )


async def live_enrolment(
    session: Transaction, tenant_id: str, employee_id: str, training_id: str
) -> str | None:
    """The open enrolment of ``employee_id`` in ``training_id``, if any."""
    c = live_enrolments.c
    row = await session.execute(
        scoped(
            tenant_id,
            select(c.enrolment_id).where(c.employee_id == employee_id, c.training_id == training_id),
        )
    )
    return row.scalar()


async def hold(
    session: Transaction, tenant_id: str, employee_id: str, training_id: str, enrolment_id: str
) -> None:
    """Take the slot for ``enrolment_id``; ``AlreadyEnrolled`` if another enrolment holds it."""
    existing = await live_enrolment(session, tenant_id, employee_id, training_id)
    if existing is not None:
        raise AlreadyEnrolled(employee_id, training_id, existing)
    try:
        async with session.begin_nested():
            await session.execute(
                insert(live_enrolments).values(
                    tenant_id=tenant_id,
                    employee_id=employee_id,
                    training_id=training_id,
                    enrolment_id=enrolment_id,
                )
            )
    except IntegrityError as exc:  # enrolled by a concurrent request since the look above
        raise AlreadyEnrolled(employee_id, training_id, None) from exc


async def release(session: Transaction, tenant_id: str, enrolment_id: str) -> None:
    c = live_enrolments.c
    await session.execute(scoped(tenant_id, delete(live_enrolments).where(c.enrolment_id == enrolment_id)))
