"""What can go wrong reading an event: the base of every Trellis error and the two a
consumer meets (a message that is not a valid event, an event type it does not know)."""

from __future__ import annotations

from typing import Any


class TrellisError(Exception):
    """Base of every expected failure. ``code`` is machine-readable and stable."""

    code = "error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class MalformedEvent(TrellisError):
    """An event that cannot be decoded: it goes to dead letters, it is never retried."""

    code = "malformed_event"


class UnknownEventType(MalformedEvent):
    """An event type this reader's contracts do not name (a newer producer, or another
    service's stream): a consumer that did not subscribe to it skips it."""

    code = "unknown_event_type"
