"""Command handler for recognition: anyone recognises active colleagues of their tenant.

An objective id is taken as given (the goals service owns objectives; this service never
reads its tables); a company value must be one of the configured values, when any are.
"""

from __future__ import annotations

from trellis.contracts.ids import uuid7
from trellis.core.runtime.auth import Actor
from trellis.core.store.repository import Repository
from trellis.core.store.sessions import Sessions
from trellis.feedback.application.accepted import Accepted
from trellis.feedback.application.oversight import Oversight
from trellis.feedback.domain.recognition import Recognition


class RecognitionCommands:
    def __init__(
        self,
        *,
        sessions: Sessions,
        recognitions: Repository[Recognition],
        oversight: Oversight,
        company_values: tuple[str, ...] = (),
    ) -> None:
        self.sessions = sessions
        self.recognitions = recognitions
        self.oversight = oversight
        self.company_values = company_values

    async def give(
        self,
        actor: Actor,
        correlation_id: str,
        *,
        recipient_ids: list[str],
        message: str,
        objective_id: str | None = None,
        value: str | None = None,
    ) -> Accepted:
        recognition_id = str(uuid7())
        async with self.sessions.transaction() as session:
            for recipient in dict.fromkeys(recipient_ids):
                await self.oversight.active_employee(session, actor.tenant_id, recipient)
            recognition = self.recognitions.new(recognition_id, actor.tenant_id)
            recognition.give(
                giver_id=actor.employee_id,
                recipient_ids=recipient_ids,
                message=message,
                objective_id=objective_id,
                value=value,
                allowed_values=self.company_values,
            )
            await self.recognitions.save(session, recognition, actor.metadata(correlation_id))
        return Accepted(recognition_id, recognition.version, ["RecognitionGiven"], {})
