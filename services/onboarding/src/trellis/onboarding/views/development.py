"""``DevelopmentRecords``: the training catalogue, every enrolment and every mentorship of
the tenant, for the lists, the skill filter and the training KPIs.

A single training, enrolment or mentorship is read from its events instead (always
current); this view answers the questions that span them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, delete, insert, update

from trellis.contracts.envelope import EventEnvelope
from trellis.contracts.onboarding import (
    MentorshipArranged,
    MentorshipEnded,
    TrainingChanged,
    TrainingCreated,
    TrainingEnrolled,
    TrainingEnrolmentCompleted,
    TrainingEnrolmentWithdrawn,
    TrainingRetired,
)
from trellis.core.consuming.projection import Projection, on
from trellis.core.store.transaction import Transaction
from trellis.onboarding.views.development_tables import (
    mentorships,
    training_enrolments,
    training_skills,
    trainings,
)


class DevelopmentRecords(Projection):
    name = "onboarding-development"
    source = "onboarding"
    tables = (trainings, training_skills, training_enrolments, mentorships)

    # ---- the catalogue ---------------------------------------------------------------

    @on(TrainingCreated, TrainingChanged)
    async def training_written(
        self, session: Transaction, ev: TrainingCreated | TrainingChanged, env: EventEnvelope
    ) -> None:
        values = {
            "kind": ev.kind,
            "title": ev.title,
            "description": ev.description,
            "url": ev.url,
            "skills": list(ev.skills),
            "duration_minutes": ev.duration_minutes,
        }
        if isinstance(ev, TrainingCreated):
            await session.execute(
                insert(trainings).values(
                    training_id=ev.training_id, tenant_id=env.tenant_id, retired=False, **values
                )
            )
        else:
            await _update(session, trainings, trainings.c.training_id, ev.training_id, **values)
            await session.execute(
                update(training_enrolments)
                .where(training_enrolments.c.training_id == ev.training_id)
                .values(training_title=ev.title)
            )
            await session.execute(
                delete(training_skills).where(training_skills.c.training_id == ev.training_id)
            )
        if ev.skills:
            await session.execute(
                insert(training_skills),
                [{"training_id": ev.training_id, "skill": s, "tenant_id": env.tenant_id} for s in ev.skills],
            )

    @on(TrainingRetired)
    async def training_retired(self, session: Transaction, ev: TrainingRetired, env: EventEnvelope) -> None:
        await _update(session, trainings, trainings.c.training_id, ev.training_id, retired=True)

    # ---- enrolments ------------------------------------------------------------------

    @on(TrainingEnrolled)
    async def enrolled(self, session: Transaction, ev: TrainingEnrolled, env: EventEnvelope) -> None:
        await session.execute(
            insert(training_enrolments).values(
                enrolment_id=ev.enrolment_id,
                tenant_id=env.tenant_id,
                training_id=ev.training_id,
                training_title=ev.training_title,
                employee_id=ev.employee_id,
                team_id=ev.team_id,
                enrolled_by=ev.enrolled_by,
                enrolled_on=ev.enrolled_on,
                enrolled_at=env.occurred_at,
                target_date=ev.target_date,
                status="open",
                plan_id=ev.plan_id,
                milestone_id=ev.milestone_id,
            )
        )

    @on(TrainingEnrolmentCompleted)
    async def completed(
        self, session: Transaction, ev: TrainingEnrolmentCompleted, env: EventEnvelope
    ) -> None:
        await _update(
            session,
            training_enrolments,
            training_enrolments.c.enrolment_id,
            ev.enrolment_id,
            status="completed",
            completed_on=ev.completed_on,
            on_time=ev.on_time,
        )

    @on(TrainingEnrolmentWithdrawn)
    async def withdrawn(
        self, session: Transaction, ev: TrainingEnrolmentWithdrawn, env: EventEnvelope
    ) -> None:
        await _update(
            session,
            training_enrolments,
            training_enrolments.c.enrolment_id,
            ev.enrolment_id,
            status="withdrawn",
            withdrawn_on=ev.withdrawn_on,
        )

    # ---- mentorships -----------------------------------------------------------------

    @on(MentorshipArranged)
    async def arranged(self, session: Transaction, ev: MentorshipArranged, env: EventEnvelope) -> None:
        await session.execute(
            insert(mentorships).values(
                mentorship_id=ev.mentorship_id,
                tenant_id=env.tenant_id,
                mentor_id=ev.mentor_id,
                mentee_id=ev.mentee_id,
                starts_on=ev.starts_on,
                ends_on=ev.ends_on,
                objectives=list(ev.objectives),
                goal_ids=list(ev.goal_ids),
                arranged_at=env.occurred_at,
            )
        )

    @on(MentorshipEnded)
    async def ended(self, session: Transaction, ev: MentorshipEnded, env: EventEnvelope) -> None:
        await _update(
            session, mentorships, mentorships.c.mentorship_id, ev.mentorship_id, ended_on=ev.ended_on
        )


async def _update(session: Transaction, table: Table, key: Any, value: str, **values: Any) -> None:
    result = await session.execute(update(table).where(key == value).values(**values))
    if not result.rowcount:  # type: ignore[attr-defined]
        raise LookupError(f"{table.name} {value} is not in the view")
