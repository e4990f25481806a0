"""A tiny counter domain and a store on the test's database, for the core's conformance suite.

Every test that takes ``core`` runs once on SQLite and once on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from trellis.contracts.envelope import DomainEvent, EventEnvelope, EventRegistry, Metadata, event
from trellis.contracts.subjects import Subjects
from trellis.core.consuming.projection import Projection, on
from trellis.core.messaging.jetstream import connect
from trellis.core.store.aggregate import Aggregate
from trellis.core.store.database import create_engine
from trellis.core.store.event_store import EventStore
from trellis.core.store.migrate import migrate
from trellis.core.store.sessions import session_factory
from trellis.testing import Database

SERVICE = "counting"
registry = EventRegistry()


@event("Counted", version=2, registry=registry)
class Counted(DomainEvent):
    amount: int


@registry.upcaster("Counted", 1)
def _counted_v1(payload: dict) -> dict:
    return {"amount": payload["n"]}


@event("CounterExpired", version=1, registry=registry)
class CounterExpired(DomainEvent):
    deadline: str


@event("CounterNoteTaken", version=1, published=False, registry=registry)
class CounterNoteTaken(DomainEvent):
    """A private event: stored, never on the stream."""

    note: str


class Counter(Aggregate):
    aggregate_type = "counter"

    def __init__(self, aggregate_id: str, tenant_id: str) -> None:
        super().__init__(aggregate_id, tenant_id)
        self.total = 0
        self.expired = False

    def apply(self, event: DomainEvent) -> None:
        if isinstance(event, Counted):
            self.total += event.amount
        elif isinstance(event, CounterExpired):
            self.expired = True

    def add(self, amount: int) -> None:
        self.record(Counted(amount=amount))

    def expire(self, deadline: str) -> None:
        """Once only: a counter already expired records nothing."""
        if not self.expired:
            self.record(CounterExpired(deadline=deadline))


view_metadata = MetaData()
totals = Table(
    "counter_totals",
    view_metadata,
    Column("counter_id", String(64), primary_key=True),
    Column("total", Integer, nullable=False),
    Column("applications", Integer, nullable=False),
)


class CounterTotals(Projection):
    """Sums each counter; ``applications`` counts how often any event was applied to it."""

    name = "counter-totals"
    source = SERVICE
    tables = (totals,)

    def __init__(self) -> None:
        self.fail_for: set[str] = set()  # aggregates whose events raise
        self.calls = 0

    @on(Counted)
    async def counted(self, session: AsyncSession, ev: Counted, env: EventEnvelope) -> None:
        self.calls += 1
        if env.aggregate_id in self.fail_for:
            raise RuntimeError(f"cannot count {env.aggregate_id}")
        row = (
            await session.execute(select(totals.c.total).where(totals.c.counter_id == env.aggregate_id))
        ).first()
        if row is None:
            await session.execute(
                insert(totals).values(counter_id=env.aggregate_id, total=ev.amount, applications=1)
            )
        else:
            await session.execute(
                update(totals)
                .where(totals.c.counter_id == env.aggregate_id)
                .values(total=totals.c.total + ev.amount, applications=totals.c.applications + 1)
            )


@dataclass
class Core:
    db: Database
    engine: AsyncEngine
    sessions: async_sessionmaker
    store: EventStore
    subjects: Subjects

    async def append(self, counter_id: str, *amounts: int, tenant: str = "acme") -> list[EventEnvelope]:
        async with self.sessions() as session, session.begin():
            return await self.append_in(session, counter_id, *amounts, tenant=tenant)

    async def append_in(
        self, session: AsyncSession, counter_id: str, *amounts: int, tenant: str = "acme"
    ) -> list[EventEnvelope]:
        """``append`` in the caller's transaction."""
        version = await self.store.current_version(session, counter_id)
        return await self.store.append(
            session,
            aggregate_type="counter",
            aggregate_id=counter_id,
            expected_version=version,
            events=[Counted(amount=a) for a in amounts],
            metadata=Metadata(tenant_id=tenant, actor_id="tester"),
        )

    async def totals(self) -> dict[str, tuple[int, int]]:
        async with self.sessions() as session:
            rows = (await session.execute(select(totals))).all()
        return {r.counter_id: (r.total, r.applications) for r in rows}


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[Any]:
    """A JetStream context on the session's nats-server."""
    nc = await connect(nats_url, name="core-tests")
    try:
        yield nc.jetstream()
    finally:
        await nc.close()


@pytest.fixture
async def core(database: Database, subject_root: str) -> AsyncIterator[Core]:
    engine = create_engine(database.url, schema=database.schema)
    await migrate(engine, schema=database.schema)
    async with engine.begin() as conn:
        await conn.run_sync(view_metadata.create_all)
    sessions = session_factory(engine)
    subjects = Subjects(subject_root)
    store = EventStore(service=SERVICE, registry=registry, sessions=sessions, subjects=subjects)
    try:
        yield Core(database, engine, sessions, store, subjects)
    finally:
        await engine.dispose()
