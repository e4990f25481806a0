"""given / then / then_raises for the aggregate tests of this service."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import pytest

from trellis.contracts.envelope import DomainEvent
from trellis.core.store.aggregate import Aggregate

TENANT = "acme"
A = TypeVar("A", bound=Aggregate)


def given(cls: type[A], aggregate_id: str, *events: DomainEvent) -> A:
    return cls.rehydrate(aggregate_id, TENANT, events)


def then(aggregate: A, when: Callable[[A], None], *expected: DomainEvent) -> None:
    when(aggregate)
    assert aggregate.pending == list(expected)


def then_raises(
    aggregate: A, when: Callable[[A], None], error: type[Exception], match: str | None = None
) -> None:
    with pytest.raises(error, match=match):
        when(aggregate)
    assert aggregate.pending == []
