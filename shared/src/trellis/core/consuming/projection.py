"""Consumers of a stream: projections (read views) and reactions, handlers keyed by event type.

One way to register a projection::

    class AlignmentTree(Projection):
        name = "goals-alignment-tree"
        tables = (goal_nodes, key_results)

        @on(GoalCreated)
        async def created(self, session, event: GoalCreated, envelope: EventEnvelope): ...

The consumer runner calls ``handle`` inside a transaction that also records the
event as processed; a handler only writes through ``session``. A ``Projection`` keeps a
read view (its ``tables``) that can be rebuilt from the stream at any time. A ``Reaction``
acts on events: it appends events (through a repository), notifies people or queues
webhooks; running it again would do it again, so it is never rebuilt.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from opentelemetry.trace import SpanKind
from sqlalchemy import Table, delete
from sqlalchemy.ext.asyncio import AsyncSession

from trellis.contracts.envelope import DomainEvent, EventEnvelope, RecordedEvent
from trellis.core import tracing
from trellis.core.store.transaction import Transaction

Handler = Callable[[Any, AsyncSession, Any, EventEnvelope], Awaitable[None]]

_REBUILD_MEMORY = "trellis.rebuild_memory"
_REBUILD_COMMITS = "trellis.rebuild_commits_after"


def rebuild_memory(session: Transaction) -> dict[str, Any] | None:
    """Room a projection may keep its view's rows in from one batch to the next, while a
    rebuild catches up (``None`` anywhere else).

    Only the rebuild writes the shadow it builds, and the room holds exactly what its
    committed batches wrote: the rebuild empties it whenever a batch does not commit (or
    is gone through again one event at a time). A projection that keeps rows here reads
    from the database only the rows it has not seen yet, instead of the rows of every
    batch again."""
    memory: dict[str, Any] | None = session.info.get(_REBUILD_MEMORY)
    return memory


def rebuild_commits_after(session: Transaction) -> bool:
    """Whether the batch being handled is the last before its transaction commits.

    Always, but in a rebuild's catch-up, which goes through several batches a transaction
    (``Rebuild.commit_every``). A projection that keeps rows in ``rebuild_memory`` may hold
    back its writes there (and what it derives from them, such as a roll-up) for as long as
    this says no, and must write everything it holds when it says yes: a transaction's
    last batch writes what its batches changed once, where each batch wrote most of the
    same rows again. Should a batch fail behind one that held writes back, the rebuild
    rolls the transaction back, empties the memory and goes through those batches again,
    one a transaction."""
    return bool(session.info.get(_REBUILD_COMMITS, True))


def lend_rebuild_memory(
    session: Transaction, memory: dict[str, Any] | None, *, commits_after: bool = True
) -> None:
    """Give ``session``'s batch the rebuild's memory (``None``: take it away), and tell
    whether the transaction commits after it (``rebuild_commits_after``)."""
    if memory is None:
        session.info.pop(_REBUILD_MEMORY, None)
        session.info.pop(_REBUILD_COMMITS, None)
    else:
        session.info[_REBUILD_MEMORY] = memory
        session.info[_REBUILD_COMMITS] = commits_after


def on(*event_types: type[DomainEvent]) -> Callable[[Handler], Handler]:
    """Mark a method as the handler of these event types."""

    def decorate(fn: Handler) -> Handler:
        fn.__trellis_handles__ = event_types  # type: ignore[attr-defined]
        return fn

    return decorate


class Consumer:
    """What a consumer runner runs: a projection or a reaction.

    ``name`` is the durable consumer name and the key of its processed-event records.
    ``source`` is the service whose stream it follows.
    """

    name: str  # a class attribute; an instance may set its own (one projection, several consumers)
    source: ClassVar[str]
    tables: ClassVar[tuple[Table, ...]] = ()
    # Event types a consumer handles through its own ``handle_batch`` rather than
    # through ``@on`` methods (a batch-oriented projection lists them here).
    consumes: ClassVar[tuple[type[DomainEvent], ...]] = ()
    # whether the operators may rebuild it from its stream (a projection, not a reaction)
    rebuildable: ClassVar[bool] = False
    _handlers: ClassVar[dict[str, str]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        handlers: dict[str, str] = {ev.event_type: "" for ev in cls.consumes}
        for base in reversed(cls.__mro__):
            for attr, value in vars(base).items():
                for ev in getattr(value, "__trellis_handles__", ()):
                    handlers[ev.event_type] = attr
        cls._handlers = handlers

    @classmethod
    def event_types(cls) -> list[str]:
        return sorted(cls._handlers)

    def handles(self, event_type: str) -> bool:
        return event_type in self._handlers

    async def handle(self, session: Transaction, recorded: RecordedEvent) -> None:
        attr = self._handlers.get(recorded.envelope.event_type)
        if attr:
            with tracing.tracer.start_as_current_span(
                f"handle {recorded.envelope.event_type}",
                context=tracing.context_of(recorded.traceparent),
                kind=SpanKind.CONSUMER,
                attributes={"trellis.consumer": self.name, "trellis.event_id": str(recorded.event_id)},
            ):
                await getattr(self, attr)(session, recorded.event, recorded.envelope)

    async def handle_batch(self, session: Transaction, batch: list[RecordedEvent]) -> None:
        """Apply events in order. A projection may override this to load what the batch
        touches once and write it back once, instead of a round of statements per event."""
        for recorded in batch:
            await self.handle(session, recorded)


class Projection(Consumer):
    """A read view: its ``tables``, kept from the stream, cleared and rebuilt at will."""

    rebuildable: ClassVar[bool] = True

    async def clear(self, session: Transaction) -> None:
        """Empty the read view (for a rebuild). Children before parents."""
        for table in reversed(self.tables):
            await session.execute(delete(table))


class Reaction(Consumer):
    """Acts on events (appends events, notifies, queues webhooks): never rebuilt, since
    running it again would act again. It keeps no read view of its own."""
