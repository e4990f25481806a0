"""Load and save aggregates through the event store, scoped to the caller's tenant.

An aggregate is rebuilt by replaying its events. For one with a long history that replay
is most of a command's work (a goal with 300 progress updates: 290 µs, against 25 µs to
copy the state it ends in), so a repository keeps **snapshots** in memory: the state of a
recently used aggregate at some version, built from committed events only. A command gets
a copy of the snapshot with the events since applied to it; a new snapshot is kept once
``snapshot_every`` events have been replayed past the last. Committed events never change,
so a snapshot at version N is the state the first N events give, whichever process
appended them; events this transaction appended itself are not committed yet, and no
snapshot is taken past them. The snapshot itself is never handed out: a command may
change its copy and then fail.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from typing import Generic, TypeVar

from trellis.contracts.envelope import EventEnvelope, Metadata
from trellis.core.errors import NotFound
from trellis.core.store.aggregate import Aggregate
from trellis.core.store.event_store import EventStore
from trellis.core.store.transaction import Transaction

A = TypeVar("A", bound=Aggregate)


class Repository(Generic[A]):
    """Aggregates of one type. Another tenant's aggregate is reported as not found."""

    def __init__(
        self, store: EventStore, aggregate_cls: type[A], *, snapshot_every: int = 32, snapshots: int = 1000
    ) -> None:
        self.store = store
        self.cls = aggregate_cls
        self.snapshot_every = snapshot_every
        self.snapshots = snapshots  # aggregates whose snapshot is kept, the most recently used
        self._snapshots: OrderedDict[str, A] = OrderedDict()

    async def get(self, session: Transaction, aggregate_id: str, tenant_id: str) -> A:
        agg = await self.find(session, aggregate_id, tenant_id)
        if agg is None:
            raise NotFound(f"{self.cls.aggregate_type} {aggregate_id} not found")
        return agg

    async def find(self, session: Transaction, aggregate_id: str, tenant_id: str) -> A | None:
        tenant, aggregate_type, events = await self.store.load_for_rehydration(session, aggregate_id)
        if tenant != tenant_id or aggregate_type != self.cls.aggregate_type:
            return None
        snapshot = self._snapshots.get(aggregate_id)
        if snapshot is not None and snapshot.version <= len(events):
            self._snapshots.move_to_end(aggregate_id)
            aggregate = copy.deepcopy(snapshot)
        else:
            aggregate = self.new(aggregate_id, tenant_id)
        replayed = len(events) - aggregate.version
        aggregate.replay(events[aggregate.version :])
        if replayed >= self.snapshot_every and self.store.committed_in(session, aggregate_id):
            self._snapshots[aggregate_id] = copy.deepcopy(aggregate)
            self._snapshots.move_to_end(aggregate_id)
            if len(self._snapshots) > self.snapshots:
                self._snapshots.popitem(last=False)
        return aggregate

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
