"""Aggregates: state changes only through events.

An aggregate's command methods check rules against the current state and ``record``
the events of their decision (applied at once, kept in ``pending`` for saving);
``apply`` folds an event into the state. Loading folds the stored events through
``apply``; saving appends the pending events with the version the aggregate was loaded
at as the expected version.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar, Self

from trellis.contracts.envelope import DomainEvent


class Aggregate:
    """Base for event-sourced aggregates. Subclasses implement ``apply``."""

    aggregate_type: ClassVar[str]

    def __init__(self, aggregate_id: str, tenant_id: str) -> None:
        self.id = aggregate_id
        self.tenant_id = tenant_id
        self.version = 0
        self.pending: list[DomainEvent] = []

    def apply(self, event: DomainEvent) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def record(self, *events: DomainEvent) -> None:
        """Apply new events and remember them for saving."""
        for ev in events:
            self.apply(ev)
            self.pending.append(ev)

    @classmethod
    def rehydrate(cls, aggregate_id: str, tenant_id: str, events: Iterable[DomainEvent]) -> Self:
        """The aggregate as its stored events left it (nothing pending)."""
        agg = cls(aggregate_id, tenant_id)
        agg.replay(events)
        return agg

    def replay(self, events: Iterable[DomainEvent]) -> None:
        """Apply stored events that follow this aggregate's version (nothing pending)."""
        for ev in events:
            self.apply(ev)
            self.version += 1

    @property
    def exists(self) -> bool:
        return self.version > 0 or bool(self.pending)
