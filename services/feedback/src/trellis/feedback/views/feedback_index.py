"""``FeedbackIndex``: who gave (when not anonymous) whom what kind of feedback, and requests.

The bodies are not here (they are private events, never on the stream); the queries fetch
them from the event store for the items a viewer may read.
"""

from __future__ import annotations

from sqlalchemy import insert, update

from trellis.contracts.envelope import EventEnvelope
from trellis.contracts.feedback import (
    FeedbackGiven,
    FeedbackRequestAnswered,
    FeedbackRequestDeclined,
    FeedbackRequested,
)
from trellis.core.consuming.projection import Projection, on
from trellis.core.store.transaction import Transaction
from trellis.feedback.views.tables import feedback_items, feedback_requests


class FeedbackIndex(Projection):
    name = "feedback-feedback-index"
    source = "feedback"
    tables = (feedback_items, feedback_requests)

    @on(FeedbackGiven)
    async def given(self, session: Transaction, ev: FeedbackGiven, env: EventEnvelope) -> None:
        await session.execute(
            insert(feedback_items).values(
                feedback_id=ev.feedback_id,
                tenant_id=env.tenant_id,
                recipient_id=ev.recipient_id,
                giver_id=None if ev.anonymous else ev.giver_id,
                anonymous=ev.anonymous,
                kind=ev.kind,
                visibility=ev.visibility,
                goal_id=ev.goal_id,
                request_id=ev.request_id,
                given_at=env.occurred_at,
            )
        )

    @on(FeedbackRequested)
    async def requested(self, session: Transaction, ev: FeedbackRequested, env: EventEnvelope) -> None:
        await session.execute(
            insert(feedback_requests).values(
                request_id=ev.request_id,
                tenant_id=env.tenant_id,
                requester_id=ev.requester_id,
                giver_id=ev.giver_id,
                about_id=ev.about_id,
                goal_id=ev.goal_id,
                message=ev.message,
                status="open",
                requested_at=env.occurred_at,
            )
        )

    @on(FeedbackRequestDeclined)
    async def declined(self, session: Transaction, ev: FeedbackRequestDeclined, env: EventEnvelope) -> None:
        await self._request(session, ev.request_id, status="declined")

    @on(FeedbackRequestAnswered)
    async def answered(self, session: Transaction, ev: FeedbackRequestAnswered, env: EventEnvelope) -> None:
        await self._request(session, ev.request_id, status="answered", feedback_id=ev.feedback_id)

    async def _request(self, session: Transaction, request_id: str, **values: object) -> None:
        await session.execute(
            update(feedback_requests).where(feedback_requests.c.request_id == request_id).values(**values)
        )
