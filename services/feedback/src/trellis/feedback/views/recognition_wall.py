"""``RecognitionWall``: every recognition of a tenant, newest first, with its recipients."""

from __future__ import annotations

from sqlalchemy import insert

from trellis.contracts.envelope import EventEnvelope
from trellis.contracts.feedback import RecognitionGiven
from trellis.core.consuming.projection import Projection, on
from trellis.core.store.transaction import Transaction
from trellis.feedback.views.tables import recognition_recipients, recognitions


class RecognitionWall(Projection):
    name = "feedback-recognition-wall"
    source = "feedback"
    tables = (recognitions, recognition_recipients)

    @on(RecognitionGiven)
    async def given(self, session: Transaction, ev: RecognitionGiven, env: EventEnvelope) -> None:
        await session.execute(
            insert(recognitions).values(
                recognition_id=ev.recognition_id,
                tenant_id=env.tenant_id,
                giver_id=ev.giver_id,
                message=ev.message,
                objective_id=ev.objective_id,
                value=ev.value,
                given_at=env.occurred_at,
            )
        )
        await session.execute(
            insert(recognition_recipients),
            [
                {"recognition_id": ev.recognition_id, "recipient_id": r, "tenant_id": env.tenant_id}
                for r in ev.recipient_ids
            ],
        )
