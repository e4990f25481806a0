"""``ReviewProgress``: review cycles and every review they expect, submitted or not."""

from __future__ import annotations

from sqlalchemy import insert, update

from trellis.contracts.envelope import EventEnvelope
from trellis.contracts.feedback import (
    PeerReviewersChosen,
    ReviewAssignment,
    ReviewCycleClosed,
    ReviewCycleOpened,
    ReviewSubmitted,
)
from trellis.core.consuming.projection import Projection, on
from trellis.core.store.transaction import Transaction
from trellis.feedback.views.tables import review_assignments, review_cycles


class ReviewProgress(Projection):
    name = "feedback-review-progress"
    source = "feedback"
    tables = (review_cycles, review_assignments)

    @on(ReviewCycleOpened)
    async def opened(self, session: Transaction, ev: ReviewCycleOpened, env: EventEnvelope) -> None:
        await session.execute(
            insert(review_cycles).values(
                cycle_id=ev.cycle_id,
                tenant_id=env.tenant_id,
                name=ev.name,
                period=ev.period,
                team_id=ev.team_id,
                deadline=ev.deadline,
                status="open",
                opened_at=env.occurred_at,
            )
        )
        await self._assign(session, ev.cycle_id, env.tenant_id, ev.reviews)

    @on(PeerReviewersChosen)
    async def peers_chosen(self, session: Transaction, ev: PeerReviewersChosen, env: EventEnvelope) -> None:
        await self._assign(session, ev.cycle_id, env.tenant_id, ev.reviews)

    @on(ReviewSubmitted)
    async def submitted(self, session: Transaction, ev: ReviewSubmitted, env: EventEnvelope) -> None:
        c = review_assignments.c
        await session.execute(
            update(review_assignments)
            .where(c.cycle_id == ev.cycle_id, c.review_id == ev.review_id)
            .values(submitted_at=env.occurred_at)
        )

    @on(ReviewCycleClosed)
    async def closed(self, session: Transaction, ev: ReviewCycleClosed, env: EventEnvelope) -> None:
        await session.execute(
            update(review_cycles)
            .where(review_cycles.c.cycle_id == ev.cycle_id)
            .values(status="closed", closed_by=ev.closed_by)
        )

    async def _assign(
        self, session: Transaction, cycle_id: str, tenant_id: str, reviews: list[ReviewAssignment]
    ) -> None:
        if reviews:
            await session.execute(
                insert(review_assignments),
                [
                    {
                        "cycle_id": cycle_id,
                        "review_id": r.review_id,
                        "tenant_id": tenant_id,
                        "kind": r.kind,
                        "subject_id": r.subject_id,
                        "reviewer_id": r.reviewer_id,
                    }
                    for r in reviews
                ],
            )
