"""One error type per failure kind; the HTTP layer maps each to a status in one place.

The base and the two errors of reading an event live with the contracts (a consumer
installs only those) and are the same classes here.
"""

from __future__ import annotations

from trellis.contracts.errors import MalformedEvent, TrellisError, UnknownEventType

__all__ = [
    "ConcurrencyError",
    "ContractViolation",
    "Forbidden",
    "InvalidInput",
    "MalformedEvent",
    "NotFound",
    "RuleViolation",
    "TrellisError",
    "Unauthenticated",
    "UnknownEventType",
]


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
