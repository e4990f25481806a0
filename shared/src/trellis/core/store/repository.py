"""Load and save aggregates through the event store, scoped to the caller's tenant."""

from __future__ import annotations

from typing import Generic, TypeVar

from trellis.contracts.envelope import EventEnvelope, Metadata
from trellis.core.errors import NotFound
from trellis.core.store.aggregate import Aggregate
from trellis.core.store.event_store import EventStore
from trellis.core.store.transaction import Transaction

A = TypeVar("A", bound=Aggregate)


class Repository(Generic[A]):
    """Aggregates of one type. Another tenant's aggregate is reported as not found."""

    def __init__(self, store: EventStore, aggregate_cls: type[A]) -> None:
        self.store = store
        self.cls = aggregate_cls

    async def get(self, session: Transaction, aggregate_id: str, tenant_id: str) -> A:
        agg = await self.find(session, aggregate_id, tenant_id)
        if agg is None:
            raise NotFound(f"{self.cls.aggregate_type} {aggregate_id} not found")
        return agg

    async def find(self, session: Transaction, aggregate_id: str, tenant_id: str) -> A | None:
        tenant, aggregate_type, events = await self.store.load_for_rehydration(session, aggregate_id)
        if tenant != tenant_id or aggregate_type != self.cls.aggregate_type:
            return None
        return self.cls.rehydrate(aggregate_id, tenant_id, events)

    def new(self, aggregate_id: str, tenant_id: str) -> A:
        return self.cls(aggregate_id, tenant_id)

    async def save(self, session: Transaction, aggregate: A, metadata: Metadata) -> list[EventEnvelope]:
        if metadata.tenant_id != aggregate.tenant_id:
            raise NotFound(f"{self.cls.aggregate_type} {aggregate.id} not found")
        stored = await self.store.append(
            session,
            aggregate_type=self.cls.aggregate_type,
            aggregate_id=aggregate.id,
            expected_version=aggregate.version,
            events=aggregate.pending,
            metadata=metadata,
        )
        aggregate.version += len(aggregate.pending)
        aggregate.pending = []
        return stored
