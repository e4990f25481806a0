"""Abuse prevention for anonymous feedback that cannot name the giver.

One anonymous feedback per giver, per recipient, per window (a quarter by default). To
check that without storing who gave it, the service records a *fingerprint*: a keyed
HMAC-SHA256 of (tenant, giver, recipient, window) under a secret that lives only in the
service's settings, never in the database or on the stream. The fingerprint is the id of
an ``AnonymousFeedbackFingerprint`` aggregate whose single private event carries nothing
but the window; a second anonymous feedback from the same person to the same recipient in
the same window finds it taken.

What this does and does not protect (also in the README):

- the database, its backups and the event stream alone reveal nothing: without the key a
  fingerprint cannot be tested against anyone, and fingerprints of one giver to different
  recipients (or in different windows) cannot even be linked to each other;
- whoever holds both the key and the database could recompute fingerprints for every
  employee of a tenant and find a match: the key must be guarded like a signing key, and
  rotating it forgets every fingerprint (the limit starts afresh) and makes the old ones
  untestable for good.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from trellis.contracts.envelope import DomainEvent
from trellis.contracts.feedback import AnonymousFeedbackFingerprinted
from trellis.core.errors import InvalidInput, RuleViolation
from trellis.core.store.aggregate import Aggregate

WINDOWS = ("month", "quarter", "year")


def window_of(day: dt.date, window: str) -> str:
    """The label of the window ``day`` falls in: ``2026-07``, ``2026-Q3`` or ``2026``."""
    if window == "month":
        return f"{day.year}-{day.month:02d}"
    if window == "quarter":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    if window == "year":
        return str(day.year)
    raise InvalidInput(f"anonymous feedback window must be one of {', '.join(WINDOWS)}")


def fingerprint(key: str, *, tenant_id: str, giver_id: str, recipient_id: str, window: str) -> str:
    """The aggregate id of the fingerprint: 'anon-' and 48 hex digits (192 bits) of the HMAC."""
    if not key:
        raise ValueError("the anonymity key is empty")
    message = "\x1f".join((tenant_id, giver_id, recipient_id, window)).encode()
    digest = hmac.new(key.encode(), message, hashlib.sha256).hexdigest()
    return f"anon-{digest[:48]}"


class AnonymousFeedbackFingerprint(Aggregate):
    """Exists once someone gave one anonymous feedback to someone in a window (see module)."""

    aggregate_type = "anonymous_feedback_fingerprint"

    def __init__(self, aggregate_id: str, tenant_id: str) -> None:
        super().__init__(aggregate_id, tenant_id)
        self.window = ""

    def apply(self, event: DomainEvent) -> None:
        match event:
            case AnonymousFeedbackFingerprinted():
                self.window = event.window
            case _:
                raise TypeError(f"AnonymousFeedbackFingerprint cannot apply {type(event).__name__}")

    def take(self, window: str) -> None:
        if self.exists:
            raise RuleViolation(
                "you have already given this person anonymous feedback in this period",
                details={"window": self.window},
            )
        self.record(AnonymousFeedbackFingerprinted(window=window))
