"""Trainings due soon, through the core's deadlines (``trellis.core.consuming.deadlines``).

An open enrolment has one deadline, armed in the transaction that enrols the person and
removed in the one that completes or withdraws the enrolment. It is due at 00:00 UTC
``DUE_SOON_DAYS`` days before the target date; its key holds the target date, so each
target date is announced at most once. An enrolment whose target is nearer than that when
it is made gets no deadline: the enrolment's own notice already says the date.

When it fires, the handler loads the enrolment and lets it decide: ``TrainingDueSoon`` is
recorded only if the enrolment is still open and still targets that date, and it has not
been announced for it, so a deadline fired twice (or by two replicas) appends one event,
and one fired after the completion appends nothing. Nothing is announced to someone who
has been offboarded since.
"""

from __future__ import annotations

import datetime as dt

from trellis.contracts.envelope import Metadata
from trellis.core.consuming import deadlines
from trellis.core.consuming.deadlines import Deadline
from trellis.core.store.transaction import Transaction
from trellis.onboarding.application.aggregates import Aggregates
from trellis.onboarding.application.missed_milestones import DETECTOR
from trellis.onboarding.domain.calendar import today
from trellis.onboarding.domain.enrolment import Enrolment

TRAINING_DUE_SOON = "onboarding.training-due-soon"
DUE_SOON_DAYS = 3


def due_soon_at(target_date: dt.date) -> dt.datetime:
    """When an enrolment targeting ``target_date`` is due soon: 00:00 UTC, ``DUE_SOON_DAYS`` before."""
    return dt.datetime.combine(target_date - dt.timedelta(days=DUE_SOON_DAYS), dt.time.min, tzinfo=dt.UTC)


def deadline_key(enrolment_id: str, target_date: dt.date) -> str:
    return f"training-due-soon:{enrolment_id}:{target_date.isoformat()}"


async def arm(session: Transaction, enrolment: Enrolment, now: dt.datetime) -> None:
    """Schedule the enrolment's due-soon deadline, unless that moment has passed already."""
    at = due_soon_at(enrolment.target_date)
    if at <= now:
        return
    await deadlines.schedule(
        session,
        key=deadline_key(enrolment.id, enrolment.target_date),
        kind=TRAINING_DUE_SOON,
        tenant_id=enrolment.tenant_id,
        aggregate_id=enrolment.id,
        due_at=at,
        data={"target_date": enrolment.target_date.isoformat()},
    )


async def disarm(session: Transaction, enrolment: Enrolment) -> None:
    await deadlines.cancel(session, deadline_key(enrolment.id, enrolment.target_date))


class TrainingsDueSoon:
    """The deadline handler of ``TRAINING_DUE_SOON``: the target date is near, announce it."""

    def __init__(self, aggregates: Aggregates) -> None:
        self.aggregates = aggregates

    async def __call__(self, session: Transaction, deadline: Deadline, now: dt.datetime) -> None:
        enrolment = await self.aggregates.enrolments.find(session, deadline.aggregate_id, deadline.tenant_id)
        if enrolment is None:
            return
        employee = await self.aggregates.find_employee(session, enrolment.tenant_id, enrolment.employee_id)
        if employee is not None and not employee.is_active:
            return
        enrolment.announce_due_soon(
            dt.date.fromisoformat(deadline.data["target_date"]),
            today=today(now),
            manager_id=employee.manager_id if employee is not None else enrolment.manager_id,
        )
        if enrolment.pending:
            await self.aggregates.enrolments.save(
                session, enrolment, Metadata(tenant_id=enrolment.tenant_id, actor_id=DETECTOR)
            )
