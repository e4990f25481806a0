"""A tenant's thresholds of status by pace: one ``PacePolicy`` per tenant, set by an admin.

Until one is set the service's settings (``PACE_AT_RISK_BELOW``, ``PACE_OFF_TRACK_BELOW``,
``PACE_GRACE``) apply. Its id is derived from the tenant's, so there is nothing to look up.
"""

from __future__ import annotations

import math
import uuid

from trellis.contracts.envelope import DomainEvent
from trellis.contracts.goals import PaceThresholdsSet
from trellis.core.errors import InvalidInput
from trellis.core.store.aggregate import Aggregate
from trellis.goals.domain.pace import Thresholds

_NAMESPACE = uuid.UUID("6f1c2d7e-3b4a-4e59-8d1f-2a9c0b7e4f63")


def pace_policy_id(tenant_id: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, tenant_id))


class PacePolicy(Aggregate):
    aggregate_type = "pace_policy"

    def __init__(self, aggregate_id: str, tenant_id: str) -> None:
        super().__init__(aggregate_id, tenant_id)
        self.thresholds: Thresholds | None = None  # None: the service's defaults

    def apply(self, event: DomainEvent) -> None:
        match event:
            case PaceThresholdsSet():
                self.thresholds = Thresholds(event.at_risk_below, event.off_track_below, event.grace)
            case _:
                raise TypeError(f"PacePolicy cannot apply {type(event).__name__}")

    def set(self, at_risk_below: float, off_track_below: float, grace: float) -> None:
        """Set the tenant's thresholds (nothing recorded if they are the ones in force)."""
        values = {"at_risk_below": at_risk_below, "off_track_below": off_track_below, "grace": grace}
        for field, value in values.items():
            if not math.isfinite(value):
                raise InvalidInput(f"{field} must be a finite number", details={"field": field})
        try:
            thresholds = Thresholds(at_risk_below, off_track_below, grace)
        except ValueError as exc:
            raise InvalidInput(str(exc), details=values) from None
        if thresholds == self.thresholds:
            return
        self.record(PaceThresholdsSet(**values))
