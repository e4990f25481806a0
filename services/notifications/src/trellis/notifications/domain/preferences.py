"""An employee's notification preferences: muted types and the daily digest."""

from __future__ import annotations

import uuid

from trellis.contracts.envelope import DomainEvent
from trellis.contracts.notifications import NotificationPreferencesChanged
from trellis.core.errors import InvalidInput
from trellis.core.store.aggregate import Aggregate
from trellis.notifications.domain.notification import NOTIFICATION_TYPES

_NAMESPACE = uuid.UUID("0f3a6c0e-2b1d-4f57-8a8e-7c4f2d9e1b30")

# Muting these would hide things an employee must not miss by accident.
UNMUTABLE = frozenset({"digest.daily"})


def preferences_id(tenant_id: str, employee_id: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{tenant_id}/{employee_id}"))


class Preferences(Aggregate):
    """Defaults (nothing muted, no digest) until the employee says otherwise."""

    aggregate_type = "notification_preferences"

    def __init__(self, aggregate_id: str, tenant_id: str) -> None:
        super().__init__(aggregate_id, tenant_id)
        self.muted_types: frozenset[str] = frozenset()
        self.daily_digest = False

    def apply(self, event: DomainEvent) -> None:
        match event:
            case NotificationPreferencesChanged():
                self.muted_types = frozenset(event.muted_types)
                self.daily_digest = event.daily_digest
            case _:
                raise TypeError(f"Preferences cannot apply {type(event).__name__}")

    def mutes(self, notification_type: str) -> bool:
        return notification_type in self.muted_types

    def change(self, employee_id: str, *, muted_types: list[str], daily_digest: bool) -> None:
        unknown = sorted(set(muted_types) - NOTIFICATION_TYPES.keys())
        if unknown:
            raise InvalidInput(
                f"unknown notification types {unknown}",
                details={"unknown": unknown, "known": sorted(NOTIFICATION_TYPES)},
            )
        forbidden = sorted(set(muted_types) & UNMUTABLE)
        if forbidden:
            raise InvalidInput(f"{forbidden} cannot be muted")
        muted = frozenset(muted_types)
        if self.exists and muted == self.muted_types and daily_digest == self.daily_digest:
            return
        self.record(
            NotificationPreferencesChanged(
                employee_id=employee_id, muted_types=sorted(muted), daily_digest=daily_digest
            )
        )
