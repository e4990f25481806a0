"""A message no event could be decoded from, with what its envelope still tells.

A payload that fails its contract (a null where a number belongs, say) sits in an
envelope that is usually fine: its event id, type, tenant and aggregate are still known.
A dead letter records them, and the aggregate is parked behind it like behind any other
dead letter, so the aggregate's later events wait instead of being applied out of line.
Only a message with no readable envelope at all (not JSON, no aggregate) stands alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# The widths of the dead-letter columns: a longer value is not an id of ours, so it is not
# recorded (PostgreSQL would refuse the row, and with it the batch, forever).
_LIMITS = {"event_id": 36, "event_type": 200, "tenant_id": 64, "aggregate_type": 100, "aggregate_id": 64}


@dataclass(frozen=True, slots=True)
class Undecodable:
    """Why a message could not be decoded, and the envelope fields it still has (each None
    when missing or not of its type)."""

    reason: str
    event_id: str | None = None
    event_type: str | None = None
    tenant_id: str | None = None
    aggregate_type: str | None = None
    aggregate_id: str | None = None
    aggregate_version: int | None = None
    global_position: int | None = None

    @classmethod
    def read(cls, data: bytes, reason: str, *, message_id: str | None = None) -> Undecodable:
        """The envelope fields of ``data`` read leniently; ``message_id`` (the ``Nats-Msg-Id``,
        which is the event id) when the body has none."""
        try:
            body = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            body = None
        found: dict[str, Any] = body if isinstance(body, dict) else {}
        strings = {name: _text(found.get(name), limit) for name, limit in _LIMITS.items()}
        if strings["event_id"] is None:
            strings["event_id"] = _text(message_id, _LIMITS["event_id"])
        return cls(
            reason,
            aggregate_version=_number(found.get("aggregate_version")),
            global_position=_number(found.get("global_position")),
            **strings,
        )


def _text(value: Any, limit: int) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= limit else None


def _number(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
