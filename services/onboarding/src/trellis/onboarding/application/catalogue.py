"""Commands on the training catalogue: create, change and retire trainings (admin and hr)."""

from __future__ import annotations

from trellis.core.runtime.auth import Actor
from trellis.core.store.accepted import Accepted
from trellis.core.store.sessions import Sessions
from trellis.core.store.transaction import Transaction
from trellis.onboarding.application.aggregates import Aggregates
from trellis.onboarding.domain.ids import new_id
from trellis.onboarding.domain.permissions import ensure_may_manage_catalogue
from trellis.onboarding.domain.training import Training, TrainingDetails


class CatalogueCommands:
    def __init__(self, sessions: Sessions, aggregates: Aggregates) -> None:
        self.sessions = sessions
        self.aggregates = aggregates

    async def create(self, actor: Actor, correlation_id: str, details: TrainingDetails) -> Accepted:
        ensure_may_manage_catalogue(actor)
        async with self.sessions.transaction() as session:
            training = self.aggregates.trainings.new(new_id(), actor.tenant_id)
            training.create(details)
            return await self._save(session, actor, correlation_id, training)

    async def change(
        self, actor: Actor, correlation_id: str, training_id: str, details: TrainingDetails
    ) -> Accepted:
        ensure_may_manage_catalogue(actor)
        async with self.sessions.transaction() as session:
            training = await self.aggregates.training(session, actor.tenant_id, training_id)
            training.change(details)
            return await self._save(session, actor, correlation_id, training)

    async def retire(self, actor: Actor, correlation_id: str, training_id: str) -> Accepted:
        ensure_may_manage_catalogue(actor)
        async with self.sessions.transaction() as session:
            training = await self.aggregates.training(session, actor.tenant_id, training_id)
            training.retire()
            return await self._save(session, actor, correlation_id, training)

    async def _save(
        self, session: Transaction, actor: Actor, correlation_id: str, training: Training
    ) -> Accepted:
        names = [e.event_type for e in training.pending]
        await self.aggregates.trainings.save(session, training, actor.metadata(correlation_id))
        return Accepted(training.id, training.version, names)
