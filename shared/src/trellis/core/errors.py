"""One error type per failure kind; the HTTP layer maps each to a status in one place."""

from __future__ import annotations

from typing import Any


class TrellisError(Exception):
    """Base of every expected failure. ``code`` is machine-readable and stable."""

    code = "error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class NotFound(TrellisError):
    """The thing does not exist, or lives in another tenant (never say which)."""

    code = "not_found"


class Unauthenticated(TrellisError):
    code = "unauthenticated"


class Forbidden(TrellisError):
    """The actor may see the thing but not do this to it."""

    code = "forbidden"


class ConcurrencyError(TrellisError):
    """Someone else appended to the aggregate since it was loaded; reload and retry."""

    code = "concurrency_conflict"


class RuleViolation(TrellisError):
    """A command breaks a domain rule (a cycle, a retired parent, a foreign tenant...)."""

    code = "rule_violation"


class InvalidInput(TrellisError):
    code = "invalid_input"


class ContractViolation(InvalidInput):
    """An event about to be appended does not survive its own contract (encode, decode,
    compare): a non-finite number, a value its model refuses, or a size over the cap.
    Nothing is stored; ``details`` names the event type and the field."""

    code = "contract_violation"


class MalformedEvent(TrellisError):
    """An event that cannot be decoded: it goes to dead letters, it is never retried."""

    code = "malformed_event"


class UnknownEventType(MalformedEvent):
    code = "unknown_event_type"
